//! [`MetadataStore`]: what every home of the records offers — the SQLite file ([`Metadata`]), the
//! objects of a team store ([`ObjectMetadata`](crate::ObjectMetadata)), later a service.
//!
//! The runtime writes through it (a [`Recorder`](crate::Recorder) batches events into
//! [`record_skipping_failures`](MetadataStore::record_skipping_failures)); the inspection commands
//! and resume read through it. Inherent methods of [`Metadata`] with the same names remain, so code
//! written against the SQLite type keeps working.

use std::path::Path;
use std::time::Duration;

use crate::{AttemptRecord, Event, Metadata, Result, RunRecord, TaskRecord};

/// Records of runs, tasks and attempts, wherever they are kept.
pub trait MetadataStore: Send + Sync + 'static {
    /// Applies events in order; all or nothing where the backend can (see each implementation).
    fn record(&self, events: &[Event]) -> Result<()>;

    /// Applies events in order, skipping (and returning the first of) those that fail.
    fn record_skipping_failures(&self, events: &[Event]) -> Result<()>;

    /// Runs newest first, optionally of one flow.
    fn runs(&self, flow: Option<&str>) -> Result<Vec<RunRecord>>;

    /// The run `run_id`, if recorded.
    fn run(&self, run_id: &str) -> Result<Option<RunRecord>>;

    /// Tasks of a run ordered by task id.
    fn tasks(&self, run_id: &str) -> Result<Vec<TaskRecord>>;

    /// Task `task_id` of run `run_id`, if recorded.
    fn task(&self, run_id: &str, task_id: u64) -> Result<Option<TaskRecord>> {
        Ok(self
            .tasks(run_id)?
            .into_iter()
            .find(|t| t.task_id == task_id))
    }

    /// The attempts of a task, in order of attempt number.
    fn attempts(&self, run_id: &str, task_id: u64) -> Result<Vec<AttemptRecord>>;

    /// The names of the flows that have runs, sorted.
    fn flows(&self) -> Result<Vec<String>> {
        let mut flows: Vec<String> = self.runs(None)?.into_iter().map(|r| r.flow).collect();
        flows.sort_unstable();
        flows.dedup();
        Ok(flows)
    }

    /// Where the records are: the database file, or the URL of the records' prefix. Errors name
    /// it the same way.
    fn path(&self) -> &Path;

    /// How long a [`Recorder`](crate::Recorder) may hold events back to write more of them at
    /// once: zero for a local file, a fraction of a second where each write is a request.
    fn batch_window(&self) -> Duration {
        Duration::ZERO
    }
}

impl MetadataStore for Metadata {
    fn record(&self, events: &[Event]) -> Result<()> {
        Metadata::record(self, events)
    }
    fn record_skipping_failures(&self, events: &[Event]) -> Result<()> {
        Metadata::record_skipping_failures(self, events)
    }
    fn runs(&self, flow: Option<&str>) -> Result<Vec<RunRecord>> {
        Metadata::runs(self, flow)
    }
    fn run(&self, run_id: &str) -> Result<Option<RunRecord>> {
        Metadata::run(self, run_id)
    }
    fn tasks(&self, run_id: &str) -> Result<Vec<TaskRecord>> {
        Metadata::tasks(self, run_id)
    }
    fn task(&self, run_id: &str, task_id: u64) -> Result<Option<TaskRecord>> {
        Metadata::task(self, run_id, task_id)
    }
    fn attempts(&self, run_id: &str, task_id: u64) -> Result<Vec<AttemptRecord>> {
        Metadata::attempts(self, run_id, task_id)
    }
    fn flows(&self) -> Result<Vec<String>> {
        Metadata::flows(self)
    }
    fn path(&self) -> &Path {
        Metadata::path(self)
    }
}
