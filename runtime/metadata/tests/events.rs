//! Events that cannot be recorded: clear errors, atomic batches, and the recorder reporting them.

mod common;

use std::sync::Arc;

use common::*;
use wflow_metadata::{Event, Metadata, MetadataError, Recorder, Status};

#[test]
fn record_is_all_or_nothing_and_names_the_missing_run() {
    let meta = Metadata::open_in_memory().unwrap();
    let err = meta
        .record(&[
            run_started("R", "F", 1),
            task_started("nope", 1, "start", &[], &[]),
        ])
        .unwrap_err();
    assert!(
        matches!(&err, MetadataError::UnknownRun { run_id, .. } if run_id == "nope"),
        "{err}"
    );
    assert!(
        err.to_string().contains("run `nope` is not recorded"),
        "{err}"
    );
    // The run in the same batch was rolled back with it.
    assert!(meta.run("R").unwrap().is_none());
}

#[test]
fn each_kind_of_bad_event_is_named() {
    let meta = Metadata::open_in_memory().unwrap();
    meta.record(&[run_started("R", "F", 1)]).unwrap();
    meta.record(&simple_task("R", 1, "start")).unwrap();

    let err = meta.record(&[run_started("R", "F", 2)]).unwrap_err();
    assert!(
        matches!(&err, MetadataError::AlreadyRecorded { what, .. } if what == "run `R`"),
        "{err}"
    );
    let err = meta
        .record(&[task_started("R", 1, "start", &[], &[])])
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("task 1 of run `R` is already recorded"),
        "{err}"
    );
    let err = meta.record(&[attempt_started("R", 1, 0)]).unwrap_err();
    assert!(
        err.to_string()
            .contains("attempt 0 of task 1 of run `R` is already"),
        "{err}"
    );

    let err = meta.record(&[attempt_started("R", 2, 0)]).unwrap_err();
    assert!(
        matches!(err, MetadataError::UnknownTask { task_id: 2, .. }),
        "{err}"
    );
    let err = meta
        .record(&[attempt_finished("R", 1, 5, Status::Failed)])
        .unwrap_err();
    assert!(
        matches!(
            err,
            MetadataError::UnknownAttempt {
                task_id: 1,
                attempt: 5,
                ..
            }
        ),
        "{err}"
    );
    let err = meta
        .record(&[task_finished("R", 9, Status::Failed)])
        .unwrap_err();
    assert!(
        matches!(err, MetadataError::UnknownTask { task_id: 9, .. }),
        "{err}"
    );
    let err = meta
        .record(&[run_finished("Q", Status::Failed, 3)])
        .unwrap_err();
    assert!(
        matches!(&err, MetadataError::UnknownRun { run_id, .. } if run_id == "Q"),
        "{err}"
    );
    let err = meta
        .record(&[task_started("Q", 1, "start", &[], &[])])
        .unwrap_err();
    assert!(
        matches!(&err, MetadataError::UnknownRun { run_id, .. } if run_id == "Q"),
        "{err}"
    );

    // Layout 2's manifest and logs of a task or attempt never recorded.
    let err = meta
        .record(&[Event::TaskManifest {
            run_id: "R".into(),
            task_id: 7,
            manifest: vec![1],
        }])
        .unwrap_err();
    assert!(
        matches!(err, MetadataError::UnknownTask { task_id: 7, .. }),
        "{err}"
    );
    let err = meta
        .record(&[Event::AttemptLogs {
            run_id: "R".into(),
            task_id: 1,
            attempt: 4,
            stdout: Some(b"x".to_vec()),
            stderr: None,
        }])
        .unwrap_err();
    assert!(
        matches!(
            err,
            MetadataError::UnknownAttempt {
                task_id: 1,
                attempt: 4,
                ..
            }
        ),
        "{err}"
    );

    // The failed attempt start did not bump the attempt count.
    assert_eq!(meta.task("R", 1).unwrap().unwrap().attempts, 1);
    assert_eq!(err.path().to_str(), Some(":memory:"));
}

#[test]
fn a_task_id_beyond_sqlite_integers_is_an_error_not_a_wrap() {
    let meta = Metadata::open_in_memory().unwrap();
    meta.record(&[run_started("R", "F", 1)]).unwrap();
    let err = meta
        .record(&[task_started("R", u64::MAX, "start", &[], &[])])
        .unwrap_err();
    assert!(matches!(err, MetadataError::Sqlite { .. }), "{err}");
    assert!(
        err.to_string()
            .contains(&format!("task {} of run `R`", u64::MAX)),
        "{err}"
    );
}

#[test]
fn recorder_flush_surfaces_a_bad_event_and_keeps_the_good_ones() {
    let dir = tempfile::tempdir().unwrap();
    let meta = Arc::new(Metadata::open(&dir.path().join("m.db")).unwrap());
    let recorder = Recorder::new(meta.clone());
    recorder.send(run_started("R", "F", 1));
    recorder.send(task_started("ghost", 1, "start", &[], &[]));
    recorder.send(task_finished("R", 7, Status::Succeeded));
    for e in simple_task("R", 1, "start") {
        recorder.send(e);
    }
    let err = recorder.flush().unwrap_err();
    // Whichever batch boundaries the writer chose, the first failure is the ghost run.
    assert!(
        matches!(&err, MetadataError::UnknownRun { run_id, .. } if run_id == "ghost"),
        "{err}"
    );
    assert!(err.to_string().contains("m.db"), "{err}");
    // The good events around the bad ones were recorded.
    assert!(meta.run("R").unwrap().is_some());
    assert_eq!(
        meta.task("R", 1).unwrap().unwrap().status,
        Status::Succeeded
    );
    assert!(meta.task("ghost", 1).unwrap().is_none());

    // Each error is reported once; later events go on being written.
    recorder.flush().unwrap();
    recorder.send(run_finished("R", Status::Succeeded, 9));
    recorder.flush().unwrap();
    assert_eq!(meta.run("R").unwrap().unwrap().status, Status::Succeeded);

    // An error not flushed is returned by close.
    recorder.send(run_finished("nobody", Status::Failed, 9));
    let err = recorder.close().unwrap_err();
    assert!(
        matches!(&err, MetadataError::UnknownRun { run_id, .. } if run_id == "nobody"),
        "{err}"
    );
}

#[test]
fn dropping_a_recorder_writes_what_was_sent() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.db");
    {
        let recorder = Recorder::new(Arc::new(Metadata::open(&path).unwrap()));
        recorder.send(run_started("R", "F", 1));
        for t in 1..=50 {
            for e in simple_task("R", t, "start") {
                recorder.send(e);
            }
        }
    }
    let meta = Metadata::open(&path).unwrap();
    assert_eq!(meta.tasks("R").unwrap().len(), 50);
}

#[test]
fn recorder_is_shared_between_threads() {
    let meta = Arc::new(Metadata::open_in_memory().unwrap());
    let recorder = Arc::new(Recorder::new(meta.clone()));
    recorder.send(run_started("R", "F", 1));
    recorder.flush().unwrap();
    let threads: Vec<_> = (0..4u64)
        .map(|n| {
            let recorder = recorder.clone();
            std::thread::spawn(move || {
                for t in 0..100 {
                    for e in simple_task("R", n * 1000 + t, "fan") {
                        recorder.send(e);
                    }
                }
                recorder.flush().unwrap();
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(meta.tasks("R").unwrap().len(), 400);
    Arc::into_inner(recorder).unwrap().close().unwrap();
}

#[test]
fn record_skipping_failures_keeps_the_good_events_of_a_batch() {
    let meta = Metadata::open_in_memory().unwrap();
    let mut events = vec![
        run_started("R", "F", 1),
        task_started("ghost", 1, "s", &[], &[]),
    ];
    events.extend(simple_task("R", 1, "start"));
    events.push(run_finished("ghost", Status::Failed, 2));
    let err = meta.record_skipping_failures(&events).unwrap_err();
    assert!(
        matches!(&err, MetadataError::UnknownRun { run_id, .. } if run_id == "ghost"),
        "{err}"
    );
    assert_eq!(meta.task("R", 1).unwrap().unwrap().attempts, 1);
    assert!(meta.run("ghost").unwrap().is_none());
    meta.record_skipping_failures(&[run_finished("R", Status::Succeeded, 3)])
        .unwrap();
}
