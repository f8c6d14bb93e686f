//! Runs a validated flow: the ready queue, foreach expansion, joins, retries and `catch`, with
//! every task executed by the engine on a thread of its pool (`pool.rs`), `max_workers` at a time.
//!
//! The path of one task: [`run_flow`] pops it from the ready queue → [`execute`] runs its attempts
//! in the engine (a fresh sandbox each) → outputs are already in the store; the task's manifest is
//! written → its records go to the metadata [`Recorder`](wflow_metadata::Recorder) → its
//! successors become ready (or wait at their join until every input has arrived).
//!
//! The scheduler keeps no state on disk of its own: everything it learns is in the store
//! (manifests, logs) and in the metadata records.
#![deny(missing_docs)]

mod budget;
pub mod cached;
mod code;
mod compute;
mod execute;
mod frames;
mod one;
mod pool;
mod ready;
pub mod remote;
mod resume;
mod run;
mod secrets;

pub use code::Code;
pub use compute::{
    Attempt, AttemptFuture, AttemptOutput, AttemptReport, Compute, Computes, Local, run_attempt,
};
pub use execute::{ATTEMPT_BACKOFF, INFRASTRUCTURE_RETRIES, TaskResult};
pub use one::{OneTask, TaskEnd, run_one_task};
pub use resume::{
    Resume, ResumeError, ResumeHow, ResumeReport, ReusedTask, lineage, read_items, resume_flow,
    resume_params,
};
pub use run::{
    Observer, RunEvent, RunFailure, RunOptions, RunSummary, SchedulerError, TaskSummary,
    parameter_artifacts, run_flow,
};
