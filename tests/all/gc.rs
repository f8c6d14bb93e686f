//! `wflow gc`: retention rules keep exactly the right runs, kept runs read back and resume,
//! runs started during a collection lose nothing, and a collection killed at any point is
//! harmless and finished by the next.

use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::util::{Env, guest, stderr, task_of};

/// Every recorded run reads back completely: its code, every task's manifest and artifacts,
/// every attempt's logs. Returns how many runs there are.
pub(crate) fn every_run_reads_back(env: &Env) -> usize {
    let client = env.client();
    reads_back(client.metadata().as_ref(), client.cas())
}

/// [`every_run_reads_back`] for any records and store.
pub(crate) fn reads_back(
    meta: &dyn wflow_metadata::MetadataStore,
    cas: &wflow_store::Cas,
) -> usize {
    let runs = meta.runs(None).unwrap();
    for run in &runs {
        let id = &run.run_id;
        assert!(cas.contains(&run.component).unwrap(), "code of run {id}");
        for t in meta.tasks(id).unwrap() {
            if let Some(m) = t.read_manifest(cas) {
                let m = m.unwrap_or_else(|e| panic!("task {} of run {id}: {e}", t.task_id));
                for a in m.artifacts.values() {
                    cas.get_artifact(a)
                        .unwrap_or_else(|e| panic!("task {} of run {id}: {e}", t.task_id));
                }
            }
            if let Some(items) = t.foreach_items {
                cas.get(&items).unwrap();
            }
        }
        for a in meta.attempts_of_run(id).unwrap() {
            for stderr in [false, true] {
                if let Some(log) = a.read_log(cas, stderr) {
                    log.unwrap_or_else(|e| panic!("log of task {} of run {id}: {e}", a.task_id));
                }
            }
        }
    }
    runs.len()
}

/// Makes every file of the store look written `days` ago (what a grace period then protects
/// is only what is used from now on).
fn age_store(env: &Env, days: u64) {
    let files = env.store_files().into_iter();
    age_files(
        files.filter(|f| !f.to_string_lossy().contains("metadata.sqlite")),
        days,
    );
}

/// Makes `files` look written `days` ago.
pub(crate) fn age_files(files: impl IntoIterator<Item = std::path::PathBuf>, days: u64) {
    let then = SystemTime::now() - Duration::from_secs(days * 86_400);
    for f in files {
        std::fs::File::open(&f).unwrap().set_modified(then).unwrap();
    }
}

/// Starts `command()` `rounds` times and kills it with SIGKILL after a pseudo-random wait below
/// `span_ms` (kill points spread over how long a whole collection takes here; not a timing
/// assertion), then calls `check`.
pub(crate) fn kill_at_random_points(
    rounds: usize,
    span_ms: u64,
    mut command: impl FnMut() -> Command,
    mut check: impl FnMut(),
) {
    let mut seed = std::process::id() as u64 | 1;
    for _ in 0..rounds {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let mut child = command()
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(seed % span_ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        check();
    }
}

fn gc_json(env: &Env, args: &[&str]) -> Value {
    let mut all = vec!["gc", "--json"];
    all.extend_from_slice(args);
    let out = env.wflow(&all);
    assert!(out.status.success(), "wflow {all:?}: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn removed(report: &Value) -> Vec<String> {
    report["runs_removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap().to_string())
        .collect()
}

/// Runs the bigdata example; returns its run id.
fn bigdata(env: &Env, mb: u32, extra: &[&str]) -> String {
    bigdata_run(env, mb, extra).0
}

/// Runs the bigdata example; returns its run id and its `verified` artifact's pathspec.
fn bigdata_run(env: &Env, mb: u32, extra: &[&str]) -> (String, String) {
    let g = guest("example-bigdata");
    // `--no-cache`: a run of the same size would take the earlier run's tasks from the cache,
    // and a cached task's origin keeps that run alive (which is what these tests are not about).
    let mut args = vec!["-p".to_string(), format!("mb={mb}"), "--no-cache".into()];
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let s = env.run_ok(&g, &args);
    let run = s["run_id"].as_str().unwrap().to_string();
    (run, format!("{}/verified", task_of(&s, "consume")))
}

fn failed_faulty(env: &Env) -> String {
    let g = guest("test-program-faulty");
    let out = env.wflow(&["run", "--json", g.to_str().unwrap(), "-p", "mode=error"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["run_id"].as_str().unwrap().to_string()
}

fn blob_count(env: &Env) -> usize {
    let blobs = env.store().join("blobs-v1");
    env.store_files()
        .iter()
        .filter(|f| f.starts_with(&blobs))
        .count()
}

#[test]
fn the_rule_keeps_the_right_runs_and_kept_runs_read_back_and_resume() {
    let env = Env::new();
    let r1 = bigdata(&env, 1, &[]);
    let r2 = bigdata(&env, 2, &[]);
    let failed = failed_faulty(&env);
    let (r3, verified) = bigdata_run(&env, 1, &[]); // the same 1 MiB blob as r1
    age_store(&env, 2);
    let before = blob_count(&env);

    let dry = gc_json(
        &env,
        &["--keep-last", "1", "--flow", "Bigdata", "--dry-run"],
    );
    assert_eq!(dry["dry_run"], true);
    assert_eq!(removed(&dry), [r2.clone(), r1.clone()]);
    assert!(
        dry["blob_bytes_removed"].as_u64().unwrap() >= 2 << 20,
        "{dry}"
    );
    assert_eq!(blob_count(&env), before, "a dry run removes nothing");
    assert_eq!(every_run_reads_back(&env), 4);

    let text = env.wflow(&["gc", "--keep-last", "1", "--flow", "Bigdata", "--dry-run"]);
    let out = String::from_utf8_lossy(&text.stdout);
    assert!(
        out.contains(&format!("would remove Bigdata/{r1}"))
            && out.contains("dry run: would remove 2 runs"),
        "{out}"
    );

    let report = gc_json(&env, &["--keep-last", "1", "--flow", "Bigdata"]);
    assert_eq!(removed(&report), [r2.clone(), r1.clone()]);
    assert_eq!(report["blobs_removed"], dry["blobs_removed"]);
    assert_eq!(report["runs_kept"], 2);
    assert!(blob_count(&env) < before);
    // The blob r1 shared with r3 stays; the faulty flow is outside the rule.
    assert_eq!(every_run_reads_back(&env), 2);
    assert_eq!(env.artifact(&verified), Value::Bool(true));
    let show = env.wflow(&["show", &format!("Bigdata/{r3}")]);
    assert!(show.status.success(), "{}", stderr(&show));
    let gone = env.wflow(&["show", &format!("Bigdata/{r1}")]);
    assert_eq!(gone.status.code(), Some(2), "{}", stderr(&gone));
    // The kept failed run resumes.
    let g = guest("test-program-faulty");
    let out = env.wflow(&[
        "resume",
        "--json",
        &format!("Faulty/{failed}"),
        "-p",
        "mode=ok",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let _ = g;
    // A resumed run's origin is a reference: the rule keeps it.
    let report = gc_json(&env, &["--keep-last", "1", "--flow", "Faulty"]);
    assert!(removed(&report).is_empty(), "{report}");
    assert_eq!(report["runs_kept"], 3);
    // Nothing left to do.
    let again = gc_json(&env, &["--keep-last", "1", "--flow", "Bigdata"]);
    assert!(removed(&again).is_empty());
    assert_eq!(again["blobs_removed"], 0);
    assert_eq!(every_run_reads_back(&env), 3);
    // Issue 15: a task taken from the cache names the task it came from as its origin, which
    // keeps that run too.
    let cached = env.run_ok(&guest("example-bigdata"), &["-p", "mb=1"]);
    let tasks = cached["tasks"].as_array().unwrap();
    assert!(tasks.iter().any(|t| t["cached"] == true), "{cached}");
    let report = gc_json(&env, &["--keep-last", "1", "--flow", "Bigdata"]);
    assert!(removed(&report).is_empty(), "{r3} is an origin: {report}");
    assert_eq!(every_run_reads_back(&env), 4);
}

#[test]
fn bad_rules_are_clear_errors_and_the_config_rule_applies_without_flags() {
    let env = Env::new();
    let r1 = bigdata(&env, 0, &[]);
    let _r2 = bigdata(&env, 0, &["--tag", "gold"]);
    let fails = |args: &[&str], needles: &[&str]| {
        let out = env.wflow(args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        for n in needles {
            assert!(err.contains(n), "{args:?} should say {n:?}: {err}");
        }
    };
    fails(&["gc", "--older-than", "3x"], &["3x", "is not a duration"]);
    fails(&["gc", "--grace", "soon"], &["soon", "is not a duration"]);
    fails(&["gc", "--keep-lst", "3"], &["--keep-lst"]);
    fails(&["gc", "--keep-last", "many"], &["many"]);
    fails(
        &["gc", "--older-than", "0s"],
        &["removes every run", "--yes"],
    );
    assert_eq!(
        every_run_reads_back(&env),
        2,
        "a refused rule removes nothing"
    );

    let config = env.dir.path().join("config.toml");
    std::fs::write(&config, "[retention]\nolder-than = \"ten days\"\n").unwrap();
    let out = env
        .command(&["gc"])
        .env("WFLOW_CONFIG", &config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("[retention] `older-than`"),
        "{}",
        stderr(&out)
    );
    std::fs::write(&config, "[retention]\nkeep-last = 1\nkepp-tagged = []\n").unwrap();
    let out = env
        .command(&["gc"])
        .env("WFLOW_CONFIG", &config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("kepp-tagged"), "{}", stderr(&out));

    std::fs::write(
        &config,
        "[retention]\nolder-than = \"0s\"\nkeep-tagged = [\"gold\"]\ngrace = \"0s\"\n",
    )
    .unwrap();
    let out = env
        .command(&["gc", "--json"])
        .env("WFLOW_CONFIG", &config)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(removed(&report), [r1]);
    assert_eq!(every_run_reads_back(&env), 1);

    let all = gc_json(&env, &["--older-than", "0s", "--yes"]);
    assert_eq!(all["runs_removed"].as_array().unwrap().len(), 1);
    assert_eq!(every_run_reads_back(&env), 0);
}

#[test]
fn the_administrators_policy_keeps_its_runs_whatever_gc_is_told() {
    let env = Env::new();
    let r1 = bigdata(&env, 0, &[]);
    let _r2 = bigdata(&env, 0, &[]);
    let _r3 = bigdata(&env, 0, &[]);
    let policy = env.dir.path().join("policy.toml");
    let gc = |args: &[&str]| {
        let mut all = vec!["gc"];
        all.extend_from_slice(args);
        env.command(&all)
            .env("WFLOW_POLICY", &policy)
            .output()
            .unwrap()
    };
    for (text, needles) in [
        (
            "[retention]\nolder-than = \"soon\"\n",
            ["[retention] `older-than`", "soon"],
        ),
        ("[retention]\nkeep-lats = 1\n", ["keep-lats", "policy.toml"]),
    ] {
        std::fs::write(&policy, text).unwrap();
        let out = gc(&["--dry-run"]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        for n in needles {
            assert!(stderr(&out).contains(n), "{n:?}: {}", stderr(&out));
        }
    }
    std::fs::write(&policy, "[retention]\nkeep-last = 2\n").unwrap();
    // A floor under the rule given: `--keep-last 0` keeps the policy's two newest.
    let out = gc(&["--json", "--dry-run", "--keep-last", "0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(removed(&report), std::slice::from_ref(&r1));
    assert_eq!(report["policy"][0]["keep_last"], 2);
    // The rule when gc is given none.
    let out = gc(&["--json", "--grace", "0s"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("only while no flow runs"),
        "a short grace period is worth a warning: {}",
        stderr(&out)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(removed(&report), [r1]);
    assert_eq!(every_run_reads_back(&env), 2);
}

#[test]
fn runs_started_while_gc_runs_succeed_and_stay_readable() {
    let env = Env::new();
    // Old runs whose blobs the new runs produce again: the collections remove the old runs,
    // and must not take the blobs the new runs deduplicate against.
    bigdata(&env, 1, &[]);
    bigdata(&env, 2, &[]);
    age_store(&env, 2);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let collector = {
        let stop = stop.clone();
        let mut cmd = env.command(&["gc", "--keep-last", "0", "--keep-tagged", "during", "--yes"]);
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        let cmd = std::sync::Mutex::new(cmd);
        std::thread::spawn(move || {
            let mut rounds = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) || rounds == 0 {
                let out = cmd.lock().unwrap().output().unwrap();
                assert!(out.status.success(), "gc: {}", stderr(&out));
                rounds += 1;
            }
            rounds
        })
    };
    let mut during = Vec::new();
    for mb in [1, 2, 1, 3] {
        during.push(bigdata_run(&env, mb, &["--tag", "during"]).1);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let rounds = collector.join().unwrap();
    assert!(rounds >= 1);
    gc_json(
        &env,
        &["--keep-last", "0", "--keep-tagged", "during", "--yes"],
    );
    assert_eq!(every_run_reads_back(&env), during.len());
    for verified in &during {
        assert_eq!(env.artifact(verified), Value::Bool(true));
    }
}

#[test]
fn gc_killed_at_random_points_leaves_every_kept_run_whole_and_a_rerun_finishes() {
    let env = Env::new();
    let g = guest("example-foreach");
    for n in [60, 61, 62, 63] {
        env.run_ok(&g, &["-p", &format!("n={n}"), "--max-workers", "2"]);
    }
    for mb in [1, 2, 3] {
        bigdata(&env, mb, &[]);
    }
    age_store(&env, 2);
    let kept = 2 + 1;
    let args = ["--keep-last", "1", "--flow", "Bigdata"];
    // A dry run reads and lists as much as a whole collection.
    let took = {
        let started = std::time::Instant::now();
        gc_json(&env, &[&args[..], &["--dry-run"]].concat());
        started.elapsed().as_millis() as u64 + 1
    };
    kill_at_random_points(
        10,
        took,
        || env.command(&[&["gc"][..], &args].concat()),
        || {
            // Whatever it did, every run still recorded reads back whole.
            let runs = every_run_reads_back(&env);
            assert!(runs >= kept, "{runs} runs");
        },
    );
    gc_json(&env, &args);
    assert_eq!(every_run_reads_back(&env), 4 + 1);
    let again = gc_json(&env, &args);
    assert_eq!(again["blobs_removed"], 0);
    assert_eq!(again["other_removed"], 0);
    // Only the newest Bigdata's and the foreach runs' blobs are left.
    assert!(again["blobs_recent"] == 0, "{again}");
}

/// On S3 (moto and s3s-fs): the rule, the sweep with `DeleteObjects`, record objects of removed
/// runs and leftovers of a killed collection, objects of another layout left alone.
#[test]
fn gc_on_s3_removes_runs_records_and_blobs_and_leaves_other_layouts_alone() {
    use crate::s3::{S3Env, each_server};
    use wflow_store::BlobStore;
    use wflow_store_s3::testing::TestServer;
    each_server("gc", |server: &TestServer, bucket| {
        let m = S3Env::new(&server.endpoint, bucket, "team/wflow");
        let store = server.store(&server.config(bucket, "team/wflow")).unwrap();
        let run = |mb: u32| {
            let s = m.run_ok(
                &guest("example-bigdata"),
                &["-p", &format!("mb={mb}"), "--no-cache"],
            );
            let id = s["run_id"].as_str().unwrap().to_string();
            (id, format!("{}/verified", task_of(&s, "consume")))
        };
        let (r1, _) = run(1);
        let (r2, _) = run(2);
        let (r3, verified) = run(1);
        store
            .put_if_absent("blobs-v2/ab/another-layout", b"not ours")
            .unwrap();
        store
            .put_if_absent(&format!("tasks-v1/{r1}/1-0"), b"a description")
            .unwrap();
        // What a collection killed between a run's start object and its batches leaves.
        store
            .put_if_absent("records-v1/tasks/20260101T000000-ghost/0-x-1", b"[]")
            .unwrap();
        let gc = |args: &[&str]| -> Value {
            let mut all = vec!["gc", "--json", "--grace", "0s"];
            all.extend_from_slice(args);
            let out = m.wflow(&all);
            assert!(out.status.success(), "{all:?}: {}", stderr(&out));
            serde_json::from_slice(&out.stdout).unwrap()
        };
        // Objects written in the second gc starts in look older than it (S3 keeps seconds).
        std::thread::sleep(Duration::from_millis(1100));
        let dry = gc(&["--keep-last", "1", "--dry-run"]);
        assert_eq!(removed(&dry), [r2.clone(), r1.clone()]);
        let report = gc(&["--keep-last", "1"]);
        assert_eq!(removed(&report), [r2.clone(), r1.clone()]);
        assert_eq!(report["blobs_removed"], dry["blobs_removed"]);
        assert!(report["blob_bytes_removed"].as_u64().unwrap() >= 2 << 20);
        // r1's description and the ghost's batch (the removed runs' own record objects go
        // with their records, before the sweep).
        assert_eq!(report["other_removed"], 2, "{report}");
        assert_eq!(report["left_alone"]["blobs-v2/"], 1);
        for gone in [&r1, &r2] {
            for kind in ["runs", "tasks", "ends"] {
                assert!(
                    store
                        .list(&format!("records-v1/{kind}/{gone}"))
                        .unwrap()
                        .is_empty(),
                    "records-v1/{kind}/{gone}"
                );
            }
        }
        assert!(store.list("tasks-v1/").unwrap().is_empty());
        assert!(
            store
                .list("records-v1/tasks/20260101T000000-ghost")
                .unwrap()
                .is_empty()
        );
        assert!(store.exists("blobs-v2/ab/another-layout").unwrap());
        assert_eq!(m.artifact(&verified), Value::Bool(true));
        let runs: Value = serde_json::from_slice(&m.wflow(&["runs", "--json"]).stdout).unwrap();
        let ids: Vec<String> = runs
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["run_id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(ids, std::slice::from_ref(&r3));
        let again = gc(&["--keep-last", "1"]);
        assert!(removed(&again).is_empty());
        assert_eq!(again["blobs_removed"], 0);
        assert_eq!(again["other_removed"], 0);
        assert_eq!(m.artifact(&verified), Value::Bool(true));
    });
}

/// On S3 (moto and s3s-fs), with object records: runs started while collections remove other
/// runs' records succeed and read back whole (gc removes a run's start object first, and sweeps
/// record objects only of runs it no longer finds recorded after listing the store).
#[test]
fn runs_started_while_gc_runs_on_s3_succeed_and_stay_readable() {
    use crate::s3::{S3Env, each_server};
    use wflow_store_s3::testing::TestServer;
    each_server("gc-during", |server: &TestServer, bucket| {
        let m = std::sync::Arc::new(S3Env::new(&server.endpoint, bucket, "w"));
        let bigdata = |mb: u32, tag: &[&str]| {
            let mut args = vec!["-p".to_string(), format!("mb={mb}")];
            args.extend(tag.iter().map(|s| s.to_string()));
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let s = m.run_ok(&guest("example-bigdata"), &args);
            (
                s["run_id"].as_str().unwrap().to_string(),
                format!("{}/verified", task_of(&s, "consume")),
            )
        };
        let old = [bigdata(1, &[]).0, bigdata(2, &[]).0];
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let collector = {
            let (stop, m) = (stop.clone(), m.clone());
            std::thread::spawn(move || {
                let mut rounds = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) || rounds == 0 {
                    let out = m
                        .command(&["gc", "--keep-last", "0", "--keep-tagged", "during", "--yes"])
                        .output()
                        .unwrap();
                    assert!(out.status.success(), "gc: {}", stderr(&out));
                    rounds += 1;
                }
                rounds
            })
        };
        let during: Vec<(String, String)> = [1, 2, 1]
            .into_iter()
            .map(|mb| bigdata(mb, &["--tag", "during"]))
            .collect();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(collector.join().unwrap() >= 1);
        let out = m
            .command(&["gc", "--keep-last", "0", "--keep-tagged", "during", "--yes"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let runs: Value = serde_json::from_slice(&m.wflow(&["runs", "--json"]).stdout).unwrap();
        let mut ids: Vec<&str> = runs
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["run_id"].as_str().unwrap())
            .collect();
        ids.sort_unstable();
        let mut want: Vec<&str> = during.iter().map(|(id, _)| id.as_str()).collect();
        want.sort_unstable();
        assert_eq!(
            ids, want,
            "the old runs {old:?} go, the runs started during gc stay"
        );
        for (id, verified) in &during {
            let show = m.wflow(&["show", "--json", id]);
            assert!(show.status.success(), "show {id}: {}", stderr(&show));
            assert_eq!(m.artifact(verified), Value::Bool(true));
        }
    });
}

/// On S3 (moto and s3s-fs, object records): a collection killed at random points leaves every
/// run still recorded readable whole (a removed run's start object goes first), and the next
/// collection finishes the job.
#[test]
fn gc_on_s3_killed_at_random_points_leaves_every_kept_run_whole_and_a_rerun_finishes() {
    use crate::s3::{S3Env, each_server};
    use std::sync::Arc;
    use wflow_store_s3::testing::TestServer;
    each_server("gc-kill", |server: &TestServer, bucket| {
        let m = S3Env::new(&server.endpoint, bucket, "k");
        let store: Arc<dyn wflow_store::BlobStore> =
            Arc::new(server.store(&server.config(bucket, "k")).unwrap());
        let cas = wflow_store::Cas::new(store.clone());
        let read_back = || {
            let meta = wflow_metadata::ObjectMetadata::new(store.clone(), "records");
            reads_back(&meta, &cas)
        };
        let g = guest("example-foreach");
        // `--no-cache`: cached squares would name the earlier runs as origins and keep them.
        for n in [30, 31, 32] {
            m.run_ok(
                &g,
                &["-p", &format!("n={n}"), "--max-workers", "2", "--no-cache"],
            );
        }
        // Objects written in the second gc starts in look older than it (S3 keeps seconds).
        std::thread::sleep(Duration::from_millis(1100));
        let args = ["gc", "--keep-last", "1", "--grace", "0s"];
        let took = {
            let started = std::time::Instant::now();
            let out = m.wflow(&[&args[..], &["--dry-run"]].concat());
            assert!(out.status.success(), "{}", stderr(&out));
            started.elapsed().as_millis() as u64 + 1
        };
        kill_at_random_points(6, took, || m.command(&args), || assert!(read_back() >= 1));
        let out = m.wflow(&[&args[..], &["--json"]].concat());
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(read_back(), 1);
        let again: Value =
            serde_json::from_slice(&m.wflow(&[&args[..], &["--json"]].concat()).stdout).unwrap();
        assert_eq!(again["runs_removed"], serde_json::json!([]), "{again}");
        assert_eq!(again["blobs_removed"], 0, "{again}");
        assert_eq!(again["other_removed"], 0, "{again}");
    });
}
