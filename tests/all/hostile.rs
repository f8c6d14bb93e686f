//! The hostile-guest corpus (`test-programs/hostile`): item 0 of a four-item foreach misbehaves.
//! Each mode must end in a clear error naming the problem, with the host alive, the other tasks'
//! artifacts intact and the store verifiable; the next run on the same store works.

use crate::util::{Env, guest, stderr};

/// Runs Hostile with `mode` (and extra args), expecting a failed run; returns stderr.
pub(crate) fn hostile_fails(env: &Env, mode: &str, extra: &[&str], needles: &[&str]) -> String {
    let g = guest("test-program-hostile");
    let mode = format!("mode={mode}");
    let mut args = vec![
        "run",
        "--max-workers",
        "1",
        g.to_str().unwrap(),
        "-p",
        &mode,
    ];
    args.extend_from_slice(extra);
    let out = env.wflow(&args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{mode}: {err}");
    for n in needles {
        assert!(
            err.contains(n),
            "{mode}: stderr should mention {n:?}:\n{err}"
        );
    }
    assert_store_is_sound(env);
    err
}

/// Every blob's content still matches its name, and a good run works on the same store.
pub(crate) fn assert_store_is_sound(env: &Env) {
    for f in env.store_files() {
        let path = f.to_string_lossy();
        if let Some(hex) = path
            .rsplit('/')
            .next()
            .filter(|_| path.contains("blobs-v1/"))
        {
            let bytes = std::fs::read(&f).unwrap();
            assert_eq!(hash_hex(&bytes), hex, "blob {path} is intact");
        }
    }
    let ok = env.run_ok(&guest("test-program-hostile"), &["-p", "mode=ok"]);
    assert_eq!(ok["status"], "succeeded");
    let join = crate::util::task_of(&ok, "join");
    assert_eq!(
        env.artifact(&format!("{join}/out")),
        serde_json::json!("4 fine")
    );
}

fn hash_hex(bytes: &[u8]) -> String {
    wflow_core::Digest::of(bytes).to_string()
}

#[test]
fn reading_etc_passwd_is_denied() {
    hostile_fails(
        &Env::new(),
        "read-passwd",
        &[],
        // Issue 15: the sandbox's refusal is named, not "No such file or directory".
        &[
            "/work/2",
            "panicked",
            "reading /etc/passwd",
            "not granted (ask for `dirs` in the step's capabilities)",
        ],
    );
}

#[test]
fn reading_the_working_directory_is_denied() {
    hostile_fails(
        &Env::new(),
        "read-cwd",
        &[],
        &[
            "listing the host's working directory",
            "not granted (ask for `dirs`",
        ],
    );
}

#[test]
fn an_environment_variable_not_granted_is_absent() {
    hostile_fails(&Env::new(), "env", &[], &["reading HOME", "NotPresent"]);
}

#[test]
fn a_socket_not_granted_is_refused() {
    hostile_fails(
        &Env::new(),
        "socket",
        &[],
        &[
            "connecting to 127.0.0.1:22",
            "not granted (ask for `network` in the step's capabilities)",
        ],
    );
}

#[test]
fn an_infinite_loop_times_out() {
    hostile_fails(&Env::new(), "loop", &[], &["timed out after 3 s"]);
}

#[test]
fn allocating_until_failure_is_out_of_memory() {
    hostile_fails(&Env::new(), "oom", &[], &["out of memory", "64 MiB"]);
}

#[test]
fn unbounded_recursion_traps() {
    hostile_fails(&Env::new(), "recursion", &[], &["trapped", "recurse"]);
}

#[test]
fn printing_gigabytes_keeps_only_the_capped_log() {
    let env = Env::new();
    let policy = env.dir.path().join("policy.toml");
    std::fs::write(&policy, "[limits]\nmax_log_bytes = 1048576\n").unwrap();
    let err = hostile_fails(
        &env,
        "print-gigabytes",
        &["--policy", policy.to_str().unwrap()],
        &["timed out"],
    );
    let task = err
        .split("task ")
        .nth(1)
        .unwrap()
        .split(':')
        .next()
        .unwrap()
        .to_string();
    let logs = env.wflow(&["logs", "--stdout", &task]);
    assert!(logs.status.success(), "{}", stderr(&logs));
    let text = String::from_utf8_lossy(&logs.stdout);
    assert!(text.contains(
        "[wflow: output truncated: this attempt's log limit of 1048576 bytes was reached]"
    ));
    assert!(
        logs.stdout.len() < (1 << 20) + 200,
        "log is capped: {} bytes",
        logs.stdout.len()
    );
}

#[test]
fn a_million_foreach_items_hit_the_width_limit() {
    hostile_fails(
        &Env::new(),
        "million-items",
        &[],
        &["max_foreach_items", "100000", "1000000 items", "/start/1"],
    );
}

#[test]
fn an_artifact_larger_than_allowed_fails_the_task() {
    let env = Env::new();
    let policy = env.dir.path().join("policy.toml");
    std::fs::write(&policy, "[limits]\nmax_artifact_bytes = 8388608\n").unwrap();
    hostile_fails(
        &env,
        "big-artifact",
        &["--policy", policy.to_str().unwrap()],
        &["max_artifact_bytes", "8388608"],
    );
}

#[test]
fn bad_artifact_names_are_refused_each_with_a_reason() {
    let err = hostile_fails(
        &Env::new(),
        "bad-names",
        &[],
        &["not a valid artifact name"],
    );
    assert!(!err.contains("ACCEPTED"), "{err}");
    for name in ["``", "`a/b`", "`..`", "`x\\0y`", "`_reserved`", "`nnnn"] {
        assert!(err.contains(name), "{name} refused: {err}");
    }
}

#[test]
fn declaring_foreach_items_from_a_plain_step_is_refused() {
    hostile_fails(
        &Env::new(),
        "wrong-phase",
        &[],
        &["step `work` is not a foreach step"],
    );
}

#[test]
fn running_out_of_memory_inside_a_host_call() {
    hostile_fails(&Env::new(), "trap-in-host-call", &[], &["out of memory"]);
}

#[test]
fn a_component_importing_an_unknown_interface_is_refused() {
    let env = Env::new();
    let g = guest("test-program-extra-import");
    let out = env.wflow(&["run", g.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("test:missing/secrets") && err.contains("does not provide"),
        "{err}"
    );
    assert!(env.store_files().is_empty());
}

#[test]
fn getting_a_wide_value_prints_a_bounded_preview() {
    // Issue 20: `wflow artifact get` of a wide CBOR value decoded all of it and printed it all
    // (4 MiB of nulls: 40 MB of JSON; 32 MiB: gigabytes). Now: about a MiB, and a note saying
    // how to get all of it.
    let env = Env::new();
    let s = env.run_ok(&guest("test-program-hostile"), &["-p", "mode=wide-value"]);
    let wide = s["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["step"] == "work")
        .map(|t| format!("{}/wide", t["pathspec"].as_str().unwrap()))
        .find(|p| {
            env.wflow(&["artifact", "get", "--output", "/dev/null", p])
                .status
                .success()
        })
        .expect("item 0 kept `wide`");
    for json in [false, true] {
        let mut args = vec!["artifact", "get", wide.as_str()];
        if json {
            args.insert(0, "--json");
        }
        let out = env.wflow(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(
            out.stdout.len() < 2 << 20,
            "{} bytes printed",
            out.stdout.len()
        );
        let shown: serde_json::Value = serde_json::from_slice(&out.stdout).expect("still JSON");
        let last = shown
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .as_str()
            .unwrap()
            .to_string();
        assert!(last.ends_with(" more items"), "{last}");
        let err = stderr(&out);
        assert!(
            err.contains("larger than shown") && err.contains("--full"),
            "{err}"
        );
    }
}

/// A record whose flow name holds terminal escape sequences (written by anyone who can write
/// the records) is printed by `wflow runs` escaped: it cannot clear the screen or set a title.
#[test]
fn escape_sequences_in_records_are_printed_escaped() {
    let env = Env::new();
    env.run_ok(&guest("example-hello"), &[]);
    let conn = rusqlite::Connection::open(env.store().join("metadata.sqlite")).unwrap();
    conn.execute(
        "UPDATE runs SET flow = 'Hello\u{1b}]0;owned\u{7}\u{1b}[2J', origin_run = 'x\u{1b}[2J'",
        [],
    )
    .unwrap();
    drop(conn);
    let out = env.wflow(&["runs"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{7}'),
        "{text:?}"
    );
    assert!(
        text.contains("Hello\\u{1b}]0;owned\\u{7}\\u{1b}[2J/") && text.contains("x\\u{1b}[2J"),
        "{text}"
    );
    let run = text.split_whitespace().next().unwrap().to_string();
    let flow = "Hello\u{1b}]0;owned\u{7}\u{1b}[2J";
    let id = run.rsplit('/').next().unwrap();
    // Such a name cannot be given back as a pathspec; the refusal shows it escaped too.
    let out = env.wflow(&["show", &format!("{flow}/{id}")]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        !err.contains('\u{1b}') && err.contains("\\u{1b}[2J"),
        "{err:?}"
    );
    let out = env.wflow(&["show", &format!("Hello/{id}")]);
    assert!(!String::from_utf8_lossy(&out.stdout).contains('\u{1b}'));
}

/// A guest's error text is the guest's to choose: printed by `run`, `show` and the task view, its
/// control characters are escaped (a failing step cannot clear the terminal or set its title).
#[test]
fn escape_sequences_in_a_guests_error_are_printed_escaped() {
    let env = Env::new();
    let mode = "x\u{1b}]0;owned\u{7}\u{1b}[2J";
    let err = hostile_fails(&env, mode, &[], &["unknown mode"]);
    assert!(
        !err.contains('\u{1b}') && !err.contains('\u{7}') && err.contains("\\u{1b}[2J"),
        "{err:?}"
    );
    let out = env.wflow(&["show", "Hostile/latest"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{7}'),
        "{text:?}"
    );
    // The run's error names the failed task: `task Hostile/<run>/work/<id>: …`.
    let task = err
        .split_whitespace()
        .find(|w| w.starts_with("Hostile/") && w.ends_with(':'))
        .map(|w| w.trim_end_matches(':').to_string())
        .expect("the run's error names the failed task");
    let out = env.wflow(&["show", &task]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("unknown mode"), "{text}");
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{7}'),
        "{text:?}"
    );
}
