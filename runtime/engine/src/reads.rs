//! Recording what a task reads ([`ReadLog`], fed by the host functions) and checking a recorded
//! [`TaskReads`] against a new task's inputs ([`reads_match`]): the engine's half of caching
//! pure steps (see [`wflow_core::reads`]).

use std::collections::BTreeMap;

use wflow_core::TaskReads;
use wflow_core::reads::{listing_key, param_key, value_key};
use wflow_store::{ArtifactRef, Artifacts};

use crate::task::{TaskInput, inherited};

/// What one task has read so far.
#[derive(Debug, Default)]
pub(crate) struct ReadLog {
    reads: TaskReads,
    /// For each name the task put, what its view held there before (the inherited value, or
    /// none): with the view, what the task inherited.
    shadowed: BTreeMap<String, Option<ArtifactRef>>,
    /// The task asked for something that differs from run to run (run id, task id, attempt): it
    /// cannot be cached.
    volatile: bool,
}

fn key_of(r: Option<&ArtifactRef>) -> Option<wflow_core::Digest> {
    r.map(|r| value_key(&r.codec, &r.digest))
}

impl ReadLog {
    /// The log of a task with `inputs` inputs: one with more than
    /// [`MAX_CACHED_INPUTS`](wflow_core::reads::MAX_CACHED_INPUTS) records nothing (it is not
    /// cached).
    pub(crate) fn new(inputs: usize) -> ReadLog {
        ReadLog {
            volatile: inputs > wflow_core::reads::MAX_CACHED_INPUTS,
            ..ReadLog::default()
        }
    }

    /// The task asked for something that changes from run to run.
    pub(crate) fn volatile(&mut self) {
        self.volatile = true;
    }

    /// A read of `name` in the task's own view, which holds `found`. A name the task put itself
    /// is not an input.
    pub(crate) fn view_get(&mut self, name: &str, found: Option<&ArtifactRef>) {
        if self.volatile {
            return;
        }
        if !self.reads.puts.contains(name) && !self.reads.view.contains_key(name) {
            self.reads.view.insert(name.to_string(), key_of(found));
        }
    }

    /// A listing of the task's view (`view`: what it holds now, its puts included).
    pub(crate) fn view_list<'a>(
        &mut self,
        view: impl IntoIterator<Item = (&'a String, &'a ArtifactRef)>,
    ) {
        if self.volatile {
            return;
        }
        if self.reads.view_list.is_some() {
            return;
        }
        let mut base: BTreeMap<&str, &ArtifactRef> = view
            .into_iter()
            .filter(|(n, _)| !self.shadowed.contains_key(*n))
            .map(|(n, r)| (n.as_str(), r))
            .collect();
        for (n, r) in &self.shadowed {
            if let Some(r) = r {
                base.insert(n, r);
            }
        }
        self.reads.view_list = Some(listing_key(
            base.iter().map(|(n, r)| (*n, r.codec.as_str(), r.size)),
        ));
    }

    /// A name about to be put; `before` is what the view holds there now.
    pub(crate) fn put(&mut self, name: &str, before: Option<&ArtifactRef>) {
        if self.volatile {
            return;
        }
        if self.reads.puts.insert(name.to_string()) {
            self.shadowed.insert(name.to_string(), before.cloned());
        }
    }

    /// The task asked how many inputs it has.
    pub(crate) fn input_count(&mut self, n: usize) {
        if self.volatile {
            return;
        }
        self.reads.input_count = Some(n as u32);
    }

    /// A use of input `index` (`artifacts`: its artifacts, `None` if it does not exist).
    fn input(
        &mut self,
        index: u32,
        artifacts: Option<&Artifacts>,
    ) -> &mut wflow_core::reads::InputReads {
        let entry = self.reads.inputs.entry(index).or_default();
        entry.exists = artifacts.is_some();
        entry
    }

    /// The task asked for input `index`'s step.
    pub(crate) fn input_touched(&mut self, index: u32, artifacts: Option<&Artifacts>) {
        if self.volatile {
            return;
        }
        self.input(index, artifacts);
    }

    /// A read of `name` from input `index`.
    pub(crate) fn input_get(&mut self, index: u32, artifacts: Option<&Artifacts>, name: &str) {
        if self.volatile {
            return;
        }
        let found = key_of(artifacts.and_then(|a| a.get(name)));
        self.input(index, artifacts).names.read(name, found);
    }

    /// A listing of input `index`.
    pub(crate) fn input_list(&mut self, index: u32, artifacts: Option<&Artifacts>) {
        if self.volatile {
            return;
        }
        let list = artifacts.map(listing);
        let entry = self.input(index, artifacts);
        if entry.list.is_none() {
            entry.list = list;
        }
    }

    /// A read of parameter `name`.
    pub(crate) fn param(&mut self, name: &str, value: Option<&wflow_core::ParamValue>) {
        if self.volatile {
            return;
        }
        self.reads
            .params
            .entry(name.to_string())
            .or_insert_with(|| value.map(param_key));
    }

    /// The task asked for its foreach index or path.
    pub(crate) fn foreach_path(&mut self, path: &[u32]) {
        if self.volatile {
            return;
        }
        self.reads.foreach_path = Some(path.to_vec());
    }

    /// What the task read, unless it asked for something that changes from run to run.
    pub(crate) fn finish(self) -> Option<TaskReads> {
        (!self.volatile).then_some(self.reads)
    }
}

fn listing(artifacts: &Artifacts) -> wflow_core::Digest {
    listing_key(
        artifacts
            .iter()
            .map(|(n, r)| (n.as_str(), r.codec.as_str(), r.size)),
    )
}

/// Whether a task with `input` would get the same answer as the recorded task to every read in
/// `reads` (its foreach item is compared by the [`CacheKey`](wflow_core::CacheKey)). Then,
/// its step being pure, it would put the same values.
pub fn reads_match(reads: &TaskReads, input: &TaskInput) -> bool {
    if reads
        .input_count
        .is_some_and(|n| n as usize != input.inputs.len())
    {
        return false;
    }
    if reads
        .foreach_path
        .as_ref()
        .is_some_and(|p| *p != input.foreach_path)
    {
        return false;
    }
    let params_match = reads
        .params
        .iter()
        .all(|(name, key)| input.params.get(name).map(param_key) == *key);
    if !params_match {
        return false;
    }
    let inputs_match = reads.inputs.iter().all(|(index, r)| {
        let artifacts = input.inputs.get(*index as usize).map(|i| &i.artifacts);
        artifacts.is_some() == r.exists
            && r.list.is_none_or(|l| artifacts.map(listing) == Some(l))
            && r.names
                .iter()
                .all(|(name, key)| key_of(artifacts.and_then(|a| a.get(name))) == *key)
    });
    if !inputs_match {
        return false;
    }
    if reads.view.is_empty() && reads.view_list.is_none() {
        return true;
    }
    let view = inherited(&input.inputs, input.join);
    reads.view_list.is_none_or(|l| listing(&view) == l)
        && reads
            .view
            .iter()
            .all(|(name, key)| key_of(view.get(name)) == *key)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use wflow_core::{Digest, ParamValue};

    use super::*;
    use crate::task::InputArtifacts;

    fn r(bytes: &[u8]) -> ArtifactRef {
        ArtifactRef {
            digest: Digest::of(bytes),
            size: bytes.len() as u64,
            codec: "cbor".into(),
            inline: Some(bytes.to_vec()),
        }
    }

    fn input(artifacts: &[(&str, &[u8])], n: i64) -> TaskInput {
        TaskInput {
            flow: "F".into(),
            run_id: "r".into(),
            step: "s".into(),
            task_id: 1,
            attempt: 0,
            params: Arc::new([("n".to_string(), ParamValue::Int(n))].into()),
            foreach_path: vec![3],
            foreach_item: None,
            inputs: vec![InputArtifacts {
                step: "start".into(),
                artifacts: artifacts
                    .iter()
                    .map(|(k, v)| (k.to_string(), r(v)))
                    .collect(),
            }],
            join: false,
            is_foreach: false,
            choices: Vec::new(),
            secrets: Default::default(),
            sandbox: Default::default(),
            live_logs: None,
        }
    }

    /// A task with more inputs than the cache takes records nothing and is not cached.
    #[test]
    fn a_task_wider_than_the_cache_takes_is_not_cached() {
        let old = input(&[("x", b"1")], 5);
        let wide = wflow_core::reads::MAX_CACHED_INPUTS + 1;
        let mut log = ReadLog::new(wide);
        log.view_get("x", old.inputs[0].artifacts.get("x"));
        log.input_get(0, Some(&old.inputs[0].artifacts), "x");
        assert!(log.reads.view.is_empty() && log.reads.inputs.is_empty());
        assert!(log.finish().is_none());
        let mut log = ReadLog::new(wide - 1);
        log.input_get(0, Some(&old.inputs[0].artifacts), "x");
        assert_eq!(log.finish().unwrap().inputs.len(), 1);
    }

    #[test]
    fn only_what_was_read_counts() {
        let old = input(&[("x", b"1"), ("y", b"2")], 5);
        let mut log = ReadLog::default();
        log.view_get("x", old.inputs[0].artifacts.get("x"));
        log.view_get("absent", None);
        log.put("y", old.inputs[0].artifacts.get("y"));
        // A read of its own put is no input.
        log.view_get("y", None);
        let reads = log.finish().unwrap();
        assert_eq!(reads.view.len(), 2);
        assert!(reads_match(&reads, &old));
        // y and the parameter were not read: a change to them does not matter.
        assert!(reads_match(&reads, &input(&[("x", b"1"), ("y", b"9")], 6)));
        assert!(!reads_match(&reads, &input(&[("x", b"2"), ("y", b"2")], 5)));
        // A name that was absent and now exists.
        assert!(!reads_match(
            &reads,
            &input(&[("x", b"1"), ("absent", b"0")], 5)
        ));
    }

    #[test]
    fn parameters_listings_inputs_and_positions_count_when_read() {
        let old = input(&[("x", b"1")], 5);
        let mut log = ReadLog::default();
        log.param("n", old.params.get("n"));
        log.foreach_path(&old.foreach_path);
        log.input_count(1);
        log.input_list(0, Some(&old.inputs[0].artifacts));
        log.input_touched(1, None);
        log.view_list(&old.inputs[0].artifacts);
        let reads = log.finish().unwrap();
        assert!(reads_match(&reads, &old));
        assert!(!reads_match(&reads, &input(&[("x", b"1")], 6)));
        // Same size and codec, other bytes: the listing does not show it.
        assert!(reads_match(&reads, &input(&[("x", b"2")], 5)));
        assert!(!reads_match(&reads, &input(&[("x", b"12")], 5)));
        assert!(!reads_match(&reads, &input(&[("x", b"1"), ("z", b"1")], 5)));
        let mut moved = old.clone();
        moved.foreach_path = vec![4];
        assert!(!reads_match(&reads, &moved));
        let mut two = old.clone();
        two.inputs.push(two.inputs[0].clone());
        assert!(!reads_match(&reads, &two));
    }

    #[test]
    fn a_listing_after_a_put_shows_what_was_inherited() {
        let old = input(&[("x", b"1")], 5);
        let mut view = old.inputs[0].artifacts.to_map();
        let mut log = ReadLog::default();
        log.put("x", view.get("x"));
        view.insert("x".into(), r(b"22"));
        log.put("new", None);
        view.insert("new".into(), r(b"3"));
        log.view_list(&view);
        let reads = log.finish().unwrap();
        assert!(reads_match(&reads, &old));
        assert!(!reads_match(&reads, &input(&[("x", b"22")], 5)));
    }

    #[test]
    fn volatile_tasks_have_no_reads() {
        let mut log = ReadLog::default();
        log.volatile();
        assert!(log.finish().is_none());
    }
}
