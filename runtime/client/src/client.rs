//! [`Client`] and what a pathspec names ([`Object`]); the flows it hands out ([`Flow`]). Runs and
//! steps are in `run.rs`, tasks and artifacts in `task.rs`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use wflow_core::Pathspec;
use wflow_metadata::{Metadata, MetadataStore, RunFilter, RunRecord, Status};
use wflow_store::{Cas, LocalDisk};

use crate::nearest::{CHOICES, nearest};
use crate::pathspec::{kind, parse_pathspec};
use crate::{Artifact, ClientError, Part, Result, Run, Step, Task};

/// The metadata file inside a store directory.
pub const METADATA_FILE: &str = "metadata.sqlite";

/// Read access to the runs of one store: its metadata records and its content-addressed blobs.
///
/// Cheap to share between threads. Every object it hands out borrows it.
pub struct Client {
    pub(crate) meta: Arc<dyn MetadataStore>,
    pub(crate) cas: Cas,
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
    pub(crate) fn find_run(&self, flow: &str, run_id: &str) -> Result<Run<'_>> {
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

    pub(crate) fn with_tags(&self, record: RunRecord) -> Result<Run<'_>> {
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
