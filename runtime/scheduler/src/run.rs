//! The run loop: the ready queue, fan-out, joins, and the run's own records.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use wflow_core::{CacheKey, ParamValue, Pathspec, RunId, Sandbox, Transition, now_millis};
use wflow_engine::{FlowComponent, InputArtifacts, TaskFailure, TaskInput};
use wflow_graph::Plan;
use wflow_metadata::{CacheEntry, Event, Recorder, ReuseReason, RunKind, Status};
use wflow_store::Cas;

use crate::budget::TaskBudget;
use crate::cached;
use crate::compute::{Attempt, Computes};
use crate::execute::{Done, Failed, Job, TaskResult, execute};
use crate::frames::{Frame, foreach_item, foreach_path, item_toward};
use crate::ready::{FANOUT_WINDOW, Fanout, Ready};
use crate::resume::{Decision, Resume, deliver, record_items};

/// Why a run could not be carried out at all (a failing task is not an error: see [`RunSummary`]).
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    /// Writing the run's records failed.
    #[error("recording the run failed")]
    Metadata(#[from] wflow_metadata::MetadataError),
    /// Storing the parameters failed.
    #[error("storing the run's parameters failed")]
    Store(#[source] wflow_store::StoreError),
    /// A worker thread died (a bug in wflow).
    #[error("a task worker crashed: {0}")]
    Worker(String),
}

/// Progress as the run goes.
#[derive(Debug)]
pub enum RunEvent<'a> {
    /// A task was started.
    TaskStarted {
        /// Its step.
        step: &'a str,
        /// Its id.
        task_id: u64,
    },
    /// A task finished.
    TaskFinished {
        /// Its step.
        step: &'a str,
        /// Its id.
        task_id: u64,
        /// Whether it succeeded.
        ok: bool,
    },
    /// A foreach declared its items: that many more tasks will run.
    FannedOut {
        /// The foreach step.
        step: &'a str,
        /// Number of items.
        items: usize,
    },
    /// An attempt failed.
    AttemptFailed {
        /// Its step.
        step: &'a str,
        /// Its task.
        task_id: u64,
        /// The attempt.
        attempt: u32,
        /// Why.
        failure: &'a TaskFailure,
        /// Whether another attempt follows.
        will_retry: bool,
    },
}

/// Receives [`RunEvent`]s (to draw progress). Called from worker threads.
pub type Observer = Arc<dyn Fn(RunEvent) + Send + Sync>;

/// Everything a run needs.
pub struct RunOptions {
    /// Tags the run carries from its start (valid tags: see `wflow_metadata::validate_tag`).
    pub tags: Vec<String>,
    /// The component that runs each step: the same one for every step of a single-component
    /// flow, or one per step for a polyglot flow.
    pub components: BTreeMap<String, FlowComponent>,
    /// The digest recorded for the run's code: the component's, or for a polyglot flow the
    /// digest of its manifest of components.
    pub code_digest: wflow_core::Digest,
    /// Its validated graph.
    pub plan: Plan,
    /// Resolved parameter values.
    pub params: BTreeMap<String, ParamValue>,
    /// The artifact store.
    pub cas: Arc<Cas>,
    /// The records.
    pub recorder: Arc<Recorder>,
    /// Tasks at once.
    pub max_workers: usize,
    /// Progress callback.
    pub observer: Observer,
    /// Who started the run.
    pub user: String,
    /// The new run's id.
    pub run_id: RunId,
    /// Each step's sandbox, as the policy resolved it.
    pub sandboxes: BTreeMap<String, Arc<Sandbox>>,
    /// Most tasks the run may make (the policy's `max_tasks_per_run`): a foreach whose items
    /// would pass it fails its task.
    pub max_tasks: u64,
    /// Folder where tasks' stdout and stderr are mirrored while they run (`None`: not mirrored).
    /// Removed when the run ends and its final logs are recorded; a killed run keeps it.
    pub live_logs: Option<PathBuf>,
    /// Where each step's attempts run (default: all in this process).
    pub compute: Computes,
    /// Take the tasks of pure steps (asking for no capability) from the cache when an earlier
    /// task read the same (see [`cached`](crate::cached)); `false` (`--no-cache`): every task
    /// runs. Tasks that run are filed in the cache either way.
    pub cache: bool,
}

/// One task of a finished run (kept for every task: a few words, its step's name shared).
#[derive(Clone, Debug)]
pub struct TaskSummary {
    /// Its step.
    pub step: Arc<str>,
    /// Its id.
    pub task_id: u64,
    /// Whether it succeeded.
    pub ok: bool,
    /// It did not run: a resumed run reused the origin's task.
    pub reused: bool,
    /// It did not run: its outputs were taken from the cache.
    pub cached: bool,
    /// Its step failed and `catch` kept the error (it counts as succeeded).
    pub caught: bool,
}

impl TaskSummary {
    /// Its pathspec, in run `run_id` of flow `flow`.
    pub fn pathspec(&self, flow: &str, run_id: &str) -> String {
        Pathspec::task(flow, run_id, &self.step, &self.task_id.to_string()).to_string()
    }
}

/// The result of a run. Serialised with each task's pathspec.
#[derive(Clone, Debug)]
pub struct RunSummary {
    /// The flow.
    pub flow: String,
    /// The run id.
    pub run_id: String,
    /// `succeeded` or `failed`.
    pub status: Status,
    /// Every task, in id order.
    pub tasks: Vec<TaskSummary>,
    /// The failure that stopped the run: pathspec, message and the task's last stderr lines.
    pub failure: Option<RunFailure>,
    /// Wall time in milliseconds.
    pub duration_ms: i64,
}

impl serde::Serialize for RunSummary {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut out = s.serialize_struct("RunSummary", 6)?;
        out.serialize_field("flow", &self.flow)?;
        out.serialize_field("run_id", &self.run_id)?;
        out.serialize_field("status", &self.status)?;
        out.serialize_field("tasks", &Tasks(self))?;
        out.serialize_field("failure", &self.failure)?;
        out.serialize_field("duration_ms", &self.duration_ms)?;
        out.end()
    }
}

/// A run's tasks, serialised each with its pathspec.
struct Tasks<'a>(&'a RunSummary);

impl serde::Serialize for Tasks<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        struct Task<'a> {
            pathspec: String,
            step: &'a str,
            task_id: u64,
            ok: bool,
            reused: bool,
            cached: bool,
            caught: bool,
        }
        let run = self.0;
        s.collect_seq(run.tasks.iter().map(|t| Task {
            pathspec: t.pathspec(&run.flow, &run.run_id),
            step: &t.step,
            task_id: t.task_id,
            ok: t.ok,
            reused: t.reused,
            cached: t.cached,
            caught: t.caught,
        }))
    }
}

/// The task failure that stopped a run.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RunFailure {
    /// The failed task's pathspec.
    pub pathspec: String,
    /// What went wrong.
    pub message: String,
    /// Its last stderr lines.
    pub stderr_tail: String,
}

pub(crate) struct Pending {
    pub(crate) task_id: u64,
    pub(crate) step: Arc<str>,
    pub(crate) inputs: Vec<(u64, InputArtifacts)>,
    pub(crate) stack: Vec<Frame>,
    /// Earlier tasks filed under its cache key, newest first (`None`: not looked up).
    pub(crate) candidates: Option<Vec<CacheEntry>>,
}

impl Pending {
    /// Its `TaskStarted` record: its input tasks are those of `inputs` but the parameters'
    /// pseudo-input (task 0).
    pub(crate) fn started(&self, run_id: &str, foreach_path: &[u32], started_ms: i64) -> Event {
        Event::TaskStarted {
            run_id: run_id.to_string(),
            task_id: self.task_id,
            step: self.step.to_string(),
            foreach_path: foreach_path.to_vec(),
            inputs: self
                .inputs
                .iter()
                .map(|(id, _)| *id)
                .filter(|id| *id != 0)
                .collect(),
            started_ms,
        }
    }
}

struct JoinWait {
    inputs: Vec<Option<(u64, InputArtifacts)>>,
    arrived: u32,
    stack: Vec<Frame>,
}

/// A running task's step, split frames and cache key.
type Running = (Arc<str>, Vec<Frame>, Option<CacheKey>);

struct State {
    flow: String,
    run_id: String,
    next_task: u64,
    ready: Ready,
    /// Each step's name, shared by its tasks.
    names: HashMap<String, Arc<str>>,
    joins: HashMap<(String, u64), JoinWait>,
    /// Each running task's step, split frames and cache key.
    running: HashMap<u64, Running>,
    /// Times each loop went back, by switch step and the splits around it.
    loops: HashMap<(String, Vec<u64>), u32>,
    tasks: Vec<TaskSummary>,
    failure: Option<RunFailure>,
    /// A step-run's target's foreach path: a foreach on the way to it makes only the item on
    /// that path (the others' tasks would all be skipped).
    only_path: Option<Vec<u32>>,
}

impl State {
    /// The shared name of step `step`.
    fn name(&mut self, step: &str) -> Arc<str> {
        if let Some(name) = self.names.get(step) {
            return name.clone();
        }
        let name: Arc<str> = step.into();
        self.names.insert(step.to_string(), name.clone());
        name
    }

    fn new_task(&mut self, step: &str, inputs: Vec<(u64, InputArtifacts)>, stack: Vec<Frame>) {
        self.next_task += 1;
        let step = self.name(step);
        self.ready.push(Pending {
            task_id: self.next_task,
            step,
            inputs,
            stack,
            candidates: None,
        });
    }

    /// Routes a finished task's output to its successor(s).
    fn advance(
        &mut self,
        plan: &Plan,
        budget: &TaskBudget,
        task_id: u64,
        step: &str,
        stack: Vec<Frame>,
        done: Done,
    ) -> Result<(), String> {
        let output = InputArtifacts {
            step: self.name(step),
            artifacts: done.artifacts,
        };
        match &plan.step(step).transition {
            Transition::End => {}
            Transition::Next(targets) if targets.len() == 1 => {
                let target = &targets[0];
                if plan.step(target).join {
                    self.arrive(target, task_id, output, stack);
                } else {
                    self.new_task(target, vec![(task_id, output)], stack);
                }
            }
            Transition::Next(targets) => {
                for (i, target) in targets.iter().enumerate() {
                    let mut s = stack.clone();
                    s.push(Frame {
                        split_task: task_id,
                        index: i as u32,
                        count: targets.len() as u32,
                        item: None,
                    });
                    self.new_task(target, vec![(task_id, output.clone())], s);
                }
            }
            Transition::Switch { max_iterations, .. } => {
                let Some(target) = done.next.as_deref() else {
                    return Err(format!("switch step `{step}` chose no successor"));
                };
                if plan.loops_back(step, target) {
                    let key = (
                        step.to_string(),
                        stack.iter().map(|f| f.split_task).collect(),
                    );
                    let looped = self.loops.entry(key).or_insert(0);
                    *looped += 1;
                    let bound = max_iterations.unwrap_or(0);
                    if *looped >= bound {
                        return Err(format!(
                            "the loop from `{step}` back to `{target}` went past its bound: \
                             `{step}` chose `{target}` again after {looped} iteration(s), and \
                             its `max_iterations` is {bound}"
                        ));
                    }
                    let body = plan.loop_of(step).map_or(1, |(_, b)| b.len());
                    budget.charge_loop(step, body)?;
                }
                if plan.step(target).join {
                    self.arrive(target, task_id, output, stack);
                } else {
                    self.new_task(target, vec![(task_id, output)], stack);
                }
            }
            Transition::Foreach(target) => {
                // One flat copy for all the items' tasks, each of which is then one node over it.
                let output = InputArtifacts {
                    artifacts: output.artifacts.flattened(),
                    ..output
                };
                let items = done.items.unwrap_or_default();
                if items.is_empty() {
                    return Err(format!(
                        "foreach step `{step}` declared no items; a foreach needs at least one item"
                    ));
                }
                // Their tasks are made as the queue runs short; their ids are taken now.
                let count = items.len() as u32;
                let first_id = self.next_task + 1;
                self.next_task += u64::from(count);
                let step = self.name(target);
                // A step-run whose target lies inside this foreach needs one of its items.
                let path = foreach_path(&stack);
                let only = self
                    .only_path
                    .as_deref()
                    .and_then(|t| item_toward(t, &path));
                let (items, next) = match only {
                    Some(i) => (items.into_iter().nth(i as usize).into_iter().collect(), i),
                    None => (items, 0),
                };
                self.ready.push_items(Fanout {
                    step,
                    input: (task_id, output),
                    stack,
                    items: items.into_iter(),
                    count,
                    first_id,
                    next,
                    candidates: None,
                });
            }
        }
        Ok(())
    }

    fn arrive(&mut self, join: &str, task_id: u64, output: InputArtifacts, mut stack: Vec<Frame>) {
        let frame = stack
            .pop()
            .expect("the graph linter guarantees a join closes an open split");
        let key = (join.to_string(), frame.split_task);
        let wait = self.joins.entry(key.clone()).or_insert_with(|| JoinWait {
            inputs: vec![None; frame.count as usize],
            arrived: 0,
            stack,
        });
        wait.inputs[frame.index as usize] = Some((task_id, output));
        wait.arrived += 1;
        if wait.arrived == frame.count {
            let wait = self.joins.remove(&key).expect("present");
            let inputs = wait
                .inputs
                .into_iter()
                .map(|i| i.expect("all arrived"))
                .collect();
            self.new_task(join, inputs, wait.stack);
        }
    }
}

/// What a finished task's handling needs of the run.
struct Cx<'a> {
    plan: &'a Plan,
    cas: &'a Arc<Cas>,
    recorder: &'a Arc<Recorder>,
    observer: &'a Observer,
    budget: &'a Arc<TaskBudget>,
    run_id: &'a str,
}

/// What the run loop waits for: a task that ran (or was reused), or a batch served from the
/// cache. Most are tasks, so the large variant is kept inline rather than boxed once per task.
#[allow(clippy::large_enum_variant)]
enum Finished {
    Task(TaskResult),
    Served(Vec<cached::Served>),
}

impl State {
    /// Records a finished task in the summary and routes its outputs on (or keeps its failure).
    async fn finish(
        &mut self,
        cx: &Cx<'_>,
        task_id: u64,
        step: Arc<str>,
        stack: Vec<Frame>,
        key: Option<CacheKey>,
        outcome: Result<Done, Failed>,
    ) {
        let ok = outcome.is_ok();
        (cx.observer)(RunEvent::TaskFinished {
            step: &step,
            task_id,
            ok,
        });
        let (reuse, caught) = match &outcome {
            Ok(done) => (done.reuse, done.caught),
            Err(_) => (None, false),
        };
        let summary = TaskSummary {
            step: step.clone(),
            task_id,
            ok,
            reused: reuse == Some(ReuseReason::Resumed),
            cached: reuse == Some(ReuseReason::Cached),
            caught,
        };
        let pathspec = summary.pathspec(&self.flow, &self.run_id);
        self.tasks.push(summary);
        let mut done = match outcome {
            Ok(done) => done,
            Err(failed) => {
                self.failure.get_or_insert(RunFailure {
                    pathspec,
                    message: failed.failure.to_string(),
                    stderr_tail: failed.stderr_tail,
                });
                return;
            }
        };
        if let Some(items) = done.items.take() {
            done.items = Some(match done.items_digest {
                // A reused or cached split's items are stored already.
                Some(digest) => {
                    cx.recorder.send(Event::ForeachItems {
                        run_id: cx.run_id.to_string(),
                        task_id,
                        items: digest,
                    });
                    items
                }
                None => {
                    let (cas, recorder, run_id) =
                        (cx.cas.clone(), cx.recorder.clone(), cx.run_id.to_string());
                    blocking(move || {
                        let _ = record_items(&cas, &recorder, &run_id, task_id, Some(&items));
                        items
                    })
                    .await
                }
            });
        }
        // Filed in the cache once its end (and items) are recorded.
        if let (Some(reads), Some(key)) = (done.reads.take(), key) {
            cx.recorder.send(Event::TaskReads {
                run_id: cx.run_id.to_string(),
                task_id,
                key,
                reads,
            });
        }
        let items = done.items.as_ref().map(Vec::len);
        // Items of a task that did not run are charged when they arrive.
        let charged = match (items, done.reuse) {
            (Some(n), Some(reason)) => cx.budget.declare(&step, n).map_err(|e| match reason {
                ReuseReason::Resumed => format!("{e} (reused from the origin run)"),
                ReuseReason::Cached => format!("{e} (taken from the cache)"),
            }),
            _ => Ok(()),
        };
        if let Err(message) =
            charged.and_then(|()| self.advance(cx.plan, cx.budget, task_id, &step, stack, done))
        {
            self.failure.get_or_insert(RunFailure {
                pathspec,
                message,
                stderr_tail: String::new(),
            });
        } else if let Some(items) = items {
            (cx.observer)(RunEvent::FannedOut { step: &step, items });
        }
    }
}

/// Runs a flow to the end (or to its first failure that is not caught) and records it.
pub async fn run_flow(opts: RunOptions) -> Result<RunSummary, SchedulerError> {
    run_loop(opts, None).await
}

/// The run loop; with `resume`, ready tasks may be reused from its origin run or skipped.
pub(crate) async fn run_loop(
    opts: RunOptions,
    mut resume: Option<&mut Resume>,
) -> Result<RunSummary, SchedulerError> {
    let started = now_millis();
    let flow = opts.plan.spec().name.clone();
    let run_id = opts.run_id.0.clone();
    let recorder = opts.recorder.clone();
    recorder.send(Event::RunStarted {
        run_id: run_id.clone(),
        flow: flow.clone(),
        component: opts.code_digest,
        params: serde_json::to_value(&opts.params).unwrap_or_default(),
        spec: serde_json::to_value(opts.plan.spec()).unwrap_or_default(),
        started_ms: started,
        origin_run: resume.as_ref().map(|r| r.origin().run_id.clone()),
        user: opts.user.clone(),
        kind: resume.as_ref().map_or(RunKind::Run, |r| r.kind()),
    });
    if !opts.tags.is_empty() {
        // Tagged at launch: the run is recorded first, so `wflow runs --tag` lists it at once.
        recorder.flush()?;
        recorder.metadata().add_tags(&run_id, &opts.tags)?;
    }
    let params = Arc::new(opts.params);
    let budget = Arc::new(TaskBudget::new(&opts.plan, opts.max_tasks));
    // A step-run runs its task whatever the cache holds.
    let caching = opts.cache && resume.as_ref().is_none_or(|r| r.kind() == RunKind::Run);
    // Each step's spec, shared by its attempts (not cloned per task).
    let step_specs: HashMap<&str, Arc<wflow_core::StepSpec>> = opts
        .plan
        .spec()
        .steps
        .iter()
        .map(|s| (s.name.as_str(), Arc::new(s.clone())))
        .collect();
    let steps = cached::Steps {
        components: &opts.components,
        sandboxes: &opts.sandboxes,
        plan: &opts.plan,
    };
    let mut st = State {
        flow: flow.clone(),
        run_id: run_id.clone(),
        next_task: 0,
        ready: Ready::default(),
        names: HashMap::new(),
        joins: HashMap::new(),
        running: HashMap::new(),
        loops: HashMap::new(),
        tasks: Vec::new(),
        failure: None,
        only_path: resume
            .as_ref()
            .and_then(|r| r.target_path())
            .map(<[u32]>::to_vec),
    };
    // Like Metaflow, parameters are artifacts too: `start` inherits them from a pseudo-input
    // (step `_parameters`, task 0), and every later step inherits them by reference.
    let seed = blocking({
        let (cas, params) = (opts.cas.clone(), params.clone());
        move || parameter_artifacts(&cas, &params)
    })
    .await
    .map_err(SchedulerError::Store)?;
    st.new_task(opts.plan.start(), vec![(0, seed)], vec![]);
    let mut workers: tokio::task::JoinSet<Finished> = tokio::task::JoinSet::new();
    // Tasks running (or being reused): served tasks hold no worker slot.
    let mut executing = 0usize;
    let max_workers = opts.max_workers.max(1);
    let cx = Cx {
        plan: &opts.plan,
        cas: &opts.cas,
        recorder: &recorder,
        observer: &opts.observer,
        budget: &budget,
        run_id: &run_id,
    };

    // Tasks made from a foreach's items at a time (see `ready`): enough for every worker.
    let window = FANOUT_WINDOW.max(2 * max_workers);
    loop {
        if caching {
            for fanout in st.ready.unlooked_items() {
                // A resume reuses the origin's tasks of this step: looking them up in the cache
                // too read a kilobyte of records per item for nothing.
                if resume.as_ref().is_some_and(|r| r.may_reuse(&fanout.step)) {
                    fanout.candidates = Some(vec![Vec::new(); fanout.items.len()].into_iter());
                    continue;
                }
                cached::look_up_items(fanout, &steps, &recorder).await;
            }
        }
        st.ready.refill(window);
        // Only the newest tasks: scanning the whole queue each turn made wide runs quadratic.
        if caching && st.ready.unlooked > 0 {
            let from = st.ready.made().len().saturating_sub(st.ready.unlooked);
            cached::look_up(st.ready.made(), from, &steps, &recorder).await;
        }
        st.ready.unlooked = 0;
        // This turn's cache hits, served together below.
        let mut hits: Vec<cached::Hit> = Vec::new();
        while st.failure.is_none() && executing < max_workers {
            let Some(first) = st.ready.pop_front() else {
                break;
            };
            let compute = opts.compute.for_step(opts.plan.step(&first.step)).clone();
            // Siblings of one foreach (same step, same split, same inputs) go to the backend
            // together, so it can launch them as one unit.
            let room = compute.max_group().min(max_workers - executing).max(1);
            let mut group = vec![first];
            while group.len() < room
                && st
                    .ready
                    .front()
                    .is_some_and(|next| siblings(&group[0], next))
            {
                group.push(st.ready.pop_front().expect("checked"));
            }
            let mut fresh: Vec<Attempt> = Vec::new();
            for mut p in group {
                let decision = match resume.as_mut() {
                    Some(r) => Some(
                        r.decide(
                            &opts.cas,
                            p.task_id,
                            &p.step,
                            &foreach_path(&p.stack),
                            &mut p.inputs,
                        )
                        .await,
                    ),
                    None => None,
                };
                let reuse = match decision {
                    Some(Decision::Skip) => continue,
                    Some(Decision::Reuse(reused)) => Some(reused),
                    _ => None,
                };
                let spec = opts.plan.step(&p.step);
                let input = TaskInput {
                    flow: flow.clone(),
                    run_id: run_id.clone(),
                    step: p.step.to_string(),
                    task_id: p.task_id,
                    attempt: 0,
                    params: params.clone(),
                    foreach_path: foreach_path(&p.stack),
                    foreach_item: foreach_item(&p.stack),
                    inputs: p.inputs.iter().map(|(_, i)| i.clone()).collect(),
                    join: spec.join,
                    is_foreach: matches!(spec.transition, Transition::Foreach(_)),
                    choices: spec.transition.choices().to_vec(),
                    secrets: Default::default(),
                    sandbox: opts.sandboxes.get(&*p.step).cloned().unwrap_or_default(),
                    live_logs: opts.live_logs.clone(),
                };
                let hit = match (&reuse, p.candidates.as_deref()) {
                    (None, Some(found)) if !found.is_empty() => cached::pick(found, &input),
                    _ => None,
                };
                if let Some(entry) = hit {
                    // Recorded as started when it is served (or, if it cannot be, runs).
                    hits.push(cached::Hit {
                        component: opts.components[&*p.step].digest(),
                        started_ms: now_millis(),
                        pending: p,
                        entry,
                        input,
                    });
                    continue;
                }
                let key = cached::key_of(&steps, &p);
                recorder.send(p.started(&run_id, &input.foreach_path, now_millis()));
                (opts.observer)(RunEvent::TaskStarted {
                    step: &p.step,
                    task_id: p.task_id,
                });
                st.running.insert(p.task_id, (p.step.clone(), p.stack, key));
                let component = opts.components[&*p.step].clone();
                if let Some(reused) = reuse {
                    executing += 1;
                    let delivered = deliver(*reused, recorder.clone(), run_id.clone(), p.task_id);
                    workers.spawn(async move { Finished::Task(delivered.await) });
                    continue;
                }
                recorder.send(Event::AttemptStarted {
                    run_id: run_id.clone(),
                    task_id: p.task_id,
                    attempt: 0,
                    started_ms: now_millis(),
                });
                fresh.push(Attempt {
                    component,
                    input,
                    step: step_specs[&*p.step].clone(),
                });
            }
            if fresh.is_empty() {
                continue;
            }
            let launched = compute.start(&opts.cas, fresh.clone()).await;
            for (attempt, first) in fresh.into_iter().zip(launched) {
                executing += 1;
                let job = execute(Job {
                    compute: compute.clone(),
                    cas: opts.cas.clone(),
                    recorder: recorder.clone(),
                    attempt,
                    first: Some(first),
                    notify: opts.observer.clone(),
                    budget: budget.clone(),
                });
                workers.spawn(async move { Finished::Task(job.await) });
            }
        }
        // A few blocking calls for the whole turn's hits, not one per task (issue 15: serving a
        // 10,000-task run one task per thread hand-off cost as much as running it).
        let mut hits = hits.into_iter().peekable();
        while hits.peek().is_some() {
            let batch = hits.by_ref().take(cached::SERVE_BATCH).collect();
            let served = cached::serve_all(batch, opts.cas.clone(), recorder.clone());
            workers.spawn(async move { Finished::Served(served.await) });
        }
        // Tasks still to be made from a foreach's items, and room to start them: made (and
        // looked up in the cache) before waiting for a task to end.
        if st.failure.is_none() && executing < max_workers && st.ready.has_later() {
            continue;
        }
        let Some(joined) = workers.join_next().await else {
            break;
        };
        match joined.map_err(|e| SchedulerError::Worker(e.to_string()))? {
            Finished::Task(TaskResult { task_id, outcome }) => {
                executing -= 1;
                let (step, stack, key) = st
                    .running
                    .remove(&task_id)
                    .expect("every running task is tracked");
                st.finish(&cx, task_id, step, stack, key, outcome).await;
            }
            Finished::Served(served) => {
                for s in served {
                    let p = s.pending;
                    match s.outcome {
                        Ok(done) => {
                            (opts.observer)(RunEvent::TaskStarted {
                                step: &p.step,
                                task_id: p.task_id,
                            });
                            st.finish(&cx, p.task_id, p.step, p.stack, None, Ok(done))
                                .await;
                        }
                        // Its earlier outputs could not be taken: it runs after all.
                        Err(()) => st.ready.push_front(Pending {
                            candidates: Some(Vec::new()),
                            ..p
                        }),
                    }
                }
            }
        }
    }

    let status = if st.failure.is_none() {
        Status::Succeeded
    } else {
        Status::Failed
    };
    let finished = now_millis();
    recorder.send(Event::RunFinished {
        run_id: run_id.clone(),
        status,
        finished_ms: finished,
        error: st.failure.as_ref().map(|f| {
            let message = wflow_core::bounded(&f.message, wflow_core::MAX_MESSAGE_CHARS);
            format!("{}: {message}", f.pathspec)
        }),
    });
    blocking({
        let recorder = recorder.clone();
        move || recorder.flush()
    })
    .await?;
    if let Some(dir) = &opts.live_logs {
        // Every attempt's final logs are recorded: the live copies are no longer needed.
        let _ = std::fs::remove_dir_all(dir);
    }
    st.tasks.sort_by_key(|t| t.task_id);
    Ok(RunSummary {
        flow,
        run_id,
        status,
        tasks: st.tasks,
        failure: st.failure,
        duration_ms: finished - started,
    })
}

/// Runs synchronous store or records I/O on a blocking thread, never on the run loop's async
/// worker: a synchronous backend (S3, the metadata service) must not block the scheduler, and
/// the S3 store waits on its own runtime, which an async worker's cooperative budget must not
/// starve.
pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(out) => out,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// Whether `b` may be launched together with `a`: tasks of the same step opened by the same
/// foreach split, reading the same inputs.
fn siblings(a: &Pending, b: &Pending) -> bool {
    a.step == b.step
        && matches!((a.stack.last(), b.stack.last()),
            (Some(x), Some(y)) if x.item.is_some() && x.split_task == y.split_task)
        && a.inputs.len() == b.inputs.len()
        && a.inputs.iter().zip(&b.inputs).all(|(x, y)| x.0 == y.0)
}

/// The run's parameters as CBOR artifacts: the input of `start` (step `_parameters`, task 0).
pub fn parameter_artifacts(
    cas: &Cas,
    params: &BTreeMap<String, ParamValue>,
) -> Result<InputArtifacts, wflow_store::StoreError> {
    let mut artifacts = BTreeMap::new();
    for (name, value) in params {
        let mut bytes = Vec::new();
        ciborium::into_writer(value, &mut bytes).expect("parameter values encode as CBOR");
        artifacts.insert(name.clone(), cas.put_artifact(&bytes, "cbor")?);
    }
    Ok(InputArtifacts {
        step: "_parameters".into(),
        artifacts: artifacts.into(),
    })
}
