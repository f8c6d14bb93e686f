use crate::util::{Env, guest, task_of};

#[test]
fn foreach_squares_and_sums() {
    let env = Env::new();
    let s = env.run_ok(&guest("example-foreach"), &["-p", "n=10"]);
    assert_eq!(s["status"], "succeeded");
    let total = env.artifact(&format!("{}/total", task_of(&s, "sum")));
    assert_eq!(
        total,
        serde_json::json!((1..=10).map(|i: i64| i * i).sum::<i64>())
    );
    // start, 10 squares, join, end
    assert_eq!(s["tasks"].as_array().unwrap().len(), 13);
    // The list passes through the foreach and the join untouched, by reference.
    let nums = env.artifact(&format!("{}/nums", task_of(&s, "end")));
    assert_eq!(nums, serde_json::json!((1..=10).collect::<Vec<i64>>()));
}

#[test]
fn foreach_parameter_changes_the_fan_out() {
    let env = Env::new();
    let s = env.run_ok(
        &guest("example-foreach"),
        &["-p", "n=100", "--max-workers", "4"],
    );
    assert_eq!(s["tasks"].as_array().unwrap().len(), 103);
    let total = env.artifact(&format!("{}/total", task_of(&s, "end")));
    assert_eq!(
        total,
        serde_json::json!((1..=100).map(|i: i64| i * i).sum::<i64>())
    );
}

#[test]
fn each_foreach_task_sees_its_own_item() {
    let env = Env::new();
    let s = env.run_ok(&guest("example-foreach"), &["-p", "n=5"]);
    let mut squares: Vec<i64> = s["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["step"] == "square")
        .map(|t| {
            env.artifact(&format!("{}/square", t["pathspec"].as_str().unwrap()))
                .as_i64()
                .unwrap()
        })
        .collect();
    squares.sort();
    assert_eq!(squares, vec![1, 4, 9, 16, 25]);
}

#[test]
fn second_identical_run_writes_no_new_blobs() {
    let env = Env::new();
    env.run_ok(&guest("example-foreach"), &["-p", "n=20"]);
    let blobs = |e: &Env| {
        e.store_files()
            .into_iter()
            .filter(|p| p.to_string_lossy().contains("blobs-v1"))
            .count()
    };
    let first = blobs(&env);
    assert!(first > 0);
    env.run_ok(&guest("example-foreach"), &["-p", "n=20"]);
    assert_eq!(
        blobs(&env),
        first,
        "content-addressed: the same values are stored once"
    );
    let runs = env.wflow(&["runs", "--json"]);
    let runs: serde_json::Value = serde_json::from_slice(&runs.stdout).unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 2);
}

#[test]
fn hello_runs_linear_steps_with_a_parameter() {
    let env = Env::new();
    let s = env.run_ok(&guest("example-hello"), &["-p", "name=wasm"]);
    assert_eq!(s["status"], "succeeded");
    let steps: Vec<&str> = s["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["step"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["start", "hello", "end"]);
    let logs = env.wflow(&["logs", &task_of(&s, "hello")]);
    assert!(logs.status.success(), "{}", crate::util::stderr(&logs));
    assert!(
        String::from_utf8_lossy(&logs.stdout).contains("wasm"),
        "the greeting names the parameter"
    );
}

#[test]
fn branch_joins_and_propagates_agreeing_artifacts() {
    let env = Env::new();
    let s = env.run_ok(&guest("example-branch"), &[]);
    assert_eq!(s["status"], "succeeded");
    let steps: Vec<&str> = s["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["step"].as_str().unwrap())
        .collect();
    assert_eq!(steps.len(), 5);
    assert!(steps.contains(&"a") && steps.contains(&"b") && steps.contains(&"join"));
    let end = task_of(&s, "end");
    // Set in `start`, untouched by both branches: the join inherits it because both inputs agree.
    assert_eq!(
        env.artifact(&format!("{end}/label")),
        serde_json::json!("some digits of pi")
    );
    assert_eq!(
        env.artifact(&format!("{end}/summary")),
        serde_json::json!("8 numbers: sum 31, max 9")
    );
    // Each branch's own result is not inherited by the join (they differ), only read per input.
    let out = env.wflow(&["artifact", "get", &format!("{end}/sum")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        crate::util::stderr(&out).contains("artifact `sum` not found"),
        "{}",
        crate::util::stderr(&out)
    );
}

#[test]
fn bigdata_passes_a_large_raw_artifact_between_steps() {
    let env = Env::new();
    let s = env.run_ok(&guest("example-bigdata"), &["-p", "mb=24"]);
    let consume = task_of(&s, "consume");
    assert_eq!(
        env.artifact(&format!("{consume}/verified")),
        serde_json::json!(true)
    );
    assert_eq!(
        env.artifact(&format!("{consume}/size")),
        serde_json::json!(24u64 << 20)
    );
    let out = env.dir.path().join("blob.bin");
    let got = env.wflow(&[
        "artifact",
        "get",
        &format!("{}/blob", task_of(&s, "start")),
        "--output",
        out.to_str().unwrap(),
    ]);
    assert!(got.status.success(), "{}", crate::util::stderr(&got));
    assert_eq!(std::fs::metadata(&out).unwrap().len(), 24 << 20);
}

#[test]
fn run_builds_a_guest_crate_directory() {
    let env = Env::new();
    let dir = crate::util::root().join("examples").join("hello");
    let s = env.run_ok(&dir, &[]);
    assert_eq!(s["status"], "succeeded");
}
