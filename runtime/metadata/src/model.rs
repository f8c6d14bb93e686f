//! The records as the rest of wflow sees them: the events the runtime emits and the rows read back.

use std::fmt;
use std::str::FromStr;

use wflow_core::Digest;

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

/// One thing that happened to a run, as the runtime reports it.
///
/// Events are applied in the order given: a task's events come after its run's `RunStarted`, an
/// attempt's after its task's `TaskStarted`. Times are milliseconds since the Unix epoch
/// ([`wflow_core::now_millis`]).
#[derive(Clone, Debug)]
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
        origin_run: Option<String>,
        /// Who started it.
        user: String,
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
        foreach_path: Vec<u32>,
        /// The tasks whose outputs it reads.
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
        /// When it ended.
        finished_ms: i64,
        /// The error, when it failed.
        error: Option<String>,
        /// The digest of its captured standard output in the store.
        stdout: Option<Digest>,
        /// The digest of its captured standard error in the store.
        stderr: Option<Digest>,
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
        manifest: Option<Digest>,
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
            | Event::TaskFinished { run_id, .. }
            | Event::RunFinished { run_id, .. } => run_id,
        }
    }
}

/// A run as recorded.
#[derive(Clone, Debug, serde::Serialize)]
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
}

/// A task as recorded.
#[derive(Clone, Debug, serde::Serialize)]
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
    /// How many attempts have started.
    pub attempts: u32,
}

/// An attempt as recorded.
#[derive(Clone, Debug, serde::Serialize)]
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
}
