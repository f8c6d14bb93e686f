//! The table of step summaries (`step_summary`, schema version 7), kept as events are recorded
//! with the logic of `wflow_metadata::summary` (a task's share, a batch's change, how it lands):
//! this module only reads the shares of a batch's tasks before and after it and writes the rows
//! the changes say.

use std::collections::HashMap;

use deadpool_postgres::{GenericClient, Transaction};
use tokio_postgres::Row;
use wflow_metadata::summary::{Share, Touched, task_of};
use wflow_metadata::{Event, StepStats};

use super::{ApiResult, status};
use crate::error::ApiError;
use crate::schema::DERIVED;

/// The summary columns of a `step_summary` row (after `step`).
const STATS_COLUMNS: &str = "tasks, succeeded, failed, running, reused, cached, caught, attempts, \
     first_started_ms, last_finished_ms, task_ms, max_task_ms";

/// The tasks of a batch whose shares it may change, each once.
pub(super) fn tasks_of(events: &[Event]) -> (Vec<String>, Vec<i64>) {
    let mut seen = std::collections::HashSet::new();
    let (mut runs, mut ids) = (Vec::new(), Vec::new());
    for (run, task) in events.iter().filter_map(task_of) {
        if let Ok(id) = i64::try_from(task)
            && seen.insert((run, task))
        {
            runs.push(run.to_string());
            ids.push(id);
        }
    }
    (runs, ids)
}

/// Serialises the writers of the batch's runs until the transaction ends (a summary is read,
/// changed and written back), in run order so two batches never wait for each other in turn.
pub(super) async fn lock_runs(tx: &Transaction<'_>, events: &[Event]) -> ApiResult<()> {
    let mut ids: Vec<&str> = events.iter().map(Event::run_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let st = tx
        .prepare_cached(
            "SELECT pg_advisory_xact_lock(7395202, hashtext(r)) FROM unnest($1::text[]) AS r
             ORDER BY r",
        )
        .await
        .map_err(|e| ApiError::db("locking the runs' summaries", &e))?;
    tx.query(&st, &[&ids])
        .await
        .map_err(|e| ApiError::db("locking the runs' summaries", &e))?;
    Ok(())
}

/// The shares of the tasks `(runs[i], ids[i])` that are recorded.
pub(super) async fn shares(
    client: &impl GenericClient,
    (runs, ids): &(Vec<String>, Vec<i64>),
) -> ApiResult<HashMap<(String, u64), Share>> {
    let err = |e: tokio_postgres::Error| ApiError::db("reading the tasks' summaries", &e);
    if runs.is_empty() {
        return Ok(HashMap::new());
    }
    let st = client
        .prepare_cached(
            "SELECT t.run_id, t.task_id, t.step, t.status, t.started_ms, t.finished_ms, t.attempts,
                    t.origin_task IS NOT NULL, t.cached AND t.origin_task IS NOT NULL,
                    (t.status = 'succeeded' AND EXISTS (SELECT 1 FROM attempts a
                     WHERE a.run_id = t.run_id AND a.task_id = t.task_id
                     AND a.attempt = t.attempts - 1 AND a.status = 'failed'))
             FROM unnest($1::text[], $2::int8[]) AS k(r, i)
             JOIN tasks t ON t.run_id = k.r AND t.task_id = k.i",
        )
        .await
        .map_err(err)?;
    let rows = client.query(&st, &[runs, ids]).await.map_err(err)?;
    let mut out = HashMap::with_capacity(rows.len());
    for row in rows {
        let key = (row.get::<_, String>(0), row.get::<_, i64>(1) as u64);
        out.insert(
            key,
            Share {
                step: row.get(2),
                status: status(&row, 3)?,
                started_ms: row.get(4),
                finished_ms: row.get(5),
                attempts: row.get::<_, i32>(6) as u32,
                reused: row.get(7),
                cached: row.get(8),
                caught: row.get(9),
            },
        );
    }
    Ok(out)
}

/// Writes the summaries the batch changed: its tasks' shares were `before` and are `after`.
pub(super) async fn update(
    tx: &Transaction<'_>,
    keys: &(Vec<String>, Vec<i64>),
    before: HashMap<(String, u64), Share>,
) -> ApiResult<()> {
    let after = shares(tx, keys).await?;
    let mut touched = Touched::default();
    let mut before = before;
    for (run, id) in keys.0.iter().zip(&keys.1) {
        let key = (run.clone(), *id as u64);
        let share = before.remove(&key);
        touched.note(run, *id as u64, share);
    }
    let changes = touched.changes(&after);
    if changes.is_empty() {
        return Ok(());
    }
    let err = |e: tokio_postgres::Error| ApiError::db("summing up the steps", &e);
    let (runs, steps): (Vec<&str>, Vec<&str>) = changes
        .keys()
        .map(|(r, s)| (r.as_str(), s.as_str()))
        .unzip();
    let st = tx
        .prepare_cached(&format!(
            "SELECT s.run_id, s.step, {STATS_COLUMNS}
             FROM unnest($1::text[], $2::text[]) AS k(r, s)
             JOIN step_summary s ON s.run_id = k.r AND s.step = k.s"
        ))
        .await
        .map_err(err)?;
    let mut stored: HashMap<(String, String), StepStats> = HashMap::new();
    for row in tx.query(&st, &[&runs, &steps]).await.map_err(err)? {
        stored.insert((row.get(0), row.get(1)), read_stats(&row, 1));
    }
    for ((run, step), change) in &changes {
        match change.land(stored.get(&(run.clone(), step.clone())), step) {
            Some(s) => {
                let st = tx
                    .prepare_cached(&format!(
                        "INSERT INTO step_summary (run_id, step, {STATS_COLUMNS})
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
                         ON CONFLICT (run_id, step) DO UPDATE SET
                         tasks = EXCLUDED.tasks, succeeded = EXCLUDED.succeeded,
                         failed = EXCLUDED.failed, running = EXCLUDED.running,
                         reused = EXCLUDED.reused, cached = EXCLUDED.cached,
                         caught = EXCLUDED.caught, attempts = EXCLUDED.attempts,
                         first_started_ms = EXCLUDED.first_started_ms,
                         last_finished_ms = EXCLUDED.last_finished_ms,
                         task_ms = EXCLUDED.task_ms, max_task_ms = EXCLUDED.max_task_ms"
                    ))
                    .await
                    .map_err(err)?;
                let n = |v: u64| v as i64;
                tx.execute(
                    &st,
                    &[
                        run,
                        step,
                        &n(s.tasks),
                        &n(s.succeeded),
                        &n(s.failed),
                        &n(s.running),
                        &n(s.reused),
                        &n(s.cached),
                        &n(s.caught),
                        &n(s.attempts),
                        &s.first_started_ms,
                        &s.last_finished_ms,
                        &s.task_ms,
                        &s.max_task_ms,
                    ],
                )
                .await
                .map_err(err)?;
            }
            None => {
                // An extreme may be gone: derive the step again from its tasks.
                tx.execute(
                    "DELETE FROM step_summary WHERE run_id = $1 AND step = $2",
                    &[run, step],
                )
                .await
                .map_err(err)?;
                tx.execute(
                    &format!(
                        "INSERT INTO step_summary (run_id, step, {STATS_COLUMNS})
                         SELECT run_id, step, {DERIVED} FROM tasks
                         WHERE run_id = $1 AND step = $2 GROUP BY run_id, step"
                    ),
                    &[run, step],
                )
                .await
                .map_err(err)?;
            }
        }
    }
    Ok(())
}

/// A summary from a row whose column `at` is `step` and the next ones [`STATS_COLUMNS`].
fn read_stats(row: &Row, at: usize) -> StepStats {
    let n = |i: usize| row.get::<_, i64>(at + i) as u64;
    StepStats {
        step: row.get(at),
        tasks: n(1),
        succeeded: n(2),
        failed: n(3),
        running: n(4),
        reused: n(5),
        cached: n(6),
        caught: n(7),
        attempts: n(8),
        first_started_ms: row.get(at + 9),
        last_finished_ms: row.get(at + 10),
        task_ms: row.get(at + 11),
        max_task_ms: row.get(at + 12),
    }
}

/// The summaries of a run's steps, by step name.
pub async fn step_stats(pool: &deadpool_postgres::Pool, run_id: &str) -> ApiResult<Vec<StepStats>> {
    let client = pool.get().await?;
    let err = |e: tokio_postgres::Error| ApiError::db("summing up the steps", &e);
    let st = client
        .prepare_cached(&format!(
            "SELECT step, {STATS_COLUMNS} FROM step_summary WHERE run_id = $1 ORDER BY step COLLATE \"C\""
        ))
        .await
        .map_err(err)?;
    let rows = client.query(&st, &[&run_id]).await.map_err(err)?;
    Ok(rows.iter().map(|r| read_stats(r, 0)).collect())
}
