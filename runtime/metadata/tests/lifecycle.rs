//! A whole run recorded through a `Recorder` and read back; queries over several runs.

mod common;

use std::sync::Arc;

use common::*;
use wflow_core::Digest;
use wflow_metadata::{Event, Metadata, Recorder, Status};

const WIDTH: u64 = 1_000;

/// start (1) -> fan foreach of WIDTH tasks (2..=WIDTH+1) -> join (WIDTH+2) -> end (WIDTH+3).
/// Every tenth foreach task fails its first attempt and succeeds on the second.
fn foreach_run(run_id: &str) -> Vec<Event> {
    let mut events = vec![run_started(run_id, "Fan", 100)];
    events.extend(simple_task(run_id, 1, "start"));
    for i in 0..WIDTH as u32 {
        let id = 2 + i as u64;
        events.push(task_started(run_id, id, "fan", &[i], &[1]));
        events.push(attempt_started(run_id, id, 0));
        if i.is_multiple_of(10) {
            events.push(attempt_finished(run_id, id, 0, Status::Failed));
            events.push(attempt_started(run_id, id, 1));
            events.push(attempt_finished(run_id, id, 1, Status::Succeeded));
        } else {
            events.push(attempt_finished(run_id, id, 0, Status::Succeeded));
        }
        events.push(task_finished(run_id, id, Status::Succeeded));
    }
    let fan: Vec<u64> = (2..2 + WIDTH).collect();
    let join = WIDTH + 2;
    events.push(task_started(run_id, join, "join", &[], &fan));
    events.extend(simple_task(run_id, join, "join").into_iter().skip(1));
    events.extend(simple_task(run_id, join + 1, "end"));
    events.push(run_finished(run_id, Status::Succeeded, 9_000));
    events
}

#[test]
fn foreach_of_a_thousand_tasks_through_the_recorder() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.db");
    let meta = Arc::new(Metadata::open(&path).unwrap());
    let recorder = Recorder::new(meta.clone());

    // Hold the write lock from another connection while sending, so the writer cannot keep up
    // and the events pile into few transactions, as they do when the disk is slow.
    let blocker = rusqlite::Connection::open(&path).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let events = foreach_run("R1");
    let total = events.len();
    for e in events {
        recorder.send(e);
    }
    blocker.execute_batch("COMMIT").unwrap();
    recorder.flush().unwrap();
    assert!(
        recorder.batches() <= 3,
        "{} transactions for {total} events",
        recorder.batches()
    );
    recorder.close().unwrap();

    let run = meta.run("R1").unwrap().unwrap();
    assert_eq!(run.flow, "Fan");
    assert_eq!(run.status, Status::Succeeded);
    assert_eq!((run.started_ms, run.finished_ms), (100, Some(9_000)));
    assert_eq!(run.component, Digest::of(b"Fan"));
    assert_eq!(run.params["n"], 1000);
    assert_eq!(run.spec["steps"][1], "fan");
    assert_eq!(
        (run.error, run.origin_run, run.user.as_str()),
        (None, None, "ada")
    );

    let tasks = meta.tasks("R1").unwrap();
    assert_eq!(tasks.len() as u64, WIDTH + 3);
    let ids: Vec<u64> = tasks.iter().map(|t| t.task_id).collect();
    assert_eq!(ids, (1..=WIDTH + 3).collect::<Vec<_>>());
    assert!(
        tasks
            .iter()
            .all(|t| t.status == Status::Succeeded && t.finished_ms.is_some())
    );
    assert!(
        tasks
            .iter()
            .all(|t| t.manifest == Some(manifest(t.task_id)))
    );
    assert_eq!(
        tasks.iter().filter(|t| t.step == "fan").count() as u64,
        WIDTH
    );
    for t in tasks.iter().filter(|t| t.step == "fan") {
        let i = (t.task_id - 2) as u32;
        assert_eq!(t.foreach_path, [i]);
        assert_eq!(t.inputs, [1]);
        assert_eq!(t.attempts, if i.is_multiple_of(10) { 2 } else { 1 });
    }
    let join = &tasks[WIDTH as usize + 1];
    assert_eq!(join.step, "join");
    assert_eq!(join.inputs, (2..2 + WIDTH).collect::<Vec<_>>());
    assert_eq!(join.attempts, 1);

    let retried = meta.attempts("R1", 12).unwrap();
    assert_eq!(retried.len(), 2);
    assert_eq!((retried[0].attempt, retried[0].status), (0, Status::Failed));
    assert_eq!(retried[0].error.as_deref(), Some("attempt 0 trapped"));
    assert_eq!(
        (retried[1].attempt, retried[1].status),
        (1, Status::Succeeded)
    );
    assert_eq!(retried[1].error, None);
    assert_eq!(retried[1].stdout, Some(stdout(12, 1)));
    assert_eq!(retried[1].stderr, None);
    assert_eq!(retried[1].finished_ms, Some(1_500 + 12 + 1));
    let attempts: usize = (1..=WIDTH + 3)
        .map(|t| meta.attempts("R1", t).unwrap().len())
        .sum();
    assert_eq!(attempts as u64, WIDTH + 3 + WIDTH / 10);

    let one = meta.task("R1", 500).unwrap().unwrap();
    assert_eq!(
        (one.step.as_str(), one.foreach_path.as_slice()),
        ("fan", &[498][..])
    );
    assert!(meta.task("R1", WIDTH + 4).unwrap().is_none());
    assert!(meta.task("R2", 1).unwrap().is_none());
    assert!(meta.attempts("R1", WIDTH + 4).unwrap().is_empty());
    assert!(meta.run("R2").unwrap().is_none());
}

#[test]
fn unfinished_records_read_back_as_running() {
    let meta = Metadata::open_in_memory().unwrap();
    meta.record(&[
        run_started("R", "F", 5),
        task_started("R", 1, "start", &[], &[]),
        attempt_started("R", 1, 0),
    ])
    .unwrap();
    let run = meta.run("R").unwrap().unwrap();
    assert_eq!((run.status, run.finished_ms), (Status::Running, None));
    let task = meta.task("R", 1).unwrap().unwrap();
    assert_eq!(
        (task.status, task.finished_ms, task.manifest, task.attempts),
        (Status::Running, None, None, 1)
    );
    let attempt = &meta.attempts("R", 1).unwrap()[0];
    assert_eq!(
        (attempt.status, attempt.finished_ms, attempt.stdout),
        (Status::Running, None, None)
    );
}

#[test]
fn runs_filter_by_flow_newest_first() {
    let meta = Metadata::open_in_memory().unwrap();
    assert!(meta.runs(None).unwrap().is_empty());
    assert!(meta.flows().unwrap().is_empty());
    meta.record(&[
        run_started("a1", "Alpha", 10),
        run_started("b1", "Beta", 20),
        run_started("a3", "Alpha", 30),
        run_started("a2", "Alpha", 20),
        run_finished("a1", Status::Failed, 15),
    ])
    .unwrap();
    let ids = |flow| -> Vec<String> {
        meta.runs(flow)
            .unwrap()
            .into_iter()
            .map(|r| r.run_id)
            .collect()
    };
    assert_eq!(ids(Some("Alpha")), ["a3", "a2", "a1"]);
    assert_eq!(ids(Some("Beta")), ["b1"]);
    assert!(ids(Some("Gamma")).is_empty());
    // Ties on the start time fall back on the run id, newest (largest) first.
    assert_eq!(ids(None), ["a3", "b1", "a2", "a1"]);
    assert_eq!(meta.flows().unwrap(), ["Alpha", "Beta"]);

    let a1 = meta.run("a1").unwrap().unwrap();
    assert_eq!(
        (a1.status, a1.error.as_deref()),
        (Status::Failed, Some("it broke"))
    );
}

#[test]
fn origin_run_and_records_serialise_to_json() {
    let meta = Metadata::open_in_memory().unwrap();
    let mut resumed = run_started("R2", "F", 7);
    if let Event::RunStarted { origin_run, .. } = &mut resumed {
        *origin_run = Some("R1".into());
    }
    meta.record(&[resumed]).unwrap();
    meta.record(&simple_task("R2", 1, "start")).unwrap();
    let run = meta.run("R2").unwrap().unwrap();
    assert_eq!(run.origin_run.as_deref(), Some("R1"));

    let json = serde_json::to_value(&run).unwrap();
    assert_eq!(json["status"], "running");
    assert_eq!(json["component"], Digest::of(b"F").to_hex());
    let task = serde_json::to_value(meta.task("R2", 1).unwrap().unwrap()).unwrap();
    assert_eq!(task["manifest"], manifest(1).to_hex());
    assert_eq!(task["status"], "succeeded");
}
