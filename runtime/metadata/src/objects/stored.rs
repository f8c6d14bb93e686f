//! The objects' JSON forms (version 1). Every change is compatible: a new field has a default,
//! so records written by an older wflow still read.

use serde::{Deserialize, Serialize};
use wflow_core::Digest;

use crate::{Event, ReuseReason, RunKind, RunRecord, Status};

/// `tags/<run_id>/<key>`: one change to a run's tags.
#[derive(Serialize, Deserialize)]
pub(super) struct StoredTags {
    pub(super) v: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) add: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) remove: Vec<String>,
}

/// `runs/<run_id>`.
#[derive(Serialize, Deserialize)]
pub(super) struct StoredRun {
    pub(super) v: u32,
    pub(super) flow: String,
    pub(super) component: Digest,
    pub(super) params: serde_json::Value,
    pub(super) spec: serde_json::Value,
    pub(super) started_ms: i64,
    pub(super) origin_run: Option<String>,
    pub(super) user: String,
    /// Absent for a run of the flow (and in every run written by an older wflow).
    #[serde(default, skip_serializing_if = "RunKind::is_run")]
    pub(super) kind: RunKind,
}

impl StoredRun {
    pub(super) fn from_record(r: &RunRecord) -> StoredRun {
        StoredRun {
            v: 1,
            flow: r.flow.clone(),
            component: r.component,
            params: r.params.clone(),
            spec: r.spec.clone(),
            started_ms: r.started_ms,
            origin_run: r.origin_run.clone(),
            user: r.user.clone(),
            kind: r.kind,
        }
    }

    pub(super) fn into_record(self, run_id: &str) -> Result<RunRecord, String> {
        if self.v != 1 {
            return Err(format!(
                "version {} is newer than this wflow reads (1)",
                self.v
            ));
        }
        Ok(RunRecord {
            run_id: run_id.to_string(),
            flow: self.flow,
            component: self.component,
            params: self.params,
            spec: self.spec,
            status: Status::Running,
            started_ms: self.started_ms,
            finished_ms: None,
            error: None,
            origin_run: self.origin_run,
            user: self.user,
            kind: self.kind,
        })
    }
}

/// A run's end objects, in key order: each key and its bytes (`None` when gone).
pub(super) type EndObjects<'a> = Vec<(&'a String, Option<Vec<u8>>)>;

/// `ends/<run_id>/<key>`.
#[derive(Serialize, Deserialize)]
pub(super) struct StoredEnd {
    pub(super) v: u32,
    pub(super) status: Status,
    pub(super) finished_ms: i64,
    pub(super) error: Option<String>,
}

impl StoredEnd {
    pub(super) fn apply_to(&self, run: &mut RunRecord) {
        run.status = self.status;
        run.finished_ms = Some(self.finished_ms);
        run.error = self.error.clone();
    }
}

/// One task or attempt event in a batch (the run is in the key).
#[derive(Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub(super) enum StoredEvent {
    TaskStarted {
        task_id: u64,
        step: String,
        foreach_path: Vec<u32>,
        inputs: Vec<u64>,
        started_ms: i64,
    },
    AttemptStarted {
        task_id: u64,
        attempt: u32,
        started_ms: i64,
    },
    AttemptFinished {
        task_id: u64,
        attempt: u32,
        status: Status,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        started_ms: Option<i64>,
        finished_ms: i64,
        error: Option<String>,
        stdout: Option<Digest>,
        stderr: Option<Digest>,
    },
    TaskFinished {
        task_id: u64,
        status: Status,
        finished_ms: i64,
        manifest: Option<Digest>,
    },
    TaskReused {
        task_id: u64,
        origin_run: String,
        origin_task: u64,
        manifest: Digest,
        finished_ms: i64,
        /// Absent when unknown (and in every batch written by an older wflow).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        component: Option<Digest>,
        /// Absent for a resume's reuse (and in every batch written by an older wflow).
        #[serde(default, skip_serializing_if = "ReuseReason::is_resumed")]
        reason: ReuseReason,
    },
    ForeachItems {
        task_id: u64,
        items: Digest,
    },
    TaskManifest {
        task_id: u64,
        #[serde(with = "crate::inline::base64_bytes")]
        manifest: Vec<u8>,
    },
    AttemptLogs {
        task_id: u64,
        attempt: u32,
        #[serde(default, with = "crate::inline::base64_bytes::opt")]
        stdout: Option<Vec<u8>>,
        #[serde(default, with = "crate::inline::base64_bytes::opt")]
        stderr: Option<Vec<u8>>,
    },
}

impl StoredEvent {
    /// A task or attempt event (run events are stored apart).
    pub(super) fn from_event(e: &Event) -> StoredEvent {
        match e.clone() {
            Event::TaskStarted {
                task_id,
                step,
                foreach_path,
                inputs,
                started_ms,
                ..
            } => StoredEvent::TaskStarted {
                task_id,
                step,
                foreach_path,
                inputs,
                started_ms,
            },
            Event::AttemptStarted {
                task_id,
                attempt,
                started_ms,
                ..
            } => StoredEvent::AttemptStarted {
                task_id,
                attempt,
                started_ms,
            },
            Event::AttemptFinished {
                task_id,
                attempt,
                status,
                started_ms,
                finished_ms,
                error,
                stdout,
                stderr,
                ..
            } => StoredEvent::AttemptFinished {
                task_id,
                attempt,
                status,
                started_ms,
                finished_ms,
                error,
                stdout,
                stderr,
            },
            Event::TaskFinished {
                task_id,
                status,
                finished_ms,
                manifest,
                ..
            } => StoredEvent::TaskFinished {
                task_id,
                status,
                finished_ms,
                manifest,
            },
            Event::TaskReused {
                task_id,
                origin_run,
                origin_task,
                manifest,
                finished_ms,
                component,
                reason,
                ..
            } => StoredEvent::TaskReused {
                task_id,
                origin_run,
                origin_task,
                manifest,
                finished_ms,
                component,
                reason,
            },
            Event::ForeachItems { task_id, items, .. } => {
                StoredEvent::ForeachItems { task_id, items }
            }
            Event::TaskManifest {
                task_id, manifest, ..
            } => StoredEvent::TaskManifest { task_id, manifest },
            Event::AttemptLogs {
                task_id,
                attempt,
                stdout,
                stderr,
                ..
            } => StoredEvent::AttemptLogs {
                task_id,
                attempt,
                stdout,
                stderr,
            },
            Event::RunStarted { .. } | Event::RunFinished { .. } | Event::TaskReads { .. } => {
                unreachable!("run events and cache entries are stored as objects of their own")
            }
        }
    }

    pub(super) fn into_event(self, run_id: &str) -> Event {
        let run_id = run_id.to_string();
        match self {
            StoredEvent::TaskStarted {
                task_id,
                step,
                foreach_path,
                inputs,
                started_ms,
            } => Event::TaskStarted {
                run_id,
                task_id,
                step,
                foreach_path,
                inputs,
                started_ms,
            },
            StoredEvent::AttemptStarted {
                task_id,
                attempt,
                started_ms,
            } => Event::AttemptStarted {
                run_id,
                task_id,
                attempt,
                started_ms,
            },
            StoredEvent::AttemptFinished {
                task_id,
                attempt,
                status,
                started_ms,
                finished_ms,
                error,
                stdout,
                stderr,
            } => Event::AttemptFinished {
                run_id,
                task_id,
                attempt,
                status,
                started_ms,
                finished_ms,
                error,
                stdout,
                stderr,
            },
            StoredEvent::TaskFinished {
                task_id,
                status,
                finished_ms,
                manifest,
            } => Event::TaskFinished {
                run_id,
                task_id,
                status,
                finished_ms,
                manifest,
            },
            StoredEvent::TaskReused {
                task_id,
                origin_run,
                origin_task,
                manifest,
                finished_ms,
                component,
                reason,
            } => Event::TaskReused {
                run_id,
                task_id,
                origin_run,
                origin_task,
                manifest,
                finished_ms,
                component,
                reason,
            },
            StoredEvent::ForeachItems { task_id, items } => Event::ForeachItems {
                run_id,
                task_id,
                items,
            },
            StoredEvent::TaskManifest { task_id, manifest } => Event::TaskManifest {
                run_id,
                task_id,
                manifest,
            },
            StoredEvent::AttemptLogs {
                task_id,
                attempt,
                stdout,
                stderr,
            } => Event::AttemptLogs {
                run_id,
                task_id,
                attempt,
                stdout,
                stderr,
            },
        }
    }
}
