//! Records as objects in a store (`ObjectMetadata`), checked against the SQLite file: the same
//! events give the same records, the same refusals, and two handles on one store (two machines on
//! one bucket) see each other's runs.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use common::*;
use wflow_metadata::{
    Event, Metadata, MetadataError, MetadataStore, ObjectMetadata, RECORDS_PREFIX, Recorder,
    RunFilter, RunKind, Status,
};
use wflow_store::{BlobStore, LocalDisk};

fn objects(dir: &std::path::Path) -> (Arc<dyn BlobStore>, ObjectMetadata) {
    let store: Arc<dyn BlobStore> = Arc::new(LocalDisk::open(dir).unwrap());
    let meta = ObjectMetadata::new(store.clone(), dir.join(RECORDS_PREFIX));
    (store, meta)
}

/// Two runs of two flows; the second with a retried task, the first finished.
fn scenario() -> Vec<Event> {
    let mut ev = vec![run_started("R1", "Hello", 100)];
    ev.extend(simple_task("R1", 1, "start"));
    ev.extend(simple_task("R1", 2, "end"));
    ev.push(run_finished("R1", Status::Succeeded, 200));
    ev.push(run_started("R2", "Fan", 300));
    ev.push(task_started("R2", 1, "fan", &[0], &[]));
    ev.push(attempt_started("R2", 1, 0));
    ev.push(attempt_finished("R2", 1, 0, Status::Failed));
    ev.push(attempt_started("R2", 1, 1));
    // Layout 2: small logs and the manifest kept in the records.
    ev.push(Event::AttemptLogs {
        run_id: "R2".into(),
        task_id: 1,
        attempt: 1,
        stdout: Some(b"out\n".to_vec()),
        stderr: None,
    });
    ev.push(attempt_finished("R2", 1, 1, Status::Succeeded));
    ev.push(Event::TaskManifest {
        run_id: "R2".into(),
        task_id: 1,
        manifest: vec![0xa2, 0, 1],
    });
    ev.push(task_finished("R2", 1, Status::Succeeded));
    ev.push(task_started("R2", 2, "fan", &[1], &[]));
    // A resume of R1: `start` reused, its foreach items recorded, `end` run again.
    let mut resumed = run_started("R3", "Hello", 400);
    if let Event::RunStarted { origin_run, .. } = &mut resumed {
        *origin_run = Some("R1".into());
    }
    ev.push(resumed);
    ev.push(task_started("R3", 1, "start", &[], &[]));
    ev.push(Event::TaskReused {
        run_id: "R3".into(),
        task_id: 1,
        origin_run: "R1".into(),
        origin_task: 1,
        manifest: manifest(1),
        finished_ms: 401,
        component: Some(manifest(77)),
        reason: Default::default(),
    });
    ev.push(Event::ForeachItems {
        run_id: "R3".into(),
        task_id: 1,
        items: manifest(99),
    });
    ev.extend(simple_task("R3", 2, "end"));
    ev.push(run_finished("R3", Status::Failed, 500));
    ev
}

/// Tags added and removed the same way on any backend.
fn tag(m: &dyn MetadataStore) {
    let t = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        m.add_tags("R1", &t(&["nightly", "prod", "nightly"]))
            .unwrap(),
        2
    );
    assert_eq!(m.add_tags("R3", &t(&["nightly"])).unwrap(), 1);
    assert_eq!(
        m.add_tags("R3", &t(&["nightly"])).unwrap(),
        0,
        "already there"
    );
    assert_eq!(m.add_tags("R2", &t(&["gone"])).unwrap(), 1);
    assert_eq!(m.remove_tags("R2", &t(&["gone", "never"])).unwrap(), 1);
    assert!(matches!(
        m.add_tags("nope", &t(&["x"])),
        Err(MetadataError::UnknownRun { .. })
    ));
    assert!(matches!(
        m.add_tags("R1", &t(&["bad\ntag"])),
        Err(MetadataError::InvalidTag { .. })
    ));
}

fn snapshot(m: &dyn MetadataStore) -> serde_json::Value {
    let runs = m.runs(None).unwrap();
    let mut out = serde_json::json!({ "runs": runs, "flows": m.flows().unwrap() });
    for r in &runs {
        let tasks = m.tasks(&r.run_id).unwrap();
        let attempts: Vec<_> = tasks
            .iter()
            .map(|t| m.attempts(&r.run_id, t.task_id).unwrap())
            .collect();
        out[&r.run_id] = serde_json::json!({ "tasks": tasks, "attempts": attempts });
    }
    out["fan"] = serde_json::json!(m.runs(Some("Fan")).unwrap());
    out["task"] = serde_json::json!(m.task("R2", 1).unwrap());
    out["stats"] = serde_json::json!(m.step_stats("R3").unwrap());
    out["of_step"] = serde_json::json!(m.tasks_of_step("R3", "end").unwrap());
    out["of_item"] = serde_json::json!([
        m.task_of_item("R2", "fan", &[1]).unwrap(),
        m.task_of_item("R2", "fan", &[0]).unwrap(),
        m.task_of_item("R2", "fan", &[5]).unwrap(),
        m.task_of_item("R2", "start", &[1]).unwrap(),
        m.task_of_item("R3", "start", &[]).unwrap(),
    ]);
    out["tags"] = serde_json::json!([m.tags("R1").unwrap(), m.tags("R2").unwrap()]);
    out["all_tags"] = serde_json::json!(m.all_tags().unwrap());
    out["ids"] = serde_json::json!(m.run_ids("Hello").unwrap());
    let nightly = RunFilter {
        tags: vec!["nightly".into()],
        flow: Some("Hello".into()),
        ..RunFilter::default()
    };
    out["nightly"] = serde_json::json!(m.find_runs(&nightly).unwrap());
    out["count"] = serde_json::json!(m.count_runs(&nightly).unwrap());
    let page = RunFilter {
        limit: Some(1),
        offset: 1,
        skip_spec: true,
        ..RunFilter::default()
    };
    out["page"] = serde_json::json!(m.find_runs(&page).unwrap());
    // Started at or after 300, before 400: R2 only (R1 at 100, R3 at 400).
    let window = RunFilter {
        since_ms: Some(300),
        until_ms: Some(400),
        ..RunFilter::default()
    };
    out["window"] = serde_json::json!(m.find_runs(&window).unwrap());
    out["window_count"] = serde_json::json!(m.count_runs(&window).unwrap());
    out["latest_ok"] = serde_json::json!(m.latest_run("Hello", Some(Status::Succeeded)).unwrap());
    out
}

#[test]
fn same_events_same_records_as_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Metadata::open_in_memory().unwrap();
    let (_, objects) = objects(dir.path());
    for batch in scenario().chunks(3) {
        sqlite.record(batch).unwrap();
        MetadataStore::record(&objects, batch).unwrap();
    }
    tag(&sqlite);
    tag(&objects);
    let snap = snapshot(&objects);
    assert_eq!(snapshot(&sqlite), snap);
    assert_eq!(snap["of_item"][0]["task_id"], 2);
    assert!(snap["of_item"][2].is_null() && snap["of_item"][3].is_null());
    assert_eq!(snap["of_item"][4]["task_id"], 1);
    assert_eq!(snap["nightly"].as_array().unwrap().len(), 2, "{snap:#}");
    assert_eq!(snap["window"].as_array().unwrap().len(), 1, "{snap:#}");
    assert_eq!(snap["window"][0]["run_id"], "R2");
    assert_eq!(snap["window_count"], 1);
    assert_eq!(snap["R3"]["tasks"][0]["origin_task"], 1);
    assert_eq!(snap["R3"]["tasks"][0]["component"], manifest(77).to_hex());
    assert_eq!(snap["R2"]["tasks"][0]["manifest_bytes"], "ogAB", "{snap:#}");
    assert_eq!(snap["R2"]["attempts"][0][1]["stdout_bytes"], "b3V0Cg==");
    assert!(snap["R1"]["tasks"][0].get("manifest_bytes").is_none());
    assert_eq!(snap["stats"][1]["reused"], 1, "{snap:#}");
    assert_eq!(objects.runs(None).unwrap()[0].run_id, "R3", "newest first");
    assert!(objects.run("nope").unwrap().is_none());
    assert!(objects.tasks("nope").unwrap().is_empty());
}

#[test]
fn refuses_what_sqlite_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let (_, m) = objects(dir.path());
    m.record(&[run_started("R", "F", 1)]).unwrap();
    let err = m
        .record(&[task_started("X", 1, "s", &[], &[])])
        .unwrap_err();
    assert!(
        matches!(err, MetadataError::UnknownRun { ref run_id, .. } if run_id == "X"),
        "{err}"
    );
    let err = m.record(&[attempt_started("R", 9, 0)]).unwrap_err();
    assert!(
        matches!(err, MetadataError::UnknownTask { task_id: 9, .. }),
        "{err}"
    );
    let err = m.record(&[run_started("R", "F", 2)]).unwrap_err();
    assert!(
        matches!(err, MetadataError::AlreadyRecorded { .. }),
        "{err}"
    );
    m.record(&[task_started("R", 1, "s", &[], &[])]).unwrap();
    let err = m
        .record(&[attempt_finished("R", 1, 3, Status::Failed)])
        .unwrap_err();
    assert!(
        matches!(err, MetadataError::UnknownAttempt { attempt: 3, .. }),
        "{err}"
    );

    // All or nothing: a bad event fails the whole call and nothing of it is written.
    let err = m
        .record(&[
            task_started("R", 2, "s", &[], &[]),
            task_started("R", 1, "s", &[], &[]),
        ])
        .unwrap_err();
    assert!(
        matches!(err, MetadataError::AlreadyRecorded { .. }),
        "{err}"
    );
    assert_eq!(m.tasks("R").unwrap().len(), 1);

    // Skipping failures keeps the good ones and reports the first bad one.
    let err = m
        .record_skipping_failures(&[
            task_started("R", 2, "s", &[], &[]),
            task_started("Y", 1, "s", &[], &[]),
            attempt_started("R", 2, 0),
        ])
        .unwrap_err();
    assert!(matches!(err, MetadataError::UnknownRun { .. }), "{err}");
    let tasks = m.tasks("R").unwrap();
    assert_eq!((tasks.len(), tasks[1].attempts), (2, 1));
}

#[test]
fn two_handles_on_one_store_see_each_others_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (_, a) = objects(dir.path());
    let (_, b) = objects(dir.path());
    a.record(&[run_started("RA", "F", 1)]).unwrap();
    b.record(&[run_started("RB", "F", 2)]).unwrap();
    // b continues a's run: it reads the run first, then checks against it.
    b.record(&simple_task("RA", 1, "start")).unwrap();
    a.record(&[run_finished("RA", Status::Succeeded, 5)])
        .unwrap();
    for m in [&a, &b] {
        let runs = m.runs(Some("F")).unwrap();
        assert_eq!(runs.len(), 2);
        let ra = m.run("RA").unwrap().unwrap();
        assert_eq!((ra.status, ra.finished_ms), (Status::Succeeded, Some(5)));
        assert_eq!(m.task("RA", 1).unwrap().unwrap().status, Status::Succeeded);
    }
    // A third handle that wrote nothing reads the same.
    let (_, c) = objects(dir.path());
    assert_eq!(snapshot(&a), snapshot(&c));
}

/// Objects are written once, so a handle following a running run (`deploy trigger --wait`, the
/// UI) reads each task batch once: after its first read, the batch it saw is replaced by garbage
/// behind its back and it still folds it as read, while a fresh handle reads it and warns.
#[test]
fn following_a_running_run_reads_each_batch_once() {
    let dir = tempfile::tempdir().unwrap();
    let (store, a) = objects(dir.path());
    let (_, b) = objects(dir.path());
    a.record(&[run_started("R", "Fan", 100)]).unwrap();
    a.record(&[task_started("R", 1, "fan", &[0], &[])]).unwrap();
    assert_eq!(b.tasks("R").unwrap().len(), 1);
    let keys = store.list(&format!("{RECORDS_PREFIX}tasks/R/")).unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let file = dir.path().join(&keys[0]);
    assert!(file.is_file(), "{}", file.display());
    std::fs::write(&file, b"not a batch").unwrap();
    a.record(&[task_started("R", 2, "fan", &[1], &[])]).unwrap();
    assert_eq!(b.tasks("R").unwrap().len(), 2);
    assert!(b.take_warnings().is_empty());
    let (_, c) = objects(dir.path());
    assert_eq!(c.tasks("R").unwrap().len(), 1);
    let warnings = c.take_warnings();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("not a batch of task records")),
        "{warnings:?}"
    );
}

#[test]
fn a_recorder_batches_events_into_few_objects() {
    let dir = tempfile::tempdir().unwrap();
    let (store, m) = objects(dir.path());
    let m = Arc::new(m);
    let recorder = Recorder::new(m.clone());
    recorder.send(run_started("R", "Fan", 1));
    for i in 0..500u64 {
        for e in simple_task("R", i + 1, "fan") {
            recorder.send(e);
        }
    }
    recorder.send(run_finished("R", Status::Succeeded, 9));
    recorder.close().unwrap();
    let objects = store.list(RECORDS_PREFIX).unwrap();
    assert!(
        objects.len() <= 6,
        "{} objects for 2,002 events: {objects:?}",
        objects.len()
    );
    let tasks = m.tasks("R").unwrap();
    assert_eq!(tasks.len(), 500);
    assert!(
        tasks
            .iter()
            .all(|t| t.status == Status::Succeeded && t.attempts == 1)
    );
}

/// A persisted step-run (one task run again, a partial run that succeeded) is never the flow's
/// latest run, successful or not; it is listed, and asked for by kind. The same in both homes.
#[test]
fn a_step_run_is_never_the_latest_run() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Metadata::open_in_memory().unwrap();
    let (_, objects) = objects(dir.path());
    let mut step_run = run_started("S", "Hello", 900);
    if let Event::RunStarted {
        origin_run, kind, ..
    } = &mut step_run
    {
        *origin_run = Some("R1".into());
        *kind = RunKind::StepRun;
    }
    let mut events = scenario();
    events.push(step_run);
    events.extend(simple_task("S", 1, "end"));
    events.push(run_finished("S", Status::Succeeded, 950));
    for m in [&sqlite as &dyn MetadataStore, &objects] {
        m.record(&events).unwrap();
        let newest = |status| m.latest_run("Hello", status).unwrap().unwrap().run_id;
        assert_eq!(newest(None), "R3", "{}", m.path().display());
        assert_eq!(newest(Some(Status::Succeeded)), "R1");
        let all = m.runs(Some("Hello")).unwrap();
        assert_eq!(
            (all[0].run_id.as_str(), all[0].kind),
            ("S", RunKind::StepRun)
        );
        assert_eq!(all[1].kind, RunKind::Run);
        let asked = RunFilter {
            kind: Some(RunKind::StepRun),
            ..RunFilter::default()
        };
        let found: Vec<String> = m
            .find_runs(&asked)
            .unwrap()
            .into_iter()
            .map(|r| r.run_id)
            .collect();
        assert_eq!(found, ["S"]);
        assert_eq!(m.count_runs(&asked).unwrap(), 1);
        assert_eq!(m.run("S").unwrap().unwrap().kind, RunKind::StepRun);
    }
}

/// A run start written before run kinds existed (no `kind` field) still reads, as a run.
#[test]
fn a_run_start_without_a_kind_reads_as_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let (store, objects) = objects(dir.path());
    let old = serde_json::json!({
        "v": 1, "flow": "Hello", "component": wflow_core::Digest::of(b"c"), "params": {},
        "spec": {}, "started_ms": 5, "origin_run": null, "user": "ada",
    });
    store
        .put_if_absent(
            &format!("{RECORDS_PREFIX}runs/OLD"),
            &serde_json::to_vec(&old).unwrap(),
        )
        .unwrap();
    let run = objects.run("OLD").unwrap().unwrap();
    assert_eq!((run.flow.as_str(), run.kind), ("Hello", RunKind::Run));
    assert_eq!(
        objects.latest_run("Hello", None).unwrap().unwrap().run_id,
        "OLD"
    );
}

/// A store that counts the reads made through it (GETs and LISTs), as S3 would bill them.
struct Counting {
    inner: LocalDisk,
    gets: AtomicUsize,
    lists: AtomicUsize,
}

impl Counting {
    /// (GETs, LISTs) since the last call.
    fn take(&self) -> (usize, usize) {
        (self.gets.swap(0, SeqCst), self.lists.swap(0, SeqCst))
    }
}

impl BlobStore for Counting {
    fn put_if_absent(&self, key: &str, bytes: &[u8]) -> wflow_store::Result<bool> {
        self.inner.put_if_absent(key, bytes)
    }
    fn put_file_if_absent(&self, key: &str, file: &std::path::Path) -> wflow_store::Result<bool> {
        self.inner.put_file_if_absent(key, file)
    }
    fn get(&self, key: &str) -> wflow_store::Result<Option<Vec<u8>>> {
        self.gets.fetch_add(1, SeqCst);
        self.inner.get(key)
    }
    fn open(&self, key: &str) -> wflow_store::Result<Option<Box<dyn std::io::Read + Send>>> {
        self.gets.fetch_add(1, SeqCst);
        self.inner.open(key)
    }
    fn exists(&self, key: &str) -> wflow_store::Result<bool> {
        self.inner.exists(key)
    }
    fn list(&self, prefix: &str) -> wflow_store::Result<Vec<String>> {
        self.lists.fetch_add(1, SeqCst);
        self.inner.list(prefix)
    }
    fn scratch_dir(&self) -> &std::path::Path {
        self.inner.scratch_dir()
    }
    fn summary(&self) -> String {
        self.inner.summary()
    }
}

/// A deployed run: the `start` job starts the run, then every foreach item is a job of its own,
/// a fresh process (handle) writing one task. Each job reads the run's start, the start job's
/// batch and its own task's objects: the same few reads for the last job as for the first, not
/// one GET per batch of the run so far (which made a 1,000-item foreach's jobs GET ~500,000
/// objects). The run then reads whole, with every job's task.
#[test]
fn a_job_appending_its_task_reads_a_few_objects_however_many_the_run_has() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Counting {
        inner: LocalDisk::open(dir.path()).unwrap(),
        gets: AtomicUsize::new(0),
        lists: AtomicUsize::new(0),
    });
    let handle = || ObjectMetadata::new(store.clone(), dir.path().join(RECORDS_PREFIX));
    let start = handle();
    let mut events = vec![run_started("R", "Fan", 1)];
    events.extend(simple_task("R", 1, "start"));
    start.record(&events).unwrap();
    let mut reads = Vec::new();
    for i in 0..200 {
        let job = handle();
        store.take();
        job.record(&simple_task("R", 100 + i, "fan")).unwrap();
        reads.push(store.take());
    }
    // The run's start and the start job's batch; the start job's batches and the task's own.
    assert_eq!(reads[0], (2, 2), "reads of the first job");
    assert!(reads.iter().all(|r| *r == reads[0]), "{reads:?}");

    // The checks a job makes against the other jobs' tasks and the start job's.
    let job = handle();
    for task in [1, 150] {
        let err = job
            .record(&[task_started("R", task, "fan", &[], &[])])
            .unwrap_err();
        assert!(
            matches!(err, MetadataError::AlreadyRecorded { ref what, .. } if what.contains(&format!("task {task} "))),
            "{err}"
        );
    }
    let err = job.record(&[attempt_started("R", 150, 0)]).unwrap_err();
    assert!(
        matches!(err, MetadataError::AlreadyRecorded { ref what, .. } if what.contains("attempt 0")),
        "{err}"
    );
    let err = job
        .record(&[attempt_finished("R", 150, 4, Status::Failed)])
        .unwrap_err();
    assert!(
        matches!(err, MetadataError::UnknownAttempt { attempt: 4, .. }),
        "{err}"
    );
    let err = job.record(&[attempt_started("R", 99, 0)]).unwrap_err();
    assert!(
        matches!(err, MetadataError::UnknownTask { task_id: 99, .. }),
        "{err}"
    );
    // A task's attempt retried in a new container (another handle) goes on from the first.
    let first = handle();
    first
        .record(&[
            task_started("R", 7, "fan", &[0], &[]),
            attempt_started("R", 7, 0),
        ])
        .unwrap();
    first
        .record(&[attempt_finished("R", 7, 0, Status::Failed)])
        .unwrap();
    let retry = handle();
    retry
        .record(&[
            attempt_started("R", 7, 1),
            attempt_finished("R", 7, 1, Status::Succeeded),
            task_finished("R", 7, Status::Succeeded),
        ])
        .unwrap();
    // All or nothing still: the call fails on its second event and keeps nothing of the first.
    let err = retry
        .record(&[
            task_started("R", 8, "fan", &[1], &[]),
            task_started("R", 7, "fan", &[0], &[]),
        ])
        .unwrap_err();
    assert!(
        matches!(err, MetadataError::AlreadyRecorded { .. }),
        "{err}"
    );
    retry
        .record(&[task_started("R", 8, "fan", &[1], &[])])
        .unwrap();
    let err = job
        .record(&[task_started("X", 1, "s", &[], &[])])
        .unwrap_err();
    assert!(matches!(err, MetadataError::UnknownRun { .. }), "{err}");

    let reader = handle();
    let tasks = reader.tasks("R").unwrap();
    assert_eq!(tasks.len(), 203, "start, 200 items, 7 and 8");
    let seven = reader.task("R", 7).unwrap().unwrap();
    assert_eq!((seven.status, seven.attempts), (Status::Succeeded, 2));
    assert_eq!(reader.attempts("R", 7).unwrap()[0].status, Status::Failed);
    assert_eq!(
        reader.task("R", 8).unwrap().unwrap().status,
        Status::Running
    );
    assert!(reader.take_warnings().is_empty());
}
