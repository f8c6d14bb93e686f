//! `wflow resume`: a new run that reuses the successful tasks of an earlier run and runs the
//! rest (the failed step and everything after it, or `--from STEP` on).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use wflow_client::{Client, RunFilter};
use wflow_core::{Digest, ParamValue, RunId};
use wflow_engine::{Engine, EngineConfig, FlowComponent, Sandbox};
use wflow_graph::Plan;
use wflow_metadata::{Recorder, RunRecord};
use wflow_scheduler::{
    Code, Computes, Observer, Resume, ResumeHow, ResumeReport, RunOptions, RunSummary, resume_flow,
    resume_params,
};
use wflow_store::Cas;

use super::inspect::{open_client, store_dir};
use super::run::{Progress, parse_assignments, report, tokio_runtime};
use crate::componentize::Form;
use crate::exit::BadInput;
use crate::output::Printer;
use crate::settings::{Settings, user};

#[derive(clap::Args, Debug)]
pub struct ResumeArgs {
    /// The run to resume: `Flow/run`, `Flow/latest`, a run id, or `Flow` for its newest run. Default: the
    /// newest run of the component's flow when one is given, else the newest run in the store.
    pub run: Option<String>,
    /// The component (`.wasm`) or guest crate directory to run with (say, with a fix). Default:
    /// the run's own component, kept in the store. The tasks before the first step to run again
    /// are reused even when the code changed (see --strict).
    pub flow: Option<PathBuf>,
    /// Run again from this step on (the step and every step after it), even in a run that
    /// succeeded.
    #[arg(long, value_name = "STEP")]
    pub from: Option<String>,
    /// Override a parameter, `NAME=VALUE` (repeatable); the others keep the run's values.
    #[arg(short = 'p', long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Tasks that run at the same time. Default: the number of CPU cores; on AWS Batch, as many
    /// as the queue takes.
    #[arg(long, env = "WFLOW_MAX_WORKERS")]
    pub max_workers: Option<usize>,
    /// Resume a run still recorded as running (its process was killed); its unfinished tasks
    /// run again.
    #[arg(long)]
    pub force: bool,
    /// Reuse no task of a step whose component changed since the run (nor of any step after
    /// it): with a new single component, every step runs again.
    #[arg(long)]
    pub strict: bool,
    /// Tag the new run from its start (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Run every task that is not reused from the run resumed, even of a pure step whose reads
    /// match a task of an earlier run (by default taken from the cache).
    #[arg(long)]
    pub no_cache: bool,
    #[command(flatten)]
    pub compute: crate::compute::ComputeArgs,
}

/// A flow's code ready to run, and where it came from.
pub(crate) struct Component {
    /// The component that runs each step.
    pub by_step: BTreeMap<String, FlowComponent>,
    /// What the run records as its code (the component's digest).
    pub code_digest: Digest,
    pub plan: Plan,
    /// Each step's sandbox under the policy.
    pub sandboxes: BTreeMap<String, Arc<Sandbox>>,
    /// The policy's `max_tasks_per_run`.
    pub max_tasks: u64,
    /// How to name it for people.
    pub origin: String,
}

impl Component {
    /// What the run records as its code, and each step's component.
    pub fn code(&self) -> Code {
        Code {
            digest: self.code_digest,
            steps: self
                .by_step
                .iter()
                .map(|(step, c)| (step.clone(), c.digest()))
                .collect(),
        }
    }

    /// A flow loaded from a file or crate directory, its code kept in the store (as `wflow run`
    /// does, so a later resume finds it by digest). The one place that knows `LoadedFlow`.
    fn stored(flow: super::LoadedFlow, cas: &Cas) -> Result<Component> {
        for (_, wasm, _) in &flow.components {
            let bytes =
                std::fs::read(wasm).with_context(|| format!("reading {}", wasm.display()))?;
            cas.put(&bytes).context("storing the flow's component")?;
        }
        if let Some(record) = &flow.code_record {
            cas.put(record)
                .context("storing the flow's record of components")?;
        }
        Ok(Component {
            by_step: flow.by_step,
            code_digest: flow.code_digest,
            origin: flow.origin,
            plan: flow.plan,
            sandboxes: flow.sandboxes,
            max_tasks: flow.max_tasks,
        })
    }
}

/// The component to run with: the file or crate directory given (stored in the store, as `wflow
/// run` does), or the one `run` ran with, read back from the store by its digest.
pub(crate) fn component_for(
    given: Option<&Path>,
    run: &RunRecord,
    cas: &Cas,
    settings: &Settings,
    max_workers: usize,
    printer: &Printer,
) -> Result<Component> {
    if let Some(path) = given {
        let flow = super::load_flow(path, settings, max_workers, printer, Form::Quick)?;
        return Component::stored(flow, cas);
    }
    let pathspec = format!("{}/{}", run.flow, run.run_id);
    let bytes = match cas.get(&run.component) {
        Ok(b) => b,
        Err(wflow_store::StoreError::NotFound { .. }) => {
            return Err(BadInput(format!(
                "the component of run {pathspec} ({}) is no longer in the store: give the \
                 component file or crate directory after the run",
                run.component
            ))
            .into());
        }
        Err(e) => {
            return Err(
                anyhow::Error::new(e).context(format!("reading the component of run {pathspec}"))
            );
        }
    };
    if !bytes.starts_with(b"\0asm") {
        return Err(BadInput(format!(
            "the code of run {pathspec} ({}) is not a single component (a flow of several \
             components?): give the flow to run with after the run",
            run.component.short()
        ))
        .into());
    }
    let policy = settings.policy()?;
    let engine = Engine::new(EngineConfig {
        max_concurrent_tasks: max_workers as u32,
        cache_dir: Some(settings.cache_dir.join("compiled")),
        pooling: true,
        fuel: policy.needs_fuel(),
        max_wasm_stack: policy.max_wasm_stack(),
        compiler: super::compiler()?,
        compile_limits: super::compile_limits(&policy),
        host_memory_bytes: super::host_memory(&policy),
        ..EngineConfig::default()
    })?;
    let origin = format!(
        "the component of run {pathspec} ({})",
        run.component.short()
    );
    let component = engine.load(&bytes, &origin)?;
    super::warn(printer, &component);
    let plan = wflow_graph::validate(component.spec()).with_context(|| {
        format!(
            "the graph of flow `{}` ({origin}) is invalid",
            component.spec().name
        )
    })?;
    let target = settings
        .target()?
        .with_component(plan.spec(), &component.digest().to_hex());
    let sandboxes = policy
        .resolve_for(plan.spec(), &target)
        .with_context(|| {
            format!(
                "flow `{}` is refused by the policy; nothing was run",
                plan.spec().name
            )
        })?
        .into_iter()
        .map(|(step, sb)| (step, Arc::new(sb)))
        .collect();
    Ok(Component {
        by_step: plan
            .steps_in_order()
            .iter()
            .map(|s| (s.clone(), component.clone()))
            .collect(),
        code_digest: component.digest(),
        plan,
        sandboxes,
        max_tasks: policy.limits.max_tasks_per_run,
        origin,
    })
}

/// Whether a positional argument is a component or crate directory rather than a pathspec.
fn is_component_path(arg: &str) -> bool {
    let p = Path::new(arg);
    p.is_dir() || (p.is_file() && arg.ends_with(".wasm"))
}

/// The `--max-workers` default: one per core.
pub(crate) fn workers(given: Option<usize>) -> usize {
    given
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        })
        .max(1)
}

/// Runs `resume` to its end.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_resumed(
    component: Component,
    params: BTreeMap<String, ParamValue>,
    cas: Arc<Cas>,
    recorder: Arc<Recorder>,
    max_workers: usize,
    observer: Observer,
    resume: &mut Resume,
    store: &Path,
    hold_lock: bool,
    runtime: &tokio::runtime::Runtime,
    compute: Computes,
    tags: Vec<String>,
    cache: bool,
) -> Result<RunSummary> {
    let run_id = RunId::generate();
    let _alive = if hold_lock {
        wflow_client::RunLock::hold(store, &run_id.0).ok()
    } else {
        None
    };
    let opts = RunOptions {
        tags,
        components: component.by_step,
        code_digest: component.code_digest,
        plan: component.plan,
        params,
        cas,
        recorder,
        max_workers,
        observer,
        user: user(),
        live_logs: Some(wflow_client::live_log_dir(store, &run_id.0)),
        run_id,
        sandboxes: component.sandboxes,
        max_tasks: component.max_tasks,
        compute,
        cache,
    };
    Ok(runtime.block_on(resume_flow(opts, resume))?)
}

pub fn execute(mut args: ResumeArgs, settings: &Settings, printer: &Printer) -> Result<ExitCode> {
    let local_workers = workers(args.max_workers);
    if args.flow.is_none() && args.run.as_deref().is_some_and(is_component_path) {
        args.flow = args.run.take().map(PathBuf::from);
    }
    let given = parse_assignments(&args.params)?;
    super::run::check_tags(&args.tags)?;
    let client = open_client(settings)?;
    let cas = client.cas().clone();

    // The component first when given: its flow picks the default run.
    let mut loaded = None;
    if let Some(path) = &args.flow {
        loaded = Some(super::load_flow(
            path,
            settings,
            local_workers,
            printer,
            args.compute.python_form(),
        )?);
    }
    let origin = find_origin(
        &client,
        args.run.as_deref(),
        loaded.as_ref().map(|f| f.plan.spec().name.as_str()),
    )?;
    let how = ResumeHow {
        from: args.from.clone(),
        force: killed(&client, &origin, printer)? || args.force,
        strict: args.strict,
    };
    let component = match loaded {
        Some(flow) => {
            // Checked before anything is written.
            let none = Code::single(Digest::of(b""), flow.plan.steps_in_order());
            Resume::plan(
                origin.clone(),
                Vec::new(),
                flow.plan.clone(),
                &none,
                none.clone(),
                &how,
            )
            .map_err(|e| BadInput(e.to_string()))?;
            Component::stored(flow, &cas)?
        }
        None => component_for(None, &origin, &cas, settings, local_workers, printer)?,
    };
    let compute = crate::compute::Prepared::check(
        &args.compute,
        &component.plan,
        settings,
        args.max_workers,
        local_workers,
    )?;
    let code = component.code();
    let origin_code = Code::of_run(&cas, &origin, component.plan.steps_in_order(), &code);
    let tasks = client.metadata().tasks(&origin.run_id)?;
    let mut resume = Resume::plan(
        origin.clone(),
        tasks,
        component.plan.clone(),
        &code,
        origin_code,
        &how,
    )
    .map_err(|e| BadInput(e.to_string()))?;
    let params = resume_params(component.plan.spec(), &origin.params, &given)
        .with_context(|| format!("flow `{}`", origin.flow))?;

    let origin_path = format!("{}/{}", origin.flow, origin.run_id);
    printer.note(format!(
        "Resuming {origin_path} ({}) with {}",
        origin.status, component.origin
    ));
    note_plan(printer, resume.report(), &origin_path);

    let recorder = Arc::new(Recorder::new(client.metadata().clone()));
    let progress = Progress::new(printer);
    let runtime = tokio_runtime(local_workers)?;
    let max_workers = compute.max_workers;
    let plan = component.plan.clone();
    let connected = compute.connect(&runtime, &progress, &plan, printer)?;
    let summary = run_resumed(
        component,
        params,
        Arc::new(cas),
        recorder.clone(),
        max_workers,
        progress.observer(),
        &mut resume,
        store_dir(settings),
        true,
        &runtime,
        connected.computes.clone(),
        args.tags.clone(),
        !args.no_cache,
    )?;
    progress.finish();
    let compute_json = connected.report(printer);
    if let Ok(r) = Arc::try_unwrap(recorder) {
        r.close()?;
    }
    let rep = resume.report();
    if printer.json() {
        let mut v = serde_json::to_value(&summary)?;
        v["resume"] = serde_json::to_value(rep)?;
        if let Some(c) = compute_json {
            v["compute"] = c;
        }
        printer.value(&v);
        return exit_of(&summary, printer, true);
    }
    note_outcome(printer, rep, &summary, &origin_path);
    report(&summary, printer, compute_json)
}

/// The exit code of a run (its report already printed in JSON).
fn exit_of(summary: &RunSummary, _printer: &Printer, _json: bool) -> Result<ExitCode> {
    match &summary.failure {
        None => Ok(ExitCode::SUCCESS),
        Some(f) => Err(crate::exit::FlowFailed(format!(
            "{}/{} failed: task {}: {}",
            summary.flow, summary.run_id, f.pathspec, f.message
        ))
        .into()),
    }
}

/// Whether `run` is recorded as running but its process is gone (then it may be resumed); an
/// error if its process is still there.
fn killed(client: &Client, run: &RunRecord, printer: &Printer) -> Result<bool> {
    if run.status.is_finished() {
        return Ok(false);
    }
    let root = client
        .store_root()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    match wflow_client::liveness(&root, &run.run_id) {
        wflow_client::Liveness::Gone => {
            printer.note(format!(
                "  run {}/{} is recorded as running but its process is gone (killed?): its \
                 unfinished tasks run again",
                run.flow, run.run_id
            ));
            Ok(true)
        }
        wflow_client::Liveness::Alive => {
            let pid = std::fs::read_to_string(wflow_client::run_lock_path(&root, &run.run_id))
                .unwrap_or_default();
            Err(BadInput(format!(
                "run {}/{} is still running (process {}): resume it once it has ended",
                run.flow,
                run.run_id,
                pid.trim()
            ))
            .into())
        }
        wflow_client::Liveness::Unknown => Ok(false),
    }
}

/// The run to resume, from the RUN argument (or its absence).
fn find_origin(client: &Client, run: Option<&str>, flow: Option<&str>) -> Result<RunRecord> {
    let record = match run {
        Some(text) => {
            let p = wflow_client::parse_pathspec(text)?;
            match &p.run {
                Some(_) if p.step.is_some() => {
                    return Err(BadInput(format!(
                        "`{text}` names a step or task: resume takes a run, as in {}/{}",
                        p.flow,
                        p.run.as_deref().unwrap_or("RUN")
                    ))
                    .into());
                }
                Some(_) => client.run(text)?.record().clone(),
                None if client.metadata().run(&p.flow)?.is_some() => {
                    client.run(text)?.record().clone()
                }
                None => match client.flow(&p.flow)?.latest_run()? {
                    Some(r) => r.record().clone(),
                    None => {
                        return Err(
                            BadInput(format!("flow `{}` has no runs to resume", p.flow)).into()
                        );
                    }
                },
            }
        }
        None => {
            let filter = RunFilter {
                flow: flow.map(str::to_string),
                kind: Some(wflow_metadata::RunKind::Run),
                limit: Some(1),
                ..RunFilter::default()
            };
            match client.runs(&filter)?.into_iter().next() {
                Some(r) => r.record().clone(),
                None => {
                    let what = flow.map(|f| format!("of flow `{f}` ")).unwrap_or_default();
                    return Err(
                        BadInput(format!("there is no run {what}to resume in this store")).into(),
                    );
                }
            }
        }
    };
    Ok(record)
}

fn note_plan(printer: &Printer, rep: &ResumeReport, origin: &str) {
    let mut again = Vec::new();
    // A failed step that runs whole (its code changed) is in `rerun_steps`.
    let failed: Vec<&str> = rep
        .failed_steps
        .iter()
        .filter(|s| !rep.rerun_steps.contains(s))
        .map(String::as_str)
        .collect();
    if !failed.is_empty() {
        again.push(format!(
            "the failed or unfinished tasks of {}",
            failed.join(", ")
        ));
    }
    if !rep.rerun_steps.is_empty() {
        again.push(format!("every task of {}", rep.rerun_steps.join(", ")));
    }
    if again.is_empty() {
        again.push("the tasks that never ran".into());
    }
    let again = again.join("; ");
    if rep.changed_steps.is_empty() {
        printer.note(format!(
            "  reusing its successful tasks; running again: {again}"
        ));
        return;
    }
    let changed = rep.changed_steps.join(", ");
    if rep.strict {
        printer.note(format!(
            "  --strict: the code of {changed} differs from what {origin} ran, so nothing of it              or after it is reused; running again: {again}"
        ));
        return;
    }
    if rep.reusing_tasks == 0 {
        printer.note(format!(
            "  the code of {changed} has changed since {origin}; running again: {again}"
        ));
        return;
    }
    // One line: what is reused, computed by which code, and whether that code changed.
    let by = rep
        .reusing_code
        .iter()
        .map(|d| format!("{}…", d.short()))
        .collect::<Vec<_>>();
    let by = match by.as_slice() {
        [one] => format!("component {one}"),
        many => format!("components {}", many.join(", ")),
    };
    let stale: Vec<&str> = rep
        .reusing_steps
        .iter()
        .filter(|s| rep.changed_steps.contains(s))
        .map(String::as_str)
        .collect();
    let since = if stale.len() == rep.reusing_steps.len() {
        "the code has changed since".to_string()
    } else if stale.is_empty() {
        format!("unchanged; the code of {changed} has changed")
    } else {
        format!("the code of {} has changed since", stale.join(", "))
    };
    let n = rep.reusing_tasks;
    printer.note(format!(
        "  reusing {} task{} of step{} {}, computed by {by} ({since}); running again: {again}",
        thousands(n as u64),
        if n == 1 { "" } else { "s" },
        if rep.reusing_steps.len() == 1 {
            ""
        } else {
            "s"
        },
        rep.reusing_steps.join(", "),
    ));
}

/// `1234567` as `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn note_outcome(printer: &Printer, rep: &ResumeReport, summary: &RunSummary, origin: &str) {
    if !rep.params_changed.is_empty() {
        printer.note(format!(
            "  parameters changed: {} (reused tasks keep the outputs they computed with {origin}'s values)",
            rep.params_changed.join(", ")
        ));
    }
    for n in &rep.notes {
        printer.note(format!("  note: {n}"));
    }
    let mut by_step: Vec<(String, usize)> = Vec::new();
    for t in &rep.reused {
        match by_step.iter_mut().find(|(s, _)| *s == t.step) {
            Some((_, n)) => *n += 1,
            None => by_step.push((t.step.clone(), 1)),
        }
    }
    let steps: Vec<String> = by_step
        .iter()
        .map(|(s, n)| {
            if *n == 1 {
                s.clone()
            } else {
                format!("{s} ×{n}")
            }
        })
        .collect();
    let cached = summary.tasks.iter().filter(|t| t.cached).count();
    let ran = summary.tasks.len() - rep.reused.len() - cached;
    printer.note(format!(
        "  reused {} task{} from {origin}{}; {}ran {ran}",
        rep.reused.len(),
        if rep.reused.len() == 1 { "" } else { "s" },
        if steps.is_empty() {
            String::new()
        } else {
            format!(" ({})", steps.join(", "))
        },
        if cached > 0 {
            format!("took {cached} from the cache; ")
        } else {
            String::new()
        },
    ));
}
