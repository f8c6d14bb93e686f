//! Crash safety: `kill -9` of `wflow run` at any moment leaves the store and the records
//! consistent, and concurrent runs on one store do not disturb each other.

use std::time::Duration;

use crate::util::{Env, guest, stderr, task_of};

/// Every blob's bytes still hash to its name.
fn assert_blobs_verify(env: &Env) -> usize {
    let mut n = 0;
    let store = env.store();
    for f in env.store_files() {
        let path = f
            .strip_prefix(&store)
            .unwrap()
            .to_string_lossy()
            .to_string();
        if path.starts_with("blobs-v1/") {
            let name = path.rsplit('/').next().unwrap();
            let bytes = std::fs::read(&f).unwrap();
            assert_eq!(
                wflow_core::Digest::of(&bytes).to_string(),
                name,
                "blob {path} is intact"
            );
            n += 1;
        }
    }
    n
}

#[test]
fn kill_9_mid_run_leaves_store_and_records_consistent() {
    let env = Env::new();
    let g = guest("example-foreach");
    let count_runs = || -> usize {
        let out = env.wflow(&["runs", "--json"]);
        assert!(out.status.success(), "records readable: {}", stderr(&out));
        serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .len()
    };
    for (i, delay_ms) in [0u64, 100, 300].into_iter().enumerate() {
        let mut child = env
            .command(&[
                "run",
                g.to_str().unwrap(),
                "-p",
                "n=3000",
                "--max-workers",
                "2",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Kill mid-run: once the run is recorded (whatever the machine's load), then a bit later.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !env.store().join("metadata.sqlite").exists() || count_runs() <= i {
            assert!(
                std::time::Instant::now() < deadline,
                "the run never started"
            );
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().unwrap(); // SIGKILL (harmless if it already finished)
        child.wait().unwrap();

        assert_blobs_verify(&env);
        assert_eq!(
            count_runs(),
            i + 1,
            "every started run is listed after kill -9 at +{delay_ms} ms"
        );
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
    assert_eq!(
        env.artifact(&format!("{}/total", task_of(&s, "sum"))),
        serde_json::json!(42925)
    );
}

#[test]
fn concurrent_runs_on_one_store_do_not_disturb_each_other() {
    let env = Env::new();
    let g = guest("example-foreach");
    let children: Vec<_> = (1..=4)
        .map(|i| {
            let n = format!("n={}", 50 * i);
            env.command(&[
                "run",
                "--json",
                g.to_str().unwrap(),
                "-p",
                &n,
                "--max-workers",
                "1",
            ])
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
        assert_eq!(
            total,
            serde_json::json!((1..=n).map(|x| x * x).sum::<i64>())
        );
    }
    assert!(assert_blobs_verify(&env) > 0);
}

/// Two `wflow run` started at the same moment in a new directory: both create the store and the
/// records file at once, both succeed, and both runs are recorded. (The set-up of a new SQLite
/// file once failed one of them with "database is locked".) Several rounds, each in a new
/// directory, since the race is a matter of timing.
#[test]
fn two_runs_started_together_in_a_new_directory_both_succeed() {
    let hello = guest("example-hello");
    for round in 0..5 {
        let env = Env::new();
        let children: Vec<_> = (0..2)
            .map(|_| {
                env.command(&["run", hello.to_str().unwrap()])
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "round {round}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let out = env.wflow(&["runs", "--json"]);
        let runs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(runs.as_array().unwrap().len(), 2, "round {round}: {runs}");
    }
}
