//! The records of runs, tasks and attempts, in one embedded SQLite file.
//!
//! # What this crate owns
//!
//! Who ran which flow when, with which parameters and component; which tasks each run had, on
//! which step and foreach index, reading which other tasks; every attempt of every task, how it
//! ended and why. It answers `wflow runs`, `wflow show` and the resume logic.
//!
//! It never holds artifact data, logs or components: those live in the content-addressed store
//! (`wflow-store`). Here there are only records and pointers into the store: the [`Digest`](wflow_core::Digest)s of
//! a run's component, a task's artifact manifest and an attempt's captured stdout and stderr.
//!
//! # Writing
//!
//! The runtime reports what happens as a stream of [`Event`]s. [`Metadata::record`] applies a
//! slice of them in one transaction; a [`Recorder`] does it from a background thread, writing
//! whatever has queued up in one transaction each time it wakes up, so a 1,000-task foreach
//! costs a few transactions, not thousands, and the scheduler never waits on the disk.
//!
//! The file is in WAL mode with `synchronous=NORMAL`: a process killed at any point leaves the
//! database as it was after its last committed batch. Several processes may use one file at once;
//! writers wait up to 5 s ([`BUSY_TIMEOUT`]) for each other.
//!
//! # Schema (version [`SCHEMA_VERSION`], in `PRAGMA user_version`)
//!
//! | table      | key                           | columns                                                        |
//! |------------|-------------------------------|----------------------------------------------------------------|
//! | `runs`     | `id` (integer), `run_id` (unique) | flow, component, params, spec, status, started_ms, finished_ms, error, origin_run, user, kind |
//! | `tasks`    | `run, task_id`                | step, foreach_path, inputs, status, started_ms, finished_ms, manifest, manifest_bytes, attempts, origin_run, origin_task, foreach_items, component, cached, item_key ([`item_key`]) |
//! | `attempts` | `run, task_id, attempt`       | status, started_ms, finished_ms, error, stdout, stderr, stdout_bytes, stderr_bytes |
//! | `task_cache` | `run, task_id`              | scope, item (the task's cache key), reads (JSON)               |
//! | `tags`     | `run_id, tag`                 | the run's tags ([`Metadata::add_tags`], [`RunFilter::tags`])   |
//! | `step_summary` | `run_id, step`            | what the step's tasks add up to ([`Metadata::step_stats`]), kept as they are recorded |
//!
//! The per-task tables name their run by its integer key `run` (`runs.id`), not its id: the
//! id is written once, in `runs` (schema version 11). Their digests are 32-byte BLOBs (the
//! run's component is hex TEXT); params, spec, foreach_path, inputs and reads are JSON TEXT;
//! times are INTEGER milliseconds since the Unix epoch; status is `running`, `succeeded` or
//! `failed`; a run's kind is `run`, or `step_run` for a task re-run by `wflow step-run
//! --persist` ([`RunKind`]). Tasks reference their run and attempts their task (foreign keys),
//! so an event about something never started is refused with an error naming it. A task reused
//! by a resumed run records the origin run and task it took its outputs from (and has no
//! attempt); a foreach split records the digest of its declared items. Indexes:
//! `runs (flow, started_ms)`, `runs (started_ms)`, `runs (flow, status, started_ms)`,
//! `tasks (run, step)`, and per sort key of a step's table
//! `tasks (run, step, item_key | status | started_ms | <duration> | attempts)` ([`TaskSort`],
//! [`DURATION_KEY`]: a step's table in any order is read in index order),
//! `task_cache (scope, item)`, `tags (tag, run_id)`. A file with a newer schema is refused
//! ([`MetadataError::SchemaTooNew`]); an older one is upgraded when opened.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use wflow_core::{Digest, now_millis};
//! use wflow_metadata::{Event, Metadata, Recorder, RunKind, Status};
//!
//! let dir = tempfile::tempdir()?;
//! let meta = Arc::new(Metadata::open(&dir.path().join("metadata.db"))?);
//! let recorder = Recorder::new(meta.clone());
//! let (run_id, t) = ("20261128T182550-k3f9a".to_string(), now_millis());
//! recorder.send(Event::RunStarted {
//!     run_id: run_id.clone(),
//!     flow: "Hello".into(),
//!     component: Digest::of(b"component bytes"),
//!     params: serde_json::json!({ "n": 3 }),
//!     spec: serde_json::json!({ "name": "Hello" }),
//!     started_ms: t,
//!     origin_run: None,
//!     user: "ada".into(),
//!     kind: RunKind::Run,
//! });
//! recorder.send(Event::TaskStarted {
//!     run_id: run_id.clone(),
//!     task_id: 1,
//!     step: "start".into(),
//!     foreach_path: vec![],
//!     inputs: vec![],
//!     started_ms: t,
//! });
//! recorder.send(Event::AttemptStarted { run_id: run_id.clone(), task_id: 1, attempt: 0, started_ms: t });
//! recorder.send(Event::AttemptFinished {
//!     run_id: run_id.clone(),
//!     task_id: 1,
//!     attempt: 0,
//!     status: Status::Succeeded,
//!     started_ms: None,
//!     finished_ms: t + 5,
//!     error: None,
//!     stdout: Some(Digest::of(b"hello\n")),
//!     stderr: None,
//! });
//! let manifest = Some(Digest::of(b"manifest"));
//! recorder.send(Event::TaskFinished {
//!     run_id: run_id.clone(),
//!     task_id: 1,
//!     status: Status::Succeeded,
//!     finished_ms: t + 5,
//!     manifest,
//! });
//! recorder.send(Event::RunFinished {
//!     run_id: run_id.clone(),
//!     status: Status::Succeeded,
//!     finished_ms: t + 6,
//!     error: None,
//! });
//! recorder.close()?;
//!
//! let run = meta.run(&run_id)?.expect("recorded");
//! assert_eq!((run.flow.as_str(), run.status), ("Hello", Status::Succeeded));
//! let task = meta.task(&run_id, 1)?.expect("recorded");
//! assert_eq!((task.attempts, task.manifest), (1, manifest));
//! assert_eq!(meta.flows()?, ["Hello"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

/// The SQL of the key (`runs.id`, schema version 11) of the run whose id is the statement's
/// parameter `?1`; `NULL` when no such run is recorded. The per-task tables name their run by
/// this key, so a statement given a run id looks it up once (one probe of the unique index on
/// `runs.run_id`).
macro_rules! run_key {
    () => {
        "(SELECT id FROM runs WHERE run_id = ?1)"
    };
}

mod backend;
mod delete;
mod error;
mod inline;
mod merge;
mod model;
mod objects;
mod paging;
mod query;
mod recorder;
mod schema;
mod sqlite;
pub mod summary;
mod tags;

/// The start of a run `run_id` of flow `F` (component `c`, no parameters, started at 1 ms by
/// `u`): the fixture the crate's unit tests record runs with.
#[cfg(test)]
pub(crate) fn test_run_started(run_id: &str) -> Event {
    Event::RunStarted {
        run_id: run_id.into(),
        flow: "F".into(),
        component: wflow_core::Digest::of(b"c"),
        params: serde_json::json!({}),
        spec: serde_json::json!({}),
        started_ms: 1,
        origin_run: None,
        user: "u".into(),
        kind: RunKind::Run,
    }
}

pub use backend::MetadataStore;
pub use error::{MetadataError, Result};
pub use inline::RECORD_INLINE_MAX;
pub use model::{
    AttemptRecord, CacheEntry, Event, ReuseReason, RunFilter, RunKind, RunKindError, RunRecord,
    Status, StatusError, StepStats, TaskRecord,
};
pub use objects::{BATCH_WINDOW, ObjectMetadata, RECORDS_PREFIX};
pub use paging::{DURATION_KEY, ITEM_SORT_DEPTH, TaskQuery, TaskSort, TaskSortError, item_key};
pub use recorder::{MAX_QUEUED, OUTAGE_LIMIT, Recorder};
pub use schema::SCHEMA_VERSION;
#[doc(hidden)]
pub use schema::schema_sql;
pub use sqlite::{BUSY_TIMEOUT, Metadata};
pub use tags::{MAX_TAG_LEN, validate_tag};
