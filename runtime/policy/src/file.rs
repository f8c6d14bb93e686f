//! The policy file and its built-in default.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use wflow_core::SecretSource;

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
    /// Extra grants for one flow, by flow name; they apply only to the components whose digests
    /// the rules pin (a guest chooses its flow's name, not its digest).
    #[serde(default)]
    pub flows: BTreeMap<String, FlowRules>,
    /// Where each secret's value comes from, by the name steps ask for (`[secrets.NAME]`); a
    /// step gets one only when a grant names it too.
    #[serde(default)]
    pub secrets: BTreeMap<String, SecretRule>,
    /// Which runs `wflow gc` must keep: a floor under whatever rule gc is given, and the rule
    /// when it is given none.
    #[serde(default)]
    pub retention: Option<RetentionRules>,
    /// Where the policy came from, for messages.
    #[serde(skip)]
    pub origin: String,
    /// Policies that narrow this one (a user's own under the organisation's): a flow must pass
    /// each of them too, and gets the smallest of their limits. See [`Policy::narrowed_by`].
    #[serde(skip)]
    pub narrowing: Vec<Policy>,
}

/// The `[retention]` table: which runs `wflow gc` keeps (the same keys as the config file's
/// `[retention]`). Durations are kept as written; `wflow gc` reads them.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RetentionRules {
    /// Keep the newest N runs of each flow.
    pub keep_last: Option<usize>,
    /// Keep runs younger than this (`30d`, `12h`, …).
    pub older_than: Option<String>,
    /// Keep runs carrying any of these tags.
    #[serde(default)]
    pub keep_tagged: Vec<String>,
}

/// Rules for one flow.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowRules {
    /// The digests (as `wflow check` prints them) of the components these grants are for: a
    /// step gets the flow's grants only when the component that runs it is one of these.
    #[serde(default)]
    pub digests: Vec<String>,
    /// Grants added to the global ones for this flow's pinned components.
    #[serde(default)]
    pub grants: Grants,
}

impl FlowRules {
    /// Whether the rules pin the component with digest `component` (hex, any case).
    fn pins(&self, component: Option<&str>) -> bool {
        component.is_some_and(|d| self.digests.iter().any(|p| p.eq_ignore_ascii_case(d)))
    }
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
    /// Most tasks one run may make, all foreach items at every nesting level together; a
    /// foreach whose items would pass it fails its task.
    pub max_tasks_per_run: u64,
    /// Bytes of stdout and of stderr kept per attempt (the rest is dropped with a marker).
    pub max_log_bytes: usize,
    /// Total bytes one task may make the host keep: artifact values, names, codecs, manifest
    /// entries and foreach items.
    pub max_artifact_bytes: u64,
    /// Most artifacts one task may put.
    pub max_artifacts: u64,
    /// Most artifact readers and writers one task may hold open at once.
    pub max_open_artifacts: u32,
    /// Fuel per attempt (a CPU budget, roughly wasm instructions); turning it on meters every step.
    pub fuel: Option<u64>,
    /// Most bytes of wasm stack a task may use.
    pub max_wasm_stack: usize,
    /// Most retries a step may ask for.
    pub max_retries: u32,
    /// Most seconds all attempts of one task may take together, `(retries + 1) × timeout`; when
    /// set, a step's timeout defaults to it divided among the attempts.
    pub max_task_secs: Option<u64>,
    /// Largest component file that may be compiled, in bytes.
    pub max_component_bytes: u64,
    /// CPU seconds compiling one component may take.
    pub max_compile_secs: u64,
    /// Memory (address space) compiling one component may use, MiB.
    pub max_compile_memory_mb: u64,
    /// Guest memory all tasks of one wflow process may be granted at once, MiB (tasks queue
    /// beyond it); none: three quarters of the machine's RAM.
    pub max_host_memory_mb: Option<u64>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_memory_mb: wflow_core::DEFAULT_MEMORY_MB,
            max_timeout_secs: None,
            max_cpu: 64,
            max_foreach_items: 100_000,
            max_tasks_per_run: 1_000_000,
            max_log_bytes: 16 << 20,
            max_artifact_bytes: 64 << 30,
            max_artifacts: wflow_core::DEFAULT_MAX_ARTIFACTS,
            max_open_artifacts: wflow_core::DEFAULT_MAX_OPEN_ARTIFACTS,
            fuel: None,
            max_wasm_stack: 1 << 20,
            max_retries: 10,
            max_task_secs: None,
            max_component_bytes: 128 << 20,
            max_compile_secs: 120,
            max_compile_memory_mb: 2048,
            max_host_memory_mb: None,
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
    /// Secret names (each declared under `[secrets.NAME]`); `*` alone grants every declared one.
    pub secrets: Vec<String>,
}

/// Where one secret's value comes from: exactly one of `env`, `file` or `aws`, read where the
/// task runs (this machine for a local run, the container for AWS Batch and deployed runs).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretRule {
    /// An environment variable of the process running the task.
    pub env: Option<String>,
    /// An absolute path of a file; its whole contents are the value.
    pub file: Option<PathBuf>,
    /// An AWS Secrets Manager secret's name or ARN, fetched with the credentials where the task
    /// runs (a Batch job's role).
    pub aws: Option<String>,
    /// With `aws`: the key to take from a secret whose value is a JSON object.
    pub key: Option<String>,
    /// With `aws`: the region (default: the environment's where the task runs).
    pub region: Option<String>,
    /// With `aws`: the Secrets Manager endpoint URL (tests, private endpoints).
    pub endpoint: Option<String>,
}

impl SecretRule {
    /// The source this rule declares, or why it declares none.
    pub fn source(&self) -> Result<SecretSource, String> {
        let aws_only = self.key.is_some() || self.region.is_some() || self.endpoint.is_some();
        match (&self.env, &self.file, &self.aws) {
            (Some(var), None, None) if !aws_only && !var.is_empty() => {
                Ok(SecretSource::Env { var: var.clone() })
            }
            (None, Some(path), None) if !aws_only && path.is_absolute() => Ok(SecretSource::File {
                path: path.display().to_string(),
            }),
            (None, Some(path), None) if !aws_only => Err(format!(
                "file `{}` must be an absolute path (it is read on the machine running the task)",
                path.display()
            )),
            (None, None, Some(id)) if !id.is_empty() => Ok(SecretSource::Aws {
                id: id.clone(),
                key: self.key.clone(),
                region: self.region.clone(),
                endpoint: self.endpoint.clone(),
            }),
            (None, None, None) => {
                Err("declares no source: give one of `env`, `file` or `aws`".into())
            }
            (_, _, None) if aws_only => {
                Err("`key`, `region` and `endpoint` go only with `aws`".into())
            }
            (Some(_), None, None) | (None, None, Some(_)) => Err("the source is empty".into()),
            _ => Err("declares more than one source: give one of `env`, `file` or `aws`".into()),
        }
    }
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
    /// The policy used when no file is given: for one person on their own machine, running flows
    /// they may not have written. It grants real clocks and random numbers, and read-only mounts
    /// of directories under the project directory; no environment variable, no network, nothing
    /// writable. The ceilings are the default [`Limits`]. (Whatever the policy, the store, the
    /// records, the logs and the caches are never mountable: see [`crate::Target`].)
    pub fn builtin(project_dir: &Path) -> Policy {
        Policy {
            grants: Grants {
                env: vec![],
                dirs: vec![DirRule {
                    path: project_dir.to_path_buf(),
                    writable: false,
                }],
                network: vec![],
                clock: true,
                random: true,
                secrets: vec![],
            },
            origin: "built-in personal policy (no policy file)".into(),
            ..Policy::default()
        }
    }

    /// This policy as a ceiling, narrowed by `other` (a user's own policy under the
    /// organisation's): a flow is refused if either refuses it, and each step gets the smaller
    /// of the two limits. `other` can never grant what this policy does not.
    pub fn narrowed_by(mut self, other: Policy) -> Policy {
        self.narrowing.push(other);
        self
    }

    /// Parses policy TOML; `origin` names it in messages.
    pub fn parse(text: &str, origin: &str) -> Result<Policy, PolicyError> {
        let mut p: Policy = toml::from_str(text).map_err(|e| PolicyError::Invalid {
            origin: origin.into(),
            reason: e.to_string(),
        })?;
        p.origin = origin.to_string();
        for (name, rule) in &p.secrets {
            if let Err(why) = rule.source() {
                return Err(PolicyError::Invalid {
                    origin: origin.into(),
                    reason: format!("[secrets.{name}] {why}"),
                });
            }
        }
        for (flow, rules) in &p.flows {
            let invalid = |reason: String| PolicyError::Invalid {
                origin: origin.into(),
                reason,
            };
            if let Some(bad) = rules
                .digests
                .iter()
                .find(|d| d.parse::<wflow_core::Digest>().is_err())
            {
                return Err(invalid(format!(
                    "[flows.{flow}] digests: `{}` is not a component digest (64 hex digits, as \
                     `wflow check` prints it)",
                    wflow_core::names::shown(bad)
                )));
            }
            if rules.digests.is_empty() && rules.grants != Grants::default() {
                return Err(invalid(format!(
                    "[flows.{flow}] has grants but pins no component: a flow's grants apply only \
                     to the components listed in its `digests` (`wflow check` prints a \
                     component's digest)"
                )));
            }
        }
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

    /// The grants for a step of `flow` run by the component with digest `component` (`None`:
    /// unknown): the global ones, plus the flow's own when its rules pin that digest.
    pub fn grants_for(&self, flow: &str, component: Option<&str>) -> Grants {
        let mut g = self.grants.clone();
        if let Some(rules) = self.flows.get(flow)
            && rules.pins(component)
        {
            let extra = &rules.grants;
            g.env.extend(extra.env.iter().cloned());
            g.dirs.extend(extra.dirs.iter().cloned());
            g.network.extend(extra.network.iter().cloned());
            g.clock |= extra.clock;
            g.random |= extra.random;
            g.secrets.extend(extra.secrets.iter().cloned());
        }
        g
    }

    /// Why `flow`'s own grants were not given to a step run by `component`, if the policy (or
    /// one narrowing it) has rules for `flow` that do not pin it: what to tell the user, naming
    /// the digest to pin.
    pub fn unpinned_note(&self, flow: &str, component: Option<&str>) -> Option<String> {
        std::iter::once(self)
            .chain(&self.narrowing)
            .find_map(|p| p.unpinned(flow, component))
    }

    /// [`Policy::unpinned_note`] for this policy alone.
    pub(crate) fn unpinned(&self, flow: &str, component: Option<&str>) -> Option<String> {
        let rules = self.flows.get(flow)?;
        if rules.pins(component) {
            return None;
        }
        Some(match component {
            Some(d) => format!(
                "the policy's grants for flow `{flow}` apply only to the components its \
                 `[flows.{flow}] digests` pins, and this component ({d}) is not one of them; \
                 if you trust it, add \"{d}\" to that list"
            ),
            None => format!(
                "the policy's grants for flow `{flow}` apply only to pinned components, and \
                 this component's digest is unknown here"
            ),
        })
    }
}
