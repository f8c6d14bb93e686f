//! Steps that fail: the run stops with a clear message naming the task, exit code 1, and the
//! task's logs and the run's records tell what happened.

use crate::util::{Env, guest, stderr};

/// Runs `Faulty` with `mode`, expecting failure; returns (summary JSON, stderr).
fn run_faulty(env: &Env, mode: &str) -> (serde_json::Value, String) {
    let g = guest("test-program-faulty");
    let out = env.wflow(&[
        "run",
        "--json",
        g.to_str().unwrap(),
        "-p",
        &format!("mode={mode}"),
    ]);
    assert_eq!(out.status.code(), Some(1), "mode {mode}: {}", stderr(&out));
    (serde_json::from_slice(&out.stdout).unwrap(), stderr(&out))
}

fn failed_task(summary: &serde_json::Value) -> String {
    summary["failure"]["pathspec"].as_str().unwrap().to_string()
}

#[test]
fn ok_mode_succeeds() {
    let env = Env::new();
    let s = env.run_ok(&guest("test-program-faulty"), &[]);
    assert_eq!(
        env.artifact(&format!("{}/out", crate::util::task_of(&s, "work"))),
        serde_json::json!(42)
    );
}

#[test]
fn panic_message_reaches_the_error_and_the_logs() {
    let env = Env::new();
    let (s, err) = run_faulty(&env, "panic");
    assert!(err.contains("panicked"), "{err}");
    assert!(err.contains("faulty step panicked on purpose"), "{err}");
    let task = failed_task(&s);
    assert!(task.contains("/work/"), "the failing task is named: {task}");
    let logs = env.wflow(&["logs", "--stderr", &task]);
    assert!(String::from_utf8_lossy(&logs.stdout).contains("faulty step panicked on purpose"));
}

#[test]
fn trap_is_reported() {
    let env = Env::new();
    let (s, err) = run_faulty(&env, "trap");
    assert!(err.contains("trapped"), "{err}");
    assert!(err.contains("unreachable"), "{err}");
    assert!(failed_task(&s).contains("/work/"));
}

#[test]
fn step_error_is_reported() {
    let env = Env::new();
    let (_, err) = run_faulty(&env, "error");
    assert!(err.contains("faulty step failed on purpose"), "{err}");
}

#[test]
fn a_long_error_is_cut_in_the_records_and_kept_whole_in_the_logs() {
    let env = Env::new();
    let (s, err) = run_faulty(&env, "long-error");
    assert!(err.contains("a long error"), "{err}");
    assert!(!err.contains("THE-END"), "the printed error is cut: {err}");
    let task = failed_task(&s);
    let show = env.wflow(&["show", "--json", &task]);
    let shown: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    let recorded = shown["attempt_records"][0]["error"].as_str().unwrap();
    assert!(
        recorded.contains("more characters") && !recorded.contains("THE-END"),
        "{recorded}"
    );
    assert!(
        recorded.chars().count() < 2_100,
        "{} characters",
        recorded.len()
    );
    let logs = env.wflow(&["logs", "--stderr", &task]);
    let text = String::from_utf8_lossy(&logs.stdout);
    assert!(
        text.contains("whole error") && text.contains("THE-END"),
        "{text}"
    );
}

#[test]
fn out_of_memory_is_named() {
    let env = Env::new();
    let (_, err) = run_faulty(&env, "oom");
    assert!(err.contains("out of memory"), "{err}");
}

#[test]
fn logs_of_a_successful_task() {
    let env = Env::new();
    let s = env.run_ok(&guest("test-program-faulty"), &["-p", "mode=stdout"]);
    let task = crate::util::task_of(&s, "work");
    let out = env.wflow(&["logs", "--stdout", &task]);
    let text = String::from_utf8_lossy(&out.stdout);
    for i in 0..5 {
        assert!(text.contains(&format!("line {i}")), "{text}");
    }
    let err = env.wflow(&["logs", "--stderr", &task]);
    assert!(!String::from_utf8_lossy(&err.stdout).contains("line 0"));
}

#[test]
fn failed_run_is_recorded_as_failed_and_earlier_tasks_keep_their_artifacts() {
    let env = Env::new();
    let (s, _) = run_faulty(&env, "panic");
    let runs = env.wflow(&["runs", "--json"]);
    let runs: serde_json::Value = serde_json::from_slice(&runs.stdout).unwrap();
    assert_eq!(runs[0]["status"], "failed");
    assert!(runs[0]["error"].as_str().unwrap().contains("panicked"));
    // `start` finished before `work` failed: its task is intact.
    let start = crate::util::task_of(&s, "start");
    let out = env.wflow(&["artifact", "get", &format!("{start}/mode")]);
    assert!(out.status.success(), "{}", stderr(&out));
}
