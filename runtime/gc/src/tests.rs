//! Collections of a real local store with SQLite records.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use wflow_core::Digest;
use wflow_metadata::{Event, Metadata, RunKind, Status};
use wflow_store::{Cas, LocalDisk, Manifest};

use super::*;

struct Store {
    dir: tempfile::TempDir,
    cas: Cas,
    meta: Metadata,
}

const DAY: i64 = 86_400_000;

impl Store {
    fn new() -> Store {
        let dir = tempfile::tempdir().unwrap();
        let cas = Cas::new(Arc::new(LocalDisk::open(dir.path()).unwrap()));
        let meta = Metadata::open(&dir.path().join("metadata.sqlite")).unwrap();
        Store { dir, cas, meta }
    }

    /// A finished run of `flow` started `days_ago`, with one task whose manifest names `blobs`
    /// (each stored as a blob artifact). `inline`: the manifest is in the records (layout 2),
    /// else a blob (layout 1). `origin`: the task is reused from that run's task 1.
    fn run(&self, id: &str, days_ago: i64, blobs: &[&[u8]], inline: bool, origin: Option<&str>) {
        let started_ms = wflow_core::now_millis() - days_ago * DAY;
        let component = self.cas.put(b"\0asm component").unwrap();
        let mut m = Manifest::new();
        for (i, b) in blobs.iter().enumerate() {
            let mut value = b.to_vec();
            value.resize(wflow_store::INLINE_MAX + 1, b'.');
            let r = self.cas.put_artifact(&value, "raw").unwrap();
            assert!(r.inline.is_none());
            m.artifacts.insert(format!("a{i}"), r);
        }
        let bytes = m.to_cbor().unwrap();
        let manifest = Digest::of(&bytes);
        let log = self.cas.put(format!("log of {id}").as_bytes()).unwrap();
        let run_id = id.to_string();
        let mut events = vec![
            Event::RunStarted {
                run_id: run_id.clone(),
                flow: "F".into(),
                component,
                params: serde_json::json!({}),
                spec: serde_json::json!({}),
                started_ms,
                origin_run: None,
                user: "u".into(),
                kind: RunKind::Run,
            },
            Event::TaskStarted {
                run_id: run_id.clone(),
                task_id: 1,
                step: "s".into(),
                foreach_path: vec![],
                inputs: vec![],
                started_ms,
            },
        ];
        if inline {
            events.push(Event::TaskManifest {
                run_id: run_id.clone(),
                task_id: 1,
                manifest: bytes,
            });
        } else {
            self.cas.put(&bytes).unwrap();
        }
        match origin {
            Some(o) => events.push(Event::TaskReused {
                run_id: run_id.clone(),
                task_id: 1,
                origin_run: o.into(),
                origin_task: 1,
                manifest,
                finished_ms: started_ms,
                component: None,
                reason: Default::default(),
            }),
            None => events.extend([
                Event::AttemptStarted {
                    run_id: run_id.clone(),
                    task_id: 1,
                    attempt: 0,
                    started_ms,
                },
                Event::AttemptFinished {
                    run_id: run_id.clone(),
                    task_id: 1,
                    attempt: 0,
                    status: Status::Succeeded,
                    started_ms: None,
                    finished_ms: started_ms,
                    error: None,
                    stdout: Some(log),
                    stderr: None,
                },
                Event::TaskFinished {
                    run_id: run_id.clone(),
                    task_id: 1,
                    status: Status::Succeeded,
                    finished_ms: started_ms,
                    manifest: Some(manifest),
                },
            ]),
        }
        events.push(Event::RunFinished {
            run_id,
            status: Status::Succeeded,
            finished_ms: started_ms + 1,
            error: None,
        });
        self.meta.record(&events).unwrap();
    }

    /// Makes every object look written `days` ago.
    fn age_all(&self, days: u64) {
        let then = SystemTime::now() - Duration::from_secs(days * 86_400);
        for key in self.cas.backend().list("").unwrap() {
            if key.starts_with("metadata.sqlite") {
                continue;
            }
            let f = std::fs::File::open(self.dir.path().join(&key)).unwrap();
            f.set_modified(then).unwrap();
        }
    }

    fn gc(&self, retention: Retention, dry_run: bool) -> Report {
        let options = Options {
            retention,
            grace: DEFAULT_GRACE,
            records_in_store: false,
            policy: vec![],
        };
        prepare(&self.meta, &self.cas, options, &mut |_| {})
            .unwrap()
            .execute(dry_run, &mut |_| {})
            .unwrap()
    }

    fn artifact(&self, b: &[u8]) -> Digest {
        let mut value = b.to_vec();
        value.resize(wflow_store::INLINE_MAX + 1, b'.');
        Digest::of(&value)
    }

    fn has(&self, d: Digest) -> bool {
        self.cas.contains(&d).unwrap()
    }

    /// Every kept run's manifests, artifacts and logs read back.
    fn kept_runs_read_back(&self) {
        for run in self.meta.runs(None).unwrap() {
            for t in self.meta.tasks(&run.run_id).unwrap() {
                let m = t.read_manifest(&self.cas).unwrap().unwrap();
                for a in m.artifacts.values() {
                    self.cas.get_artifact(a).unwrap();
                }
            }
            for a in self.meta.attempts_of_run(&run.run_id).unwrap() {
                a.read_log(&self.cas, false).unwrap().unwrap();
            }
        }
    }
}

fn keep_last(n: usize) -> Retention {
    Retention {
        keep_last: Some(n),
        ..Retention::default()
    }
}

#[test]
fn removes_old_runs_and_what_only_they_reach_keeping_shared_and_reused_blobs() {
    let s = Store::new();
    s.run("r1", 9, &[b"only r1"], false, None); // layout 1: manifest blob
    s.run("r2", 8, &[b"shared", b"only r2"], true, None);
    s.run("r3", 7, &[b"reused from r3"], true, None);
    s.run("r4", 6, &[b"only r4"], true, None);
    s.run("r5", 5, &[b"shared"], true, None);
    s.run("r6", 4, &[b"reused from r3"], true, Some("r3"));
    s.cas
        .backend()
        .put_if_absent("tasks-v1/r1/1-0", b"description")
        .unwrap();
    s.cas
        .backend()
        .put_if_absent("live/r2/1-0.stdout", b"o")
        .unwrap();
    s.cas
        .backend()
        .put_if_absent("blobs-v2/xx/future", b"another layout")
        .unwrap();
    s.age_all(3);
    let garbage = s.cas.put(b"nobody's").unwrap();
    s.age_all(3);
    let fresh = s.cas.put(b"written just now, not recorded yet").unwrap();

    let dry = s.gc(keep_last(2), true);
    assert!(dry.dry_run);
    let removed: Vec<&str> = dry.runs_removed.iter().map(|r| r.run_id.as_str()).collect();
    // r6 reuses r3's task, so r3 stays.
    assert_eq!(removed, ["r4", "r2", "r1"]);
    assert_eq!(
        s.meta.runs(None).unwrap().len(),
        6,
        "a dry run removes nothing"
    );
    assert!(s.has(garbage));

    let report = s.gc(keep_last(2), false);
    assert_eq!(report.runs_removed.len(), 3);
    assert_eq!(report.runs_kept, 3);
    // r1: artifact, manifest blob, log; r2: one artifact, log; r4: artifact, log; garbage,
    // and the log the helper stored for r6 but did not record (r6 reused its task).
    assert_eq!(report.blobs_removed, 9, "{report:#?}");
    assert_eq!(dry.blobs_removed, report.blobs_removed);
    assert_eq!(
        report.other_removed, 2,
        "r1's description and r2's live log"
    );
    assert_eq!(report.blobs_recent, 1);
    assert_eq!(report.left_alone["blobs-v2/"], 1);
    assert!(report.missing.is_empty());
    let ids: Vec<String> = s
        .meta
        .runs(None)
        .unwrap()
        .into_iter()
        .map(|r| r.run_id)
        .collect();
    assert_eq!(ids, ["r6", "r5", "r3"]);
    for gone in [&b"only r1"[..], b"only r2", b"only r4"] {
        assert!(!s.has(s.artifact(gone)));
    }
    assert!(s.has(s.artifact(b"shared")) && s.has(s.artifact(b"reused from r3")));
    assert!(!s.has(garbage) && s.has(fresh));
    assert!(!s.dir.path().join("tasks-v1/r1").exists());
    assert!(!s.dir.path().join("live/r2").exists());
    s.kept_runs_read_back();

    // A second collection finds nothing more to do.
    let again = s.gc(keep_last(2), false);
    assert!(again.runs_removed.is_empty());
    assert_eq!(again.blobs_removed + again.other_removed, 0);
    s.kept_runs_read_back();
}

#[test]
fn without_a_rule_only_garbage_goes_and_a_rule_can_remove_every_run() {
    let s = Store::new();
    s.run("r1", 9, &[b"a"], true, None);
    s.run("r2", 8, &[b"b"], true, None);
    let garbage = s.cas.put(b"left by a killed run").unwrap();
    s.age_all(2);
    let report = s.gc(Retention::default(), false);
    assert!(report.runs_removed.is_empty());
    assert_eq!(report.blobs_removed, 1);
    assert!(!s.has(garbage));
    s.kept_runs_read_back();

    let all = Retention {
        older_than: Some(Duration::from_secs(86_400)),
        ..Retention::default()
    };
    let options = Options {
        retention: all.clone(),
        grace: DEFAULT_GRACE,
        records_in_store: false,
        policy: vec![],
    };
    let prepared = prepare(&s.meta, &s.cas, options.clone(), &mut |_| {}).unwrap();
    assert!(prepared.removes_every_run());
    let tagged = Retention {
        keep_tagged: vec!["gold".into()],
        ..all
    };
    s.meta.add_tags("r1", &["gold".into()]).unwrap();
    let options = Options {
        retention: tagged,
        ..options
    };
    let prepared = prepare(&s.meta, &s.cas, options, &mut |_| {}).unwrap();
    assert!(!prepared.removes_every_run());
    assert_eq!(prepared.kept()["r1"], Keep::Tagged("gold".into()));
    let report = prepared.execute(false, &mut |_| {}).unwrap();
    assert_eq!(report.runs_removed.len(), 1);
    assert!(s.has(s.artifact(b"a")) && !s.has(s.artifact(b"b")));
    s.kept_runs_read_back();
}

#[test]
fn a_damaged_manifest_of_a_kept_run_stops_the_collection_before_anything_goes() {
    let s = Store::new();
    s.run("r1", 9, &[b"a"], false, None);
    s.run("r2", 8, &[b"b"], true, None);
    s.age_all(2);
    let task = s.meta.task("r1", 1).unwrap().unwrap();
    let path = s.dir.path().join(Cas::blob_key(&task.manifest.unwrap()));
    std::fs::write(&path, b"damaged").unwrap();
    let options = Options {
        retention: Retention::default(),
        grace: DEFAULT_GRACE,
        records_in_store: false,
        policy: vec![],
    };
    let err = match prepare(&s.meta, &s.cas, options, &mut |_| {}) {
        Err(e) => e,
        Ok(_) => panic!("a damaged manifest must stop the collection"),
    };
    assert!(
        err.to_string().contains("manifest of task 1 of run `r1`"),
        "{err}"
    );
    assert_eq!(s.meta.runs(None).unwrap().len(), 2);
    assert!(s.has(s.artifact(b"a")));
}

#[test]
fn what_a_deployment_runs_stays_and_a_removed_runs_deploy_objects_go() {
    let s = Store::new();
    s.run("r1", 9, &[b"a"], true, None);
    s.run("r2", 8, &[b"b"], true, None);
    let code = s.cas.put(b"\0asm deployed, not run yet").unwrap();
    let step = s.cas.put(b"\0asm another deployed component").unwrap();
    let deployment = serde_json::json!({
        "version": 1, "name": "nightly", "code": code, "components": { "start": step },
        "spec": {}, "sandboxes": {}, "params": {}, "max_tasks": 10, "user": "", "created_ms": 0,
    });
    let backend = s.cas.backend();
    let key = format!("deploy-v1/deployments/nightly/{}", Digest::of(b"d"));
    backend
        .put_if_absent(&key, deployment.to_string().as_bytes())
        .unwrap();
    for run in ["r1", "r2"] {
        let params = format!("deploy-v1/runs/{run}/params");
        backend.put_if_absent(&params, b"{}").unwrap();
    }
    s.age_all(2);
    let report = s.gc(keep_last(1), false);
    assert_eq!(report.runs_removed.len(), 1);
    assert!(s.has(code) && s.has(step));
    assert!(!s.has(s.artifact(b"a")));
    assert!(backend.exists(&key).unwrap());
    assert!(!backend.exists("deploy-v1/runs/r1/params").unwrap());
    assert!(backend.exists("deploy-v1/runs/r2/params").unwrap());
    assert!(report.left_alone.is_empty(), "{:?}", report.left_alone);

    // A deployment that cannot be read stops the collection before anything goes.
    backend
        .put_if_absent("deploy-v1/deployments/broken/x", b"not json")
        .unwrap();
    let options = Options {
        retention: keep_last(0),
        grace: DEFAULT_GRACE,
        records_in_store: false,
        policy: vec![],
    };
    let err = match prepare(&s.meta, &s.cas, options, &mut |_| {}) {
        Err(e) => e,
        Ok(_) => panic!("an unreadable deployment must stop the collection"),
    };
    assert!(
        err.to_string().contains("deploy-v1/deployments/broken/x"),
        "{err}"
    );
    assert_eq!(s.meta.runs(None).unwrap().len(), 1);
}
