//! Reading records back: runs, tasks, attempts and flow names.

use std::path::Path;
use std::str::FromStr;

use rusqlite::types::FromSql;
use rusqlite::{Params, Row, params};
use wflow_core::Digest;

use crate::{AttemptRecord, Metadata, MetadataError, Result, RunRecord, Status, TaskRecord};

const RUN_COLUMNS: &str = "run_id, flow, component, params, spec, status, started_ms, \
                           finished_ms, error, origin_run, user";
const TASK_COLUMNS: &str = "run_id, task_id, step, foreach_path, inputs, status, started_ms, \
                            finished_ms, manifest, attempts";
const ATTEMPT_COLUMNS: &str = "run_id, task_id, attempt, status, started_ms, finished_ms, error, \
                               stdout, stderr";

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
        let sql = format!("SELECT {TASK_COLUMNS} FROM tasks WHERE run_id = ?1 ORDER BY task_id");
        self.select(
            &sql,
            params![run_id],
            || format!("listing the tasks of run `{run_id}`"),
            read_task,
        )
    }

    /// Task `task_id` of run `run_id`, if recorded.
    pub fn task(&self, run_id: &str, task_id: u64) -> Result<Option<TaskRecord>> {
        let sql = format!("SELECT {TASK_COLUMNS} FROM tasks WHERE run_id = ?1 AND task_id = ?2");
        let action = || format!("reading task {task_id} of run `{run_id}`");
        Ok(self
            .select(&sql, params![run_id, task_id], action, read_task)?
            .into_iter()
            .next())
    }

    /// The attempts of a task, in order of attempt number (empty if the task is not recorded).
    pub fn attempts(&self, run_id: &str, task_id: u64) -> Result<Vec<AttemptRecord>> {
        let sql = format!(
            "SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE run_id = ?1 AND task_id = ?2 \
             ORDER BY attempt"
        );
        let action = || format!("listing the attempts of task {task_id} of run `{run_id}`");
        self.select(&sql, params![run_id, task_id], action, read_attempt)
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
    fn select<T>(
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

/// Column `idx` of `row`, with an error naming the column.
fn col<T: FromSql>(path: &Path, row: &Row, idx: usize, what: &str) -> Result<T> {
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

/// Parses the optional digest in column `idx`.
fn digest(path: &Path, row: &Row, idx: usize, column: &str, owner: &str) -> Result<Option<Digest>> {
    let text: Option<String> = col(path, row, idx, column)?;
    text.map(|t| {
        t.parse()
            .map_err(|e| MetadataError::corrupt(path, format!("`{column}` of {owner}"), e))
    })
    .transpose()
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
        run_id,
    })
}

fn read_attempt(path: &Path, row: &Row) -> Result<AttemptRecord> {
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
        run_id,
        task_id,
        attempt,
    })
}
