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

/// A 1,000 × 1,000 nested foreach (4 million cells' tasks) under the default
/// `max_tasks_per_run` of 1,000,000: the outer task whose items would pass it fails with the
/// limit's name, before any of their tasks exist; nothing of the inner level runs.
#[test]
fn nested_foreach_past_the_run_task_limit_fails_its_declaring_task() {
    let env = Env::new();
    let g = guest("test-program-nested");
    let out = env.wflow(&["run", "--json", g.to_str().unwrap(), "-p", "width=1000"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let failure = &s["failure"];
    assert_eq!(
        failure["pathspec"].as_str().unwrap().split('/').nth(2),
        Some("outer"),
        "{s}"
    );
    let message = failure["message"].as_str().unwrap();
    assert!(
        message.contains("limit `max_tasks_per_run` of 1000000 exceeded")
            && message.contains("step `outer` declared 1000 items"),
        "{message}"
    );
    // 3 tasks outside every foreach and 2 per outer item are charged first (2,003), then 4,000
    // per outer declaration: 249 fit, none after them. Only start and outer tasks ran.
    let tasks = s["tasks"].as_array().unwrap();
    assert!(
        tasks
            .iter()
            .all(|t| t["step"] == "start" || t["step"] == "outer"),
        "{s}"
    );
    let ok = tasks
        .iter()
        .filter(|t| t["step"] == "outer" && t["ok"] == true)
        .count();
    assert_eq!(ok, 249, "outer tasks whose items were charged");

    // The policy sets the limit.
    let policy = env.dir.path().join("policy.toml");
    std::fs::write(&policy, "[limits]\nmax_tasks_per_run = 20\n").unwrap();
    let out = env.wflow(&[
        "--policy",
        policy.to_str().unwrap(),
        "run",
        "--json",
        g.to_str().unwrap(),
        "-p",
        "width=3",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        s["failure"]["message"]
            .as_str()
            .unwrap()
            .contains("`max_tasks_per_run` of 20 exceeded"),
        "{s}"
    );
}
