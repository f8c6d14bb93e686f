//! [`Code`]: what a run runs each step with — one component for every step, or, in a polyglot
//! flow, the component of each language — as resume compares it step by step.

use std::collections::BTreeMap;

use wflow_core::Digest;
use wflow_metadata::RunRecord;
use wflow_store::Cas;

/// The code of a run: the digest it records, and the component that runs each step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Code {
    /// What the run records as its code: the component's digest or, for a polyglot flow, the
    /// digest of its record of components.
    pub digest: Digest,
    /// The digest of the component that runs each step.
    pub steps: BTreeMap<String, Digest>,
}

/// A polyglot flow's record of components, as `wflow run` stores it under the run's code digest
/// (only the fields read here).
#[derive(serde::Deserialize)]
struct CodeRecord {
    /// Component name → digest.
    components: BTreeMap<String, Digest>,
    /// Step → component name.
    steps: BTreeMap<String, String>,
}

impl Code {
    /// The code of a flow whose one component, `digest`, runs all of `steps`.
    pub fn single<'a>(digest: Digest, steps: impl IntoIterator<Item = &'a String>) -> Code {
        Code {
            digest,
            steps: steps.into_iter().map(|s| (s.clone(), digest)).collect(),
        }
    }

    /// The code `run` ran with, read from the store: a polyglot flow's record of components
    /// names each step's; otherwise its one component ran `steps`. `known` is code at hand (the
    /// code to resume with): when it is the run's, nothing is read. A record that cannot be read
    /// counts as one component (every step then differs from any other code).
    pub fn of_run<'a>(
        cas: &Cas,
        run: &RunRecord,
        steps: impl IntoIterator<Item = &'a String>,
        known: &Code,
    ) -> Code {
        if run.component == known.digest {
            return known.clone();
        }
        if let Ok(bytes) = cas.get(&run.component)
            && !bytes.starts_with(b"\0asm")
            && let Ok(record) = serde_json::from_slice::<CodeRecord>(&bytes)
        {
            let steps = record
                .steps
                .iter()
                .filter_map(|(step, key)| Some((step.clone(), *record.components.get(key)?)))
                .collect();
            return Code {
                digest: run.component,
                steps,
            };
        }
        Code::single(run.component, steps)
    }

    /// The component that runs `step` (`None`: the step is not in this code).
    pub fn of_step(&self, step: &str) -> Option<Digest> {
        self.steps.get(step).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_polyglot_record_names_each_steps_component() {
        let dir = tempfile::tempdir().unwrap();
        let cas = Cas::new(Arc::new(wflow_store::LocalDisk::open(dir.path()).unwrap()));
        let (rust, python) = (Digest::of(b"rust"), Digest::of(b"python"));
        let record = serde_json::json!({
            "flow": "P",
            "components": { "rust": rust.to_string(), "python": python.to_string() },
            "steps": { "start": "rust", "square": "python", "end": "rust" },
        });
        let digest = cas
            .put(&serde_json::to_vec_pretty(&record).unwrap())
            .unwrap();
        let steps: Vec<String> = ["start", "square", "end"].map(String::from).into();
        let run = |component| RunRecord {
            run_id: "R".into(),
            flow: "P".into(),
            component,
            params: serde_json::json!({}),
            spec: serde_json::json!({}),
            status: wflow_metadata::Status::Failed,
            started_ms: 0,
            finished_ms: None,
            error: None,
            origin_run: None,
            user: "ada".into(),
            kind: Default::default(),
        };
        let other = Code::single(Digest::of(b"new"), &steps);
        let code = Code::of_run(&cas, &run(digest), &steps, &other);
        assert_eq!(code.digest, digest);
        assert_eq!(
            (code.of_step("start"), code.of_step("square")),
            (Some(rust), Some(python))
        );
        // A single component (or a record gone from the store) runs every step.
        let wasm = cas.put(b"\0asm\x0d\0\x01\0").unwrap();
        let code = Code::of_run(&cas, &run(wasm), &steps, &other);
        assert_eq!(code, Code::single(wasm, &steps));
        let gone = Digest::of(b"gone");
        assert_eq!(
            Code::of_run(&cas, &run(gone), &steps, &other),
            Code::single(gone, &steps)
        );
        // The code at hand is not read again.
        assert_eq!(
            Code::of_run(&cas, &run(other.digest), &steps, &other),
            other
        );
    }
}
