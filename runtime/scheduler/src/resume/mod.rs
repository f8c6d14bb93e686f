//! Resuming a run: a new run that reuses the successful tasks of an earlier one (its *origin*)
//! and runs the rest; and re-running one task of a past run on the same inputs (`step-run`).
//!
//! # How a task is matched
//!
//! A task is identified across runs by its step and its foreach path (its index in every
//! enclosing foreach): in a valid graph that pair names exactly one task of a run. A task of the
//! new run takes the outputs of the origin's task with the same pair — by pointing at that task's
//! manifest, no data copied — when all of these hold:
//!
//! - its step is not re-run: with `--from STEP`, that step and every step after it are re-run;
//!   without, every step after a step that failed (the failed tasks themselves have no successful
//!   origin task, so they run; their successful siblings in a foreach are reused, unless the
//!   step's component changed: then the whole step runs again);
//! - with `--strict` only: its step's component (and that of every step before it) is the one
//!   the origin ran; without, the steps before the first step to re-run are reused whatever the
//!   code, as Metaflow does (a resume after a code fix reuses the work before the fix). Each step
//!   counts its own component: in a polyglot flow, a change to one language's component is a
//!   change to its steps only (see [`Code`]);
//! - the origin task succeeded, and its inputs were the origin tasks whose outputs the new task's
//!   inputs reused (so it would see exactly what it saw then);
//! - for a foreach split, its items were recorded (so the new run can fan out without it).
//!
//! Anything else runs. A task that is reused is recorded with [`Event::TaskReused`] (its origin
//! run and task, no attempt, and the digest of the component that computed its outputs).
//!
//! # Parameters
//!
//! A resumed run has the origin's parameters unless some are given again. Reused tasks keep the
//! outputs they computed with the origin's values; tasks that run see the new values, both
//! through `context.parameter` and as the parameter artifacts they inherit.

mod items;
mod params;
mod plan;
mod reuse;

use std::collections::{BTreeSet, HashMap};

use wflow_core::Digest;
use wflow_engine::Value;
use wflow_graph::Plan;
use wflow_metadata::{RunRecord, TaskRecord};
use wflow_store::ArtifactRef;

use crate::code::Code;

pub use items::read_items;
pub(crate) use items::record_items;
pub use params::{resume_flow, resume_params};
pub use plan::lineage;
pub(crate) use reuse::deliver;

/// Why a resume (or step-run) cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ResumeError {
    /// The origin run is still running.
    #[error(
        "run {run} is still running (its record has no end): resume it once it has ended; if its \
         process is gone (killed), resume it anyway with --force"
    )]
    StillRunning {
        /// `Flow/run`.
        run: String,
    },
    /// The origin run succeeded and no step was named.
    #[error(
        "run {run} succeeded: there is nothing to resume; to run steps again, name the first one \
         with --from STEP (its steps: {steps})"
    )]
    NothingToResume {
        /// `Flow/run`.
        run: String,
        /// The flow's steps, in order.
        steps: String,
    },
    /// The component is of another flow.
    #[error(
        "the component is flow `{component_flow}`, but run {run} is a run of flow `{run_flow}`: \
         resume it with a component of `{run_flow}`"
    )]
    OtherFlow {
        /// `Flow/run`.
        run: String,
        /// The origin's flow.
        run_flow: String,
        /// The component's flow.
        component_flow: String,
    },
    /// `--from` names no step of the flow.
    #[error("flow `{flow}` has no step `{step}` to resume from; its steps: {steps}")]
    UnknownStep {
        /// The flow.
        flow: String,
        /// The name given.
        step: String,
        /// The flow's steps, in order.
        steps: String,
    },
    /// For step-run: the new component's graph puts the step elsewhere.
    #[error("step `{step}` of run {run} cannot be re-run with this component: {reason}")]
    Incompatible {
        /// `Flow/run`.
        run: String,
        /// The step.
        step: String,
        /// What differs.
        reason: String,
    },
}

/// One task of the new run that reused an origin task.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ReusedTask {
    /// Its id in the new run.
    pub task_id: u64,
    /// Its step.
    pub step: String,
    /// The origin task it took its outputs from.
    pub origin_task: u64,
    /// The component that computed those outputs, when known.
    pub component: Option<Digest>,
}

/// What a resume did, besides the run itself.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ResumeReport {
    /// The run resumed.
    pub origin_run: String,
    /// Steps of the origin with a task that failed (or never ended), in graph order: their
    /// failed tasks run again, their successful ones are reused.
    pub failed_steps: Vec<String>,
    /// Steps whose every task runs again: `--from` and the steps after it, or the steps after a
    /// failed step; in graph order. (Other tasks run too when they have no successful origin
    /// task.)
    pub rerun_steps: Vec<String>,
    /// Tasks reused, in the order they were.
    pub reused: Vec<ReusedTask>,
    /// When the code differs from the origin's: `(origin's, new)` as the runs record it.
    pub code_changed: Option<(Digest, Digest)>,
    /// Steps whose component differs from the one that ran them in the origin, in graph order.
    pub changed_steps: Vec<String>,
    /// `--strict`: tasks of a step whose code (or an earlier step's) changed are not reused.
    pub strict: bool,
    /// The steps whose origin tasks are to be reused (those not run again), in graph order, and
    /// how many successful tasks they have in the origin.
    pub reusing_steps: Vec<String>,
    /// How many successful origin tasks `reusing_steps` have.
    pub reusing_tasks: usize,
    /// The components that computed the tasks of `reusing_steps` in the origin, each once.
    pub reusing_code: Vec<Digest>,
    /// Parameters whose value differs from the origin's.
    pub params_changed: Vec<String>,
    /// Tasks that could have been reused but were run, and why.
    pub notes: Vec<String>,
}

enum Mode {
    Resume,
    StepRun { step: String, path: Vec<u32> },
}

/// A resume in the making: what to reuse, decided task by task as the new run goes.
pub struct Resume {
    mode: Mode,
    origin: RunRecord,
    plan: Plan,
    /// Steps whose tasks always run.
    rerun: BTreeSet<String>,
    /// For step-run: the steps the target depends on.
    ancestors: BTreeSet<String>,
    /// The component that ran each step in the origin.
    origin_code: Code,
    /// Successful origin tasks with a manifest, by (step, foreach path): several for the
    /// iterations of a loop, told apart by their inputs.
    by_key: HashMap<(String, Vec<u32>), Vec<TaskRecord>>,
    /// Origin task → the step that took its output (how a switch's choice is known again).
    next_of: HashMap<u64, String>,
    /// New task id → the origin task it reused.
    origin_of: HashMap<u64, u64>,
    /// Parameter artifacts to replace in the inputs of tasks that run: name → (origin's
    /// digest, new reference).
    overlay: Vec<(String, Digest, ArtifactRef)>,
    /// The blobs of reused tasks refreshed so far, and when.
    refresh: reuse::Refreshed,
    report: ResumeReport,
}

impl std::fmt::Debug for Resume {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resume")
            .field("origin", &self.origin.run_id)
            .field("rerun", &self.rerun)
            .finish_non_exhaustive()
    }
}

pub(crate) enum Decision {
    Run,
    Skip,
    Reuse(Box<Reused>),
}

pub(crate) struct Reused {
    origin_run: String,
    origin_task: u64,
    component: Option<Digest>,
    manifest: Digest,
    /// The manifest's bytes when the origin's records keep them (store layout 2): the new
    /// run's records keep them too.
    manifest_bytes: Option<Vec<u8>>,
    artifacts: wflow_store::Artifacts,
    items: Option<Vec<Value>>,
    /// The digest the origin's items are stored under.
    items_digest: Option<Digest>,
    /// A switch's choice.
    next: Option<String>,
}

/// How to resume (the options of `wflow resume`).
#[derive(Clone, Debug, Default)]
pub struct ResumeHow {
    /// The first step to run again (with every step after it); without it, the steps after the
    /// origin's failed steps run again, and its failed tasks.
    pub from: Option<String>,
    /// Resume a run still recorded as running (its process died); its running tasks count as
    /// failed.
    pub force: bool,
    /// Reuse no task whose step's code, or an earlier step's, changed since the origin.
    pub strict: bool,
}

#[cfg(test)]
mod tests;
