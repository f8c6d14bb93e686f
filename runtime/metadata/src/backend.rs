//! [`MetadataStore`]: what every home of the records offers — the SQLite file ([`Metadata`]), the
//! objects of a team store ([`ObjectMetadata`](crate::ObjectMetadata)), later a service.
//!
//! The runtime writes through it (a [`Recorder`](crate::Recorder) batches events into
//! [`record_skipping_failures`](MetadataStore::record_skipping_failures)); the client library,
//! the inspection commands and resume read through it. The provided methods are correct for any
//! backend that implements the required ones; a backend with an index (SQLite) overrides them
//! with cheaper queries. Inherent methods of [`Metadata`] with the same names remain, so code
//! written against the SQLite type keeps working.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::Duration;

use wflow_core::CacheKey;

use crate::{
    AttemptRecord, CacheEntry, Event, Metadata, Result, RunFilter, RunKind, RunRecord, Status,
    StepStats, TaskQuery, TaskRecord,
};

/// How long the [`Recorder`](crate::Recorder) of a SQLite file gathers events before it writes
/// them. Every transaction rewrites the pages it touches (tables, indexes, the step summaries)
/// into the WAL: written as soon as they arrive, a foreach of trivial tasks commits a transaction
/// for every event or two, which costs far more than the events themselves. A few milliseconds
/// gather tens of tasks per transaction. A process killed within the window loses those tasks'
/// ends as it would lose tasks still running: `wflow resume` runs them again. `flush` (and the
/// run's end) does not wait for it.
pub(crate) const SQLITE_BATCH_WINDOW: Duration = Duration::from_millis(5);

/// Records of runs, tasks and attempts, and the runs' tags, wherever they are kept.
pub trait MetadataStore: Send + Sync + 'static {
    /// Applies events in order; all or nothing where the backend can (see each implementation).
    fn record(&self, events: &[Event]) -> Result<()>;

    /// Applies events in order, skipping (and returning the first of) those that fail.
    fn record_skipping_failures(&self, events: &[Event]) -> Result<()>;

    /// Runs newest first (by start time, then run id), optionally of one flow.
    fn runs(&self, flow: Option<&str>) -> Result<Vec<RunRecord>>;

    /// The run `run_id`, if recorded.
    fn run(&self, run_id: &str) -> Result<Option<RunRecord>>;

    /// Tasks of a run ordered by task id.
    fn tasks(&self, run_id: &str) -> Result<Vec<TaskRecord>>;

    /// The attempts of a task, in order of attempt number.
    fn attempts(&self, run_id: &str, task_id: u64) -> Result<Vec<AttemptRecord>>;

    /// Adds `tags` to run `run_id`; returns how many it did not have yet. All or nothing: an
    /// invalid tag or an unknown run adds none.
    fn add_tags(&self, run_id: &str, tags: &[String]) -> Result<usize>;

    /// Removes `tags` from run `run_id`; returns how many it had.
    fn remove_tags(&self, run_id: &str, tags: &[String]) -> Result<usize>;

    /// The tags of run `run_id`, sorted (empty for a run without tags or not recorded).
    fn tags(&self, run_id: &str) -> Result<Vec<String>>;

    /// Where the records are: the database file, or the URL of the records' prefix. Errors name
    /// it the same way.
    fn path(&self) -> &Path;

    /// Record objects skipped since the last call (corrupt, or planted beside the real ones),
    /// one line each naming the object; a caller shows them as warnings. Backends that refuse
    /// such records when written have none.
    fn take_warnings(&self) -> Vec<String> {
        Vec::new()
    }

    /// How long a [`Recorder`](crate::Recorder) may hold events back to write more of them at
    /// once: a few milliseconds for a local file, a fraction of a second where each write is a
    /// request.
    fn batch_window(&self) -> Duration {
        Duration::ZERO
    }

    /// Removes the records of the runs `run_ids` — each run, its tasks, their attempts and the
    /// run's tags — and returns how many of them were recorded. Only `wflow gc` calls this
    /// (with runs its retention rule lets go). All at once where the backend can (SQLite: one
    /// transaction); elsewhere each run disappears at once (its start first) and whatever a
    /// crash leaves of it is invisible and removed by the next collection. Backends without it
    /// say [`MetadataError::Unsupported`](crate::MetadataError::Unsupported).
    fn delete_runs(&self, run_ids: &[String]) -> Result<usize> {
        let _ = run_ids;
        Err(crate::MetadataError::Unsupported {
            path: self.path().to_path_buf(),
            action: "delete runs",
        })
    }

    /// Every attempt of every task of a run, by task then attempt number.
    fn attempts_of_run(&self, run_id: &str) -> Result<Vec<AttemptRecord>> {
        let mut out = Vec::new();
        for t in self.tasks(run_id)? {
            out.extend(self.attempts(run_id, t.task_id)?);
        }
        Ok(out)
    }

    /// For each of `keys`, the earlier successful tasks filed under it by an
    /// [`Event::TaskReads`], newest first, at most `limit` of them: where a pure task finds the
    /// task whose outputs it may take. A backend without an index of them finds none (every
    /// task runs).
    fn cache_lookup(&self, keys: &[CacheKey], limit: usize) -> Result<Vec<Vec<CacheEntry>>> {
        let _ = limit;
        Ok(keys.iter().map(|_| Vec::new()).collect())
    }

    /// Task `task_id` of run `run_id`, if recorded.
    fn task(&self, run_id: &str, task_id: u64) -> Result<Option<TaskRecord>> {
        Ok(self
            .tasks(run_id)?
            .into_iter()
            .find(|t| t.task_id == task_id))
    }

    /// The tasks of one step of a run, by task id.
    fn tasks_of_step(&self, run_id: &str, step: &str) -> Result<Vec<TaskRecord>> {
        let mut tasks = self.tasks(run_id)?;
        tasks.retain(|t| t.step == step);
        Ok(tasks)
    }

    /// The newest task of step `step` of run `run_id` on foreach item `path` (`[7]`, or `[2, 7]`
    /// in a nested foreach), if any: an index lookup where the records are indexed.
    fn task_of_item(&self, run_id: &str, step: &str, path: &[u32]) -> Result<Option<TaskRecord>> {
        Ok(self
            .tasks_of_step(run_id, step)?
            .into_iter()
            .rev()
            .find(|t| t.foreach_path == path))
    }

    /// A page of the tasks of one step of a run: filtered, sorted and cut as `query` says.
    fn step_tasks(&self, run_id: &str, step: &str, query: &TaskQuery) -> Result<Vec<TaskRecord>> {
        Ok(query.apply(self.tasks_of_step(run_id, step)?))
    }

    /// The names of the flows that have runs, sorted.
    fn flows(&self) -> Result<Vec<String>> {
        let mut flows: Vec<String> = self.runs(None)?.into_iter().map(|r| r.flow).collect();
        flows.sort_unstable();
        flows.dedup();
        Ok(flows)
    }

    /// The runs `filter` selects, newest first.
    fn find_runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>> {
        let mut runs = self.runs(filter.flow.as_deref())?;
        if let Some(status) = filter.status {
            runs.retain(|r| r.status == status);
        }
        if let Some(kind) = filter.kind {
            runs.retain(|r| r.kind == kind);
        }
        if let Some(user) = &filter.user {
            runs.retain(|r| &r.user == user);
        }
        if let Some(since) = filter.since_ms {
            runs.retain(|r| r.started_ms >= since);
        }
        if let Some(until) = filter.until_ms {
            runs.retain(|r| r.started_ms < until);
        }
        if !filter.tags.is_empty() {
            let ids: Vec<&str> = runs.iter().map(|r| r.run_id.as_str()).collect();
            let tags = self.tags_of_runs(&ids)?;
            let keep: HashSet<String> = tags
                .into_iter()
                .filter(|(_, have)| filter.tags.iter().all(|t| have.contains(t)))
                .map(|(id, _)| id)
                .collect();
            runs.retain(|r| keep.contains(&r.run_id));
        }
        let mut runs: Vec<RunRecord> = runs
            .into_iter()
            .skip(filter.offset)
            .take(filter.limit.unwrap_or(usize::MAX))
            .collect();
        if filter.skip_spec {
            for r in &mut runs {
                r.spec = serde_json::Value::Null;
            }
        }
        Ok(runs)
    }

    /// How many runs `filter` selects, ignoring its `limit` and `offset`.
    fn count_runs(&self, filter: &RunFilter) -> Result<u64> {
        let all = RunFilter {
            limit: None,
            offset: 0,
            skip_spec: true,
            ..filter.clone()
        };
        Ok(self.find_runs(&all)?.len() as u64)
    }

    /// The newest run of `flow`, optionally only among runs with status `status`. Step-runs
    /// ([`RunKind::StepRun`]) are not runs of the flow and are left out: ask for them with
    /// [`find_runs`](MetadataStore::find_runs) and [`RunFilter::kind`].
    fn latest_run(&self, flow: &str, status: Option<Status>) -> Result<Option<RunRecord>> {
        Ok(self
            .find_runs(&latest_filter(flow, status))?
            .into_iter()
            .next())
    }

    /// The ids of every run of `flow`, newest first.
    fn run_ids(&self, flow: &str) -> Result<Vec<String>> {
        Ok(self
            .runs(Some(flow))?
            .into_iter()
            .map(|r| r.run_id)
            .collect())
    }

    /// Per step of a run, what its tasks add up to; steps without tasks are absent. Ordered by
    /// step name.
    fn step_stats(&self, run_id: &str) -> Result<Vec<StepStats>> {
        Ok(step_stats_of(&self.tasks(run_id)?))
    }

    /// The tags of several runs at once: run id → sorted tags (runs without tags are absent).
    fn tags_of_runs(&self, run_ids: &[&str]) -> Result<BTreeMap<String, Vec<String>>> {
        let mut out = BTreeMap::new();
        for id in run_ids {
            let tags = self.tags(id)?;
            if !tags.is_empty() {
                out.insert(id.to_string(), tags);
            }
        }
        Ok(out)
    }

    /// Every tag in use and how many runs carry it, sorted by tag.
    fn all_tags(&self) -> Result<Vec<(String, u64)>> {
        let runs = self.runs(None)?;
        let ids: Vec<&str> = runs.iter().map(|r| r.run_id.as_str()).collect();
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        for tags in self.tags_of_runs(&ids)?.into_values() {
            for t in tags {
                *counts.entry(t).or_default() += 1;
            }
        }
        Ok(counts.into_iter().collect())
    }
}

/// What [`MetadataStore::latest_run`] asks for: one run of the flow, newest first.
pub(crate) fn latest_filter(flow: &str, status: Option<Status>) -> RunFilter {
    RunFilter {
        flow: Some(flow.to_string()),
        status,
        kind: Some(RunKind::Run),
        limit: Some(1),
        ..RunFilter::default()
    }
}

/// [`StepStats`] of a run's tasks, computed in memory (what SQLite's `step_summary` holds).
pub(crate) fn step_stats_of(tasks: &[TaskRecord]) -> Vec<StepStats> {
    let shares: Vec<crate::summary::Share> = tasks.iter().map(crate::summary::Share::of).collect();
    crate::summary::stats_of(&shares)
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
    fn attempts(&self, run_id: &str, task_id: u64) -> Result<Vec<AttemptRecord>> {
        Metadata::attempts(self, run_id, task_id)
    }
    fn add_tags(&self, run_id: &str, tags: &[String]) -> Result<usize> {
        Metadata::add_tags(self, run_id, tags)
    }
    fn remove_tags(&self, run_id: &str, tags: &[String]) -> Result<usize> {
        Metadata::remove_tags(self, run_id, tags)
    }
    fn tags(&self, run_id: &str) -> Result<Vec<String>> {
        Metadata::tags(self, run_id)
    }
    fn batch_window(&self) -> Duration {
        SQLITE_BATCH_WINDOW
    }

    fn path(&self) -> &Path {
        Metadata::path(self)
    }
    fn delete_runs(&self, run_ids: &[String]) -> Result<usize> {
        Metadata::delete_runs(self, run_ids)
    }
    fn attempts_of_run(&self, run_id: &str) -> Result<Vec<AttemptRecord>> {
        Metadata::attempts_of_run(self, run_id)
    }
    fn task(&self, run_id: &str, task_id: u64) -> Result<Option<TaskRecord>> {
        Metadata::task(self, run_id, task_id)
    }
    fn tasks_of_step(&self, run_id: &str, step: &str) -> Result<Vec<TaskRecord>> {
        Metadata::tasks_of_step(self, run_id, step)
    }
    fn step_tasks(&self, run_id: &str, step: &str, query: &TaskQuery) -> Result<Vec<TaskRecord>> {
        Metadata::step_tasks(self, run_id, step, query)
    }
    fn task_of_item(&self, run_id: &str, step: &str, path: &[u32]) -> Result<Option<TaskRecord>> {
        Metadata::task_of_item(self, run_id, step, path)
    }
    fn flows(&self) -> Result<Vec<String>> {
        Metadata::flows(self)
    }
    fn find_runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>> {
        Metadata::find_runs(self, filter)
    }
    fn count_runs(&self, filter: &RunFilter) -> Result<u64> {
        Metadata::count_runs(self, filter)
    }
    fn latest_run(&self, flow: &str, status: Option<Status>) -> Result<Option<RunRecord>> {
        Metadata::latest_run(self, flow, status)
    }
    fn run_ids(&self, flow: &str) -> Result<Vec<String>> {
        Metadata::run_ids(self, flow)
    }
    fn step_stats(&self, run_id: &str) -> Result<Vec<StepStats>> {
        Metadata::step_stats(self, run_id)
    }
    fn tags_of_runs(&self, run_ids: &[&str]) -> Result<BTreeMap<String, Vec<String>>> {
        Metadata::tags_of_runs(self, run_ids)
    }
    fn all_tags(&self) -> Result<Vec<(String, u64)>> {
        Metadata::all_tags(self)
    }
    fn cache_lookup(&self, keys: &[CacheKey], limit: usize) -> Result<Vec<Vec<CacheEntry>>> {
        Metadata::cache_lookup(self, keys, limit)
    }
}
