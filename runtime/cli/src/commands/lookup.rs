//! Finding records by pathspec, shared by the inspection commands.

use std::sync::Arc;

use anyhow::Result;
use wflow_core::Pathspec;
use wflow_metadata::{Metadata, TaskRecord};
use wflow_store::{Cas, LocalDisk};

use crate::exit::BadInput;
use crate::settings::Settings;

/// The records and the store of an existing store directory.
pub struct Records {
    pub meta: Metadata,
    pub cas: Cas,
}

impl Records {
    pub fn open(settings: &Settings) -> Result<Records> {
        let path = settings.metadata_path();
        if !path.exists() {
            return Err(BadInput(format!(
                "no runs in {}: it has no metadata file (run a flow first, or pass --store)",
                settings.store.display()
            ))
            .into());
        }
        Ok(Records {
            meta: Metadata::open(&path)?,
            cas: Cas::new(Arc::new(LocalDisk::open(&settings.store)?)),
        })
    }

    /// The task a pathspec `Flow/run/step/task[/…]` names, or an error saying which part was not found.
    pub fn task(&self, p: &Pathspec) -> Result<TaskRecord> {
        let (Some(run), Some(step), Some(task)) = (&p.run, &p.step, &p.task) else {
            return Err(BadInput(format!(
                "`{p}` does not name a task: expected Flow/run/step/task"
            ))
            .into());
        };
        let run_rec = self.meta.run(run)?.filter(|r| r.flow == p.flow);
        let Some(run_rec) = run_rec else {
            let runs: Vec<String> = self
                .meta
                .runs(Some(&p.flow))?
                .into_iter()
                .take(5)
                .map(|r| r.run_id)
                .collect();
            let hint = if runs.is_empty() {
                format!("flow `{}` has no runs", p.flow)
            } else {
                format!("latest runs: {}", runs.join(", "))
            };
            return Err(BadInput(format!("run `{}/{run}` not found; {hint}", p.flow)).into());
        };
        let tasks = self.meta.tasks(&run_rec.run_id)?;
        let found = tasks
            .iter()
            .find(|t| &t.step == step && t.task_id.to_string() == *task);
        match found {
            Some(t) => Ok(t.clone()),
            None => {
                let of_step: Vec<String> = tasks
                    .iter()
                    .filter(|t| &t.step == step)
                    .take(10)
                    .map(|t| t.task_id.to_string())
                    .collect();
                let hint = if of_step.is_empty() {
                    let mut steps: Vec<&str> = tasks.iter().map(|t| t.step.as_str()).collect();
                    steps.dedup();
                    format!(
                        "the run has no step `{step}`; its steps: {}",
                        steps.join(", ")
                    )
                } else {
                    format!("tasks of `{step}`: {}", of_step.join(", "))
                };
                Err(BadInput(format!(
                    "task `{}/{run}/{step}/{task}` not found; {hint}",
                    p.flow
                ))
                .into())
            }
        }
    }
}
