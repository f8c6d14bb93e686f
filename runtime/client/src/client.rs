//! [`Client`] and the objects it hands out: [`Flow`], [`Run`], [`Step`], [`Task`], [`Artifact`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use wflow_core::{Digest, FlowSpec, Pathspec};
use wflow_graph::Plan;
use wflow_metadata::{
    AttemptRecord, Metadata, MetadataStore, RunFilter, RunRecord, Status, StepStats, TaskRecord,
};
use wflow_store::{ArtifactRef, BlobReader, Cas, LocalDisk, Manifest};

use crate::nearest::{CHOICES, nearest};
use crate::pathspec::{kind, parse_pathspec};
use crate::{ClientError, Part, Result};

/// The metadata file inside a store directory.
pub const METADATA_FILE: &str = "metadata.sqlite";

/// Read access to the runs of one store: its metadata records and its content-addressed blobs.
///
/// Cheap to share between threads. Every object it hands out borrows it.
pub struct Client {
    meta: Arc<dyn MetadataStore>,
    cas: Cas,
    root: Option<PathBuf>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("metadata", &self.meta.path())
            .field("root", &self.root)
            .finish()
    }
}

/// What a pathspec names.
#[derive(Debug)]
pub enum Object<'c> {
    /// `Flow`.
    Flow(Flow<'c>),
    /// `Flow/run`.
    Run(Run<'c>),
    /// `Flow/run/step`.
    Step(Step<'c>),
    /// `Flow/run/step/task`.
    Task(Task<'c>),
    /// `Flow/run/step/task/artifact`.
    Artifact(Artifact<'c>),
}

impl Client {
    /// Opens the store directory `store` (a local directory with a `metadata.sqlite` file, as
    /// `wflow run` leaves it). Fails with [`ClientError::NoStore`] if nothing ever ran there, and
    /// with [`ClientError::Metadata`] if the records were written by a newer wflow.
    pub fn open(store: &Path) -> Result<Client> {
        let metadata = store.join(METADATA_FILE);
        if !metadata.is_file() {
            return Err(ClientError::NoStore {
                store: store.to_path_buf(),
                metadata,
            });
        }
        let meta = Metadata::open(&metadata)?;
        let disk = LocalDisk::open(store).map_err(|source| ClientError::Store {
            store: store.to_path_buf(),
            source,
        })?;
        Ok(Client {
            meta: Arc::new(meta),
            cas: Cas::new(Arc::new(disk)),
            root: Some(store.to_path_buf()),
        })
    }

    /// A client over records and a store already open. `store_root`, when given, is where live
    /// logs are looked for (see [`live_log_path`](crate::live_log_path)).
    pub fn from_parts(
        meta: Arc<dyn MetadataStore>,
        cas: Cas,
        store_root: Option<PathBuf>,
    ) -> Client {
        Client {
            meta,
            cas,
            root: store_root,
        }
    }

    /// The metadata records (the SQLite file, or records kept as objects in a team store).
    pub fn metadata(&self) -> &Arc<dyn MetadataStore> {
        &self.meta
    }

    /// The content-addressed store.
    pub fn cas(&self) -> &Cas {
        &self.cas
    }

    /// The store directory, if the store is a local one.
    pub fn store_root(&self) -> Option<&Path> {
        self.root.as_deref()
    }

    /// The names of the flows that have runs, sorted.
    pub fn flows(&self) -> Result<Vec<String>> {
        Ok(self.meta.flows()?)
    }

    /// The flow `name`; [`ClientError::NotFound`] if it has no runs here.
    pub fn flow(&self, name: &str) -> Result<Flow<'_>> {
        let flows = self.flows()?;
        if flows.iter().any(|f| f == name) {
            return Ok(Flow {
                client: self,
                name: name.to_string(),
            });
        }
        Err(ClientError::NotFound {
            part: Part::Flow,
            name: name.to_string(),
            parent: String::new(),
            note: String::new(),
            choices: nearest(name, flows.iter().map(String::as_str), CHOICES),
            total: flows.len(),
        })
    }

    /// The runs `filter` selects, newest first, with their tags. (With `filter.skip_spec`, each
    /// run reads its flow spec again when asked for it.)
    pub fn runs(&self, filter: &RunFilter) -> Result<Vec<Run<'_>>> {
        let records = self.meta.find_runs(filter)?;
        let ids: Vec<&str> = records.iter().map(|r| r.run_id.as_str()).collect();
        let mut tags = self.meta.tags_of_runs(&ids)?;
        Ok(records
            .into_iter()
            .map(|record| Run {
                client: self,
                tags: tags.remove(&record.run_id).unwrap_or_default(),
                record,
            })
            .collect())
    }

    /// Whatever `pathspec` names.
    pub fn get(&self, pathspec: &str) -> Result<Object<'_>> {
        let p = parse_pathspec(pathspec)?;
        self.resolve(&p)
    }

    /// The object a parsed pathspec names.
    pub fn resolve(&self, p: &Pathspec) -> Result<Object<'_>> {
        let Some(run_id) = &p.run else {
            return match self.flow(&p.flow) {
                Ok(flow) => Ok(Object::Flow(flow)),
                // A bare run id (unique across flows) names its run.
                Err(e) => match self.meta.run(&p.flow)? {
                    Some(record) => Ok(Object::Run(self.with_tags(record)?)),
                    None => Err(e),
                },
            };
        };
        let run = self.find_run(&p.flow, run_id)?;
        let Some(step) = &p.step else {
            return Ok(Object::Run(run));
        };
        // A task by its id: its record, read directly (resolving the step first sums up every
        // step of the run: 100,000 task records for a large foreach). Anything else takes the
        // way below, whose errors name what is wrong.
        if let Some(id) = p.task.as_deref().and_then(|t| t.parse::<u64>().ok())
            && let Some(record) = self.meta.task(run.id(), id)?
            && record.step == *step
        {
            let task = Task {
                client: self,
                flow: run.flow().to_string(),
                record,
            };
            return match &p.artifact {
                None => Ok(Object::Task(task)),
                Some(name) => Ok(Object::Artifact(task.artifact(name)?)),
            };
        }
        let step = run.step(step)?;
        let Some(task) = &p.task else {
            return Ok(Object::Step(step));
        };
        let task = step.task_by_id(task)?;
        let Some(name) = &p.artifact else {
            return Ok(Object::Task(task));
        };
        Ok(Object::Artifact(task.artifact(name)?))
    }

    /// The run `Flow/run`. The run part may also be `latest` (the flow's newest run) or the start
    /// of a run id, if only one run of the flow starts with it; a bare run id names its run too.
    pub fn run(&self, pathspec: &str) -> Result<Run<'_>> {
        match self.expect(pathspec, Part::Run)? {
            Object::Run(r) => Ok(r),
            _ => unreachable!("expect checks the kind"),
        }
    }

    /// The step `Flow/run/step` (a step of the flow that has not run yet in the run has no tasks).
    pub fn step(&self, pathspec: &str) -> Result<Step<'_>> {
        match self.expect(pathspec, Part::Step)? {
            Object::Step(s) => Ok(s),
            _ => unreachable!("expect checks the kind"),
        }
    }

    /// The task `Flow/run/step/task`.
    pub fn task(&self, pathspec: &str) -> Result<Task<'_>> {
        match self.expect(pathspec, Part::Task)? {
            Object::Task(t) => Ok(t),
            _ => unreachable!("expect checks the kind"),
        }
    }

    /// The artifact `Flow/run/step/task/name`.
    pub fn artifact(&self, pathspec: &str) -> Result<Artifact<'_>> {
        match self.expect(pathspec, Part::Artifact)? {
            Object::Artifact(a) => Ok(a),
            _ => unreachable!("expect checks the kind"),
        }
    }

    fn expect(&self, pathspec: &str, expected: Part) -> Result<Object<'_>> {
        let p = parse_pathspec(pathspec)?;
        if expected == Part::Run
            && p.run.is_none()
            && let Some(record) = self.meta.run(&p.flow)?
        {
            return Ok(Object::Run(self.with_tags(record)?));
        }
        let found = kind(&p);
        if found != expected {
            return Err(ClientError::WrongKind {
                pathspec: pathspec.to_string(),
                found,
                expected,
                hint: hint(expected),
            });
        }
        self.resolve(&p)
    }

    /// The run `run_id` of flow `flow` (or `latest`, or a unique prefix of an id).
    fn find_run(&self, flow: &str, run_id: &str) -> Result<Run<'_>> {
        if run_id != "latest"
            && let Some(record) = self.meta.run(run_id)?
        {
            if record.flow == flow {
                return self.with_tags(record);
            }
            let ids = self.meta.run_ids(flow)?;
            return Err(ClientError::NotFound {
                part: Part::Run,
                name: run_id.to_string(),
                parent: format!("flow `{flow}`"),
                note: format!(
                    " (it is a run of flow `{}`: {}/{run_id})",
                    record.flow, record.flow
                ),
                choices: nearest(run_id, ids.iter().map(String::as_str), CHOICES),
                total: ids.len(),
            });
        }
        let ids = self.meta.run_ids(flow)?;
        if ids.is_empty() {
            // No run at all: the flow is what was not found.
            self.flow(flow)?;
        }
        let not_found = |choices: Vec<String>| ClientError::NotFound {
            part: Part::Run,
            name: run_id.to_string(),
            parent: format!("flow `{flow}`"),
            note: String::new(),
            choices,
            total: ids.len(),
        };
        let by_id = |id: &str| -> Result<Run<'_>> {
            match self.meta.run(id)? {
                Some(record) => self.with_tags(record),
                None => Err(not_found(Vec::new())),
            }
        };
        if run_id == "latest" {
            // The newest run of the flow, never a step-run.
            return match self.meta.latest_run(flow, None)? {
                Some(record) => self.with_tags(record),
                None => Err(not_found(Vec::new())),
            };
        }
        let matches: Vec<&String> = ids.iter().filter(|id| id.starts_with(run_id)).collect();
        match matches.as_slice() {
            [one] => by_id(one),
            [] => Err(not_found(nearest(
                run_id,
                ids.iter().map(String::as_str),
                CHOICES,
            ))),
            many => Err(ClientError::AmbiguousRun {
                flow: flow.to_string(),
                prefix: run_id.to_string(),
                matches: many.iter().take(CHOICES).map(|s| s.to_string()).collect(),
                total: many.len(),
            }),
        }
    }

    fn with_tags(&self, record: RunRecord) -> Result<Run<'_>> {
        Ok(Run {
            client: self,
            tags: self.meta.tags(&record.run_id)?,
            record,
        })
    }
}

fn hint(expected: Part) -> String {
    match expected {
        Part::Flow => "name a flow, as in `Foreach`".into(),
        Part::Run => "name a run, as in `Foreach/20261128T182550-k3f9a` (or `Foreach/latest`)".into(),
        Part::Step => "name a step, as in `Foreach/20261128T182550-k3f9a/sum`".into(),
        Part::Task => {
            "name a task, as in `Foreach/20261128T182550-k3f9a/sum/12` (`wflow show` a step lists its tasks)".into()
        }
        Part::Artifact => {
            "name an artifact, as in `Foreach/20261128T182550-k3f9a/sum/12/total` (`wflow show` a task lists its artifacts)".into()
        }
    }
}

/// A flow: the name shared by its runs.
#[derive(Clone, Debug)]
pub struct Flow<'c> {
    client: &'c Client,
    name: String,
}

impl<'c> Flow<'c> {
    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its runs, newest first (at most `limit`).
    pub fn runs(&self, limit: Option<usize>) -> Result<Vec<Run<'c>>> {
        self.client.runs(&RunFilter {
            flow: Some(self.name.clone()),
            limit,
            ..RunFilter::default()
        })
    }

    /// How many runs it has.
    pub fn run_count(&self) -> Result<u64> {
        Ok(self.client.meta.count_runs(&RunFilter {
            flow: Some(self.name.clone()),
            ..RunFilter::default()
        })?)
    }

    /// Its newest run.
    pub fn latest_run(&self) -> Result<Option<Run<'c>>> {
        self.latest(None)
    }

    /// Its newest run that succeeded.
    pub fn latest_successful_run(&self) -> Result<Option<Run<'c>>> {
        self.latest(Some(Status::Succeeded))
    }

    fn latest(&self, status: Option<Status>) -> Result<Option<Run<'c>>> {
        match self.client.meta.latest_run(&self.name, status)? {
            Some(r) => self.client.with_tags(r).map(Some),
            None => Ok(None),
        }
    }

    /// Its run `run_id` (or `latest`, or a unique prefix).
    pub fn run(&self, run_id: &str) -> Result<Run<'c>> {
        self.client.find_run(&self.name, run_id)
    }
}

/// A run of a flow.
#[derive(Clone, Debug)]
pub struct Run<'c> {
    client: &'c Client,
    record: RunRecord,
    tags: Vec<String>,
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

    /// Its task `id` (text, as in a pathspec).
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

    fn task_by_id(&self, id: &str) -> Result<Task<'c>> {
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

/// A task: one execution (or reuse) of a step.
#[derive(Clone, Debug)]
pub struct Task<'c> {
    client: &'c Client,
    flow: String,
    record: TaskRecord,
}

impl<'c> Task<'c> {
    /// The client it came from.
    pub fn client(&self) -> &'c Client {
        self.client
    }

    /// Its record, as stored.
    pub fn record(&self) -> &TaskRecord {
        &self.record
    }

    /// Its id.
    pub fn id(&self) -> u64 {
        self.record.task_id
    }

    /// Its step.
    pub fn step(&self) -> &str {
        &self.record.step
    }

    /// Its flow.
    pub fn flow(&self) -> &str {
        &self.flow
    }

    /// `Flow/run/step/task`.
    pub fn pathspec(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.flow, self.record.run_id, self.record.step, self.record.task_id
        )
    }

    /// Where it stands.
    pub fn status(&self) -> Status {
        self.record.status
    }

    /// Milliseconds from start to end (`None` while running).
    pub fn duration_ms(&self) -> Option<i64> {
        self.record.finished_ms.map(|f| f - self.record.started_ms)
    }

    /// For a task a resumed run reused: the pathspec of the task it took its outputs from.
    pub fn origin(&self) -> Option<String> {
        match (&self.record.origin_run, self.record.origin_task) {
            (Some(run), Some(task)) => {
                Some(format!("{}/{run}/{}/{task}", self.flow, self.record.step))
            }
            _ => None,
        }
    }

    /// Its attempts, in order.
    pub fn attempts(&self) -> Result<Vec<AttemptRecord>> {
        Ok(self
            .client
            .meta
            .attempts(&self.record.run_id, self.record.task_id)?)
    }

    /// The names of the secrets it was given (contract 0.2): its step's, as recorded in its
    /// run's flow spec (a run starts only when the policy grants every one, and an attempt runs
    /// only once every value is read), or none when it did not run (reused or cached). Names
    /// only: no value is ever recorded.
    pub fn secrets(&self) -> Result<Vec<String>> {
        if self.record.attempts == 0 || self.record.origin_run.is_some() {
            return Ok(Vec::new());
        }
        let run = self.client.meta.run(&self.record.run_id)?;
        let spec = run.map(|r| r.spec).unwrap_or_default();
        let secrets = spec["steps"]
            .as_array()
            .and_then(|steps| {
                steps
                    .iter()
                    .find(|s| s["name"] == self.record.step.as_str())
            })
            .and_then(|s| s["capabilities"]["secrets"].as_array())
            .map(|names| {
                names
                    .iter()
                    .filter_map(|n| n.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        Ok(secrets)
    }

    /// Its manifest: where each of its artifacts is stored.
    pub fn manifest(&self) -> Result<Manifest> {
        let (Some(digest), Some(read)) = (
            self.record.manifest,
            self.record.read_manifest(&self.client.cas),
        ) else {
            return Err(ClientError::NoArtifacts {
                task: self.pathspec(),
                reason: self.why_no_artifacts(),
            });
        };
        read.map_err(|source| ClientError::Manifest {
            task: self.pathspec(),
            digest,
            source,
        })
    }

    fn why_no_artifacts(&self) -> String {
        match self.record.status {
            Status::Running => "it is still running (or its run was killed)".into(),
            Status::Succeeded => "none were recorded".into(),
            Status::Failed => {
                let last = self.attempts().ok().and_then(|a| a.into_iter().last());
                match last.and_then(|a| a.error.map(|e| (a.attempt, e))) {
                    Some((n, e)) => format!("it failed (attempt {n}: {e})"),
                    None => "it failed".into(),
                }
            }
        }
    }

    /// Its artifacts, by name.
    pub fn artifacts(&self) -> Result<Vec<Artifact<'c>>> {
        let task = self.pathspec();
        Ok(self
            .manifest()?
            .artifacts
            .into_iter()
            .map(|(name, r)| Artifact {
                client: self.client,
                task: task.clone(),
                name,
                r,
            })
            .collect())
    }

    /// Its artifact `name`; [`ClientError::NotFound`] listing the nearest names if it has none
    /// of that name.
    pub fn artifact(&self, name: &str) -> Result<Artifact<'c>> {
        let mut manifest = self.manifest()?;
        match manifest.artifacts.remove(name) {
            Some(r) => Ok(Artifact {
                client: self.client,
                task: self.pathspec(),
                name: name.to_string(),
                r,
            }),
            None => Err(ClientError::NotFound {
                part: Part::Artifact,
                name: name.to_string(),
                parent: format!("task {}", self.pathspec()),
                note: String::new(),
                choices: nearest(name, manifest.artifacts.keys().map(String::as_str), CHOICES),
                total: manifest.artifacts.len(),
            }),
        }
    }
}

/// One artifact of a task: a name and where its value is stored.
#[derive(Clone, Debug)]
pub struct Artifact<'c> {
    client: &'c Client,
    task: String,
    name: String,
    r: ArtifactRef,
}

/// What an artifact is, without its value (for listings and JSON).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ArtifactInfo {
    /// Its name.
    pub name: String,
    /// Its size in bytes, encoded.
    pub size: u64,
    /// Its codec: `cbor`, `raw`…
    pub codec: String,
    /// The digest of its bytes.
    pub digest: Digest,
    /// Whether the value is kept inside the manifest rather than as a blob of its own.
    pub inline: bool,
}

impl Artifact<'_> {
    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `Flow/run/step/task/name`.
    pub fn pathspec(&self) -> String {
        format!("{}/{}", self.task, self.name)
    }

    /// The pathspec of its task.
    pub fn task_pathspec(&self) -> &str {
        &self.task
    }

    /// Its size in bytes, encoded.
    pub fn size(&self) -> u64 {
        self.r.size
    }

    /// Its codec: `cbor` (self-describing, decodable by [`value`](Self::value)) or `raw`.
    pub fn codec(&self) -> &str {
        &self.r.codec
    }

    /// The digest of its bytes.
    pub fn digest(&self) -> Digest {
        self.r.digest
    }

    /// Where its bytes live.
    pub fn reference(&self) -> &ArtifactRef {
        &self.r
    }

    /// Its description.
    pub fn info(&self) -> ArtifactInfo {
        ArtifactInfo {
            name: self.name.clone(),
            size: self.r.size,
            codec: self.r.codec.clone(),
            digest: self.r.digest,
            inline: self.r.is_inline(),
        }
    }

    /// Its encoded bytes, verified against its digest.
    pub fn bytes(&self) -> Result<Vec<u8>> {
        self.client
            .cas
            .get_artifact(&self.r)
            .map_err(|source| ClientError::Artifact {
                pathspec: self.pathspec(),
                source,
            })
    }

    /// A streaming reader over its bytes (verified at the end), for values too large to hold.
    pub fn reader(&self) -> Result<BlobReader> {
        self.client
            .cas
            .reader(&self.r)
            .map_err(|source| ClientError::Artifact {
                pathspec: self.pathspec(),
                source,
            })
    }

    /// Its value as JSON cut to about `budget` bytes of output (see [`preview_cbor`]
    /// (crate::preview_cbor)), for the `cbor` codec: what to show of a value that may be huge.
    pub fn preview(&self, budget: usize) -> Result<crate::Preview> {
        if self.r.codec != "cbor" {
            return self.value().map(|value| crate::Preview {
                value,
                truncated: false,
            });
        }
        crate::preview_cbor(&self.bytes()?, budget).map_err(|reason| ClientError::Decode {
            pathspec: self.pathspec(),
            reason,
        })
    }

    /// Its value as JSON, for the `cbor` codec (see [`cbor_to_json`](crate::cbor_to_json));
    /// [`ClientError::Decode`] for other codecs (read them with [`bytes`](Self::bytes)).
    pub fn value(&self) -> Result<serde_json::Value> {
        if self.r.codec != "cbor" {
            return Err(ClientError::Decode {
                pathspec: self.pathspec(),
                reason: format!(
                    "its codec is `{}`, not `cbor`: read its bytes instead",
                    self.r.codec
                ),
            });
        }
        crate::value::decode_cbor(&self.bytes()?).map_err(|reason| ClientError::Decode {
            pathspec: self.pathspec(),
            reason,
        })
    }
}
