//! The SQLite file's table of step summaries (`step_summary`, schema version 7): the rows
//! [`Touched`] and [`Change`] say to write.

use std::collections::HashMap;
use std::path::Path;

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{Share, Touched, task_of};
use crate::merge::Op;
use crate::query::{OF_RUN, col};
use crate::schema::DERIVED;
use crate::{Event, MetadataError, Result, Status, StepStats};

/// A task's share, from a row of `tasks`.
const SHARE_COLUMNS: &str = "step, status, started_ms, finished_ms, attempts, \
     origin_task IS NOT NULL, cached AND origin_task IS NOT NULL, \
     (status = 'succeeded' AND EXISTS (SELECT 1 FROM attempts a \
      WHERE a.run = tasks.run AND a.task_id = tasks.task_id \
      AND a.attempt = tasks.attempts - 1 AND a.status = 'failed'))";

const STATS_COLUMNS: &str = "tasks, succeeded, failed, running, reused, cached, caught, attempts, \
     first_started_ms, last_finished_ms, task_ms, max_task_ms";

fn read_share(path: &Path, row: &Row) -> Result<Share> {
    let status: String = col(path, row, 1, "status")?;
    Ok(Share {
        step: col(path, row, 0, "step")?,
        status: status
            .parse::<Status>()
            .map_err(|e| MetadataError::corrupt(path, "column `status`", e))?,
        started_ms: col(path, row, 2, "started_ms")?,
        finished_ms: col(path, row, 3, "finished_ms")?,
        attempts: col(path, row, 4, "attempts")?,
        reused: col(path, row, 5, "reused")?,
        cached: col(path, row, 6, "cached")?,
        caught: col(path, row, 7, "caught")?,
    })
}

fn share(conn: &Connection, path: &Path, run_id: &str, task_id: u64) -> Result<Option<Share>> {
    let err =
        |e| MetadataError::sqlite(path, format!("reading task {task_id} of run `{run_id}`"), e);
    let mut st = conn
        .prepare_cached(&format!(
            "SELECT {SHARE_COLUMNS} FROM tasks WHERE {OF_RUN} AND task_id = ?2"
        ))
        .map_err(err)?;
    let mut rows = st.query(params![run_id, task_id]).map_err(err)?;
    match rows.next().map_err(err)? {
        Some(row) => read_share(path, row).map(Some),
        None => Ok(None),
    }
}

/// Notes the share of the task `event` touches, before it applies. (A task's start is noted
/// once it applied, with no share before, saving a read: had the task been recorded, its start
/// would have failed.)
pub(crate) fn note(
    conn: &Connection,
    path: &Path,
    touched: &mut Touched,
    event: &Event,
) -> Result<()> {
    if let Some((run_id, task_id)) = task_of(event)
        && !matches!(event, Event::TaskStarted { .. })
        && !touched.has(run_id, task_id)
    {
        touched.note(run_id, task_id, share(conn, path, run_id, task_id)?);
    }
    Ok(())
}

/// Notes what `event` did once it applied: a task started had no share before.
pub(crate) fn applied(touched: &mut Touched, event: &Event) {
    if let Event::TaskStarted {
        run_id, task_id, ..
    } = event
    {
        touched.note(run_id, *task_id, None);
    }
}

/// The shares of the tasks a merged batch inserts whole: rows no event applied as it is
/// changes after their insert, so the row (and its attempts' rows) is what the table holds.
/// [`flush`] then reads back only the other tasks' rows.
pub(crate) fn shares_of_rows(ops: &[Op]) -> HashMap<(String, u64), Share> {
    let changed: std::collections::HashSet<(&str, u64)> = ops
        .iter()
        .filter_map(|op| match op {
            Op::Event(e) => task_of(e),
            _ => None,
        })
        .collect();
    // The failed attempts, for whether a task that succeeded caught its last one's error.
    let failed: std::collections::HashSet<(&str, u64, u32)> = ops
        .iter()
        .filter_map(|op| match op {
            Op::Attempt(a) if a.status == Status::Failed => Some((a.run_id, a.task_id, a.attempt)),
            _ => None,
        })
        .collect();
    let mut out = HashMap::new();
    for op in ops {
        let Op::Task(t) = op else { continue };
        if changed.contains(&(t.run_id, t.task_id)) {
            continue;
        }
        let caught = t.status == Status::Succeeded
            && t.attempts > 0
            && failed.contains(&(t.run_id, t.task_id, t.attempts - 1));
        out.insert(
            (t.run_id.to_string(), t.task_id),
            Share {
                step: t.step.to_string(),
                status: t.status,
                started_ms: t.started_ms,
                finished_ms: t.finished_ms,
                attempts: t.attempts,
                reused: t.origin_task.is_some(),
                cached: t.cached && t.origin_task.is_some(),
                caught,
            },
        );
    }
    out
}

/// Writes the summaries the batch changed, once its events applied; `known` holds the shares
/// of tasks known without reading their rows ([`shares_of_rows`]).
pub(crate) fn flush(
    conn: &Connection,
    path: &Path,
    touched: &Touched,
    mut known: HashMap<(String, u64), Share>,
) -> Result<()> {
    let mut after = HashMap::new();
    for (run_id, task_id) in touched.tasks() {
        let key = (run_id.clone(), *task_id);
        if let Some(s) = known.remove(&key) {
            after.insert(key, s);
        } else if let Some(s) = share(conn, path, run_id, *task_id)? {
            after.insert(key, s);
        }
    }
    for ((run_id, step), change) in touched.changes(&after) {
        let err = |e| {
            MetadataError::sqlite(
                path,
                format!("summing up step `{step}` of run `{run_id}`"),
                e,
            )
        };
        let stored = conn
            .prepare_cached(&format!(
                "SELECT step, {STATS_COLUMNS} FROM step_summary WHERE run_id = ?1 AND step = ?2"
            ))
            .map_err(err)?
            .query_row(params![run_id, step], |row| Ok(read_stats(path, row)))
            .optional()
            .map_err(err)?
            .transpose()?;
        match change.land(stored.as_ref(), &step) {
            Some(s) => {
                conn.prepare_cached(&format!(
                    "INSERT OR REPLACE INTO step_summary (run_id, step, {STATS_COLUMNS})
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
                ))
                .map_err(err)?
                .execute(params![
                    run_id,
                    step,
                    s.tasks,
                    s.succeeded,
                    s.failed,
                    s.running,
                    s.reused,
                    s.cached,
                    s.caught,
                    s.attempts,
                    s.first_started_ms,
                    s.last_finished_ms,
                    s.task_ms,
                    s.max_task_ms
                ])
                .map_err(err)?;
            }
            None => {
                conn.prepare_cached("DELETE FROM step_summary WHERE run_id = ?1 AND step = ?2")
                    .map_err(err)?
                    .execute(params![run_id, step])
                    .map_err(err)?;
                conn.prepare_cached(&format!(
                    "INSERT INTO step_summary (run_id, step, {STATS_COLUMNS})
                     SELECT ?1, step, {DERIVED} FROM tasks
                     WHERE {OF_RUN} AND step = ?2 GROUP BY step"
                ))
                .map_err(err)?
                .execute(params![run_id, step])
                .map_err(err)?;
            }
        }
    }
    Ok(())
}

/// A row of `step_summary` (`step` then the summary columns).
pub(crate) fn read_stats(path: &Path, row: &Row) -> Result<StepStats> {
    let n = |i: usize, what: &str| col::<i64>(path, row, i, what).map(|v| v as u64);
    Ok(StepStats {
        step: col(path, row, 0, "step")?,
        tasks: n(1, "tasks")?,
        succeeded: n(2, "succeeded")?,
        failed: n(3, "failed")?,
        running: n(4, "running")?,
        reused: n(5, "reused")?,
        cached: n(6, "cached")?,
        caught: n(7, "caught")?,
        attempts: n(8, "attempts")?,
        first_started_ms: col(path, row, 9, "first_started_ms")?,
        last_finished_ms: col(path, row, 10, "last_finished_ms")?,
        task_ms: col(path, row, 11, "task_ms")?,
        max_task_ms: col(path, row, 12, "max_task_ms")?,
    })
}

#[cfg(test)]
mod tests {
    use wflow_core::Digest;

    use crate::backend::step_stats_of;
    use crate::{Event, Metadata, ReuseReason, Status};

    /// Whether the kept summaries are what the tasks add up to, for every run.
    fn check(meta: &Metadata, runs: &[&str]) {
        for run in runs {
            let kept = meta.step_stats(run).unwrap();
            let derived = step_stats_of(&meta.tasks(run).unwrap());
            assert_eq!(kept, derived, "run {run}");
        }
    }

    /// A deterministic stream of task events over two runs: starts, retries (some caught),
    /// failures, attempts that report a later real start, reused and cached tasks, cut into
    /// batches of varied size, some written event by event, some with a bad event inside.
    #[test]
    fn kept_summaries_match_the_tasks_batch_after_batch() {
        let meta = Metadata::open_in_memory().unwrap();
        let runs = ["R1", "R2"];
        let mut events = Vec::new();
        for (r, run) in runs.iter().enumerate() {
            events.push(Event::RunStarted {
                run_id: run.to_string(),
                flow: "F".into(),
                component: Digest::of(b"F"),
                params: serde_json::json!({}),
                spec: serde_json::json!({}),
                started_ms: r as i64,
                origin_run: None,
                user: "ada".into(),
                kind: Default::default(),
            });
        }
        let mut seed = 7u64;
        let mut rnd = |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        for task_id in 1..=120u64 {
            let run_id = runs[(task_id % 2) as usize].to_string();
            let step = ["a", "b", "c"][rnd(3) as usize].to_string();
            let t0 = 100 + rnd(1000) as i64;
            events.push(Event::TaskStarted {
                run_id: run_id.clone(),
                task_id,
                step,
                foreach_path: vec![],
                inputs: vec![],
                started_ms: t0,
            });
            if rnd(5) == 0 {
                events.push(Event::TaskReused {
                    run_id,
                    task_id,
                    origin_run: "R0".into(),
                    origin_task: task_id,
                    manifest: Digest::of(b"m"),
                    finished_ms: t0,
                    component: None,
                    reason: if rnd(2) == 0 {
                        ReuseReason::Cached
                    } else {
                        Default::default()
                    },
                });
                continue;
            }
            let tries = 1 + rnd(3) as u32;
            for attempt in 0..tries {
                let status = if rnd(3) == 0 {
                    Status::Failed
                } else {
                    Status::Succeeded
                };
                events.push(Event::AttemptStarted {
                    run_id: run_id.clone(),
                    task_id,
                    attempt,
                    started_ms: t0,
                });
                if rnd(4) == 0 && attempt + 1 == tries {
                    break; // still running
                }
                events.push(Event::AttemptFinished {
                    run_id: run_id.clone(),
                    task_id,
                    attempt,
                    status,
                    // A remote attempt reports when it really began.
                    started_ms: (rnd(3) == 0).then_some(t0 + rnd(50) as i64),
                    finished_ms: t0 + 60 + rnd(500) as i64,
                    error: None,
                    stdout: None,
                    stderr: None,
                });
                if attempt + 1 == tries {
                    // A caught failure: the task succeeded though its last attempt failed.
                    let caught = status == Status::Failed && rnd(2) == 0;
                    events.push(Event::TaskFinished {
                        run_id: run_id.clone(),
                        task_id,
                        status: if caught { Status::Succeeded } else { status },
                        finished_ms: t0 + 600,
                        manifest: None,
                    });
                }
            }
        }
        let mut at = 0;
        let mut batch = 0;
        while at < events.len() {
            let n = (1 + rnd(40) as usize).min(events.len() - at);
            let slice = &events[at..at + n];
            match batch % 3 {
                0 => meta.record(slice).unwrap(),
                1 => {
                    let mut with_bad = slice.to_vec();
                    with_bad.insert(
                        with_bad.len() / 2,
                        Event::TaskFinished {
                            run_id: "R1".into(),
                            task_id: 9999,
                            status: Status::Succeeded,
                            finished_ms: 1,
                            manifest: None,
                        },
                    );
                    if at > 2 {
                        // A second start of a task recorded already (task 1, the third event).
                        with_bad.insert(0, events[2].clone());
                    }
                    assert!(meta.record_skipping_failures(&with_bad).is_err());
                }
                _ => {
                    for e in slice {
                        meta.record(std::slice::from_ref(e)).unwrap();
                    }
                }
            }
            check(&meta, &runs);
            at += n;
            batch += 1;
        }
        let stats = meta.step_stats("R1").unwrap();
        assert!(stats.iter().map(|s| s.caught).sum::<u64>() > 0, "{stats:?}");
        assert!(stats.iter().map(|s| s.cached).sum::<u64>() > 0, "{stats:?}");
        assert!(
            stats.iter().map(|s| s.running).sum::<u64>() > 0,
            "{stats:?}"
        );
        // A failed batch changes no summary; removed runs take theirs with them.
        let before = meta.step_stats("R2").unwrap();
        assert!(
            meta.record(&[Event::TaskStarted {
                run_id: "R2".into(),
                task_id: 1,
                step: "a".into(),
                foreach_path: vec![],
                inputs: vec![],
                started_ms: 0,
            }])
            .is_err()
        );
        assert_eq!(meta.step_stats("R2").unwrap(), before);
        meta.delete_runs(&["R2".into()]).unwrap();
        assert!(meta.step_stats("R2").unwrap().is_empty());
        check(&meta, &runs);
    }
}
