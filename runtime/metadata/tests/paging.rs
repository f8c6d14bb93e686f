//! Pages of a step's tasks (`MetadataStore::step_tasks`): SQLite's query and the in-memory order
//! every other backend uses give the same tasks in the same order, for every sort, direction,
//! status filter and page.

mod common;

use std::sync::Arc;

use common::*;
use wflow_metadata::{
    Event, Metadata, MetadataStore, ObjectMetadata, RECORDS_PREFIX, Status, TaskQuery, TaskSort,
};
use wflow_store::{BlobStore, LocalDisk};

/// Run `R`: 60 tasks of step `work` in a nested foreach (paths repeat, so ties go by task id),
/// with varied start times, durations, attempts and statuses (some still running), and tasks of
/// other steps and another run that no page of `work` may show.
fn events() -> Vec<Event> {
    let mut ev = vec![run_started("R", "Fan", 100), run_started("S", "Fan", 100)];
    ev.extend(simple_task("R", 1, "start"));
    ev.extend(simple_task("S", 1, "work"));
    for i in 0..60u64 {
        let id = 2 + i;
        let path = [(i * 7 % 5) as u32, (i * 13 % 11) as u32];
        ev.push(Event::TaskStarted {
            run_id: "R".into(),
            task_id: id,
            step: "work".into(),
            foreach_path: path.to_vec(),
            inputs: vec![1],
            started_ms: 5_000 + (i * 37 % 17) as i64,
        });
        for a in 0..(i % 3) as u32 {
            ev.push(attempt_started("R", id, a));
        }
        let status = match i % 6 {
            0 => continue, // running
            1 => Status::Failed,
            _ => Status::Succeeded,
        };
        ev.push(Event::TaskFinished {
            run_id: "R".into(),
            task_id: id,
            status,
            finished_ms: 6_000 + (i * 11 % 23) as i64,
            manifest: None,
        });
    }
    ev.extend(simple_task("R", 100, "end"));
    ev
}

fn ids(tasks: &[wflow_metadata::TaskRecord]) -> Vec<u64> {
    tasks.iter().map(|t| t.task_id).collect()
}

#[test]
fn sqlite_and_in_memory_pages_agree() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Metadata::open(&dir.path().join("m.sqlite")).unwrap();
    let store: Arc<dyn BlobStore> = Arc::new(LocalDisk::open(&dir.path().join("s")).unwrap());
    let objects = ObjectMetadata::new(store, dir.path().join("s").join(RECORDS_PREFIX));
    sqlite.record(&events()).unwrap();
    objects.record(&events()).unwrap();
    let all = sqlite.tasks_of_step("R", "work").unwrap();
    assert_eq!(all.len(), 60);
    let mut checked = 0;
    for sort in TaskSort::ALL {
        for desc in [false, true] {
            for status in [
                None,
                Some(Status::Running),
                Some(Status::Failed),
                Some(Status::Succeeded),
            ] {
                for (limit, offset) in [(None, 0), (Some(7), 0), (Some(7), 5), (Some(100), 58)] {
                    let q = TaskQuery {
                        status,
                        sort,
                        desc,
                        limit,
                        offset,
                    };
                    let expected = ids(&q.apply(all.clone()));
                    let got = ids(&MetadataStore::step_tasks(&sqlite, "R", "work", &q).unwrap());
                    assert_eq!(got, expected, "SQLite, {q:?}");
                    let got = ids(&objects.step_tasks("R", "work", &q).unwrap());
                    assert_eq!(got, expected, "objects, {q:?}");
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, 6 * 2 * 4 * 4);
}

#[test]
fn orders_are_what_they_say() {
    let dir = tempfile::tempdir().unwrap();
    let m = Metadata::open(&dir.path().join("m.sqlite")).unwrap();
    m.record(&events()).unwrap();
    let page = |sort, desc, status| {
        let q = TaskQuery {
            status,
            sort,
            desc,
            ..TaskQuery::default()
        };
        m.step_tasks("R", "work", &q).unwrap()
    };
    // By duration: shortest first, running tasks last; reversed, they come first.
    let d = page(TaskSort::Duration, false, None);
    let took: Vec<Option<i64>> = d
        .iter()
        .map(|t| t.finished_ms.map(|f| f - t.started_ms))
        .collect();
    let finished: Vec<i64> = took.iter().flatten().copied().collect();
    assert!(finished.windows(2).all(|w| w[0] <= w[1]), "{took:?}");
    assert_eq!(took.iter().position(Option::is_none), Some(finished.len()));
    assert_eq!(took.len() - finished.len(), 10);
    let r = page(TaskSort::Duration, true, None);
    assert!(r[..10].iter().all(|t| t.status == Status::Running));
    assert_eq!(ids(&r), ids(&d).into_iter().rev().collect::<Vec<_>>());
    // By item: paths in order, ties by task id.
    let items = page(TaskSort::Item, false, None);
    for w in items.windows(2) {
        assert!((&w[0].foreach_path, w[0].task_id) < (&w[1].foreach_path, w[1].task_id));
    }
    // A status filter: only those, by id.
    let failed = page(TaskSort::Task, false, Some(Status::Failed));
    assert_eq!(ids(&failed), vec![3, 9, 15, 21, 27, 33, 39, 45, 51, 57]);
    // The default: every task of the step and run, by id.
    assert_eq!(
        ids(&page(TaskSort::Task, false, None)),
        (2..62).collect::<Vec<_>>()
    );
    assert_eq!("duration".parse::<TaskSort>(), Ok(TaskSort::Duration));
    assert_eq!(
        "speed".parse::<TaskSort>().unwrap_err().to_string(),
        "`speed` is not a task order (expected task, item, status, started, duration or attempts)"
    );
}

/// The task of a foreach item, found by its path: the newest when an item ran twice, nested
/// paths compared whole, none for an item without a task.
#[test]
fn the_task_of_an_item_is_found_by_its_path() {
    let meta = Metadata::open_in_memory().unwrap();
    meta.record(&[run_started("R", "F", 1)]).unwrap();
    let mut ev = Vec::new();
    for i in 0..10u32 {
        ev.push(task_started("R", 2 + u64::from(i), "fan", &[i], &[1]));
    }
    ev.push(task_started("R", 20, "fan", &[3], &[1]));
    ev.push(task_started("R", 21, "inner", &[1, 2], &[1]));
    ev.push(task_started("R", 22, "inner", &[2, 1], &[1]));
    meta.record(&ev).unwrap();
    let id = |step: &str, path: &[u32]| {
        meta.task_of_item("R", step, path)
            .unwrap()
            .map(|t| t.task_id)
    };
    assert_eq!(id("fan", &[7]), Some(9));
    assert_eq!(id("fan", &[3]), Some(20), "the newest task of the item");
    assert_eq!(id("fan", &[10]), None);
    assert_eq!(id("inner", &[1, 2]), Some(21));
    assert_eq!(id("inner", &[2, 1]), Some(22));
    assert_eq!(id("inner", &[1]), None);
    assert_eq!(id("other", &[7]), None);
    assert_eq!(
        meta.task_of_item("nope", "fan", &[7])
            .unwrap()
            .map(|t| t.task_id),
        None
    );
}

/// A running run's pages, in every order, while its tasks change the keys the orders walk: each
/// task starts, its attempts start (attempts grow) and report a later real start (its start
/// moves), some fail and retry, then each ends (its status changes). After every batch, every
/// page is the in-memory order of the tasks as they are then (read from both ends), and the
/// file's indexes hold exactly its rows.
#[test]
fn pages_of_a_running_run_follow_its_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("m.sqlite");
    let meta = Metadata::open(&file).unwrap();
    meta.record(&[run_started("R", "Fan", 100)]).unwrap();
    const N: u64 = 30;
    let mut batches: Vec<Vec<Event>> = Vec::new();
    // Every task starts, in two batches.
    for half in [0..N / 2, N / 2..N] {
        batches.push(
            half.map(|i| Event::TaskStarted {
                run_id: "R".into(),
                task_id: 2 + i,
                step: "work".into(),
                foreach_path: vec![(i * 7 % N) as u32],
                inputs: vec![1],
                started_ms: 1_000 + (i * 13 % 11) as i64,
            })
            .collect(),
        );
    }
    // Their first attempts start; every third reports a later real start when it fails.
    batches.push((0..N).map(|i| attempt_started("R", 2 + i, 0)).collect());
    batches.push(
        (0..N)
            .filter(|i| i % 3 == 0)
            .flat_map(|i| {
                [
                    Event::AttemptFinished {
                        run_id: "R".into(),
                        task_id: 2 + i,
                        attempt: 0,
                        status: Status::Failed,
                        started_ms: Some(1_500 - i as i64 * 10),
                        finished_ms: 1_600,
                        error: Some("trapped".into()),
                        stdout: None,
                        stderr: None,
                    },
                    attempt_started("R", 2 + i, 1),
                ]
            })
            .collect(),
    );
    // They end a few at a time, in an order of their own; some fail.
    let mut ending: Vec<u64> = (0..N).map(|i| i * 11 % N).collect();
    while !ending.is_empty() {
        let now: Vec<u64> = ending.drain(..ending.len().min(7)).collect();
        batches.push(
            now.iter()
                .flat_map(|&i| {
                    let attempt = u32::from(i % 3 == 0);
                    let status = if i % 5 == 4 {
                        Status::Failed
                    } else {
                        Status::Succeeded
                    };
                    [
                        attempt_finished("R", 2 + i, attempt, status),
                        Event::TaskFinished {
                            run_id: "R".into(),
                            task_id: 2 + i,
                            status,
                            finished_ms: 3_000 + (i * 17 % 23) as i64,
                            manifest: None,
                        },
                    ]
                })
                .collect(),
        );
    }
    let check = rusqlite::Connection::open(&file).unwrap();
    let mut pages = 0;
    for (b, batch) in batches.iter().enumerate() {
        meta.record(batch).unwrap();
        let all = meta.tasks_of_step("R", "work").unwrap();
        for sort in TaskSort::ALL {
            for desc in [false, true] {
                for status in [None, Some(Status::Running), Some(Status::Succeeded)] {
                    for offset in [0, 6, 12, 18, 24] {
                        let q = TaskQuery {
                            status,
                            sort,
                            desc,
                            limit: Some(6),
                            offset,
                        };
                        let expected = ids(&q.apply(all.clone()));
                        let got = ids(&meta.step_tasks("R", "work", &q).unwrap());
                        assert_eq!(got, expected, "batch {b}, {q:?}");
                        pages += 1;
                    }
                }
            }
        }
        let integrity: String = check
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(integrity, "ok", "batch {b}");
    }
    // The orders did see the keys change: retried tasks, moved starts, ended tasks.
    let all = meta.tasks_of_step("R", "work").unwrap();
    assert_eq!(all.iter().filter(|t| t.attempts == 2).count(), 10);
    assert!(all.iter().any(|t| t.started_ms > 1_100));
    assert!(all.iter().all(|t| t.status != Status::Running));
    assert_eq!(pages, batches.len() * 6 * 2 * 3 * 5);
}
