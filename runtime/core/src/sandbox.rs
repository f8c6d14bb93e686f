//! The resolved sandbox of a step: limits and grants, as a policy decided them.

use std::time::Duration;

use crate::DirGrant;

/// Default memory limit of a task, in MiB: the whole 32-bit address space of a wasm32 guest.
pub const DEFAULT_MEMORY_MB: u64 = 4096;

/// The resolved limits and grants of one step's tasks.
/// Serialisable so a remote worker runs a task in exactly the sandbox the policy resolved.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Sandbox {
    /// Most bytes of memory a task may hold: all its linear memories and tables together.
    pub memory_bytes: u64,
    /// Wall-clock limit of an attempt.
    pub timeout: Option<Duration>,
    /// Fuel (roughly, wasm instructions) per attempt; only when the engine meters fuel.
    pub fuel: Option<u64>,
    /// Bytes of stdout and of stderr kept per attempt; the rest is dropped with a marker.
    pub max_log_bytes: usize,
    /// Total bytes a task may make the host keep: artifact values, names, codecs, manifest
    /// entries and foreach items.
    pub max_artifact_bytes: u64,
    /// Most items a foreach step may declare.
    pub max_foreach_items: u32,
    /// Most artifacts a task may put (each `put` and each writer opened counts).
    #[serde(default = "default_max_artifacts")]
    pub max_artifacts: u64,
    /// Most artifact readers and writers a task may hold open at once.
    #[serde(default = "default_max_open_artifacts")]
    pub max_open_artifacts: u32,
    /// Environment variables passed in (name, value).
    pub env: Vec<(String, String)>,
    /// Directories mounted.
    pub dirs: Vec<DirGrant>,
    /// `host:port` destinations the step may connect to.
    pub network: Vec<String>,
    /// Real clocks.
    pub clock: bool,
    /// Real random numbers.
    pub random: bool,
    /// The secrets a step is given: each one's name and where its value is read, where the
    /// task runs (the value itself is never part of a sandbox).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SecretGrant>,
}

/// A secret a step is given: its name (what the step asks for) and its source (what the policy
/// declares).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SecretGrant {
    /// The name the step reads it by.
    pub name: String,
    /// Where its value comes from.
    pub source: SecretSource,
}

/// Where a secret's value is read, on the machine (or in the container) running the task.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretSource {
    /// An environment variable of the process running the task.
    Env {
        /// Its name.
        var: String,
    },
    /// A file (its whole contents).
    File {
        /// Its absolute path.
        path: String,
    },
    /// AWS Secrets Manager, with the credentials where the task runs (a Batch job's role).
    Aws {
        /// The secret's id: its name or ARN.
        id: String,
        /// The key to take from a secret whose value is a JSON object; the whole value if none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<String>,
        /// The region (default: the environment's).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        region: Option<String>,
        /// The Secrets Manager endpoint URL (tests, private endpoints).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        endpoint: Option<String>,
    },
}

impl std::fmt::Display for SecretSource {
    /// Where the value is read, for messages (never the value).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretSource::Env { var } => write!(f, "environment variable `{var}`"),
            SecretSource::File { path } => write!(f, "file `{path}`"),
            SecretSource::Aws { id, key: None, .. } => {
                write!(f, "AWS Secrets Manager secret `{id}`")
            }
            SecretSource::Aws {
                id, key: Some(k), ..
            } => write!(f, "key `{k}` of AWS Secrets Manager secret `{id}`"),
        }
    }
}

/// Default of [`Sandbox::max_artifacts`].
pub const DEFAULT_MAX_ARTIFACTS: u64 = 100_000;
/// Default of [`Sandbox::max_open_artifacts`].
pub const DEFAULT_MAX_OPEN_ARTIFACTS: u32 = 256;

fn default_max_artifacts() -> u64 {
    DEFAULT_MAX_ARTIFACTS
}

fn default_max_open_artifacts() -> u32 {
    DEFAULT_MAX_OPEN_ARTIFACTS
}

impl Default for Sandbox {
    /// Nothing granted; memory up to the wasm32 maximum; no timeout; 16 MiB of log per stream;
    /// 64 GiB of artifacts; 100,000 foreach items; 100,000 artifacts, 256 open at once.
    fn default() -> Self {
        Sandbox {
            memory_bytes: DEFAULT_MEMORY_MB << 20,
            timeout: None,
            fuel: None,
            max_log_bytes: 16 << 20,
            max_artifact_bytes: 64 << 30,
            max_foreach_items: 100_000,
            max_artifacts: DEFAULT_MAX_ARTIFACTS,
            max_open_artifacts: DEFAULT_MAX_OPEN_ARTIFACTS,
            env: Vec::new(),
            dirs: Vec::new(),
            network: Vec::new(),
            clock: false,
            random: false,
            secrets: Vec::new(),
        }
    }
}

impl Sandbox {
    /// True when the sandbox grants nothing from outside (no environment variable, directory,
    /// network destination, real clock, real random numbers or secret): a task in it is a deterministic
    /// function of what it reads through the host, which is what makes it cacheable.
    pub fn grants_nothing(&self) -> bool {
        self.env.is_empty()
            && self.dirs.is_empty()
            && self.network.is_empty()
            && !self.clock
            && !self.random
            && self.secrets.is_empty()
    }
}
