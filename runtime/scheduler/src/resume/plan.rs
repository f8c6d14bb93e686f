//! Planning a resume or a step-run: which steps run again, and the origin's tasks by key.

use std::collections::{BTreeSet, HashMap, VecDeque};

use wflow_core::FlowSpec;
use wflow_graph::Plan;
use wflow_metadata::{MetadataStore, RunKind, RunRecord, Status, TaskRecord};

use super::{Mode, Resume, ResumeError, ResumeHow, ResumeReport};
use crate::code::Code;

fn pathspec(run: &RunRecord) -> String {
    format!("{}/{}", run.flow, run.run_id)
}

/// Refuses resuming `origin` (pathspec `run`) with a component of another flow.
fn same_flow(origin: &RunRecord, plan: &Plan, run: &str) -> Result<(), ResumeError> {
    if plan.spec().name == origin.flow {
        return Ok(());
    }
    Err(ResumeError::OtherFlow {
        run: run.to_string(),
        run_flow: origin.flow.clone(),
        component_flow: plan.spec().name.clone(),
    })
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
        same_flow(&origin, &plan, &run)?;
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
        let next_of = successors(&plan, &origin_tasks);
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
            refresh: Default::default(),
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
        same_flow(&origin, &plan, &run)?;
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
            next_of: successors(&plan, &origin_tasks),
            by_key: index(origin_tasks),
            origin,
            plan,
            rerun: BTreeSet::new(),
            ancestors,
            origin_code,
            origin_of: HashMap::new(),
            overlay: Vec::new(),
            refresh: Default::default(),
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

    /// Whether a resume may reuse origin tasks of `step` (it is not run again).
    pub(crate) fn may_reuse(&self, step: &str) -> bool {
        matches!(self.mode, Mode::Resume) && !self.rerun.contains(step)
    }

    /// For a step-run, the foreach path of the task it re-runs.
    pub(crate) fn target_path(&self) -> Option<&[u32]> {
        match &self.mode {
            Mode::Resume => None,
            Mode::StepRun { path, .. } => Some(path),
        }
    }

    /// What was reused and re-run so far (complete once the run has ended).
    pub fn report(&self) -> &ResumeReport {
        &self.report
    }
}

/// Past this many tasks read one by one, [`lineage`] reads the whole run at once.
const LINEAGE_LOOKUPS: usize = 256;

/// The origin tasks a step-run of `target` can use: `target` and every task it descends from,
/// through the inputs each records. A task of a million-task foreach has a handful of ancestors:
/// they are read one by one instead of the whole run. Past [`LINEAGE_LOOKUPS`] of them (the join
/// of a wide foreach reads every item's task) the run's tasks are read at once.
pub fn lineage(
    meta: &dyn MetadataStore,
    target: &TaskRecord,
) -> wflow_metadata::Result<Vec<TaskRecord>> {
    let run = &target.run_id;
    let mut seen = std::collections::HashSet::from([target.task_id]);
    let mut queue: VecDeque<u64> = target.inputs.iter().copied().collect();
    let mut found = vec![target.clone()];
    while let Some(id) = queue.pop_front() {
        if !seen.insert(id) {
            continue;
        }
        if seen.len() > LINEAGE_LOOKUPS {
            return meta.tasks(run);
        }
        // An input that is not recorded (the parameters' pseudo-task, a record lost) is simply
        // not reusable: its successor then runs, as with the whole run read.
        if let Some(task) = meta.task(run, id)? {
            queue.extend(task.inputs.iter().copied());
            found.push(task);
        }
    }
    found.sort_by_key(|t| t.task_id);
    Ok(found)
}

fn index(tasks: Vec<TaskRecord>) -> HashMap<(String, Vec<u32>), Vec<TaskRecord>> {
    let mut by_key: HashMap<_, Vec<TaskRecord>> = HashMap::new();
    for t in tasks
        .into_iter()
        .filter(|t| t.status == Status::Succeeded && t.manifest.is_some())
    {
        // Most keys have one task (several only for a loop's iterations): a Vec grown by push
        // would reserve four, 1 KB per task of a wide run.
        by_key
            .entry((t.step.clone(), t.foreach_path.clone()))
            .or_insert_with(|| Vec::with_capacity(1))
            .push(t);
    }
    by_key
}

/// Each origin switch task's successor step, from the task that read it: its choice. (Only
/// switches: the map would otherwise hold every task of a wide run.)
fn successors(plan: &Plan, tasks: &[TaskRecord]) -> HashMap<u64, String> {
    let switches: std::collections::HashSet<u64> = tasks
        .iter()
        .filter(|t| {
            plan.spec()
                .step(&t.step)
                .is_some_and(|s| !s.transition.choices().is_empty())
        })
        .map(|t| t.task_id)
        .collect();
    tasks
        .iter()
        .flat_map(|t| t.inputs.iter().map(move |&i| (i, t)))
        .filter(|(i, _)| switches.contains(i))
        .map(|(i, t)| (i, t.step.clone()))
        .collect()
}
