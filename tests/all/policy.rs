//! Capabilities under the administrator's policy: granted ones reach the step, refused ones stop
//! the run before anything starts, and a step that asks for nothing is a pure function.
//! Also retries and `catch` with Metaflow's semantics.

use crate::util::{Env, guest, stderr, task_of};

/// An env whose working directory holds `data/hello.txt` and an `out/` folder.
fn project() -> Env {
    let env = Env::new();
    std::fs::create_dir_all(env.dir.path().join("data")).unwrap();
    std::fs::create_dir_all(env.dir.path().join("out")).unwrap();
    std::fs::write(env.dir.path().join("data/hello.txt"), "hello from the host").unwrap();
    env
}

fn run_capable(env: &Env, extra: &[&str]) -> std::process::Output {
    let g = guest("test-program-capable");
    let mut args = vec!["run", "--json", g.to_str().unwrap()];
    args.extend_from_slice(extra);
    env.command(&args)
        .env("WFLOW_TEST_SECRET", "s3cret")
        .output()
        .unwrap()
}

#[test]
fn granted_capabilities_reach_the_step() {
    let env = project();
    let out = run_capable(&env, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let start = task_of(&s, "start");
    let get = |name: &str| env.artifact(&format!("{start}/{name}"));
    assert_eq!(get("secret"), "s3cret");
    assert_eq!(get("file"), "hello from the host");
    assert!(
        get("write_ro").as_str().unwrap().contains("Err"),
        "a read-only mount refuses writes"
    );
    assert_eq!(
        std::fs::read_to_string(env.dir.path().join("out/result.txt")).unwrap(),
        "written by a step"
    );
    let now: u64 = get("now").as_str().unwrap().parse().unwrap();
    assert!(now > 1_700_000_000, "the granted clock is real: {now}");
}

#[test]
fn a_step_without_capabilities_is_deterministic_and_sees_nothing() {
    let env = project();
    let mut seen = Vec::new();
    for _ in 0..2 {
        let out = run_capable(&env, &[]);
        assert!(out.status.success(), "{}", stderr(&out));
        let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let pure = task_of(&s, "pure");
        let get = |name: &str| env.artifact(&format!("{pure}/{name}"));
        assert_eq!(get("pure_now"), "0", "the clock starts at the epoch");
        assert_eq!(get("pure_env"), "None");
        assert_eq!(get("pure_file"), "false");
        seen.push(get("pure_random"));
    }
    assert_eq!(seen[0], seen[1], "random numbers are the same on every run");
}

#[test]
fn a_policy_refuses_before_anything_runs_naming_step_and_capability() {
    let env = project();
    let policy = env.dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        "[grants]\nclock = true\nrandom = true\ndirs = [{ path = \"data\" }]\n",
    )
    .unwrap();
    let out = run_capable(&env, &["--policy", policy.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("refused by the policy"), "{err}");
    assert!(
        err.contains("step `start`: environment variable `WFLOW_TEST_SECRET` is not allowed"),
        "{err}"
    );
    assert!(
        err.contains("step `start`: directory `out` (read-write) is not allowed"),
        "{err}"
    );
    assert!(
        !err.contains("directory `data`"),
        "data is granted read-only: {err}"
    );
    assert!(env.store_files().is_empty(), "nothing ran, nothing stored");
    assert!(!env.dir.path().join("out/result.txt").exists());

    let g = guest("test-program-capable");
    let check = env.wflow(&[
        "--policy",
        policy.to_str().unwrap(),
        "check",
        g.to_str().unwrap(),
    ]);
    assert_eq!(check.status.code(), Some(2));
    assert!(
        stderr(&check).contains("WFLOW_TEST_SECRET"),
        "check reports policy violations too"
    );
}

#[test]
fn a_memory_request_above_the_ceiling_is_refused() {
    let env = Env::new();
    let policy = env.dir.path().join("policy.toml");
    std::fs::write(&policy, "[limits]\nmax_memory_mb = 32\n").unwrap();
    let g = guest("test-program-hostile");
    let out = env.wflow(&[
        "--policy",
        policy.to_str().unwrap(),
        "run",
        g.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("step `work`: memory 64 MiB is above the policy's ceiling of 32 MiB"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_invalid_policy_file_names_the_key_and_the_file() {
    let env = Env::new();
    let policy = env.dir.path().join("policy.toml");
    std::fs::write(&policy, "[limits]\nmax_memory = 32\n").unwrap();
    let g = guest("example-hello");
    let out = env.wflow(&[
        "--policy",
        policy.to_str().unwrap(),
        "run",
        g.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("policy.toml") && err.contains("max_memory"),
        "{err}"
    );
}

#[test]
fn a_failed_attempt_is_retried_and_recorded() {
    let env = Env::new();
    let s = env.run_ok(
        &guest("test-program-hostile"),
        &["-p", "mode=flaky", "--max-workers", "1"],
    );
    assert_eq!(s["status"], "succeeded");
    let work0 = s["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["step"] == "work")
        .unwrap()["pathspec"]
        .as_str()
        .unwrap()
        .to_string();
    let first = env.wflow(&["logs", "--json", "--attempt", "0", &work0]);
    assert!(
        first.status.success(),
        "attempt 0 is recorded: {}",
        stderr(&first)
    );
    let second = env.wflow(&["logs", "--json", "--attempt", "1", &work0]);
    assert!(
        second.status.success(),
        "attempt 1 is recorded: {}",
        stderr(&second)
    );
}

#[test]
fn a_trap_is_retried_then_fails() {
    let env = Env::new();
    let g = guest("test-program-hostile");
    let out = env.wflow(&[
        "run",
        "--max-workers",
        "1",
        g.to_str().unwrap(),
        "-p",
        "mode=recursion",
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains("attempt 0 failed") && err.contains("retrying"),
        "{err}"
    );
}

#[test]
fn catch_keeps_the_error_and_the_flow_goes_on() {
    let env = Env::new();
    let s = env.run_ok(&guest("test-program-hostile"), &["-p", "mode=fail-end"]);
    assert_eq!(s["status"], "succeeded");
    let err = env.artifact(&format!("{}/end_error", task_of(&s, "end")));
    assert_eq!(err["kind"], "error");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("end failed on purpose")
    );
    assert_eq!(err["attempts"], 1);
}
