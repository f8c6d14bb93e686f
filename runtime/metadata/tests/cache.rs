//! The task cache in the records: entries filed by `TaskReads` are found by key, newest first,
//! only for tasks that succeeded; cached tasks read back as cached and caught ones as caught;
//! the same in the SQLite file and in object records.

mod common;

use std::sync::Arc;

use common::*;
use wflow_core::{CacheKey, Digest, TaskReads};
use wflow_metadata::{
    Event, Metadata, MetadataError, MetadataStore, ObjectMetadata, RECORDS_PREFIX, ReuseReason,
    Status,
};
use wflow_store::{BlobStore, LocalDisk};

fn key(item: u8) -> CacheKey {
    CacheKey::new(&Digest::of(b"component"), "square", Some(("cbor", &[item])))
}

fn reads(param: &str) -> TaskReads {
    let mut r = TaskReads::default();
    r.params
        .insert(param.into(), Some(Digest::of(param.as_bytes())));
    r.puts.insert("square".into());
    r
}

fn filed(run_id: &str, task_id: u64, item: u8, param: &str) -> Event {
    Event::TaskReads {
        run_id: run_id.into(),
        task_id,
        key: key(item),
        reads: reads(param),
    }
}

/// R1: tasks 1 and 2 filed under items 1 and 2; task 3 under item 1 failed (never found).
/// R2: task 1 filed under item 1 with other reads; task 2 cached from R1's task 2; task 3
/// caught (its last attempt failed, it succeeded).
fn scenario() -> Vec<Event> {
    let mut ev = vec![run_started("R1", "Sq", 100)];
    ev.extend(simple_task("R1", 1, "square"));
    ev.push(filed("R1", 1, 1, "a"));
    ev.extend(simple_task("R1", 2, "square"));
    ev.push(Event::ForeachItems {
        run_id: "R1".into(),
        task_id: 2,
        items: Digest::of(b"items"),
    });
    ev.push(filed("R1", 2, 2, "a"));
    ev.push(task_started("R1", 3, "square", &[], &[]));
    ev.push(task_finished("R1", 3, Status::Failed));
    ev.push(filed("R1", 3, 1, "c"));
    ev.push(run_finished("R1", Status::Failed, 200));
    ev.push(run_started("R2", "Sq", 300));
    let mut later = simple_task("R2", 1, "square");
    if let Some(Event::TaskFinished { finished_ms, .. }) = later.last_mut() {
        *finished_ms = 5_000;
    }
    ev.extend(later);
    ev.push(filed("R2", 1, 1, "b"));
    ev.push(task_started("R2", 2, "square", &[], &[]));
    ev.push(Event::TaskReused {
        run_id: "R2".into(),
        task_id: 2,
        origin_run: "R1".into(),
        origin_task: 2,
        manifest: manifest(22),
        finished_ms: 301,
        component: Some(Digest::of(b"component")),
        reason: ReuseReason::Cached,
    });
    ev.push(task_started("R2", 3, "square", &[], &[]));
    ev.push(attempt_started("R2", 3, 0));
    ev.push(attempt_finished("R2", 3, 0, Status::Failed));
    ev.push(task_finished("R2", 3, Status::Succeeded));
    ev.push(run_finished("R2", Status::Succeeded, 400));
    ev
}

fn check(meta: &dyn MetadataStore) {
    meta.record(&scenario()).unwrap();
    let found = meta.cache_lookup(&[key(1), key(2), key(3)], 16).unwrap();
    assert_eq!(found.len(), 3);
    // Item 1: R2's task (newest) first, R1's next; R1's failed task 3 is not there.
    let ids: Vec<(&str, u64)> = found[0]
        .iter()
        .map(|e| (e.run_id.as_str(), e.task_id))
        .collect();
    assert_eq!(ids, [("R2", 1), ("R1", 1)]);
    assert_eq!(found[0][0].reads, reads("b"));
    assert_eq!(found[0][1].manifest, manifest(1));
    assert_eq!(found[1].len(), 1);
    assert_eq!(found[1][0].foreach_items, Some(Digest::of(b"items")));
    assert!(found[2].is_empty());
    let one = meta.cache_lookup(&[key(1)], 1).unwrap();
    assert_eq!(one[0].len(), 1);

    let tasks = meta.tasks("R2").unwrap();
    assert!(tasks[1].is_cached() && tasks[1].is_reused());
    assert_eq!(tasks[1].reuse_reason(), Some(ReuseReason::Cached));
    assert!(!tasks[0].is_cached() && !tasks[0].caught);
    assert!(tasks[2].caught, "{:?}", tasks[2]);
    let stats = meta.step_stats("R2").unwrap();
    assert_eq!(
        (stats[0].reused, stats[0].cached, stats[0].caught),
        (1, 1, 1)
    );

    // Reads of a task never started are refused by name.
    let err = meta.record(&[filed("R2", 9, 1, "a")]).unwrap_err();
    assert!(
        matches!(err, MetadataError::UnknownTask { task_id: 9, .. }),
        "{err}"
    );
}

#[test]
fn sqlite_files_and_finds_cache_entries() {
    let dir = tempfile::tempdir().unwrap();
    let meta = Metadata::open(&dir.path().join("m.sqlite")).unwrap();
    check(&meta);
}

#[test]
fn object_records_file_and_find_cache_entries() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn BlobStore> = Arc::new(LocalDisk::open(dir.path()).unwrap());
    let meta = ObjectMetadata::new(store.clone(), dir.path().join(RECORDS_PREFIX));
    check(&meta);
    // Another machine sees them, and not once the run's records are gone.
    let other = ObjectMetadata::new(store.clone(), dir.path().join(RECORDS_PREFIX));
    assert_eq!(other.cache_lookup(&[key(2)], 16).unwrap()[0].len(), 1);
    let gone = ObjectMetadata::new(store.clone(), dir.path().join(RECORDS_PREFIX));
    let start = format!("{RECORDS_PREFIX}runs/R1");
    std::fs::remove_file(dir.path().join(&start)).unwrap();
    assert!(!store.exists(&start).unwrap());
    let found = gone.cache_lookup(&[key(1), key(2)], 16).unwrap();
    let runs: Vec<&str> = found.iter().flatten().map(|e| e.run_id.as_str()).collect();
    assert_eq!(runs, ["R2"]);

    // `wflow gc` removing a run removes its cache objects too; the other run's stay.
    let cache_objects = || {
        store
            .list(&format!("{RECORDS_PREFIX}cache/"))
            .unwrap()
            .len()
    };
    let before = cache_objects();
    assert!(before >= 1);
    let collector = ObjectMetadata::new(store.clone(), dir.path().join(RECORDS_PREFIX));
    collector.delete_runs(&["R1".to_string()]).unwrap();
    assert!(cache_objects() < before, "R1's cache objects are gone");
    let left = collector.cache_lookup(&[key(1), key(2)], 16).unwrap();
    let runs: Vec<&str> = left.iter().flatten().map(|e| e.run_id.as_str()).collect();
    assert_eq!(runs, ["R2"]);
    collector.delete_runs(&["R2".to_string()]).unwrap();
    assert_eq!(cache_objects(), 0);
}

#[test]
fn an_old_file_gains_the_cache_when_opened() {
    // A version-5 file (before caching) upgrades in place and reads its tasks as not cached.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.sqlite");
    {
        let meta = Metadata::open(&path).unwrap();
        let mut ev = vec![run_started("R1", "Sq", 100)];
        ev.extend(simple_task("R1", 1, "square"));
        meta.record(&ev).unwrap();
    }
    common::to_version_10(&path);
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "DROP TABLE task_cache; ALTER TABLE tasks DROP COLUMN cached;
         DROP INDEX tasks_by_item_key; DROP INDEX tasks_by_duration;
         ALTER TABLE tasks DROP COLUMN item_key; PRAGMA user_version = 5;",
    )
    .unwrap();
    drop(conn);
    let meta = Metadata::open(&path).unwrap();
    let t = &meta.tasks("R1").unwrap()[0];
    assert!(!t.cached && !t.is_reused());
    meta.record(&[filed("R1", 1, 1, "a")]).unwrap();
    assert_eq!(meta.cache_lookup(&[key(1)], 4).unwrap()[0].len(), 1);
}
