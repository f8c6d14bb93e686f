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
