//! Resuming a run: a new run that reuses the successful tasks of an earlier one (its *origin*)
//! and runs the rest; and re-running one task of a past run on the same inputs (`step-run`).
//!
//! # How a task is matched
//!
//! A task is identified across runs by its step and its foreach path (its index in every
//! enclosing foreach): in a valid graph that pair names exactly one task of a run. A task of the
//! new run takes the outputs of the origin's task with the same pair — by pointing at that task's
//! manifest, no data copied — when all of these hold:
//!
//! - its step is not re-run: with `--from STEP`, that step and every step after it are re-run;
//!   without, every step after a step that failed (the failed tasks themselves have no successful
//!   origin task, so they run; their successful siblings in a foreach are reused, unless the
//!   step's component changed: then the whole step runs again);
//! - with `--strict` only: its step's component (and that of every step before it) is the one
//!   the origin ran; without, the steps before the first step to re-run are reused whatever the
//!   code, as Metaflow does (a resume after a code fix reuses the work before the fix). Each step
//!   counts its own component: in a polyglot flow, a change to one language's component is a
//!   change to its steps only (see [`Code`]);
//! - the origin task succeeded, and its inputs were the origin tasks whose outputs the new task's
//!   inputs reused (so it would see exactly what it saw then);
//! - for a foreach split, its items were recorded (so the new run can fan out without it).
//!
//! Anything else runs. A task that is reused is recorded with [`Event::TaskReused`] (its origin
//! run and task, no attempt, and the digest of the component that computed its outputs).
//!
//! # Parameters
//!
//! A resumed run has the origin's parameters unless some are given again. Reused tasks keep the
//! outputs they computed with the origin's values; tasks that run see the new values, both
//! through `context.parameter` and as the parameter artifacts they inherit.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use wflow_core::{Digest, FlowSpec, ParamError, ParamType, ParamValue, now_millis, parse_param};
use wflow_engine::{InputArtifacts, Value};
use wflow_graph::Plan;
use wflow_metadata::{Event, Recorder, RunKind, RunRecord, Status, TaskRecord};
use wflow_store::{ArtifactRef, Cas};

use crate::code::Code;
use crate::execute::{Done, TaskResult};
use crate::run::{RunOptions, RunSummary, SchedulerError, blocking, parameter_artifacts, run_loop};

/// Why a resume (or step-run) cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ResumeError {
    /// The origin run is still running.
    #[error(
        "run {run} is still running (its record has no end): resume it once it has ended; if its \
         process is gone (killed), resume it anyway with --force"
    )]
    StillRunning {
        /// `Flow/run`.
        run: String,
    },
    /// The origin run succeeded and no step was named.
    #[error(
        "run {run} succeeded: there is nothing to resume; to run steps again, name the first one \
         with --from STEP (its steps: {steps})"
    )]
    NothingToResume {
        /// `Flow/run`.
        run: String,
        /// The flow's steps, in order.
        steps: String,
    },
    /// The component is of another flow.
    #[error(
        "the component is flow `{component_flow}`, but run {run} is a run of flow `{run_flow}`: \
         resume it with a component of `{run_flow}`"
    )]
    OtherFlow {
        /// `Flow/run`.
        run: String,
        /// The origin's flow.
        run_flow: String,
        /// The component's flow.
        component_flow: String,
    },
    /// `--from` names no step of the flow.
    #[error("flow `{flow}` has no step `{step}` to resume from; its steps: {steps}")]
    UnknownStep {
        /// The flow.
        flow: String,
        /// The name given.
        step: String,
        /// The flow's steps, in order.
        steps: String,
    },
    /// For step-run: the new component's graph puts the step elsewhere.
    #[error("step `{step}` of run {run} cannot be re-run with this component: {reason}")]
    Incompatible {
        /// `Flow/run`.
        run: String,
        /// The step.
        step: String,
        /// What differs.
        reason: String,
    },
}

/// One task of the new run that reused an origin task.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ReusedTask {
    /// Its id in the new run.
    pub task_id: u64,
    /// Its step.
    pub step: String,
    /// The origin task it took its outputs from.
    pub origin_task: u64,
    /// The component that computed those outputs, when known.
    pub component: Option<Digest>,
}

/// What a resume did, besides the run itself.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ResumeReport {
    /// The run resumed.
    pub origin_run: String,
    /// Steps of the origin with a task that failed (or never ended), in graph order: their
    /// failed tasks run again, their successful ones are reused.
    pub failed_steps: Vec<String>,
    /// Steps whose every task runs again: `--from` and the steps after it, or the steps after a
    /// failed step; in graph order. (Other tasks run too when they have no successful origin
    /// task.)
    pub rerun_steps: Vec<String>,
    /// Tasks reused, in the order they were.
    pub reused: Vec<ReusedTask>,
    /// When the code differs from the origin's: `(origin's, new)` as the runs record it.
    pub code_changed: Option<(Digest, Digest)>,
    /// Steps whose component differs from the one that ran them in the origin, in graph order.
    pub changed_steps: Vec<String>,
    /// `--strict`: tasks of a step whose code (or an earlier step's) changed are not reused.
    pub strict: bool,
    /// The steps whose origin tasks are to be reused (those not run again), in graph order, and
    /// how many successful tasks they have in the origin.
    pub reusing_steps: Vec<String>,
    /// How many successful origin tasks `reusing_steps` have.
    pub reusing_tasks: usize,
    /// The components that computed the tasks of `reusing_steps` in the origin, each once.
    pub reusing_code: Vec<Digest>,
    /// Parameters whose value differs from the origin's.
    pub params_changed: Vec<String>,
    /// Tasks that could have been reused but were run, and why.
    pub notes: Vec<String>,
}

enum Mode {
    Resume,
    StepRun { step: String, path: Vec<u32> },
}

/// A resume in the making: what to reuse, decided task by task as the new run goes.
pub struct Resume {
    mode: Mode,
    origin: RunRecord,
    plan: Plan,
    /// Steps whose tasks always run.
    rerun: BTreeSet<String>,
    /// For step-run: the steps the target depends on.
    ancestors: BTreeSet<String>,
    /// The component that ran each step in the origin.
    origin_code: Code,
    /// Successful origin tasks with a manifest, by (step, foreach path): several for the
    /// iterations of a loop, told apart by their inputs.
    by_key: HashMap<(String, Vec<u32>), Vec<TaskRecord>>,
    /// Origin task → the step that took its output (how a switch's choice is known again).
    next_of: HashMap<u64, String>,
    /// New task id → the origin task it reused.
    origin_of: HashMap<u64, u64>,
    /// Parameter artifacts to replace in the inputs of tasks that run: name → (origin's
    /// digest, new reference).
    overlay: Vec<(String, Digest, ArtifactRef)>,
    report: ResumeReport,
}

impl std::fmt::Debug for Resume {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resume")
            .field("origin", &self.origin.run_id)
            .field("rerun", &self.rerun)
            .finish_non_exhaustive()
    }
}

pub(crate) enum Decision {
    Run,
    Skip,
    Reuse(Reused),
}

pub(crate) struct Reused {
    origin_run: String,
    origin_task: u64,
    component: Option<Digest>,
    manifest: Digest,
    /// The manifest's bytes when the origin's records keep them (store layout 2): the new
    /// run's records keep them too.
    manifest_bytes: Option<Vec<u8>>,
    artifacts: Arc<BTreeMap<String, ArtifactRef>>,
    items: Option<Vec<Value>>,
    /// A switch's choice.
    next: Option<String>,
}

fn pathspec(run: &RunRecord) -> String {
    format!("{}/{}", run.flow, run.run_id)
}

fn steps_text(plan: &Plan) -> String {
    plan.steps_in_order().join(", ")
}

/// The steps reachable from `from` (itself included), not going back round loops.
fn downstream(plan: &Plan, from: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut queue = VecDeque::from([from.to_string()]);
    while let Some(step) = queue.pop_front() {
        if seen.insert(step.clone()) {
            for t in plan.step(&step).transition.targets() {
                if !plan.loops_back(&step, t) {
                    queue.push_back(t.to_string());
                }
            }
        }
    }
    seen
}

/// The steps `to` depends on (itself excluded).
fn upstream(plan: &Plan, to: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut queue: VecDeque<String> = plan.predecessors(to).iter().cloned().collect();
    while let Some(step) = queue.pop_front() {
        if seen.insert(step.clone()) {
            queue.extend(plan.predecessors(&step).iter().cloned());
        }
    }
    seen
}

/// How to resume (the options of `wflow resume`).
#[derive(Clone, Debug, Default)]
pub struct ResumeHow {
    /// The first step to run again (with every step after it); without it, the steps after the
    /// origin's failed steps run again, and its failed tasks.
    pub from: Option<String>,
    /// Resume a run still recorded as running (its process died); its running tasks count as
    /// failed.
    pub force: bool,
    /// Reuse no task whose step's code, or an earlier step's, changed since the origin.
    pub strict: bool,
}

impl Resume {
    /// Plans resuming `origin` (whose tasks are `origin_tasks`, run with `origin_code`) with
    /// `code`, whose validated graph is `plan`.
    pub fn plan(
        origin: RunRecord,
        origin_tasks: Vec<TaskRecord>,
        plan: Plan,
        code: &Code,
        origin_code: Code,
        how: &ResumeHow,
    ) -> Result<Resume, ResumeError> {
        let run = pathspec(&origin);
        if plan.spec().name != origin.flow {
            return Err(ResumeError::OtherFlow {
                run,
                run_flow: origin.flow.clone(),
                component_flow: plan.spec().name.clone(),
            });
        }
        if origin.status == Status::Running && !how.force {
            return Err(ResumeError::StillRunning { run });
        }
        let mut rerun = BTreeSet::new();
        let failed: BTreeSet<String> = origin_tasks
            .iter()
            .filter(|t| t.status != Status::Succeeded)
            .map(|t| t.step.clone())
            .filter(|s| plan.spec().step(s).is_some())
            .collect();
        let changed: BTreeSet<&str> = plan
            .steps_in_order()
            .iter()
            .filter(|s| origin_code.of_step(s) != code.of_step(s))
            .map(String::as_str)
            .collect();
        match how.from.as_deref() {
            Some(step) => {
                if plan.spec().step(step).is_none() {
                    return Err(ResumeError::UnknownStep {
                        flow: origin.flow.clone(),
                        step: step.to_string(),
                        steps: steps_text(&plan),
                    });
                }
                rerun = downstream(&plan, step);
            }
            None => {
                if origin.status == Status::Succeeded {
                    return Err(ResumeError::NothingToResume {
                        run,
                        steps: steps_text(&plan),
                    });
                }
                for step in &failed {
                    // A failed step whose code changed runs whole: its successful tasks were
                    // computed by the code that was fixed.
                    let keep_self = !changed.contains(step.as_str());
                    rerun.extend(
                        downstream(&plan, step)
                            .into_iter()
                            .filter(|s| !keep_self || s != step),
                    );
                }
                // A loop re-enters at its failed iteration: the steps of a loop that failed are
                // reused task by task while their inputs are the origin's (the iterations before
                // the failure), and run from the failed task on.
                for (_, body) in plan.loops() {
                    if body.iter().any(|s| failed.contains(s)) {
                        rerun.retain(|s| !body.contains(s) || changed.contains(s.as_str()));
                    }
                }
            }
        }
        if how.strict {
            for step in &changed {
                rerun.extend(downstream(&plan, step));
            }
        }
        let in_order = |set: &dyn Fn(&str) -> bool| -> Vec<String> {
            plan.steps_in_order()
                .iter()
                .filter(|s| set(s))
                .cloned()
                .collect()
        };
        let reusing_steps = in_order(&|s| !rerun.contains(s));
        let next_of = successors(&origin_tasks);
        let reusable = index(origin_tasks);
        let reusing_tasks = reusable
            .iter()
            .filter(|((step, _), _)| reusing_steps.contains(step))
            .map(|(_, tasks)| tasks.len())
            .sum();
        let mut reusing_code = Vec::new();
        for step in &reusing_steps {
            if let Some(d) = origin_code.of_step(step)
                && !reusing_code.contains(&d)
            {
                reusing_code.push(d);
            }
        }
        let report = ResumeReport {
            origin_run: origin.run_id.clone(),
            rerun_steps: in_order(&|s| rerun.contains(s)),
            failed_steps: in_order(&|s| failed.contains(s)),
            code_changed: (origin.component != code.digest)
                .then_some((origin.component, code.digest)),
            changed_steps: in_order(&|s| changed.contains(s)),
            strict: how.strict,
            reusing_steps,
            reusing_tasks,
            reusing_code,
            ..ResumeReport::default()
        };
        Ok(Resume {
            mode: Mode::Resume,
            by_key: reusable,
            next_of,
            origin,
            plan,
            rerun,
            ancestors: BTreeSet::new(),
            origin_code,
            origin_of: HashMap::new(),
            overlay: Vec::new(),
            report,
        })
    }

    /// Plans re-running task `target` of `origin` on the inputs it had: the tasks it depends on
    /// are reused (whatever the component: their outputs are its inputs), it runs, and nothing
    /// else does. `plan` is the graph of the component to run it with.
    pub fn plan_step_run(
        origin: RunRecord,
        origin_tasks: Vec<TaskRecord>,
        plan: Plan,
        code: &Code,
        origin_code: Code,
        target: &TaskRecord,
    ) -> Result<Resume, ResumeError> {
        let run = pathspec(&origin);
        if plan.spec().name != origin.flow {
            return Err(ResumeError::OtherFlow {
                run,
                run_flow: origin.flow.clone(),
                component_flow: plan.spec().name.clone(),
            });
        }
        let step = target.step.clone();
        let incompatible = |reason: String| ResumeError::Incompatible {
            run: run.clone(),
            step: step.clone(),
            reason,
        };
        if plan.spec().step(&step).is_none() {
            return Err(incompatible(format!(
                "it has no step `{step}` (its steps: {})",
                steps_text(&plan)
            )));
        }
        if let Ok(old_spec) = serde_json::from_value::<FlowSpec>(origin.spec.clone())
            && let Ok(old_plan) = wflow_graph::validate(&old_spec)
        {
            let shape = |p: &Plan| -> (Vec<String>, Vec<String>) {
                let preds = p.predecessors(&step).to_vec();
                let stack = p
                    .stack(&step)
                    .iter()
                    .map(|f| format!("{} at {}", f.kind, f.split))
                    .collect();
                (preds, stack)
            };
            if shape(&old_plan) != shape(&plan) {
                return Err(incompatible(
                    "its place in the graph changed (other inputs or enclosing splits)".into(),
                ));
            }
        }
        let ancestors = upstream(&plan, &step);
        let report = ResumeReport {
            origin_run: origin.run_id.clone(),
            rerun_steps: vec![step.clone()],
            code_changed: (origin.component != code.digest)
                .then_some((origin.component, code.digest)),
            ..ResumeReport::default()
        };
        Ok(Resume {
            mode: Mode::StepRun {
                step,
                path: target.foreach_path.clone(),
            },
            next_of: successors(&origin_tasks),
            by_key: index(origin_tasks),
            origin,
            plan,
            rerun: BTreeSet::new(),
            ancestors,
            origin_code,
            origin_of: HashMap::new(),
            overlay: Vec::new(),
            report,
        })
    }

    /// The run resumed.
    pub fn origin(&self) -> &RunRecord {
        &self.origin
    }

    /// What the new run is recorded as: a run of the flow, or a step-run (never the flow's
    /// latest run).
    pub fn kind(&self) -> RunKind {
        match self.mode {
            Mode::Resume => RunKind::Run,
            Mode::StepRun { .. } => RunKind::StepRun,
        }
    }

    /// What was reused and re-run so far (complete once the run has ended).
    pub fn report(&self) -> &ResumeReport {
        &self.report
    }

    /// Decides about one ready task of the new run.
    pub(crate) async fn decide(
        &mut self,
        cas: &Arc<Cas>,
        task_id: u64,
        step: &str,
        path: &[u32],
        inputs: &mut [(u64, InputArtifacts)],
    ) -> Decision {
        let may_reuse = match &self.mode {
            Mode::Resume => !self.rerun.contains(step),
            Mode::StepRun {
                step: target,
                path: target_path,
            } => {
                let compatible = path.iter().zip(target_path).all(|(a, b)| a == b);
                if step == target {
                    if path != target_path.as_slice() {
                        return Decision::Skip;
                    }
                    false
                } else if self.ancestors.contains(step) && compatible {
                    true
                } else {
                    return Decision::Skip;
                }
            }
        };
        if may_reuse && let Some(reused) = self.try_reuse(cas, task_id, step, path, inputs).await {
            return Decision::Reuse(reused);
        }
        self.apply_overlay(inputs);
        Decision::Run
    }

    /// Reads the origin task's items and manifest on a blocking thread (see [`blocking`]).
    async fn try_reuse(
        &mut self,
        cas: &Arc<Cas>,
        task_id: u64,
        step: &str,
        path: &[u32],
        inputs: &[(u64, InputArtifacts)],
    ) -> Option<Reused> {
        // Its inputs must be the origin tasks that this task's inputs reused.
        let mut mine = Vec::new();
        for (id, _) in inputs.iter().filter(|(id, _)| *id != 0) {
            mine.push(*self.origin_of.get(id)?);
        }
        mine.sort_unstable();
        let origin = self
            .by_key
            .get(&(step.to_string(), path.to_vec()))?
            .iter()
            .find(|o| {
                let mut theirs = o.inputs.clone();
                theirs.sort_unstable();
                mine == theirs
            })?;
        // A switch's choice is the step that took its output in the origin: none, no reuse.
        let next = if self.plan.step(step).transition.choices().is_empty() {
            None
        } else {
            Some(self.next_of.get(&origin.task_id)?.clone())
        };
        let pathspec = format!(
            "{}/{}/{step}/{}",
            self.origin.flow, self.origin.run_id, origin.task_id
        );
        let items = if self.plan.opens(step) == Some(wflow_graph::SplitKind::Foreach) {
            let Some(digest) = origin.foreach_items else {
                self.report.notes.push(format!(
                    "{pathspec} ran again: its foreach items were not recorded (a run of an older wflow)"
                ));
                return None;
            };
            let cas = cas.clone();
            match blocking(move || read_items(&cas, &digest)).await {
                Ok(items) => Some(items),
                Err(e) => {
                    self.report.notes.push(format!(
                        "{pathspec} ran again: its foreach items cannot be read: {e}"
                    ));
                    return None;
                }
            }
        } else {
            None
        };
        let (manifest, origin_task) = (origin.manifest?, origin.task_id);
        let manifest_bytes = origin.manifest_bytes.clone();
        let read = {
            let (cas, origin) = (cas.clone(), origin.clone());
            blocking(move || {
                let m = origin
                    .read_manifest(&cas)
                    .expect("a manifest is recorded")?;
                refresh_reused(&cas, &origin, &m);
                Ok::<_, wflow_store::StoreError>(m)
            })
            .await
        };
        let artifacts = match read {
            Ok(m) => m.artifacts,
            Err(e) => {
                self.report.notes.push(format!(
                    "{pathspec} ran again: its outputs cannot be read: {e}"
                ));
                return None;
            }
        };
        // What computed the outputs: the origin's component for the step, or, for a task the
        // origin itself reused, what its record says.
        let component = if origin.is_reused() {
            origin.component
        } else {
            self.origin_code.of_step(step)
        };
        self.origin_of.insert(task_id, origin_task);
        self.report.reused.push(ReusedTask {
            task_id,
            step: step.to_string(),
            origin_task,
            component,
        });
        Some(Reused {
            origin_run: self.origin.run_id.clone(),
            origin_task,
            component,
            manifest,
            manifest_bytes,
            artifacts: Arc::new(artifacts),
            items,
            next,
        })
    }

    /// Replaces, in the inputs of a task that runs, parameter artifacts still holding the
    /// origin's value by the new value.
    fn apply_overlay(&self, inputs: &mut [(u64, InputArtifacts)]) {
        if self.overlay.is_empty() {
            return;
        }
        for (_, input) in inputs.iter_mut() {
            let stale = self
                .overlay
                .iter()
                .any(|(name, old, _)| input.artifacts.get(name).is_some_and(|r| r.digest == *old));
            if !stale {
                continue;
            }
            let mut artifacts = (*input.artifacts).clone();
            for (name, old, new) in &self.overlay {
                if artifacts.get(name).is_some_and(|r| r.digest == *old) {
                    artifacts.insert(name.clone(), new.clone());
                }
            }
            input.artifacts = Arc::new(artifacts);
        }
    }
}

fn index(tasks: Vec<TaskRecord>) -> HashMap<(String, Vec<u32>), Vec<TaskRecord>> {
    let mut by_key: HashMap<_, Vec<TaskRecord>> = HashMap::new();
    for t in tasks
        .into_iter()
        .filter(|t| t.status == Status::Succeeded && t.manifest.is_some())
    {
        by_key
            .entry((t.step.clone(), t.foreach_path.clone()))
            .or_default()
            .push(t);
    }
    by_key
}

/// Each origin task's successor step, from the tasks that read it (for a switch, its choice).
fn successors(tasks: &[TaskRecord]) -> HashMap<u64, String> {
    tasks
        .iter()
        .flat_map(|t| t.inputs.iter().map(|&i| (i, t.step.clone())))
        .collect()
}

/// The values of a resumed run's parameters: the origin's (`origin_params`, as recorded),
/// overridden by `given` (name, text) pairs, typed by the component's `spec`; a parameter new
/// in the spec takes its default.
pub fn resume_params(
    spec: &FlowSpec,
    origin_params: &serde_json::Value,
    given: &[(String, String)],
) -> Result<BTreeMap<String, ParamValue>, ParamError> {
    let mut out = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for (name, text) in given {
        let Some(p) = spec.parameters.iter().find(|p| &p.name == name) else {
            let known: Vec<&str> = spec.parameters.iter().map(|p| p.name.as_str()).collect();
            let known = if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            };
            return Err(ParamError::Unknown {
                name: name.clone(),
                known,
            });
        };
        if !seen.insert(name.clone()) {
            return Err(ParamError::Duplicate(name.clone()));
        }
        out.insert(name.clone(), parse_param(name, p.ty, text)?);
    }
    for p in &spec.parameters {
        if out.contains_key(&p.name) {
            continue;
        }
        let recorded = origin_params.get(&p.name).and_then(|v| typed(p.ty, v));
        let value = match (recorded, &p.default) {
            (Some(v), _) => v,
            (None, Some(d)) => parse_param(&p.name, p.ty, d)?,
            (None, None) => {
                return Err(ParamError::Missing {
                    name: p.name.clone(),
                    ty: p.ty,
                });
            }
        };
        out.insert(p.name.clone(), value);
    }
    Ok(out)
}

/// A recorded JSON value as a parameter of type `ty` (`None` if it does not fit the type).
fn typed(ty: ParamType, v: &serde_json::Value) -> Option<ParamValue> {
    Some(match ty {
        ParamType::String => ParamValue::String(v.as_str()?.to_string()),
        ParamType::Int => ParamValue::Int(v.as_i64()?),
        ParamType::Float => ParamValue::Float(v.as_f64()?),
        ParamType::Bool => ParamValue::Bool(v.as_bool()?),
        ParamType::Json => ParamValue::Json(v.clone()),
    })
}

/// Runs the resumed run (or the step-run) `resume` planned; `opts.params` are its parameter
/// values (see [`resume_params`]). The run is recorded with its origin; what was reused is in
/// [`Resume::report`] afterwards.
pub async fn resume_flow(
    opts: RunOptions,
    resume: &mut Resume,
) -> Result<RunSummary, SchedulerError> {
    let origin_params: BTreeMap<String, ParamValue> = opts
        .plan
        .spec()
        .parameters
        .iter()
        .filter_map(|p| {
            let v = resume
                .origin
                .params
                .get(&p.name)
                .and_then(|v| typed(p.ty, v))?;
            Some((p.name.clone(), v))
        })
        .collect();
    let (old, new) = blocking({
        let (cas, params) = (opts.cas.clone(), opts.params.clone());
        move || {
            Ok((
                parameter_artifacts(&cas, &origin_params)?,
                parameter_artifacts(&cas, &params)?,
            ))
        }
    })
    .await
    .map_err(SchedulerError::Store)?;
    for (name, r) in new.artifacts.iter() {
        match old.artifacts.get(name) {
            Some(o) if o.digest == r.digest => {}
            Some(o) => {
                resume.overlay.push((name.clone(), o.digest, r.clone()));
                resume.report.params_changed.push(name.clone());
            }
            None => resume.report.params_changed.push(name.clone()),
        }
    }
    run_loop(opts, Some(resume)).await
}

/// Marks the blobs a reused task's outputs live in as just used, so a `wflow gc` running now
/// does not remove them before this run records its reference (see docs/store.md, "Garbage
/// collection"). Best effort: a blob that cannot be refreshed is read, and reported, later.
fn refresh_reused(cas: &Cas, origin: &TaskRecord, manifest: &wflow_store::Manifest) {
    let blobs = manifest
        .artifacts
        .values()
        .filter(|a| a.inline.is_none())
        .map(|a| a.digest)
        .chain(origin.manifest.filter(|_| origin.manifest_bytes.is_none()))
        .chain(origin.foreach_items);
    for digest in blobs {
        let _ = cas.refresh(&digest);
    }
}

/// Hands a reused task's outputs to the run loop, recording the reuse.
pub(crate) async fn deliver(
    reused: Reused,
    recorder: Arc<Recorder>,
    run_id: String,
    task_id: u64,
) -> TaskResult {
    if let Some(manifest) = reused.manifest_bytes {
        recorder.send(Event::TaskManifest {
            run_id: run_id.clone(),
            task_id,
            manifest,
        });
    }
    recorder.send(Event::TaskReused {
        run_id,
        task_id,
        origin_run: reused.origin_run,
        origin_task: reused.origin_task,
        manifest: reused.manifest,
        finished_ms: now_millis(),
        component: reused.component,
        reason: wflow_metadata::ReuseReason::Resumed,
    });
    TaskResult {
        task_id,
        outcome: Ok(Done {
            artifacts: reused.artifacts,
            items: reused.items,
            next: reused.next,
            reads: None,
            reuse: Some(wflow_metadata::ReuseReason::Resumed),
            caught: false,
        }),
    }
}

/// Keeps a foreach split's items in the store and records their digest on the task, so a resumed
/// run can fan out again without running the split. Best effort: a failure only means a later
/// resume runs the split again.
pub(crate) fn record_items(
    cas: &Cas,
    recorder: &Recorder,
    run_id: &str,
    task_id: u64,
    items: Option<&[Value]>,
) -> Option<Digest> {
    let items = items?;
    let list = ciborium::Value::Array(
        items
            .iter()
            .map(|v| {
                ciborium::Value::Array(vec![
                    v.codec.as_str().into(),
                    ciborium::Value::Bytes(v.bytes.clone()),
                ])
            })
            .collect(),
    );
    let mut bytes = Vec::new();
    if ciborium::into_writer(&list, &mut bytes).is_err() {
        return None;
    }
    let digest = cas.put(&bytes).ok()?;
    recorder.send(Event::ForeachItems {
        run_id: run_id.to_string(),
        task_id,
        items: digest,
    });
    Some(digest)
}

/// Reads the items [`record_items`] kept.
pub fn read_items(cas: &Cas, digest: &Digest) -> Result<Vec<Value>, String> {
    let bytes = cas.get(digest).map_err(|e| e.to_string())?;
    let value: ciborium::Value =
        ciborium::from_reader(bytes.as_slice()).map_err(|e| e.to_string())?;
    let bad = || format!("blob {digest} is not a list of foreach items");
    let ciborium::Value::Array(list) = value else {
        return Err(bad());
    };
    list.into_iter()
        .map(|item| match item {
            ciborium::Value::Array(pair) => match <[ciborium::Value; 2]>::try_from(pair) {
                Ok([ciborium::Value::Text(codec), ciborium::Value::Bytes(bytes)]) => {
                    Ok(Value { codec, bytes })
                }
                _ => Err(bad()),
            },
            _ => Err(bad()),
        })
        .collect()
}

#[cfg(test)]
mod tests;
