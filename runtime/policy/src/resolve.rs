//! Checking a flow's spec against the policy, step by step, and resolving each step's sandbox.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use wflow_core::{DirGrant, FlowSpec, Sandbox, SecretGrant, SecretSource, StepSpec};

use crate::file::{Grants, Limits, Policy};
use crate::target::{Target, overlap};

/// One thing a step asks for that the policy does not allow.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Violation {
    /// The step.
    pub step: String,
    /// What it asked for and why it is refused.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "step `{}`: {}", self.step, self.message)
    }
}

/// Every violation of a flow, and the policy they are against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violations {
    /// Where the policy came from (several origins when a policy is narrowed by another).
    pub origin: String,
    /// The violations, in step order.
    pub list: Vec<Violation>,
    /// What the user can do about them, when the policy knows (for example which digest to pin).
    pub notes: Vec<String>,
}

/// Most violations printed; the rest are counted.
const SHOWN_VIOLATIONS: usize = 50;

impl fmt::Display for Violations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the flow asks for more than the policy allows ({}):",
            self.origin
        )?;
        for v in self.list.iter().take(SHOWN_VIOLATIONS) {
            write!(f, "\n  {v}")?;
        }
        if self.list.len() > SHOWN_VIOLATIONS {
            write!(f, "\n  … and {} more", self.list.len() - SHOWN_VIOLATIONS)?;
        }
        for note in &self.notes {
            write!(f, "\n  note: {note}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Violations {}

impl Policy {
    /// Checks every step of `spec` and returns each step's sandbox, or every violation.
    /// Relative directory paths in grants and rules are taken from `project_dir`. No component
    /// digest is known, so no flow's own grants apply (see [`Policy::resolve_for`]).
    pub fn resolve(
        &self,
        spec: &FlowSpec,
        project_dir: &Path,
    ) -> Result<BTreeMap<String, Sandbox>, Violations> {
        self.resolve_for(spec, &Target::new(project_dir))
    }

    /// Checks every step of `spec` as `target` describes it (project directory, the digest of
    /// the component that runs each step, the paths no step may reach) under this policy and
    /// every policy narrowing it, and returns each step's sandbox (the smallest limits of all),
    /// or every violation.
    pub fn resolve_for(
        &self,
        spec: &FlowSpec,
        target: &Target,
    ) -> Result<BTreeMap<String, Sandbox>, Violations> {
        let protected = target.protected_paths();
        let mut sandboxes = BTreeMap::new();
        let mut all = Violations {
            origin: String::new(),
            list: Vec::new(),
            notes: Vec::new(),
        };
        let mut seen = std::collections::HashSet::new();
        // Each secret's source: the outermost policy's declaration wins.
        let mut sources = BTreeMap::new();
        for layer in std::iter::once(self).chain(&self.narrowing) {
            for (name, rule) in &layer.secrets {
                if let Ok(source) = rule.source() {
                    sources.entry(name.clone()).or_insert(source);
                }
            }
        }
        for layer in std::iter::once(self).chain(&self.narrowing) {
            let (out, list, notes) = layer.resolve_layer(spec, target, &protected, &sources);
            if !list.is_empty() {
                if !all.origin.is_empty() {
                    all.origin.push_str(", and ");
                }
                all.origin.push_str(&layer.origin);
            }
            for v in list {
                if seen.insert(v.clone()) {
                    all.list.push(v);
                }
            }
            for n in notes {
                if !all.notes.contains(&n) {
                    all.notes.push(n);
                }
            }
            for (step, sb) in out {
                match sandboxes.get_mut(&step) {
                    None => {
                        sandboxes.insert(step, sb);
                    }
                    Some(narrowest) => narrow(narrowest, &sb),
                }
            }
        }
        if all.list.is_empty() {
            Ok(sandboxes)
        } else {
            Err(all)
        }
    }

    /// One policy (not those narrowing it): the sandboxes, the violations and the notes.
    fn resolve_layer(
        &self,
        spec: &FlowSpec,
        target: &Target,
        protected: &[(PathBuf, String)],
        sources: &BTreeMap<String, SecretSource>,
    ) -> (BTreeMap<String, Sandbox>, Vec<Violation>, Vec<String>) {
        let mut out = BTreeMap::new();
        let mut list = Vec::new();
        let mut notes = Vec::new();
        for step in &spec.steps {
            let component = target.components.get(&step.name).map(String::as_str);
            let grants = self.grants_for(&spec.name, component);
            let before = list.len();
            let mut v = |message: String| {
                list.push(Violation {
                    step: step.name.clone(),
                    message,
                })
            };
            let sb = self.step_sandbox(step, &grants, target, protected, sources, &mut v);
            if list.len() > before
                && let Some(note) = self.unpinned(&spec.name, component)
                && !notes.contains(&note)
            {
                notes.push(note);
            }
            out.insert(step.name.clone(), sb);
        }
        (out, list, notes)
    }

    /// Whether the engine must meter fuel (this policy or one narrowing it sets `fuel`).
    pub fn needs_fuel(&self) -> bool {
        self.limits.fuel.is_some() || self.narrowing.iter().any(Policy::needs_fuel)
    }

    /// A limit of this policy and those narrowing it: the smallest.
    pub fn narrowest<T: Ord + Copy>(&self, limit: impl Fn(&Limits) -> T + Copy) -> T {
        self.narrowing
            .iter()
            .map(|p| p.narrowest(limit))
            .fold(limit(&self.limits), T::min)
    }

    /// The wasm stack limit: the smallest of this policy's and those narrowing it.
    pub fn max_wasm_stack(&self) -> usize {
        self.narrowing
            .iter()
            .map(Policy::max_wasm_stack)
            .fold(self.limits.max_wasm_stack, usize::min)
    }

    fn step_sandbox(
        &self,
        step: &StepSpec,
        grants: &Grants,
        target: &Target,
        protected: &[(PathBuf, String)],
        sources: &BTreeMap<String, SecretSource>,
        v: &mut impl FnMut(String),
    ) -> Sandbox {
        let project_dir = target.project_dir.as_path();
        let l = &self.limits;
        let memory_mb = step
            .memory_mb
            .map(u64::from)
            .unwrap_or(self.defaults.memory_mb.min(l.max_memory_mb));
        if memory_mb > l.max_memory_mb {
            v(format!(
                "memory {memory_mb} MiB is above the policy's ceiling of {} MiB",
                l.max_memory_mb
            ));
        }
        if step.retries > l.max_retries {
            v(format!(
                "retries {} is above the policy's ceiling of {}",
                step.retries, l.max_retries
            ));
        }
        let attempts = u64::from(step.retries.min(l.max_retries)) + 1;
        let timeout = step
            .timeout_secs
            .map(u64::from)
            .or(self.defaults.timeout_secs)
            .or(l.max_timeout_secs)
            .or(l.max_task_secs.map(|total| (total / attempts).max(1)));
        if let (Some(t), Some(max)) = (timeout, l.max_timeout_secs)
            && t > max
        {
            v(format!(
                "timeout {t} s is above the policy's ceiling of {max} s"
            ));
        }
        if let (Some(t), Some(max)) = (timeout, l.max_task_secs)
            && t.saturating_mul(attempts) > max
        {
            v(format!(
                "{attempts} attempt(s) of {t} s each can take longer than the policy's ceiling \
                 of {max} s per task (`max_task_secs`); lower `retries` or `timeout`"
            ));
        }
        if let Some(cpu) = step.cpu
            && cpu > l.max_cpu
        {
            v(format!(
                "cpu {cpu} is above the policy's ceiling of {}",
                l.max_cpu
            ));
        }
        let caps = &step.capabilities;
        let mut env = Vec::new();
        for name in &caps.env {
            if !grants.env.iter().any(|p| wildcard(p, name)) {
                v(format!(
                    "environment variable `{name}` is not allowed by the policy (allowed: {})",
                    list(&grants.env)
                ));
            } else if let Ok(value) = std::env::var(name) {
                env.push((name.clone(), value));
            }
        }
        let mut dirs = Vec::new();
        for d in &caps.dirs {
            let host = absolute(project_dir, Path::new(&d.host_path));
            let Ok(real) = host.canonicalize() else {
                v(format!(
                    "directory `{}` does not exist on this machine",
                    d.host_path
                ));
                continue;
            };
            if let Some((path, what)) = overlap(&real, protected) {
                v(format!(
                    "directory `{}` ({}) overlaps {what} ({}): no step may reach the store, the \
                     records, the logs, the caches or the files wflow trusts, nor a directory \
                     holding them; mount a folder beside them instead",
                    d.host_path,
                    real.display(),
                    path.display()
                ));
                continue;
            }
            let allowed = grants.dirs.iter().any(|r| {
                absolute(project_dir, &r.path)
                    .canonicalize()
                    .is_ok_and(|root| real.starts_with(root) && (r.writable || !d.writable))
            });
            if allowed {
                dirs.push(DirGrant {
                    host_path: real.display().to_string(),
                    ..d.clone()
                });
            } else {
                let mode = if d.writable {
                    "read-write"
                } else {
                    "read-only"
                };
                let allowed: Vec<String> = grants
                    .dirs
                    .iter()
                    .map(|r| {
                        format!(
                            "{}{}",
                            r.path.display(),
                            if r.writable { " (rw)" } else { " (ro)" }
                        )
                    })
                    .collect();
                v(format!(
                    "directory `{}` ({mode}) is not allowed by the policy (allowed: {})",
                    d.host_path,
                    list(&allowed)
                ));
            }
        }
        for dest in &caps.network {
            if !dest.contains(':') {
                v(format!("network destination `{dest}` must be `host:port`"));
            } else if !grants.network.iter().any(|p| network_match(p, dest)) {
                v(format!(
                    "network destination `{dest}` is not allowed by the policy (allowed: {})",
                    list(&grants.network)
                ));
            }
        }
        if caps.clock && !grants.clock {
            v("the wall clock is not allowed by the policy".into());
        }
        if caps.random && !grants.random {
            v("random numbers are not allowed by the policy".into());
        }
        let mut secrets = Vec::new();
        for name in &caps.secrets {
            let shown = wflow_core::names::shown(name);
            if !grants.secrets.iter().any(|p| p == "*" || p == name) {
                v(format!(
                    "secret `{shown}` is not allowed by the policy (allowed: {})",
                    list(&grants.secrets)
                ));
            } else if let Some(source) = sources.get(name) {
                secrets.push(SecretGrant {
                    name: name.clone(),
                    source: source.clone(),
                });
            } else {
                v(format!(
                    "secret `{shown}` has no source in the policy: declare where its value comes \
                     from under `[secrets.{shown}]` (`env`, `file` or `aws`)"
                ));
            }
        }
        Sandbox {
            // Saturating: a policy may give any number of MiB, and a shift would wrap.
            memory_bytes: memory_mb.saturating_mul(1 << 20),
            timeout: timeout.map(Duration::from_secs),
            fuel: l.fuel,
            max_log_bytes: l.max_log_bytes,
            max_artifact_bytes: l.max_artifact_bytes,
            max_foreach_items: l.max_foreach_items,
            max_artifacts: l.max_artifacts,
            max_open_artifacts: l.max_open_artifacts,
            env,
            dirs,
            network: caps.network.clone(),
            clock: caps.clock,
            random: caps.random,
            secrets,
        }
    }
}

/// Lowers `a`'s limits to `b`'s where `b`'s are smaller (the grants are the step's request, the
/// same in both).
fn narrow(a: &mut Sandbox, b: &Sandbox) {
    fn min_some<T: Ord + Copy>(x: Option<T>, y: Option<T>) -> Option<T> {
        match (x, y) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        }
    }
    a.memory_bytes = a.memory_bytes.min(b.memory_bytes);
    a.timeout = min_some(a.timeout, b.timeout);
    a.fuel = min_some(a.fuel, b.fuel);
    a.max_log_bytes = a.max_log_bytes.min(b.max_log_bytes);
    a.max_artifact_bytes = a.max_artifact_bytes.min(b.max_artifact_bytes);
    a.max_foreach_items = a.max_foreach_items.min(b.max_foreach_items);
    a.max_artifacts = a.max_artifacts.min(b.max_artifacts);
    a.max_open_artifacts = a.max_open_artifacts.min(b.max_open_artifacts);
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

fn absolute(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// `*` alone matches anything; a trailing `*` a prefix; a leading `*` a suffix; else equality.
fn wildcard(pattern: &str, value: &str) -> bool {
    if pattern == "*" {
        true
    } else if let Some(prefix) = pattern.strip_suffix('*') {
        value.starts_with(prefix)
    } else if let Some(suffix) = pattern.strip_prefix('*') {
        value.ends_with(suffix)
    } else {
        pattern == value
    }
}

fn network_match(pattern: &str, dest: &str) -> bool {
    let (Some((ph, pp)), Some((dh, dp))) = (pattern.rsplit_once(':'), dest.rsplit_once(':')) else {
        return false;
    };
    (pp == "*" || pp == dp) && wildcard(ph, dh)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wflow_core::{Capabilities, Transition};

    fn flow(steps: Vec<StepSpec>) -> FlowSpec {
        FlowSpec {
            name: "F".into(),
            doc: String::new(),
            parameters: vec![],
            steps,
        }
    }

    fn step_with(caps: Capabilities) -> StepSpec {
        let mut s = StepSpec::new("fetch", Transition::End);
        s.capabilities = caps;
        s
    }

    #[test]
    fn empty_policy_denies_every_capability_and_names_each() {
        let p = Policy::parse("", "test").unwrap();
        let caps = Capabilities {
            env: vec!["HOME".into()],
            network: vec!["example.com:443".into()],
            clock: true,
            random: true,
            ..Default::default()
        };
        let err = p
            .resolve(&flow(vec![step_with(caps)]), Path::new("/"))
            .unwrap_err();
        let text = err.to_string();
        assert_eq!(err.list.len(), 4, "{text}");
        assert!(
            text.contains("step `fetch`: environment variable `HOME` is not allowed"),
            "{text}"
        );
        assert!(
            text.contains("network destination `example.com:443`"),
            "{text}"
        );
        assert!(
            text.contains("wall clock") && text.contains("random numbers"),
            "{text}"
        );
    }

    #[test]
    fn huge_memory_saturates_instead_of_wrapping() {
        // Found by the policy fuzzer: 18446744073709 MiB << 20 wrapped to a few MiB.
        let p = Policy::parse(
            "[defaults]\nmemory_mb = 18446744073709\n[limits]\nmax_memory_mb = 18446744073709551615\n",
            "test",
        )
        .unwrap();
        let sb = p
            .resolve(
                &flow(vec![step_with(Capabilities::default())]),
                Path::new("/"),
            )
            .unwrap();
        assert_eq!(sb["fetch"].memory_bytes, u64::MAX);
    }

    #[test]
    fn grants_per_flow_and_wildcards() {
        let p = Policy::parse(
            r#"
            [grants]
            env = ["AWS_*"]
            network = ["*.example.com:443"]
            [flows.F]
            digests = ["aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"]
            [flows.F.grants]
            network = ["db.internal:*"]
            clock = true
            "#,
            "test",
        )
        .unwrap();
        let caps = Capabilities {
            env: vec!["AWS_REGION".into()],
            network: vec!["api.example.com:443".into(), "db.internal:5432".into()],
            clock: true,
            ..Default::default()
        };
        let f = flow(vec![step_with(caps.clone())]);
        let pinned = Target::new(Path::new("/")).with_component(&f, &"A".repeat(64));
        let sb = p.resolve_for(&f, &pinned).unwrap();
        assert!(sb["fetch"].clock);
        let mut other = flow(vec![step_with(caps)]);
        other.name = "G".into();
        let err = p.resolve_for(&other, &pinned).unwrap_err();
        assert_eq!(err.list.len(), 2, "flow G lacks F's extra grants: {err}");
    }

    #[test]
    fn a_flow_taking_another_flows_name_gets_only_the_global_grants() {
        // Issue 20, item 1: grants were looked up by the name the guest's spec() returns.
        let p = Policy::parse(
            &format!(
                "[flows.F]\ndigests = [\"{}\"]\n[flows.F.grants]\nenv = [\"SECRET\"]\n",
                "a".repeat(64)
            ),
            "test",
        )
        .unwrap();
        let caps = Capabilities {
            env: vec!["SECRET".into()],
            ..Default::default()
        };
        let impostor = flow(vec![step_with(caps)]);
        for target in [
            Target::new(Path::new("/")),
            Target::new(Path::new("/")).with_component(&impostor, &"b".repeat(64)),
        ] {
            let err = p.resolve_for(&impostor, &target).unwrap_err();
            let text = err.to_string();
            assert!(
                text.contains("environment variable `SECRET` is not allowed"),
                "{text}"
            );
            assert!(
                text.contains("note: the policy's grants for flow `F` apply only"),
                "{text}"
            );
        }
        let target = Target::new(Path::new("/")).with_component(&impostor, &"b".repeat(64));
        let text = p.resolve_for(&impostor, &target).unwrap_err().to_string();
        assert!(
            text.contains(&format!("add \"{}\" to that list", "b".repeat(64))),
            "names the digest to pin: {text}"
        );
        // Per step: in a polyglot flow only the steps of the pinned component get the grants.
        let mut two = impostor.clone();
        two.steps.push(StepSpec {
            name: "other".into(),
            ..two.steps[0].clone()
        });
        let mut target = Target::new(Path::new("/")).with_component(&two, &"a".repeat(64));
        target.components.insert("other".into(), "c".repeat(64));
        let err = p.resolve_for(&two, &target).unwrap_err();
        assert_eq!(err.list.len(), 1, "{err}");
        assert_eq!(err.list[0].step, "other");
    }

    #[test]
    fn a_users_policy_only_narrows_the_organisations() {
        // Issue 20, item 7: `--policy permissive.toml` used to replace the administrator's.
        let org = Policy::parse("[limits]\nmax_memory_mb = 512\nmax_retries = 2\n", "org").unwrap();
        let user = Policy::parse(
            "[defaults]\nmemory_mb = 256\n[limits]\nmax_memory_mb = 65536\nmax_retries = 100\n[grants]\nnetwork = [\"*:*\"]\nenv = [\"*\"]\n",
            "user",
        )
        .unwrap();
        let p = org.narrowed_by(user);
        let mut asks = step_with(Capabilities {
            network: vec!["example.com:443".into()],
            ..Default::default()
        });
        asks.memory_mb = Some(1024);
        asks.retries = 5;
        let err = p.resolve(&flow(vec![asks]), Path::new("/")).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("(org)"), "{text}");
        assert!(
            text.contains("network destination `example.com:443` is not allowed"),
            "{text}"
        );
        assert!(
            text.contains("memory 1024 MiB is above the policy's ceiling of 512 MiB"),
            "{text}"
        );
        assert!(
            text.contains("retries 5 is above the policy's ceiling of 2"),
            "{text}"
        );
        let sb = p
            .resolve(
                &flow(vec![step_with(Capabilities::default())]),
                Path::new("/"),
            )
            .unwrap();
        assert_eq!(
            sb["fetch"].memory_bytes,
            256 << 20,
            "the user's smaller default"
        );
        // The other way round: a user may narrow.
        let narrow = Policy::parse("[limits]\nmax_memory_mb = 128\n", "user").unwrap();
        let p = Policy::default().narrowed_by(narrow);
        let mut big = step_with(Capabilities::default());
        big.memory_mb = Some(1024);
        assert!(p.resolve(&flow(vec![big]), Path::new("/")).is_err());
    }

    #[test]
    fn retries_and_total_task_time_have_ceilings() {
        let mut s = step_with(Capabilities::default());
        s.retries = u32::MAX;
        let err = Policy::default()
            .resolve(&flow(vec![s]), Path::new("/"))
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("retries 4294967295 is above the policy's ceiling of 10"),
            "{err}"
        );
        let p = Policy::parse("[limits]\nmax_task_secs = 600\n", "test").unwrap();
        let mut s = step_with(Capabilities::default());
        s.retries = 3;
        let sb = p.resolve(&flow(vec![s.clone()]), Path::new("/")).unwrap();
        assert_eq!(
            sb["fetch"].timeout,
            Some(Duration::from_secs(150)),
            "600 s over 4 attempts"
        );
        s.timeout_secs = Some(300);
        let err = p.resolve(&flow(vec![s]), Path::new("/")).unwrap_err();
        assert!(err.to_string().contains("4 attempt(s) of 300 s"), "{err}");
    }

    #[test]
    fn the_store_records_logs_and_caches_are_never_mountable() {
        // Issue 20, item 2: the personal policy granted the project directory, `.wflow` included.
        let root = tempfile::tempdir().unwrap();
        let root = root.path();
        for d in ["data", ".wflow/blobs", "cache"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::os::unix::fs::symlink(root.join(".wflow"), root.join("data/store-link")).unwrap();
        let p = Policy::parse(
            &format!(
                "[grants]\ndirs = [{{ path = \"{}\", writable = true }}]\n",
                root.display()
            ),
            "test",
        )
        .unwrap();
        let target = Target::new(root)
            .protect(Path::new(".wflow"), "the store")
            .protect(Path::new("cache"), "the compiled-code cache")
            .protect(Path::new("not-yet/cache"), "the build cache");
        let mount = |path: &str| Capabilities {
            dirs: vec![DirGrant {
                host_path: path.into(),
                guest_path: "/x".into(),
                writable: false,
            }],
            ..Default::default()
        };
        for (path, what) in [
            (".", "the store"),
            (".wflow", "the store"),
            (".wflow/blobs", "the store"),
            ("data/store-link", "the store"),
            ("data/../cache", "the compiled-code cache"),
        ] {
            let err = p
                .resolve_for(&flow(vec![step_with(mount(path))]), &target)
                .unwrap_err();
            let text = err.to_string();
            assert!(
                text.contains(&format!("directory `{path}`"))
                    && text.contains(&format!("overlaps {what}")),
                "{path}: {text}"
            );
        }
        p.resolve_for(&flow(vec![step_with(mount("data"))]), &target)
            .expect("a folder beside them is fine");
        std::fs::create_dir_all(root.join("not-yet")).unwrap();
        assert!(
            p.resolve_for(&flow(vec![step_with(mount("not-yet"))]), &target)
                .is_err(),
            "a parent of a path that does not exist yet overlaps too"
        );
    }

    #[test]
    fn the_builtin_policy_grants_little() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("out")).unwrap();
        let p = Policy::builtin(root.path());
        let caps = Capabilities {
            env: vec!["HOME".into()],
            dirs: vec![DirGrant {
                host_path: "out".into(),
                guest_path: "/out".into(),
                writable: true,
            }],
            network: vec!["127.0.0.1:80".into()],
            clock: true,
            random: true,
            secrets: vec!["db_password".into()],
        };
        let err = p
            .resolve(&flow(vec![step_with(caps)]), root.path())
            .unwrap_err();
        assert_eq!(
            err.list.len(),
            4,
            "env, the writable mount, the network and the secret: {err}"
        );
        assert!(err.to_string().contains("secret `db_password`"), "{err}");
    }

    #[test]
    fn a_worker_admits_only_sandboxes_its_policy_allows() {
        let p = Policy::parse(
            "[limits]\nmax_memory_mb = 512\nmax_timeout_secs = 60\n[grants]\nclock = true\n",
            "worker",
        )
        .unwrap();
        let fine = p
            .resolve(
                &flow(vec![step_with(Capabilities {
                    clock: true,
                    ..Default::default()
                })]),
                Path::new("/"),
            )
            .unwrap()
            .remove("fetch")
            .unwrap();
        let target = Target::new(Path::new("/"));
        p.admits("F", "fetch", "aa", &fine, &target).unwrap();
        let forged = [
            Sandbox {
                network: vec!["10.0.0.1:22".into()],
                ..fine.clone()
            },
            Sandbox {
                env: vec![("HOME".into(), "/root".into())],
                ..fine.clone()
            },
            Sandbox {
                memory_bytes: 4 << 30,
                ..fine.clone()
            },
            Sandbox {
                timeout: None,
                ..fine.clone()
            },
            Sandbox {
                max_log_bytes: usize::MAX,
                ..fine.clone()
            },
            Sandbox {
                random: true,
                ..fine.clone()
            },
            Sandbox {
                dirs: vec![DirGrant {
                    host_path: "/".into(),
                    guest_path: "/".into(),
                    writable: true,
                }],
                ..fine.clone()
            },
        ];
        for sb in forged {
            let err = p.admits("F", "fetch", "aa", &sb, &target).unwrap_err();
            assert!(err.to_string().contains("step `fetch`: "), "{err}");
        }
    }

    #[test]
    fn ceilings_and_defaults() {
        let p = Policy::parse(
            "[defaults]\nmemory_mb = 256\n[limits]\nmax_memory_mb = 512\nmax_timeout_secs = 60\nmax_cpu = 2\n",
            "test",
        )
        .unwrap();
        let mut big = StepSpec::new("big", Transition::End);
        big.memory_mb = Some(1024);
        big.timeout_secs = Some(120);
        big.cpu = Some(4);
        let err = p.resolve(&flow(vec![big]), Path::new("/")).unwrap_err();
        assert_eq!(err.list.len(), 3, "{err}");
        let sb = p
            .resolve(
                &flow(vec![StepSpec::new("small", Transition::End)]),
                Path::new("/"),
            )
            .unwrap();
        assert_eq!(sb["small"].memory_bytes, 256 << 20);
        assert_eq!(
            sb["small"].timeout,
            Some(Duration::from_secs(60)),
            "the ceiling is the default timeout"
        );
    }

    #[test]
    fn directories_must_be_under_a_granted_root_and_exist() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("data")).unwrap();
        let p = Policy::builtin(root.path());
        let ok = Capabilities {
            dirs: vec![DirGrant {
                host_path: "data".into(),
                guest_path: "/data".into(),
                writable: false,
            }],
            ..Default::default()
        };
        let sb = p.resolve(&flow(vec![step_with(ok)]), root.path()).unwrap();
        assert_eq!(sb["fetch"].dirs.len(), 1);
        for (path, needle) in [
            ("/etc", "not allowed"),
            ("missing", "does not exist"),
            ("data/../..", "not allowed"),
        ] {
            let bad = Capabilities {
                dirs: vec![DirGrant {
                    host_path: path.into(),
                    guest_path: "/x".into(),
                    writable: false,
                }],
                ..Default::default()
            };
            let err = p
                .resolve(&flow(vec![step_with(bad)]), root.path())
                .unwrap_err();
            assert!(err.to_string().contains(needle), "{path}: {err}");
        }
    }

    #[test]
    fn flow_grants_must_pin_well_formed_digests() {
        for (text, needle) in [
            (
                "[flows.F]\ndigests = [\"zz\"]\n",
                "`zz` is not a component digest",
            ),
            (
                "[flows.F.grants]\nclock = true\n",
                "[flows.F] has grants but pins no component",
            ),
        ] {
            let err = Policy::parse(text, "policy.toml").unwrap_err().to_string();
            assert!(err.contains("policy.toml") && err.contains(needle), "{err}");
        }
    }

    #[test]
    fn unknown_keys_are_errors_with_their_place() {
        let err = Policy::parse("[limits]\nmax_memroy_mb = 5\n", "policy.toml").unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("policy.toml") && text.contains("max_memroy_mb"),
            "{text}"
        );
    }
}
