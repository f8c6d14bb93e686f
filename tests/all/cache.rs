//! Caching pure steps across runs (issue 15 item 2): a second identical run runs no pure task, a
//! changed parameter re-runs exactly the tasks that read it and those that read what they
//! wrote, steps with `clock` or `random` always run, `--no-cache` runs everything, and a cached
//! task's artifacts are the ones its origin computed. The same checks run on the local store
//! here, on S3 (`s3.rs`) and on the metadata service (`server.rs`).

use std::collections::BTreeMap;
use std::process::Output;

use serde_json::Value;

use crate::util::{Env, guest, stderr};

/// `wflow ARGS` in some store.
pub(crate) type Wflow<'a> = &'a dyn Fn(&[&str]) -> Output;

fn json(wflow: Wflow, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = wflow(&all);
    assert!(out.status.success(), "wflow {args:?}: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("wflow {args:?}: {e}"))
}

fn run(wflow: Wflow, extra: &[&str]) -> Value {
    let flow = guest("test-program-cache");
    let mut args = vec!["run", flow.to_str().unwrap()];
    args.extend_from_slice(extra);
    json(wflow, &args)
}

/// The entry of run `pathspec` in `wflow runs --json`.
fn listed_run(wflow: Wflow, pathspec: &str) -> Value {
    let listed = json(wflow, &["runs"]);
    listed
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["pathspec"] == pathspec)
        .unwrap_or_else(|| panic!("{pathspec} in {listed}"))
        .clone()
}

/// The steps of a run summary's tasks that ran, and those taken from the cache (a foreach's
/// tasks once per task), sorted; tasks a resume reused are in neither.
fn ran_and_cached(summary: &Value) -> (Vec<String>, Vec<String>) {
    let (mut ran, mut cached) = (Vec::new(), Vec::new());
    for t in summary["tasks"].as_array().unwrap() {
        assert_eq!(t["ok"], true, "{t}");
        if t["reused"] == true {
            continue;
        }
        let step = t["step"].as_str().unwrap().to_string();
        if t["cached"] == true {
            cached.push(step);
        } else {
            ran.push(step);
        }
    }
    ran.sort();
    cached.sort();
    (ran, cached)
}

fn strings(v: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

fn run_path(summary: &Value) -> String {
    format!(
        "{}/{}",
        summary["flow"].as_str().unwrap(),
        summary["run_id"].as_str().unwrap()
    )
}

/// Every task of a run (`show --json` of each step), by task id.
fn tasks(wflow: Wflow, run: &str) -> BTreeMap<u64, Value> {
    let shown = json(wflow, &["show", run]);
    let mut out = BTreeMap::new();
    for step in shown["steps"].as_array().unwrap() {
        let step = step["step"].as_str().unwrap();
        let listed = json(wflow, &["show", &format!("{run}/{step}"), "--all"]);
        for t in listed["tasks"].as_array().unwrap() {
            out.insert(t["task_id"].as_u64().unwrap(), t.clone());
        }
    }
    out
}

/// A task's artifacts by name: (size, codec, value).
fn artifacts(wflow: Wflow, task: &str) -> BTreeMap<String, Value> {
    let shown = json(wflow, &["show", task]);
    shown["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["name"].as_str().unwrap().to_string(), a.clone()))
        .collect()
}

/// The whole sequence, in whatever store `wflow` uses.
pub(crate) fn pure_flow_checks(wflow: Wflow) {
    let always = ["noise", "stamp"];
    let first = run(wflow, &[]);
    let (ran, cached) = ran_and_cached(&first);
    assert_eq!(ran.len(), 12, "{first}");
    assert!(cached.is_empty(), "an empty cache serves nothing: {first}");

    // The same again: only the steps with `clock` and `random` run.
    let second = run(wflow, &[]);
    let (ran, cached) = ran_and_cached(&second);
    assert_eq!(ran, strings(&always), "{second}");
    assert_eq!(cached.len(), 10, "{second}");
    let (r1, r2) = (run_path(&first), run_path(&second));
    let before = tasks(wflow, &r1);
    for (id, t) in tasks(wflow, &r2) {
        let step = t["step"].as_str().unwrap();
        if always.contains(&step) {
            assert!(t["attempts"].as_u64().unwrap() >= 1, "{t}");
            assert_eq!(t["cached"], false, "{t}");
            continue;
        }
        // Recorded as cached, from the same task of the first run, with no attempt.
        assert_eq!(t["cached"], true, "{t}");
        assert_eq!(t["reuse"], "cached", "{t}");
        assert_eq!(t["attempts"], 0, "{t}");
        assert_eq!(t["origin"], format!("{r1}/{step}/{id}"), "{t}");
        // Its artifacts are its origin's, but for what it passed on from a step that ran again.
        let mine = artifacts(wflow, &format!("{r2}/{step}/{id}"));
        let theirs = artifacts(wflow, &format!("{r1}/{step}/{id}"));
        assert_eq!(before[&id]["step"], step);
        assert_eq!(
            mine.keys().collect::<Vec<_>>(),
            theirs.keys().collect::<Vec<_>>()
        );
        for (name, a) in &mine {
            if always.contains(&name.as_str()) {
                continue;
            }
            assert_eq!(a, &theirs[name], "artifact `{name}` of {r2}/{step}/{id}");
        }
        if step == "end" {
            // What it inherited from this run's own `stamp` is this run's.
            let stamp_task = format!("{r2}/stamp/10");
            assert_eq!(mine["stamp"], artifacts(wflow, &stamp_task)["stamp"]);
            assert_ne!(mine["stamp"], theirs["stamp"], "the clock moved");
        }
    }

    // The inspection commands say so.
    let entry = listed_run(wflow, &r2);
    assert_eq!(entry["tasks"]["cached"], 10, "{entry}");
    assert_eq!(entry["tasks"]["total"], 12, "{entry}");
    let shown = wflow(&["show", &r2]);
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(text.contains("4 tasks (cached)"), "{text}");
    let logs = wflow(&["logs", &format!("{r2}/square/4")]);
    assert!(logs.status.success(), "{}", stderr(&logs));
    assert_eq!(String::from_utf8_lossy(&logs.stdout), "3 squared is 9\n");
    assert!(
        stderr(&logs).contains(&format!("these are the logs of {r1}/square/4")),
        "{}",
        stderr(&logs)
    );

    // One parameter changed: the step that reads it and the ones after that read what it wrote.
    let third = run(wflow, &["-p", "factor=3"]);
    let (ran, cached) = ran_and_cached(&third);
    assert_eq!(
        ran,
        strings(&["scaled", "combine", "stamp", "noise", "end"]),
        "{third}"
    );
    assert_eq!(
        cached,
        strings(&[
            "start", "square", "square", "square", "square", "total", "shifted"
        ]),
        "{third}"
    );
    let result = json(
        wflow,
        &[
            "artifact",
            "get",
            &format!("{}/combine/9/result", run_path(&third)),
        ],
    );
    assert_eq!(result, "scaled 90, shifted 31");

    // One more item: `start` and the new item run, the other items come from the cache.
    let fourth = run(wflow, &["-p", "factor=3", "-p", "n=5"]);
    let (ran, cached) = ran_and_cached(&fourth);
    assert_eq!(
        ran,
        strings(&[
            "start", "square", "total", "scaled", "shifted", "combine", "stamp", "noise", "end"
        ]),
        "{fourth}"
    );
    assert_eq!(cached, strings(&["square"; 4]), "{fourth}");

    // --no-cache runs every task.
    let fifth = run(wflow, &["--no-cache"]);
    let (ran, cached) = ran_and_cached(&fifth);
    assert_eq!(ran.len(), 12, "{fifth}");
    assert!(cached.is_empty(), "{fifth}");
}

#[test]
pub(crate) fn issue_15_pure_steps_are_cached_across_runs() {
    let env = Env::new();
    pure_flow_checks(&|args| env.wflow(args));
    // The run's page marks them too.
    let runs = json(&|a| env.wflow(a), &["runs"]);
    let second = runs.as_array().unwrap()[3]["pathspec"]
        .as_str()
        .unwrap()
        .to_string();
    let page = env.dir.path().join("run.html");
    let out = env.wflow(&["show", &second, "--html", page.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("<th>cached</th>"), "{html}");
    assert!(html.contains("4 tasks (cached)"), "{html}");
}

#[test]
fn resume_with_a_changed_parameter_takes_pure_tasks_from_the_cache() {
    let env = Env::new();
    let wflow = |a: &[&str]| env.wflow(a);
    let first = run(&wflow, &[]);
    // `resume --from total` with another factor: `total` and `shifted` read what they read
    // before, so they come from the cache; `scaled` and what follows run.
    let resumed = json(
        &wflow,
        &[
            "resume",
            &run_path(&first),
            "--from",
            "total",
            "-p",
            "factor=5",
        ],
    );
    let (ran, cached) = ran_and_cached(&resumed);
    assert_eq!(
        ran,
        strings(&["scaled", "combine", "stamp", "noise", "end"]),
        "{resumed}"
    );
    assert_eq!(cached, strings(&["total", "shifted"]), "{resumed}");
    let again = json(
        &wflow,
        &["resume", &run_path(&first), "--from", "total", "--no-cache"],
    );
    let (_, cached) = ran_and_cached(&again);
    assert!(cached.is_empty(), "{again}");
}

/// Issue 15: a fully cached rerun serves its hits in batches (`SERVE_BATCH` per blocking call)
/// holding no worker slot. Wider than three batches: every task is recorded whole (cached, its
/// origin the same task of the first run, no attempt), the join's result is the same, and a
/// task whose cached outputs are gone from the store runs after all while the rest are served.
#[test]
fn a_wide_foreach_is_served_in_batches_with_every_record_whole() {
    let n = 3 * wflow_scheduler::cached::SERVE_BATCH + 7;
    let env = Env::new();
    let wflow = |a: &[&str]| env.wflow(a);
    let flow = guest("example-foreach");
    let items = format!("n={n}");
    let first = env.run_ok(&flow, &["-p", &items]);
    let second = env.run_ok(&flow, &["-p", &items]);
    let (ran, cached) = ran_and_cached(&second);
    assert!(ran.is_empty(), "nothing runs: {ran:?}");
    assert_eq!(cached.len(), n + 3);
    let (r1, r2) = (run_path(&first), run_path(&second));
    let total = |run: &str| {
        let sum = json(&wflow, &["show", &format!("{run}/sum")]);
        let task = sum["tasks"][0]["pathspec"].as_str().unwrap().to_string();
        env.artifact(&format!("{task}/total"))
    };
    let n = n as i64;
    assert_eq!(total(&r2), serde_json::json!(n * (n + 1) * (2 * n + 1) / 6));
    let before = tasks(&wflow, &r1);
    let after = tasks(&wflow, &r2);
    assert_eq!(after.len(), before.len());
    for (id, t) in &after {
        let step = t["step"].as_str().unwrap();
        assert_eq!(t["status"], "succeeded", "{t}");
        assert_eq!(t["cached"], true, "{t}");
        assert_eq!(t["attempts"], 0, "{t}");
        assert_eq!(t["origin"], format!("{r1}/{step}/{id}"), "{t}");
        assert_eq!(t["foreach_path"], before[id]["foreach_path"], "{t}");
    }
    let entry = listed_run(&wflow, &r2);
    assert_eq!(entry["tasks"]["cached"], n + 3, "{entry}");

    // A task whose cached outputs cannot be read runs; what reads the same values is served.
    let big = guest("example-bigdata");
    let made = env.run_ok(&big, &["-p", "mb=1"]);
    let start = format!("{}/start/1", run_path(&made));
    let blob = artifacts(&wflow, &start)["blob"]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let file = env
        .store()
        .join(wflow_store::Cas::blob_key(&blob.parse().unwrap()));
    std::fs::remove_file(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let again = env.run_ok(&big, &["-p", "mb=1"]);
    let (ran, cached) = ran_and_cached(&again);
    assert_eq!(ran, strings(&["start"]), "{again}");
    assert_eq!(cached, strings(&["consume", "end"]), "{again}");
    assert!(file.is_file(), "the task that ran stored its blob again");
}
