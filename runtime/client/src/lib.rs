//! Read past runs of wflow: flows, runs, steps, tasks, artifacts and logs, addressed by
//! pathspec `Flow/run/step/task[/artifact]`.
//!
//! A [`Client`] opens a store directory (what `wflow run` writes: a `metadata.sqlite` file of
//! records and the content-addressed blobs) and hands out typed objects that borrow it:
//!
//! | object       | pathspec                    | what it tells                                        |
//! |--------------|-----------------------------|------------------------------------------------------|
//! | [`Flow`]     | `Flow`                      | its runs, the latest (successful) one                |
//! | [`Run`]      | `Flow/run`                  | status, parameters, tags, times, origin, graph, steps |
//! | [`Step`]     | `Flow/run/step`             | its tasks, counts by status, times                   |
//! | [`Task`]     | `Flow/run/step/task`        | attempts, timings, artifacts, logs, origin task      |
//! | [`Artifact`] | `Flow/run/step/task/name`   | name, size, codec, digest; bytes; value as JSON      |
//!
//! The run part of a pathspec may be `latest` (the flow's newest run) or the start of a run id
//! when only one run of the flow starts with it.
//!
//! Every look-up that fails says which part of the pathspec was not found and lists the nearest
//! valid choices ([`ClientError::NotFound`]); a blob that fails its hash check is named with the
//! artifact it holds ([`ClientError::Artifact`]), and other artifacts stay readable.
//!
//! Logs come from the store once an attempt has ended and from live files while it runs
//! ([`live_log_path`]); [`Task::follow_logs`] streams them as they are written.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use wflow_client::Client;
//! use wflow_core::Digest;
//! use wflow_metadata::{Event, Metadata, Status};
//! use wflow_store::{Cas, LocalDisk, Manifest};
//!
//! // A store with one run of one task, as `wflow run` would leave it.
//! let dir = tempfile::tempdir()?;
//! let cas = Cas::new(Arc::new(LocalDisk::open(dir.path())?));
//! let meta = Metadata::open(&dir.path().join("metadata.sqlite"))?;
//! let mut manifest = Manifest::new();
//! let mut answer = Vec::new();
//! ciborium::into_writer(&42, &mut answer)?;
//! manifest.artifacts.insert("answer".into(), cas.put_artifact(&answer, "cbor")?);
//! let manifest = cas.put_manifest(&manifest)?;
//! let run = "20261128T182550-k3f9a".to_string();
//! meta.record(&[
//!     Event::RunStarted {
//!         run_id: run.clone(), flow: "Hello".into(), component: Digest::of(b"wasm"),
//!         params: serde_json::json!({}), spec: serde_json::json!({}), started_ms: 0,
//!         origin_run: None, user: "ada".into(), kind: Default::default(),
//!     },
//!     Event::TaskStarted {
//!         run_id: run.clone(), task_id: 1, step: "start".into(), foreach_path: vec![],
//!         inputs: vec![], started_ms: 0,
//!     },
//!     Event::TaskFinished {
//!         run_id: run.clone(), task_id: 1, status: Status::Succeeded, finished_ms: 5,
//!         manifest: Some(manifest),
//!     },
//!     Event::RunFinished { run_id: run.clone(), status: Status::Succeeded, finished_ms: 6, error: None },
//! ])?;
//!
//! // Read it back.
//! let client = Client::open(dir.path())?;
//! let latest = client.flow("Hello")?.latest_successful_run()?.expect("one run");
//! assert_eq!(latest.id(), run);
//! let answer = client.artifact(&format!("Hello/{run}/start/1/answer"))?;
//! assert_eq!((answer.codec(), answer.value()?), ("cbor", serde_json::json!(42)));
//!
//! // A typo names the part that was not found and the nearest choices.
//! let err = client.task(&format!("Hello/{run}/strat/1")).unwrap_err();
//! assert!(err.to_string().contains("step `strat` not found"), "{err}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod client;
mod error;
mod items;
mod liveness;
mod logs;
mod nearest;
mod pathspec;
mod preview;
mod run;
mod task;
mod value;

pub use client::{Client, Flow, METADATA_FILE, Object};
pub use error::{ClientError, Part, Result};
pub use items::{Item, items_of};
pub use liveness::{Liveness, RunLock, liveness, run_lock_path};
pub use logs::{
    AttemptLogs, FollowEnd, FollowEvent, FollowOptions, LIVE_DIR, Log, LogSource, Stream,
    live_log_dir, live_log_path,
};
pub use pathspec::parse_pathspec;
pub use preview::{Preview, PreviewPage, preview_cbor, preview_cbor_page};
pub use run::{Run, Step};
pub use task::{Artifact, ArtifactInfo, Task};
pub use value::{cbor_to_json, decode_cbor};
pub use wflow_metadata::{RunFilter, RunKind, Status, StepStats, TaskQuery, TaskSort};
