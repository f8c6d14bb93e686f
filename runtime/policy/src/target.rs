//! What a policy is applied to besides the spec ([`Target`]): the project directory, the digest of
//! the component that runs each step (what a flow's own grants are bound to) and the paths no step
//! may reach; and the check a remote worker makes of a sandbox it was handed ([`Policy::admits`]).

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use wflow_core::{Capabilities, DirGrant, FlowSpec, Sandbox, StepSpec, Transition};

use crate::file::Policy;
use crate::violation::{Violation, Violations};

/// Where and what a flow runs, for [`Policy::resolve_for`].
#[derive(Clone, Debug, Default)]
pub struct Target {
    /// The project directory: relative paths of grants and requests are taken from it.
    pub project_dir: PathBuf,
    /// The digest (hex, as `wflow check` prints it) of the component that runs each step, by
    /// step name. A step whose component is not listed gets no flow's own grants.
    pub components: BTreeMap<String, String>,
    /// Paths no step may mount, nor any directory holding them, whatever the policy: the store,
    /// the records, the live logs, the compiled-code and build caches, the configuration and
    /// policy files, the flow's own component files. Each with what it is, for messages.
    pub protected: Vec<(PathBuf, String)>,
}

impl Target {
    /// A target in `project_dir`, with no component digests and no protected paths.
    pub fn new(project_dir: &Path) -> Target {
        Target {
            project_dir: project_dir.to_path_buf(),
            ..Target::default()
        }
    }

    /// Every step of `spec` run by the component with digest `digest`.
    pub fn with_component(mut self, spec: &FlowSpec, digest: &str) -> Target {
        for s in &spec.steps {
            self.components.insert(s.name.clone(), digest.to_string());
        }
        self
    }

    /// Adds a path no step may reach; `what` names it in messages (`the store`).
    pub fn protect(mut self, path: &Path, what: &str) -> Target {
        self.protected.push((path.to_path_buf(), what.to_string()));
        self
    }

    /// The protected paths, absolute and with symbolic links resolved as far as they exist.
    pub(crate) fn protected_paths(&self) -> Vec<(PathBuf, String)> {
        self.protected
            .iter()
            .map(|(p, what)| (resolved(&self.project_dir.join(p)), what.clone()))
            .collect()
    }
}

/// `path` with symbolic links resolved: its longest existing ancestor canonicalised, the rest
/// (which does not exist yet, like a store not created yet) appended with `.` and `..` applied.
fn resolved(path: &Path) -> PathBuf {
    let mut existing = path.to_path_buf();
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = existing.canonicalize() {
            let mut out = real;
            for part in rest.iter().rev() {
                match Path::new(part)
                    .components()
                    .next()
                    .unwrap_or(Component::CurDir)
                {
                    Component::ParentDir => {
                        out.pop();
                    }
                    Component::CurDir => {}
                    other => out.push(other),
                }
            }
            return out;
        }
        let last = existing
            .components()
            .next_back()
            .map(|c| c.as_os_str().to_owned());
        match (last, existing.parent()) {
            (Some(last), Some(parent)) => {
                rest.push(last);
                existing = parent.to_path_buf();
            }
            _ => return path.to_path_buf(),
        }
    }
}

/// The first protected path that `dir` (canonical) contains or lies in.
pub(crate) fn overlap<'a>(
    dir: &Path,
    protected: &'a [(PathBuf, String)],
) -> Option<&'a (PathBuf, String)> {
    protected
        .iter()
        .find(|(p, _)| dir.starts_with(p) || p.starts_with(dir))
}

impl Policy {
    /// Whether this policy allows `sandbox` for step `step` of flow `flow`, run by the component
    /// with digest `component`: what a worker checks before running a task whose description
    /// (written by whoever could write to the store) carries its sandbox. The sandbox's grants
    /// must be ones the policy gives this component, its limits no larger than the policy's, and
    /// no mount may reach `target`'s protected paths.
    pub fn admits(
        &self,
        flow: &str,
        step: &str,
        component: &str,
        sandbox: &Sandbox,
        target: &Target,
    ) -> Result<(), Violations> {
        let request = StepSpec {
            memory_mb: Some(
                u32::try_from(sandbox.memory_bytes.div_ceil(1 << 20)).unwrap_or(u32::MAX),
            ),
            timeout_secs: sandbox.timeout.map(|t| {
                u32::try_from(t.as_secs() + u64::from(t.subsec_nanos() > 0)).unwrap_or(u32::MAX)
            }),
            capabilities: Capabilities {
                env: sandbox.env.iter().map(|(k, _)| k.clone()).collect(),
                dirs: sandbox
                    .dirs
                    .iter()
                    .map(|d| DirGrant {
                        host_path: d.host_path.clone(),
                        guest_path: d.guest_path.clone(),
                        writable: d.writable,
                    })
                    .collect(),
                network: sandbox.network.clone(),
                clock: sandbox.clock,
                random: sandbox.random,
                secrets: sandbox.secrets.iter().map(|s| s.name.clone()).collect(),
            },
            ..StepSpec::new(step, Transition::End)
        };
        let spec = FlowSpec {
            name: flow.to_string(),
            doc: String::new(),
            parameters: vec![],
            steps: vec![request],
        };
        let mut target = target.clone();
        target.components = BTreeMap::from([(step.to_string(), component.to_string())]);
        let allowed = self.resolve_for(&spec, &target)?;
        let allowed = &allowed[step];
        let mut list = Vec::new();
        let mut above = |what: &str, asked: String, max: String| {
            list.push(Violation {
                step: step.to_string(),
                message: format!("{what} {asked} is above the policy's ceiling of {max}"),
            })
        };
        match (sandbox.timeout, allowed.timeout) {
            (None, Some(max)) => above("timeout", "none".into(), format!("{max:?}")),
            (Some(t), Some(max)) if t > max => {
                above("timeout", format!("{t:?}"), format!("{max:?}"))
            }
            _ => {}
        }
        match (sandbox.fuel, allowed.fuel) {
            (None, Some(max)) => above("fuel", "unlimited".into(), max.to_string()),
            (Some(f), Some(max)) if f > max => above("fuel", f.to_string(), max.to_string()),
            _ => {}
        }
        for (what, asked, max) in [
            (
                "max_log_bytes",
                sandbox.max_log_bytes as u64,
                allowed.max_log_bytes as u64,
            ),
            (
                "max_artifact_bytes",
                sandbox.max_artifact_bytes,
                allowed.max_artifact_bytes,
            ),
            (
                "max_foreach_items",
                u64::from(sandbox.max_foreach_items),
                u64::from(allowed.max_foreach_items),
            ),
            (
                "max_artifacts",
                sandbox.max_artifacts,
                allowed.max_artifacts,
            ),
            (
                "max_open_artifacts",
                u64::from(sandbox.max_open_artifacts),
                u64::from(allowed.max_open_artifacts),
            ),
        ] {
            if asked > max {
                above(what, asked.to_string(), max.to_string());
            }
        }
        // A source is read where the task runs: only this policy's own declaration counts.
        for (asked, own) in sandbox.secrets.iter().zip(&allowed.secrets) {
            if asked != own {
                list.push(Violation {
                    step: step.to_string(),
                    message: format!(
                        "secret `{}` is to be read from {}, but this policy declares {}",
                        wflow_core::names::shown(&asked.name),
                        asked.source,
                        own.source
                    ),
                });
            }
        }
        if list.is_empty() {
            Ok(())
        } else {
            Err(Violations {
                origin: self.origin.clone(),
                list,
                notes: vec![],
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protected_paths_that_do_not_exist_yet_resolve_through_their_parents() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().canonicalize().unwrap();
        std::os::unix::fs::symlink(&real, real.join("link")).unwrap();
        assert_eq!(
            resolved(&real.join("link/.wflow/x/../y")),
            real.join(".wflow/y")
        );
        let protected = vec![(real.join(".wflow"), "the store".to_string())];
        assert!(overlap(&real, &protected).is_some(), "a parent overlaps");
        assert!(
            overlap(&real.join(".wflow/blobs"), &protected).is_some(),
            "a child too"
        );
        assert!(
            overlap(&real.join(".wflow-data"), &protected).is_none(),
            "a sibling does not"
        );
    }
}
