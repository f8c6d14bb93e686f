//! Deciding, task by task as the new run goes, whether to reuse an origin task, and handing a
//! reused task's outputs to the run loop.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wflow_core::{Digest, now_millis};
use wflow_engine::InputArtifacts;
use wflow_metadata::{Event, Recorder, TaskRecord};
use wflow_store::{ArtifactRef, Cas};

use super::items::read_items_of;
use super::{Decision, Mode, Resume, Reused, ReusedTask};
use crate::execute::{Done, TaskResult};
use crate::frames::item_toward;
use crate::run::blocking;

impl Resume {
    /// Decides about one ready task of the new run.
    pub(crate) async fn decide(
        &mut self,
        cas: &Arc<Cas>,
        task_id: u64,
        step: &str,
        path: &[u32],
        inputs: &mut [(u64, InputArtifacts)],
    ) -> Decision {
        let may_reuse = match &self.mode {
            Mode::Resume => self.may_reuse(step),
            Mode::StepRun {
                step: target,
                path: target_path,
            } => {
                let compatible = path.iter().zip(target_path).all(|(a, b)| a == b);
                if step == target {
                    if path != target_path.as_slice() {
                        return Decision::Skip;
                    }
                    false
                } else if self.ancestors.contains(step) && compatible {
                    true
                } else {
                    return Decision::Skip;
                }
            }
        };
        if may_reuse && let Some(reused) = self.try_reuse(cas, task_id, step, path, inputs).await {
            return Decision::Reuse(Box::new(reused));
        }
        self.apply_overlay(inputs);
        Decision::Run
    }

    /// Reads the origin task's items and manifest on a blocking thread (see [`blocking`]).
    async fn try_reuse(
        &mut self,
        cas: &Arc<Cas>,
        task_id: u64,
        step: &str,
        path: &[u32],
        inputs: &[(u64, InputArtifacts)],
    ) -> Option<Reused> {
        // Its inputs must be the origin tasks that this task's inputs reused.
        let mut mine = Vec::new();
        for (id, _) in inputs.iter().filter(|(id, _)| *id != 0) {
            mine.push(*self.origin_of.get(id)?);
        }
        mine.sort_unstable();
        // Taken out: an origin task is reused at most once, and a wide run's records then leave
        // memory as their tasks are reused instead of staying to the end.
        let key = (step.to_string(), path.to_vec());
        let candidates = self.by_key.get_mut(&key)?;
        let at = candidates.iter().position(|o| {
            let mut theirs = o.inputs.clone();
            theirs.sort_unstable();
            mine == theirs
        })?;
        let origin = candidates.swap_remove(at);
        if candidates.is_empty() {
            self.by_key.remove(&key);
        }
        let origin = &origin;
        // A switch's choice is the step that took its output in the origin: none, no reuse.
        let next = if self.plan.step(step).transition.choices().is_empty() {
            None
        } else {
            Some(self.next_of.get(&origin.task_id)?.clone())
        };
        let pathspec = format!(
            "{}/{}/{step}/{}",
            self.origin.flow, self.origin.run_id, origin.task_id
        );
        let items = if self.plan.opens(step) == Some(wflow_graph::SplitKind::Foreach) {
            let Some(digest) = origin.foreach_items else {
                self.report.notes.push(format!(
                    "{pathspec} ran again: its foreach items were not recorded (a run of an older wflow)"
                ));
                return None;
            };
            // A step-run whose target lies inside this foreach needs one of its items.
            let only = self.target_path().and_then(|t| item_toward(t, path));
            let cas = cas.clone();
            match blocking(move || read_items_of(&cas, &digest, only)).await {
                Ok(items) => Some(items),
                Err(e) => {
                    self.report.notes.push(format!(
                        "{pathspec} ran again: its foreach items cannot be read: {e}"
                    ));
                    return None;
                }
            }
        } else {
            None
        };
        let (manifest, origin_task) = (origin.manifest?, origin.task_id);
        let manifest_bytes = origin.manifest_bytes.clone();
        // A manifest the records hold is decoded here; one kept as a blob is read on a blocking
        // thread (a hop per task was most of a wide resume's time).
        let read = if manifest_bytes.is_some() {
            origin.read_manifest(cas).expect("a manifest is recorded")
        } else {
            let (cas, origin) = (cas.clone(), origin.clone());
            blocking(move || origin.read_manifest(&cas).expect("a manifest is recorded")).await
        };
        let artifacts = match read {
            Ok(m) => m.artifacts,
            Err(e) => {
                self.report.notes.push(format!(
                    "{pathspec} ran again: its outputs cannot be read: {e}"
                ));
                return None;
            }
        };
        let stale = self.refresh.due(origin, &artifacts);
        if !stale.is_empty() {
            let cas = cas.clone();
            blocking(move || {
                for digest in stale {
                    let _ = cas.refresh(&digest);
                }
            })
            .await;
        }
        // What computed the outputs: the origin's component for the step, or, for a task the
        // origin itself reused, what its record says.
        let component = if origin.is_reused() {
            origin.component
        } else {
            self.origin_code.of_step(step)
        };
        self.origin_of.insert(task_id, origin_task);
        self.report.reused.push(ReusedTask {
            task_id,
            step: step.to_string(),
            origin_task,
            component,
        });
        Some(Reused {
            origin_run: self.origin.run_id.clone(),
            origin_task,
            component,
            manifest,
            manifest_bytes,
            artifacts: over_input(inputs, artifacts),
            items,
            items_digest: origin.foreach_items,
            next,
        })
    }

    /// Replaces, in the inputs of a task that runs, parameter artifacts still holding the
    /// origin's value by the new value.
    fn apply_overlay(&self, inputs: &mut [(u64, InputArtifacts)]) {
        if self.overlay.is_empty() {
            return;
        }
        for (_, input) in inputs.iter_mut() {
            let stale = self
                .overlay
                .iter()
                .any(|(name, old, _)| input.artifacts.get(name).is_some_and(|r| r.digest == *old));
            if !stale {
                continue;
            }
            let mut artifacts = input.artifacts.to_map();
            for (name, old, new) in &self.overlay {
                if artifacts.get(name).is_some_and(|r| r.digest == *old) {
                    artifacts.insert(name.clone(), new.clone());
                }
            }
            input.artifacts = artifacts.into();
        }
    }
}

/// A reused task's artifacts as its own entries over its single input's, when it holds every
/// name the input has: the same artifacts, but a node instead of a copy of all it inherited (the
/// reused items of a million-item foreach each held a full map).
pub(crate) fn over_input(
    inputs: &[(u64, InputArtifacts)],
    all: BTreeMap<String, ArtifactRef>,
) -> wflow_store::Artifacts {
    let [(_, input)] = inputs else {
        return all.into();
    };
    let base = &input.artifacts;
    if base.len() > all.len() || base.keys().any(|n| !all.contains_key(n)) {
        return all.into();
    }
    let own = all
        .into_iter()
        .filter(|(n, r)| base.get(n) != Some(r))
        .collect();
    base.with_puts(own)
}

/// How often one resume refreshes the same blob: as often as S3's refresh copies it (see
/// `BlobStore::refresh`), so a blob the reused tasks of a wide foreach share costs one refresh
/// per quarter hour instead of one per task.
const REFRESH_EVERY: Duration = Duration::from_secs(15 * 60);

/// The blobs a resume relies on and when it last refreshed each.
#[derive(Debug, Default)]
pub(crate) struct Refreshed(HashMap<Digest, Instant>);

impl Refreshed {
    /// The blobs a reused task's outputs live in that are to be marked as just used now, so a
    /// `wflow gc` running meanwhile does not remove them before this run records its reference
    /// (see docs/store.md, "Garbage collection"): those not refreshed in the last
    /// [`REFRESH_EVERY`]. Refreshing is best effort: a blob that cannot be is read, and
    /// reported, later.
    pub(crate) fn due(
        &mut self,
        origin: &TaskRecord,
        artifacts: &BTreeMap<String, ArtifactRef>,
    ) -> Vec<Digest> {
        let now = Instant::now();
        artifacts
            .values()
            .filter(|a| a.inline.is_none())
            .map(|a| a.digest)
            .chain(origin.manifest.filter(|_| origin.manifest_bytes.is_none()))
            .chain(origin.foreach_items)
            .filter(|d| match self.0.get(d) {
                Some(at) if now.duration_since(*at) < REFRESH_EVERY => false,
                _ => {
                    self.0.insert(*d, now);
                    true
                }
            })
            .collect()
    }
}

/// Hands a reused task's outputs to the run loop, recording the reuse.
pub(crate) async fn deliver(
    reused: Reused,
    recorder: Arc<Recorder>,
    run_id: String,
    task_id: u64,
) -> TaskResult {
    if let Some(manifest) = reused.manifest_bytes {
        recorder.send(Event::TaskManifest {
            run_id: run_id.clone(),
            task_id,
            manifest,
        });
    }
    recorder.send(Event::TaskReused {
        run_id,
        task_id,
        origin_run: reused.origin_run,
        origin_task: reused.origin_task,
        manifest: reused.manifest,
        finished_ms: now_millis(),
        component: reused.component,
        reason: wflow_metadata::ReuseReason::Resumed,
    });
    TaskResult {
        task_id,
        outcome: Ok(Done {
            artifacts: reused.artifacts,
            items_digest: reused.items.as_ref().and(reused.items_digest),
            items: reused.items,
            next: reused.next,
            reads: None,
            reuse: Some(wflow_metadata::ReuseReason::Resumed),
            caught: false,
        }),
    }
}
