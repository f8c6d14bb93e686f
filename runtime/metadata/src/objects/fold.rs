//! A run's records folded from its objects: the same checks as the SQLite file's.

use std::collections::BTreeMap;
use std::path::Path;

use crate::{AttemptRecord, Event, MetadataError, Result, RunRecord, Status, TaskRecord};

/// What one event may change of a run's fold, as it was before (see [`RunState::save`]).
pub(super) struct Saved {
    task: Option<(u64, Option<TaskRecord>)>,
    attempt: Option<((u64, u32), Option<AttemptRecord>)>,
    run: Option<RunRecord>,
}

/// The task an event is about (`None` for a run's start and end).
pub(super) fn task_of(event: &Event) -> Option<u64> {
    match event {
        Event::RunStarted { .. } | Event::RunFinished { .. } => None,
        Event::TaskStarted { task_id, .. }
        | Event::AttemptStarted { task_id, .. }
        | Event::AttemptFinished { task_id, .. }
        | Event::TaskManifest { task_id, .. }
        | Event::AttemptLogs { task_id, .. }
        | Event::TaskFinished { task_id, .. }
        | Event::TaskReused { task_id, .. }
        | Event::TaskReads { task_id, .. }
        | Event::ForeachItems { task_id, .. } => Some(*task_id),
    }
}

/// A run's records, folded.
#[derive(Clone, Debug)]
pub(super) struct RunState {
    pub(super) run: RunRecord,
    pub(super) tasks: BTreeMap<u64, TaskRecord>,
    pub(super) attempts: BTreeMap<(u64, u32), AttemptRecord>,
}

impl RunState {
    /// What [`apply`](Self::apply)ing `event` may change (its task, its attempt or the run), to
    /// put back with [`restore`](Self::restore): undoing one event costs a task's record, not a
    /// copy of the run.
    pub(super) fn save(&self, event: &Event) -> Saved {
        let attempt = match event {
            Event::AttemptStarted {
                task_id, attempt, ..
            }
            | Event::AttemptFinished {
                task_id, attempt, ..
            }
            | Event::AttemptLogs {
                task_id, attempt, ..
            } => Some((*task_id, *attempt)),
            _ => None,
        };
        Saved {
            task: task_of(event).map(|t| (t, self.tasks.get(&t).cloned())),
            attempt: attempt.map(|k| (k, self.attempts.get(&k).cloned())),
            run: matches!(event, Event::RunFinished { .. }).then(|| self.run.clone()),
        }
    }

    /// Puts back what [`save`](Self::save) kept.
    pub(super) fn restore(&mut self, saved: Saved) {
        if let Some((id, task)) = saved.task {
            match task {
                Some(t) => self.tasks.insert(id, t),
                None => self.tasks.remove(&id),
            };
        }
        if let Some((key, attempt)) = saved.attempt {
            match attempt {
                Some(a) => self.attempts.insert(key, a),
                None => self.attempts.remove(&key),
            };
        }
        if let Some(run) = saved.run {
            self.run = run;
        }
    }

    /// Applies a task or attempt event (or a run's end), with SQLite's checks.
    pub(super) fn apply(&mut self, path: &Path, event: &Event) -> Result<()> {
        let run_id = &self.run.run_id;
        let task_missing = |task_id: u64| MetadataError::UnknownTask {
            path: path.to_path_buf(),
            run_id: run_id.clone(),
            task_id,
        };
        match event {
            Event::RunStarted { .. } => {
                return Err(MetadataError::AlreadyRecorded {
                    path: path.to_path_buf(),
                    what: format!("run `{run_id}`"),
                });
            }
            Event::TaskStarted {
                task_id,
                step,
                foreach_path,
                inputs,
                started_ms,
                ..
            } => {
                if self.tasks.contains_key(task_id) {
                    return Err(MetadataError::AlreadyRecorded {
                        path: path.to_path_buf(),
                        what: format!("task {task_id} of run `{run_id}`"),
                    });
                }
                self.tasks.insert(
                    *task_id,
                    TaskRecord {
                        run_id: run_id.clone(),
                        task_id: *task_id,
                        step: step.clone(),
                        foreach_path: foreach_path.clone(),
                        inputs: inputs.clone(),
                        status: Status::Running,
                        started_ms: *started_ms,
                        finished_ms: None,
                        manifest: None,
                        manifest_bytes: None,
                        attempts: 0,
                        origin_run: None,
                        origin_task: None,
                        foreach_items: None,
                        component: None,
                        cached: false,
                        caught: false,
                    },
                );
            }
            Event::AttemptStarted {
                task_id,
                attempt,
                started_ms,
                ..
            } => {
                let task = self
                    .tasks
                    .get_mut(task_id)
                    .ok_or_else(|| task_missing(*task_id))?;
                if self.attempts.contains_key(&(*task_id, *attempt)) {
                    return Err(MetadataError::AlreadyRecorded {
                        path: path.to_path_buf(),
                        what: format!("attempt {attempt} of task {task_id} of run `{run_id}`"),
                    });
                }
                task.attempts += 1;
                self.attempts.insert(
                    (*task_id, *attempt),
                    AttemptRecord {
                        run_id: run_id.clone(),
                        task_id: *task_id,
                        attempt: *attempt,
                        status: Status::Running,
                        started_ms: *started_ms,
                        finished_ms: None,
                        error: None,
                        stdout: None,
                        stderr: None,
                        stdout_bytes: None,
                        stderr_bytes: None,
                    },
                );
            }
            Event::AttemptFinished {
                task_id,
                attempt,
                status,
                started_ms,
                finished_ms,
                error,
                stdout,
                stderr,
                ..
            } => {
                if let Some(started) = started_ms
                    && *attempt == 0
                    && let Some(t) = self.tasks.get_mut(task_id)
                {
                    t.started_ms = *started;
                }
                let a = self
                    .attempts
                    .get_mut(&(*task_id, *attempt))
                    .ok_or_else(|| MetadataError::UnknownAttempt {
                        path: path.to_path_buf(),
                        run_id: run_id.clone(),
                        task_id: *task_id,
                        attempt: *attempt,
                    })?;
                a.status = *status;
                if let Some(started) = started_ms {
                    a.started_ms = *started;
                }
                a.finished_ms = Some(*finished_ms);
                a.error = error.clone();
                a.stdout = *stdout;
                a.stderr = *stderr;
            }
            Event::TaskManifest {
                task_id, manifest, ..
            } => {
                let t = self
                    .tasks
                    .get_mut(task_id)
                    .ok_or_else(|| task_missing(*task_id))?;
                t.manifest_bytes = Some(manifest.clone());
            }
            Event::AttemptLogs {
                task_id,
                attempt,
                stdout,
                stderr,
                ..
            } => {
                let a = self
                    .attempts
                    .get_mut(&(*task_id, *attempt))
                    .ok_or_else(|| MetadataError::UnknownAttempt {
                        path: path.to_path_buf(),
                        run_id: run_id.clone(),
                        task_id: *task_id,
                        attempt: *attempt,
                    })?;
                a.stdout_bytes = stdout.clone();
                a.stderr_bytes = stderr.clone();
            }
            Event::TaskFinished {
                task_id,
                status,
                finished_ms,
                manifest,
                ..
            } => {
                let t = self
                    .tasks
                    .get_mut(task_id)
                    .ok_or_else(|| task_missing(*task_id))?;
                t.status = *status;
                t.finished_ms = Some(*finished_ms);
                t.manifest = *manifest;
                // `catch`: succeeded though its last attempt failed.
                t.caught = *status == Status::Succeeded
                    && t.attempts > 0
                    && self
                        .attempts
                        .get(&(*task_id, t.attempts - 1))
                        .is_some_and(|a| a.status == Status::Failed);
            }
            Event::TaskReused {
                task_id,
                origin_run,
                origin_task,
                manifest,
                finished_ms,
                component,
                reason,
                ..
            } => {
                let t = self
                    .tasks
                    .get_mut(task_id)
                    .ok_or_else(|| task_missing(*task_id))?;
                t.component = *component;
                t.cached = *reason == crate::ReuseReason::Cached;
                t.status = Status::Succeeded;
                t.finished_ms = Some(*finished_ms);
                t.manifest = Some(*manifest);
                t.origin_run = Some(origin_run.clone());
                t.origin_task = Some(*origin_task);
            }
            Event::TaskReads { task_id, .. } => {
                // Kept apart from the run's batches (see `cache`): only checked here.
                if !self.tasks.contains_key(task_id) {
                    return Err(task_missing(*task_id));
                }
            }
            Event::ForeachItems { task_id, items, .. } => {
                let t = self
                    .tasks
                    .get_mut(task_id)
                    .ok_or_else(|| task_missing(*task_id))?;
                t.foreach_items = Some(*items);
            }
            Event::RunFinished {
                status,
                finished_ms,
                error,
                ..
            } => {
                self.run.status = *status;
                self.run.finished_ms = Some(*finished_ms);
                self.run.error = error.clone();
            }
        }
        Ok(())
    }
}
