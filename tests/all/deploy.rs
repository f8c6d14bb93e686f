//! `wflow deploy` end to end on 127.0.0.1 (issue 13): a private moto 5.2.5 whose Step Functions
//! interpreter runs the state machines (switched on before anything is created, `MOTO_PORT` set),
//! started through `tests/all/moto_sfn.py`, which fills in the interpreter's two stubbed
//! parameter/response normalisations so that `batch:submitJob.sync` and `aws-sdk:s3:getObject`
//! tasks reach moto's Batch and S3. The Batch jobs run `wflow worker` through the Docker Engine
//! API shim of tests/all/docker_shim.rs. Runs are then read with the ordinary commands (`show`,
//! `logs`, `artifact get`) and compared with local runs of the same flow.
//!
//! What moto's interpreter does not do (schedules and rules are stored, never fired; `Retry` on
//! `.sync`; a failing array child leaves its parent SUBMITTED) is not relied on: schedules and
//! triggers are checked by reading them back (tests/all/deploy_events.rs), retries and `catch`
//! run inside the worker.

use std::process::Output;

use serde_json::{Value, json};

use crate::batch_env::aws;
use crate::deploy_env::{DeployEnv, cloud, same_tasks, states};
use crate::util::{guest, stderr};
// ---------------------------------------------------------------------------------------------

#[test]
fn hello_deployed_triggered_and_inspected_like_a_local_run() {
    let m = DeployEnv::new("deploy-hello");
    let name = format!("{}-hello", m.tag);
    let created = m.create("example-hello", &name, &["-p", "name=deploy"]);
    assert_eq!(created["changed"], true, "{created}");
    assert!(
        created["state_machine"]
            .as_str()
            .unwrap()
            .contains(&format!("wflow-{name}"))
    );
    // The same component again changes nothing.
    let again = m.create("example-hello", &name, &["-p", "name=deploy"]);
    assert_eq!(again["changed"], false, "{again}");
    assert_eq!(again["state_machine"], created["state_machine"]);

    let run = m.trigger_wait(&name, &[]);
    assert!(run.starts_with("Hello/"), "{run}");
    let local = m.run_local("example-hello", &["-p", "name=deploy"]);
    let local_run = format!(
        "{}/{}",
        local["flow"].as_str().unwrap(),
        local["run_id"].as_str().unwrap()
    );
    same_tasks(&m, &local_run, &run, &["start", "hello", "end"]);

    // The run is recorded as finished, tagged with its deployment and execution.
    let shown = m.json_ok(&["show", &run]);
    assert_eq!(shown["status"], "succeeded", "{shown}");
    let tags = m.json_ok(&["tag", "list", &run]);
    let tags = tags.to_string();
    assert!(tags.contains(&format!("deployment:{name}")), "{tags}");
    assert!(tags.contains("execution:arn:aws:states:"), "{tags}");
    let runs = m.json_ok(&["runs", "Hello"]);
    assert!(
        runs.to_string().contains(run.split('/').nth(1).unwrap()),
        "{runs}"
    );
    // Its logs come from the worker, through the records.
    let hello = m.tasks(&run)[&("hello".to_string(), vec![])].clone();
    let logs = m.wflow(&["logs", &hello]);
    assert!(
        String::from_utf8_lossy(&logs.stdout).contains("Hello, deploy!"),
        "{}",
        stderr(&logs)
    );

    // show and list know it; delete removes it, and the run stays.
    let show = m.json_ok(&["deploy", "show", &name]);
    assert_eq!(show["flow"], "Hello", "{show}");
    assert_eq!(show["executions"][0]["pathspec"], run.as_str(), "{show}");
    assert_eq!(show["executions"][0]["status"], "SUCCEEDED", "{show}");
    assert_eq!(show["params"]["name"], "deploy");
    let list = m.json_ok(&["deploy", "list"]);
    assert!(list.to_string().contains(&name), "{list}");
    m.json_ok(&["deploy", "delete", &name]);
    let list = m.json_ok(&["deploy", "list"]);
    assert!(!list.to_string().contains(&format!("\"{name}\"")), "{list}");
    let gone = m.wflow(&["deploy", "show", &name]);
    assert_eq!(gone.status.code(), Some(2), "{}", stderr(&gone));
    assert!(
        stderr(&gone).contains(&format!("no deployment named `{name}`")),
        "{}",
        stderr(&gone)
    );
    assert_eq!(m.json_ok(&["show", &run])["status"], "succeeded");
}

/// `deploy create` then `trigger --wait` of a fresh deployment; the run's pathspec.
fn deploy_and_run(m: &DeployEnv, package: &str, short: &str, params: &[&str]) -> String {
    let name = format!("{}-{short}", m.tag);
    m.create(package, &name, params);
    m.trigger_wait(&name, &[])
}

fn run_path(summary: &Value) -> String {
    format!(
        "{}/{}",
        summary["flow"].as_str().unwrap(),
        summary["run_id"].as_str().unwrap()
    )
}

#[test]
fn a_branch_runs_as_a_parallel_state_with_the_same_artifacts() {
    let m = DeployEnv::new("deploy-branch");
    let run = deploy_and_run(&m, "example-branch", "branch", &[]);
    let local = run_path(&m.run_local("example-branch", &[]));
    same_tasks(&m, &local, &run, &["start", "a", "b", "join", "end"]);
}

#[test]
fn a_foreach_of_50_is_one_array_job_with_the_same_artifacts() {
    let m = DeployEnv::new("deploy-foreach");
    let name = format!("{}-foreach", m.tag);
    m.create("example-foreach", &name, &["-p", "n=50"]);
    let v = m.trigger_wait_json(&name);
    // start, the 50 squares as ONE array job, sum, end.
    assert_eq!(v["history"]["batch_jobs"], 4, "{v}");
    let run = v["pathspec"].as_str().unwrap().to_string();
    let local = run_path(&m.run_local("example-foreach", &["-p", "n=50"]));
    let tasks = m.tasks(&run);
    assert_eq!(tasks.keys().filter(|(s, _)| s == "square").count(), 50);
    same_tasks(&m, &local, &run, &["start", "sum", "end"]);
    let squares: Vec<&(String, Vec<u64>)> = tasks.keys().filter(|(s, _)| s == "square").collect();
    for k in [squares[0], squares[17], squares[49]] {
        assert_eq!(
            m.artifacts(&m.tasks(&local)[k]),
            m.artifacts(&tasks[k]),
            "{k:?}"
        );
    }
    let sum = &tasks[&("sum".to_string(), vec![])];
    let total = m.json_ok(&["artifact", "get", &format!("{sum}/total")]);
    assert_eq!(
        total,
        serde_json::json!((1..=50).map(|i| i * i).sum::<i64>())
    );
    // The 50 squares went to Batch as one array job: the shim started 50 children of one job
    // besides the single jobs of start, sum and end.
    let store = &m.url;
    let started = cloud().shim.started.lock().unwrap().clone();
    assert!(
        started
            .iter()
            .filter(|s| s.starts_with(store.as_str()))
            .count()
            >= 53,
        "{started:?}"
    );
}

/// A foreach wider than one array job: a `Map` over chunks, each body step one array job per
/// chunk (a 1-item chunk a plain job). 10,001 tasks through the Docker-API shim are too heavy
/// for the test machine, so `deploy create` is given `WFLOW_DEPLOY_CHUNK=10` (tests only: items
/// per array job instead of AWS Batch's 10,000): 21 items are chunks of 10, 10 and 1.
#[test]
fn a_foreach_wider_than_an_array_job_maps_over_its_chunks() {
    let m = DeployEnv::new("deploy-chunks");
    let name = format!("{}-chunks", m.tag);
    m.create_with(
        "example-foreach",
        &name,
        &["-p", "n=21"],
        &[("WFLOW_DEPLOY_CHUNK", "10")],
    );
    let v = m.trigger_wait_json(&name);
    // start, the squares as three jobs (two arrays of 10, one plain job), sum, end.
    assert_eq!(v["history"]["batch_jobs"], 6, "{v}");
    let run = v["pathspec"].as_str().unwrap().to_string();
    let tasks = m.tasks(&run);
    let squares: Vec<&Vec<u64>> = tasks
        .keys()
        .filter(|(s, _)| s == "square")
        .map(|(_, p)| p)
        .collect();
    assert_eq!(squares.len(), 21);
    assert!(
        squares.contains(&&vec![20]),
        "the 1-item chunk: {squares:?}"
    );
    let sum = &tasks[&("sum".to_string(), vec![])];
    assert_eq!(
        m.json_ok(&["artifact", "get", &format!("{sum}/total")]),
        json!((1..=21).map(|i| i * i).sum::<i64>())
    );
}

/// A step's own `timeout` on a deployed run: the looping step (item 0 of a foreach) is stopped
/// by its sandbox after 3 s, retried once (its `retries = 1`), and the run fails naming the step
/// and the timeout. moto never ends an array job with a failing child (AWS does), so the foreach
/// is deployed with `WFLOW_DEPLOY_CHUNK=1` (tests only): every item a plain job of its own.
#[test]
fn a_step_timeout_fails_the_deployed_run() {
    let m = DeployEnv::new("deploy-timeout");
    let name = format!("{}-timeout", m.tag);
    m.create_with(
        "test-program-hostile",
        &name,
        &["-p", "mode=loop"],
        &[("WFLOW_DEPLOY_CHUNK", "1")],
    );
    let out = m.wflow(&["deploy", "trigger", &name, "--wait", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], "FAILED", "{v}");
    let run = v["pathspec"].as_str().unwrap();
    let shown = m.json_ok(&["show", run]);
    assert_eq!(shown["status"], "failed", "{shown}");
    let text = shown.to_string();
    assert!(
        text.contains("timed out after 3 s (the step's `timeout` setting)")
            && text.contains("/work/"),
        "{shown}"
    );
    let work = m.tasks(run)[&("work".to_string(), vec![0])].clone();
    assert_eq!(m.json_ok(&["show", &work])["attempts"], 2);
}

#[test]
fn a_nested_foreach_with_a_branch_inside_matches_the_local_run() {
    let m = DeployEnv::new("deploy-nested");
    let run = deploy_and_run(&m, "test-program-nested", "nested", &["-p", "width=3"]);
    let local = run_path(&m.run_local("test-program-nested", &["-p", "width=3"]));
    same_tasks(
        &m,
        &local,
        &run,
        &[
            "start",
            "outer",
            "inner",
            "double",
            "square",
            "combine",
            "join_inner",
            "join_outer",
            "end",
        ],
    );
}

#[test]
fn a_failing_step_under_catch_keeps_its_error_and_the_run_succeeds() {
    let m = DeployEnv::new("deploy-catch");
    let run = deploy_and_run(
        &m,
        "test-program-hostile",
        "catch",
        &["-p", "mode=fail-end"],
    );
    let end = m.tasks(&run)[&("end".to_string(), vec![])].clone();
    let caught = m.json_ok(&["artifact", "get", &format!("{end}/end_error")]);
    assert!(
        caught.to_string().contains("end failed on purpose"),
        "{caught}"
    );
    assert_eq!(m.json_ok(&["show", &run])["status"], "succeeded");
}

#[test]
fn a_failed_run_is_recorded_as_failed_and_resumed_locally() {
    let m = DeployEnv::new("deploy-resume");
    let name = format!("{}-faulty", m.tag);
    m.create("test-program-faulty", &name, &["-p", "mode=error"]);
    let out = m.wflow(&["deploy", "trigger", &name, "--wait", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let run = v["pathspec"].as_str().unwrap().to_string();
    assert_eq!(v["status"], "FAILED", "{v}");
    assert!(
        stderr(&out).contains("faulty step failed on purpose") && stderr(&out).contains("/work/"),
        "the failed task and its error: {}",
        stderr(&out)
    );
    let shown = m.json_ok(&["show", &run]);
    assert_eq!(shown["status"], "failed", "{shown}");
    assert!(
        shown.to_string().contains("faulty step failed on purpose"),
        "{shown}"
    );
    // Resumed here with the fix: start is reused, work and end run.
    let resumed = m.json_ok(&["resume", &run, "-p", "mode=ok"]);
    assert_eq!(resumed["status"], "succeeded", "{resumed}");
    assert_eq!(
        resumed["resume"]["reused"].as_array().unwrap().len(),
        1,
        "{resumed}"
    );
    let work = m.tasks(&run_path(&resumed))[&("work".to_string(), vec![])].clone();
    assert_eq!(m.json_ok(&["artifact", "get", &format!("{work}/out")]), 42);
    // And on AWS Batch, from the same deployed run: start reused, work and end as Batch jobs.
    let on_batch = m.json_ok(&[
        "resume",
        &run,
        "-p",
        "mode=ok",
        "--compute",
        "batch",
        "--no-cache",
    ]);
    assert_eq!(on_batch["status"], "succeeded", "{on_batch}");
    assert_eq!(on_batch["resume"]["reused"].as_array().unwrap().len(), 1);
    assert!(
        on_batch["compute"]["batch"]["counters"]["SubmitJob"].as_u64() >= Some(2),
        "{on_batch}"
    );
    let work = m.tasks(&run_path(&on_batch))[&("work".to_string(), vec![])].clone();
    assert_eq!(m.json_ok(&["artifact", "get", &format!("{work}/out")]), 42);
}

#[test]
fn bad_input_is_refused_before_anything_is_created() {
    let m = DeployEnv::new("deploy-bad");
    let name = format!("{}-bad", m.tag);
    let g = guest("example-hello");
    let hello = g.to_str().unwrap();
    let refused = |out: Output, needle: &str| {
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{needle}: {err}");
        assert!(err.contains(needle), "{needle}: {err}");
    };
    // A schedule AWS would refuse.
    refused(
        m.wflow(&[
            "deploy",
            "create",
            hello,
            "--name",
            &name,
            "--schedule",
            "every day",
        ]),
        "schedule `every day` would be refused by AWS",
    );
    refused(
        m.wflow(&[
            "deploy",
            "create",
            hello,
            "--name",
            &name,
            "--schedule",
            "cron(0 6 * * *)",
        ]),
        "6 fields",
    );
    // A flow the policy refuses.
    let policy = m.env.dir.path().join("policy.toml");
    std::fs::write(&policy, "[limits]\nmax_memory_mb = 32\n").unwrap();
    let hostile = guest("test-program-hostile");
    refused(
        m.wflow(&[
            "--policy",
            policy.to_str().unwrap(),
            "deploy",
            "create",
            hostile.to_str().unwrap(),
            "--name",
            &name,
        ]),
        "step `work`: memory 64 MiB is above the policy's ceiling of 32 MiB",
    );
    // A store the jobs cannot reach.
    let local = m.env.dir.path().join("local-store");
    refused(
        m.command(&["deploy", "create", hello, "--name", &name])
            .env("WFLOW_STORE", &local)
            .output()
            .unwrap(),
        "a deployment needs a store their workers can reach: an S3 store",
    );
    // No queue, no state machine role.
    refused(
        m.command(&["deploy", "create", hello, "--name", &name])
            .env_remove("WFLOW_BATCH_QUEUE")
            .output()
            .unwrap(),
        "needs a queue",
    );
    refused(
        m.command(&["deploy", "create", hello, "--name", &name])
            .env_remove("WFLOW_DEPLOY_ROLE")
            .output()
            .unwrap(),
        "the IAM role its state machine runs as",
    );
    // Unknown deployments, bad names, unknown parameters.
    for args in [
        vec!["deploy", "trigger", "no-such-flow"],
        vec!["deploy", "show", "no-such-flow"],
        vec!["deploy", "delete", "no-such-flow"],
    ] {
        refused(
            m.wflow(&args),
            "there is no deployment named `no-such-flow`",
        );
    }
    refused(
        m.wflow(&["deploy", "create", hello, "--name", "a/b"]),
        "deployment name `a/b` is not usable",
    );
    refused(
        m.wflow(&[
            "deploy",
            "create",
            hello,
            "--name",
            &name,
            "--trigger-on-finish",
            "nobody",
        ]),
        "there is no deployment named `nobody`",
    );
    refused(
        m.wflow(&["deploy", "create", hello, "--name", &name, "-p", "nope=1"]),
        "nope",
    );
    // Nothing was created: no state machine, nothing in the store.
    let list = m.json_ok(&["deploy", "list"]);
    assert!(!list.to_string().contains(&name), "{list}");
    let bucket = m.url.trim_start_matches("s3://").split('/').next().unwrap();
    let listed = aws(
        &cloud().endpoint,
        "s3",
        "GET",
        &format!("/{bucket}?list-type=2&prefix=wflow/"),
        "text/plain",
        "",
    );
    assert!(
        !listed.contains("<Key>"),
        "nothing written to the store: {listed}"
    );
}

#[test]
fn a_failed_attempt_is_retried_inside_its_job() {
    let m = DeployEnv::new("deploy-retry");
    let run = deploy_and_run(&m, "test-program-hostile", "retry", &["-p", "mode=flaky"]);
    // `work` is a foreach body (one array job) whose item 0 fails its first attempt: its child
    // job retried it in place, and both attempts are recorded with their logs.
    let tasks = m.tasks(&run);
    let work = &tasks[&("work".to_string(), vec![0])];
    let shown = m.json_ok(&["show", work]);
    assert_eq!(shown["attempts"], 2, "{shown}");
    assert_eq!(shown["status"], "succeeded", "{shown}");
    assert!(
        shown.to_string().contains("first attempt fails on purpose"),
        "{shown}"
    );
    for attempt in ["0", "1"] {
        let logs = m.wflow(&["logs", "--json", "--attempt", attempt, work]);
        assert!(
            logs.status.success(),
            "attempt {attempt}: {}",
            stderr(&logs)
        );
    }
    let other = m.json_ok(&["show", &tasks[&("work".to_string(), vec![1])]]);
    assert_eq!(other["attempts"], 1, "{other}");
    assert_eq!(m.json_ok(&["show", &run])["status"], "succeeded");
}

/// Contract 0.2's control flow deployed (`test-program-control`): `start` switches to `fan`, a
/// foreach whose items each switch (`even`/`odd`, one Map iteration per item) to their join,
/// then the loop `body` → `check` goes back twice (three iterations, the state machine counting
/// them) and ends; the same tasks and artifacts as a local run. Then a loop that goes past its
/// `max_iterations` fails the run naming the loop.
#[test]
fn switches_and_a_loop_run_deployed_like_locally() {
    let m = DeployEnv::new("deploy-control");
    let name = format!("{}-control", m.tag);
    m.create("test-program-control", &name, &["-p", "choice=fan"]);
    let run = m.trigger_wait(&name, &[]);
    let local = run_path(&m.run_local("test-program-control", &["-p", "choice=fan"]));
    let tasks = m.tasks(&run);
    let steps: Vec<&str> = tasks.keys().map(|(s, _)| s.as_str()).collect();
    assert!(
        !steps.contains(&"train") && !steps.contains(&"skip"),
        "{steps:?}"
    );
    same_tasks(
        &m,
        &local,
        &run,
        &["start", "fan", "pick", "even", "odd", "gather"],
    );
    let shown = m.json_ok(&["show", &format!("{run}/body")]);
    assert_eq!(shown["tasks"].as_array().map(Vec::len), Some(3), "{shown}");
    let end = &tasks[&("end".to_string(), vec![])];
    assert_eq!(m.json_ok(&["artifact", "get", &format!("{end}/count")]), 3);
    assert_eq!(
        m.json_ok(&["artifact", "get", &format!("{end}/tags")]),
        json!(["1:odd", "2:even", "3:odd"])
    );

    // Past the bound: `check` would go back a fifth time.
    let out = m.wflow(&[
        "deploy",
        "trigger",
        &name,
        "--wait",
        "--json",
        "-p",
        "choice=skip",
        "-p",
        "until=9",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let shown = m.json_ok(&["show", v["pathspec"].as_str().unwrap()]);
    assert_eq!(shown["status"], "failed", "{shown}");
    assert!(
        shown.to_string().contains(
            "the loop from `check` back to `body` went past its bound: `check` chose `body` again after 5 iteration(s), and its `max_iterations` is 5"
        ),
        "{shown}"
    );
}

/// The figures of issue 13 (not asserted beyond their shape): for a 1,000-item foreach, the state
/// machine's definition size, the execution's state transitions and Batch jobs, against the
/// Batch API calls of the same flow under `--compute batch`.
/// `cargo test -p wflow-cli --test all deploy::measure -- --ignored --nocapture`
/// (`WFLOW_MEASURE_ITEMS` changes the width).
#[test]
#[ignore = "a measurement, run by hand"]
fn measure_a_1000_item_foreach() {
    let n: usize = std::env::var("WFLOW_MEASURE_ITEMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let items = format!("n={n}");
    let m = DeployEnv::new("deploy-measure");
    let name = format!("{}-measure", m.tag);
    let created = m.create("example-foreach", &name, &["-p", &items]);
    let before = moto_calls();
    let t = std::time::Instant::now();
    let out = m.wflow(&["deploy", "trigger", &name, "--wait", "--json"]);
    let deployed_s = t.elapsed().as_secs_f64();
    let deployed_calls = calls_since(&before);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    if v["status"] != "SUCCEEDED" {
        // Why, from the execution's own history (moto's goes with this process).
        let history = states(
            "GetExecutionHistory",
            json!({"executionArn": v["execution"], "maxResults": 1000, "reverseOrder": true}),
        );
        let failures: Vec<String> = history["events"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["type"].as_str().is_some_and(|t| t.ends_with("Failed")))
            .map(|e| e.to_string().chars().take(3000).collect())
            .collect();
        panic!(
            "the deployed run did not succeed: {v}\n{}\nfailed events:\n{}",
            stderr(&out),
            failures.join("\n")
        );
    }
    println!(
        "MEASURE deployed items={n} definition_bytes={} deploy_calls={} history={} deployed_s={deployed_s:.1}",
        created["definition_bytes"], created["api_calls"], v["history"],
    );
    println!(
        "MEASURE deployed calls to moto (boto3: the interpreter; sdk: wflow's jobs and `deploy trigger --wait`):"
    );
    for (k, v) in &deployed_calls {
        println!("MEASURE   {v:>7} {k}");
    }
    let before = moto_calls();
    let t = std::time::Instant::now();
    let batch = m.run_local("example-foreach", &["-p", &items, "--compute", "batch"]);
    let batch_s = t.elapsed().as_secs_f64();
    let batch_calls = calls_since(&before);
    println!(
        "MEASURE batch items={n} batch_s={batch_s:.1} batch_api_calls={} counters={}",
        batch["compute"]["batch"]["api_calls"], batch["compute"]["batch"]["counters"],
    );
    println!("MEASURE --compute batch calls to moto (wflow run and its jobs):");
    for (k, v) in &batch_calls {
        println!("MEASURE   {v:>7} {k}");
    }
}

/// The API calls the deploy moto answered so far, by caller, service and operation (counted by
/// tests/all/moto_sfn.py).
fn moto_calls() -> std::collections::BTreeMap<String, u64> {
    let body = aws(
        &cloud().endpoint,
        "s3",
        "GET",
        "/wflow-test/calls",
        "text/plain",
        "",
    );
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// The calls answered since `before`.
fn calls_since(
    before: &std::collections::BTreeMap<String, u64>,
) -> std::collections::BTreeMap<String, u64> {
    moto_calls()
        .into_iter()
        .map(|(k, v)| {
            let was = before.get(&k).copied().unwrap_or(0);
            (k, v - was)
        })
        .filter(|(_, v)| *v > 0)
        .collect()
}
