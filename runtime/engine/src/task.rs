//! Running one task: a fresh `Store` and instance from the component's `InstancePre`, limits set,
//! the task's inputs bound, `run-step` called, the outcome classified.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::{Store, Trap};
use wflow_core::ParamValue;
use wflow_store::{Artifacts, Cas};

use crate::component::FlowComponent;
use crate::host::{TaskIo, TaskLimiter, TaskState};
use crate::logs::LogSink;
use crate::redact::Redactor;
use crate::sandbox::{LimitExceeded, Sandbox, wasi_ctx};

/// An encoded value: bytes and the name of their codec.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Value {
    /// `cbor`, `raw`, …
    pub codec: String,
    /// The encoded bytes.
    pub bytes: Vec<u8>,
}

/// One input of a task: the task that produced it and its artifacts.
#[derive(Clone, Debug)]
pub struct InputArtifacts {
    /// Step of the producing task (shared by the tasks of a step).
    pub step: Arc<str>,
    /// Its manifest's artifacts (shared: cloning is cheap).
    pub artifacts: Artifacts,
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
    /// For a switch step, the successors it may choose from (`control.next`); empty otherwise.
    pub choices: Vec<String>,
    /// The secrets the step was given, by name.
    pub secrets: Secrets,
    /// Limits and grants, resolved from the step's settings and the policy.
    pub sandbox: Arc<Sandbox>,
    /// Folder where stdout and stderr are mirrored live (`<task>-<attempt>.stdout|stderr`).
    pub live_logs: Option<PathBuf>,
}

impl TaskInput {
    /// A task of `step` on its own: task 0, attempt 0, no parameters, inputs, foreach position,
    /// choices or secrets, the default sandbox, no live logs (a build-time call, a benchmark);
    /// set what differs with struct update syntax.
    pub fn new(
        flow: impl Into<String>,
        run_id: impl Into<String>,
        step: impl Into<String>,
    ) -> TaskInput {
        TaskInput {
            flow: flow.into(),
            run_id: run_id.into(),
            step: step.into(),
            task_id: 0,
            attempt: 0,
            params: Default::default(),
            foreach_path: Vec::new(),
            foreach_item: None,
            inputs: Vec::new(),
            join: false,
            is_foreach: false,
            choices: Vec::new(),
            secrets: Default::default(),
            sandbox: Default::default(),
            live_logs: None,
        }
    }
}

/// Secret values by name. Its `Debug` shows the names only, so a value never reaches a log
/// through a task's description.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secrets(pub BTreeMap<String, Vec<u8>>);

impl Secrets {
    /// The value of secret `name`.
    pub fn get(&self, name: &str) -> Option<&Vec<u8>> {
        self.0.get(name)
    }

    /// The names of the secrets.
    pub fn names(&self) -> Vec<String> {
        self.0.keys().cloned().collect()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// Names as a reader expects them: `` `a` ``, `` `a` or `b` ``, `` `a`, `b` or `c` ``.
pub(crate) fn listed(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    match quoted.split_last() {
        None => "nothing".into(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

/// Why an attempt failed (serialisable: a remote worker reports it through the store).
#[derive(Clone, Debug, PartialEq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum TaskFailure {
    /// The step returned an error.
    #[error("the step returned an error: {0}")]
    StepError(String),
    /// The guest panicked; the message is from its stderr.
    #[error("the step panicked: {0}")]
    Panic(String),
    /// A limit of the sandbox was reached.
    #[error("{0}")]
    Limit(LimitExceeded),
    /// The guest ran out of its memory limit.
    #[error(
        "out of memory: the step needed more than its limit of {limit_mb} MiB (raise it with the step's `memory` setting)"
    )]
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
    /// A switch step finished without choosing its successor (contract 0.2).
    #[error(
        "switch step `{step}` finished without choosing its successor: call `wflow::next` (`control.next`) with {}",
        listed(choices)
    )]
    NoChoice {
        /// The switch step.
        step: String,
        /// What it may choose.
        choices: Vec<String>,
    },
    /// A step chose a successor it did not declare, or is not a switch and chose one.
    #[error("{message}")]
    BadChoice {
        /// What was wrong, naming the step and the choice.
        message: String,
    },
    /// The host failed (store, instantiation).
    #[error("host error: {0}")]
    Host(String),
    /// A secret the step was given could not be read where the task ran; the message names the
    /// secret and its source (never a value).
    #[error("{0}")]
    Secret(String),
    /// The compute backend lost or stopped the attempt (a remote container killed, timed out,
    /// never scheduled); the message says why and what to do.
    #[error("{0}")]
    Compute(String),
}

impl TaskFailure {
    /// This failure with every secret value `r` knows replaced in its messages.
    pub fn redacted(self, r: &Redactor) -> TaskFailure {
        if r.is_empty() {
            return self;
        }
        let t = |s: String| r.text(&s);
        match self {
            TaskFailure::StepError(m) => TaskFailure::StepError(t(m)),
            TaskFailure::Panic(m) => TaskFailure::Panic(t(m)),
            TaskFailure::Limit(l) => TaskFailure::Limit(LimitExceeded {
                limit: l.limit,
                value: t(l.value),
                detail: t(l.detail),
            }),
            TaskFailure::Trap(m) => TaskFailure::Trap(t(m)),
            TaskFailure::BadChoice { message } => TaskFailure::BadChoice {
                message: t(message),
            },
            TaskFailure::Host(m) => TaskFailure::Host(t(m)),
            TaskFailure::Compute(m) => TaskFailure::Compute(t(m)),
            TaskFailure::Secret(m) => TaskFailure::Secret(t(m)),
            f @ (TaskFailure::OutOfMemory { .. }
            | TaskFailure::Timeout { .. }
            | TaskFailure::NoForeachItems
            | TaskFailure::NoChoice { .. }) => f,
        }
    }
}

/// What an attempt produced.
#[derive(Debug)]
pub struct TaskOutcome {
    /// Success or why not.
    pub result: Result<(), TaskFailure>,
    /// The task's artifacts: its puts over the inherited ones (which it shares, not copies).
    pub artifacts: Artifacts,
    /// Items declared by a foreach step.
    pub foreach_items: Option<Vec<Value>>,
    /// The successor a switch step chose.
    pub next: Option<String>,
    /// What the task read and put, when it succeeded and asked for nothing that changes from
    /// run to run (see [`wflow_core::reads`]).
    pub reads: Option<wflow_core::TaskReads>,
    /// Captured stdout.
    pub stdout: Vec<u8>,
    /// Captured stderr.
    pub stderr: Vec<u8>,
    /// Wall time of the attempt.
    pub duration: Duration,
}

/// The artifacts a task inherits: its single input's, or for a join those all inputs agree on.
/// A single input's are shared, not copied; a join's are a copy of their own.
pub fn inherited(inputs: &[InputArtifacts], join: bool) -> Artifacts {
    match inputs {
        [] => Artifacts::new(),
        [one] if !join => one.artifacts.clone(),
        [first, rest @ ..] => first
            .artifacts
            .iter()
            .filter(|(name, r)| {
                rest.iter().all(|i| {
                    i.artifacts
                        .get(name)
                        .is_some_and(|o| o.digest == r.digest && o.codec == r.codec)
                })
            })
            .map(|(n, r)| (n.clone(), r.clone()))
            .collect(),
    }
}

impl FlowComponent {
    /// Runs one attempt of a task. Never panics on guest misbehaviour: every failure is a
    /// [`TaskFailure`]. Blocking: call from a thread that may block.
    pub fn run_task(&self, input: TaskInput, cas: Arc<Cas>) -> TaskOutcome {
        let sb = input.sandbox.clone();
        // Held until the attempt ends: tasks queue here rather than oversubscribe the host.
        let _memory = self.engine.reserve_memory(sb.memory_bytes);
        let started = Instant::now();
        let live = |stream: &str| {
            input
                .live_logs
                .as_ref()
                .map(|d| d.join(format!("{}-{}.{stream}", input.task_id, input.attempt)))
        };
        let redactor = Redactor::new(&input.secrets);
        let stdout = LogSink::new(sb.max_log_bytes, live("stdout")).redacting(redactor.clone());
        let stderr = LogSink::new(sb.max_log_bytes, live("stderr")).redacting(redactor.clone());
        let step = input.step.clone();
        let view = crate::host::View::new(inherited(&input.inputs, input.join));
        let inputs = input.inputs.len();
        let fail = |f: TaskFailure, view: crate::host::View| TaskOutcome {
            result: Err(f),
            artifacts: view.finish(),
            foreach_items: None,
            next: None,
            reads: None,
            stdout: Vec::new(),
            stderr: Vec::new(),
            duration: started.elapsed(),
        };
        let wasi = match wasi_ctx(&sb, stdout.clone(), stderr.clone()) {
            Ok(w) => w,
            Err(e) => return fail(TaskFailure::Host(e), view),
        };
        let state = TaskState {
            wasi,
            table: Default::default(),
            limiter: TaskLimiter::new(sb.memory_bytes),
            task: Some(TaskIo {
                input,
                cas,
                view,
                foreach_items: None,
                put_bytes: 0,
                artifacts: 0,
                open_handles: 0,
                next: None,
                reads: crate::reads::ReadLog::new(inputs),
            }),
        };
        let mut store = Store::new(self.engine.wasmtime(), state);
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(epoch_ticks(sb.timeout));
        store.epoch_deadline_trap();
        if self.engine.config().fuel {
            // Metering is on for the engine: a step without a fuel limit gets all it wants.
            let _ = store.set_fuel(sb.fuel.unwrap_or(u64::MAX));
        }

        let result = self.pre.run_step(&mut store, &step);
        let limiter_refused = store.data().limiter.refused;
        let io = store
            .into_data()
            .task
            .expect("task state is set for run_task");
        let (stdout_bytes, _) = stdout.contents();
        let (stderr_bytes, _) = stderr.contents();
        let result = match result {
            Ok(Ok(())) if io.input.is_foreach && io.foreach_items.is_none() => {
                Err(TaskFailure::NoForeachItems)
            }
            Ok(Ok(())) => check_choice(&io),
            Ok(Err(e)) => Err(TaskFailure::StepError(bounded(
                crate::denial::explain(&e, &sb).into_owned(),
            ))),
            Err(e) => Err(classify(e, limiter_refused, &sb, &stderr_bytes)),
        }
        .map_err(|f| f.redacted(&redactor));
        let reads = if result.is_ok() {
            io.reads.finish()
        } else {
            None
        };
        TaskOutcome {
            result,
            artifacts: io.view.finish(),
            foreach_items: io.foreach_items,
            next: io.next.filter(|n| io.input.choices.contains(n)),
            reads,
            stdout: stdout_bytes,
            stderr: stderr_bytes,
            duration: started.elapsed(),
        }
    }
}

/// A switch step must have chosen one of its choices; any other step must not have chosen.
fn check_choice(io: &TaskIo) -> Result<(), TaskFailure> {
    let (step, choices) = (&io.input.step, &io.input.choices);
    match &io.next {
        None if choices.is_empty() => Ok(()),
        None => Err(TaskFailure::NoChoice {
            step: step.clone(),
            choices: choices.clone(),
        }),
        Some(n) if choices.contains(n) => Ok(()),
        Some(_) if choices.is_empty() => Err(TaskFailure::BadChoice {
            message: format!(
                "step `{step}` chose a successor (`control.next`) but is not a switch step; \
                 declare its choices with `switch = [...]`"
            ),
        }),
        Some(n) => Err(TaskFailure::BadChoice {
            message: format!(
                "switch step `{step}` chose `{}`, which is not one of its choices: it may choose {}",
                bounded(n.escape_debug().to_string()),
                listed(choices)
            ),
        }),
    }
}

/// Longest step error message kept, in bytes: the host records and prints it.
const MAX_ERROR_MESSAGE: usize = 64 << 10;

/// A guest's error message cut to [`MAX_ERROR_MESSAGE`] bytes (at a character boundary).
fn bounded(mut message: String) -> String {
    if message.len() > MAX_ERROR_MESSAGE {
        let total = message.len();
        let mut cut = MAX_ERROR_MESSAGE;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
        message.push_str(&format!("… [wflow: {total} bytes, cut to {cut}]"));
    }
    message
}

/// Epoch ticks before a task with this timeout is interrupted: the timeout rounded up to whole
/// ticks (at least one), and about 350 years for none or for any longer timeout (a policy may
/// give seconds whose milliseconds do not fit in a `u64`).
fn epoch_ticks(timeout: Option<Duration>) -> u64 {
    const NEVER: u64 = 1 << 40;
    match timeout {
        Some(t) => u64::try_from(t.as_millis())
            .map_or(NEVER, |ms| ms.div_ceil(crate::EPOCH_TICK_MS))
            .clamp(1, NEVER),
        None => NEVER,
    }
}

/// Turns a wasmtime error into the reason a user can act on.
fn classify(e: wasmtime::Error, limiter_refused: bool, sb: &Sandbox, stderr: &[u8]) -> TaskFailure {
    if let Some(limit) = e.downcast_ref::<LimitExceeded>() {
        return TaskFailure::Limit(limit.clone());
    }
    let trap = e.downcast_ref::<Trap>().copied();
    match trap {
        Some(Trap::Interrupt) => {
            return TaskFailure::Timeout {
                secs: sb.timeout.map(|t| t.as_secs()).unwrap_or(0),
            };
        }
        Some(Trap::OutOfFuel) => {
            return TaskFailure::Limit(LimitExceeded {
                limit: "fuel".into(),
                value: sb.fuel.unwrap_or(0).to_string(),
                detail: ": the step used all the fuel (CPU budget) it was given".into(),
            });
        }
        Some(Trap::StackOverflow) => {
            return TaskFailure::Limit(LimitExceeded {
                limit: "max_wasm_stack".into(),
                value: "the engine's stack size".into(),
                detail: ": stack overflow (unbounded recursion?)".into(),
            });
        }
        _ => {}
    }
    let stderr = String::from_utf8_lossy(stderr);
    if limiter_refused || stderr.contains("memory allocation of") {
        return TaskFailure::OutOfMemory {
            limit_mb: sb.memory_bytes >> 20,
        };
    }
    if let Some(msg) = panic_message(&stderr) {
        return TaskFailure::Panic(crate::denial::explain(&msg, sb).into_owned());
    }
    match trap {
        Some(t) => TaskFailure::Trap(format!("{t}\n{}", short_backtrace(&format!("{e:#}")))),
        // Raised while the guest ran, though not a trap: the guest broke the canonical ABI (a
        // string that is not UTF-8, a bad handle). Its fault, not the host's.
        None if e.downcast_ref::<wasmtime::WasmBacktrace>().is_some() => TaskFailure::Trap(
            format!("{}\n{}", e.root_cause(), short_backtrace(&format!("{e:#}"))),
        ),
        None => TaskFailure::Host(format!("{e:#}")),
    }
}

/// The first frames of a wasm backtrace: enough to find the place, short enough to read.
fn short_backtrace(text: &str) -> String {
    const FRAMES: usize = 6;
    let lines: Vec<&str> = text.lines().collect();
    let mut out: Vec<&str> = lines.iter().take(FRAMES + 1).copied().collect();
    if lines.len() > FRAMES + 1 {
        out.push("    …");
    }
    out.join("\n")
}

/// The message of a Rust panic as the default hook prints it:
/// `thread '…' panicked at src/lib.rs:1:2:\nMESSAGE`.
fn panic_message(stderr: &str) -> Option<String> {
    let start = stderr.find("panicked at ")?;
    let rest = &stderr[start + "panicked at ".len()..];
    let (location, after) = rest.split_once('\n').unwrap_or((rest, ""));
    let message: Vec<&str> = after
        .lines()
        .take_while(|l| !l.starts_with("note: "))
        .collect();
    Some(format!(
        "{} (at {})",
        message.join("\n").trim(),
        location.trim_end_matches(':')
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_ticks_round_up_and_never_wrap() {
        assert_eq!(epoch_ticks(Some(Duration::ZERO)), 1);
        assert_eq!(epoch_ticks(Some(Duration::from_millis(1))), 1);
        assert_eq!(epoch_ticks(Some(Duration::from_millis(25))), 3);
        assert_eq!(epoch_ticks(Some(Duration::from_secs(3600))), 360_000);
        assert_eq!(epoch_ticks(None), 1 << 40);
        // 18446744073709552 s is 2^64 ms + 384 ms: it used to wrap to a 0.4 s timeout.
        assert_eq!(
            epoch_ticks(Some(Duration::from_secs(18_446_744_073_709_552))),
            1 << 40
        );
        assert_eq!(epoch_ticks(Some(Duration::from_secs(u64::MAX))), 1 << 40);
    }

    #[test]
    fn long_error_messages_are_cut_at_a_character_boundary() {
        assert_eq!(bounded("short".into()), "short");
        let long = "é".repeat(MAX_ERROR_MESSAGE);
        let cut = bounded(long);
        assert!(cut.len() < MAX_ERROR_MESSAGE + 64, "{}", cut.len());
        assert!(cut.ends_with(&format!(
            "[wflow: {} bytes, cut to {}]",
            2 * MAX_ERROR_MESSAGE,
            MAX_ERROR_MESSAGE
        )));
    }

    #[test]
    fn panic_message_is_extracted() {
        let s = "thread '<unnamed>' panicked at src/lib.rs:10:5:\nboom here\nnote: run with `RUST_BACKTRACE=1`\n";
        assert_eq!(panic_message(s).unwrap(), "boom here (at src/lib.rs:10:5)");
        assert!(panic_message("nothing").is_none());
    }

    use wflow_store::ArtifactRef;

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
            artifacts: [("x".into(), r(b"1")), ("y".into(), r(b"2"))].into(),
        };
        let b = InputArtifacts {
            step: "b".into(),
            artifacts: [("x".into(), r(b"1")), ("y".into(), r(b"3"))].into(),
        };
        let joined = inherited(&[a.clone(), b], true);
        assert_eq!(joined.keys().collect::<Vec<_>>(), ["x"]);
        assert_eq!(inherited(&[a], false).len(), 2);
    }
}
