//! Tasks on AWS Batch, end to end on 127.0.0.1: a private moto server (S3 and Batch) whose Batch
//! runs each job through a Docker Engine API shim ([`crate::docker_shim`]; the moto set-up is
//! [`crate::batch_env`]). (Issue 6.)

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::batch_env::{BatchEnv, cloud, worker_logs};
use crate::docker_shim::{SHIM_SLOTS, job_of};
use crate::util::{guest, stderr, task_of};

/// The API counters of a Batch run, from its JSON summary.
fn api_calls(summary: &serde_json::Value) -> BTreeMap<String, u64> {
    serde_json::from_value(summary["compute"]["batch"]["counters"].clone())
        .unwrap_or_else(|_| panic!("no Batch counters in {summary}"))
}

fn tasks_of<'a>(summary: &'a serde_json::Value, step: &str) -> Vec<&'a str> {
    summary["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["step"] == step)
        .map(|t| t["pathspec"].as_str().unwrap())
        .collect()
}

// ---------------------------------------------------------------------------------------------

#[test]
fn hello_on_batch_gives_the_same_artifacts_as_locally() {
    let m = BatchEnv::new("batch-hello");
    let (local, _) = m.run_ok("example-hello", "local", &["-p", "name=batch"]);
    // Without `--no-cache` every task would come from the cache of the local run (below).
    let (remote, _) = m.run_ok(
        "example-hello",
        "batch",
        &["-p", "name=batch", "--no-cache"],
    );
    let queue = remote["compute"]["batch"]["queue"]
        .as_str()
        .unwrap_or_default();
    assert!(
        queue.starts_with("AWS Batch queue wflow-test-queue"),
        "{remote}"
    );
    assert_eq!(remote["tasks"].as_array().unwrap().len(), 3);
    for step in ["start", "hello", "end"] {
        assert_eq!(
            m.artifacts(&task_of(&local, step)),
            m.artifacts(&task_of(&remote, step)),
            "step {step}"
        );
    }
    // The task's stdout came back through the store.
    let logs = m.wflow(&["logs", &task_of(&remote, "hello")]);
    assert!(
        String::from_utf8_lossy(&logs.stdout).contains("Hello, batch!"),
        "{}",
        stderr(&logs)
    );
    let calls = api_calls(&remote);
    assert_eq!(calls["SubmitJob"], 3, "one job per task: {calls:?}");
    assert!(calls["RegisterJobDefinition"] + calls["DescribeJobDefinitions"] >= 1);

    // Issue 15: the same run again takes every (pure) task from the cache and submits no job.
    let (cached, _) = m.run_ok("example-hello", "batch", &["-p", "name=batch"]);
    let tasks = cached["tasks"].as_array().unwrap();
    assert!(tasks.iter().all(|t| t["cached"] == true), "{cached}");
    assert_eq!(api_calls(&cached)["SubmitJob"], 0, "{cached}");
    for step in ["start", "hello", "end"] {
        assert_eq!(
            m.artifacts(&task_of(&remote, step)),
            m.artifacts(&task_of(&cached, step)),
            "step {step}"
        );
    }
}

#[test]
fn a_foreach_of_50_is_one_array_job() {
    let m = BatchEnv::new("batch-foreach");
    let (local, _) = m.run_ok("example-foreach", "local", &["-p", "n=50"]);
    let (remote, _) = m.run_ok("example-foreach", "batch", &["-p", "n=50", "--no-cache"]);
    let total = m.artifact(&format!("{}/total", task_of(&remote, "sum")));
    assert_eq!(
        total,
        serde_json::json!((1..=50).map(|i| i * i).sum::<i64>())
    );
    assert_eq!(
        m.artifacts(&task_of(&local, "sum")),
        m.artifacts(&task_of(&remote, "sum"))
    );
    let (l, r) = (tasks_of(&local, "square"), tasks_of(&remote, "square"));
    assert_eq!((l.len(), r.len()), (50, 50));
    for i in [0, 17, 49] {
        assert_eq!(m.artifacts(l[i]), m.artifacts(r[i]), "square task {i}");
    }
    let calls = api_calls(&remote);
    // start, the 50 squares as one array job, sum, end.
    assert_eq!(calls["SubmitJob"], 4, "{calls:?}");
    assert!(calls["max_describes_per_round"] <= 1, "{calls:?}");

    // Each child is recorded with its own start and end, from the worker (issue 21): the shim
    // runs SHIM_SLOTS children at a time, so the 50 run in waves and none of them lasts as long
    // as the array job (before, every child showed the array job's submission-to-poll time).
    let step = r[0].rsplit_once('/').unwrap().0;
    let out = m.wflow(&["show", "--json", "--all", step]);
    assert!(out.status.success(), "show {step}: {}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let stats = &v["stats"];
    let wall =
        stats["last_finished_ms"].as_i64().unwrap() - stats["first_started_ms"].as_i64().unwrap();
    let longest = stats["max_task_ms"].as_i64().unwrap();
    assert!(
        longest * 2 < wall,
        "longest child {longest} ms of a {wall} ms array job: {stats}"
    );
    let starts: std::collections::BTreeSet<i64> = v["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["started_ms"].as_i64().unwrap())
        .collect();
    assert!(
        starts.len() > SHIM_SLOTS,
        "children share their starts: {starts:?}"
    );
    // Attempts carry the same times as their tasks.
    let one = m.wflow(&["show", "--json", r[17]]);
    let t: serde_json::Value = serde_json::from_slice(&one.stdout).unwrap();
    assert_eq!(
        t["attempt_records"][0]["started_ms"], t["started_ms"],
        "{t}"
    );
}

#[test]
fn a_failing_step_fails_the_run_with_its_own_error() {
    let m = BatchEnv::new("batch-fail");
    let (out, summary) = m.run("test-program-faulty", "batch", &["-p", "mode=error"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("faulty step failed on purpose"), "{err}");
    assert_eq!(
        summary["failure"]["pathspec"]
            .as_str()
            .unwrap()
            .split('/')
            .nth(2),
        Some("work")
    );
    // The attempt is recorded with its error.
    let task = summary["failure"]["pathspec"].as_str().unwrap();
    let show = m.wflow(&["show", "--json", task]);
    let v: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(v["attempt_records"][0]["status"], "failed", "{v}");
}

#[test]
fn a_failed_run_is_resumed_on_batch_reusing_what_succeeded() {
    let m = BatchEnv::new("batch-resume");
    let (out, failed) = m.run("test-program-faulty", "batch", &["-p", "mode=error"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let origin = format!(
        "{}/{}",
        failed["flow"].as_str().unwrap(),
        failed["run_id"].as_str().unwrap()
    );
    let start = task_of(&failed, "start");

    let out = m.wflow(&[
        "resume",
        "--json",
        &origin,
        "-p",
        "mode=ok",
        "--compute",
        "batch",
    ]);
    assert!(
        out.status.success(),
        "resume: {}\n{}",
        stderr(&out),
        worker_logs()
    );
    let resumed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // `start` is reused (no job), `work` and `end` ran as Batch jobs (two SubmitJob calls).
    let reused: Vec<&str> = resumed["resume"]["reused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["step"].as_str().unwrap())
        .collect();
    assert_eq!(reused, ["start"], "{resumed}");
    assert_eq!(api_calls(&resumed)["SubmitJob"], 2, "{resumed}");
    assert_eq!(
        m.artifacts(&task_of(&resumed, "start")),
        m.artifacts(&start)
    );
    let value = m.artifact(&format!("{}/out", task_of(&resumed, "work")));
    assert_eq!(value, serde_json::json!(42));
}

#[test]
fn a_failed_attempt_is_retried_on_batch() {
    let m = BatchEnv::new("batch-retry");
    let (s, err) = m.run_ok("test-program-hostile", "batch", &["-p", "mode=flaky"]);
    assert!(
        err.contains("attempt 0 failed") && err.contains("retrying"),
        "{err}"
    );
    let work = task_of(&s, "work");
    for attempt in ["0", "1"] {
        let logs = m.wflow(&["logs", "--json", "--attempt", attempt, &work]);
        assert!(
            logs.status.success(),
            "attempt {attempt}: {}",
            stderr(&logs)
        );
    }
    // The first attempt's job, then the retry's.
    assert!(api_calls(&s)["SubmitJob"] >= 4, "{s}");
}

#[test]
fn ctrl_c_terminates_the_runs_jobs() {
    let m = BatchEnv::new("batch-sigint");
    let g = guest("test-program-faulty");
    let child = m
        .command(&[
            "run",
            g.to_str().unwrap(),
            "--compute",
            "batch",
            "-p",
            "mode=loop",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the looping step's worker runs.
    let shim = &cloud().shim;
    let deadline = Instant::now() + Duration::from_secs(120);
    let looping = loop {
        let started = shim.started.lock().unwrap().clone();
        // start, then work: the second job of this run's bucket.
        if let Some(t) = started.iter().find(|t| {
            t.starts_with(&format!("{} ", m.url)) && t.ends_with("/2-0") && worker_running(t)
        }) {
            break t.clone();
        }
        assert!(Instant::now() < deadline, "the looping step never started");
        std::thread::sleep(Duration::from_millis(200));
    };
    std::thread::sleep(Duration::from_millis(500));
    let pid = child.id().to_string();
    Command::new("kill").args(["-INT", &pid]).status().unwrap();
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("terminated 1 AWS Batch job"), "{err}");
    // moto stops the job, which kills its container (the worker process).
    let deadline = Instant::now() + Duration::from_secs(30);
    while !shim.kills.lock().unwrap().contains(&looping) {
        assert!(Instant::now() < deadline, "the job's worker was not killed");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Whether a worker for description `task` is running now.
fn worker_running(task: &str) -> bool {
    let shim = &cloud().shim;
    let map = shim.containers.lock().unwrap();
    map.values()
        .any(|c| c.state == "running" && c.child.is_some() && job_of(&c.env) == task)
}

/// The figures of issue 6 (not asserted): API calls and wall time of a 1,000-item foreach on
/// Batch (moto + the shim, 4 workers at a time on this machine) against the local backend on the
/// same S3 store. `cargo test -p wflow-cli --test all batch::measure -- --ignored --nocapture`
#[test]
#[ignore = "a measurement, run by hand"]
fn measure_a_1000_item_foreach() {
    let n: usize = std::env::var("WFLOW_MEASURE_ITEMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let items = format!("n={n}");
    let m = BatchEnv::new("batch-measure");
    let t = Instant::now();
    let (local, _) = m.run_ok("example-foreach", "local", &["-p", &items]);
    let local_secs = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let (remote, _) = m.run_ok("example-foreach", "batch", &["-p", &items]);
    let batch_secs = t.elapsed().as_secs_f64();
    assert_eq!(
        m.artifacts(&task_of(&local, "sum")),
        m.artifacts(&task_of(&remote, "sum"))
    );
    let calls = api_calls(&remote);
    println!(
        "MEASURE items={n} tasks={} local_s={local_s:.1} batch_s={batch_secs:.1} calls={} {calls:?}",
        remote["tasks"].as_array().unwrap().len(),
        remote["compute"]["batch"]["api_calls"],
        local_s = local_secs,
    );
}

/// The origin run runs locally on the S3 store (200 local tasks are cheap); the resume decides
/// on the 201 reused tasks and runs `sum` and `end` as Batch jobs.
#[test]
fn resume_of_a_200_item_foreach_on_batch() {
    let m = BatchEnv::new("batch-resume200");
    crate::resume::resume_a_200_item_foreach_from_its_join(
        &|args| m.command(args),
        &["--compute", "batch"],
    );
}

#[test]
fn a_switch_a_loop_and_a_switch_in_a_foreach_run_on_batch_as_locally() {
    let m = BatchEnv::new("batch-switch");
    let steps = |s: &serde_json::Value| {
        let mut v = crate::util::task_steps(s);
        v.sort();
        v
    };
    for choice in ["skip", "fan"] {
        let p = format!("choice={choice}");
        let args = ["-p", p.as_str(), "--no-cache"];
        let (local, _) = m.run_ok("test-program-control", "local", &args);
        let (remote, _) = m.run_ok("test-program-control", "batch", &args);
        assert_eq!(steps(&local), steps(&remote), "{choice}: {remote}");
        // One job per task, but one array job for the foreach's three `pick`s (whose items
        // then go their own ways, each a job).
        let tasks = remote["tasks"].as_array().unwrap().len();
        assert_eq!(
            api_calls(&remote)["SubmitJob"] as usize,
            if choice == "fan" { tasks - 2 } else { tasks },
            "{choice}: {remote}"
        );
        assert_eq!(
            m.artifacts(&task_of(&local, "end")),
            m.artifacts(&task_of(&remote, "end")),
            "{choice}"
        );
        let run = format!("Control/{}", remote["run_id"].as_str().unwrap());
        let out = m.wflow(&["show", "--json", &run]);
        let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let taken = |step: &str| {
            shown["steps"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["step"] == step)
                .unwrap()["taken"]
                .clone()
        };
        assert_eq!(taken("start")[choice], 1, "{shown}");
        assert_eq!(taken("check")["body"], 2, "{shown}");
        if choice == "fan" {
            assert_eq!(taken("pick")["odd"], 2, "{shown}");
            assert_eq!(taken("pick")["even"], 1, "{shown}");
        }
    }
    // A choice the switch did not declare fails the task on Batch as it does locally.
    let (out, _) = m.run("test-program-control", "batch", &["-p", "choice=bogus"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("`bogus` is not a choice of switch step `start`"),
        "{}",
        stderr(&out)
    );
}

/// Issue 15: a Python flow built in the quick form (the default of a local run: the base
/// component with the flow's sources in its slot) whose one step asks for `compute = "batch"`.
/// The worker gets the very component the run recorded (its description names the run's
/// digest), runs it — its sources come from the component's slot, nothing from this machine —
/// and its task is recorded like the local ones.
#[test]
fn a_quick_form_python_step_asking_for_batch_runs_on_batch() {
    crate::util::guest_tools();
    let m = BatchEnv::new("batch-quick-python");
    let flow = m.env.dir.path().join("quick_batch.py");
    std::fs::write(
        &flow,
        "from wflow import FlowSpec, step\n\n\nclass QuickBatch(FlowSpec):\n    \
         @step(next=\"remote\")\n    def start(self):\n        self.x = 6\n\n    \
         @step(next=\"end\", compute=\"batch\")\n    def remote(self):\n        \
         self.y = self.x * 7\n        print(f\"remote says {self.y}\")\n\n    \
         @step\n    def end(self):\n        print(self.y)\n",
    )
    .unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec!["run", "--json", flow.to_str().unwrap()];
        args.extend_from_slice(extra);
        let out = m.wflow(&args);
        assert!(out.status.success(), "{}\n{}", stderr(&out), worker_logs());
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        summary
    };
    let summary = run(&[]);
    assert_eq!(api_calls(&summary)["SubmitJob"], 1, "{summary}");
    let remote = task_of(&summary, "remote");
    assert_eq!(m.artifact(&format!("{remote}/y")), serde_json::json!(42));
    let logs = m.wflow(&["logs", &remote]);
    assert!(
        String::from_utf8_lossy(&logs.stdout).contains("remote says 42"),
        "{}",
        stderr(&logs)
    );

    // The worker was sent the component the run recorded, by the same digest.
    let run_id = summary["run_id"].as_str().unwrap();
    let shown = m.wflow(&["show", "--json", &format!("QuickBatch/{run_id}")]);
    assert!(shown.status.success(), "{}", stderr(&shown));
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    let task_id = remote.rsplit('/').next().unwrap();
    let key = format!("tasks-v1/{run_id}/{task_id}-0");
    let bytes = crate::batch_env::store_object(&m.url, &key, None)
        .unwrap_or_else(|| panic!("no task description at {key}"));
    let description: wflow_scheduler::remote::TaskDescription =
        ciborium::from_reader(&bytes[..]).expect("a task description");
    assert_eq!(
        serde_json::json!(description.component.to_hex()),
        shown["component"],
        "{shown}"
    );
    // And it is the quick form: the base's slot, whose magic a full build does not hold.
    let component = crate::batch_env::store_object(
        &m.url,
        &wflow_store::Cas::blob_key(&description.component),
        None,
    )
    .expect("the component is in the store");
    let magic = b"wflow: a flow's sources go here.".map(|b| b ^ 0xff);
    assert!(
        component.windows(magic.len()).any(|w| w == magic),
        "the worker was sent a full build"
    );

    // Not checked: a second identical run is not served from the cache. Quick-form Python
    // tasks are never filed in the task cache, locally either (on main before this test too);
    // see docs/polyglot.md.
}
