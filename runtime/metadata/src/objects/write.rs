//! Writing records: each batch of events is checked against the runs it touches, then written
//! as objects in dependency order (a run's start, its task batch, its end, its cache entries).

use std::collections::{BTreeMap, HashMap};

use super::fold::RunState;
use super::stored::{StoredEnd, StoredEvent, StoredRun};
use super::{ObjectMetadata, RECORDS_PREFIX, Writer, cache, next_key, valid_id};
use crate::{Event, MetadataError, Result, RunRecord, Status};

impl ObjectMetadata {
    /// Checks and writes events; with `skip`, failing events are left out instead of failing all.
    pub(super) fn write(&self, events: &[Event], skip: bool) -> Result<()> {
        let mut w = self.written.lock().unwrap_or_else(|p| p.into_inner());
        // Work on copies of the runs involved, committed only once everything is written.
        let mut runs: BTreeMap<String, RunState> = BTreeMap::new();
        let mut order: Vec<String> = Vec::new();
        let mut started: Vec<String> = Vec::new();
        let mut tasks: HashMap<String, Vec<StoredEvent>> = HashMap::new();
        let mut ends: Vec<(String, StoredEnd)> = Vec::new();
        let mut entries: HashMap<String, cache::Pending> = HashMap::new();
        let mut first_error = None;
        for event in events {
            let run_id = event.run_id().to_string();
            let outcome = self.check(&mut w, &mut runs, event);
            if let Err(e) = outcome {
                if !skip {
                    return Err(e);
                }
                first_error.get_or_insert(e);
                continue;
            }
            if !order.contains(&run_id) {
                order.push(run_id.clone());
            }
            match event {
                Event::RunStarted { .. } => started.push(run_id),
                Event::TaskReads {
                    task_id,
                    key,
                    reads,
                    ..
                } => entries.entry(run_id.clone()).or_default().add(
                    &runs[&run_id],
                    *task_id,
                    key,
                    reads,
                ),
                Event::RunFinished {
                    status,
                    finished_ms,
                    error,
                    ..
                } => ends.push((
                    run_id,
                    StoredEnd {
                        v: 1,
                        status: *status,
                        finished_ms: *finished_ms,
                        error: error.clone(),
                    },
                )),
                other => tasks
                    .entry(run_id)
                    .or_default()
                    .push(StoredEvent::from_event(other)),
            }
        }
        // Write in dependency order: a run's start, then its tasks, then its end.
        for run_id in &order {
            if started.contains(run_id) {
                let run = &runs[run_id].run;
                let key = format!("{RECORDS_PREFIX}runs/{run_id}");
                let bytes = serde_json::to_vec(&StoredRun::from_record(run)).expect("serialises");
                let wrote = self
                    .store
                    .put_if_absent(&key, &bytes)
                    .map_err(|e| self.store_err(format!("writing `{key}`"), e))?;
                if !wrote {
                    return Err(MetadataError::AlreadyRecorded {
                        path: self.location.clone(),
                        what: format!("run `{run_id}`"),
                    });
                }
            }
            if let Some(batch) = tasks.get(run_id) {
                let key = format!(
                    "{RECORDS_PREFIX}tasks/{run_id}/{}",
                    next_key(&mut w, &self.writer)
                );
                self.put(&key, &serde_json::to_vec(batch).expect("serialises"))?;
            }
            for (_, end) in ends.iter().filter(|(r, _)| r == run_id) {
                let key = format!(
                    "{RECORDS_PREFIX}ends/{run_id}/{}",
                    next_key(&mut w, &self.writer)
                );
                self.put(&key, &serde_json::to_vec(end).expect("serialises"))?;
            }
            for (scope, bytes) in entries.remove(run_id).into_iter().flat_map(|p| p.objects()) {
                let key = cache::object_key(&scope, &next_key(&mut w, &self.writer));
                self.put(&key, &bytes)?;
            }
        }
        for (run_id, state) in runs {
            self.lock_cache().remove(&run_id);
            w.runs.insert(run_id, state);
        }
        first_error.map_or(Ok(()), Err)
    }

    pub(super) fn put(&self, key: &str, bytes: &[u8]) -> Result<()> {
        self.store
            .put_if_absent(key, bytes)
            .map(|_| ())
            .map_err(|e| self.store_err(format!("writing `{key}`"), e))
    }

    /// Applies `event` to the working copy of its run, reading the run first if this writer has
    /// not seen it.
    fn check(
        &self,
        w: &mut Writer,
        runs: &mut BTreeMap<String, RunState>,
        event: &Event,
    ) -> Result<()> {
        let run_id = event.run_id();
        if let Event::RunStarted {
            run_id,
            flow,
            component,
            params,
            spec,
            started_ms,
            origin_run,
            user,
            kind,
        } = event
        {
            if !valid_id(run_id) {
                return Err(MetadataError::corrupt(
                    &self.location,
                    format!("run id `{run_id}`"),
                    "a run id is letters, digits, `-`, `_` and `.`",
                ));
            }
            let known = runs.contains_key(run_id.as_str())
                || w.runs.contains_key(run_id.as_str())
                || self.started(run_id)?.is_some();
            if known {
                return Err(MetadataError::AlreadyRecorded {
                    path: self.location.clone(),
                    what: format!("run `{run_id}`"),
                });
            }
            let run = RunRecord {
                run_id: run_id.clone(),
                flow: flow.clone(),
                component: *component,
                params: params.clone(),
                spec: spec.clone(),
                status: Status::Running,
                started_ms: *started_ms,
                finished_ms: None,
                error: None,
                origin_run: origin_run.clone(),
                user: user.clone(),
                kind: *kind,
            };
            runs.insert(
                run_id.clone(),
                RunState {
                    run,
                    tasks: BTreeMap::new(),
                    attempts: BTreeMap::new(),
                },
            );
            return Ok(());
        }
        if !runs.contains_key(run_id) {
            let state = match w.runs.get(run_id) {
                Some(s) => Some(s.clone()),
                None => self.load(run_id)?,
            };
            let Some(state) = state else {
                return Err(MetadataError::UnknownRun {
                    path: self.location.clone(),
                    run_id: run_id.to_string(),
                });
            };
            runs.insert(run_id.to_string(), state);
        }
        let state = runs.get_mut(run_id).expect("inserted above");
        // Undo on failure, as SQLite's savepoint does.
        let before = state.clone();
        state
            .apply(&self.location, event)
            .inspect_err(|_| *state = before)
    }
}
