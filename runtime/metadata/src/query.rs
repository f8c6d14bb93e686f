//! Reading records back: runs, tasks, attempts and flow names.

use std::path::Path;
use std::str::FromStr;

use rusqlite::types::FromSql;
use rusqlite::{Params, Row, params};
use wflow_core::{CacheKey, Digest};

use crate::{
    AttemptRecord, CacheEntry, Metadata, MetadataError, Result, RunFilter, RunKind, RunRecord,
    Status, StepStats, TaskQuery, TaskRecord,
};

const RUN_COLUMNS: &str = "run_id, flow, component, params, spec, status, started_ms, \
                           finished_ms, error, origin_run, user, kind";
/// The columns [`read_task`] reads, from `tasks` in a statement whose `?1` is the run id (the
/// table holds its key: the run id comes back from the parameter).
const TASK_COLUMNS: &str = "?1, task_id, step, foreach_path, inputs, status, started_ms, \
                            finished_ms, manifest, attempts, origin_run, origin_task, \
                            foreach_items, component, manifest_bytes, cached, \
                            (status = 'succeeded' AND EXISTS (SELECT 1 FROM attempts a \
                             WHERE a.run = tasks.run AND a.task_id = tasks.task_id \
                             AND a.attempt = tasks.attempts - 1 AND a.status = 'failed'))";
/// The columns [`read_attempt`] reads, from `attempts` in a statement whose `?1` is the run id.
pub(crate) const ATTEMPT_COLUMNS: &str = "?1, task_id, attempt, status, started_ms, finished_ms, \
                                          error, stdout, stderr, stdout_bytes, stderr_bytes";
/// `WHERE` the run is `?1`, in the per-task tables.
pub(crate) const OF_RUN: &str = concat!("run = ", run_key!());

impl Metadata {
    /// Runs newest first, optionally of one flow.
    pub fn runs(&self, flow: Option<&str>) -> Result<Vec<RunRecord>> {
        let order = "ORDER BY started_ms DESC, run_id DESC";
        match flow {
            Some(flow) => self.select(
                &format!("SELECT {RUN_COLUMNS} FROM runs WHERE flow = ?1 {order}"),
                params![flow],
                || format!("listing the runs of flow `{flow}`"),
                read_run,
            ),
            None => self.select(
                &format!("SELECT {RUN_COLUMNS} FROM runs {order}"),
                [],
                || "listing runs".to_string(),
                read_run,
            ),
        }
    }

    /// The run `run_id`, if recorded.
    pub fn run(&self, run_id: &str) -> Result<Option<RunRecord>> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE run_id = ?1");
        let rows = self.select(
            &sql,
            params![run_id],
            || format!("reading run `{run_id}`"),
            read_run,
        )?;
        Ok(rows.into_iter().next())
    }

    /// Tasks of a run ordered by task_id.
    pub fn tasks(&self, run_id: &str) -> Result<Vec<TaskRecord>> {
        let sql = format!("SELECT {TASK_COLUMNS} FROM tasks WHERE {OF_RUN} ORDER BY task_id");
        self.select(
            &sql,
            params![run_id],
            || format!("listing the tasks of run `{run_id}`"),
            read_task,
        )
    }

    /// Task `task_id` of run `run_id`, if recorded.
    pub fn task(&self, run_id: &str, task_id: u64) -> Result<Option<TaskRecord>> {
        let sql = format!("SELECT {TASK_COLUMNS} FROM tasks WHERE {OF_RUN} AND task_id = ?2");
        let action = || format!("reading task {task_id} of run `{run_id}`");
        Ok(self
            .select(&sql, params![run_id, task_id], action, read_task)?
            .into_iter()
            .next())
    }

    /// The attempts of a task, in order of attempt number (empty if the task is not recorded).
    pub fn attempts(&self, run_id: &str, task_id: u64) -> Result<Vec<AttemptRecord>> {
        let sql = format!(
            "SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE {OF_RUN} AND task_id = ?2 \
             ORDER BY attempt"
        );
        let action = || format!("listing the attempts of task {task_id} of run `{run_id}`");
        self.select(&sql, params![run_id, task_id], action, read_attempt)
    }

    /// The runs `filter` selects, newest first (by start time, then run id).
    ///
    /// Served by the indexes on `runs (flow, started_ms)`, `runs (started_ms)` and
    /// `tags (tag, run_id)`, so a page of the newest runs costs the same with a thousand runs
    /// recorded as with ten.
    pub fn find_runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>> {
        let (clause, args) = run_filter_sql(filter);
        let limit = filter.limit.map_or(-1, |l| l.min(i64::MAX as usize) as i64);
        let columns = if filter.skip_spec {
            RUN_COLUMNS.replace("spec,", "'null',")
        } else {
            RUN_COLUMNS.to_string()
        };
        let sql = format!(
            "SELECT {columns} FROM runs {clause} ORDER BY started_ms DESC, run_id DESC \
             LIMIT {limit} OFFSET {}",
            filter.offset
        );
        self.select(
            &sql,
            rusqlite::params_from_iter(args.iter()),
            || describe(filter),
            read_run,
        )
    }

    /// How many runs `filter` selects, ignoring its `limit` and `offset`.
    pub fn count_runs(&self, filter: &RunFilter) -> Result<u64> {
        let (clause, args) = run_filter_sql(filter);
        let sql = format!("SELECT COUNT(*) FROM runs {clause}");
        let rows = self.select(
            &sql,
            rusqlite::params_from_iter(args.iter()),
            || format!("counting {}", describe(filter)),
            |path, row| col::<i64>(path, row, 0, "count"),
        )?;
        Ok(rows.first().copied().unwrap_or(0) as u64)
    }

    /// The newest run of `flow`, optionally only among runs with status `status`; step-runs
    /// are left out (see [`MetadataStore::latest_run`](crate::MetadataStore::latest_run)).
    pub fn latest_run(&self, flow: &str, status: Option<Status>) -> Result<Option<RunRecord>> {
        let filter = crate::backend::latest_filter(flow, status);
        Ok(self.find_runs(&filter)?.into_iter().next())
    }

    /// The ids of every run of `flow`, newest first (cheap: no record is decoded).
    pub fn run_ids(&self, flow: &str) -> Result<Vec<String>> {
        self.select(
            "SELECT run_id FROM runs WHERE flow = ?1 ORDER BY started_ms DESC, run_id DESC",
            params![flow],
            || format!("listing the run ids of flow `{flow}`"),
            |path, row| col(path, row, 0, "run_id"),
        )
    }

    /// The tasks of one step of a run, by task id.
    pub fn tasks_of_step(&self, run_id: &str, step: &str) -> Result<Vec<TaskRecord>> {
        let sql = format!(
            "SELECT {TASK_COLUMNS} FROM tasks WHERE {OF_RUN} AND step = ?2 ORDER BY task_id"
        );
        self.select(
            &sql,
            params![run_id, step],
            || format!("listing the tasks of step `{step}` of run `{run_id}`"),
            read_task,
        )
    }

    /// The newest task of step `step` of run `run_id` on foreach item `path`: its id found in
    /// the index `tasks (run, step, item_key)`, then its row (beyond 8 levels, where keys
    /// may tie, the newest whose path is `path`).
    pub fn task_of_item(
        &self,
        run_id: &str,
        step: &str,
        path: &[u32],
    ) -> Result<Option<TaskRecord>> {
        let action =
            || format!("finding the task of item {path:?} of step `{step}` of run `{run_id}`");
        let ids: Vec<u64> = self.select(
            &format!(
                "SELECT task_id FROM tasks INDEXED BY tasks_by_item_key \
                 WHERE {OF_RUN} AND step = ?2 AND item_key = ?3 ORDER BY task_id DESC"
            ),
            params![run_id, step, crate::item_key(path)],
            action,
            |p, row| col(p, row, 0, "task_id"),
        )?;
        for id in ids {
            match self.task(run_id, id)? {
                Some(t) if t.foreach_path == path => return Ok(Some(t)),
                _ => {}
            }
        }
        Ok(None)
    }

    /// A page of the tasks of one step of a run (see [`TaskQuery`]). SQLite reads the page's
    /// task ids walking the index of its order ([`TaskQuery::index`]: `tasks (run, step)` by
    /// task id, `(run, step, <key>)` by any other key) from whichever end of the step is
    /// nearer (the step's summary says how many tasks it has), then decodes only the rows of
    /// the page.
    pub fn step_tasks(
        &self,
        run_id: &str,
        step: &str,
        query: &TaskQuery,
    ) -> Result<Vec<TaskRecord>> {
        let action = || format!("listing the tasks of step `{step}` of run `{run_id}`");
        let total = self
            .step_stats_of(run_id, step)?
            .map(|s| match query.status {
                None => s.tasks,
                Some(Status::Succeeded) => s.succeeded,
                Some(Status::Failed) => s.failed,
                Some(Status::Running) => s.running,
            })
            .unwrap_or(0) as usize;
        let flipped = query.from_the_end(total);
        let q = flipped.as_ref().unwrap_or(query);
        let sql = page_sql(q);
        let status = q.status.map(|s| s.as_str()).unwrap_or("");
        let mut ids: Vec<u64> =
            self.select(&sql, params![run_id, step, status], action, |path, row| {
                col(path, row, 0, "task_id")
            })?;
        if flipped.is_some() {
            ids.reverse();
        }
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let list = serde_json::to_string(&ids).expect("a list of numbers");
        let sql = format!(
            "SELECT {TASK_COLUMNS} FROM tasks WHERE {OF_RUN} \
             AND task_id IN (SELECT value FROM json_each(?2))"
        );
        let mut rows: std::collections::HashMap<u64, TaskRecord> = self
            .select(&sql, params![run_id, list], action, read_task)?
            .into_iter()
            .map(|t| (t.task_id, t))
            .collect();
        Ok(ids.iter().filter_map(|id| rows.remove(id)).collect())
    }

    /// The summary of one step of a run (`None`: it has no task).
    fn step_stats_of(&self, run_id: &str, step: &str) -> Result<Option<StepStats>> {
        let sql = "SELECT step, tasks, succeeded, failed, running, reused, cached, caught, \
                   attempts, first_started_ms, last_finished_ms, task_ms, max_task_ms \
                   FROM step_summary WHERE run_id = ?1 AND step = ?2";
        Ok(self
            .select(
                sql,
                params![run_id, step],
                || format!("summing up step `{step}` of run `{run_id}`"),
                crate::summary::read_stats,
            )?
            .into_iter()
            .next())
    }

    /// Per step of a run, what its tasks add up to (counts by status, attempts, times): the
    /// rows of `step_summary`, kept as the tasks are recorded (see `crate::summary`); steps
    /// without tasks are absent. Ordered by step name.
    pub fn step_stats(&self, run_id: &str) -> Result<Vec<StepStats>> {
        let sql = "SELECT step, tasks, succeeded, failed, running, reused, cached, caught, \
                   attempts, first_started_ms, last_finished_ms, task_ms, max_task_ms \
                   FROM step_summary WHERE run_id = ?1 ORDER BY step";
        self.select(
            sql,
            params![run_id],
            || format!("summing up the steps of run `{run_id}`"),
            crate::summary::read_stats,
        )
    }

    /// Earlier successful tasks filed under each of `keys` (see
    /// [`MetadataStore::cache_lookup`](crate::MetadataStore::cache_lookup)): one indexed query
    /// per key, in one read.
    pub fn cache_lookup(&self, keys: &[CacheKey], limit: usize) -> Result<Vec<Vec<CacheEntry>>> {
        let conn = self.lock();
        let err = |e| MetadataError::sqlite(&self.path, "looking up the task cache", e);
        // The limit is part of the text, not a bound parameter: SQLite plans around a bound
        // LIMIT's value, so binding it (even to the same value) expires the statement and every
        // lookup would parse and plan the query again (most of a lookup's cost).
        let sql = format!(
            "SELECT r.run_id, c.task_id, c.reads, t.manifest, t.manifest_bytes, t.foreach_items
             FROM task_cache c JOIN tasks t ON t.run = c.run AND t.task_id = c.task_id
                  JOIN runs r ON r.id = c.run
             WHERE c.scope = ?1 AND c.item = ?2 AND t.status = 'succeeded'
                   AND t.manifest IS NOT NULL
             ORDER BY t.finished_ms DESC LIMIT {limit}"
        );
        let mut st = conn.prepare_cached(&sql).map_err(err)?;
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            let mut rows = st
                .query(params![&key.scope.0[..], &key.item.0[..]])
                .map_err(err)?;
            let mut found = Vec::new();
            while let Some(row) = rows.next().map_err(err)? {
                let path = &self.path;
                let run_id: String = col(path, row, 0, "run_id")?;
                let task_id: u64 = col(path, row, 1, "task_id")?;
                let owner = format!("the cache entry of task {task_id} of run `{run_id}`");
                found.push(CacheEntry {
                    reads: json(path, row, 2, "reads", &owner)?,
                    manifest: digest(path, row, 3, "manifest", &owner)?
                        .expect("selected where not null"),
                    manifest_bytes: col(path, row, 4, "manifest_bytes")?,
                    foreach_items: digest(path, row, 5, "foreach_items", &owner)?,
                    run_id,
                    task_id,
                });
            }
            out.push(found);
        }
        Ok(out)
    }

    /// The names of the flows that have runs, sorted.
    pub fn flows(&self) -> Result<Vec<String>> {
        let sql = "SELECT DISTINCT flow FROM runs ORDER BY flow";
        self.select(
            sql,
            [],
            || "listing flows".to_string(),
            |path, row| col(path, row, 0, "flow"),
        )
    }

    /// Runs `sql` and reads every row with `read`.
    pub(crate) fn select<T>(
        &self,
        sql: &str,
        params: impl Params,
        action: impl Fn() -> String,
        read: impl Fn(&Path, &Row) -> Result<T>,
    ) -> Result<Vec<T>> {
        let conn = self.lock();
        let err = |e| MetadataError::sqlite(&self.path, action(), e);
        let mut st = conn.prepare_cached(sql).map_err(err)?;
        let mut rows = st.query(params).map_err(err)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(err)? {
            out.push(read(&self.path, row)?);
        }
        Ok(out)
    }
}

/// The SQL of the task ids of a page of a step's tasks (`?1` the run, `?2` the step, `?3` the
/// status or `''`): the index of the order named (SQLite's planner, without statistics, may
/// otherwise walk the run's primary key to spare the sort), read alone without a status filter.
fn page_sql(q: &TaskQuery) -> String {
    let limit = q.limit.map_or(-1, |l| l.min(i64::MAX as usize) as i64);
    let index = q.index();
    let filter = if q.status.is_some() {
        "AND status = ?3"
    } else {
        "AND ?3 = ''"
    };
    format!(
        "SELECT task_id FROM tasks INDEXED BY {index} WHERE {OF_RUN} AND step = ?2 {filter} {} \
         LIMIT {limit} OFFSET {}",
        q.order_by_keys(),
        q.offset
    )
}

/// The WHERE clause and its arguments for a run filter.
fn run_filter_sql(filter: &RunFilter) -> (String, Vec<String>) {
    let mut conds = Vec::new();
    let mut args = Vec::new();
    if let Some(flow) = &filter.flow {
        args.push(flow.clone());
        conds.push(format!("flow = ?{}", args.len()));
    }
    if let Some(status) = filter.status {
        args.push(status.as_str().to_string());
        conds.push(format!("status = ?{}", args.len()));
    }
    if let Some(kind) = filter.kind {
        args.push(kind.as_str().to_string());
        conds.push(format!("kind = ?{}", args.len()));
    }
    if let Some(user) = &filter.user {
        args.push(user.clone());
        conds.push(format!("user = ?{}", args.len()));
    }
    // Text arguments compare as integers with the INTEGER column (numeric affinity).
    if let Some(since) = filter.since_ms {
        args.push(since.to_string());
        conds.push(format!("started_ms >= ?{}", args.len()));
    }
    if let Some(until) = filter.until_ms {
        args.push(until.to_string());
        conds.push(format!("started_ms < ?{}", args.len()));
    }
    for tag in &filter.tags {
        args.push(tag.clone());
        conds.push(format!(
            "EXISTS (SELECT 1 FROM tags WHERE tags.run_id = runs.run_id AND tags.tag = ?{})",
            args.len()
        ));
    }
    let clause = if conds.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conds.join(" AND "))
    };
    (clause, args)
}

/// "listing the runs of flow `F` tagged `t`", for errors.
fn describe(filter: &RunFilter) -> String {
    let mut out = "listing runs".to_string();
    if let Some(flow) = &filter.flow {
        out.push_str(&format!(" of flow `{flow}`"));
    }
    if let Some(status) = filter.status {
        out.push_str(&format!(" with status {status}"));
    }
    if let Some(kind) = filter.kind {
        out.push_str(&format!(" of kind {kind}"));
    }
    if let Some(user) = &filter.user {
        out.push_str(&format!(" of user `{user}`"));
    }
    if let Some(since) = filter.since_ms {
        out.push_str(&format!(" started since {since} ms"));
    }
    if let Some(until) = filter.until_ms {
        out.push_str(&format!(" started before {until} ms"));
    }
    for tag in &filter.tags {
        out.push_str(&format!(" tagged `{tag}`"));
    }
    out
}

/// Column `idx` of `row`, with an error naming the column.
pub(crate) fn col<T: FromSql>(path: &Path, row: &Row, idx: usize, what: &str) -> Result<T> {
    row.get(idx)
        .map_err(|e| MetadataError::corrupt(path, format!("column `{what}`"), e))
}

/// Parses the text in column `idx`; `owner` names the record for the error.
fn parsed<T: FromStr>(path: &Path, row: &Row, idx: usize, column: &str, owner: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    let text: String = col(path, row, idx, column)?;
    text.parse()
        .map_err(|e| MetadataError::corrupt(path, format!("`{column}` of {owner}"), e))
}

/// The optional digest in column `idx`: 32 bytes (schema version 11), or 64 hex digits (the
/// runs table's, and any a reader finds where an older wflow wrote them).
fn digest(path: &Path, row: &Row, idx: usize, column: &str, owner: &str) -> Result<Option<Digest>> {
    use rusqlite::types::ValueRef;
    let bad =
        |reason: String| MetadataError::corrupt(path, format!("`{column}` of {owner}"), reason);
    let value = row
        .get_ref(idx)
        .map_err(|e| MetadataError::corrupt(path, format!("column `{column}`"), e))?;
    match value {
        ValueRef::Null => Ok(None),
        ValueRef::Blob(b) => <[u8; 32]>::try_from(b)
            .map(|d| Some(Digest(d)))
            .map_err(|_| bad(format!("{} bytes, not a 32-byte digest", b.len()))),
        ValueRef::Text(t) => std::str::from_utf8(t)
            .map_err(|e| bad(e.to_string()))?
            .parse()
            .map(Some)
            .map_err(|e: wflow_core::DigestError| bad(e.to_string())),
        other => Err(bad(format!("a {:?}, not a digest", other.data_type()))),
    }
}

/// Parses the JSON in column `idx`.
fn json<T: serde::de::DeserializeOwned>(
    path: &Path,
    row: &Row,
    idx: usize,
    column: &str,
    owner: &str,
) -> Result<T> {
    let text: String = col(path, row, idx, column)?;
    serde_json::from_str(&text)
        .map_err(|e| MetadataError::corrupt(path, format!("`{column}` of {owner}"), e))
}

fn read_run(path: &Path, row: &Row) -> Result<RunRecord> {
    let run_id: String = col(path, row, 0, "run_id")?;
    let owner = format!("run `{run_id}`");
    Ok(RunRecord {
        flow: col(path, row, 1, "flow")?,
        component: parsed(path, row, 2, "component", &owner)?,
        params: json(path, row, 3, "params", &owner)?,
        spec: json(path, row, 4, "spec", &owner)?,
        status: parsed::<Status>(path, row, 5, "status", &owner)?,
        started_ms: col(path, row, 6, "started_ms")?,
        finished_ms: col(path, row, 7, "finished_ms")?,
        error: col(path, row, 8, "error")?,
        origin_run: col(path, row, 9, "origin_run")?,
        user: col(path, row, 10, "user")?,
        kind: parsed::<RunKind>(path, row, 11, "kind", &owner)?,
        run_id,
    })
}

fn read_task(path: &Path, row: &Row) -> Result<TaskRecord> {
    let run_id: String = col(path, row, 0, "run_id")?;
    let task_id: u64 = col(path, row, 1, "task_id")?;
    let owner = format!("task {task_id} of run `{run_id}`");
    Ok(TaskRecord {
        task_id,
        step: col(path, row, 2, "step")?,
        foreach_path: json(path, row, 3, "foreach_path", &owner)?,
        inputs: json(path, row, 4, "inputs", &owner)?,
        status: parsed::<Status>(path, row, 5, "status", &owner)?,
        started_ms: col(path, row, 6, "started_ms")?,
        finished_ms: col(path, row, 7, "finished_ms")?,
        manifest: digest(path, row, 8, "manifest", &owner)?,
        attempts: col(path, row, 9, "attempts")?,
        origin_run: col(path, row, 10, "origin_run")?,
        origin_task: col(path, row, 11, "origin_task")?,
        foreach_items: digest(path, row, 12, "foreach_items", &owner)?,
        component: digest(path, row, 13, "component", &owner)?,
        manifest_bytes: col(path, row, 14, "manifest_bytes")?,
        cached: col(path, row, 15, "cached")?,
        caught: col(path, row, 16, "caught")?,
        run_id,
    })
}

pub(crate) fn read_attempt(path: &Path, row: &Row) -> Result<AttemptRecord> {
    let run_id: String = col(path, row, 0, "run_id")?;
    let task_id: u64 = col(path, row, 1, "task_id")?;
    let attempt: u32 = col(path, row, 2, "attempt")?;
    let owner = format!("attempt {attempt} of task {task_id} of run `{run_id}`");
    Ok(AttemptRecord {
        status: parsed::<Status>(path, row, 3, "status", &owner)?,
        started_ms: col(path, row, 4, "started_ms")?,
        finished_ms: col(path, row, 5, "finished_ms")?,
        error: col(path, row, 6, "error")?,
        stdout: digest(path, row, 7, "stdout", &owner)?,
        stderr: digest(path, row, 8, "stderr", &owner)?,
        stdout_bytes: col(path, row, 9, "stdout_bytes")?,
        stderr_bytes: col(path, row, 10, "stderr_bytes")?,
        run_id,
        task_id,
        attempt,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TaskSort;

    /// The plan of every page query of a step's table: the index of its order, walked without a
    /// sort (no temporary b-tree) and without reading the table (but for a status filter on an
    /// order other than the task id's or status's, read from each row the walk passes). On a
    /// file of schema version 9 (no status, start or attempts index) this fails.
    #[test]
    fn pages_walk_an_index_in_their_order() {
        let meta = Metadata::open_in_memory().unwrap();
        let conn = meta.lock();
        for sort in TaskSort::ALL {
            for desc in [false, true] {
                for status in [None, Some(Status::Failed)] {
                    let q = TaskQuery {
                        sort,
                        desc,
                        status,
                        limit: Some(100),
                        offset: 5000,
                    };
                    let sql = format!("EXPLAIN QUERY PLAN {}", page_sql(&q));
                    let plan: Vec<String> = conn
                        .prepare(&sql)
                        .unwrap()
                        .query_map(params!["R", "s", ""], |row| row.get::<_, String>(3))
                        .unwrap()
                        .collect::<rusqlite::Result<_>>()
                        .unwrap();
                    let plan = plan.join("; ");
                    assert!(!plan.contains("TEMP B-TREE"), "{q:?}: {plan}");
                    let index = q.index();
                    assert!(
                        plan.contains(&format!("INDEX {index} (run=? AND step=?")),
                        "{q:?}: {plan}"
                    );
                    let covered =
                        status.is_none() || matches!(sort, TaskSort::Task | TaskSort::Status);
                    if covered {
                        assert!(
                            plan.contains(&format!("COVERING INDEX {index}")),
                            "{q:?}: {plan}"
                        );
                    }
                }
            }
        }
    }
}
