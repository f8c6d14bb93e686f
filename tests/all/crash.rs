//! Crash safety: `kill -9` of `wflow run` at any moment leaves the store and the records
//! consistent, and concurrent runs on one store do not disturb each other.

use std::time::Duration;

use crate::util::{Env, guest, stderr, task_of};

/// Every blob's bytes still hash to its name.
fn assert_blobs_verify(env: &Env) -> usize {
    let mut n = 0;
    let store = env.store();
    for f in env.store_files() {
        let path = f.strip_prefix(&store).unwrap().to_string_lossy().to_string();
        if path.starts_with("blobs-v1/") {
            let name = path.rsplit('/').next().unwrap();
            let bytes = std::fs::read(&f).unwrap();
            assert_eq!(wflow_core::Digest::of(&bytes).to_string(), name, "blob {path} is intact");
            n += 1;
        }
    }
    n
}

#[test]
fn kill_9_mid_run_leaves_store_and_records_consistent() {
    let env = Env::new();
    let g = guest("example-foreach");
    for delay_ms in [150u64, 400, 800] {
        let mut child = env
            .command(&["run", g.to_str().unwrap(), "-p", "n=3000", "--max-workers", "2"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        assert_blobs_verify(&env);
        // The records open and list every run, the killed ones as still running or finished.
        let runs = env.wflow(&["runs", "--json"]);
        assert!(runs.status.success(), "records readable after kill at {delay_ms} ms: {}", stderr(&runs));
        let runs: serde_json::Value = serde_json::from_slice(&runs.stdout).unwrap();
        assert!(!runs.as_array().unwrap().is_empty());
    }
    // A killed run's finished tasks keep their artifacts.
    let runs = env.wflow(&["runs", "--json"]);
    let runs: serde_json::Value = serde_json::from_slice(&runs.stdout).unwrap();
    let last = &runs[0];
    let start = format!("Foreach/{}/start/1/nums", last["run_id"].as_str().unwrap());
    let out = env.wflow(&["artifact", "get", &start]);
    if out.status.success() {
        let nums: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(nums.as_array().unwrap().len(), 3000);
    }
    // And the store takes a full run afterwards.
    let s = env.run_ok(&g, &["-p", "n=50"]);
    assert_eq!(env.artifact(&format!("{}/total", task_of(&s, "sum"))), serde_json::json!(42925));
}

#[test]
fn concurrent_runs_on_one_store_do_not_disturb_each_other() {
    let env = Env::new();
    let g = guest("example-foreach");
    let children: Vec<_> = (1..=4)
        .map(|i| {
            let n = format!("n={}", 50 * i);
            env.command(&["run", "--json", g.to_str().unwrap(), "-p", &n, "--max-workers", "1"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (i, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "run {i}: {}", stderr(&out));
        let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let n = 50 * (i as i64 + 1);
        let total = env.artifact(&format!("{}/total", task_of(&s, "sum")));
        assert_eq!(total, serde_json::json!((1..=n).map(|x| x * x).sum::<i64>()));
    }
    assert!(assert_blobs_verify(&env) > 0);
}
