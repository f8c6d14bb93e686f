//! A file of schema version 10 holding every kind of record upgrades to the current version
//! (11: runs keyed by an integer, digests as bytes) and reads back exactly as before, and the
//! upgraded file takes new records.

mod common;

use std::path::Path;

use common::*;
use wflow_core::{CacheKey, Digest, TaskReads};
use wflow_metadata::{Event, Metadata, ReuseReason, SCHEMA_VERSION, Status, TaskQuery, TaskSort};

fn key(item: u8) -> CacheKey {
    CacheKey::new(&Digest::of(b"component"), "fan", Some(("cbor", &[item])))
}

/// Two runs between them holding every kind of record: a foreach split with its items, tasks
/// with their manifests and logs in the records, a task whose first attempt failed, cache
/// entries, a task taken from the cache (with its origin and component), one left running,
/// tags and step summaries.
fn record(meta: &Metadata) {
    let mut ev = vec![run_started("R1", "F", 100)];
    ev.extend(simple_task("R1", 1, "start"));
    ev.push(Event::ForeachItems {
        run_id: "R1".into(),
        task_id: 1,
        items: Digest::of(b"items"),
    });
    for i in 0..3u32 {
        let id = 2 + u64::from(i);
        ev.push(task_started("R1", id, "fan", &[i], &[1]));
        ev.push(attempt_started("R1", id, 0));
        if i == 1 {
            ev.push(attempt_finished("R1", id, 0, Status::Failed));
            ev.push(attempt_started("R1", id, 1));
        }
        let attempt = u32::from(i == 1);
        ev.push(Event::AttemptLogs {
            run_id: "R1".into(),
            task_id: id,
            attempt,
            stdout: Some(format!("item {i}\n").into_bytes()),
            stderr: None,
        });
        ev.push(attempt_finished("R1", id, attempt, Status::Succeeded));
        ev.push(Event::TaskManifest {
            run_id: "R1".into(),
            task_id: id,
            manifest: vec![0xa0, i as u8],
        });
        ev.push(task_finished("R1", id, Status::Succeeded));
        let mut reads = TaskReads {
            foreach_path: Some(vec![i]),
            ..Default::default()
        };
        reads.puts.insert("square".into());
        ev.push(Event::TaskReads {
            run_id: "R1".into(),
            task_id: id,
            key: key(i as u8),
            reads,
        });
    }
    ev.push(run_finished("R1", Status::Succeeded, 3_000));
    meta.record(&ev).unwrap();
    // Recorded in batches of their own, so some rows are updated rather than inserted whole.
    meta.record(&[
        run_started("R2", "F", 200),
        task_started("R2", 1, "fan", &[0], &[]),
    ])
    .unwrap();
    meta.record(&[Event::TaskReused {
        run_id: "R2".into(),
        task_id: 1,
        origin_run: "R1".into(),
        origin_task: 2,
        manifest: manifest(2),
        finished_ms: 2_500,
        component: Some(Digest::of(b"old code")),
        reason: ReuseReason::Cached,
    }])
    .unwrap();
    meta.record(&[
        task_started("R2", 2, "fan", &[1], &[]),
        attempt_started("R2", 2, 0),
    ])
    .unwrap();
    meta.add_tags("R1", &["kept".to_string()]).unwrap();
}

/// Everything the file answers, as text.
fn snapshot(meta: &Metadata) -> Vec<String> {
    let mut out = vec![format!("{:?}", meta.runs(None).unwrap())];
    for run in ["R1", "R2"] {
        out.push(format!("{:?}", meta.tags(run).unwrap()));
        out.push(format!("{:?}", meta.step_stats(run).unwrap()));
        out.push(format!("{:?}", meta.attempts_of_run(run).unwrap()));
        for task in meta.tasks(run).unwrap() {
            out.push(format!("{task:?}"));
            out.push(format!("{:?}", meta.attempts(run, task.task_id).unwrap()));
        }
        for sort in TaskSort::ALL {
            let q = TaskQuery {
                sort,
                desc: true,
                ..Default::default()
            };
            let page = meta.step_tasks(run, "fan", &q).unwrap();
            let ids: Vec<u64> = page.iter().map(|t| t.task_id).collect();
            out.push(format!("{sort}: {ids:?}"));
        }
        out.push(format!(
            "{:?}",
            meta.task_of_item(run, "fan", &[1]).unwrap()
        ));
    }
    let keys: Vec<CacheKey> = (0..4).map(key).collect();
    out.push(format!("{:?}", meta.cache_lookup(&keys, 16).unwrap()));
    out
}

fn column_type(path: &Path, sql: &str) -> String {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

#[test]
fn a_version_10_file_with_tasks_upgrades_and_reads_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.sqlite");
    let want = {
        let meta = Metadata::open(&path).unwrap();
        record(&meta);
        snapshot(&meta)
    };
    assert!(want.iter().any(|s| s.contains("cached: true")));
    to_version_10(&path);
    // The file is as version 10 kept it: runs named by id, digests as hex text.
    let sql = "SELECT typeof(run_id) || ' ' || typeof(manifest) FROM tasks WHERE task_id = 2 \
               AND run_id = 'R1'";
    assert_eq!(column_type(&path, sql), "text text");
    assert_eq!(
        column_type(&path, "SELECT typeof(scope) FROM task_cache"),
        "text"
    );

    let meta = Metadata::open(&path).unwrap();
    assert_eq!(snapshot(&meta), want);
    let sql = "SELECT typeof(run) || ' ' || typeof(manifest) FROM tasks WHERE task_id = 2 \
               AND run = (SELECT id FROM runs WHERE run_id = 'R1')";
    assert_eq!(column_type(&path, sql), "integer blob");
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    let fk: i64 = conn
        .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(fk, 0);
    drop(conn);

    // The upgraded file goes on: the running task ends, a new run's task is filed in the cache
    // and found beside the old entries; removing a run takes its rows along.
    meta.record(&[
        attempt_finished("R2", 2, 0, Status::Succeeded),
        task_finished("R2", 2, Status::Succeeded),
        Event::TaskReads {
            run_id: "R2".into(),
            task_id: 2,
            key: key(1),
            reads: TaskReads::default(),
        },
    ])
    .unwrap();
    let fan = &meta.step_stats("R2").unwrap()[0];
    assert_eq!((fan.succeeded, fan.running, fan.cached), (2, 0, 1));
    let found = meta.cache_lookup(&[key(1)], 16).unwrap();
    let runs: Vec<(&str, u64)> = found[0]
        .iter()
        .map(|e| (e.run_id.as_str(), e.task_id))
        .collect();
    // Newest first by end: R1's task 3 ended at 2,003 ms, R2's task 2 at 2,002.
    assert_eq!(runs, [("R1", 3), ("R2", 2)]);
    assert_eq!(meta.delete_runs(&["R1".to_string()]).unwrap(), 1);
    assert!(meta.tasks("R1").unwrap().is_empty());
    assert!(meta.attempts_of_run("R1").unwrap().is_empty());
    let found = meta.cache_lookup(&[key(1)], 16).unwrap();
    assert_eq!(found[0].len(), 1);
    assert_eq!(meta.tasks("R2").unwrap().len(), 2);
}

/// A task of a run that is not recorded is refused as before, naming the run (its key is
/// `NULL`), and an attempt of a task that is not recorded names the task.
#[test]
fn events_of_unknown_runs_and_tasks_are_refused() {
    let meta = Metadata::open_in_memory().unwrap();
    let err = meta
        .record(&[task_started("nope", 1, "s", &[], &[])])
        .unwrap_err();
    assert!(
        matches!(err, wflow_metadata::MetadataError::UnknownRun { ref run_id, .. } if run_id == "nope"),
        "{err}"
    );
    meta.record(&[run_started("R", "F", 1)]).unwrap();
    for event in [attempt_started("R", 7, 0), attempt_started("nope", 7, 0)] {
        let err = meta.record(&[event]).unwrap_err();
        assert!(
            matches!(
                err,
                wflow_metadata::MetadataError::UnknownTask { task_id: 7, .. }
            ),
            "{err}"
        );
    }
}
