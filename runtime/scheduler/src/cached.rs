//! Caching pure steps across runs: before a task of a step that asks for no capability runs, the
//! records are asked for earlier tasks filed under its [`CacheKey`] (same component, step and
//! foreach item); the first whose [`TaskReads`](wflow_core::TaskReads) all give the same answer
//! on this task's inputs is taken instead of running it.
//!
//! A cached task's outputs are what the earlier task put (by reference: no data copied) over
//! what this task inherits itself (so an artifact it passed on untouched is this run's value);
//! it gets a manifest of its own and is recorded with [`Event::TaskReused`] (reason `cached`,
//! origin the earlier task). It has no attempt, no logs, and submits no job to a remote
//! backend. If the earlier outputs cannot be read (a manifest or items gone from the store), the
//! task runs after all.
//!
//! The lookups of every ready task are one call to the records
//! ([`MetadataStore::cache_lookup`](wflow_metadata::MetadataStore::cache_lookup)), made on a
//! blocking thread. The hits of one turn of the run loop are served together too
//! ([`SERVE_BATCH`] to a blocking call, their records sent at once), and hold no worker slot:
//! a task that did not run costs no thread hand-off of its own.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use wflow_core::{CacheKey, Digest, Sandbox, now_millis};
use wflow_engine::{FlowComponent, TaskInput, inherited, reads_match};
use wflow_metadata::{CacheEntry, Event, Recorder, ReuseReason};
use wflow_store::Cas;

use crate::compute::write_manifest;
use crate::execute::Done;
use crate::frames::foreach_item;
use crate::run::{Pending, blocking};

/// The newest entries checked per key: one per distinct set of reads of that task (a parameter
/// tried with many values makes several).
pub const CANDIDATES: usize = 16;

/// What a task's cache key is made of: each step's component and sandbox (and the graph: a
/// switch step's choice is an output the cache does not keep).
pub(crate) struct Steps<'a> {
    pub components: &'a BTreeMap<String, FlowComponent>,
    pub sandboxes: &'a BTreeMap<String, Arc<Sandbox>>,
    pub plan: &'a wflow_graph::Plan,
}

/// The key of a ready task, when its step may be cached: it asks for no capability (no secret
/// either) and is not a switch (contract 0.2; its choice of successor is not kept in the cache).
pub(crate) fn key_of(steps: &Steps, p: &Pending) -> Option<CacheKey> {
    key_for(
        steps,
        &p.step,
        p.inputs.len(),
        foreach_item(&p.stack).as_ref(),
    )
}

/// The key of a task of `step` with `inputs` inputs and innermost foreach item `item`.
pub(crate) fn key_for(
    steps: &Steps,
    step: &str,
    inputs: usize,
    item: Option<&wflow_engine::Value>,
) -> Option<CacheKey> {
    let sandbox = steps.sandboxes.get(step)?;
    if !sandbox.grants_nothing() || inputs > wflow_core::reads::MAX_CACHED_INPUTS {
        return None;
    }
    let spec = steps.plan.step(step);
    // A secret is read from outside (contract 0.2), like any other capability.
    if !spec.capabilities.secrets.is_empty()
        || matches!(spec.transition, wflow_core::Transition::Switch { .. })
    {
        return None;
    }
    let component = steps.components.get(step)?.digest();
    Some(CacheKey::new(
        &component,
        step,
        item.map(|v| (v.codec.as_str(), v.bytes.as_slice())),
    ))
}

/// Looks up the tasks of a foreach's items, all in one call to the records when the foreach
/// declares them (as when they were made at once): looked up a window at a time, each lookup
/// waited for the recorder's write in progress while the workers drained (a 100,000-item
/// foreach ran ~20 % slower in wall).
pub(crate) async fn look_up_items(
    fanout: &mut crate::ready::Fanout,
    steps: &Steps<'_>,
    recorder: &Arc<Recorder>,
) {
    let keys: Vec<Option<CacheKey>> = fanout
        .items
        .as_slice()
        .iter()
        .map(|item| key_for(steps, &fanout.step, 1, Some(item)))
        .collect();
    let wanted: Vec<CacheKey> = keys.iter().flatten().copied().collect();
    let found = if wanted.is_empty() {
        Vec::new()
    } else {
        blocking({
            let recorder = recorder.clone();
            move || recorder.metadata().cache_lookup(&wanted, CANDIDATES)
        })
        .await
        .unwrap_or_default()
    };
    let mut found = found.into_iter();
    let candidates: Vec<Vec<CacheEntry>> = keys
        .iter()
        .map(|k| match k {
            Some(_) => found.next().unwrap_or_default(),
            None => Vec::new(),
        })
        .collect();
    fanout.candidates = Some(candidates.into_iter());
}

/// Looks up the ready tasks from position `from` on that were not looked up yet, in one call to
/// the records. A failing lookup finds nothing (the tasks run).
pub(crate) async fn look_up(
    ready: &mut VecDeque<Pending>,
    from: usize,
    steps: &Steps<'_>,
    recorder: &Arc<Recorder>,
) {
    let mut wanted: Vec<(usize, CacheKey)> = Vec::new();
    for (i, p) in ready.range_mut(from..).enumerate() {
        let i = from + i;
        if p.candidates.is_some() {
            continue;
        }
        match key_of(steps, p) {
            Some(key) => wanted.push((i, key)),
            None => p.candidates = Some(Vec::new()),
        }
    }
    if wanted.is_empty() {
        return;
    }
    let keys: Vec<CacheKey> = wanted.iter().map(|(_, k)| *k).collect();
    let found = blocking({
        let recorder = recorder.clone();
        move || recorder.metadata().cache_lookup(&keys, CANDIDATES)
    })
    .await
    .unwrap_or_default();
    let mut found = found.into_iter();
    for (i, _) in wanted {
        ready[i].candidates = Some(found.next().unwrap_or_default());
    }
}

/// The newest entry whose reads all match `input`.
pub(crate) fn pick(candidates: &[CacheEntry], input: &TaskInput) -> Option<CacheEntry> {
    candidates
        .iter()
        .find(|e| reads_match(&e.reads, input))
        .cloned()
}

/// How many cache hits one blocking call serves at most: a turn's hits go in a few calls (on
/// as many blocking threads), while the run loop goes on with the tasks that run.
pub const SERVE_BATCH: usize = 1024;

/// A ready task whose reads match an earlier task's, to be served instead of run.
pub(crate) struct Hit {
    pub pending: Pending,
    pub entry: CacheEntry,
    pub input: TaskInput,
    /// The digest of its step's component.
    pub component: Digest,
    /// When the run loop took it from the ready queue.
    pub started_ms: i64,
}

/// A served task: its outputs, or `Err` when they could not be taken (it is to run).
pub(crate) struct Served {
    pub pending: Pending,
    pub outcome: Result<Done, ()>,
}

/// Serves `hits` from the cache in one blocking call: each one's `entry`'s puts over what the
/// task inherits, under a manifest of its own, recorded as started and cached (all the batch's
/// records in one [`Recorder::send_all`]). A task whose earlier outputs cannot be read is
/// neither recorded nor served: the run loop runs it.
pub(crate) async fn serve_all(
    hits: Vec<Hit>,
    cas: Arc<Cas>,
    recorder: Arc<Recorder>,
) -> Vec<Served> {
    blocking(move || {
        let mut events = Vec::with_capacity(hits.len() * 3);
        let served = hits
            .into_iter()
            .map(|hit| {
                let outcome = outputs(&cas, &hit.entry, &hit.input)
                    .map(|(written, items)| {
                        record(&mut events, &hit, written.bytes, written.digest);
                        Done {
                            artifacts: written.artifacts,
                            items,
                            items_digest: hit.entry.foreach_items,
                            next: None,
                            reads: None,
                            reuse: Some(ReuseReason::Cached),
                            caught: false,
                        }
                    })
                    .map_err(|_| ());
                Served {
                    pending: hit.pending,
                    outcome,
                }
            })
            .collect();
        recorder.send_all(events);
        served
    })
    .await
}

/// A served task's records: its start, its manifest (when the records keep it) and its reuse.
fn record(events: &mut Vec<Event>, hit: &Hit, manifest_bytes: Option<Vec<u8>>, manifest: Digest) {
    let (run_id, task_id) = (&hit.input.run_id, hit.input.task_id);
    events.push(
        hit.pending
            .started(run_id, &hit.input.foreach_path, hit.started_ms),
    );
    if let Some(manifest) = manifest_bytes {
        events.push(Event::TaskManifest {
            run_id: run_id.clone(),
            task_id,
            manifest,
        });
    }
    events.push(Event::TaskReused {
        run_id: run_id.clone(),
        task_id,
        origin_run: hit.entry.run_id.clone(),
        origin_task: hit.entry.task_id,
        manifest,
        finished_ms: now_millis(),
        component: Some(hit.component),
        reason: ReuseReason::Cached,
    });
}

/// The cached task's manifest, written, and its foreach items.
fn outputs(
    cas: &Cas,
    entry: &CacheEntry,
    input: &TaskInput,
) -> Result<(crate::compute::Written, Option<Vec<wflow_engine::Value>>), String> {
    let manifest = entry.read_manifest(cas).map_err(|e| e.to_string())?;
    let mut puts = BTreeMap::new();
    for name in &entry.reads.puts {
        let r = manifest
            .artifacts
            .get(name)
            .ok_or_else(|| format!("the cached manifest has no `{name}`"))?;
        // Refreshed, not only checked: a `wflow gc` running now must not remove what this run
        // is about to record a reference to (docs/store.md, "Garbage collection").
        if !r.is_inline() && !cas.refresh(&r.digest).map_err(|e| e.to_string())? {
            return Err(format!("blob {} of `{name}` is gone", r.digest));
        }
        puts.insert(name.clone(), r.clone());
    }
    let artifacts = inherited(&input.inputs, input.join).with_puts(puts);
    let items = if input.is_foreach {
        let digest = entry
            .foreach_items
            .ok_or("the cached foreach split's items were not recorded")?;
        let _ = cas.refresh(&digest);
        Some(crate::resume::read_items(cas, &digest)?)
    } else {
        None
    };
    let written = write_manifest(cas, artifacts).map_err(|e| e.to_string())?;
    Ok((written, items))
}
