//! The mark phase: every blob a run's records reach — its code, each task's manifest and the
//! artifact blobs it names, foreach items, the attempts' logs — and the runs it reuses tasks
//! from.

use std::collections::{BTreeSet, HashSet};
use std::io::Read;

use wflow_core::Digest;
use wflow_metadata::{MetadataStore, RunRecord};
use wflow_store::{Cas, Manifest};

use crate::GcError;

/// Where deployments (`wflow deploy`) are: each names the code its runs will use.
pub(crate) fn deployments() -> String {
    format!("{}deployments/", wflow_deploy::layout::DEPLOY_PREFIX)
}

/// The blobs reached so far.
#[derive(Default)]
pub(crate) struct Marks {
    /// Every digest reached.
    pub reached: HashSet<Digest>,
    /// Digests reached that the store does not hold (a kept run already missing them).
    pub missing: BTreeSet<Digest>,
    /// Deployments marked.
    deployments: HashSet<String>,
}

impl Marks {
    /// Marks the code a deployment's runs use (its record of components and each component),
    /// which no run may have recorded yet.
    pub fn mark_deployment(&mut self, cas: &Cas, key: &str) -> Result<(), GcError> {
        if !self.deployments.insert(key.to_string()) {
            return Ok(());
        }
        #[derive(serde::Deserialize)]
        struct Deployed {
            code: Digest,
            #[serde(default)]
            components: std::collections::BTreeMap<String, Digest>,
        }
        let bad = |reason: String| GcError::Deployment {
            key: key.to_string(),
            reason,
        };
        let Some(bytes) = cas.backend().get(key).map_err(GcError::Store)? else {
            return Ok(()); // removed meanwhile
        };
        let d: Deployed = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
        self.mark_code(cas, d.code)?;
        for c in d.components.into_values() {
            self.mark_code(cas, c)?;
        }
        Ok(())
    }

    /// Marks `digest`; true when it was not marked yet.
    fn mark(&mut self, digest: Digest) -> bool {
        self.reached.insert(digest)
    }

    /// Marks a run's code: a component, or a polyglot flow's record of components (JSON naming
    /// each component's digest), whose components are marked too.
    fn mark_code(&mut self, cas: &Cas, digest: Digest) -> Result<(), GcError> {
        if !self.mark(digest) {
            return Ok(());
        }
        let key = Cas::blob_key(&digest);
        let Some(mut reader) = cas.backend().open(&key).map_err(GcError::Store)? else {
            self.missing.insert(digest);
            return Ok(());
        };
        let mut head = [0u8; 4];
        if reader.read_exact(&mut head).is_err() || &head == b"\0asm" {
            return Ok(()); // a component (or too short to be a record)
        }
        #[derive(serde::Deserialize)]
        struct Record {
            components: std::collections::BTreeMap<String, Digest>,
        }
        // A record is small JSON; verified through the store before it is trusted.
        let bytes = match cas.get(&digest) {
            Ok(b) => b,
            Err(e) if e.is_not_found() => {
                self.missing.insert(digest);
                return Ok(());
            }
            Err(e) => return Err(GcError::Store(e)),
        };
        if let Ok(record) = serde_json::from_slice::<Record>(&bytes) {
            for c in record.components.into_values() {
                if self.mark(c) && !cas.contains(&c).map_err(GcError::Store)? {
                    self.missing.insert(c);
                }
            }
        }
        Ok(())
    }

    /// Marks everything `run`'s records reach, and returns the runs whose tasks it reuses.
    pub fn mark_run(
        &mut self,
        records: &dyn MetadataStore,
        cas: &Cas,
        run: &RunRecord,
    ) -> Result<BTreeSet<String>, GcError> {
        let mut origins = BTreeSet::new();
        origins.extend(run.origin_run.clone());
        self.mark_code(cas, run.component)?;
        let id = &run.run_id;
        for t in records.tasks(id).map_err(GcError::Records)? {
            origins.extend(t.origin_run.clone());
            if let Some(c) = t.component {
                self.mark_code(cas, c)?;
            }
            if let Some(items) = t.foreach_items {
                self.mark(items);
            }
            let Some(digest) = t.manifest else { continue };
            let manifest = match &t.manifest_bytes {
                Some(_) => t.read_manifest(cas).expect("a manifest is recorded"),
                None if !self.mark(digest) => continue, // read already: same artifacts
                None => cas.get_manifest(&digest),
            };
            let manifest: Manifest = match manifest {
                Ok(m) => m,
                Err(e) if e.is_not_found() => {
                    self.missing.insert(digest);
                    continue;
                }
                // Its artifacts cannot be known, so nothing may be removed.
                Err(e) => {
                    return Err(GcError::Unreadable {
                        what: format!("the manifest of task {} of run `{id}`", t.task_id),
                        source: e,
                    });
                }
            };
            for a in manifest.artifacts.values() {
                if a.inline.is_none() {
                    self.mark(a.digest);
                }
            }
        }
        for a in records.attempts_of_run(id).map_err(GcError::Records)? {
            if let (Some(d), None) = (a.stdout, &a.stdout_bytes) {
                self.mark(d);
            }
            if let (Some(d), None) = (a.stderr, &a.stderr_bytes) {
                self.mark(d);
            }
        }
        origins.remove(id);
        Ok(origins)
    }
}
