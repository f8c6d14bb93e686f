//! The compatibility fixtures of released versions (`tests/compat/VERSION/`, written once by
//! `scripts/compat-corpus` at the release): every later host must read the stores a release wrote
//! — local (SQLite records) and S3 (object records) — and show, inspect and resume their runs
//! exactly as the release did (docs/store.md, "Compatibility fixtures").

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;
use wflow_store::BlobStore;
use wflow_store_s3::testing::{self, Kind, TestServer};

use crate::s3::S3Env;
use crate::util::{Env, root, stderr, task_of};

/// The released versions whose fixtures every host must read.
const VERSIONS: &[&str] = &["0.1.0"];

fn fixture(version: &str, rel: &str) -> PathBuf {
    root().join("tests/compat").join(version).join(rel)
}

fn expectations(version: &str, store: &str) -> Value {
    let path = fixture(version, &format!("stores/{store}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// Every file under `dir`, as paths relative to it.
fn files(dir: &Path) -> Vec<PathBuf> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(base, &p, out)
            } else {
                out.push(p.strip_prefix(base).unwrap().to_path_buf())
            }
        }
    }
    let mut out = vec![];
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// `wflow ARGS --json` that must succeed; its JSON output.
fn json(wflow: &dyn Fn(&[&str]) -> Output, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = wflow(&all);
    assert!(out.status.success(), "wflow {all:?}: {}", stderr(&out));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("wflow {all:?} printed no JSON ({e})"))
}

/// The fields of `got` that `want` has, so that a later host may add fields.
fn same_fields(what: &str, got: &Value, want: &Value) {
    for (k, v) in want.as_object().unwrap() {
        assert_eq!(
            &got[k], v,
            "{what}: `{k}` differs\n got: {got}\nwant: {want}"
        );
    }
}

/// Reads a store a release wrote through `wflow` as the expectations say it must read: `runs`,
/// `show` of every run and task, `artifact get` of every artifact, `logs` of every attempt; then
/// resumes the failed run.
fn check_store(what: &str, wflow: &dyn Fn(&[&str]) -> Output, expect: &Value) {
    let runs = json(wflow, &["runs", "--all"]);
    let runs = runs.as_array().unwrap();
    let want_runs = expect["runs"].as_array().unwrap();
    assert_eq!(runs.len(), want_runs.len(), "{what}: runs {runs:?}");
    for want in want_runs {
        let got = runs
            .iter()
            .find(|r| r["pathspec"] == want["pathspec"])
            .unwrap_or_else(|| panic!("{what}: `runs` lists no {}", want["pathspec"]));
        same_fields(&format!("{what}: run"), got, want);
    }
    for want in expect["shown"].as_array().unwrap() {
        let run = want["pathspec"].as_str().unwrap();
        let got = json(wflow, &["show", run]);
        let steps = got["steps"].as_array().unwrap();
        let want_steps = want["steps"].as_array().unwrap();
        assert_eq!(steps.len(), want_steps.len(), "{what}: steps of {run}");
        for (g, w) in steps.iter().zip(want_steps) {
            same_fields(&format!("{what}: show {run}"), g, w);
        }
        // The text view reads too.
        let text = wflow(&["show", run]);
        assert!(
            text.status.success(),
            "{what}: show {run}: {}",
            stderr(&text)
        );
    }
    for want in expect["tasks"].as_array().unwrap() {
        let task = want["pathspec"].as_str().unwrap();
        let got = json(wflow, &["show", task]);
        let mut want = want.clone();
        let artifacts = want.as_object_mut().unwrap().remove("artifacts").unwrap();
        same_fields(&format!("{what}: show {task}"), &got, &want);
        let got_artifacts = got["artifacts"].as_array().unwrap();
        assert_eq!(got_artifacts.len(), artifacts.as_array().unwrap().len());
        for (g, w) in got_artifacts.iter().zip(artifacts.as_array().unwrap()) {
            same_fields(&format!("{what}: artifact of {task}"), g, w);
        }
    }
    for (pathspec, value) in expect["artifacts"].as_object().unwrap() {
        let got = json(wflow, &["artifact", "get", pathspec]);
        assert_eq!(&got, value, "{what}: artifact get {pathspec}");
    }
    for (task, want) in expect["logs"].as_object().unwrap() {
        let got = json(wflow, &["logs", task]);
        same_fields(&format!("{what}: logs {task}"), &got, want);
    }

    // The failed run resumes: the tasks that succeeded are reused, the rest runs again.
    let resume = &expect["resume"];
    let run = resume["run"].as_str().unwrap();
    let mut args = vec!["resume", run];
    for p in resume["params"].as_array().unwrap() {
        args.extend(["-p", p.as_str().unwrap()]);
    }
    let s = json(wflow, &args);
    assert_eq!(s["status"], "succeeded", "{what}: resume {run}: {s}");
    assert_eq!(s["resume"]["origin_run"], run.split('/').nth(1).unwrap());
    let reused: Vec<&str> = s["resume"]["reused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["step"].as_str().unwrap())
        .collect();
    assert_eq!(Value::from(reused), resume["reused"], "{what}: reused");
    let new_run = format!(
        "{}/{}",
        s["flow"].as_str().unwrap(),
        s["run_id"].as_str().unwrap()
    );
    for (rel, value) in resume["artifacts"].as_object().unwrap() {
        let (step, name) = rel.split_once('/').unwrap();
        let task = task_of(&s, step);
        assert!(task.starts_with(&new_run), "{task}");
        let got = json(wflow, &["artifact", "get", &format!("{task}/{name}")]);
        assert_eq!(&got, value, "{what}: {rel} of the resumed run");
    }
    let runs = json(wflow, &["runs", "--all"]);
    assert_eq!(runs.as_array().unwrap().len(), want_runs.len() + 1);
}

#[test]
fn a_local_store_written_by_a_release_reads_and_resumes() {
    for version in VERSIONS {
        let env = Env::new();
        let src = fixture(version, "stores/local");
        for f in files(&src) {
            let to = env.store().join(&f);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(src.join(&f), &to).unwrap();
        }
        let what = format!("the local store of {version}");
        check_store(
            &what,
            &|args| env.wflow(args),
            &expectations(version, "local"),
        );
    }
}

#[test]
fn an_s3_store_written_by_a_release_reads_and_resumes() {
    for version in VERSIONS {
        let server = TestServer::get(Kind::S3sFs);
        let bucket = server.new_bucket("compat");
        let prefix = "team/wflow";
        // The release's objects, by key under the prefix, into a new bucket.
        let store = server.store(&server.config(&bucket, prefix)).unwrap();
        let src = fixture(version, "stores/s3");
        for f in files(&src) {
            let key = f.to_str().unwrap().replace('\\', "/");
            testing::overwrite(&store, &key, std::fs::read(src.join(&f)).unwrap());
        }
        assert!(!store.list("records-v1/").unwrap().is_empty());
        let m = S3Env::new(&server.endpoint, &bucket, prefix);
        let what = format!("the S3 store of {version}");
        check_store(&what, &|args| m.wflow(args), &expectations(version, "s3"));
    }
}
