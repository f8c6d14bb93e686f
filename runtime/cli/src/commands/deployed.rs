//! `wflow worker` in a deployed run (`wflow deploy`, docs/deploy.md): no driver hands it a task
//! description, so the worker works out its task from the job's environment and the small objects
//! the run's other workers left in the store (see `wflow_deploy::layout`):
//!
//! 1. the deployment (`WFLOW_DEPLOYMENT`, checked against `WFLOW_DEPLOYMENT_DIGEST`): the flow's
//!    spec, components, sandboxes (checked against this worker's own policy) and defaults;
//! 2. the task: `WFLOW_STEP`, the run (`WFLOW_RUN`, the execution's name) and the path
//!    (`WFLOW_PATH`, plus `WFLOW_OFFSET` + `AWS_BATCH_JOB_ARRAY_INDEX` in a foreach body); its
//!    task id follows from the step and the path;
//! 3. its inputs: the outputs its predecessors left (`out/<step>/<path>`), all items of a
//!    foreach for its join; `start` takes the parameters (`WFLOW_PARAMS` over the deployment's);
//! 4. it runs the task as the run loop would ([`wflow_scheduler::run_one_task`]: retries,
//!    `catch`, records), leaves its outputs, and for a foreach the fanout the state machine
//!    reads; `start` records the run's start, the `end` step its success.
//!
//! With `WFLOW_END=failed` the job runs no task: it records that the run failed (the state
//! machine's last state when a step failed), naming the failed task. `WFLOW_END=ended` is the
//! job the deployment's EventBridge rule submits when an execution failed, timed out or was
//! stopped (`WFLOW_EXECUTION_STATUS`, `WFLOW_EXECUTION`): it records the run as failed if it is
//! still `running` — nothing when the state machine already recorded it.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use wflow_core::{Digest, Pathspec, StepSpec, Transition, now_millis, resolve_params};
use wflow_deploy::layout::{self, Choice, Fanout, Place, env};
use wflow_deploy::{DeployError, Deployment};
use wflow_engine::{Engine, EngineConfig, InputArtifacts, TaskInput, Value};
use wflow_graph::{Plan, SplitKind};
use wflow_metadata::{Event, Recorder, RunKind, Status};
use wflow_scheduler::{Attempt, OneTask, TaskEnd};
use wflow_store::{ArtifactRef, Cas};

use crate::exit::BadInput;
use crate::output::Printer;
use crate::settings::Settings;

/// Whether this job belongs to a deployed run.
pub fn is_deployed() -> bool {
    std::env::var_os(env::DEPLOYMENT).is_some()
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn need(name: &str) -> Result<String> {
    var(name).ok_or_else(|| {
        BadInput(format!(
            "a deployed job needs ${name}; its state machine sets it (was the job started by hand?)"
        ))
        .into()
    })
}

/// What a task leaves for the tasks after it.
#[derive(serde::Serialize, serde::Deserialize)]
struct Output {
    task_id: u64,
    artifacts: BTreeMap<String, ArtifactRef>,
    /// A foreach's items (the blob [`wflow_scheduler::read_items`] reads).
    #[serde(default)]
    items: Option<Digest>,
    /// The successor a switch chose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next: Option<String>,
}

/// The parameters of the run as given (`start` writes them; every task resolves them the same).
#[derive(serde::Serialize, serde::Deserialize)]
struct GivenParams {
    given: Vec<(String, String)>,
}

struct Job {
    cas: Arc<Cas>,
    deployment: Deployment,
    plan: Plan,
    run: String,
}

impl Job {
    fn get_json<T: serde::de::DeserializeOwned>(&self, key: &str, what: &str) -> Result<T> {
        let bytes = self
            .cas
            .backend()
            .get(key)
            .with_context(|| format!("reading {what}"))?
            .ok_or_else(|| {
                anyhow!("{what} is missing from the store (`{key}`): the task that writes it did not succeed")
            })?;
        serde_json::from_slice(&bytes).with_context(|| format!("{what} (`{key}`) is not valid"))
    }

    fn put_json(&self, key: &str, value: &impl serde::Serialize) -> Result<()> {
        let bytes = serde_json::to_vec(value).expect("encodes");
        let backend = self.cas.backend();
        let context = || format!("writing `{key}` to the store");
        // Written once, like everything in the store; the same bytes again are fine.
        if backend.put_if_absent(key, &bytes).with_context(context)?
            || backend.get(key).with_context(context)?.as_deref() == Some(&bytes[..])
        {
            return Ok(());
        }
        Err(anyhow!(
            "`{key}` already holds other content: this task ran before with other results, or something else writes to the store's `{}` prefix",
            layout::DEPLOY_PREFIX
        ))
    }

    fn output(&self, step: &str, place: &Place) -> Result<Output> {
        let p = place.text();
        self.get_json(
            &layout::output_key(&self.run, step, &p),
            &format!("the output of step `{step}` at {p}"),
        )
    }

    /// The output `p` left at `at` if it went on to `step` from there (a switch may have gone
    /// elsewhere).
    fn went_to(&self, p: &str, step: &str, at: &Place) -> Result<Option<Output>> {
        let key = layout::output_key(&self.run, p, &at.text());
        let Some(bytes) = self
            .cas
            .backend()
            .get(&key)
            .with_context(|| format!("reading `{key}`"))?
        else {
            return Ok(None);
        };
        let out: Output =
            serde_json::from_slice(&bytes).with_context(|| format!("`{key}` is not valid"))?;
        let switch = !self.plan.step(p).transition.choices().is_empty();
        Ok((!switch || out.next.as_deref() == Some(step)).then_some(out))
    }

    /// The one task that went on to `step` at `place` among its predecessors `preds` (several
    /// when switches' choices meet, or for a loop's first step its way back).
    fn came_from(
        &self,
        step: &str,
        place: &Place,
        preds: &[&str],
    ) -> Result<(u64, InputArtifacts)> {
        let plan = &self.plan;
        let mut found = Vec::new();
        for &p in preds {
            let mut at = place.clone();
            if plan.loops_back(p, step) {
                // The way back: the switch ran one generation before.
                match place.generation {
                    Some(g) if g > 0 => at.generation = Some(g - 1),
                    _ => continue,
                }
            } else if plan.opens(p) == Some(SplitKind::Foreach) && plan.closes(step).is_none() {
                at.path.pop();
            }
            if let Some(out) = self.went_to(p, step, &at)? {
                found.push((p, out));
            }
        }
        match found.len() {
            1 => {
                let (p, out) = found.pop().expect("one");
                Ok((
                    out.task_id,
                    InputArtifacts {
                        step: p.into(),
                        artifacts: out.artifacts.into(),
                    },
                ))
            }
            0 => Err(anyhow!(
                "no task before step `{step}` at {} left its outputs for it (of {}): the task that writes them did not succeed",
                place.text(),
                preds.join(", ")
            )),
            _ => Err(anyhow!(
                "several tasks before step `{step}` at {} left outputs for it ({}): the run's objects in the store were changed",
                place.text(),
                found.iter().map(|(p, _)| *p).collect::<Vec<_>>().join(", ")
            )),
        }
    }

    fn task_id(&self, step: &str, place: &Place) -> Result<u64> {
        let order = self.plan.steps_in_order();
        let ordinal = order
            .iter()
            .position(|s| s == step)
            .expect("a step of the plan");
        layout::task_id(ordinal, order.len(), place).ok_or_else(|| {
            BadInput(format!(
                "step `{step}` at {} has no task id: a deployed run holds foreach indices and generations below 1,048,575 and as many levels as fit 64 bits",
                place.text()
            ))
            .into()
        })
    }

    /// The input artifacts of `step` at `place`, with the tasks they come from.
    fn inputs(&self, step: &str, place: &Place) -> Result<Vec<(u64, InputArtifacts)>> {
        let plan = &self.plan;
        let mut preds: Vec<&str> = plan.predecessors(step).iter().map(String::as_str).collect();
        // A loop's first step also comes from its switch (not among the predecessors).
        preds.extend(
            plan.loops()
                .map(|(s, _)| s)
                .filter(|s| plan.loops_back(s, step)),
        );
        match plan.closes(step) {
            Some((split, SplitKind::Foreach)) => {
                let fanout: Fanout = self.get_json(
                    &layout::fanout_key(&self.run, split, &place.text()),
                    &format!("the fanout of `{split}`"),
                )?;
                (0..fanout.width)
                    .map(|i| self.came_from(step, &place.item(i as u32), &preds))
                    .collect()
            }
            Some((split, SplitKind::Branch)) => {
                // One input per branch, in the order of the split's targets.
                let targets = plan.step(split).transition.targets();
                targets
                    .iter()
                    .map(|branch| {
                        let mine: Vec<&str> = preds
                            .iter()
                            .copied()
                            .filter(|p| {
                                plan.stack(p)
                                    .iter()
                                    .rev()
                                    .find(|f| f.split == split)
                                    .is_some_and(|f| f.branch == *branch)
                            })
                            .collect();
                        self.came_from(step, place, &mine)
                    })
                    .collect()
            }
            None => Ok(vec![self.came_from(step, place, &preds)?]),
        }
    }

    /// The innermost foreach item of `step` at `place`.
    fn item(&self, step: &str, place: &Place) -> Result<Option<Value>> {
        let Some(frame) = self
            .plan
            .stack(step)
            .iter()
            .rev()
            .find(|f| f.kind == SplitKind::Foreach)
        else {
            return Ok(None);
        };
        let mut parent = place.clone();
        let index = parent.path.pop().expect("a task in a foreach has a path");
        let out = self.output(&frame.split, &parent)?;
        let digest = out
            .items
            .ok_or_else(|| anyhow!("the output of foreach `{}` names no items", frame.split))?;
        let items = wflow_scheduler::read_items(&self.cas, &digest).map_err(|e| anyhow!(e))?;
        items
            .into_iter()
            .nth(index as usize)
            .map(Some)
            .ok_or_else(|| anyhow!("foreach `{}` has no item {index}", frame.split))
    }
}

pub fn execute(settings: &Settings, printer: &Printer) -> Result<ExitCode> {
    let backend = crate::backends::open(settings, false)?.expect("created when absent");
    let cas = Arc::new(Cas::new(backend.blobs));
    let key = need(env::DEPLOYMENT)?;
    let digest: Digest = need(env::DEPLOYMENT_DIGEST)?
        .parse()
        .map_err(|e| BadInput(format!("${}: {e}", env::DEPLOYMENT_DIGEST)))?;
    let deployment = match Deployment::get(&cas, &key, &digest) {
        Ok(d) => d,
        Err(DeployError::Store(e)) => {
            return Err(anyhow::Error::new(e).context("the worker cannot read its deployment"));
        }
        Err(e) => return Err(BadInput(e.to_string()).into()),
    };
    let plan = wflow_graph::validate(&deployment.spec)
        .map_err(|e| BadInput(format!("the deployment `{key}` holds an invalid flow: {e}")))?;
    let run = need(env::RUN)?;
    wflow_core::names::validate(wflow_core::names::NameKind::Run, &run)
        .map_err(|e| BadInput(format!("${}: {e}", env::RUN)))?;
    let recorder = Arc::new(Recorder::new(backend.records.clone()));
    let job = Job {
        cas,
        deployment,
        plan,
        run,
    };
    if let Some(end) = var(env::END) {
        let ended = match end.as_str() {
            "failed" => None,
            "ended" => Some((need(env::EXECUTION_STATUS)?, need(env::EXECUTION)?)),
            other => {
                return Err(BadInput(format!(
                    "${} `{other}` is neither `failed` nor `ended`",
                    env::END
                ))
                .into());
            }
        };
        record_failure(&job, &recorder, ended, printer)?;
        if let Ok(r) = Arc::try_unwrap(recorder) {
            r.close()?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let code = run_task(&job, settings, &recorder, printer)?;
    if let Ok(r) = Arc::try_unwrap(recorder) {
        r.close()?;
    }
    Ok(code)
}

fn run_task(
    job: &Job,
    settings: &Settings,
    recorder: &Arc<Recorder>,
    printer: &Printer,
) -> Result<ExitCode> {
    let d = &job.deployment;
    let flow = d.spec.name.clone();
    let step = need(env::STEP)?;
    if d.spec.step(&step).is_none() {
        return Err(BadInput(format!(
            "flow `{flow}` has no step `{step}` (${})",
            env::STEP
        ))
        .into());
    }
    let path_text = need(env::PATH)?;
    let mut place = Place::parse(&path_text)
        .ok_or_else(|| BadInput(format!("${} `{path_text}` is not a task path", env::PATH)))?;
    if let Some(g) = var(env::GEN) {
        place.generation = Some(
            g.parse()
                .map_err(|_| BadInput(format!("${} `{g}` is not a number", env::GEN)))?,
        );
    }
    if let Some(offset) = var(env::OFFSET) {
        let offset: u32 = offset
            .parse()
            .map_err(|_| BadInput(format!("${} `{offset}` is not a number", env::OFFSET)))?;
        let index: u32 = match var("AWS_BATCH_JOB_ARRAY_INDEX") {
            Some(i) => i.parse().map_err(|_| {
                BadInput(format!("AWS_BATCH_JOB_ARRAY_INDEX `{i}` is not a number"))
            })?,
            None => 0,
        };
        place.path.push(offset + index);
    }
    let task_id = job.task_id(&step, &place)?;
    let pathspec = Pathspec::task(&flow, &job.run, &step, &task_id.to_string()).to_string();
    let spec: StepSpec = d.spec.step(&step).expect("checked").clone();
    let sandbox = d.sandboxes.get(&step).cloned().unwrap_or_default();
    let component_digest = d.components.get(&step).copied().unwrap_or(d.code);

    // The sandbox was written by whoever could write to the store: this worker's policy decides.
    let policy = settings.policy()?;
    if let Err(violations) = policy.admits(
        &flow,
        &step,
        &component_digest.to_hex(),
        &sandbox,
        &settings.target()?,
    ) {
        return Err(BadInput(format!(
            "the task's sandbox is refused by this worker's policy; nothing was run\n{violations}"
        ))
        .into());
    }

    let is_start = step == job.plan.start();
    let given = if is_start {
        let mut given: BTreeMap<String, String> = d.params.clone();
        if let Some(raw) = var(env::PARAMS) {
            let v: serde_json::Value = serde_json::from_str(&raw)
                .map_err(|e| BadInput(format!("${} is not JSON: {e}", env::PARAMS)))?;
            let obj = v.as_object().ok_or_else(|| {
                BadInput(format!(
                    "${} must be a JSON object of parameters",
                    env::PARAMS
                ))
            })?;
            for (k, v) in obj {
                let text = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                given.insert(k.clone(), text);
            }
        }
        let given: Vec<(String, String)> = given.into_iter().collect();
        job.put_json(
            &layout::params_key(&job.run),
            &GivenParams {
                given: given.clone(),
            },
        )?;
        given
    } else {
        job.get_json::<GivenParams>(&layout::params_key(&job.run), "the run's parameters")?
            .given
    };
    let params =
        resolve_params(&d.spec.parameters, &given).with_context(|| format!("flow `{flow}`"))?;
    let inputs = if is_start {
        let seed = wflow_scheduler::parameter_artifacts(&job.cas, &params)
            .context("storing the run's parameters")?;
        vec![(0, seed)]
    } else {
        job.inputs(&step, &place)?
    };
    if is_start {
        start_run(job, recorder, &params)?;
    }
    let foreach_item = job.item(&step, &place)?;
    printer.note(format!("wflow worker: {pathspec} (deployment {})", d.name));

    let bytes = job
        .cas
        .get(&component_digest)
        .with_context(|| format!("fetching component {component_digest}"))?;
    let engine = Engine::new(EngineConfig {
        max_concurrent_tasks: 1,
        cache_dir: Some(settings.cache_dir.join("compiled")),
        pooling: false,
        fuel: sandbox.fuel.is_some(),
        max_wasm_stack: policy.max_wasm_stack(),
        compiler: super::compiler()?,
        compile_limits: super::compile_limits(&policy),
        ..EngineConfig::default()
    })?;
    let component = engine.load(&bytes, &format!("component {component_digest}"))?;
    let is_foreach = matches!(spec.transition, Transition::Foreach(_));
    let input = TaskInput {
        flow: flow.clone(),
        run_id: job.run.clone(),
        step: step.clone(),
        task_id,
        attempt: 0,
        params: Arc::new(params),
        foreach_path: place.path.clone(),
        foreach_item,
        inputs: inputs.iter().map(|(_, i)| i.clone()).collect(),
        join: spec.join,
        is_foreach,
        // Secrets are read here, in the container, from the sources of the sandbox (checked
        // against this worker's policy).
        choices: spec.transition.choices().to_vec(),
        secrets: Default::default(),
        sandbox: Arc::new(sandbox),
        live_logs: None,
    };
    let one = OneTask {
        attempt: Attempt {
            component,
            input,
            step: Arc::new(spec.clone()),
        },
        input_tasks: inputs
            .iter()
            .map(|(id, _)| *id)
            .filter(|id| *id != 0)
            .collect(),
        plan: job.plan.clone(),
        max_tasks: d.max_tasks,
    };
    let runtime = super::run::tokio_runtime(1)?;
    let end = runtime.block_on(wflow_scheduler::run_one_task(
        one,
        job.cas.clone(),
        recorder.clone(),
    ));
    match end {
        TaskEnd::Succeeded {
            artifacts,
            items,
            next,
        } => {
            let here = place.text();
            // A switch's choice, checked as the run loop checks it: one was made, and a loop
            // goes back at most `max_iterations` - 1 times.
            if let Transition::Switch { max_iterations, .. } = &spec.transition {
                let Some(chosen) = next.as_deref() else {
                    return fail_run(
                        job,
                        recorder,
                        printer,
                        &format!("{pathspec}: switch step `{step}` chose no successor"),
                    );
                };
                if job.plan.loops_back(&step, chosen) {
                    let looped: u32 = match var(env::LOOPED) {
                        Some(n) => n.parse().map_err(|_| {
                            BadInput(format!("${} `{n}` is not a number", env::LOOPED))
                        })?,
                        None => 0,
                    } + 1;
                    let bound = max_iterations.unwrap_or(0);
                    if looped >= bound {
                        return fail_run(
                            job,
                            recorder,
                            printer,
                            &format!(
                                "{pathspec}: the loop from `{step}` back to `{chosen}` went past its bound: `{step}` chose `{chosen}` again after {looped} iteration(s), and its `max_iterations` is {bound}"
                            ),
                        );
                    }
                }
            }
            let digest = items.as_ref().and_then(|(_, d)| *d);
            job.put_json(
                &layout::output_key(&job.run, &step, &here),
                &Output {
                    task_id,
                    artifacts,
                    items: digest,
                    next: next.clone(),
                },
            )?;
            if let Some(next) = next {
                job.put_json(
                    &layout::choice_key(&job.run, &step, &here),
                    &Choice { next },
                )?;
            }
            if is_foreach {
                let width = items.as_ref().map_or(0, |(v, _)| v.len());
                if digest.is_none() {
                    return Err(anyhow!("the items of {pathspec} could not be stored"));
                }
                let per_item = wflow_deploy::asl::per_item(&job.plan, &step);
                if per_item && width > layout::MAX_ITEM_MAP {
                    return Err(BadInput(format!(
                        "{pathspec} declared {width} items, but a deployed foreach whose body holds another foreach or a switch takes at most {} (one state machine Map iteration each)",
                        layout::MAX_ITEM_MAP
                    ))
                    .into());
                }
                job.put_json(
                    &layout::fanout_key(&job.run, &step, &here),
                    &Fanout::new(&place, width, per_item, chunk_size()?),
                )?;
            }
            if matches!(spec.transition, Transition::End) {
                recorder.send(Event::RunFinished {
                    run_id: job.run.clone(),
                    status: Status::Succeeded,
                    finished_ms: now_millis(),
                    error: None,
                });
            }
            printer.note(format!("wflow worker: {pathspec} succeeded"));
            Ok(ExitCode::SUCCESS)
        }
        TaskEnd::Failed { message, .. } => {
            printer.note(format!("wflow worker: {pathspec} failed: {message}"));
            Ok(ExitCode::from(1))
        }
    }
}

/// Items per array job: AWS Batch's most, or fewer in tests (`WFLOW_DEPLOY_CHUNK`).
fn chunk_size() -> Result<usize> {
    match var(env::CHUNK) {
        None => Ok(layout::MAX_ARRAY),
        Some(n) => match n.parse::<usize>() {
            Ok(n) if (1..=layout::MAX_ARRAY).contains(&n) => Ok(n),
            _ => Err(BadInput(format!(
                "${} `{n}` is not a number of items from 1 to {}",
                env::CHUNK,
                layout::MAX_ARRAY
            ))
            .into()),
        },
    }
}

/// Records the run as failed with `error` (a switch's choice the run loop would refuse), then
/// fails the job: the state machine ends the run, and its recording job finds it recorded.
fn fail_run(job: &Job, recorder: &Recorder, printer: &Printer, error: &str) -> Result<ExitCode> {
    recorder.send(Event::RunFinished {
        run_id: job.run.clone(),
        status: Status::Failed,
        finished_ms: now_millis(),
        error: Some(wflow_core::bounded(error, wflow_core::MAX_MESSAGE_CHARS).into()),
    });
    printer.note(format!("wflow worker: run {} failed: {error}", job.run));
    Ok(ExitCode::from(1))
}

/// Records the run's start (once: a retried `start` job finds it recorded).
fn start_run(
    job: &Job,
    recorder: &Recorder,
    params: &BTreeMap<String, wflow_core::ParamValue>,
) -> Result<()> {
    if recorder.metadata().run(&job.run)?.is_some() {
        return Ok(());
    }
    let d = &job.deployment;
    recorder.send(Event::RunStarted {
        run_id: job.run.clone(),
        flow: d.spec.name.clone(),
        component: d.code,
        params: serde_json::to_value(params).unwrap_or_default(),
        spec: serde_json::to_value(&d.spec).unwrap_or_default(),
        started_ms: now_millis(),
        origin_run: None,
        user: format!("deploy:{}", d.name),
        kind: RunKind::Run,
    });
    recorder.flush()?;
    let mut tags = vec![format!("deployment:{}", d.name)];
    if let Some(trigger) = var(env::TRIGGER) {
        tags.push(format!("triggered-by:{trigger}"));
    }
    if let Some(execution) = var(env::EXECUTION) {
        tags.push(format!("execution:{execution}"));
    }
    tags.retain(|t| wflow_metadata::validate_tag(t).is_ok());
    recorder.metadata().add_tags(&job.run, &tags)?;
    Ok(())
}

/// Records that the run failed, naming its first failed task, or with `ended` (the execution's
/// status and ARN, from the ended rule) how its execution ended when no task failed.
fn record_failure(
    job: &Job,
    recorder: &Recorder,
    ended: Option<(String, String)>,
    printer: &Printer,
) -> Result<()> {
    let meta = recorder.metadata();
    let Some(run) = meta.run(&job.run)? else {
        printer.note(format!(
            "wflow worker: run {} was never recorded (its start failed before it began); nothing to record",
            job.run
        ));
        return Ok(());
    };
    if run.status != Status::Running {
        return Ok(());
    }
    let tasks = meta.tasks(&job.run)?;
    let failed = tasks
        .iter()
        .filter(|t| t.status == Status::Failed)
        .min_by_key(|t| t.finished_ms);
    let error = match (failed, ended) {
        (_, Some((status, arn))) if status != "FAILED" => {
            wflow_deploy::execution_ended_error(&status, None, &arn)
        }
        (Some(t), _) => {
            let pathspec =
                Pathspec::task(&run.flow, &job.run, &t.step, &t.task_id.to_string()).to_string();
            let last = meta.attempts(&job.run, t.task_id)?.into_iter().last();
            let message = last.and_then(|a| a.error).unwrap_or_else(|| "failed".into());
            format!("{pathspec}: {message}")
        }
        (None, Some((status, arn))) => wflow_deploy::execution_ended_error(&status, None, &arn),
        (None, None) => "the execution failed outside any task (a job that never reported; see the execution's history)".to_string(),
    };
    recorder.send(Event::RunFinished {
        run_id: job.run.clone(),
        status: Status::Failed,
        finished_ms: now_millis(),
        error: Some(wflow_core::bounded(&error, wflow_core::MAX_MESSAGE_CHARS).into()),
    });
    printer.note(format!("wflow worker: run {} failed: {error}", job.run));
    Ok(())
}
