//! What travels between the client and the service: the protocol version, events as JSON, and
//! errors as JSON with a `kind` the client turns back into a [`MetadataError`].

use std::path::Path;

use serde::{Deserialize, Serialize};
use wflow_metadata::{Event, MetadataError};

/// The version of the HTTP protocol between `wflow` and `wflow server`. Both sides send it in
/// [`PROTOCOL_HEADER`] and refuse a request or a response with another one.
pub const PROTOCOL_VERSION: u32 = 1;

/// The header carrying [`PROTOCOL_VERSION`] on every request and response.
pub const PROTOCOL_HEADER: &str = "wflow-protocol";

/// The body of `POST /api/v1/events`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventBatch {
    /// Applied in order, in one transaction; each as [`Event`]'s JSON form.
    pub events: Vec<Event>,
    /// Skip (and report) events that fail instead of refusing the whole batch.
    #[serde(default)]
    pub skip_failures: bool,
}

/// The answer to a batch.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct BatchOutcome {
    /// Events recorded.
    pub recorded: usize,
    /// With `skip_failures`: the first event that failed (its index and error), if any.
    #[serde(default)]
    pub first_failure: Option<ErrorBody>,
}

/// The body of `POST /api/v1/cache/lookup`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheLookup {
    /// The cache keys to look up (at most [`MAX_CACHE_KEYS`]).
    pub keys: Vec<wflow_core::CacheKey>,
    /// Entries per key, newest first (at most [`MAX_CACHE_ENTRIES`]).
    pub limit: usize,
}

/// Most keys one cache lookup takes.
pub const MAX_CACHE_KEYS: usize = 1000;

/// Most entries per key one cache lookup returns.
pub const MAX_CACHE_ENTRIES: usize = 64;

/// The answer to a cache lookup: per key, in order, the caller's earlier tasks filed under it.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct CacheEntries {
    /// One list per key.
    pub entries: Vec<Vec<wflow_metadata::CacheEntry>>,
}

/// An error as JSON: `{"error": {"kind": "unknown_run", "message": "...", ...}}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ErrorEnvelope {
    /// The error.
    pub error: ErrorBody,
}

/// What went wrong, with the ids involved so a client can rebuild its error.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ErrorBody {
    /// `unknown_run`, `unknown_task`, `unknown_attempt`, `already_recorded`, `invalid_tag`,
    /// `bad_request`, `unauthorized`, `forbidden`, `protocol_version`, `not_found`,
    /// `unavailable` or `internal`.
    pub kind: String,
    /// For people.
    pub message: String,
    /// The run involved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// The task involved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<u64>,
    /// The attempt involved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// What was recorded twice, or the tag refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub what: Option<String>,
    /// Why the tag was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// With `skip_failures`: which event of the batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
}

impl ErrorBody {
    /// The client-side error for this body, from the service at `url` (`status`: the HTTP status).
    pub fn into_error(self, url: &Path, action: &str, status: u16) -> MetadataError {
        let path = url.to_path_buf();
        match (self.kind.as_str(), self.run_id, self.task_id, self.attempt) {
            ("unknown_run", Some(run_id), _, _) => MetadataError::UnknownRun { path, run_id },
            ("unknown_task", Some(run_id), Some(task_id), _) => MetadataError::UnknownTask {
                path,
                run_id,
                task_id,
            },
            ("unknown_attempt", Some(run_id), Some(task_id), Some(attempt)) => {
                MetadataError::UnknownAttempt {
                    path,
                    run_id,
                    task_id,
                    attempt,
                }
            }
            ("already_recorded", _, _, _) => MetadataError::AlreadyRecorded {
                path,
                what: self.what.unwrap_or(self.message),
            },
            ("invalid_tag", _, _, _) => MetadataError::InvalidTag {
                path,
                tag: self.what.unwrap_or_default(),
                reason: self.reason.unwrap_or(self.message),
            },
            ("unauthorized" | "forbidden", _, _, _) => MetadataError::Denied {
                path,
                status,
                message: self.message,
            },
            ("protocol_version", _, _, _) => MetadataError::Protocol {
                path,
                message: self.message,
            },
            _ => MetadataError::Service {
                path,
                action: action.to_string(),
                message: format!("{} (HTTP {status})", self.message),
            },
        }
    }
}

/// A page of a listing: the items and, when there may be more, the offset of the next page.
#[derive(Debug, Serialize, Deserialize)]
pub struct Page<T> {
    /// This page.
    pub items: Vec<T>,
    /// Where the next page starts (`offset=`), absent on the last page.
    #[serde(default)]
    pub next_offset: Option<u64>,
}

/// The body of `POST /api/v1/runs/{run_id}/tags`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagChange {
    /// Tags to add.
    #[serde(default)]
    pub add: Vec<String>,
    /// Tags to remove.
    #[serde(default)]
    pub remove: Vec<String>,
}

/// The answer to a tag change: how many tags were added (not there before) and removed.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct TagChanged {
    /// Added, not there before.
    pub added: usize,
    /// Removed, there before.
    pub removed: usize,
}

/// The body of `POST /api/v1/heartbeats`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Heartbeat {
    /// The runs whose driver is alive.
    pub runs: Vec<String>,
}

/// Runs whose records to remove (`POST /api/v1/admin/remove-runs`, for `wflow gc`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveRuns {
    /// The runs' ids (at most 1,000).
    pub runs: Vec<String>,
}

/// What `POST /api/v1/admin/remove-runs` did.
#[derive(Debug, Serialize, Deserialize)]
pub struct RunsRemoved {
    /// Runs removed; ids that were not recorded, or not finished, are not counted.
    pub removed: usize,
}

/// Who the token belongs to (`GET /api/v1/whoami`).
#[derive(Debug, Serialize, Deserialize)]
pub struct WhoAmI {
    /// The user.
    pub user: String,
    /// Whether the token is an administrator's.
    pub admin: bool,
}
