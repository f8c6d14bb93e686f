//! `wflow resume` and `wflow step-run`: what is reused (by attempt records and origin), what
//! runs, the results; foreach and branches; every kind of bad input.

use std::time::Instant;

use serde_json::{Value, json};

use crate::util::{Env, fails, guest, stderr, task_of};

fn run_path(summary: &Value) -> String {
    format!(
        "{}/{}",
        summary["flow"].as_str().unwrap(),
        summary["run_id"].as_str().unwrap()
    )
}

/// Runs `Faulty` with `mode`, expecting it to fail; returns its summary.
fn failed_faulty(env: &Env, mode: &str) -> Value {
    let g = guest("test-program-faulty");
    let out = env.wflow(&[
        "run",
        "--json",
        g.to_str().unwrap(),
        "-p",
        &format!("mode={mode}"),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `wflow resume --json ARGS`, expecting success; returns the summary and stderr.
///
/// With `--no-cache`: these tests are about what a resume reuses; a pure step's tasks would
/// otherwise come from the cache when they read what they read before (that is `cache.rs`).
fn resume_ok(env: &Env, args: &[&str]) -> (Value, String) {
    let mut all = vec!["resume", "--json", "--no-cache"];
    all.extend_from_slice(args);
    let out = env.wflow(&all);
    assert!(out.status.success(), "wflow {all:?}: {}", stderr(&out));
    (serde_json::from_slice(&out.stdout).unwrap(), stderr(&out))
}

/// `wflow resume ARGS` in text mode, expecting success; returns stderr (the notes).
fn resume_notes(env: &Env, args: &[&str]) -> String {
    let mut all = vec!["resume", "--no-cache"];
    all.extend_from_slice(args);
    let out = env.wflow(&all);
    assert!(out.status.success(), "wflow {all:?}: {}", stderr(&out));
    stderr(&out)
}

#[test]
pub(crate) fn resume_with_the_fix_reuses_start_and_runs_only_the_failed_step_and_after() {
    let env = Env::new();
    let origin = failed_faulty(&env, "error");
    // The bare run id will do (as `run --json` prints it).
    let (s, _) = resume_ok(&env, &[origin["run_id"].as_str().unwrap(), "-p", "mode=ok"]);
    assert_eq!(s["status"], "succeeded");
    assert_eq!(s["resume"]["origin_run"], origin["run_id"]);
    assert_eq!(s["resume"]["failed_steps"], json!(["work"]));
    assert_eq!(s["resume"]["reused"].as_array().unwrap().len(), 1);
    assert_eq!(s["resume"]["params_changed"], json!(["mode"]));
    // The same, in words.
    let err = resume_notes(&env, &[&run_path(&origin), "-p", "mode=ok"]);
    assert!(
        err.contains("reused 1 task") && err.contains("(start)"),
        "{err}"
    );
    assert!(
        err.contains("running again: the failed or unfinished tasks of work; every task of end"),
        "{err}"
    );
    assert!(err.contains("parameters changed: mode"), "{err}");

    let client = env.client();
    let run = client.run(&run_path(&s)).unwrap();
    assert_eq!(run.origin_run(), origin["run_id"].as_str());
    assert_eq!(
        run.params(),
        &json!({ "mode": "ok" }),
        "the override, recorded"
    );
    let origin_run = client.run(&run_path(&origin)).unwrap();
    // start: not run again — no attempt, its outputs are the origin task's manifest.
    let start = run.step("start").unwrap().task().unwrap();
    let origin_start = origin_run.step("start").unwrap().task().unwrap();
    assert_eq!(start.record().attempts, 0);
    assert!(start.attempts().unwrap().is_empty());
    assert_eq!(start.origin(), Some(origin_start.pathspec()));
    assert_eq!(
        start.record().manifest,
        origin_start.record().manifest,
        "pointed at, not copied"
    );
    // work and end ran, once each.
    for step in ["work", "end"] {
        let t = run.step(step).unwrap().task().unwrap();
        assert_eq!((t.record().attempts, t.origin()), (1, None), "{step} ran");
        assert_eq!(
            t.attempts().unwrap()[0].status,
            wflow_client::Status::Succeeded
        );
    }
    let end = run.end_task().unwrap().unwrap();
    assert_eq!(end.artifact("out").unwrap().value().unwrap(), json!(42));
    assert_eq!(
        end.artifact("mode").unwrap().value().unwrap(),
        json!("ok"),
        "parameter artifacts follow the override"
    );
    // The origin's failed attempt is still there, with its error.
    let work = origin_run.step("work").unwrap().task().unwrap();
    assert!(
        work.attempts().unwrap()[0]
            .error
            .as_deref()
            .unwrap()
            .contains("failed on purpose")
    );
    // And `show` says what was reused.
    let text = String::from_utf8_lossy(&env.wflow(&["show", &run_path(&s)]).stdout).into_owned();
    assert!(
        text.contains("resumes") && text.contains("1 task (reused)"),
        "{text}"
    );
}

#[test]
pub(crate) fn resume_a_foreach_from_its_join_reuses_the_thousand_items() {
    let env = Env::new();
    let origin = env.run_ok(&guest("example-foreach"), &["-p", "n=1000"]);
    let started = Instant::now();
    let (s, _) = resume_ok(&env, &[&run_path(&origin), "--from", "sum"]);
    let elapsed = started.elapsed();
    assert_eq!(s["resume"]["rerun_steps"], json!(["sum", "end"]));
    assert_eq!(s["resume"]["reused"].as_array().unwrap().len(), 1001);

    let client = env.client();
    let run = client.run(&run_path(&s)).unwrap();
    let steps = run.steps().unwrap();
    let stats = |name: &str| {
        steps
            .iter()
            .find(|s| s.name() == name)
            .unwrap()
            .stats()
            .clone()
    };
    let square = stats("square");
    assert_eq!(
        (square.tasks, square.reused, square.attempts),
        (1000, 1000, 0)
    );
    let sum = stats("sum");
    assert_eq!((sum.tasks, sum.reused, sum.attempts), (1, 0, 1));
    assert_eq!(
        run.end_task()
            .unwrap()
            .unwrap()
            .artifact("total")
            .unwrap()
            .value()
            .unwrap(),
        json!(333_833_500)
    );
    // Reaching the join: from the run's start to the join's start.
    let join = run.step("sum").unwrap().task().unwrap();
    let to_join = join.record().started_ms - run.record().started_ms;
    eprintln!(
        "resume of a 1000-item foreach: {to_join} ms to the join, {elapsed:?} for the command"
    );
    // Every reused square points at the origin's task of the same item.
    let origin_run = client.run(&run_path(&origin)).unwrap();
    let theirs: std::collections::HashMap<Vec<u32>, String> = origin_run
        .step("square")
        .unwrap()
        .tasks()
        .unwrap()
        .iter()
        .map(|t| (t.record().foreach_path.clone(), t.pathspec()))
        .collect();
    for t in run.step("square").unwrap().tasks().unwrap() {
        assert_eq!(t.origin().as_ref(), theirs.get(&t.record().foreach_path));
    }
}

#[test]
pub(crate) fn resume_a_branch_from_one_side() {
    let env = Env::new();
    let origin = env.run_ok(&guest("example-branch"), &[]);
    let (s, _) = resume_ok(&env, &[&run_path(&origin), "--from", "b"]);
    let client = env.client();
    let run = client.run(&run_path(&s)).unwrap();
    let reused: Vec<String> = run
        .tasks()
        .unwrap()
        .iter()
        .filter(|t| t.origin().is_some())
        .map(|t| t.step().to_string())
        .collect();
    let mut reused = reused;
    reused.sort();
    assert_eq!(
        reused,
        ["a", "start"],
        "the other branch is reused, b and what follows run"
    );
    assert_eq!(
        run.end_task()
            .unwrap()
            .unwrap()
            .artifact("summary")
            .unwrap()
            .value()
            .unwrap(),
        json!("8 numbers: sum 31, max 9")
    );
    // b's logs are its own new attempt's.
    let b = run.step("b").unwrap().task().unwrap();
    let logs = b.logs(None).unwrap();
    assert_eq!(String::from_utf8_lossy(&logs.stdout.bytes), "b: max = 9\n");
}

#[test]
pub(crate) fn resume_of_a_killed_run_needs_no_force_but_a_live_one_is_refused() {
    let env = Env::new();
    let (mut child, run) = crate::inspect::start_endless_run(&env);
    fails(
        &env,
        &["resume", &run, "-p", "mode=ok"],
        2,
        &["is still running", "process"],
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let err = resume_notes(&env, &[&run, "-p", "mode=ok"]);
    assert!(err.contains("process is gone"), "{err}");
    assert!(err.contains("succeeded"), "{err}");
    let client = env.client();
    let resumed = client
        .flow("Faulty")
        .unwrap()
        .latest_run()
        .unwrap()
        .unwrap();
    assert_eq!(resumed.origin_run(), run.split_once('/').map(|p| p.1));
    assert_eq!(resumed.step("start").unwrap().stats().reused, 1);
}

#[test]
pub(crate) fn resume_refuses_bad_requests_clearly() {
    let env = Env::new();
    let ok = env.run_ok(&guest("test-program-faulty"), &[]);
    let failed = failed_faulty(&env, "error");
    let runs_before = env.wflow(&["runs", "--json"]).stdout;
    fails(
        &env,
        &["resume", &run_path(&ok)],
        2,
        &[
            "succeeded",
            "nothing to resume",
            "--from STEP",
            "start, work, end",
        ],
    );
    fails(
        &env,
        &["resume", &run_path(&failed), "--from", "wrk"],
        2,
        &["no step `wrk`", "start, work, end"],
    );
    let hello = guest("example-hello");
    fails(
        &env,
        &["resume", &run_path(&failed), hello.to_str().unwrap()],
        2,
        &["flow `Hello`", "run of flow `Faulty`"],
    );
    fails(
        &env,
        &["resume", &format!("{}/work", run_path(&failed))],
        2,
        &["resume takes a run"],
    );
    fails(
        &env,
        &["resume", "Faulty/nope"],
        2,
        &["run `nope` not found"],
    );
    fails(
        &env,
        &["resume", &run_path(&failed), "-p", "mood=ok"],
        2,
        &["unknown parameter `mood`", "mode"],
    );
    assert_eq!(
        env.wflow(&["runs", "--json"]).stdout,
        runs_before,
        "no run was recorded"
    );

    // A succeeded run can be run again from a step.
    let (s, _) = resume_ok(&env, &[&run_path(&ok), "--from", "end"]);
    assert_eq!(s["resume"]["reused"].as_array().unwrap().len(), 2);
}

/// The same component with a custom section added: other bytes (another digest), same code.
fn rebuilt(env: &Env) -> String {
    let mut bytes = std::fs::read(guest("test-program-faulty")).unwrap();
    let (name, payload) = (b"wflow-test", b"rebuilt");
    bytes.push(0);
    bytes.push((1 + name.len() + payload.len()) as u8);
    bytes.push(name.len() as u8);
    bytes.extend_from_slice(name);
    bytes.extend_from_slice(payload);
    let path = env.dir.path().join("faulty-rebuilt.wasm");
    std::fs::write(&path, bytes).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
pub(crate) fn a_changed_component_is_reused_before_the_failed_step_unless_strict() {
    let env = Env::new();
    let failed = failed_faulty(&env, "error");
    let rebuilt = rebuilt(&env);
    let old_code = env
        .client()
        .run(&run_path(&failed))
        .unwrap()
        .record()
        .component;
    // By default, the tasks before the failed step are reused whatever the code, and `work`,
    // whose code changed, runs whole.
    let err = resume_notes(&env, &[&run_path(&failed), &rebuilt, "-p", "mode=ok"]);
    assert!(
        err.contains(&format!(
            "reusing 1 task of step start, computed by component {}… (the code has changed \
             since); running again: every task of work, end",
            old_code.short()
        )),
        "{err}"
    );
    let (s, _) = resume_ok(&env, &[&run_path(&failed), &rebuilt, "-p", "mode=ok"]);
    assert_eq!(s["resume"]["reused"].as_array().unwrap().len(), 1, "{s}");
    assert_eq!(s["resume"]["reused"][0]["component"], json!(old_code));
    assert!(s["resume"]["code_changed"].is_array());
    // --strict: nothing computed by other code.
    let err = resume_notes(
        &env,
        &["--strict", &run_path(&failed), &rebuilt, "-p", "mode=ok"],
    );
    assert!(
        err.contains("--strict: the code of start, work, end differs"),
        "{err}"
    );
    let (s, _) = resume_ok(
        &env,
        &["--strict", &run_path(&failed), &rebuilt, "-p", "mode=ok"],
    );
    assert_eq!(s["resume"]["reused"], json!([]));
    let client = env.client();
    let run = client.run(&run_path(&s)).unwrap();
    assert!(
        run.tasks()
            .unwrap()
            .iter()
            .all(|t| t.record().attempts == 1 && t.origin().is_none())
    );
    assert_eq!(run.origin_run(), failed["run_id"].as_str());
}

#[test]
pub(crate) fn resume_without_a_run_takes_the_newest_and_a_crate_directory_works() {
    let env = Env::new();
    failed_faulty(&env, "error");
    let newest = failed_faulty(&env, "trap");
    let (s, _) = resume_ok(&env, &["-p", "mode=ok"]);
    assert_eq!(s["resume"]["origin_run"], newest["run_id"]);
    // `wflow resume DIR`: the component built from the crate, the newest run of its flow.
    let dir = crate::util::root().join("test-programs").join("faulty");
    let origin = failed_faulty(&env, "error");
    let (s, _) = resume_ok(&env, &[dir.to_str().unwrap(), "-p", "mode=ok"]);
    assert_eq!(s["resume"]["origin_run"], origin["run_id"]);
    assert_eq!(s["status"], "succeeded");
}

#[test]
pub(crate) fn step_run_reruns_one_task_on_its_inputs_without_a_run() {
    let env = Env::new();
    let failed = failed_faulty(&env, "error");
    let work = failed["failure"]["pathspec"].as_str().unwrap().to_string();
    let runs_before = env.wflow(&["runs", "--json"]).stdout;

    let out = env.wflow(&["step-run", "--json", &work, "-p", "mode=ok"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["status"].as_str(), v["task"].is_null()),
        (Some("succeeded"), true)
    );
    let out_artifact = v["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "out")
        .unwrap();
    assert_eq!(
        (
            out_artifact["value"].as_i64(),
            out_artifact["compared"].as_str()
        ),
        (Some(42), Some(""))
    );
    assert_eq!(
        env.wflow(&["runs", "--json"]).stdout,
        runs_before,
        "nothing recorded"
    );

    // Unchanged, it fails again the same way: exit 1 and the error.
    let out = env.wflow(&["step-run", &work]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("failed again") && stderr(&out).contains("failed on purpose"),
        "{}",
        stderr(&out)
    );

    // --persist keeps it as a run whose origin is the run it came from.
    let out = env.wflow(&[
        "step-run",
        "--json",
        "--persist",
        &work,
        "-p",
        "mode=stdout",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        v["stdout"].as_str().unwrap().contains("line 4"),
        "its logs: {v}"
    );
    let kept = v["task"].as_str().unwrap().to_string();
    let client = env.client();
    let task = client.task(&kept).unwrap();
    assert_eq!(task.record().attempts, 1);
    let run = client.run(v["run"].as_str().unwrap()).unwrap();
    assert_eq!(run.origin_run(), failed["run_id"].as_str());
    assert!(
        run.step("start")
            .unwrap()
            .task()
            .unwrap()
            .origin()
            .is_some(),
        "its input was reused"
    );
    assert_eq!(
        run.step("end").unwrap().stats().tasks,
        0,
        "nothing after it ran"
    );
}

#[test]
pub(crate) fn step_run_of_one_foreach_item_and_of_a_join() {
    let env = Env::new();
    let s = env.run_ok(&guest("example-foreach"), &["-p", "n=50"]);
    let client = env.client();
    let run = client.run(&run_path(&s)).unwrap();
    let item = run
        .step("square")
        .unwrap()
        .tasks()
        .unwrap()
        .into_iter()
        .find(|t| t.record().foreach_path == [6])
        .unwrap();
    let out = env.wflow(&["step-run", &item.pathspec()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("square") && text.contains("same") && text.contains(" 49"),
        "{text}"
    );
    assert!(text.contains("item 6: 7^2 = 49"), "its logs: {text}");

    // Under a personal policy too tight for the run's fan-out, the re-run stops before the
    // task: the error says why (it once blamed the inputs).
    let policy = env.dir.path().join("tight.toml");
    std::fs::write(&policy, "[limits]\nmax_tasks_per_run = 20\n").unwrap();
    let out = env.wflow(&[
        "--policy",
        policy.to_str().unwrap(),
        "step-run",
        &item.pathspec(),
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("max_tasks_per_run") && err.contains("declared 50 items"),
        "{err}"
    );

    let v: Value = serde_json::from_slice(
        &env.wflow(&["step-run", "--json", &task_of(&s, "sum")])
            .stdout,
    )
    .unwrap();
    let total = v["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "total")
        .unwrap();
    assert_eq!(
        (total["value"].as_i64(), total["compared"].as_str()),
        (Some(42_925), Some("same"))
    );
}

/// `step-run --persist` keeps a partial run (one task run again and the tasks it read from):
/// it must never count as a run of the flow. It once became the flow's latest successful run,
/// so `latest_successful_run()` returned a run without most of its tasks.
#[test]
pub(crate) fn a_persisted_step_run_is_never_the_latest_run() {
    let env = Env::new();
    let s = env.run_ok(&guest("example-foreach"), &["-p", "n=5"]);
    let out = env.wflow(&["step-run", "--json", "--persist", &task_of(&s, "sum")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let kept = v["run"].as_str().unwrap().to_string();
    let client = env.client();
    let step_run = client.run(&kept).unwrap();
    assert_eq!(step_run.status(), wflow_client::Status::Succeeded);
    assert_eq!(step_run.record().kind, wflow_metadata::RunKind::StepRun);

    let flow = client.flow("Foreach").unwrap();
    let origin = s["run_id"].as_str().unwrap();
    assert_eq!(flow.latest_successful_run().unwrap().unwrap().id(), origin);
    assert_eq!(flow.latest_run().unwrap().unwrap().id(), origin);
    assert_eq!(client.run("Foreach/latest").unwrap().id(), origin);

    // Listed, and marked, not hidden.
    let out = env.wflow(&["runs", "--json", "Foreach"]);
    let runs: Value = serde_json::from_slice(&out.stdout).unwrap();
    let kinds: Vec<&str> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["step_run", "run"], "{runs}");
    let text = String::from_utf8_lossy(&env.wflow(&["runs", "Foreach"]).stdout).to_string();
    assert!(text.contains(&format!("(step-run of {origin})")), "{text}");
    let text = String::from_utf8_lossy(&env.wflow(&["show", &kept]).stdout).to_string();
    assert!(text.contains("step-run of"), "{text}");
    // `resume` of the flow picks its latest run, not the step-run.
    let out = env.wflow(&["resume", "Foreach"]);
    assert!(
        !out.status.success()
            && stderr(&out).contains(origin)
            && stderr(&out).contains("succeeded"),
        "{}",
        stderr(&out)
    );
}

/// Resumes a 200-item foreach from its join: `start` and the 200 `square` tasks are reused (each
/// read back from the store), `sum` and `end` run. Shared by every store, records and compute
/// backend (local here; S3, the metadata service and Batch in their files): it once hung at 100 %
/// CPU on S3 (the store's synchronous reads, called from the scheduler's async thread, spun once
/// tokio's cooperative budget of that thread was spent). `command` makes a `wflow` command of
/// the backend under test; `extra` goes to the resume (say `--compute batch`).
pub(crate) fn resume_a_200_item_foreach_from_its_join(
    command: &dyn Fn(&[&str]) -> std::process::Command,
    extra: &[&str],
) {
    use crate::util::output_within;
    use std::time::Duration;
    let limit = Duration::from_secs(600);
    let g = guest("example-foreach");
    let out = output_within(
        command(&["run", "--json", g.to_str().unwrap(), "-p", "n=200"]),
        limit,
        "the run of 200 items",
    );
    assert!(out.status.success(), "run: {}", stderr(&out));
    let origin: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut args = vec!["resume", "--json"];
    let run = run_path(&origin);
    args.extend_from_slice(&[&run, "--from", "sum"]);
    args.extend_from_slice(extra);
    let out = output_within(command(&args), limit, "the resume of 200 items");
    assert!(out.status.success(), "resume: {}", stderr(&out));
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["status"], "succeeded", "{s}");
    assert_eq!(s["resume"]["origin_run"], origin["run_id"]);
    assert_eq!(
        s["resume"]["reused"].as_array().unwrap().len(),
        201,
        "start and every square reused: {s}"
    );
    let out = output_within(
        command(&[
            "artifact",
            "get",
            "--json",
            &format!("{}/total", task_of(&s, "sum")),
        ]),
        limit,
        "artifact get",
    );
    assert!(out.status.success(), "artifact get: {}", stderr(&out));
    let total: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(total, json!((1..=200).map(|i: i64| i * i).sum::<i64>()));
}

#[test]
pub(crate) fn resume_a_200_item_foreach_on_the_local_store() {
    let env = Env::new();
    resume_a_200_item_foreach_from_its_join(&|args| env.command(args), &[]);
}

/// A guest crate of its own in `dir`: `lib_rs` is its code. It lives outside the workspace but
/// builds with the workspace's lock file and release profile into the test guests' target
/// directory (`Env` sets it), so only the crate itself compiles.
pub(crate) fn own_crate(dir: &std::path::Path, name: &str, lib_rs: &str) -> String {
    let root = crate::util::root();
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let manifest = format!(
        "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n\
         [lib]\ncrate-type = [\"cdylib\"]\n\n\
         [dependencies]\nwflow = {{ path = {sdk:?} }}\nserde = {{ version = \"1\", features = [\"derive\"] }}\n\n\
         [profile.release]\ndebug = false\ncodegen-units = 16\n\n[workspace]\n",
        sdk = root.join("guest-sdk/rust/wflow").to_str().unwrap()
    );
    std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    std::fs::write(dir.join("src/lib.rs"), lib_rs).unwrap();
    dir.to_str().unwrap().to_string()
}

/// `text` with `from` replaced by `to`, which must be there.
fn edited(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "{from:?} is not in the source");
    text.replace(from, to)
}

/// The loop a user lives in: a 200-item foreach whose join fails; the join is fixed; `resume`
/// with the fixed code reuses `start` and the 200 `square` tasks (computed by the old component)
/// and runs the join and `end`. `--strict` reuses nothing of the changed code.
#[test]
pub(crate) fn resume_after_a_code_fix_reuses_the_tasks_before_the_fixed_step() {
    let env = Env::new();
    let good =
        std::fs::read_to_string(crate::util::root().join("examples/foreach/src/lib.rs")).unwrap();
    let broken = edited(
        &good,
        "        self.total.set(total);",
        "        wflow::bail!(\"the join is broken (total {total})\");",
    );
    let dir = env.dir.path().join("edited-foreach");
    let flow = own_crate(&dir, "edited-foreach", &broken);
    let out = env.wflow(&["run", "--json", &flow, "-p", "n=200"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let origin: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        stderr(&out).contains("the join is broken"),
        "{}",
        stderr(&out)
    );
    let client = env.client();
    let old_code = client.run(&run_path(&origin)).unwrap().record().component;

    // The fix.
    own_crate(&dir, "edited-foreach", &good);
    let (s, _) = resume_ok(&env, &[&run_path(&origin), &flow]);
    assert_eq!(s["status"], "succeeded", "{s}");
    let rep = &s["resume"];
    assert_eq!(rep["reused"].as_array().unwrap().len(), 201, "{rep}");
    assert_eq!(rep["reusing_steps"], json!(["start", "square"]));
    assert_eq!(rep["rerun_steps"], json!(["sum", "end"]));
    assert_eq!(rep["reusing_code"], json!([old_code]));
    let run = client.run(&run_path(&s)).unwrap();
    assert_ne!(run.record().component, old_code, "the fixed code ran");
    let total = run.step("sum").unwrap().task().unwrap();
    assert_eq!(
        total.artifact("total").unwrap().value().unwrap(),
        json!((1..=200i64).map(|x| x * x).sum::<i64>())
    );
    // Each reused task says which code computed it, and `show` tells.
    let squares = run.step("square").unwrap().tasks().unwrap();
    assert_eq!(squares.len(), 200);
    for t in &squares {
        assert_eq!(
            (t.record().attempts, t.record().component),
            (0, Some(old_code))
        );
    }
    let text =
        String::from_utf8_lossy(&env.wflow(&["show", &squares[7].pathspec()]).stdout).into_owned();
    assert!(
        text.contains(&format!("computed by component {}", old_code.short())),
        "{text}"
    );

    // In words, one line.
    let err = resume_notes(&env, &[&run_path(&origin), &flow]);
    let line = format!(
        "reusing 201 tasks of steps start, square, computed by component {}… (the code has \
         changed since); running again: every task of sum, end",
        old_code.short()
    );
    assert!(err.contains(&line), "{err}");

    // --strict keeps the old refusal: nothing computed by other code is reused.
    let (s, _) = resume_ok(&env, &["--strict", &run_path(&origin), &flow]);
    assert_eq!(s["status"], "succeeded");
    assert_eq!(s["resume"]["reused"], json!([]));
    assert_eq!(s["resume"]["strict"], true);
    let err = resume_notes(&env, &["--strict", &run_path(&origin), &flow]);
    assert!(
        err.contains("--strict: the code of start, square, sum, end differs"),
        "{err}"
    );
}
