//! Graph shapes beyond the examples: nested foreach with a branch inside, and required parameters.

use crate::util::{Env, guest, stderr, task_of};

#[test]
fn nested_foreach_with_a_branch_inside() {
    let env = Env::new();
    let s = env.run_ok(&guest("test-program-nested"), &["-p", "width=3"]);
    // start, 3 outer, 9 × (inner, double, square, combine), 3 join_inner, join_outer, end
    assert_eq!(
        s["tasks"].as_array().unwrap().len(),
        1 + 3 + 9 * 4 + 3 + 1 + 1
    );
    let expected: i64 = (1..=3i64)
        .flat_map(|x| (1..=3i64).map(move |y| 10 * x + y))
        .map(|v| 2 * v + v * v)
        .sum();
    assert_eq!(
        env.artifact(&format!("{}/total", task_of(&s, "end"))),
        serde_json::json!(expected)
    );
    // Each cell knows its place in both foreach levels, and its value matches that place.
    let mut paths = Vec::new();
    for t in s["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["step"] == "combine")
    {
        let cell = env.artifact(&format!("{}/cell", t["pathspec"].as_str().unwrap()));
        let path: Vec<i64> = cell[1]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        let v = 10 * (path[0] + 1) + (path[1] + 1);
        assert_eq!(cell[0].as_i64().unwrap(), 2 * v + v * v, "cell at {path:?}");
        paths.push(path);
    }
    paths.sort();
    let all: Vec<Vec<i64>> = (0..3)
        .flat_map(|i| (0..3).map(move |j| vec![i, j]))
        .collect();
    assert_eq!(paths, all);
}

#[test]
fn a_required_parameter_must_be_given() {
    let env = Env::new();
    let g = guest("test-program-nested");
    let out = env.wflow(&["run", g.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("missing required parameter `width` (int)"),
        "{}",
        stderr(&out)
    );
    assert!(env.store_files().is_empty());
}

#[test]
fn the_compiled_component_is_cached_for_the_next_run() {
    let env = Env::new();
    let cache = env.dir.path().join("cache");
    let g = guest("example-hello");
    let run = || {
        let out = env
            .command(&["run", g.to_str().unwrap()])
            .env("WFLOW_CACHE_DIR", &cache)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    };
    run();
    let digest = wflow_core::Digest::of(&std::fs::read(&g).unwrap()).to_string();
    let cached: Vec<_> = walk(&cache)
        .into_iter()
        .filter(|p| p.ends_with(&format!("{digest}.cwasm")))
        .collect();
    assert_eq!(
        cached.len(),
        1,
        "one compiled file, keyed by the component's digest"
    );
    let modified = std::fs::metadata(&cached[0]).unwrap().modified().unwrap();
    run();
    assert_eq!(
        std::fs::metadata(&cached[0]).unwrap().modified().unwrap(),
        modified,
        "reused, not rewritten"
    );
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p))
        } else {
            out.push(p.to_string_lossy().into_owned())
        }
    }
    out
}
