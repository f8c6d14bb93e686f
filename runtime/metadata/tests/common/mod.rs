//! Event builders shared by the integration tests.
#![allow(dead_code)]

use wflow_core::Digest;
use wflow_metadata::{Event, Status};

pub fn run_started(run_id: &str, flow: &str, started_ms: i64) -> Event {
    Event::RunStarted {
        run_id: run_id.into(),
        flow: flow.into(),
        component: Digest::of(flow.as_bytes()),
        params: serde_json::json!({ "n": 1000, "who": "ada" }),
        spec: serde_json::json!({ "name": flow, "steps": ["start", "fan", "join", "end"] }),
        started_ms,
        origin_run: None,
        user: "ada".into(),
        kind: Default::default(),
    }
}

pub fn run_finished(run_id: &str, status: Status, finished_ms: i64) -> Event {
    let error = (status == Status::Failed).then(|| "it broke".to_string());
    Event::RunFinished {
        run_id: run_id.into(),
        status,
        finished_ms,
        error,
    }
}

pub fn task_started(
    run_id: &str,
    task_id: u64,
    step: &str,
    foreach: &[u32],
    inputs: &[u64],
) -> Event {
    Event::TaskStarted {
        run_id: run_id.into(),
        task_id,
        step: step.into(),
        foreach_path: foreach.to_vec(),
        inputs: inputs.to_vec(),
        started_ms: 1_000 + task_id as i64,
    }
}

pub fn task_finished(run_id: &str, task_id: u64, status: Status) -> Event {
    Event::TaskFinished {
        run_id: run_id.into(),
        task_id,
        status,
        finished_ms: 2_000 + task_id as i64,
        manifest: (status == Status::Succeeded).then(|| manifest(task_id)),
    }
}

pub fn attempt_started(run_id: &str, task_id: u64, attempt: u32) -> Event {
    Event::AttemptStarted {
        run_id: run_id.into(),
        task_id,
        attempt,
        started_ms: 1_000 + task_id as i64 + attempt as i64,
    }
}

pub fn attempt_finished(run_id: &str, task_id: u64, attempt: u32, status: Status) -> Event {
    Event::AttemptFinished {
        run_id: run_id.into(),
        task_id,
        attempt,
        status,
        started_ms: None,
        finished_ms: 1_500 + task_id as i64 + attempt as i64,
        error: (status == Status::Failed).then(|| format!("attempt {attempt} trapped")),
        stdout: Some(stdout(task_id, attempt)),
        stderr: None,
    }
}

/// The four events of a task that succeeds on its first attempt.
pub fn simple_task(run_id: &str, task_id: u64, step: &str) -> Vec<Event> {
    vec![
        task_started(run_id, task_id, step, &[], &[]),
        attempt_started(run_id, task_id, 0),
        attempt_finished(run_id, task_id, 0, Status::Succeeded),
        task_finished(run_id, task_id, Status::Succeeded),
    ]
}

pub fn manifest(task_id: u64) -> Digest {
    Digest::of(format!("manifest {task_id}").as_bytes())
}

pub fn stdout(task_id: u64, attempt: u32) -> Digest {
    Digest::of(format!("stdout {task_id}.{attempt}").as_bytes())
}

/// Rewrites the file at `path` (of the current schema) as schema version 10 wrote it: runs named
/// by their id in every table, digests as hex text. What tests of older files start from (then
/// taking away what later versions added).
pub fn to_version_10(path: &std::path::Path) {
    let old = path.with_extension("v11");
    std::fs::rename(path, &old).unwrap();
    let conn = rusqlite::Connection::open(path).unwrap();
    let hex = |c: &str| format!("CASE WHEN {c} IS NULL THEN NULL ELSE lower(hex({c})) END");
    conn.execute_batch(&wflow_metadata::schema_sql(10)).unwrap();
    conn.execute("ATTACH ?1 AS o", [old.to_str().unwrap()])
        .unwrap();
    conn.execute_batch(&format!(
        "INSERT INTO runs SELECT run_id, flow, component, params, spec, status, started_ms,
             finished_ms, error, origin_run, user, kind FROM o.runs;
         INSERT INTO tasks (run_id, task_id, step, foreach_path, inputs, status, started_ms,
             finished_ms, manifest, attempts, origin_run, origin_task, foreach_items, component,
             manifest_bytes, cached, item_key)
         SELECT r.run_id, t.task_id, t.step, t.foreach_path, t.inputs, t.status, t.started_ms,
             t.finished_ms, {}, t.attempts, t.origin_run, t.origin_task, {}, {},
             t.manifest_bytes, t.cached, t.item_key
         FROM o.tasks t JOIN o.runs r ON r.id = t.run;
         INSERT INTO attempts (run_id, task_id, attempt, status, started_ms, finished_ms, error,
             stdout, stderr, stdout_bytes, stderr_bytes)
         SELECT r.run_id, a.task_id, a.attempt, a.status, a.started_ms, a.finished_ms, a.error,
             {}, {}, a.stdout_bytes, a.stderr_bytes
         FROM o.attempts a JOIN o.runs r ON r.id = a.run;
         INSERT INTO task_cache SELECT r.run_id, c.task_id, {}, {}, c.reads
         FROM o.task_cache c JOIN o.runs r ON r.id = c.run;
         INSERT INTO tags SELECT * FROM o.tags;
         INSERT INTO step_summary SELECT * FROM o.step_summary;
         PRAGMA user_version = 10;",
        hex("t.manifest"),
        hex("t.foreach_items"),
        hex("t.component"),
        hex("a.stdout"),
        hex("a.stderr"),
        hex("c.scope"),
        hex("c.item"),
    ))
    .unwrap();
    conn.execute("DETACH o", []).unwrap();
    drop(conn);
    std::fs::remove_file(&old).unwrap();
    for ext in ["v11-wal", "v11-shm"] {
        let _ = std::fs::remove_file(path.with_extension(ext));
    }
}
