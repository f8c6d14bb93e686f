//! The policy file and its built-in default.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// A policy: defaults, ceilings and grants, globally and per flow.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// What a step gets when it does not say.
    #[serde(default)]
    pub defaults: StepDefaults,
    /// Ceilings: a step asking for more is refused.
    #[serde(default)]
    pub limits: Limits,
    /// Capabilities any flow's steps may be granted.
    #[serde(default)]
    pub grants: Grants,
    /// Extra grants for one flow, by flow name.
    #[serde(default)]
    pub flows: BTreeMap<String, FlowRules>,
    /// Where the policy came from, for messages.
    #[serde(skip)]
    pub origin: String,
}

/// Rules for one flow.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowRules {
    /// Grants added to the global ones for this flow.
    #[serde(default)]
    pub grants: Grants,
}

/// Defaults for steps that do not set a value.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StepDefaults {
    /// Memory per task, MiB.
    pub memory_mb: u64,
    /// Wall-clock limit per attempt, seconds (none: unlimited unless `limits.max_timeout_secs`).
    pub timeout_secs: Option<u64>,
}

impl Default for StepDefaults {
    fn default() -> Self {
        StepDefaults {
            memory_mb: wflow_core::DEFAULT_MEMORY_MB,
            timeout_secs: None,
        }
    }
}

/// Ceilings.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Most memory a step may ask for, MiB.
    pub max_memory_mb: u64,
    /// Longest timeout a step may ask for, seconds; also the timeout of steps without one.
    pub max_timeout_secs: Option<u64>,
    /// Most CPUs a step may ask for.
    pub max_cpu: u32,
    /// Most items a foreach may declare.
    pub max_foreach_items: u32,
    /// Bytes of stdout and of stderr kept per attempt (the rest is dropped with a marker).
    pub max_log_bytes: usize,
    /// Total bytes of artifacts one task may keep.
    pub max_artifact_bytes: u64,
    /// Fuel per attempt (a CPU budget, roughly wasm instructions); turning it on meters every step.
    pub fuel: Option<u64>,
    /// Most bytes of wasm stack a task may use.
    pub max_wasm_stack: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_memory_mb: wflow_core::DEFAULT_MEMORY_MB,
            max_timeout_secs: None,
            max_cpu: 64,
            max_foreach_items: 100_000,
            max_log_bytes: 16 << 20,
            max_artifact_bytes: 64 << 30,
            fuel: None,
            max_wasm_stack: 1 << 20,
        }
    }
}

/// Capabilities that may be granted.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Grants {
    /// Environment variable names; a trailing `*` matches a prefix (`AWS_*`), `*` alone any.
    pub env: Vec<String>,
    /// Host directories (and everything under them) that may be mounted.
    pub dirs: Vec<DirRule>,
    /// `host:port` destinations; `*` matches any host (`*:443`), `*.example.com` a domain, a port of
    /// `*` any port.
    pub network: Vec<String>,
    /// Real wall and monotonic clocks.
    pub clock: bool,
    /// Real random numbers.
    pub random: bool,
}

/// A directory that may be mounted.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirRule {
    /// The host directory (absolute, or relative to the project directory).
    pub path: PathBuf,
    /// Whether it may be mounted writable.
    #[serde(default)]
    pub writable: bool,
}

/// A policy file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file could not be read.
    #[error("cannot read the policy file {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a valid policy.
    #[error("the policy {origin} is invalid: {reason}")]
    Invalid {
        /// Where it came from.
        origin: String,
        /// The parser's message (line and column included).
        reason: String,
    },
}

impl Policy {
    /// The policy used when no file is given: for one person on their own machine. It grants
    /// clocks, random numbers and any environment variable a step names, directories under the
    /// project directory (read-write), and no network; the ceilings are the default [`Limits`].
    pub fn builtin(project_dir: &Path) -> Policy {
        Policy {
            grants: Grants {
                env: vec!["*".into()],
                dirs: vec![DirRule {
                    path: project_dir.to_path_buf(),
                    writable: true,
                }],
                network: vec![],
                clock: true,
                random: true,
            },
            origin: "built-in personal policy (no policy file)".into(),
            ..Policy::default()
        }
    }

    /// Parses policy TOML; `origin` names it in messages.
    pub fn parse(text: &str, origin: &str) -> Result<Policy, PolicyError> {
        let mut p: Policy = toml::from_str(text).map_err(|e| PolicyError::Invalid {
            origin: origin.into(),
            reason: e.to_string(),
        })?;
        p.origin = origin.to_string();
        Ok(p)
    }

    /// Reads a policy file.
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
            path: path.into(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// The grants for `flow`: global ones plus the flow's own.
    pub fn grants_for(&self, flow: &str) -> Grants {
        let mut g = self.grants.clone();
        if let Some(rules) = self.flows.get(flow) {
            let extra = &rules.grants;
            g.env.extend(extra.env.iter().cloned());
            g.dirs.extend(extra.dirs.iter().cloned());
            g.network.extend(extra.network.iter().cloned());
            g.clock |= extra.clock;
            g.random |= extra.random;
        }
        g
    }
}
