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

/// A policy (in the env's directory) granting what `Capable` asks for.
const GRANTS_ALL: &str = "[grants]\nenv = [\"WFLOW_TEST_SECRET\"]\nclock = true\nrandom = true\n\
                          dirs = [{ path = \"data\" }, { path = \"out\", writable = true }]\n\
                          network = [\"127.0.0.1:18001\", \"localhost:18001\"]\n";

/// Writes `text` as the policy file `name` in the env's directory and returns its path.
fn policy_file(env: &Env, name: &str, text: &str) -> String {
    let path = env.dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
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

/// `Capable` under a policy granting all it asks for.
fn run_capable_granted(env: &Env) -> std::process::Output {
    let policy = policy_file(env, "grants.toml", GRANTS_ALL);
    run_capable(env, &["--policy", &policy])
}

#[test]
fn granted_capabilities_reach_the_step() {
    let env = project();
    let out = run_capable_granted(&env);
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
        let out = run_capable_granted(&env);
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

    // Issue 15, item 4: the caught task is shown as caught, not plain ok, everywhere.
    let end = task_of(&s, "end");
    let summary = s["tasks"].as_array().unwrap();
    let caught: Vec<&str> = summary
        .iter()
        .filter(|t| t["caught"] == true)
        .map(|t| t["step"].as_str().unwrap())
        .collect();
    assert_eq!(caught, ["end"], "{s}");
    let text = |args: &[&str]| {
        let out = env.wflow(args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr(&out),
        )
    };
    let run = end.rsplitn(3, '/').nth(2).unwrap().to_string();
    let (step, _) = text(&["show", &format!("{run}/end")]);
    assert!(step.contains("1 succeeded (1 caught)"), "{step}");
    assert!(step.contains("caught"), "{step}");
    let (task, _) = text(&["show", &end]);
    assert!(task.contains("succeeded (caught"), "{task}");
    let (_, notes) = text(&["logs", &end]);
    assert!(notes.contains("`catch` kept the error"), "{notes}");
    let (runs, _) = text(&["runs", "--json"]);
    let runs: serde_json::Value = serde_json::from_str(&runs).unwrap();
    assert_eq!(runs[0]["tasks"]["caught"], 1, "{runs}");
    let page = env.dir.path().join("caught.html");
    text(&["show", &run, "--html", page.to_str().unwrap()]);
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("<th>caught</th>"), "{html}");
    // The run's text summary says which step had a caught failure.
    let out = env.wflow(&[
        "run",
        guest("test-program-hostile").to_str().unwrap(),
        "-p",
        "mode=fail-end",
        "--no-cache",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed
            .lines()
            .any(|l| l.contains("end") && l.contains("1 caught")),
        "{printed}"
    );
}

/// The digest `wflow check` prints for a component.
fn digest_of(path: &std::path::Path) -> String {
    wflow_core::Digest::of(&std::fs::read(path).unwrap()).to_string()
}

#[test]
fn the_builtin_policy_grants_no_env_no_network_and_nothing_writable() {
    // Issue 20, item 2: with no policy file, any step got any environment variable and the
    // whole project directory read-write.
    let env = project();
    let out = run_capable(&env, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("built-in personal policy"), "{err}");
    assert!(
        err.contains("environment variable `WFLOW_TEST_SECRET` is not allowed"),
        "{err}"
    );
    assert!(
        err.contains("directory `out` (read-write) is not allowed"),
        "{err}"
    );
    assert!(
        err.contains("step `net`: network destination `127.0.0.1:18001`"),
        "{err}"
    );
    assert!(
        !err.contains("directory `data`"),
        "read-only under the project is fine: {err}"
    );
    assert!(env.store_files().is_empty(), "nothing ran");
}

#[test]
fn no_policy_lets_a_step_mount_the_store_or_the_cache() {
    // Issue 20, item 2: a step granted the folder holding the store rewrote its blobs and
    // records. Here the store lies inside `out`, and the cache inside `data`: both mounts are
    // refused before anything runs, naming the overlap, even under a policy granting `/`.
    let env = project();
    let everything = policy_file(
        &env,
        "everything.toml",
        "[grants]\nenv = [\"*\"]\nclock = true\nrandom = true\ndirs = [{ path = \"/\", writable = true }]\n",
    );
    let store = env.dir.path().join("out/store");
    let cache = env.dir.path().join("data/cache");
    let g = guest("test-program-capable");
    let out = env
        .command(&["--policy", &everything, "run", g.to_str().unwrap()])
        .env("WFLOW_STORE", &store)
        .env("WFLOW_CACHE_DIR", &cache)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("refused by the policy; nothing was run"),
        "{err}"
    );
    assert!(
        err.contains("step `start`: directory `out`") && err.contains("overlaps the store"),
        "{err}"
    );
    assert!(
        err.contains("step `start`: directory `data`") && err.contains("overlaps wflow's cache"),
        "{err}"
    );
    assert!(
        !store.join("metadata.sqlite").exists(),
        "no run was recorded"
    );
    assert!(
        !env.dir.path().join("out/result.txt").exists(),
        "the step never ran"
    );
    // A symbolic link to the store is the store.
    std::fs::create_dir_all(env.dir.path().join("real-store")).unwrap();
    std::fs::remove_dir_all(env.dir.path().join("out")).unwrap();
    std::os::unix::fs::symlink(
        env.dir.path().join("real-store"),
        env.dir.path().join("out"),
    )
    .unwrap();
    let out = env
        .command(&["--policy", &everything, "run", g.to_str().unwrap()])
        .env("WFLOW_STORE", env.dir.path().join("real-store"))
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("overlaps the store"), "{err}");
}

#[test]
fn a_flow_taking_a_privileged_flows_name_gets_only_the_global_grants() {
    // Issue 20, item 1: grants under [flows.NAME] went to any component whose spec() said NAME.
    // The policy pins another component's digest for `Capable`: the real `Capable` build is then
    // an impostor, refused with a note naming its digest; pinned, it gets the grants.
    let env = project();
    let g = guest("test-program-capable");
    let other = digest_of(&guest("test-program-hostile"));
    let flow_grants = "[flows.Capable.grants]\nenv = [\"WFLOW_TEST_SECRET\"]\nclock = true\n\
                       random = true\ndirs = [{ path = \"data\" }, { path = \"out\", writable = true }]\n\
                       network = [\"127.0.0.1:18001\", \"localhost:18001\"]\n";
    let impostor = policy_file(
        &env,
        "impostor.toml",
        &format!("[flows.Capable]\ndigests = [\"{other}\"]\n{flow_grants}"),
    );
    let out = run_capable(&env, &["--policy", &impostor]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("environment variable `WFLOW_TEST_SECRET` is not allowed"),
        "{err}"
    );
    let mine = digest_of(&g);
    assert!(
        err.contains(&format!("add \"{mine}\" to that list")),
        "the refusal names the digest to pin: {err}"
    );
    assert!(env.store_files().is_empty());
    let pinned = policy_file(
        &env,
        "pinned.toml",
        &format!("[flows.Capable]\ndigests = [\"{other}\", \"{mine}\"]\n{flow_grants}"),
    );
    // A flow asking for nothing only its own grants give passes unpinned, and is told why it
    // does not get them.
    let hello = guest("example-hello");
    let hello_digest = digest_of(&hello);
    let named = policy_file(
        &env,
        "hello.toml",
        &format!("[flows.Hello]\ndigests = [\"{}\"]\n", "0".repeat(64)),
    );
    let out = env.wflow(&["--policy", &named, "check", hello.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("note: the policy's grants for flow `Hello` apply only")
            && stderr(&out).contains(&hello_digest),
        "{}",
        stderr(&out)
    );
    let check = env.wflow(&["--policy", &pinned, "check", g.to_str().unwrap()]);
    assert!(check.status.success(), "{}", stderr(&check));
    assert!(
        String::from_utf8_lossy(&check.stdout).contains(&mine),
        "check prints the digest"
    );
    let out = run_capable(&env, &["--policy", &pinned]);
    assert!(out.status.success(), "{}", stderr(&out));
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let start = task_of(&s, "start");
    assert_eq!(env.artifact(&format!("{start}/secret")), "s3cret");
}

#[test]
fn a_users_policy_cannot_widen_the_organisations() {
    // Issue 20, item 7: `--policy permissive.toml` simply replaced the administrator's policy.
    let env = project();
    let org = policy_file(&env, "org.toml", "[limits]\nmax_memory_mb = 32\n");
    let permissive = policy_file(
        &env,
        "permissive.toml",
        &format!("{GRANTS_ALL}[limits]\nmax_memory_mb = 65536\n"),
    );
    let g = guest("test-program-hostile");
    let out = env
        .command(&["--policy", &permissive, "run", g.to_str().unwrap()])
        .env("WFLOW_POLICY", &org)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("step `work`: memory 64 MiB is above the policy's ceiling of 32 MiB")
            && err.contains("org.toml"),
        "{err}"
    );
    assert!(env.store_files().is_empty(), "nothing ran");
    // A user's policy narrowing the organisation's is applied too.
    let narrow = policy_file(&env, "narrow.toml", "[limits]\nmax_memory_mb = 16\n");
    let out = env
        .command(&["--policy", &narrow, "run", g.to_str().unwrap()])
        .env("WFLOW_POLICY", policy_file(&env, "org2.toml", ""))
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("ceiling of 16 MiB") && err.contains("narrow.toml"),
        "{err}"
    );
}

#[test]
fn a_forged_task_description_is_refused_by_the_workers_policy() {
    // Issue 20, item 7: a worker ran whatever sandbox the description in the store carried, so
    // anyone able to write to the store could grant a task anything.
    use wflow_scheduler::remote::{DescribedTask, TaskDescription, get_report, report_key};
    let env = project();
    let g = guest("test-program-capable");
    let cas = wflow_store::Cas::new(std::sync::Arc::new(
        wflow_store::LocalDisk::open(&env.store()).unwrap(),
    ));
    let component = cas.put(&std::fs::read(&g).unwrap()).unwrap();
    let forged = wflow_core::Sandbox {
        env: vec![("HOME".into(), "/root".into())],
        network: vec!["10.0.0.1:22".into()],
        dirs: vec![wflow_core::DirGrant {
            host_path: env.store().display().to_string(),
            guest_path: "/store".into(),
            writable: true,
        }],
        memory_bytes: u64::MAX,
        ..Default::default()
    };
    let description = TaskDescription {
        version: 1,
        flow: "Capable".into(),
        run_id: "20261207T000000-forge".into(),
        step: "start".into(),
        component,
        params: vec![],
        join: false,
        is_foreach: false,
        choices: vec![],
        sandbox: forged,
        tasks: vec![DescribedTask {
            task_id: 1,
            attempt: 0,
            foreach_path: vec![],
            foreach_item: None,
            inputs: vec![],
        }],
    };
    let (key, digest) = description.put(&cas).unwrap();
    let worker_policy = policy_file(&env, "worker.toml", GRANTS_ALL);
    let out = env
        .command(&[
            "worker",
            "--task",
            &key,
            "--task-digest",
            &digest.to_string(),
        ])
        .env("WFLOW_POLICY", &worker_policy)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("refused by this worker's policy; nothing was run"),
        "{err}"
    );
    for needle in [
        "environment variable `HOME` is not allowed",
        "network destination `10.0.0.1:22` is not allowed",
        "overlaps the store",
        "memory",
    ] {
        assert!(err.contains(needle), "{needle}: {err}");
    }
    let report = get_report(&cas, &report_key("20261207T000000-forge", 1, 0))
        .unwrap()
        .expect("the refusal is reported to the run");
    let failure = report.result.unwrap_err().to_string();
    assert!(
        failure.contains("refused by this worker's policy"),
        "{failure}"
    );
}

#[test]
fn a_granted_address_can_be_connected_to() {
    // Issue 20: a grant of 127.0.0.1:18001 never connected (the implicit bind to 0.0.0.0:0 that
    // wasmtime-wasi checks first was refused).
    let listener = std::net::TcpListener::bind("127.0.0.1:18001").unwrap();
    // Serves every connection (other tests' runs of `Capable` may connect too) until the end.
    std::thread::spawn(move || {
        use std::io::Write;
        for mut conn in listener.incoming().flatten() {
            let _ = conn.write_all(b"hello over tcp");
        }
    });
    let env = project();
    let out = run_capable_granted(&env);
    assert!(out.status.success(), "{}", stderr(&out));
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let net = task_of(&s, "net");
    assert_eq!(env.artifact(&format!("{net}/net")), "hello over tcp");
    // Name lookups: a granted host resolves; any other name is refused (a step could otherwise
    // leak data through the names it looks up), as if it did not resolve.
    let granted = env.artifact(&format!("{net}/lookup_granted"));
    assert!(
        granted.as_str().unwrap().ends_with("address(es)"),
        "{granted}"
    );
    let other = env.artifact(&format!("{net}/lookup_other"));
    assert!(other.as_str().unwrap().starts_with("error: "), "{other}");
}

#[test]
fn spec_runs_with_the_deterministic_clock_and_random_numbers() {
    // Issue 20: spec() ran with the real clock and real randomness, so a flow's spec (and the
    // name the policy sees) could change from one read to the next. `Capable` puts both in its
    // doc.
    let env = project();
    let g = guest("test-program-capable");
    let policy = policy_file(&env, "grants.toml", GRANTS_ALL);
    let doc = || {
        let out = env.wflow(&["--policy", &policy, "--json", "check", g.to_str().unwrap()]);
        assert!(out.status.success(), "{}", stderr(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["spec"]["doc"].as_str().unwrap().to_string()
    };
    let first = doc();
    assert!(
        first.contains("Spec read at 0 s"),
        "the clock starts at the epoch: {first}"
    );
    assert_eq!(first, doc(), "the same random numbers on every read");
}

#[test]
fn no_policy_lets_a_step_mount_the_compiled_code_key() {
    // Issue 20, item 3: the key that authenticates the compiled-code cache must stay out of
    // every step's reach, or a step could forge cache entries. Here it lies inside `data`.
    // (The configuration file, protected too, is elsewhere.)
    let env = project();
    let p = policy_file(&env, "policy.toml", GRANTS_ALL);
    let config = policy_file(&env, "config.toml", "");
    let g = guest("test-program-capable");
    let out = env
        .command(&["--policy", &p, "run", g.to_str().unwrap()])
        .env("WFLOW_TEST_SECRET", "s3cret")
        .env("WFLOW_CONFIG", &config)
        .env("XDG_CONFIG_HOME", env.dir.path().join("data/config"))
        // Its own cache: entries tagged with this key would be foreign to the other tests'.
        .env("WFLOW_CACHE_DIR", env.dir.path().join("cache"))
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("step `start`: directory `data`")
            && err.contains("the key that authenticates compiled code"),
        "{err}"
    );
    assert!(env.store_files().is_empty(), "nothing ran");
}
