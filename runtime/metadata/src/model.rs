//! The records as the rest of wflow sees them: the events the runtime emits and the rows read back.

use std::fmt;
use std::str::FromStr;

use wflow_core::{CacheKey, Digest, TaskReads};

/// Where a run, task or attempt stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Started and not finished (or its process died before it could say).
    Running,
    /// Finished without error.
    Succeeded,
    /// Finished with an error.
    Failed,
}

impl Status {
    /// The lowercase name, as stored in the database and printed by the CLI.
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
        }
    }

    /// True once the status can no longer change.
    pub fn is_finished(&self) -> bool {
        !matches!(self, Status::Running)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not a [`Status`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a status (expected running, succeeded or failed)")]
pub struct StatusError(pub String);

impl FromStr for Status {
    type Err = StatusError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "running" => Ok(Status::Running),
            "succeeded" => Ok(Status::Succeeded),
            "failed" => Ok(Status::Failed),
            _ => Err(StatusError(s.to_string())),
        }
    }
}

/// What a run is: a run of the flow, or one task run again by `wflow step-run --persist` (a
/// partial run holding that task and the reused tasks it read from).
///
/// A step-run never counts as a run of the flow: [`latest_run`](crate::MetadataStore::latest_run)
/// and `Flow/latest` leave it out; [`RunFilter::kind`] asks for it.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    /// A run of the flow (`wflow run`, `wflow resume`).
    #[default]
    Run,
    /// One task run again on the inputs it had (`wflow step-run --persist`).
    StepRun,
}

impl RunKind {
    /// The name stored in the records and printed: `run` or `step_run`.
    pub fn as_str(&self) -> &'static str {
        match self {
            RunKind::Run => "run",
            RunKind::StepRun => "step_run",
        }
    }

    /// True for a run of the flow (the default, left out of serialised events).
    pub fn is_run(&self) -> bool {
        *self == RunKind::Run
    }
}

impl fmt::Display for RunKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not a [`RunKind`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a run kind (expected run or step_run)")]
pub struct RunKindError(pub String);

impl FromStr for RunKind {
    type Err = RunKindError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "run" => Ok(RunKind::Run),
            "step_run" => Ok(RunKind::StepRun),
            _ => Err(RunKindError(s.to_string())),
        }
    }
}

/// Why a task took the outputs of another task instead of running.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum ReuseReason {
    /// `wflow resume` (or `step-run`) reused the task of the origin run at the same place.
    #[default]
    Resumed,
    /// The step is pure and an earlier task of the same code read exactly what this one would
    /// have: its outputs were taken from the cache.
    Cached,
}

impl ReuseReason {
    /// The name stored in the records: `resumed` or `cached`.
    pub fn as_str(&self) -> &'static str {
        match self {
            ReuseReason::Resumed => "resumed",
            ReuseReason::Cached => "cached",
        }
    }

    /// True for a resume's reuse (the default, left out of serialised events).
    pub fn is_resumed(&self) -> bool {
        *self == ReuseReason::Resumed
    }
}

/// One thing that happened to a run, as the runtime reports it.
///
/// Events are applied in the order given: a task's events come after its run's `RunStarted`, an
/// attempt's after its task's `TaskStarted`. Times are milliseconds since the Unix epoch
/// ([`wflow_core::now_millis`]).
///
/// As JSON (the body of the metadata service's `POST /api/v1/events`, see `docs/server.md`), an
/// event is an object tagged by `type`: `{"type": "task_started", "run_id": ..., ...}`; optional
/// fields may be left out, unknown fields are refused.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Event {
    /// A run began.
    RunStarted {
        /// The new run's id.
        run_id: String,
        /// The flow's name.
        flow: String,
        /// The digest of the flow's component in the store.
        component: Digest,
        /// The resolved parameter values (a JSON object).
        params: serde_json::Value,
        /// The flow spec the component declared (a serialised `FlowSpec`).
        spec: serde_json::Value,
        /// When the run began.
        started_ms: i64,
        /// The run this one resumes, if any.
        #[serde(default)]
        origin_run: Option<String>,
        /// Who started it (the metadata service ignores it and records its caller's user).
        #[serde(default)]
        user: String,
        /// What the run is; left out for a run of the flow.
        #[serde(default, skip_serializing_if = "RunKind::is_run")]
        kind: RunKind,
    },
    /// A task of a run began (before its first attempt).
    TaskStarted {
        /// The run.
        run_id: String,
        /// The task's id, unique within the run.
        task_id: u64,
        /// The step it runs.
        step: String,
        /// Its index in each enclosing foreach, outermost first (empty outside any foreach).
        #[serde(default)]
        foreach_path: Vec<u32>,
        /// The tasks whose outputs it reads.
        #[serde(default)]
        inputs: Vec<u64>,
        /// When it began.
        started_ms: i64,
    },
    /// An attempt of a task began; also counts the attempt on the task.
    AttemptStarted {
        /// The run.
        run_id: String,
        /// The task.
        task_id: u64,
        /// The attempt's number.
        attempt: u32,
        /// When it began.
        started_ms: i64,
    },
    /// An attempt ended.
    AttemptFinished {
        /// The run.
        run_id: String,
        /// The task.
        task_id: u64,
        /// The attempt's number.
        attempt: u32,
        /// How it ended.
        status: Status,
        /// When it really began, by the clock of the machine that ran it (a Batch worker starts
        /// long after the scheduler sent `AttemptStarted`): replaces the attempt's start and,
        /// for the first attempt, the task's. `None` (older hosts, or not known): keep both.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        started_ms: Option<i64>,
        /// When it ended.
        finished_ms: i64,
        /// The error, when it failed.
        #[serde(default)]
        error: Option<String>,
        /// The digest of its captured standard output in the store.
        #[serde(default)]
        stdout: Option<Digest>,
        /// The digest of its captured standard error in the store.
        #[serde(default)]
        stderr: Option<Digest>,
    },
    /// The bytes of a task's manifest, kept in the records instead of as a blob (store layout
    /// 2: manifests of at most [`RECORD_INLINE_MAX`](crate::RECORD_INLINE_MAX) bytes). Sent just
    /// before the `TaskFinished` or `TaskReused` that names it by digest.
    TaskManifest {
        /// The run.
        run_id: String,
        /// The task.
        task_id: u64,
        /// The manifest's CBOR encoding (base64 in JSON).
        #[serde(with = "crate::inline::base64_bytes")]
        manifest: Vec<u8>,
    },
    /// An attempt's logs kept in the records instead of as blobs (store layout 2: logs of at
    /// most [`RECORD_INLINE_MAX`](crate::RECORD_INLINE_MAX) bytes). Sent just before the
    /// attempt's `AttemptFinished`, which names them by digest.
    AttemptLogs {
        /// The run.
        run_id: String,
        /// The task.
        task_id: u64,
        /// The attempt's number.
        attempt: u32,
        /// Its standard output (base64 in JSON), if kept here.
        #[serde(default, with = "crate::inline::base64_bytes::opt")]
        stdout: Option<Vec<u8>>,
        /// Its standard error, if kept here.
        #[serde(default, with = "crate::inline::base64_bytes::opt")]
        stderr: Option<Vec<u8>>,
    },
    /// A task ended (after its last attempt).
    TaskFinished {
        /// The run.
        run_id: String,
        /// The task.
        task_id: u64,
        /// How it ended.
        status: Status,
        /// When it ended.
        finished_ms: i64,
        /// The digest of its artifact manifest in the store.
        #[serde(default)]
        manifest: Option<Digest>,
    },
    /// A task took the outputs of an earlier task instead of running: it ends at once,
    /// succeeded, with no attempt. Sent after the task's `TaskStarted`. A resumed run's task
    /// (`reason` resumed) takes the origin task's manifest; a cached task (`reason` cached)
    /// takes the outputs an earlier task of any run put, with what it inherits itself, under a
    /// manifest of its own.
    TaskReused {
        /// The run.
        run_id: String,
        /// The task.
        task_id: u64,
        /// The run the outputs come from.
        origin_run: String,
        /// The task of `origin_run` that produced them.
        origin_task: u64,
        /// The origin task's manifest, now this task's.
        manifest: Digest,
        /// When it was reused.
        finished_ms: i64,
        /// The digest of the component that computed the outputs (the code may have changed
        /// since); left out when unknown.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        component: Option<Digest>,
        /// Why: left out for a resume's reuse (and in every event of an older wflow).
        #[serde(default, skip_serializing_if = "ReuseReason::is_resumed")]
        reason: ReuseReason,
    },
    /// What a task that ran read and put, filed under its cache key so a later task with the
    /// same reads can take its outputs (see [`wflow_core::reads`]). Sent after the task's
    /// successful `TaskFinished` (and `ForeachItems`), only for a task of a step that asks for
    /// no capability and did not ask for its run id, task id or attempt.
    TaskReads {
        /// The run.
        run_id: String,
        /// The task.
        task_id: u64,
        /// Where it is filed.
        key: CacheKey,
        /// What it read and put.
        reads: TaskReads,
    },
    /// A foreach split task declared its items; `items` is the digest of their encoding in the
    /// store (kept so a resumed run can fan out again without re-running the split).
    ForeachItems {
        /// The run.
        run_id: String,
        /// The foreach split task.
        task_id: u64,
        /// The digest of the items' encoding.
        items: Digest,
    },
    /// A run ended.
    RunFinished {
        /// The run.
        run_id: String,
        /// How it ended.
        status: Status,
        /// When it ended.
        finished_ms: i64,
        /// The error, when it failed.
        #[serde(default)]
        error: Option<String>,
    },
}

impl Event {
    /// The run the event is about.
    pub fn run_id(&self) -> &str {
        match self {
            Event::RunStarted { run_id, .. }
            | Event::TaskStarted { run_id, .. }
            | Event::AttemptStarted { run_id, .. }
            | Event::AttemptFinished { run_id, .. }
            | Event::TaskManifest { run_id, .. }
            | Event::AttemptLogs { run_id, .. }
            | Event::TaskFinished { run_id, .. }
            | Event::TaskReused { run_id, .. }
            | Event::TaskReads { run_id, .. }
            | Event::ForeachItems { run_id, .. }
            | Event::RunFinished { run_id, .. } => run_id,
        }
    }
}

/// A run as recorded.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct RunRecord {
    /// Its id.
    pub run_id: String,
    /// The flow's name.
    pub flow: String,
    /// The digest of the flow's component.
    pub component: Digest,
    /// The resolved parameter values.
    pub params: serde_json::Value,
    /// The flow spec.
    pub spec: serde_json::Value,
    /// Where it stands.
    pub status: Status,
    /// When it began.
    pub started_ms: i64,
    /// When it ended.
    pub finished_ms: Option<i64>,
    /// Why it failed.
    pub error: Option<String>,
    /// The run it resumes.
    pub origin_run: Option<String>,
    /// Who started it.
    pub user: String,
    /// A run of the flow, or a step-run (runs recorded by an older wflow are runs).
    #[serde(default)]
    pub kind: RunKind,
}

/// A task as recorded.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct TaskRecord {
    /// Its run.
    pub run_id: String,
    /// Its id within the run.
    pub task_id: u64,
    /// The step it runs.
    pub step: String,
    /// Its foreach indices, outermost first.
    pub foreach_path: Vec<u32>,
    /// The tasks it reads from.
    pub inputs: Vec<u64>,
    /// Where it stands.
    pub status: Status,
    /// When it began.
    pub started_ms: i64,
    /// When it ended.
    pub finished_ms: Option<i64>,
    /// The digest of its artifact manifest.
    pub manifest: Option<Digest>,
    /// The manifest's bytes, when the records keep them (store layout 2; see
    /// [`TaskRecord::read_manifest`]).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::inline::base64_bytes::opt"
    )]
    pub manifest_bytes: Option<Vec<u8>>,
    /// How many attempts have started (0 for a reused task).
    pub attempts: u32,
    /// For a task reused by a resumed run: the run whose task's outputs it took.
    pub origin_run: Option<String>,
    /// For a reused task: the task of `origin_run` it took its outputs from.
    pub origin_task: Option<u64>,
    /// For a foreach split task: the digest of its declared items in the store.
    pub foreach_items: Option<Digest>,
    /// For a reused task: the digest of the component that computed its outputs, when recorded
    /// (it may differ from its run's code: resume after a code fix).
    #[serde(default)]
    pub component: Option<Digest>,
    /// For a reused task: whether it was taken from the cache (a pure step whose reads matched
    /// an earlier task's) rather than from a resumed run's origin.
    #[serde(default)]
    pub cached: bool,
    /// The task succeeded because its step's `catch` kept the error of its last attempt, which
    /// failed (read from its attempts; not stored).
    #[serde(default)]
    pub caught: bool,
}

impl TaskRecord {
    /// True when the task took its outputs from a task of an earlier run instead of running
    /// (resumed or cached).
    pub fn is_reused(&self) -> bool {
        self.origin_task.is_some()
    }

    /// True when the task was taken from the cache.
    pub fn is_cached(&self) -> bool {
        self.cached && self.is_reused()
    }

    /// Why it did not run: `None` for a task that ran.
    pub fn reuse_reason(&self) -> Option<ReuseReason> {
        self.is_reused().then_some(if self.cached {
            ReuseReason::Cached
        } else {
            ReuseReason::Resumed
        })
    }
}

/// An earlier task filed under a cache key (see [`MetadataStore::cache_lookup`](crate::MetadataStore::cache_lookup)):
/// what it read, and where its outputs are.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CacheEntry {
    /// Its run.
    pub run_id: String,
    /// The task.
    pub task_id: u64,
    /// What it read and the names it put.
    pub reads: TaskReads,
    /// The digest of its manifest.
    pub manifest: Digest,
    /// The manifest's bytes when the records keep them.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::inline::base64_bytes::opt"
    )]
    pub manifest_bytes: Option<Vec<u8>>,
    /// For a foreach split: the digest of its declared items in the store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub foreach_items: Option<Digest>,
}

/// Which runs to list (see [`Metadata::find_runs`](crate::Metadata::find_runs)); the default
/// lists every run, newest first.
#[derive(Clone, Debug, Default)]
pub struct RunFilter {
    /// Only runs of this flow.
    pub flow: Option<String>,
    /// Only runs carrying every one of these tags.
    pub tags: Vec<String>,
    /// Only runs with this status.
    pub status: Option<Status>,
    /// Only runs of this kind (`None`: runs and step-runs alike).
    pub kind: Option<RunKind>,
    /// At most this many (the newest).
    pub limit: Option<usize>,
    /// Skip this many of the newest first (for paging).
    pub offset: usize,
    /// Only runs started at or after this time (ms since the Unix epoch).
    pub since_ms: Option<i64>,
    /// Only runs started before this time (ms since the Unix epoch).
    pub until_ms: Option<i64>,
    /// Only runs started by this user. `None`: the store's default namespace — every run in a
    /// local or S3 store; the caller's own runs on a metadata service.
    pub user: Option<String>,
    /// Every user's runs, even where the store shows the caller's own by default (a metadata
    /// service, where it needs an administrator's token). Ignored by stores without namespaces.
    pub all_users: bool,
    /// Leave each run's flow spec out (`spec` is `null`): listings do not need it, and decoding
    /// it is most of the cost of listing many runs.
    pub skip_spec: bool,
}

/// What the tasks of one step of a run add up to (see
/// [`Metadata::step_stats`](crate::Metadata::step_stats)).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StepStats {
    /// The step.
    pub step: String,
    /// Tasks recorded.
    pub tasks: u64,
    /// Of which succeeded (reused ones included).
    pub succeeded: u64,
    /// Of which failed.
    pub failed: u64,
    /// Of which still running (or whose process died).
    pub running: u64,
    /// Of which reused from an origin run or taken from the cache.
    pub reused: u64,
    /// Of which taken from the cache (pure steps whose reads matched an earlier task's).
    #[serde(default)]
    pub cached: u64,
    /// Of the succeeded ones, those whose failure `catch` kept.
    #[serde(default)]
    pub caught: u64,
    /// Attempts started, over all tasks.
    pub attempts: u64,
    /// When the first task began.
    pub first_started_ms: Option<i64>,
    /// When the last finished task ended.
    pub last_finished_ms: Option<i64>,
    /// The sum of the finished tasks' durations (task time, not wall time).
    pub task_ms: i64,
    /// The longest finished task.
    pub max_task_ms: Option<i64>,
}

/// An attempt as recorded.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct AttemptRecord {
    /// Its run.
    pub run_id: String,
    /// Its task.
    pub task_id: u64,
    /// Its number.
    pub attempt: u32,
    /// Where it stands.
    pub status: Status,
    /// When it began.
    pub started_ms: i64,
    /// When it ended.
    pub finished_ms: Option<i64>,
    /// Why it failed.
    pub error: Option<String>,
    /// The digest of its standard output.
    pub stdout: Option<Digest>,
    /// The digest of its standard error.
    pub stderr: Option<Digest>,
    /// Its standard output, when the records keep it (store layout 2; see
    /// [`AttemptRecord::read_log`]).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::inline::base64_bytes::opt"
    )]
    pub stdout_bytes: Option<Vec<u8>>,
    /// Its standard error, likewise.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::inline::base64_bytes::opt"
    )]
    pub stderr_bytes: Option<Vec<u8>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_text_round_trip() {
        for s in [Status::Running, Status::Succeeded, Status::Failed] {
            assert_eq!(s.as_str().parse::<Status>().unwrap(), s);
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
        }
        assert_eq!(
            "done".parse::<Status>().unwrap_err(),
            StatusError("done".into())
        );
        assert!(Status::Failed.is_finished() && !Status::Running.is_finished());
    }

    /// The JSON form is the metadata service's protocol (version 1): it must not change.
    #[test]
    fn event_json_is_the_protocol_form() {
        let digest = Digest::of(b"log");
        let finished = Event::AttemptFinished {
            run_id: "r1".into(),
            task_id: 3,
            attempt: 1,
            status: Status::Failed,
            started_ms: None,
            finished_ms: 9,
            error: Some("boom".into()),
            stdout: Some(digest),
            stderr: None,
        };
        let json = serde_json::to_value(&finished).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "type": "attempt_finished", "run_id": "r1", "task_id": 3, "attempt": 1,
                "status": "failed", "finished_ms": 9, "error": "boom",
                "stdout": digest.to_hex(), "stderr": null,
            })
        );
        assert_eq!(serde_json::from_value::<Event>(json).unwrap(), finished);
        // A worker's own start is one more field, only when known.
        let timed = Event::AttemptFinished {
            run_id: "r1".into(),
            task_id: 3,
            attempt: 0,
            status: Status::Succeeded,
            started_ms: Some(4),
            finished_ms: 9,
            error: None,
            stdout: None,
            stderr: None,
        };
        let json = serde_json::to_value(&timed).unwrap();
        assert_eq!(json["started_ms"], 4);
        assert_eq!(serde_json::from_value::<Event>(json).unwrap(), timed);

        // Optional fields may be left out.
        let started: Event = serde_json::from_str(
            r#"{"type": "task_started", "run_id": "r1", "task_id": 2, "step": "a", "started_ms": 5}"#,
        )
        .unwrap();
        assert_eq!(
            started,
            Event::TaskStarted {
                run_id: "r1".into(),
                task_id: 2,
                step: "a".into(),
                foreach_path: vec![],
                inputs: vec![],
                started_ms: 5,
            }
        );
        // Unknown fields and unknown types are refused, naming them.
        let err = serde_json::from_str::<Event>(
            r#"{"type": "run_finished", "run_id": "r1", "status": "failed", "finished_ms": 1, "why": "x"}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown field `why`"), "{err}");
        let err =
            serde_json::from_str::<Event>(r#"{"type": "run_paused", "run_id": "r1"}"#).unwrap_err();
        assert!(err.to_string().contains("run_paused"), "{err}");
    }
}
