//! Opening files: reopening, files that are not ours, missing directories, several handles.

mod common;

use std::sync::{Arc, Barrier};

use common::*;
use wflow_metadata::{Metadata, MetadataError, Recorder, SCHEMA_VERSION, Status};

#[test]
fn reopen_after_drop_keeps_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.db");
    {
        let meta = Metadata::open(&path).unwrap();
        assert_eq!(meta.path(), path);
        meta.record(&[run_started("R", "F", 1)]).unwrap();
        meta.record(&simple_task("R", 1, "start")).unwrap();
    }
    let meta = Metadata::open(&path).unwrap();
    assert_eq!(meta.run("R").unwrap().unwrap().flow, "F");
    assert_eq!(meta.tasks("R").unwrap().len(), 1);
    meta.record(&[run_finished("R", Status::Succeeded, 5)])
        .unwrap();
    drop(meta);

    let conn = rusqlite::Connection::open(&path).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!((mode.as_str(), version), ("wal", SCHEMA_VERSION));
    let status: String = conn
        .query_row("SELECT status FROM runs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(status, "succeeded");
}

#[test]
fn a_file_that_is_not_sqlite_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("garbage.db");
    let garbage: Vec<u8> = (0..8192u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&path, &garbage).unwrap();
    let err = Metadata::open(&path).unwrap_err();
    assert!(
        matches!(&err, MetadataError::NotADatabase { path: p } if p == &path),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains(path.to_str().unwrap()) && msg.contains("not SQLite"),
        "{msg}"
    );

    // A short text file too, and the file is left alone.
    std::fs::write(&path, "these are my notes, not a database\n").unwrap();
    let err = Metadata::open(&path).unwrap_err();
    assert!(matches!(err, MetadataError::NotADatabase { .. }), "{err}");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "these are my notes, not a database\n"
    );
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.db");
    drop(Metadata::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 41)
        .unwrap();
    drop(conn);

    let err = Metadata::open(&path).unwrap_err();
    match &err {
        MetadataError::SchemaTooNew {
            path: p,
            found,
            supported,
        } => {
            assert_eq!(
                (p, *found, *supported),
                (&path, SCHEMA_VERSION + 41, SCHEMA_VERSION)
            );
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains(path.to_str().unwrap()) && msg.contains("upgrade wflow"),
        "{msg}"
    );
}

#[test]
fn a_missing_directory_is_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let parent = dir.path().join("no").join("such");
    let path = parent.join("meta.db");
    let err = Metadata::open(&path).unwrap_err();
    assert!(
        matches!(&err, MetadataError::MissingParent { parent: p, .. } if p == &parent),
        "{err}"
    );
    assert!(err.to_string().contains(parent.to_str().unwrap()), "{err}");
    assert!(!parent.exists());
}

#[test]
fn a_directory_in_place_of_the_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let err = Metadata::open(dir.path()).unwrap_err();
    assert_eq!(err.path(), dir.path());
    assert!(
        err.to_string().contains(dir.path().to_str().unwrap()),
        "{err}"
    );
}

#[test]
fn two_handles_on_one_file_write_from_two_threads() {
    let dir = tempfile::tempdir().unwrap();
    let path = Arc::new(dir.path().join("shared.db"));
    // Both open the new file at the same moment, then write many small transactions each.
    let barrier = Arc::new(Barrier::new(2));
    let threads: Vec<_> = ["A", "B"]
        .into_iter()
        .map(|flow| {
            let (path, barrier) = (path.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let meta = Metadata::open(&path).unwrap();
                for r in 0..20 {
                    let run = format!("{flow}{r:02}");
                    meta.record(&[run_started(&run, flow, r)]).unwrap();
                    for t in 0..10 {
                        meta.record(&simple_task(&run, t, "start")).unwrap();
                    }
                    // Reads in between see a consistent state.
                    assert_eq!(meta.tasks(&run).unwrap().len(), 10);
                    meta.record(&[run_finished(&run, Status::Succeeded, r + 1)])
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let meta = Metadata::open(&path).unwrap();
    assert_eq!(meta.flows().unwrap(), ["A", "B"]);
    for flow in ["A", "B"] {
        let runs = meta.runs(Some(flow)).unwrap();
        assert_eq!(runs.len(), 20);
        assert!(runs.iter().all(|r| r.status == Status::Succeeded));
        assert_eq!(runs[0].run_id, format!("{flow}19"));
        assert!(
            runs.iter()
                .all(|r| meta.tasks(&r.run_id).unwrap().len() == 10)
        );
    }
}

#[test]
fn two_recorders_on_two_handles_share_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let recorders: Vec<Recorder> = (0..2)
        .map(|_| Recorder::new(Arc::new(Metadata::open(&path).unwrap())))
        .collect();
    for (n, rec) in recorders.iter().enumerate() {
        rec.send(run_started(&format!("R{n}"), "F", n as i64));
    }
    for t in 0..300 {
        for (n, rec) in recorders.iter().enumerate() {
            for e in simple_task(&format!("R{n}"), t, "fan") {
                rec.send(e);
            }
        }
    }
    for rec in recorders {
        rec.close().unwrap();
    }
    let meta = Metadata::open(&path).unwrap();
    assert_eq!(meta.tasks("R0").unwrap().len(), 300);
    assert_eq!(meta.tasks("R1").unwrap().len(), 300);
    assert_eq!(meta.runs(None).unwrap().len(), 2);
}
