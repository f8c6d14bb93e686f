//! Writing records: each batch of events is checked against what this writer knows of the runs
//! it touches, then written as objects in dependency order (a run's start, its task events, its
//! end, its cache entries).
//!
//! A writer knows every task of a run it started (no other writer appends to such a run's tasks
//! but deployed jobs, which never start the run they write to). For any other run it reads, the
//! first time it touches it, the run's start and its `tasks/` batches (written by the writer that
//! started it), and, the first time an event names a task, that task's `by-task/` objects: what
//! a job needs to check its events (a second start of its task, an attempt of a task it did not
//! start, a retried attempt in a new container), and nothing of the run's other tasks. Its own
//! events go under `by-task/<run>/<task>/`, so the next writer of the same task finds them.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use super::fold::{RunState, Saved, task_of};
use super::stored::{StoredEnd, StoredEvent, StoredRun};
use super::{ObjectMetadata, RECORDS_PREFIX, Writer, batch_order, cache, next_key, valid_id};
use crate::{Event, MetadataError, Result, RunRecord, Status};

/// What a writer knows of a run it writes to.
pub(super) struct Written {
    /// The run folded: every task of a run this writer started; of another run, the tasks
    /// in `partial`.
    state: RunState,
    /// Of a run this writer did not start: what it read of it.
    partial: Option<Partial>,
}

/// What a writer read of a run it did not start.
struct Partial {
    /// The run's `tasks/` batches (key, events), read when the writer first touched the run.
    shared: Vec<(String, Arc<Vec<Event>>)>,
    /// The tasks whose records (in `shared` and under `by-task/`) are folded into the state.
    tasks: BTreeSet<u64>,
}

/// How to take back one change to a writer's runs when a call fails.
enum Undo {
    Started(String),
    Applied(String, Box<Saved>),
}

/// A run's events of one call, by the objects they go to.
#[derive(Default)]
struct Pending {
    /// Under `tasks/`: a run this writer started.
    batch: Vec<StoredEvent>,
    /// Under `by-task/`, per task in the order first seen: any other run.
    by_task: Vec<(u64, Vec<StoredEvent>)>,
}

impl ObjectMetadata {
    /// Checks and writes events; with `skip`, failing events are left out instead of failing all.
    /// On failure this writer's view of its runs is as before the call.
    pub(super) fn write(&self, events: &[Event], skip: bool) -> Result<()> {
        let mut w = self.written.lock().unwrap_or_else(|p| p.into_inner());
        let mut undo = Vec::new();
        match self.write_locked(&mut w, events, skip, &mut undo) {
            Ok(skipped) => skipped.map_or(Ok(()), Err),
            Err(e) => {
                for u in undo.into_iter().rev() {
                    match u {
                        Undo::Started(run_id) => {
                            w.runs.remove(&run_id);
                        }
                        Undo::Applied(run_id, saved) => {
                            if let Some(r) = w.runs.get_mut(&run_id) {
                                r.state.restore(*saved);
                            }
                        }
                    }
                }
                Err(e)
            }
        }
    }

    /// [`write`](Self::write) under the writer's lock: `Ok(Some(e))` is the first event
    /// skipped.
    fn write_locked(
        &self,
        w: &mut Writer,
        events: &[Event],
        skip: bool,
        undo: &mut Vec<Undo>,
    ) -> Result<Option<MetadataError>> {
        let mut order: Vec<String> = Vec::new();
        let mut started: Vec<String> = Vec::new();
        let mut tasks: HashMap<String, Pending> = HashMap::new();
        let mut ends: Vec<(String, StoredEnd)> = Vec::new();
        let mut entries: HashMap<String, cache::Pending> = HashMap::new();
        let mut first_error = None;
        for event in events {
            let run_id = event.run_id().to_string();
            if let Err(e) = self.check(w, event, undo) {
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
                    &w.runs[&run_id].state,
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
                other => {
                    let stored = StoredEvent::from_event(other);
                    let partial = w.runs[&run_id].partial.is_some();
                    let pending = tasks.entry(run_id).or_default();
                    if !partial {
                        pending.batch.push(stored);
                    } else {
                        let t = task_of(other).expect("every other event names its task");
                        match pending.by_task.iter_mut().find(|(id, _)| *id == t) {
                            Some((_, batch)) => batch.push(stored),
                            None => pending.by_task.push((t, vec![stored])),
                        }
                    }
                }
            }
        }
        // Write in dependency order: a run's start, then its tasks, then its end.
        for run_id in &order {
            if started.contains(run_id) {
                let run = &w.runs[run_id].state.run;
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
            if let Some(pending) = tasks.get(run_id) {
                if !pending.batch.is_empty() {
                    let key = format!(
                        "{RECORDS_PREFIX}tasks/{run_id}/{}",
                        next_key(w, &self.writer)
                    );
                    self.put(
                        &key,
                        &serde_json::to_vec(&pending.batch).expect("serialises"),
                    )?;
                }
                for (task_id, batch) in &pending.by_task {
                    let key = format!(
                        "{RECORDS_PREFIX}by-task/{run_id}/{task_id}/{}",
                        next_key(w, &self.writer)
                    );
                    self.put(&key, &serde_json::to_vec(batch).expect("serialises"))?;
                }
            }
            for (_, end) in ends.iter().filter(|(r, _)| r == run_id) {
                let key = format!(
                    "{RECORDS_PREFIX}ends/{run_id}/{}",
                    next_key(w, &self.writer)
                );
                self.put(&key, &serde_json::to_vec(end).expect("serialises"))?;
            }
            for (scope, bytes) in entries.remove(run_id).into_iter().flat_map(|p| p.objects()) {
                let key = cache::object_key(&scope, &next_key(w, &self.writer));
                self.put(&key, &bytes)?;
            }
        }
        for run_id in &order {
            self.lock_cache().remove(run_id);
        }
        Ok(first_error)
    }

    pub(super) fn put(&self, key: &str, bytes: &[u8]) -> Result<()> {
        self.store
            .put_if_absent(key, bytes)
            .map(|_| ())
            .map_err(|e| self.store_err(format!("writing `{key}`"), e))
    }

    /// Applies `event` to this writer's fold of its run, reading first what it needs of a run
    /// it did not start (see the module docs). A refused event changes nothing.
    fn check(&self, w: &mut Writer, event: &Event, undo: &mut Vec<Undo>) -> Result<()> {
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
            let known = w.runs.contains_key(run_id.as_str()) || self.started(run_id)?.is_some();
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
            w.runs.insert(
                run_id.clone(),
                Written {
                    state: RunState {
                        run,
                        tasks: Default::default(),
                        attempts: Default::default(),
                    },
                    partial: None,
                },
            );
            undo.push(Undo::Started(run_id.clone()));
            return Ok(());
        }
        if !w.runs.contains_key(run_id) {
            let Some(written) = self.open_run(run_id)? else {
                return Err(MetadataError::UnknownRun {
                    path: self.location.clone(),
                    run_id: run_id.to_string(),
                });
            };
            w.runs.insert(run_id.to_string(), written);
        }
        let written = w.runs.get_mut(run_id).expect("inserted above");
        if let Some(task_id) = task_of(event) {
            self.open_task(run_id, task_id, written)?;
        }
        let saved = written.state.save(event);
        match written.state.apply(&self.location, event) {
            Ok(()) => {
                undo.push(Undo::Applied(run_id.to_string(), Box::new(saved)));
                Ok(())
            }
            Err(e) => {
                written.state.restore(saved);
                Err(e)
            }
        }
    }

    /// A run this writer did not start, as it first needs it: its start and its `tasks/`
    /// batches (`None` if it was never started).
    fn open_run(&self, run_id: &str) -> Result<Option<Written>> {
        let Some(run) = self.started(run_id)? else {
            return Ok(None);
        };
        let keys = self.list(&format!("{RECORDS_PREFIX}tasks/{run_id}/"))?;
        let read = self.read_batches(run_id, &keys)?;
        let shared = keys
            .iter()
            .filter_map(|k| read.get(k).map(|e| (k.clone(), e.clone())))
            .collect();
        Ok(Some(Written {
            state: RunState {
                run,
                tasks: Default::default(),
                attempts: Default::default(),
            },
            partial: Some(Partial {
                shared,
                tasks: BTreeSet::new(),
            }),
        }))
    }

    /// Folds task `task_id`'s records into `written` the first time an event names it: its
    /// events in the run's `tasks/` batches and its `by-task/` objects, in the order written.
    fn open_task(&self, run_id: &str, task_id: u64, written: &mut Written) -> Result<()> {
        let Written { state, partial } = written;
        let Some(partial) = partial else {
            return Ok(());
        };
        if partial.tasks.contains(&task_id) {
            return Ok(());
        }
        let keys = self.list(&format!("{RECORDS_PREFIX}by-task/{run_id}/{task_id}/"))?;
        let read = self.read_batches(run_id, &keys)?;
        let mut batches: Vec<(&str, &Arc<Vec<Event>>)> = partial
            .shared
            .iter()
            .map(|(k, e)| (k.as_str(), e))
            .chain(
                keys.iter()
                    .filter_map(|k| read.get(k).map(|e| (k.as_str(), e))),
            )
            .collect();
        batches.sort_by(|a, b| batch_order(a.0, b.0));
        for (_, events) in batches {
            for ev in events.iter().filter(|e| task_of(e) == Some(task_id)) {
                // As when reading: what does not apply came from a writer that raced another.
                let _ = state.apply(&self.location, ev);
            }
        }
        partial.tasks.insert(task_id);
        Ok(())
    }
}
