//! Running one task: a fresh `Store` and instance from the component's `InstancePre`, limits set,
//! the task's inputs bound, `run-step` called, the outcome classified.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::{Store, StoreLimitsBuilder, Trap};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wflow_core::ParamValue;
use wflow_store::{ArtifactRef, Cas};

use crate::component::FlowComponent;
use crate::host::{TaskIo, TaskLimiter, TaskState};

/// An encoded value: bytes and the name of their codec.
#[derive(Clone, Debug, PartialEq)]
pub struct Value {
    /// `cbor`, `raw`, …
    pub codec: String,
    /// The encoded bytes.
    pub bytes: Vec<u8>,
}

/// One input of a task: the task that produced it and its artifacts.
#[derive(Clone, Debug)]
pub struct InputArtifacts {
    /// Step of the producing task.
    pub step: String,
    /// Its manifest's artifacts.
    pub artifacts: Arc<BTreeMap<String, ArtifactRef>>,
}

/// Limits of one attempt.
#[derive(Clone, Copy, Debug)]
pub struct TaskLimits {
    /// Maximum size of each linear memory, in bytes.
    pub memory_bytes: u64,
    /// Wall-clock limit.
    pub timeout: Option<Duration>,
}

impl Default for TaskLimits {
    fn default() -> Self {
        TaskLimits { memory_bytes: crate::DEFAULT_MEMORY_MB << 20, timeout: None }
    }
}

/// Everything a task needs to run.
#[derive(Clone, Debug)]
pub struct TaskInput {
    /// Flow name.
    pub flow: String,
    /// Run id.
    pub run_id: String,
    /// Step name.
    pub step: String,
    /// Task id within the run.
    pub task_id: u64,
    /// Attempt number from 0.
    pub attempt: u32,
    /// The run's parameter values.
    pub params: Arc<BTreeMap<String, ParamValue>>,
    /// Indices in every enclosing foreach, outermost first.
    pub foreach_path: Vec<u32>,
    /// The item of the innermost foreach.
    pub foreach_item: Option<Value>,
    /// The inputs: one for a plain step, several for a join.
    pub inputs: Vec<InputArtifacts>,
    /// Whether the step joins (then only artifacts all inputs agree on are inherited).
    pub join: bool,
    /// Whether the step is a foreach split (may declare items).
    pub is_foreach: bool,
    /// Limits for this attempt.
    pub limits: TaskLimits,
}

/// Why an attempt failed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum TaskFailure {
    /// The step returned an error.
    #[error("the step returned an error: {0}")]
    StepError(String),
    /// The guest panicked; the message is from its stderr.
    #[error("the step panicked: {0}")]
    Panic(String),
    /// The guest ran out of its memory limit.
    #[error("out of memory: the step needed more than its limit of {limit_mb} MiB (raise it with the step's `memory` setting)")]
    OutOfMemory {
        /// The limit in MiB.
        limit_mb: u64,
    },
    /// The attempt ran past its time limit.
    #[error("timed out after {secs} s (the step's `timeout` setting)")]
    Timeout {
        /// The limit in seconds.
        secs: u64,
    },
    /// Any other trap.
    #[error("the step trapped: {0}")]
    Trap(String),
    /// A foreach step finished without declaring its items.
    #[error("foreach step finished without declaring its items (call `foreach.declare-items`)")]
    NoForeachItems,
    /// The host failed (store, instantiation).
    #[error("host error: {0}")]
    Host(String),
}

/// What an attempt produced.
#[derive(Debug)]
pub struct TaskOutcome {
    /// Success or why not.
    pub result: Result<(), TaskFailure>,
    /// The task's artifacts: inherited ones overlaid with its puts.
    pub artifacts: BTreeMap<String, ArtifactRef>,
    /// Items declared by a foreach step.
    pub foreach_items: Option<Vec<Value>>,
    /// Captured stdout.
    pub stdout: Vec<u8>,
    /// Captured stderr.
    pub stderr: Vec<u8>,
    /// Wall time of the attempt.
    pub duration: Duration,
}

/// The artifacts a task inherits: its single input's, or for a join those all inputs agree on.
pub fn inherited(inputs: &[InputArtifacts], join: bool) -> BTreeMap<String, ArtifactRef> {
    match inputs {
        [] => BTreeMap::new(),
        [one] if !join => (*one.artifacts).clone(),
        [first, rest @ ..] => first
            .artifacts
            .iter()
            .filter(|(name, r)| {
                rest.iter().all(|i| {
                    i.artifacts.get(*name).is_some_and(|o| o.digest == r.digest && o.codec == r.codec)
                })
            })
            .map(|(n, r)| (n.clone(), r.clone()))
            .collect(),
    }
}

/// Most bytes of stdout or stderr kept per attempt.
const LOG_CAPACITY: usize = 64 << 20;

impl FlowComponent {
    /// Runs one attempt of a task. Never panics on guest misbehaviour: every failure is a
    /// [`TaskFailure`]. Blocking: call from a thread that may block.
    pub fn run_task(&self, input: TaskInput, cas: Arc<Cas>) -> TaskOutcome {
        let started = Instant::now();
        let stdout = MemoryOutputPipe::new(LOG_CAPACITY);
        let stderr = MemoryOutputPipe::new(LOG_CAPACITY);
        let limits = input.limits;
        let step = input.step.clone();
        let view = inherited(&input.inputs, input.join);
        let state = TaskState {
            wasi: WasiCtxBuilder::new().stdout(stdout.clone()).stderr(stderr.clone()).build(),
            table: Default::default(),
            limiter: TaskLimiter {
                limits: StoreLimitsBuilder::new()
                    .memory_size(limits.memory_bytes as usize)
                    .instances(64)
                    .tables(64)
                    .memories(16)
                    .build(),
                memory_limit: limits.memory_bytes as usize,
                refused: false,
            },
            task: Some(TaskIo { input, cas, view, foreach_items: None }),
        };
        let mut store = Store::new(self.engine.wasmtime(), state);
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(match limits.timeout {
            Some(t) => (t.as_millis() as u64).div_ceil(crate::EPOCH_TICK_MS).max(1),
            None => 1 << 40,
        });
        store.epoch_deadline_trap();

        let result = self
            .pre
            .instantiate(&mut store)
            .and_then(|inst| inst.wflow_flow_flow().call_run_step(&mut store, &step));
        let limiter_refused = store.data().limiter.refused;
        let memory_limit = store.data().limiter.memory_limit;
        let io = store.into_data().task.expect("task state is set for run_task");
        let stdout = stdout.contents().to_vec();
        let stderr = stderr.contents().to_vec();
        let result = match result {
            Ok(Ok(())) if io.input.is_foreach && io.foreach_items.is_none() => Err(TaskFailure::NoForeachItems),
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(TaskFailure::StepError(e.message)),
            Err(e) => Err(classify(e, limiter_refused, memory_limit, limits, &stderr)),
        };
        TaskOutcome {
            result,
            artifacts: io.view,
            foreach_items: io.foreach_items,
            stdout,
            stderr,
            duration: started.elapsed(),
        }
    }
}

/// Turns a wasmtime error into the reason a user can act on.
fn classify(
    e: wasmtime::Error,
    limiter_refused: bool,
    memory_limit: usize,
    limits: TaskLimits,
    stderr: &[u8],
) -> TaskFailure {
    let trap = e.downcast_ref::<Trap>().copied();
    if trap == Some(Trap::Interrupt) {
        return TaskFailure::Timeout { secs: limits.timeout.map(|t| t.as_secs()).unwrap_or(0) };
    }
    let stderr = String::from_utf8_lossy(stderr);
    if limiter_refused || stderr.contains("memory allocation of") {
        return TaskFailure::OutOfMemory { limit_mb: memory_limit as u64 >> 20 };
    }
    if let Some(msg) = panic_message(&stderr) {
        return TaskFailure::Panic(msg);
    }
    match trap {
        Some(t) => TaskFailure::Trap(format!("{t} ({e:#})")),
        None => TaskFailure::Host(format!("{e:#}")),
    }
}

/// The message of a Rust panic as the default hook prints it:
/// `thread '…' panicked at src/lib.rs:1:2:\nMESSAGE`.
fn panic_message(stderr: &str) -> Option<String> {
    let start = stderr.find("panicked at ")?;
    let rest = &stderr[start + "panicked at ".len()..];
    let (location, after) = rest.split_once('\n').unwrap_or((rest, ""));
    let message: Vec<&str> = after.lines().take_while(|l| !l.starts_with("note: ")).collect();
    Some(format!("{} (at {})", message.join("\n").trim(), location.trim_end_matches(':')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_message_is_extracted() {
        let s = "thread '<unnamed>' panicked at src/lib.rs:10:5:\nboom here\nnote: run with `RUST_BACKTRACE=1`\n";
        assert_eq!(panic_message(s).unwrap(), "boom here (at src/lib.rs:10:5)");
        assert!(panic_message("nothing").is_none());
    }

    fn r(d: &[u8]) -> ArtifactRef {
        ArtifactRef {
            digest: wflow_core::Digest::of(d),
            size: d.len() as u64,
            codec: "cbor".into(),
            inline: Some(d.to_vec()),
        }
    }

    #[test]
    fn join_inherits_only_agreeing_artifacts() {
        let a = InputArtifacts {
            step: "a".into(),
            artifacts: Arc::new([("x".into(), r(b"1")), ("y".into(), r(b"2"))].into()),
        };
        let b = InputArtifacts {
            step: "b".into(),
            artifacts: Arc::new([("x".into(), r(b"1")), ("y".into(), r(b"3"))].into()),
        };
        let joined = inherited(&[a.clone(), b], true);
        assert_eq!(joined.keys().collect::<Vec<_>>(), ["x"]);
        assert_eq!(inherited(&[a], false).len(), 2);
    }
}
