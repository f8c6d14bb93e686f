//! Executing one task: its attempts (with retries and backoff) wherever its compute backend runs
//! them, and its records. Async: the attempts themselves run on blocking threads or elsewhere.

use std::sync::Arc;
use std::time::Duration;

use wflow_core::now_millis;
use wflow_engine::{TaskFailure, Value};
use wflow_metadata::{Event, Recorder, Status};
use wflow_store::{Artifacts, Cas};

use crate::budget::TaskBudget;
use crate::compute::{Attempt, AttemptFuture, AttemptReport, Compute, write_manifest};

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
    pub(crate) artifacts: Artifacts,
    pub(crate) items: Option<Vec<Value>>,
    /// The digest the items are stored under already (a reused or cached split's): recorded as
    /// is instead of encoded and stored again.
    pub(crate) items_digest: Option<wflow_core::Digest>,
    /// The successor a switch step chose.
    pub(crate) next: Option<String>,
    /// What it read, when it ran (successfully, not caught) and may be cached.
    pub(crate) reads: Option<wflow_core::TaskReads>,
    /// Why it did not run, when it did not.
    pub(crate) reuse: Option<wflow_metadata::ReuseReason>,
    /// Its step failed and `catch` kept the error.
    pub(crate) caught: bool,
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
    pub compute: Arc<dyn Compute>,
    pub cas: Arc<Cas>,
    pub recorder: Arc<Recorder>,
    /// The first attempt (already recorded as started), to launch again for a retry.
    pub attempt: Attempt,
    /// The first attempt's result, as its backend launched it (`None`: not launched yet; it is
    /// recorded and launched here).
    pub first: Option<AttemptFuture>,
    pub notify: Arc<dyn Fn(crate::RunEvent) + Send + Sync>,
    /// The run's task budget, charged when a foreach declares its items.
    pub budget: Arc<TaskBudget>,
}

/// Infrastructure failures (a host reclaimed, a container lost) retried per task, apart from the
/// step's own `retries`.
pub const INFRASTRUCTURE_RETRIES: u32 = 3;

/// Drives one task to its end: awaits each attempt wherever its backend runs it, records it, and
/// retries (with backoff), `catch`es or gives up.
pub(crate) async fn execute(job: Job) -> TaskResult {
    let Job {
        compute,
        cas,
        recorder,
        attempt: mut next,
        first,
        notify,
        budget,
    } = job;
    let step = next.step.clone();
    let (run_id, task_id) = (next.input.run_id.clone(), next.input.task_id);
    let mut pending = first;
    let (mut step_failures, mut infra_failures) = (0u32, 0u32);
    loop {
        let attempt = next.input.attempt;
        let mut report = match pending.take() {
            Some(f) => f.await,
            None => {
                recorder.send(Event::AttemptStarted {
                    run_id: run_id.clone(),
                    task_id,
                    attempt,
                    started_ms: now_millis(),
                });
                let mut started = compute.start(&cas, vec![next.clone()]).await;
                match started.pop() {
                    Some(f) => f.await,
                    None => AttemptReport::compute_failure("the backend launched nothing", false),
                }
            }
        };
        // Declared items are charged to the run's budget before any of their tasks exist; past
        // it, the declaring attempt fails (and is not retried: it would declare them again).
        let mut over_budget = false;
        if let Ok(out) = &report.result
            && let Some(items) = &out.items
            && let Err(message) = budget.declare(&step.name, items.len())
        {
            report.result = Err(TaskFailure::Limit(message));
            over_budget = true;
        }
        // Where the attempt ran knows best when it began and ended (a Batch child's start is
        // not its array job's submission, nor its end the moment the scheduler polled).
        let finished_ms = report.finished_ms.unwrap_or_else(now_millis);
        // Small logs go in the records, just before the end that names them.
        if report.stdout_bytes.is_some() || report.stderr_bytes.is_some() {
            recorder.send(Event::AttemptLogs {
                run_id: run_id.clone(),
                task_id,
                attempt,
                stdout: report.stdout_bytes.take(),
                stderr: report.stderr_bytes.take(),
            });
        }
        recorder.send(Event::AttemptFinished {
            run_id: run_id.clone(),
            task_id,
            attempt,
            status: if report.result.is_ok() {
                Status::Succeeded
            } else {
                Status::Failed
            },
            started_ms: report.started_ms.map(|s| s.min(finished_ms)),
            finished_ms,
            error: report
                .result
                .as_ref()
                .err()
                .map(|f| wflow_core::bounded(&f.to_string(), wflow_core::MAX_MESSAGE_CHARS).into()),
            stdout: report.stdout,
            stderr: report.stderr,
        });
        let failure = match report.result {
            Ok(out) => {
                if let Some(manifest) = out.manifest_bytes {
                    recorder.send(Event::TaskManifest {
                        run_id: run_id.clone(),
                        task_id,
                        manifest,
                    });
                }
                recorder.send(Event::TaskFinished {
                    run_id,
                    task_id,
                    status: Status::Succeeded,
                    finished_ms,
                    manifest: Some(out.manifest),
                });
                return TaskResult {
                    task_id,
                    outcome: Ok(Done {
                        artifacts: out.artifacts,
                        items: out.items,
                        items_digest: None,
                        next: out.next,
                        reads: out.reads,
                        reuse: None,
                        caught: false,
                    }),
                };
            }
            Err(f) => f,
        };
        let infrastructure = report.infrastructure && infra_failures < INFRASTRUCTURE_RETRIES;
        let will_retry = !over_budget && (infrastructure || step_failures < step.retries);
        notify(crate::RunEvent::AttemptFailed {
            step: &step.name,
            task_id,
            attempt,
            failure: &failure,
            will_retry,
        });
        if will_retry {
            let backoff = if infrastructure {
                infra_failures += 1;
                ATTEMPT_BACKOFF
            } else {
                step_failures += 1;
                ATTEMPT_BACKOFF * 2u32.saturating_pow(step_failures - 1).min(64)
            };
            tokio::time::sleep(backoff).await;
            next.input.attempt += 1;
            continue;
        }
        let failed = Failed {
            failure,
            stderr_tail: report.stderr_tail,
            attempts: attempt + 1,
        };
        // A foreach or switch step cannot be caught: without items there is nothing to fan out,
        // without a choice nowhere to go.
        let uncatchable = matches!(
            step.transition,
            wflow_core::Transition::Foreach(_) | wflow_core::Transition::Switch { .. }
        );
        if let (Some(name), false) = (&step.catch, uncatchable) {
            // `catch`: the flow goes on with the error kept as an artifact.
            let artifacts = wflow_engine::inherited(&next.input.inputs, next.input.join);
            let record = caught_error(&failed);
            let (cas, name) = (cas.clone(), name.clone());
            let written = crate::run::blocking(move || {
                let r = cas.put_artifact(&record, "cbor").ok()?;
                write_manifest(&cas, artifacts.with_puts([(name, r)].into())).ok()
            })
            .await;
            if let Some(written) = written {
                if let Some(manifest) = written.bytes {
                    recorder.send(Event::TaskManifest {
                        run_id: run_id.clone(),
                        task_id,
                        manifest,
                    });
                }
                recorder.send(Event::TaskFinished {
                    run_id,
                    task_id,
                    status: Status::Succeeded,
                    finished_ms: now_millis(),
                    manifest: Some(written.digest),
                });
                return TaskResult {
                    task_id,
                    outcome: Ok(Done {
                        artifacts: written.artifacts,
                        items: None,
                        items_digest: None,
                        next: None,
                        reads: None,
                        reuse: None,
                        caught: true,
                    }),
                };
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
        TaskFailure::NoChoice { .. } | TaskFailure::BadChoice { .. } => "choice",
        TaskFailure::Host(_) => "host",
        TaskFailure::Compute(_) => "compute",
        TaskFailure::Secret(_) => "secret",
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
