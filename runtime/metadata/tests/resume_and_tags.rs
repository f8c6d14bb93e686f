//! Schema version 2: reused tasks and their origin, foreach items, tags, run filters and the
//! per-step summary; a version-1 file upgraded in place.

mod common;

use common::*;
use wflow_core::Digest;
use wflow_metadata::{Event, Metadata, MetadataError, RunFilter, RunKind, SCHEMA_VERSION, Status};

fn finished_run(meta: &Metadata, run: &str, flow: &str, at: i64, status: Status) {
    meta.record(&[run_started(run, flow, at)]).unwrap();
    meta.record(&simple_task(run, 1, "start")).unwrap();
    meta.record(&[run_finished(run, status, at + 10)]).unwrap();
}

#[test]
fn a_reused_task_records_its_origin_and_has_no_attempt() {
    let meta = Metadata::open_in_memory().unwrap();
    finished_run(&meta, "R0", "F", 1, Status::Failed);
    let mut resumed = vec![Event::RunStarted {
        run_id: "R1".into(),
        flow: "F".into(),
        component: Digest::of(b"F"),
        params: serde_json::json!({}),
        spec: serde_json::json!({}),
        started_ms: 50,
        origin_run: Some("R0".into()),
        user: "ada".into(),
        kind: Default::default(),
    }];
    resumed.push(task_started("R1", 1, "start", &[], &[]));
    resumed.push(Event::TaskReused {
        run_id: "R1".into(),
        task_id: 1,
        origin_run: "R0".into(),
        origin_task: 1,
        manifest: manifest(1),
        finished_ms: 51,
        component: Some(manifest(50)),
        reason: Default::default(),
    });
    resumed.extend(simple_task("R1", 2, "work"));
    meta.record(&resumed).unwrap();

    let reused = meta.task("R1", 1).unwrap().unwrap();
    assert!(reused.is_reused());
    assert_eq!(
        (reused.status, reused.attempts, reused.manifest),
        (Status::Succeeded, 0, Some(manifest(1)))
    );
    assert_eq!(
        (reused.origin_run.as_deref(), reused.origin_task),
        (Some("R0"), Some(1))
    );
    assert_eq!(
        reused.component,
        Some(manifest(50)),
        "the code that computed it"
    );
    assert!(meta.attempts("R1", 1).unwrap().is_empty());
    let ran = meta.task("R1", 2).unwrap().unwrap();
    assert!(!ran.is_reused() && ran.origin_run.is_none());
    assert_eq!(
        meta.run("R1").unwrap().unwrap().origin_run.as_deref(),
        Some("R0")
    );

    let stats = meta.step_stats("R1").unwrap();
    let start = stats.iter().find(|s| s.step == "start").unwrap();
    assert_eq!((start.tasks, start.reused, start.attempts), (1, 1, 0));
    let work = stats.iter().find(|s| s.step == "work").unwrap();
    assert_eq!(
        (work.tasks, work.succeeded, work.reused, work.attempts),
        (1, 1, 0, 1)
    );

    // An unknown task is refused by name.
    let err = meta
        .record(&[Event::TaskReused {
            run_id: "R1".into(),
            task_id: 9,
            origin_run: "R0".into(),
            origin_task: 1,
            manifest: manifest(1),
            finished_ms: 52,
            component: None,
            reason: Default::default(),
        }])
        .unwrap_err();
    assert!(
        matches!(err, MetadataError::UnknownTask { task_id: 9, .. }),
        "{err}"
    );
}

#[test]
fn foreach_items_are_recorded_on_the_split_task() {
    let meta = Metadata::open_in_memory().unwrap();
    meta.record(&[run_started("R", "F", 1)]).unwrap();
    meta.record(&simple_task("R", 1, "start")).unwrap();
    let items = Digest::of(b"items");
    meta.record(&[Event::ForeachItems {
        run_id: "R".into(),
        task_id: 1,
        items,
    }])
    .unwrap();
    assert_eq!(
        meta.task("R", 1).unwrap().unwrap().foreach_items,
        Some(items)
    );
    let err = meta
        .record(&[Event::ForeachItems {
            run_id: "R".into(),
            task_id: 2,
            items,
        }])
        .unwrap_err();
    assert!(matches!(err, MetadataError::UnknownTask { .. }), "{err}");
}

#[test]
fn step_stats_add_up_a_foreach() {
    let meta = Metadata::open_in_memory().unwrap();
    meta.record(&[run_started("R", "F", 1)]).unwrap();
    meta.record(&simple_task("R", 1, "start")).unwrap();
    for i in 0..10u32 {
        let id = 2 + u64::from(i);
        let mut events = vec![
            task_started("R", id, "fan", &[i], &[1]),
            attempt_started("R", id, 0),
        ];
        if i == 3 {
            events.push(attempt_finished("R", id, 0, Status::Failed));
            events.push(task_finished("R", id, Status::Failed));
        } else if i < 8 {
            events.push(attempt_finished("R", id, 0, Status::Succeeded));
            events.push(task_finished("R", id, Status::Succeeded));
        }
        meta.record(&events).unwrap();
    }
    let stats = meta.step_stats("R").unwrap();
    assert_eq!(
        stats.iter().map(|s| s.step.as_str()).collect::<Vec<_>>(),
        ["fan", "start"]
    );
    let fan = &stats[0];
    assert_eq!(
        (
            fan.tasks,
            fan.succeeded,
            fan.failed,
            fan.running,
            fan.attempts
        ),
        (10, 7, 1, 2, 10)
    );
    // Tasks 2..=9 finished at 2_000 + id after starting at 1_000 + id: 1 s each.
    assert_eq!(fan.task_ms, 8 * 1_000);
    assert_eq!(fan.max_task_ms, Some(1_000));
    assert_eq!(fan.first_started_ms, Some(1_002));
    assert_eq!(fan.last_finished_ms, Some(2_009));
    assert_eq!(meta.tasks_of_step("R", "fan").unwrap().len(), 10);
    assert!(meta.step_stats("nope").unwrap().is_empty());
}

/// A file of schema version 6 (no kept step summaries) is summed up when it is upgraded, and
/// kept up to date from then on.
#[test]
fn step_summaries_of_an_older_file_are_derived_when_it_is_upgraded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.db");
    {
        let meta = Metadata::open(&path).unwrap();
        meta.record(&[run_started("R", "F", 1)]).unwrap();
        meta.record(&simple_task("R", 1, "start")).unwrap();
        for i in 0..5u32 {
            let id = 2 + u64::from(i);
            meta.record(&[task_started("R", id, "fan", &[i], &[1])])
                .unwrap();
        }
    }
    let want = Metadata::open(&path).unwrap().step_stats("R").unwrap();
    common::to_version_10(&path);
    let conn = rusqlite::Connection::open(&path).unwrap();
    // Version 6: no summaries, no item keys (their column and indexes came with version 9), no
    // status, start or attempts indexes (version 10).
    conn.execute_batch(
        "DROP TABLE step_summary; DROP INDEX tasks_by_item_key; DROP INDEX tasks_by_duration;
         DROP INDEX tasks_by_status; DROP INDEX tasks_by_started; DROP INDEX tasks_by_attempts;
         ALTER TABLE tasks DROP COLUMN item_key;
         UPDATE tasks SET foreach_path = '[' || (task_id * 3) || ']' WHERE step = 'fan';
         PRAGMA user_version = 6;",
    )
    .unwrap();
    drop(conn);
    let meta = Metadata::open(&path).unwrap();
    assert_eq!(meta.step_stats("R").unwrap(), want);
    assert_eq!((want[0].step.as_str(), want[0].running), ("fan", 5));
    // The item keys of the tasks recorded before are filled: items 6, 9, 12, 15, 18 sort as
    // numbers (the JSON text puts [12] before [6]), and each is found by its path.
    let by_item = meta
        .step_tasks(
            "R",
            "fan",
            &wflow_metadata::TaskQuery {
                sort: wflow_metadata::TaskSort::Item,
                desc: true,
                ..Default::default()
            },
        )
        .unwrap();
    let items: Vec<u32> = by_item.iter().map(|t| t.foreach_path[0]).collect();
    assert_eq!(items, [18, 15, 12, 9, 6]);
    assert_eq!(
        meta.task_of_item("R", "fan", &[12])
            .unwrap()
            .unwrap()
            .task_id,
        4
    );
    assert!(meta.task_of_item("R", "fan", &[7]).unwrap().is_none());
    meta.record(&[
        attempt_started("R", 2, 0),
        task_finished("R", 2, Status::Failed),
    ])
    .unwrap();
    let fan = &meta.step_stats("R").unwrap()[0];
    assert_eq!((fan.running, fan.failed, fan.attempts), (4, 1, 1));
    // Every order's index is there again, and pages in the new ones: the failed task first.
    let conn = rusqlite::Connection::open(&path).unwrap();
    for sort in wflow_metadata::TaskSort::ALL {
        let found: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = ?1",
                [sort.index()],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(found, 1, "{sort}: {}", sort.index());
    }
    for sort in [
        wflow_metadata::TaskSort::Status,
        wflow_metadata::TaskSort::Attempts,
    ] {
        let q = wflow_metadata::TaskQuery {
            sort,
            desc: sort == wflow_metadata::TaskSort::Attempts,
            limit: Some(1),
            ..Default::default()
        };
        assert_eq!(
            meta.step_tasks("R", "fan", &q).unwrap()[0].task_id,
            2,
            "{sort}"
        );
    }
}

#[test]
fn tags_are_added_removed_listed_and_filter_runs() {
    let meta = Metadata::open_in_memory().unwrap();
    for (i, flow) in ["A", "B", "A", "A"].iter().enumerate() {
        let status = if i == 2 {
            Status::Failed
        } else {
            Status::Succeeded
        };
        finished_run(&meta, &format!("R{i}"), flow, i as i64 * 100, status);
    }
    let tags = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(meta.add_tags("R0", &tags(&["prod", "v1"])).unwrap(), 2);
    assert_eq!(
        meta.add_tags("R0", &tags(&["prod"])).unwrap(),
        0,
        "idempotent"
    );
    assert_eq!(
        meta.add_tags("R3", &tags(&["prod", "with space é"]))
            .unwrap(),
        2
    );
    assert_eq!(meta.tags("R0").unwrap(), ["prod", "v1"]);
    assert!(meta.tags("R1").unwrap().is_empty());
    assert_eq!(
        meta.all_tags().unwrap(),
        [
            ("prod".to_string(), 2),
            ("v1".into(), 1),
            ("with space é".into(), 1)
        ]
    );
    let by_run = meta.tags_of_runs(&["R0", "R1", "R3"]).unwrap();
    assert_eq!(by_run.len(), 2);
    assert_eq!(by_run["R3"], ["prod", "with space é"]);

    let ids = |f: RunFilter| -> Vec<String> {
        meta.find_runs(&f)
            .unwrap()
            .into_iter()
            .map(|r| r.run_id)
            .collect()
    };
    let prod = RunFilter {
        tags: tags(&["prod"]),
        ..Default::default()
    };
    assert_eq!(ids(prod.clone()), ["R3", "R0"]);
    assert_eq!(meta.count_runs(&prod).unwrap(), 2);
    let both = RunFilter {
        tags: tags(&["prod", "v1"]),
        ..Default::default()
    };
    assert_eq!(ids(both), ["R0"]);
    assert_eq!(meta.remove_tags("R0", &tags(&["v1", "never"])).unwrap(), 1);
    assert_eq!(meta.tags("R0").unwrap(), ["prod"]);

    // Filters by flow and status, newest first, with paging.
    let a = RunFilter {
        flow: Some("A".into()),
        ..Default::default()
    };
    assert_eq!(ids(a.clone()), ["R3", "R2", "R0"]);
    assert_eq!(
        ids(RunFilter {
            limit: Some(1),
            offset: 1,
            ..a.clone()
        }),
        ["R2"]
    );
    assert_eq!(
        ids(RunFilter {
            status: Some(Status::Succeeded),
            ..a.clone()
        }),
        ["R3", "R0"]
    );
    assert_eq!(meta.count_runs(&RunFilter::default()).unwrap(), 4);
    let light = meta
        .find_runs(&RunFilter {
            skip_spec: true,
            ..a.clone()
        })
        .unwrap();
    assert!(light.iter().all(|r| r.spec.is_null() && r.flow == "A"));
    assert!(!meta.find_runs(&a).unwrap()[0].spec.is_null());
    assert_eq!(meta.latest_run("A", None).unwrap().unwrap().run_id, "R3");
    assert_eq!(
        meta.latest_run("A", Some(Status::Failed))
            .unwrap()
            .unwrap()
            .run_id,
        "R2"
    );
    assert!(meta.latest_run("Z", None).unwrap().is_none());
    assert_eq!(meta.run_ids("A").unwrap(), ["R3", "R2", "R0"]);

    // Bad tags and unknown runs are refused by name, and change nothing.
    for bad in ["", "  ", "a\nb"] {
        let err = meta.add_tags("R0", &tags(&["ok", bad])).unwrap_err();
        assert!(matches!(err, MetadataError::InvalidTag { .. }), "{err}");
    }
    let long = "x".repeat(300);
    assert!(
        meta.add_tags("R0", &[long])
            .unwrap_err()
            .to_string()
            .contains("256")
    );
    assert_eq!(meta.tags("R0").unwrap(), ["prod"]);
    let err = meta.add_tags("R9", &tags(&["x"])).unwrap_err();
    assert!(
        matches!(err, MetadataError::UnknownRun { ref run_id, .. } if run_id == "R9"),
        "{err}"
    );
}

/// The version-1 schema as released, to check that such a file upgrades in place.
const V1: &str = "
CREATE TABLE runs (run_id TEXT NOT NULL PRIMARY KEY, flow TEXT NOT NULL, component TEXT NOT NULL,
    params TEXT NOT NULL, spec TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    started_ms INTEGER NOT NULL, finished_ms INTEGER, error TEXT, origin_run TEXT,
    user TEXT NOT NULL);
CREATE INDEX runs_by_flow ON runs (flow, started_ms);
CREATE INDEX runs_by_started ON runs (started_ms);
CREATE TABLE tasks (run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    task_id INTEGER NOT NULL, step TEXT NOT NULL, foreach_path TEXT NOT NULL,
    inputs TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    started_ms INTEGER NOT NULL, finished_ms INTEGER, manifest TEXT,
    attempts INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (run_id, task_id)) WITHOUT ROWID;
CREATE INDEX tasks_by_step ON tasks (run_id, step);
CREATE TABLE attempts (run_id TEXT NOT NULL, task_id INTEGER NOT NULL, attempt INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    started_ms INTEGER NOT NULL, finished_ms INTEGER, error TEXT, stdout TEXT, stderr TEXT,
    PRIMARY KEY (run_id, task_id, attempt),
    FOREIGN KEY (run_id, task_id) REFERENCES tasks (run_id, task_id) ON DELETE CASCADE)
    WITHOUT ROWID;
CREATE TABLE tags (run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    tag TEXT NOT NULL, PRIMARY KEY (run_id, tag)) WITHOUT ROWID;
INSERT INTO runs VALUES ('R', 'F', '%C', '{}', '{}', 'succeeded', 1, 2, NULL, NULL, 'ada');
INSERT INTO tasks VALUES ('R', 1, 'start', '[]', '[]', 'succeeded', 1, 2, '%C', 1);
PRAGMA user_version = 1;
";

#[test]
fn a_version_1_file_is_upgraded_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(&V1.replace("%C", &Digest::of(b"c").to_hex()))
        .unwrap();
    drop(conn);

    let meta = Metadata::open(&path).unwrap();
    let task = meta.task("R", 1).unwrap().unwrap();
    assert_eq!(
        (
            task.step.as_str(),
            task.origin_task,
            task.foreach_items,
            task.component
        ),
        ("start", None, None, None)
    );
    meta.add_tags("R", &["kept".to_string()]).unwrap();
    // Runs recorded before run kinds existed are runs of the flow.
    assert_eq!(meta.run("R").unwrap().unwrap().kind, RunKind::Run);
    assert_eq!(meta.latest_run("F", None).unwrap().unwrap().run_id, "R");
    drop(meta);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
}
