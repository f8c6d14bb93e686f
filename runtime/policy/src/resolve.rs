//! Checking a flow's spec against the policy, step by step, and resolving each step's sandbox.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use wflow_core::{DirGrant, FlowSpec, Sandbox, StepSpec};

use crate::file::{Grants, Policy};

/// One thing a step asks for that the policy does not allow.
#[derive(Clone, Debug, PartialEq, Eq)]
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
    /// Where the policy came from.
    pub origin: String,
    /// The violations, in step order.
    pub list: Vec<Violation>,
}

impl fmt::Display for Violations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the flow asks for more than the policy allows ({}):",
            self.origin
        )?;
        for v in &self.list {
            write!(f, "\n  {v}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Violations {}

impl Policy {
    /// Checks every step of `spec` and returns each step's sandbox, or every violation.
    /// Relative directory paths in grants and rules are taken from `project_dir`.
    pub fn resolve(
        &self,
        spec: &FlowSpec,
        project_dir: &Path,
    ) -> Result<BTreeMap<String, Sandbox>, Violations> {
        let grants = self.grants_for(&spec.name);
        let mut out = BTreeMap::new();
        let mut list = Vec::new();
        for step in &spec.steps {
            let mut v = |message: String| {
                list.push(Violation {
                    step: step.name.clone(),
                    message,
                })
            };
            out.insert(
                step.name.clone(),
                self.step_sandbox(step, &grants, project_dir, &mut v),
            );
        }
        if list.is_empty() {
            Ok(out)
        } else {
            Err(Violations {
                origin: self.origin.clone(),
                list,
            })
        }
    }

    /// Whether the engine must meter fuel.
    pub fn needs_fuel(&self) -> bool {
        self.limits.fuel.is_some()
    }

    fn step_sandbox(
        &self,
        step: &StepSpec,
        grants: &Grants,
        project_dir: &Path,
        v: &mut impl FnMut(String),
    ) -> Sandbox {
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
        let timeout = step
            .timeout_secs
            .map(u64::from)
            .or(self.defaults.timeout_secs)
            .or(l.max_timeout_secs);
        if let (Some(t), Some(max)) = (timeout, l.max_timeout_secs)
            && t > max
        {
            v(format!(
                "timeout {t} s is above the policy's ceiling of {max} s"
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
        Sandbox {
            // Saturating: a policy may give any number of MiB, and a shift would wrap.
            memory_bytes: memory_mb.saturating_mul(1 << 20),
            timeout: timeout.map(Duration::from_secs),
            fuel: l.fuel,
            max_log_bytes: l.max_log_bytes,
            max_artifact_bytes: l.max_artifact_bytes,
            max_foreach_items: l.max_foreach_items,
            env,
            dirs,
            network: caps.network.clone(),
            clock: caps.clock,
            random: caps.random,
        }
    }
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
        let sb = p
            .resolve(&flow(vec![step_with(caps.clone())]), Path::new("/"))
            .unwrap();
        assert!(sb["fetch"].clock);
        let mut other = flow(vec![step_with(caps)]);
        other.name = "G".into();
        let err = p.resolve(&other, Path::new("/")).unwrap_err();
        assert_eq!(err.list.len(), 2, "flow G lacks F's extra grants: {err}");
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
    fn unknown_keys_are_errors_with_their_place() {
        let err = Policy::parse("[limits]\nmax_memroy_mb = 5\n", "policy.toml").unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("policy.toml") && text.contains("max_memroy_mb"),
            "{text}"
        );
    }
}
