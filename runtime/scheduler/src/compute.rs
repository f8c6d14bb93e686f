//! Where attempts run: the [`Compute`] trait, with [`Local`] (in this process, on blocking
//! threads) as one implementation; others (AWS Batch, in the `wflow-batch` crate) live in crates of
//! their own and plug in here.
//!
//! The scheduler decides *what* runs (ready queue, retries, `catch`, records); a compute backend
//! only runs attempts and reports each one's [`AttemptReport`]. One attempt, wherever it runs, is
//! [`run_attempt`]: the same sandbox, the same limits, the same outputs in the store.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use wflow_core::{Digest, StepSpec, now_millis};
use wflow_engine::{FlowComponent, TaskFailure, TaskInput, Value};
use wflow_metadata::RECORD_INLINE_MAX;
use wflow_store::{Artifacts, Cas, Manifest};

/// One attempt of one task, handed to a compute backend.
#[derive(Clone)]
pub struct Attempt {
    /// The component that runs the step (already in the store under its digest).
    pub component: FlowComponent,
    /// The task's input; `input.attempt` is the attempt's number.
    pub input: TaskInput,
    /// The step's settings (resources for a remote backend: `memory_mb`, `cpu`, `timeout_secs`).
    pub step: Arc<StepSpec>,
}

/// The result of one attempt, wherever it ran. Serialisable: a remote worker writes it to the
/// store (see [`crate::remote`]).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct AttemptReport {
    /// The outputs, or why the attempt failed.
    pub result: Result<AttemptOutput, TaskFailure>,
    /// Digest of its stdout in the store (`None`: empty or not kept).
    pub stdout: Option<Digest>,
    /// Digest of its stderr in the store.
    pub stderr: Option<Digest>,
    /// Its stdout's bytes when small enough to be kept in the records instead of as a blob
    /// (store layout 2): then `stdout` names them but the store does not hold them.
    #[serde(default)]
    pub stdout_bytes: Option<Vec<u8>>,
    /// Its stderr's bytes, likewise.
    #[serde(default)]
    pub stderr_bytes: Option<Vec<u8>>,
    /// The last lines of its stderr (for the error message).
    pub stderr_tail: String,
    /// The compute backend, not the step, failed (a host reclaimed, a container lost): the
    /// attempt is retried without counting against the step's `retries`.
    #[serde(default)]
    pub infrastructure: bool,
    /// When the attempt began and ended where it ran, in milliseconds since the epoch (a Batch
    /// child starts long after its array job was submitted, and the scheduler learns of its end
    /// only when it next polls). `None`: the backend does not know (the scheduler's clock is used).
    #[serde(default)]
    pub started_ms: Option<i64>,
    /// See `started_ms`.
    #[serde(default)]
    pub finished_ms: Option<i64>,
}

impl AttemptReport {
    /// A failure of the compute backend itself, before or around the step.
    pub fn compute_failure(message: impl Into<String>, infrastructure: bool) -> AttemptReport {
        AttemptReport {
            infrastructure,
            ..AttemptReport::failure(TaskFailure::Compute(message.into()))
        }
    }

    /// An attempt that failed before its step ran, with nothing logged.
    pub fn failure(failure: TaskFailure) -> AttemptReport {
        AttemptReport {
            result: Err(failure),
            stdout: None,
            stderr: None,
            stdout_bytes: None,
            stderr_bytes: None,
            stderr_tail: String::new(),
            infrastructure: false,
            started_ms: None,
            finished_ms: None,
        }
    }
}

/// What a successful attempt produced.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct AttemptOutput {
    /// The digest of its manifest.
    pub manifest: Digest,
    /// The manifest's bytes when small enough to be kept in the records instead of as a blob
    /// (store layout 2): then the store does not hold `manifest`.
    #[serde(default)]
    pub manifest_bytes: Option<Vec<u8>>,
    /// The manifest's artifacts (in a report: the map itself, as the manifest holds it).
    pub artifacts: Artifacts,
    /// Items declared by a foreach step.
    pub items: Option<Vec<Value>>,
    /// The successor a switch step chose (contract 0.2; absent before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// What the task read and put, for caching (absent from an older worker's report, and for
    /// a task that asked for its run id, task id or attempt).
    #[serde(default)]
    pub reads: Option<wflow_core::TaskReads>,
}

/// The pending result of one attempt.
pub type AttemptFuture = Pin<Box<dyn Future<Output = AttemptReport> + Send>>;

/// A place where attempts run.
pub trait Compute: Send + Sync {
    /// Where tasks go, for people (`this machine`, `AWS Batch queue q in eu-west-1`).
    fn describe(&self) -> String;

    /// The most attempts one [`start`](Self::start) takes: the scheduler hands the tasks of one
    /// foreach together (up to this many) so a backend can launch them as one unit (an array
    /// job). 1: one at a time.
    fn max_group(&self) -> usize {
        1
    }

    /// Launches attempts — one, or siblings of one foreach, all of the same step — and returns
    /// one future per attempt, in order. A failure to launch is reported in each attempt's
    /// report, not as an error.
    fn start<'a>(
        &'a self,
        cas: &'a Arc<Cas>,
        attempts: Vec<Attempt>,
    ) -> Pin<Box<dyn Future<Output = Vec<AttemptFuture>> + Send + 'a>>;
}

/// Attempts run in this process, each on a thread of the scheduler's pool (see [`crate::pool`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct Local;

impl Compute for Local {
    fn describe(&self) -> String {
        "this machine".into()
    }

    fn start<'a>(
        &'a self,
        cas: &'a Arc<Cas>,
        attempts: Vec<Attempt>,
    ) -> Pin<Box<dyn Future<Output = Vec<AttemptFuture>> + Send + 'a>> {
        let futures = attempts
            .into_iter()
            .map(|a| {
                let cas = cas.clone();
                // Queued now, not when polled: the attempt starts at once.
                let report = crate::pool::run(move || run_attempt(&a.component, &cas, a.input));
                Box::pin(async move {
                    report.await.unwrap_or_else(|e| {
                        AttemptReport::compute_failure(
                            format!("the task's thread died: {e}"),
                            false,
                        )
                    })
                }) as AttemptFuture
            })
            .collect();
        Box::pin(std::future::ready(futures))
    }
}

/// Which backend runs each step: a step's `compute` setting names one, else the default.
#[derive(Clone)]
pub struct Computes {
    /// For steps without a `compute` setting (or naming none of `named`).
    pub default: Arc<dyn Compute>,
    /// By name (`local`, `batch`).
    pub named: BTreeMap<String, Arc<dyn Compute>>,
}

impl Default for Computes {
    fn default() -> Self {
        let local: Arc<dyn Compute> = Arc::new(Local);
        Computes {
            default: local.clone(),
            named: [("local".to_string(), local)].into(),
        }
    }
}

impl Computes {
    /// The backend of a step.
    pub fn for_step(&self, step: &StepSpec) -> &Arc<dyn Compute> {
        step.compute
            .as_deref()
            .and_then(|name| self.named.get(name))
            .unwrap_or(&self.default)
    }
}

/// Runs one attempt of a task here and now, as every backend does in the end (locally on a
/// blocking thread, remotely in `wflow worker`): the component in a fresh sandbox, its logs kept
/// in the store, on success its manifest written. Blocking. Records nothing: the scheduler
/// records the attempt from the report.
pub fn run_attempt(
    component: &FlowComponent,
    cas: &Arc<Cas>,
    mut input: TaskInput,
) -> AttemptReport {
    let started_ms = now_millis();
    if input.secrets.is_empty() && !input.sandbox.secrets.is_empty() {
        match crate::secrets::read_secrets(&input.sandbox.secrets) {
            Ok(values) => input.secrets = values,
            Err(f) => {
                return AttemptReport {
                    started_ms: Some(started_ms),
                    finished_ms: Some(now_millis()),
                    ..AttemptReport::failure(f)
                };
            }
        }
    }
    let out = component.run_task(input, cas.clone());
    let stderr_tail = tail(&out.stderr, 20);
    let result = match out.result {
        Ok(()) => write_manifest(cas, out.artifacts).map(|written| AttemptOutput {
            manifest: written.digest,
            manifest_bytes: written.bytes,
            artifacts: written.artifacts,
            items: out.foreach_items,
            next: out.next,
            reads: out.reads,
        }),
        Err(f) => Err(f),
    };
    let mut stderr = out.stderr;
    if let Err(f) = &result {
        keep_whole_error(&mut stderr, &f.to_string());
    }
    let (stdout, stdout_bytes) = put_log(cas, out.stdout);
    let (stderr, stderr_bytes) = put_log(cas, stderr);
    AttemptReport {
        result,
        stdout,
        stderr,
        stdout_bytes,
        stderr_bytes,
        stderr_tail,
        infrastructure: false,
        started_ms: Some(started_ms),
        finished_ms: Some(now_millis()),
    }
}

/// The records keep an error cut to [`wflow_core::MAX_MESSAGE_CHARS`] characters (an S3 SDK
/// error can quote a whole response body): a longer one is kept whole at the end of the
/// attempt's stderr log, where `wflow logs` shows it.
fn keep_whole_error(stderr: &mut Vec<u8>, error: &str) {
    if error.chars().count() <= wflow_core::MAX_MESSAGE_CHARS {
        return;
    }
    if !stderr.is_empty() && !stderr.ends_with(b"\n") {
        stderr.push(b'\n');
    }
    stderr.extend_from_slice(b"[wflow] the attempt's whole error (the records keep it cut):\n");
    stderr.extend_from_slice(error.as_bytes());
    stderr.push(b'\n');
}

/// A task's manifest, written.
pub(crate) struct Written {
    pub digest: Digest,
    /// Its bytes, to be kept in the records (see [`RECORD_INLINE_MAX`]); `None`: a blob.
    pub bytes: Option<Vec<u8>>,
    pub artifacts: Artifacts,
}

/// Encodes a task's manifest: a small one (nearly all) is kept in the records, sent with the
/// task's end ([`Event::TaskManifest`](wflow_metadata::Event::TaskManifest)); a larger one is
/// stored as a blob.
pub(crate) fn write_manifest(cas: &Cas, artifacts: Artifacts) -> Result<Written, TaskFailure> {
    // The manifest holds the whole map (store layouts 1 and 2); only the encoding needs it.
    let manifest = Manifest {
        version: 1,
        artifacts: artifacts.to_map(),
    };
    let failed = |e| TaskFailure::Host(format!("writing the task's manifest failed: {e}"));
    let bytes = manifest.to_cbor().map_err(failed)?;
    let (digest, bytes) = if bytes.len() <= RECORD_INLINE_MAX {
        (Digest::of(&bytes), Some(bytes))
    } else {
        (cas.put(&bytes).map_err(failed)?, None)
    };
    Ok(Written {
        digest,
        bytes,
        artifacts,
    })
}

/// A log's digest, and its bytes when they are to be kept in the records (a small log); a
/// larger one is stored as a blob. Nothing for an empty log.
fn put_log(cas: &Cas, bytes: Vec<u8>) -> (Option<Digest>, Option<Vec<u8>>) {
    if bytes.is_empty() {
        (None, None)
    } else if bytes.len() <= RECORD_INLINE_MAX {
        (Some(Digest::of(&bytes)), Some(bytes))
    } else {
        (cas.put(&bytes).ok(), None)
    }
}

fn tail(bytes: &[u8], lines: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
