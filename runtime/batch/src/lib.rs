//! The AWS Batch compute backend: each task is a Batch job running the generic worker image
//! (`wflow worker`), a foreach's tasks one array job.
//!
//! The path of an attempt: the scheduler hands [`BatchCompute::start`] one task, or the tasks of
//! one foreach → their description goes to the store (`tasks-v1/…`, see
//! [`wflow_scheduler::remote`]) → a job definition for the step's image, role, resources and
//! timeout is registered once (or found) → **one** `SubmitJob` (an array job for several tasks)
//! whose environment names the description → the worker runs the task in the same sandbox and
//! writes its outputs and its report to the store → the poller sees the job end and hands the
//! report to the scheduler.
//!
//! Polling: one `DescribeJobs` per 100 tracked jobs per round (array jobs count once: their
//! children are followed through the parent's status summary, listed only when some failed, and
//! their reports read from the store when all are done); the interval starts at
//! `poll_min_ms` after any change and grows to `poll_max_ms` while nothing changes. Every call is
//! counted in [`ApiCounters`].
//!
//! Failures: a worker that exits non-zero wrote its report (the step's real error); a job with no
//! report is explained from Batch's own reason — killed for memory, attempt duration exceeded,
//! host terminated (spot reclaim; retried as an infrastructure failure), stuck RUNNABLE (no
//! capacity). [`BatchCompute::terminate_all`] ends every job of the run (Ctrl-C).
#![deny(missing_docs)]

mod config;
mod failures;
mod jobs;

pub use config::{BatchConfig, DEFAULT_MEMORY_MB, WORKER_OVERHEAD_MB};
pub use failures::explain_failure;
pub use jobs::{
    ApiCounters, BatchCompute, JobCounts, MAX_ARRAY_SIZE, job_name, split_sizes, step_resources,
};
