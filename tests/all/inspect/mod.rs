//! Looking into past runs: `runs`, `show` (text, JSON, HTML), `tag`, `logs`, `artifact`, and the
//! client library on every example; bad pathspecs, a corrupt blob, records from a newer wflow.
//! The tests of `logs` are in `logs.rs`.

use serde_json::{Value, json};
use wflow_client::{Client, ClientError, Part};

use crate::util::{Env, fails, guest, stderr, task_of};

mod logs;
pub(crate) use logs::{
    a_killed_run_still_shows_its_live_log_and_is_seen_as_gone,
    logs_of_a_step_that_prints_then_traps_keep_the_printed_lines, start_endless_run,
};

fn json_of(env: &Env, args: &[&str]) -> Value {
    let out = env.wflow(args);
    assert!(out.status.success(), "wflow {args:?}: {}", stderr(&out));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("wflow {args:?} prints JSON: {e}"))
}

fn text_of(env: &Env, args: &[&str]) -> String {
    let out = env.wflow(args);
    assert!(out.status.success(), "wflow {args:?}: {}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn run_path(summary: &Value) -> String {
    format!(
        "{}/{}",
        summary["flow"].as_str().unwrap(),
        summary["run_id"].as_str().unwrap()
    )
}

#[test]
pub(crate) fn runs_lists_filters_pages_and_tags() {
    let env = Env::new();
    assert!(text_of(&env, &["runs"]).contains("no runs yet"));
    let hello = env.run_ok(&guest("example-hello"), &[]);
    let f1 = env.run_ok(&guest("example-foreach"), &["-p", "n=3"]);
    let f2 = env.run_ok(&guest("example-foreach"), &["-p", "n=4"]);

    let all = json_of(&env, &["runs", "--json"]);
    let ids: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [&f2["run_id"], &f1["run_id"], &hello["run_id"]].map(|v| v.as_str().unwrap()),
        "newest first"
    );
    assert_eq!(all[0]["params"], json!({ "n": 4 }));
    assert_eq!(all[0]["pathspec"], run_path(&f2));
    assert!(all[0].get("spec").is_none(), "listings leave the spec out");

    let foreach = json_of(&env, &["runs", "--json", "Foreach"]);
    assert_eq!(foreach.as_array().unwrap().len(), 2);
    let out = env.wflow(&["runs", "--limit", "1"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
    assert!(
        stderr(&out).contains("the newest 1 of 3 runs"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        json_of(&env, &["runs", "--json", "--status", "succeeded", "--all"])
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // Time bounds: durations back from now, times, dates (an `--until` date takes in its day).
    let count = |args: &[&str]| {
        let mut a = vec!["runs", "--json"];
        a.extend_from_slice(args);
        json_of(&env, &a).as_array().unwrap().len()
    };
    let f1_start = jiff::Timestamp::from_millisecond(all[1]["started_ms"].as_i64().unwrap())
        .unwrap()
        .to_string();
    assert_eq!(count(&["--since", "1h"]), 3);
    assert_eq!(
        count(&["--since", &f1_start]),
        2,
        "f1 and f2 started then or later"
    );
    assert_eq!(
        count(&["--until", &f1_start]),
        1,
        "only hello started before f1"
    );
    assert_eq!(count(&["--since", &f1_start, "Hello"]), 0);
    assert_eq!(count(&["--until", "2h"]), 0);
    let today = &f1_start[..10];
    assert_eq!(count(&["--since", today, "--until", today]), 3);
    assert_eq!(count(&["--until", "2000-01-01"]), 0);
    assert!(text_of(&env, &["runs", "--until", "2000-01-01"]).contains("no runs match"));
    fails(
        &env,
        &["runs", "--since", "3x"],
        2,
        &["--since", "`3x`", "2h, 7d"],
    );
    fails(
        &env,
        &["runs", "--until", "2026-13-01"],
        2,
        &["--until", "2026-13-01"],
    );
    fails(
        &env,
        &["runs", "--since", "1h", "--until", "2h"],
        2,
        &["--since", "is not before --until"],
    );

    // Tags: add (idempotent), filter, list, remove.
    let tagged = json_of(
        &env,
        &["tag", "add", "--json", &run_path(&f1), "baseline", "n=3"],
    );
    assert_eq!(tagged["tags"], json!(["baseline", "n=3"]));
    assert_eq!(
        json_of(&env, &["tag", "add", "--json", &run_path(&f1), "baseline"])["added"],
        0
    );
    env.wflow(&["tag", "add", "Hello/latest", "baseline"]);
    let baseline = json_of(&env, &["runs", "--json", "--tag", "baseline"]);
    let ids: Vec<&str> = baseline
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["flow"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["Foreach", "Hello"]);
    assert_eq!(
        json_of(
            &env,
            &["runs", "--json", "--tag", "baseline", "--tag", "n=3"]
        )
        .as_array()
        .unwrap()
        .len(),
        1
    );
    assert!(text_of(&env, &["runs"]).contains("[baseline, n=3]"));
    assert_eq!(
        json_of(&env, &["tag", "list", "--json"]),
        json!([{ "tag": "baseline", "runs": 2 }, { "tag": "n=3", "runs": 1 }])
    );
    assert_eq!(
        json_of(&env, &["tag", "list", "--json", &run_path(&f1)]),
        json!(["baseline", "n=3"])
    );
    env.wflow(&["tag", "remove", &run_path(&f1), "baseline", "never-there"]);
    assert_eq!(
        json_of(&env, &["tag", "list", "--json", &run_path(&f1)]),
        json!(["n=3"])
    );

    // Bad input names what is wrong.
    fails(
        &env,
        &["runs", "Forech"],
        2,
        &["flow `Forech` not found", "`Foreach`"],
    );
    fails(
        &env,
        &["tag", "add", "Foreach/nope", "x"],
        2,
        &["run `nope` not found", "Foreach"],
    );
    fails(
        &env,
        &["tag", "add", &run_path(&f1), "two\nlines"],
        3,
        &["not a valid tag", "control"],
    );
}

#[test]
pub(crate) fn show_a_run_its_steps_tasks_and_artifacts() {
    let env = Env::new();
    let s = env.run_ok(&guest("example-foreach"), &["-p", "n=20"]);
    let run = run_path(&s);

    let text = text_of(&env, &["show", &run]);
    assert!(text.contains(&run) && text.contains("succeeded"), "{text}");
    assert!(text.contains("n=20"), "params are shown: {text}");
    for needle in [
        "start",
        "  square",
        "20 tasks",
        "sum",
        "end",
        "foreach -> square",
    ] {
        assert!(text.contains(needle), "{needle:?} in\n{text}");
    }
    let v = json_of(&env, &["show", "--json", &run]);
    let steps: Vec<(&str, u64)> = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["step"].as_str().unwrap(), s["tasks"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        steps,
        [("start", 1), ("square", 20), ("sum", 1), ("end", 1)],
        "graph order, task counts"
    );
    assert!(v["steps"][1]["wall_ms"].as_i64().is_some());
    assert_eq!(
        json_of(&env, &["show", "--json", "Foreach/latest"])["run_id"],
        s["run_id"]
    );

    let step = json_of(&env, &["show", "--json", &format!("{run}/square")]);
    assert_eq!(step["stats"]["succeeded"], 20);
    assert_eq!(step["tasks"].as_array().unwrap().len(), 20);
    assert_eq!(step["tasks"][3]["foreach_path"], json!([3]));

    let sum = task_of(&s, "sum");
    let task = json_of(&env, &["show", "--json", &sum]);
    assert_eq!(task["attempt_records"][0]["status"], "succeeded");
    let total = task["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "total")
        .unwrap();
    assert_eq!(
        (total["codec"].as_str(), total["value"].as_i64()),
        (Some("cbor"), Some(2870))
    );
    let text = text_of(&env, &["show", &sum]);
    assert!(
        text.contains("total") && text.contains("2870") && text.contains("20 tasks"),
        "{text}"
    );

    let artifact = json_of(&env, &["show", "--json", &format!("{sum}/total")]);
    assert_eq!(
        (artifact["value"].as_i64(), artifact["inline"].as_bool()),
        (Some(2870), Some(true))
    );
    let listed = json_of(&env, &["artifact", "list", "--json", &sum]);
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["n", "nums", "total"]);

    let flow = json_of(&env, &["show", "--json", "Foreach"]);
    assert_eq!(
        (
            flow["runs"].as_u64(),
            flow["latest_successful_run"].as_str()
        ),
        (Some(1), Some(run.as_str()))
    );
}

#[test]
fn a_multi_line_error_keeps_the_tables_whole_and_is_shown_in_full_once() {
    let env = Env::new();
    let g = guest("test-program-faulty");
    let out = env.wflow(&["run", "--json", g.to_str().unwrap(), "-p", "mode=trap"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    let run = run_path(&s);
    let work = s["failure"]["pathspec"].as_str().unwrap().to_string();
    // The trap's error carries the wasm backtrace: several lines.
    let v = json_of(&env, &["show", "--json", &run]);
    let error = v["error"].as_str().unwrap();
    assert!(error.lines().count() > 2, "a multi-line error: {error}");
    let backtrace = "error while executing at wasm backtrace";
    assert!(error.contains(backtrace), "{error}");

    let text = text_of(&env, &["show", &run]);
    let lines: Vec<&str> = text.lines().collect();
    let header = lines
        .iter()
        .position(|l| l.trim_start().starts_with("step ") && l.contains("wall time"))
        .unwrap_or_else(|| panic!("a steps table in\n{text}"));
    // The table: the header, one row per step, then a blank line; no error text inside.
    let rows: Vec<&str> = lines[header + 1..]
        .iter()
        .take_while(|l| !l.is_empty())
        .copied()
        .collect();
    let names: Vec<&str> = rows
        .iter()
        .map(|r| r.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(names, ["start", "work", "end"], "{text}");
    let error_line = lines
        .iter()
        .find(|l| l.trim_start().starts_with("error "))
        .unwrap();
    assert!(
        error_line.contains("the step trapped") && error_line.contains("in full below"),
        "{text}"
    );
    assert!(
        lines[..header].iter().all(|l| !l.contains(backtrace)),
        "only the first line above the table:\n{text}"
    );
    assert_eq!(text.matches(backtrace).count(), 1, "once, in full:\n{text}");
    let full = text.find("error in full").expect("the full text");
    assert!(full > text.find("wall time").unwrap(), "below the table");
    for l in error.lines().filter(|l| !l.trim().is_empty()) {
        assert!(text.contains(l.trim()), "{l:?} shown in\n{text}");
    }

    // A task: its attempts table keeps one line per attempt; the error in full below it.
    let text = text_of(&env, &["show", &work]);
    let lines: Vec<&str> = text.lines().collect();
    let header = lines
        .iter()
        .position(|l| l.trim_start().starts_with("attempt ") && l.contains("error"))
        .unwrap_or_else(|| panic!("an attempts table in\n{text}"));
    assert!(
        lines[header + 1].trim_start().starts_with("0 ")
            && lines[header + 1].contains("the step trapped"),
        "{text}"
    );
    assert_eq!(lines[header + 2], "", "one row per attempt:\n{text}");
    assert_eq!(text.matches(backtrace).count(), 1, "{text}");
    assert!(text.contains("error of attempt 0 in full:"), "{text}");
    assert!(text.contains("artifacts none"), "{text}");
}

#[test]
pub(crate) fn show_html_draws_the_graph_in_one_self_contained_page() {
    let env = Env::new();
    let s = env.run_ok(&guest("example-branch"), &[]);
    let page = env.dir.path().join("run.html");
    let out = env.wflow(&["show", &run_path(&s), "--html", page.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.starts_with("<!DOCTYPE html>") && html.contains("<svg"),
        "an HTML page with an SVG"
    );
    for step in ["start", "a", "b", "join", "end"] {
        let open = format!(r#"data-step="{step}" data-status="succeeded""#);
        let at = html.find(&open).unwrap_or_else(|| panic!("box of {step}"));
        let group = &html[at..at + html[at..].find("</g>").unwrap()];
        // Each box says its status and its durations (wall and task time).
        assert!(
            group.contains(">succeeded<")
                && group.contains(" wall · ")
                && group.contains("task time"),
            "status and durations in the box of {step}: {group}"
        );
    }
    assert_eq!(
        html.matches(r#"class="edge""#).count(),
        5,
        "start→a, start→b, a→join, b→join, join→end"
    );
    assert!(
        !html.contains("<script") && !html.contains("http://")
            || html.contains("http://www.w3.org/2000/svg")
    );
    assert!(!html.contains("src="), "no external resource");

    // A failed run: the failed step is red, the ones never reached are drawn as not run.
    let g = guest("test-program-faulty");
    let out = env.wflow(&["run", "--json", g.to_str().unwrap(), "-p", "mode=error"]);
    let failed: Value = serde_json::from_slice(&out.stdout).unwrap();
    env.wflow(&[
        "show",
        &format!("{}/work", run_path(&failed)),
        "--html",
        page.to_str().unwrap(),
    ]);
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains(r#"data-step="work" data-status="failed""#),
        "{html}"
    );
    assert!(html.contains(r#"data-step="end" data-status="not run""#));
    assert!(
        html.contains("faulty step failed on purpose"),
        "the run's error is on the page"
    );
    fails(
        &env,
        &["show", "Faulty", "--html", page.to_str().unwrap()],
        2,
        &["names a flow", "Faulty/latest"],
    );
}

#[test]
pub(crate) fn bad_pathspecs_name_the_part_and_the_nearest_choices() {
    let env = Env::new();
    let s = env.run_ok(&guest("example-foreach"), &["-p", "n=3"]);
    let run = run_path(&s);
    let sum = task_of(&s, "sum");
    fails(
        &env,
        &["show", "Foreach//sum"],
        2,
        &["not a valid pathspec", "run part is empty"],
    );
    fails(&env, &["show", "/Foreach"], 2, &["starts with `/`"]);
    fails(
        &env,
        &["show", &format!("{run}/sum/twelve")],
        2,
        &["`twelve` is not a task id"],
    );
    fails(&env, &["show", "a/b/c/1/e/f"], 2, &["6 parts"]);
    fails(
        &env,
        &["show", "Forech"],
        2,
        &["flow `Forech` not found", "nearest flows: `Foreach`"],
    );
    fails(
        &env,
        &["show", "Foreach/20991231T000000-zzzzz"],
        2,
        &[
            "run `20991231T000000-zzzzz` not found",
            s["run_id"].as_str().unwrap(),
        ],
    );
    fails(
        &env,
        &["show", &format!("{run}/sqare")],
        2,
        &["step `sqare` not found", "nearest steps: `square`"],
    );
    fails(
        &env,
        &["show", &format!("{run}/square/99")],
        2,
        &["task `99` not found", "nearest tasks: `4`, `3`, `2`"],
    );
    fails(
        &env,
        &["show", &format!("{sum}/totl")],
        2,
        &["artifact `totl` not found", "nearest artifacts: `total`"],
    );
    fails(
        &env,
        &["artifact", "get", &sum],
        2,
        &["names a task, but an artifact is needed"],
    );
    // `logs` of a step prints every task's (tests/all/habits.rs); following needs one task.
    fails(
        &env,
        &["logs", "--follow", &format!("{run}/square")],
        2,
        &["names a step", "3 tasks"],
    );
    fails(
        &env,
        &[
            "--store",
            env.dir.path().join("empty").to_str().unwrap(),
            "show",
            "Foreach",
        ],
        2,
        &["no runs in", "metadata"],
    );
}

#[test]
pub(crate) fn a_corrupt_blob_names_itself_and_its_artifact_and_nothing_else_breaks() {
    let env = Env::new();
    let s = env.run_ok(&guest("example-bigdata"), &["-p", "mb=1"]);
    let start = task_of(&s, "start");
    let task = json_of(&env, &["show", "--json", &start]);
    let blob = task["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "blob")
        .unwrap();
    assert_eq!(blob["inline"], false, "1 MiB is a blob of its own");
    let digest = blob["digest"].as_str().unwrap().to_string();
    let file = env
        .store()
        .join("blobs-v1")
        .join(&digest[..2])
        .join(&digest);
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[1000] ^= 0x55;
    // Blobs are read-only once written.
    let mut perms = std::fs::metadata(&file).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&file, perms).unwrap();
    std::fs::write(&file, &bytes).unwrap();

    let out_file = env.dir.path().join("blob.bin");
    let err = fails(
        &env,
        &[
            "artifact",
            "get",
            &format!("{start}/blob"),
            "-o",
            out_file.to_str().unwrap(),
        ],
        3,
        &[&digest, &format!("{start}/blob")],
    );
    assert!(err.contains("corrupt"), "{err}");
    assert!(!out_file.exists(), "no partial file is left");
    // Every other artifact, and the task itself, are still readable.
    assert!(env.artifact(&format!("{start}/checksum")).is_u64());
    assert_eq!(
        env.artifact(&format!("{}/verified", task_of(&s, "consume"))),
        json!(true)
    );
    text_of(&env, &["show", &start]);

    let client = env.client();
    let err = client
        .artifact(&format!("{start}/blob"))
        .unwrap()
        .bytes()
        .unwrap_err();
    assert!(matches!(err, ClientError::Artifact { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(&digest) && msg.contains(&format!("{start}/blob")),
        "{msg}"
    );

    // A step that reads the corrupt value fails, naming the blob and the artifact it read.
    let run = run_path(&s);
    let out = env.wflow(&["resume", "--json", "--no-cache", &run, "--from", "consume"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let resumed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let failed = resumed["failure"]["pathspec"].as_str().unwrap();
    assert!(failed.ends_with("/consume/2"), "{resumed}");
    let error = resumed["failure"]["message"].as_str().unwrap();
    assert!(
        error.contains("artifact `blob`") && error.contains(&digest),
        "{error}"
    );
    // The first read moved the damaged file aside (quarantine/), so later reads find it missing.
    assert!(error.contains("not in the store"), "{error}");
    let quarantine = env.store().join(wflow_store::QUARANTINE_DIR);
    assert_eq!(std::fs::read_dir(&quarantine).unwrap().count(), 1);
    // Other flows in the same store are not affected.
    let hello = env.run_ok(&guest("example-hello"), &[]);
    assert_eq!(hello["status"], "succeeded");
    // A new run producing the same bytes stores them afresh (no deduplication against the damaged
    // copy), its consumer verifies them, and the old artifact is whole again.
    let again = env.run_ok(&guest("example-bigdata"), &["-p", "mb=1"]);
    assert_eq!(
        env.artifact(&format!("{}/verified", task_of(&again, "consume"))),
        json!(true)
    );
    let out = env.wflow(&[
        "artifact",
        "get",
        &format!("{start}/blob"),
        "-o",
        out_file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::metadata(&out_file).unwrap().len(), 1 << 20);
}

#[test]
pub(crate) fn records_from_a_newer_wflow_are_refused_clearly() {
    let env = Env::new();
    env.run_ok(&guest("example-hello"), &[]);
    let db = env.store().join("metadata.sqlite");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    for args in [
        &["runs"][..],
        &["show", "Hello"],
        &["logs", "Hello/latest/start/1"],
    ] {
        fails(
            &env,
            args,
            3,
            &["schema version 99", "upgrade wflow", db.to_str().unwrap()],
        );
    }
    let err = Client::open(&env.store()).unwrap_err();
    assert!(matches!(err, ClientError::Metadata(_)), "{err}");
}

#[test]
pub(crate) fn the_client_reads_every_artifact_of_every_example() {
    let env = Env::new();
    env.run_ok(&guest("example-hello"), &["-p", "name=client"]);
    env.run_ok(&guest("example-branch"), &[]);
    env.run_ok(&guest("example-foreach"), &["-p", "n=5"]);
    env.run_ok(&guest("example-bigdata"), &["-p", "mb=2"]);
    let client = env.client();
    assert_eq!(
        client.flows().unwrap(),
        ["Bigdata", "Branch", "Foreach", "Hello"]
    );
    let read = read_every_artifact(&env);
    assert!(read > 30, "{read} artifacts read");
    let value = |p: &str| client.artifact(p).unwrap().value().unwrap();
    let hello = client.run("Hello/latest").unwrap();
    let h = hello.step("end").unwrap().task().unwrap();
    assert_eq!(
        value(&format!("{}/greeting", h.pathspec())),
        json!("Hello, client!")
    );
    assert_eq!(
        value(&format!("{}/stats", h.pathspec())),
        json!({ "chars": 14, "words": 2 })
    );
    assert_eq!(
        value(&format!("{}/name", h.pathspec())),
        json!("client"),
        "parameters are artifacts"
    );
    let b = client
        .run("Branch/latest")
        .unwrap()
        .end_task()
        .unwrap()
        .unwrap();
    assert_eq!(
        b.artifact("summary").unwrap().value().unwrap(),
        json!("8 numbers: sum 31, max 9")
    );
    let f = client.run("Foreach/latest").unwrap();
    assert_eq!(
        f.end_task()
            .unwrap()
            .unwrap()
            .artifact("total")
            .unwrap()
            .value()
            .unwrap(),
        json!(55)
    );
    let squares: Vec<Value> = f
        .step("square")
        .unwrap()
        .tasks()
        .unwrap()
        .iter()
        .map(|t| t.artifact("square").unwrap().value().unwrap())
        .collect();
    assert_eq!(squares, [1, 4, 9, 16, 25].map(|v| json!(v)));
    let big = client.run("Bigdata/latest").unwrap();
    let consume = big.step("consume").unwrap().task().unwrap();
    assert_eq!(
        consume.artifact("verified").unwrap().value().unwrap(),
        json!(true)
    );
    let blob = consume.artifact("blob").unwrap();
    assert_eq!((blob.codec(), blob.size()), ("raw", 2 << 20));
    assert!(
        matches!(blob.value().unwrap_err(), ClientError::Decode { .. }),
        "raw values are bytes, not JSON"
    );
    let mut n = 0u64;
    let mut reader = blob.reader().unwrap();
    n += std::io::copy(&mut reader, &mut std::io::sink()).unwrap();
    assert_eq!(n, 2 << 20);
    let err = client.task("Hello/latest/end").unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::WrongKind {
                found: Part::Step,
                ..
            }
        ),
        "{err}"
    );
}

/// Reads, through the client library, every artifact of every task of the latest successful run
/// of every flow in the store (bytes verified against their size, CBOR values decoded); returns
/// how many were read.
pub fn read_every_artifact(env: &Env) -> usize {
    let client = env.client();
    let mut read = 0;
    for flow in client.flows().unwrap() {
        let run = client
            .flow(&flow)
            .unwrap()
            .latest_successful_run()
            .unwrap()
            .expect("a successful run");
        for step in run.steps().unwrap() {
            for task in step.tasks().unwrap() {
                assert_eq!(task.status(), wflow_client::Status::Succeeded);
                for a in task.artifacts().unwrap() {
                    let bytes = a.bytes().unwrap();
                    assert_eq!(bytes.len() as u64, a.size(), "{}", a.pathspec());
                    if a.codec() == "cbor" {
                        a.value().unwrap();
                    }
                    read += 1;
                }
            }
        }
    }
    read
}

#[test]
fn a_run_started_without_user_variables_records_the_account_name() {
    let env = Env::new();
    let hello = guest("example-hello");
    let out = env
        .command(&["run", hello.to_str().unwrap()])
        .env_remove("USER")
        .env_remove("WFLOW_USER")
        .env_remove("LOGNAME")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let out = env.wflow(&["runs", "--json"]);
    let runs: Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = std::process::Command::new("id")
        .arg("-un")
        .output()
        .unwrap();
    let account = String::from_utf8_lossy(&id.stdout).trim().to_string();
    assert!(!account.is_empty());
    assert_eq!(runs[0]["user"], account.as_str(), "{runs}");
}
