//! [`Run`] and [`Step`]: a run of a flow and the tasks of one of its steps.

use serde::Deserialize;
use wflow_core::{Digest, FlowSpec};
use wflow_graph::Plan;
use wflow_metadata::{RunRecord, Status, StepStats};

use crate::nearest::{CHOICES, nearest};
use crate::{Client, ClientError, Part, Result, Task};

/// A run of a flow.
#[derive(Clone, Debug)]
pub struct Run<'c> {
    pub(crate) client: &'c Client,
    pub(crate) record: RunRecord,
    pub(crate) tags: Vec<String>,
}

impl<'c> Run<'c> {
    /// The client it came from.
    pub fn client(&self) -> &'c Client {
        self.client
    }

    /// Its record, as stored.
    pub fn record(&self) -> &RunRecord {
        &self.record
    }

    /// Its id.
    pub fn id(&self) -> &str {
        &self.record.run_id
    }

    /// Its flow's name.
    pub fn flow(&self) -> &str {
        &self.record.flow
    }

    /// `Flow/run`.
    pub fn pathspec(&self) -> String {
        format!("{}/{}", self.record.flow, self.record.run_id)
    }

    /// Where it stands.
    pub fn status(&self) -> Status {
        self.record.status
    }

    /// Its tags, sorted.
    pub fn tags(&self) -> &[String] {
        &self.tags
    }

    /// Its parameter values (a JSON object).
    pub fn params(&self) -> &serde_json::Value {
        &self.record.params
    }

    /// For a run recorded as running: whether its process is still there (see
    /// [`liveness`](crate::liveness)). [`Liveness::Unknown`](crate::Liveness::Unknown) without a
    /// local store.
    pub fn liveness(&self) -> crate::Liveness {
        match self.client.store_root() {
            Some(root) => crate::liveness(root, self.id()),
            None => crate::Liveness::Unknown,
        }
    }

    /// The digest of its component in the store.
    pub fn component(&self) -> Digest {
        self.record.component
    }

    /// The run it resumes, if any.
    pub fn origin_run(&self) -> Option<&str> {
        self.record.origin_run.as_deref()
    }

    /// Milliseconds from start to end (`None` while running).
    pub fn duration_ms(&self) -> Option<i64> {
        self.record.finished_ms.map(|f| f - self.record.started_ms)
    }

    /// The flow spec recorded with the run.
    pub fn spec(&self) -> Result<FlowSpec> {
        let reloaded;
        let spec = if self.record.spec.is_null() {
            // Listed without its spec.
            reloaded = self
                .client
                .meta
                .run(self.id())?
                .map(|r| r.spec)
                .unwrap_or_default();
            &reloaded
        } else {
            &self.record.spec
        };
        FlowSpec::deserialize(spec).map_err(|e| ClientError::Spec {
            run: self.pathspec(),
            reason: e.to_string(),
        })
    }

    /// The validated graph of the run's flow.
    pub fn plan(&self) -> Result<Plan> {
        wflow_graph::validate(&self.spec()?).map_err(|e| ClientError::Spec {
            run: self.pathspec(),
            reason: e.to_string(),
        })
    }

    /// Every step of the flow in graph order (`start` first, `end` last), with what its tasks in
    /// this run add up to; steps the run did not reach have no tasks. Steps recorded with tasks
    /// but unknown to the spec (never in practice) come last.
    pub fn steps(&self) -> Result<Vec<Step<'c>>> {
        let mut stats = self.client.meta.step_stats(self.id())?;
        let order: Vec<String> = match self.plan() {
            Ok(plan) => plan.steps_in_order().to_vec(),
            Err(_) => match self.spec() {
                Ok(spec) => spec.steps.into_iter().map(|s| s.name).collect(),
                Err(_) => Vec::new(),
            },
        };
        let mut out = Vec::with_capacity(order.len());
        for name in order {
            let s = match stats.iter().position(|s| s.step == name) {
                Some(i) => stats.remove(i),
                None => StepStats {
                    step: name.clone(),
                    ..StepStats::default()
                },
            };
            out.push(self.make_step(s));
        }
        stats.sort_by_key(|s| s.first_started_ms);
        out.extend(stats.into_iter().map(|s| self.make_step(s)));
        Ok(out)
    }

    fn make_step(&self, stats: StepStats) -> Step<'c> {
        Step {
            client: self.client,
            flow: self.record.flow.clone(),
            run_id: self.record.run_id.clone(),
            name: stats.step.clone(),
            stats,
        }
    }

    /// The step `name`; [`ClientError::NotFound`] (listing the flow's steps) if the flow has
    /// none of that name.
    pub fn step(&self, name: &str) -> Result<Step<'c>> {
        let mut steps = self.steps()?;
        match steps.iter().position(|s| s.name == name) {
            Some(i) => Ok(steps.swap_remove(i)),
            None => Err(ClientError::NotFound {
                part: Part::Step,
                name: name.to_string(),
                parent: self.pathspec(),
                note: String::new(),
                choices: nearest(name, steps.iter().map(|s| s.name.as_str()), CHOICES),
                total: steps.len(),
            }),
        }
    }

    /// Every task of the run, by id.
    pub fn tasks(&self) -> Result<Vec<Task<'c>>> {
        Ok(self
            .client
            .meta
            .tasks(self.id())?
            .into_iter()
            .map(|record| Task {
                client: self.client,
                flow: self.record.flow.clone(),
                record,
            })
            .collect())
    }

    /// Task `task_id` of the run.
    pub fn task(&self, task_id: u64) -> Result<Task<'c>> {
        match self.client.meta.task(self.id(), task_id)? {
            Some(record) => Ok(Task {
                client: self.client,
                flow: self.record.flow.clone(),
                record,
            }),
            None => {
                let ids: Vec<String> = self
                    .client
                    .meta
                    .tasks(self.id())?
                    .iter()
                    .map(|t| t.task_id.to_string())
                    .collect();
                Err(ClientError::NotFound {
                    part: Part::Task,
                    name: task_id.to_string(),
                    parent: self.pathspec(),
                    note: String::new(),
                    choices: nearest(
                        &task_id.to_string(),
                        ids.iter().map(String::as_str),
                        CHOICES,
                    ),
                    total: ids.len(),
                })
            }
        }
    }

    /// The task of `end`, once the run has reached it.
    pub fn end_task(&self) -> Result<Option<Task<'c>>> {
        Ok(self
            .client
            .meta
            .tasks_of_step(self.id(), "end")?
            .into_iter()
            .next()
            .map(|record| Task {
                client: self.client,
                flow: self.record.flow.clone(),
                record,
            }))
    }

    /// The run this one resumes, if any (and still recorded).
    pub fn origin(&self) -> Result<Option<Run<'c>>> {
        match &self.record.origin_run {
            Some(id) => match self.client.meta.run(id)? {
                Some(r) => self.client.with_tags(r).map(Some),
                None => Ok(None),
            },
            None => Ok(None),
        }
    }
}

/// A step of a run: the tasks that ran it.
#[derive(Clone, Debug)]
pub struct Step<'c> {
    client: &'c Client,
    flow: String,
    run_id: String,
    name: String,
    stats: StepStats,
}

impl<'c> Step<'c> {
    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its run's id.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// `Flow/run/step`.
    pub fn pathspec(&self) -> String {
        format!("{}/{}/{}", self.flow, self.run_id, self.name)
    }

    /// What its tasks add up to: counts by status, attempts, times.
    pub fn stats(&self) -> &StepStats {
        &self.stats
    }

    /// How it stands: `failed` if a task failed, else `running` if one runs, `succeeded` if it
    /// has tasks and all succeeded; `None` if it has no task (the run has not reached it).
    pub fn status(&self) -> Option<Status> {
        let s = &self.stats;
        if s.tasks == 0 {
            None
        } else if s.failed > 0 {
            Some(Status::Failed)
        } else if s.running > 0 {
            Some(Status::Running)
        } else {
            Some(Status::Succeeded)
        }
    }

    /// Its tasks, by id.
    pub fn tasks(&self) -> Result<Vec<Task<'c>>> {
        Ok(self
            .client
            .meta
            .tasks_of_step(&self.run_id, &self.name)?
            .into_iter()
            .map(|record| Task {
                client: self.client,
                flow: self.flow.clone(),
                record,
            })
            .collect())
    }

    /// A page of its tasks: those with `query.status`, in `query.sort` order, `query.limit` of
    /// them from `query.offset` — what a table of a 100,000-task foreach shows, without reading
    /// every record where the records are indexed.
    pub fn tasks_page(&self, query: &wflow_metadata::TaskQuery) -> Result<Vec<Task<'c>>> {
        Ok(self
            .client
            .meta
            .step_tasks(&self.run_id, &self.name, query)?
            .into_iter()
            .map(|record| Task {
                client: self.client,
                flow: self.flow.clone(),
                record,
            })
            .collect())
    }

    /// Its one task (for a step outside any foreach or branch); an error listing them if it has
    /// several or none.
    pub fn task(&self) -> Result<Task<'c>> {
        let mut tasks = self.tasks()?;
        if tasks.len() == 1 {
            return Ok(tasks.remove(0));
        }
        let ids: Vec<String> = tasks.iter().map(|t| t.id().to_string()).collect();
        Err(ClientError::WrongKind {
            pathspec: self.pathspec(),
            found: Part::Step,
            expected: Part::Task,
            hint: if ids.is_empty() {
                "the step has no tasks in this run (the run has not reached it)".into()
            } else {
                format!(
                    "the step has {} tasks: {}",
                    ids.len(),
                    crate::nearest::list(&ids[..ids.len().min(CHOICES)], ids.len())
                )
            },
        })
    }

    /// The task of foreach item `path` (`[7]`, or `[2, 7]` in a nested foreach): the newest
    /// attempt at it, as `Flow/run/step[7]` names it.
    pub fn task_of_item(&self, path: &[u32]) -> Result<Task<'c>> {
        let found = self
            .client
            .meta
            .task_of_item(&self.run_id, &self.name, path)?;
        let name = format!(
            "[{}]",
            path.iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join("][")
        );
        match found {
            Some(record) => Ok(Task {
                client: self.client,
                flow: self.flow.clone(),
                record,
            }),
            None => {
                // Not found: what the error lists is worth reading every task for.
                let tasks = self.client.meta.tasks_of_step(&self.run_id, &self.name)?;
                let items: Vec<String> = tasks
                    .iter()
                    .map(|t| {
                        let p: Vec<String> = t.foreach_path.iter().map(u32::to_string).collect();
                        format!("[{}]", p.join("]["))
                    })
                    .collect();
                let note = match (items.first(), items.last()) {
                    (Some(first), Some(last)) => format!(" (its tasks are items {first} … {last})"),
                    _ => " (it has no tasks)".to_string(),
                };
                let choices = nearest(&name, items.iter().map(String::as_str), CHOICES);
                Err(ClientError::NotFound {
                    part: Part::Task,
                    name,
                    parent: self.pathspec(),
                    note,
                    choices,
                    total: items.len(),
                })
            }
        }
    }

    /// Its task `id` (text, as in a pathspec: a task id or a foreach item `[7]`).
    pub(crate) fn task_by_id(&self, id: &str) -> Result<Task<'c>> {
        if let Some(path) = crate::pathspec::foreach_index(id) {
            return self.task_of_item(&path);
        }
        let parsed: Option<u64> = id.parse().ok();
        let record = match parsed {
            Some(n) => self.client.meta.task(&self.run_id, n)?,
            None => None,
        };
        match record {
            Some(record) if record.step == self.name => Ok(Task {
                client: self.client,
                flow: self.flow.clone(),
                record,
            }),
            other => {
                let note = match other {
                    Some(r) => format!(
                        " (task {id} is in step `{}`: {}/{}/{}/{id})",
                        r.step, self.flow, self.run_id, r.step
                    ),
                    None => String::new(),
                };
                let ids: Vec<String> = self
                    .client
                    .meta
                    .tasks_of_step(&self.run_id, &self.name)?
                    .iter()
                    .map(|t| t.task_id.to_string())
                    .collect();
                Err(ClientError::NotFound {
                    part: Part::Task,
                    name: id.to_string(),
                    parent: self.pathspec(),
                    note,
                    choices: nearest(id, ids.iter().map(String::as_str), CHOICES),
                    total: ids.len(),
                })
            }
        }
    }
}
