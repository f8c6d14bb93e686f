//! [`BatchConfig`]: which queue, image and role tasks use, as a serde struct (the `[batch]` table
//! of the config file, overlaid by `WFLOW_BATCH_*` variables and `--batch-*` flags in the CLI).

use serde::{Deserialize, Serialize};

/// Default memory of a job when its step sets none, in MiB.
pub const DEFAULT_MEMORY_MB: u32 = 2048;
/// Memory added to a step's own limit for the worker around it (wasmtime, buffers), in MiB.
pub const WORKER_OVERHEAD_MB: u32 = 256;

/// Where and how tasks run on AWS Batch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct BatchConfig {
    /// The job queue (name or ARN).
    pub queue: String,
    /// The worker image (`ACCOUNT.dkr.ecr.REGION.amazonaws.com/wflow-worker:TAG`): one image for
    /// every flow, built from `deploy/worker.Dockerfile`.
    pub image: String,
    /// The IAM role the jobs run as (ARN): it reads and writes the store's bucket.
    #[serde(default)]
    pub job_role: Option<String>,
    /// The region (default: the profile's or `AWS_REGION`).
    #[serde(default)]
    pub region: Option<String>,
    /// The Batch API endpoint URL (tests, private endpoints). AWS when absent.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// AWS profile for credentials and region.
    #[serde(default)]
    pub profile: Option<String>,
    /// Job definitions are named `<prefix>-<hash of image, role, resources, timeout>`.
    #[serde(default = "default_prefix")]
    pub job_definition_prefix: String,
    /// Shortest wait between two polls, in milliseconds (right after a change).
    #[serde(default = "default_poll_min")]
    pub poll_min_ms: u64,
    /// Longest wait between two polls, in milliseconds (when nothing changes for a while).
    #[serde(default = "default_poll_max")]
    pub poll_max_ms: u64,
    /// A job still RUNNABLE after this many seconds is terminated and its task failed: no
    /// compute environment of the queue can place it.
    #[serde(default = "default_runnable")]
    pub runnable_timeout_secs: u64,
    /// Memory of a job whose step sets none, in MiB.
    #[serde(default = "default_memory")]
    pub default_memory_mb: u32,
}

fn default_prefix() -> String {
    "wflow".into()
}
fn default_poll_min() -> u64 {
    1_000
}
fn default_poll_max() -> u64 {
    10_000
}
fn default_runnable() -> u64 {
    1_800
}
fn default_memory() -> u32 {
    DEFAULT_MEMORY_MB
}

impl BatchConfig {
    /// A configuration with defaults for everything but the queue and image.
    pub fn new(queue: impl Into<String>, image: impl Into<String>) -> BatchConfig {
        BatchConfig {
            queue: queue.into(),
            image: image.into(),
            job_role: None,
            region: None,
            endpoint: None,
            profile: None,
            job_definition_prefix: default_prefix(),
            poll_min_ms: default_poll_min(),
            poll_max_ms: default_poll_max(),
            runnable_timeout_secs: default_runnable(),
            default_memory_mb: default_memory(),
        }
    }
}
