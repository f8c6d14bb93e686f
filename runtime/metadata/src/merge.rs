//! Merging a batch's events per row before they reach SQLite.
//!
//! A task that starts and ends within one batch sends `TaskStarted`, `AttemptStarted`,
//! `AttemptLogs`, `AttemptFinished`, `TaskManifest` and `TaskFinished`: applied one by one, that
//! is two inserts and about seven updates of the same two rows. [`merge`] folds the updates of a
//! row created in the same batch into the row itself, so such a task costs one insert into
//! `tasks` and one into `attempts`. The result is the same as applying the events in order:
//!
//! - a row is created at the position of the event that creates it (so whatever follows it in
//!   the batch, such as the task's cache entry, finds it);
//! - an event is folded only when every row it changes was created in this batch and nothing
//!   applied since has changed it; otherwise the event is applied as it is, after the row's
//!   insert, and the rows it changes are closed to further folding (their later events are
//!   applied as they are too, in order).
//!
//! An event that fails (a duplicate, a task of an unknown run) makes the merged batch fail as a
//! whole; [`Metadata::record_skipping_failures`](crate::Metadata::record_skipping_failures) then
//! applies the events one by one, unmerged, to find it.

use std::collections::HashMap;

use wflow_core::Digest;

use crate::{Event, ReuseReason, Status};

/// One write of a merged batch.
pub(crate) enum Op<'a> {
    /// An event applied as it is.
    Event(&'a Event),
    /// A new `tasks` row with everything the batch says of it.
    Task(TaskRow<'a>),
    /// A new `attempts` row, likewise.
    Attempt(AttemptRow<'a>),
}

pub(crate) struct TaskRow<'a> {
    pub run_id: &'a str,
    pub task_id: u64,
    pub step: &'a str,
    pub foreach_path: &'a [u32],
    pub inputs: &'a [u64],
    pub status: Status,
    pub started_ms: i64,
    pub finished_ms: Option<i64>,
    pub manifest: Option<Digest>,
    pub manifest_bytes: Option<&'a [u8]>,
    pub attempts: u32,
    pub foreach_items: Option<Digest>,
    pub origin_run: Option<&'a str>,
    pub origin_task: Option<u64>,
    pub component: Option<Digest>,
    pub cached: bool,
}

pub(crate) struct AttemptRow<'a> {
    pub run_id: &'a str,
    pub task_id: u64,
    pub attempt: u32,
    /// Its task's row is not in the batch: count the attempt there with an update.
    pub count_on_task: bool,
    pub status: Status,
    pub started_ms: i64,
    pub finished_ms: Option<i64>,
    pub error: Option<&'a str>,
    pub stdout: Option<Digest>,
    pub stderr: Option<Digest>,
    pub stdout_bytes: Option<&'a [u8]>,
    pub stderr_bytes: Option<&'a [u8]>,
}

/// The batch `events` as writes, each row's updates folded into its insert where they can be.
pub(crate) fn merge(events: &[Event]) -> Vec<Op<'_>> {
    let mut ops: Vec<Op<'_>> = Vec::with_capacity(events.len());
    // Rows created in this batch that may still take updates: where their insert is in `ops`.
    let mut tasks: HashMap<(&str, u64), usize> = HashMap::new();
    let mut attempts: HashMap<(&str, u64, u32), usize> = HashMap::new();
    for event in events {
        match event {
            Event::TaskStarted {
                run_id,
                task_id,
                step,
                foreach_path,
                inputs,
                started_ms,
            } if !tasks.contains_key(&(run_id.as_str(), *task_id)) => {
                tasks.insert((run_id, *task_id), ops.len());
                ops.push(Op::Task(TaskRow {
                    run_id,
                    task_id: *task_id,
                    step,
                    foreach_path,
                    inputs,
                    status: Status::Running,
                    started_ms: *started_ms,
                    finished_ms: None,
                    manifest: None,
                    manifest_bytes: None,
                    attempts: 0,
                    foreach_items: None,
                    origin_run: None,
                    origin_task: None,
                    component: None,
                    cached: false,
                }));
            }
            Event::AttemptStarted {
                run_id,
                task_id,
                attempt,
                started_ms,
            } if !attempts.contains_key(&(run_id.as_str(), *task_id, *attempt)) => {
                let task = tasks.get(&(run_id.as_str(), *task_id)).copied();
                if let Some(Op::Task(row)) = task.map(|i| &mut ops[i]) {
                    row.attempts += 1;
                }
                attempts.insert((run_id, *task_id, *attempt), ops.len());
                ops.push(Op::Attempt(AttemptRow {
                    run_id,
                    task_id: *task_id,
                    attempt: *attempt,
                    count_on_task: task.is_none(),
                    status: Status::Running,
                    started_ms: *started_ms,
                    finished_ms: None,
                    error: None,
                    stdout: None,
                    stderr: None,
                    stdout_bytes: None,
                    stderr_bytes: None,
                }));
            }
            Event::AttemptFinished {
                run_id,
                task_id,
                attempt,
                status,
                started_ms,
                finished_ms,
                error,
                stdout,
                stderr,
            } => {
                let a = attempts
                    .get(&(run_id.as_str(), *task_id, *attempt))
                    .copied();
                // The first attempt's real start is the task's too.
                let moves_task = *attempt == 0 && started_ms.is_some();
                let t = tasks.get(&(run_id.as_str(), *task_id)).copied();
                match (a, t) {
                    (Some(a), t) if t.is_some() || !moves_task => {
                        let Op::Attempt(row) = &mut ops[a] else {
                            unreachable!("attempts point at attempt rows")
                        };
                        row.status = *status;
                        row.finished_ms = Some(*finished_ms);
                        row.error = error.as_deref();
                        row.stdout = *stdout;
                        row.stderr = *stderr;
                        if let Some(started) = started_ms {
                            row.started_ms = *started;
                        }
                        if let (Some(t), true, Some(started)) = (t, moves_task, started_ms)
                            && let Op::Task(row) = &mut ops[t]
                        {
                            row.started_ms = *started;
                        }
                    }
                    _ => {
                        attempts.remove(&(run_id.as_str(), *task_id, *attempt));
                        if moves_task {
                            tasks.remove(&(run_id.as_str(), *task_id));
                        }
                        ops.push(Op::Event(event));
                    }
                }
            }
            Event::AttemptLogs {
                run_id,
                task_id,
                attempt,
                stdout,
                stderr,
            } => match attempts.get(&(run_id.as_str(), *task_id, *attempt)) {
                Some(&a) => {
                    let Op::Attempt(row) = &mut ops[a] else {
                        unreachable!("attempts point at attempt rows")
                    };
                    row.stdout_bytes = stdout.as_deref();
                    row.stderr_bytes = stderr.as_deref();
                }
                None => ops.push(Op::Event(event)),
            },
            Event::TaskManifest {
                run_id,
                task_id,
                manifest,
            } => match task_row(&mut ops, &tasks, run_id, *task_id) {
                Some(row) => row.manifest_bytes = Some(manifest),
                None => ops.push(Op::Event(event)),
            },
            Event::TaskFinished {
                run_id,
                task_id,
                status,
                finished_ms,
                manifest,
            } => match task_row(&mut ops, &tasks, run_id, *task_id) {
                Some(row) => {
                    row.status = *status;
                    row.finished_ms = Some(*finished_ms);
                    row.manifest = *manifest;
                }
                None => ops.push(Op::Event(event)),
            },
            Event::TaskReused {
                run_id,
                task_id,
                origin_run,
                origin_task,
                manifest,
                finished_ms,
                component,
                reason,
            } => match task_row(&mut ops, &tasks, run_id, *task_id) {
                Some(row) => {
                    row.status = Status::Succeeded;
                    row.finished_ms = Some(*finished_ms);
                    row.manifest = Some(*manifest);
                    row.origin_run = Some(origin_run);
                    row.origin_task = Some(*origin_task);
                    row.component = *component;
                    row.cached = *reason == ReuseReason::Cached;
                }
                None => ops.push(Op::Event(event)),
            },
            Event::ForeachItems {
                run_id,
                task_id,
                items,
            } => match task_row(&mut ops, &tasks, run_id, *task_id) {
                Some(row) => row.foreach_items = Some(*items),
                None => ops.push(Op::Event(event)),
            },
            // A duplicate start (which fails as it is), the run's own events and the cache
            // entries (a row of their own, after the task's) change no row of this batch.
            Event::TaskStarted { .. }
            | Event::AttemptStarted { .. }
            | Event::RunStarted { .. }
            | Event::RunFinished { .. }
            | Event::TaskReads { .. } => ops.push(Op::Event(event)),
        }
    }
    ops
}

/// The row of a task created in this batch and still open to updates.
fn task_row<'o, 'a>(
    ops: &'o mut [Op<'a>],
    tasks: &HashMap<(&str, u64), usize>,
    run_id: &str,
    task_id: u64,
) -> Option<&'o mut TaskRow<'a>> {
    match tasks.get(&(run_id, task_id)).map(|&i| &mut ops[i]) {
        Some(Op::Task(row)) => Some(row),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Metadata;
    use wflow_core::{CacheKey, TaskReads};

    const RUN: &str = "20261207T120000-abcde";

    /// A run whose tasks between them send every kind of event: a task that succeeds with logs
    /// and a manifest in the records, one that fails once and then succeeds, one reused from the
    /// cache, a foreach split, one left running, and the run's end.
    fn events() -> Vec<Event> {
        let d = |s: &str| Digest::of(s.as_bytes());
        let run = || RUN.to_string();
        let started = |task_id, step: &str| Event::TaskStarted {
            run_id: run(),
            task_id,
            step: step.into(),
            foreach_path: vec![task_id as u32],
            inputs: vec![task_id - 1],
            started_ms: 1000 + task_id as i64,
        };
        let attempt = |task_id, attempt| Event::AttemptStarted {
            run_id: run(),
            task_id,
            attempt,
            started_ms: 2000 + task_id as i64,
        };
        let finished = |task_id, attempt, ok: bool, started_ms| Event::AttemptFinished {
            run_id: run(),
            task_id,
            attempt,
            status: if ok {
                Status::Succeeded
            } else {
                Status::Failed
            },
            started_ms,
            finished_ms: 3000 + task_id as i64,
            error: (!ok).then(|| "boom".to_string()),
            stdout: Some(d("out")),
            stderr: None,
        };
        let end = |task_id| Event::TaskFinished {
            run_id: run(),
            task_id,
            status: Status::Succeeded,
            finished_ms: 4000 + task_id as i64,
            manifest: Some(d("manifest")),
        };
        vec![
            crate::test_run_started(&run()),
            started(1, "start"),
            attempt(1, 0),
            Event::AttemptLogs {
                run_id: run(),
                task_id: 1,
                attempt: 0,
                stdout: Some(b"out".to_vec()),
                stderr: None,
            },
            finished(1, 0, true, Some(1500)),
            Event::TaskManifest {
                run_id: run(),
                task_id: 1,
                manifest: b"manifest".to_vec(),
            },
            Event::ForeachItems {
                run_id: run(),
                task_id: 1,
                items: d("items"),
            },
            end(1),
            Event::TaskReads {
                run_id: run(),
                task_id: 1,
                key: CacheKey {
                    scope: d("scope"),
                    item: d("item"),
                },
                reads: TaskReads::default(),
            },
            started(2, "square"),
            attempt(2, 0),
            started(3, "square"),
            finished(2, 0, false, Some(1600)),
            attempt(2, 1),
            Event::TaskReused {
                run_id: run(),
                task_id: 3,
                origin_run: "20261206T120000-zzzzz".into(),
                origin_task: 7,
                manifest: d("cached"),
                finished_ms: 3500,
                component: Some(d("old")),
                reason: ReuseReason::Cached,
            },
            finished(2, 1, true, None),
            end(2),
            started(4, "square"),
            attempt(4, 0),
            Event::RunFinished {
                run_id: run(),
                status: Status::Succeeded,
                finished_ms: 5000,
                error: None,
            },
        ]
    }

    /// Every column of every row of the records.
    fn dump(meta: &Metadata) -> Vec<String> {
        let conn = meta.lock();
        let mut rows = Vec::new();
        for table in ["runs", "tasks", "attempts", "task_cache", "step_summary"] {
            let mut st = conn
                .prepare(&format!("SELECT * FROM {table} ORDER BY 1, 2, 3"))
                .unwrap();
            let n = st.column_count();
            let mut q = st.query([]).unwrap();
            while let Some(row) = q.next().unwrap() {
                let cells: Vec<String> = (0..n)
                    .map(|i| format!("{:?}", row.get::<_, rusqlite::types::Value>(i).unwrap()))
                    .collect();
                rows.push(format!("{table}: {}", cells.join(" | ")));
            }
        }
        rows
    }

    #[test]
    fn a_merged_batch_writes_what_its_events_one_by_one_write() {
        let events = events();
        let one_by_one = Metadata::open_in_memory().unwrap();
        for e in &events {
            one_by_one.record(std::slice::from_ref(e)).unwrap();
        }
        let expected = dump(&one_by_one);
        assert!(expected.len() > 6, "{expected:#?}");
        // Cut into two batches at every point: the same rows.
        for cut in 0..=events.len() {
            let meta = Metadata::open_in_memory().unwrap();
            meta.record(&events[..cut]).unwrap();
            meta.record(&events[cut..]).unwrap();
            assert_eq!(dump(&meta), expected, "cut at event {cut}");
        }
    }

    #[test]
    fn a_task_within_one_batch_is_two_inserts() {
        let events = events();
        let ops = merge(&events[..9]);
        let kinds: Vec<&str> = ops
            .iter()
            .map(|op| match op {
                Op::Event(_) => "event",
                Op::Task(_) => "task",
                Op::Attempt(_) => "attempt",
            })
            .collect();
        // The run's start, the task, its attempt, its cache entry.
        assert_eq!(kinds, ["event", "task", "attempt", "event"]);
    }

    #[test]
    fn a_failing_event_in_a_merged_batch_is_still_named() {
        let meta = Metadata::open_in_memory().unwrap();
        let events = events();
        meta.record(&events[..3]).unwrap();
        // The task's start again, with its end: refused as a duplicate, naming the task.
        let again = [events[1].clone(), events[7].clone()];
        let e = meta.record(&again).unwrap_err();
        assert!(e.to_string().contains("task 1 of run"), "{e}");
        let e = meta.record_skipping_failures(&again).unwrap_err();
        assert!(e.to_string().contains("task 1 of run"), "{e}");
        // The end alone went in.
        let status: String = meta
            .lock()
            .query_row("SELECT status FROM tasks WHERE task_id = 1", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(status, "succeeded");
    }
}
