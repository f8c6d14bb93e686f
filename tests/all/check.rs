use crate::util::{Env, guest, stderr};

#[test]
fn check_prints_the_graph_and_parameters() {
    let env = Env::new();
    let g = guest("example-foreach");
    let out = env.wflow(&["check", g.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("is valid"), "{text}");
    assert!(text.contains("n (int) = 10"), "{text}");
    assert!(
        text.contains("start") && text.contains("join") && text.contains("end"),
        "{text}"
    );
    assert!(
        env.store_files().is_empty(),
        "check writes nothing to the store"
    );
}

#[test]
fn check_json_and_dot() {
    let env = Env::new();
    let g = guest("example-branch");
    let out = env.wflow(&["check", "--json", g.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["spec"]["steps"].as_array().unwrap().len(), 5);
    let dot = env.wflow(&["check", "--dot", g.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&dot.stdout).starts_with("digraph"));
}

#[test]
fn check_reports_every_graph_error_with_the_step() {
    let env = Env::new();
    let g = guest("test-program-handmade");
    let out = env.wflow(&["check", g.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("`a`") || err.contains("`b`") || err.contains("`start`"),
        "{err}"
    );
}

#[test]
fn build_prints_the_component_path() {
    let env = Env::new();
    let dir = crate::util::root().join("examples").join("hello");
    let out = env.wflow(&["build", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(path.ends_with("example_hello.wasm"), "{path}");
    assert!(std::path::Path::new(&path).exists());
}
