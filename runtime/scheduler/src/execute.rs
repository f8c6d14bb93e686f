//! Executing one task: its attempts (with retries and backoff), its logs, its manifest and its
//! records. Runs on a blocking thread.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use wflow_core::{Digest, StepSpec, now_millis};
use wflow_engine::{FlowComponent, TaskFailure, TaskInput, Value};
use wflow_metadata::{Event, Recorder, Status};
use wflow_store::{ArtifactRef, Cas, Manifest};

/// Wait before the first retry; doubled for each further one.
pub const ATTEMPT_BACKOFF: Duration = Duration::from_millis(250);

/// What a finished task hands back to the scheduler.
#[derive(Debug)]
pub struct TaskResult {
    /// Task id.
    pub task_id: u64,
    /// `Ok` with the artifacts, or the failure of its last attempt.
    pub outcome: Result<Done, Failed>,
}

/// A task that succeeded (possibly through `catch`).
#[derive(Debug)]
pub struct Done {
    pub(crate) artifacts: Arc<BTreeMap<String, ArtifactRef>>,
    pub(crate) items: Option<Vec<Value>>,
}

/// A task whose last attempt failed.
#[derive(Debug)]
pub struct Failed {
    /// Why.
    pub failure: TaskFailure,
    /// The last lines of its stderr.
    pub stderr_tail: String,
    /// Attempts made.
    pub attempts: u32,
}

pub(crate) struct Job {
    pub component: FlowComponent,
    pub cas: Arc<Cas>,
    pub recorder: Arc<Recorder>,
    pub input: TaskInput,
    pub step: StepSpec,
    pub notify: Arc<dyn Fn(crate::RunEvent) + Send + Sync>,
}

pub(crate) fn execute(job: Job) -> TaskResult {
    let Job {
        component,
        cas,
        recorder,
        mut input,
        step,
        notify,
    } = job;
    let (run_id, task_id) = (input.run_id.clone(), input.task_id);
    let mut attempt = 0;
    loop {
        input.attempt = attempt;
        recorder.send(Event::AttemptStarted {
            run_id: run_id.clone(),
            task_id,
            attempt,
            started_ms: now_millis(),
        });
        let out = component.run_task(input.clone(), cas.clone());
        let (stdout, stderr) = (put_log(&cas, &out.stdout), put_log(&cas, &out.stderr));
        let error = out.result.as_ref().err().map(|f| f.to_string());
        recorder.send(Event::AttemptFinished {
            run_id: run_id.clone(),
            task_id,
            attempt,
            status: if out.result.is_ok() {
                Status::Succeeded
            } else {
                Status::Failed
            },
            finished_ms: now_millis(),
            error,
            stdout,
            stderr,
        });

        let failure = match out.result {
            Ok(()) => match finish(&cas, &recorder, &run_id, task_id, out.artifacts) {
                Ok(artifacts) => {
                    return TaskResult {
                        task_id,
                        outcome: Ok(Done {
                            artifacts,
                            items: out.foreach_items,
                        }),
                    };
                }
                Err(e) => TaskFailure::Host(e),
            },
            Err(f) => f,
        };
        let will_retry = attempt < step.retries;
        notify(crate::RunEvent::AttemptFailed {
            step: &step.name,
            task_id,
            attempt,
            failure: &failure,
            will_retry,
        });
        if will_retry {
            std::thread::sleep(ATTEMPT_BACKOFF * 2u32.saturating_pow(attempt).min(64));
            attempt += 1;
            continue;
        }
        let failed = Failed {
            failure,
            stderr_tail: tail(&out.stderr, 20),
            attempts: attempt + 1,
        };
        // A foreach step cannot be caught: without items there is nothing to fan out.
        let is_foreach = matches!(step.transition, wflow_core::Transition::Foreach(_));
        if let (Some(name), false) = (&step.catch, is_foreach) {
            // `catch`: the flow goes on with the error kept as an artifact.
            let mut artifacts = wflow_engine::inherited(&input.inputs, input.join);
            let record = caught_error(&failed);
            if let Ok(r) = cas.put_artifact(&record, "cbor") {
                artifacts.insert(name.clone(), r);
                if let Ok(artifacts) = finish(&cas, &recorder, &run_id, task_id, artifacts) {
                    return TaskResult {
                        task_id,
                        outcome: Ok(Done {
                            artifacts,
                            items: None,
                        }),
                    };
                }
            }
        }
        recorder.send(Event::TaskFinished {
            run_id,
            task_id,
            status: Status::Failed,
            finished_ms: now_millis(),
            manifest: None,
        });
        return TaskResult {
            task_id,
            outcome: Err(failed),
        };
    }
}

/// Writes the manifest and records the task as succeeded.
fn finish(
    cas: &Cas,
    recorder: &Recorder,
    run_id: &str,
    task_id: u64,
    artifacts: BTreeMap<String, ArtifactRef>,
) -> Result<Arc<BTreeMap<String, ArtifactRef>>, String> {
    let manifest = Manifest {
        version: 1,
        artifacts,
    };
    let digest = cas
        .put_manifest(&manifest)
        .map_err(|e| format!("writing the task's manifest failed: {e}"))?;
    recorder.send(Event::TaskFinished {
        run_id: run_id.to_string(),
        task_id,
        status: Status::Succeeded,
        finished_ms: now_millis(),
        manifest: Some(digest),
    });
    Ok(Arc::new(manifest.artifacts))
}

fn put_log(cas: &Cas, bytes: &[u8]) -> Option<Digest> {
    if bytes.is_empty() {
        None
    } else {
        cas.put(bytes).ok()
    }
}

fn tail(bytes: &[u8], lines: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The artifact `catch` stores: a CBOR map with the error's kind, message and attempt count.
fn caught_error(failed: &Failed) -> Vec<u8> {
    let kind = match &failed.failure {
        TaskFailure::StepError(_) => "error",
        TaskFailure::Panic(_) => "panic",
        TaskFailure::OutOfMemory { .. } => "out-of-memory",
        TaskFailure::Timeout { .. } => "timeout",
        TaskFailure::Trap(_) => "trap",
        TaskFailure::Limit(_) => "limit",
        TaskFailure::NoForeachItems => "no-foreach-items",
        TaskFailure::Host(_) => "host",
    };
    let value = ciborium::Value::Map(vec![
        ("kind".into(), kind.into()),
        ("message".into(), failed.failure.to_string().into()),
        ("attempts".into(), u64::from(failed.attempts).into()),
    ]);
    let mut out = Vec::new();
    ciborium::into_writer(&value, &mut out).expect("encoding a CBOR map into memory cannot fail");
    out
}
