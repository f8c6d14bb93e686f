//! Checking a flow's spec against the policy, step by step, and resolving each step's sandbox.
//! One step's checks are in `step.rs`; the violations in `violation.rs`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use wflow_core::{FlowSpec, Sandbox, SecretSource};

use crate::file::{Limits, Policy};
use crate::target::Target;
use crate::violation::{Violation, Violations};

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

#[cfg(test)]
mod tests;
