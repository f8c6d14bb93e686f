//! Store layout 2 (issue 19): a trivial task writes no file of its own — its manifest and logs
//! are kept in the records — yet `show`, `logs`, `artifact get` and `resume` read it back, and a
//! `kill -9` during a big foreach loses at most the tasks in flight.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::util::{Env, guest, stderr, task_of};

/// Blob files in the store.
fn blob_files(env: &Env) -> usize {
    let blobs = env.store().join("blobs-v1");
    env.store_files()
        .iter()
        .filter(|f| f.starts_with(&blobs))
        .count()
}

fn json_of(env: &Env, args: &[&str]) -> Value {
    let out = env.wflow(args);
    assert!(out.status.success(), "wflow {args:?}: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn trivial_tasks_write_no_file_and_read_back_through_every_command() {
    let env = Env::new();
    let g = guest("example-foreach");
    let s = env.run_ok(&g, &["-p", "n=200", "--max-workers", "2"]);
    assert_eq!(s["tasks"].as_array().unwrap().len(), 203);
    // 200 square tasks, each with a manifest and a log: none of them is a file.
    let blobs = blob_files(&env);
    assert!(blobs < 10, "{blobs} blob files for 203 tasks");
    assert!(
        !env.store()
            .join("live")
            .join(s["run_id"].as_str().unwrap())
            .exists(),
        "no live log is left behind"
    );
    let square = s["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["step"] == "square" && t["task_id"] == 50)
        .expect("task 50 is a square")["pathspec"]
        .as_str()
        .unwrap()
        .to_string();
    // `artifact get`, `logs`, `show` of a task whose manifest and log are in the records.
    let index = {
        let client = env.client();
        let task = client.task(&square).unwrap();
        assert!(task.record().manifest_bytes.is_some(), "layout 2");
        task.record().foreach_path[0] as i64
    };
    let x = index + 1;
    assert_eq!(env.artifact(&format!("{square}/square")), json!(x * x));
    let logs = env.wflow(&["logs", &square]);
    assert!(logs.status.success(), "{}", stderr(&logs));
    assert_eq!(
        String::from_utf8_lossy(&logs.stdout),
        format!("item {index}: {x}^2 = {}\n", x * x)
    );
    let shown = json_of(&env, &["show", "--json", &square]);
    assert_eq!(shown["status"], "succeeded", "{shown}");
    assert!(shown.to_string().contains("square"), "{shown}");
    let total = env.artifact(&format!("{}/total", task_of(&s, "sum")));
    assert_eq!(total, json!((1..=200i64).map(|i| i * i).sum::<i64>()));
}

#[test]
fn kill_9_during_a_big_foreach_then_resume_continues_and_everything_reads_back() {
    const N: i64 = 3000;
    let env = Env::new();
    let g = guest("example-foreach");
    let mut child = env
        .command(&[
            "run",
            g.to_str().unwrap(),
            "-p",
            &format!("n={N}"),
            "--max-workers",
            "2",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill once some squares are recorded (however loaded the machine is).
    let deadline = Instant::now() + Duration::from_secs(300);
    let run_id = loop {
        assert!(Instant::now() < deadline, "no square finished in time");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it was killed"
        );
        std::thread::sleep(Duration::from_millis(20));
        if !env.store().join("metadata.sqlite").exists() {
            continue;
        }
        let client = env.client();
        let Some(run) = client
            .flow("Foreach")
            .ok()
            .and_then(|f| f.latest_run().ok().flatten())
        else {
            continue;
        };
        let done = run.step("square").map(|s| s.stats().succeeded).unwrap_or(0);
        if done >= 100 {
            break run.id().to_string();
        }
    };
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    // Every square recorded as succeeded reads back whole: value and log.
    let client = env.client();
    let run = client.flow("Foreach").unwrap().run(&run_id).unwrap();
    let squares = run.step("square").unwrap().tasks().unwrap();
    let done: Vec<_> = squares
        .iter()
        .filter(|t| t.status() == wflow_metadata::Status::Succeeded)
        .collect();
    assert!(
        done.len() >= 100 && done.len() < N as usize,
        "{}",
        done.len()
    );
    for t in &done {
        let x = i64::from(t.record().foreach_path[0]) + 1;
        let value = t.artifact("square").unwrap().value().unwrap();
        assert_eq!(value, json!(x * x), "{}", t.pathspec());
        let logs = t.logs(None).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&logs.stdout.bytes),
            format!("item {}: {x}^2 = {}\n", x - 1, x * x),
            "{}",
            t.pathspec()
        );
    }
    // No file per finished task.
    let blobs = blob_files(&env);
    assert!(blobs < 10, "{blobs} blob files for {} tasks", done.len());

    // Resume takes the finished squares and runs the rest.
    let out = env.wflow(&["resume", "--json", &format!("Foreach/{run_id}")]);
    assert!(out.status.success(), "resume: {}", stderr(&out));
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["status"], "succeeded", "{s}");
    let reused = s["resume"]["reused"].as_array().unwrap().len();
    assert!(reused > done.len(), "start and the squares done: {reused}");
    let total = env.artifact(&format!("{}/total", task_of(&s, "sum")));
    assert_eq!(total, json!((1..=N).map(|i| i * i).sum::<i64>()));
    // A reused square of the resumed run reads back like its origin.
    let resumed = client
        .run(&format!("Foreach/{}", s["run_id"].as_str().unwrap()))
        .unwrap();
    let t = resumed.step("square").unwrap().tasks().unwrap();
    let reused_task = t.iter().find(|t| t.record().is_reused()).unwrap();
    let x = i64::from(reused_task.record().foreach_path[0]) + 1;
    assert_eq!(
        reused_task.artifact("square").unwrap().value().unwrap(),
        json!(x * x)
    );
}
