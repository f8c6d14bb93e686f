//! [`ClientError`]: every way a look-up can fail, naming the pathspec part at fault.

use std::path::PathBuf;

use wflow_core::Digest;
use wflow_metadata::MetadataError;
use wflow_store::StoreError;

use crate::nearest::list;

/// `Result` with [`ClientError`] as the default error.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;

/// The part of a pathspec `Flow/run/step/task/artifact` an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// The flow name.
    Flow,
    /// The run id.
    Run,
    /// The step name.
    Step,
    /// The task id.
    Task,
    /// The artifact name.
    Artifact,
}

impl Part {
    /// The part's name: `flow`, `run`, `step`, `task` or `artifact`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Part::Flow => "flow",
            Part::Run => "run",
            Part::Step => "step",
            Part::Task => "task",
            Part::Artifact => "artifact",
        }
    }
}

impl Part {
    /// `a flow`, `a run`, …, `an artifact`.
    pub fn with_article(&self) -> &'static str {
        match self {
            Part::Flow => "a flow",
            Part::Run => "a run",
            Part::Step => "a step",
            Part::Task => "a task",
            Part::Artifact => "an artifact",
        }
    }
}

impl std::fmt::Display for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something could not be found or read.
///
/// Every message names the pathspec (and the part of it) at fault; "not found" errors list the
/// nearest valid choices, and store errors name the blob and what it holds.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The text does not parse as a pathspec.
    #[error(
        "`{text}` is not a valid pathspec: {reason} (expected Flow[/run[/step[/task[/artifact]]]])"
    )]
    BadPathspec {
        /// The text given.
        text: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The pathspec names something other than what is needed (a step where a task is needed).
    #[error("`{pathspec}` names {}, but {} is needed here; {hint}", found.with_article(), expected.with_article())]
    WrongKind {
        /// The pathspec given.
        pathspec: String,
        /// What it names.
        found: Part,
        /// What is needed.
        expected: Part,
        /// How to name one, with examples.
        hint: String,
    },

    /// The store directory has no metadata file: nothing ever ran there.
    #[error(
        "no runs in {}: it has no metadata file {} (run a flow first, or pass --store DIR)",
        store.display(),
        metadata.display()
    )]
    NoStore {
        /// The store directory.
        store: PathBuf,
        /// The metadata file looked for.
        metadata: PathBuf,
    },

    /// One part of a pathspec names nothing that exists.
    #[error("{part} `{name}` not found{}{note}; {}", in_parent(parent), choices_text(*part, choices, *total))]
    NotFound {
        /// More about why, e.g. " (task 5 is in step `square`)"; often empty.
        note: String,
        /// The part not found.
        part: Part,
        /// The name given for it.
        name: String,
        /// The pathspec of what was searched (`Flow/run` for a step), empty for a flow.
        parent: String,
        /// The nearest valid names, nearest first.
        choices: Vec<String>,
        /// How many valid names there are in all.
        total: usize,
    },

    /// A run id prefix matches several runs.
    #[error("run `{prefix}` of flow `{flow}` is ambiguous: it is the start of {} (give more of the id)", list(.matches, *.total))]
    AmbiguousRun {
        /// The flow.
        flow: String,
        /// The prefix given.
        prefix: String,
        /// Some of the runs it matches.
        matches: Vec<String>,
        /// How many it matches in all.
        total: usize,
    },

    /// A task has no attempt of that number.
    #[error("task {task} has no attempt {attempt}; {}", attempts_text(*attempts))]
    NoSuchAttempt {
        /// The task's pathspec.
        task: String,
        /// The attempt asked for.
        attempt: u32,
        /// How many attempts it has.
        attempts: u32,
    },

    /// A task has no artifacts (it did not succeed).
    #[error("task {task} has no artifacts: {reason}")]
    NoArtifacts {
        /// The task's pathspec.
        task: String,
        /// Why (still running, failed and how).
        reason: String,
    },

    /// An artifact's value cannot be read from the store (missing or corrupt blob…).
    #[error("cannot read artifact {pathspec}: {source}")]
    Artifact {
        /// The artifact's pathspec.
        pathspec: String,
        /// The store's error, naming the blob.
        #[source]
        source: StoreError,
    },

    /// A task's manifest (its list of artifacts) cannot be read from the store.
    #[error("cannot read the artifact list (manifest {digest}) of task {task}: {source}")]
    Manifest {
        /// The task's pathspec.
        task: String,
        /// The manifest's digest.
        digest: Digest,
        /// The store's error.
        #[source]
        source: StoreError,
    },

    /// A stored log cannot be read.
    #[error("cannot read the {stream} of attempt {attempt} of task {task}: {reason}")]
    Log {
        /// The task's pathspec.
        task: String,
        /// The attempt.
        attempt: u32,
        /// `stdout` or `stderr`.
        stream: &'static str,
        /// What went wrong (the store's error, naming the blob, or the live file's).
        reason: String,
    },

    /// An artifact's bytes do not decode with its codec, or it has no decoder.
    #[error("artifact {pathspec} cannot be decoded: {reason}")]
    Decode {
        /// The artifact's pathspec.
        pathspec: String,
        /// Why.
        reason: String,
    },

    /// The foreach items a split task declared cannot be read from the store.
    #[error("cannot read the foreach items (blob {digest}) of task {task}: {reason}")]
    Items {
        /// The split task's pathspec.
        task: String,
        /// The items' blob.
        digest: Digest,
        /// Why (the store's error, naming the blob, or what is wrong with its bytes).
        reason: String,
    },

    /// A run's recorded flow spec does not decode or validate.
    #[error("the recorded flow spec of run {run} cannot be used: {reason}")]
    Spec {
        /// The run's pathspec.
        run: String,
        /// Why.
        reason: String,
    },

    /// The store cannot be opened or read.
    #[error("store {}: {source}", store.display())]
    Store {
        /// The store directory.
        store: PathBuf,
        /// The store's error.
        #[source]
        source: StoreError,
    },

    /// The metadata cannot be read (including a file written by a newer wflow).
    #[error(transparent)]
    Metadata(#[from] MetadataError),
}

impl ClientError {
    /// For a [`NotFound`](ClientError::NotFound) error, the part not found.
    pub fn part(&self) -> Option<Part> {
        match self {
            ClientError::NotFound { part, .. } => Some(*part),
            ClientError::AmbiguousRun { .. } => Some(Part::Run),
            _ => None,
        }
    }

    /// True when the error is about what the user asked for (a pathspec that is malformed or
    /// names nothing, a missing attempt…), rather than about the store or the records.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            ClientError::BadPathspec { .. }
                | ClientError::WrongKind { .. }
                | ClientError::NotFound { .. }
                | ClientError::AmbiguousRun { .. }
                | ClientError::NoSuchAttempt { .. }
                | ClientError::NoArtifacts { .. }
                | ClientError::NoStore { .. }
        )
    }
}

fn in_parent(parent: &str) -> String {
    if parent.is_empty() {
        String::new()
    } else {
        format!(" in {parent}")
    }
}

fn choices_text(part: Part, choices: &[String], total: usize) -> String {
    if choices.is_empty() {
        return match part {
            Part::Flow => "no flow has run in this store yet".to_string(),
            Part::Artifact => "the task has no artifacts".to_string(),
            other => format!("there is no {other} there"),
        };
    }
    let noun = match part {
        Part::Flow => "flows",
        Part::Run => "runs",
        Part::Step => "steps",
        Part::Task => "tasks",
        Part::Artifact => "artifacts",
    };
    format!("nearest {noun}: {}", list(choices, total))
}

fn attempts_text(n: u32) -> String {
    match n {
        0 => "it has not started an attempt".to_string(),
        1 => "it has one attempt, 0".to_string(),
        n => format!("it has {n} attempts, 0 to {}", n - 1),
    }
}
