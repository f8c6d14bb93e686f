//! One step under one policy: its limits against the ceilings, each capability it asks for against
//! the grants, and the sandbox it gets.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use wflow_core::{DirGrant, Sandbox, SecretGrant, SecretSource, StepSpec};

use crate::file::{Grants, Policy};
use crate::target::{Target, overlap};

impl Policy {
    /// One step's sandbox under this policy alone; every refusal goes to `v`.
    pub(crate) fn step_sandbox(
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
