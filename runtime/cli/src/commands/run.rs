//! `wflow run`: run a flow on this machine.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use wflow_core::{RunId, resolve_params};
use wflow_metadata::{Recorder, Status};
use wflow_scheduler::{RunEvent, RunOptions, RunSummary};
use wflow_store::Cas;

use crate::exit::{BadInput, FlowFailed};
use crate::output::Printer;
use crate::settings::{Settings, user};

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// A component file (`.wasm`), a guest crate directory, a Python (`.py`) or JavaScript (`.js`)
    /// flow, or a polyglot flow's `wflow.toml` (built first).
    pub flow: PathBuf,
    /// A parameter value, `NAME=VALUE` (repeatable).
    #[arg(short = 'p', long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Tasks that run at the same time. Default: the number of CPU cores; on AWS Batch, as many
    /// as the queue takes.
    #[arg(long, env = "WFLOW_MAX_WORKERS")]
    pub max_workers: Option<usize>,
    /// Tag the run from its start (repeatable), as `wflow tag add` would.
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Run every task, even of a pure step (one that asks for no capability) whose reads match
    /// a task of an earlier run: by default its outputs are taken from the cache.
    #[arg(long)]
    pub no_cache: bool,
    #[command(flatten)]
    pub compute: crate::compute::ComputeArgs,
}

/// Refuses an invalid `--tag` before anything is run or recorded.
pub(crate) fn check_tags(tags: &[String]) -> Result<()> {
    for t in tags {
        wflow_metadata::validate_tag(t)
            .map_err(|reason| BadInput(format!("--tag {t:?} is not a tag: {reason}")))?;
    }
    Ok(())
}

pub fn execute(args: RunArgs, settings: &Settings, printer: &Printer) -> Result<ExitCode> {
    let local_workers = super::resume::workers(args.max_workers);
    let given = parse_assignments(&args.params)?;
    check_tags(&args.tags)?;
    let flow = super::load_flow(
        &args.flow,
        settings,
        local_workers,
        printer,
        args.compute.python_form(),
    )?;
    let spec = flow.plan.spec().clone();
    let params = resolve_params(&spec.parameters, &given)
        .with_context(|| format!("flow `{}`", spec.name))?;
    let compute = crate::compute::Prepared::check(
        &args.compute,
        &flow.plan,
        settings,
        args.max_workers,
        local_workers,
    )?;
    let max_workers = compute.max_workers;

    // Only now, with valid input, is anything written.
    let backend = crate::backends::open(settings, false)?.expect("created when absent");
    let summary_line = backend.summary();
    let cas = Arc::new(Cas::new(backend.blobs));
    for (_, wasm, _) in &flow.components {
        let bytes = std::fs::read(wasm).with_context(|| format!("reading {}", wasm.display()))?;
        cas.put(&bytes).context("storing the flow's component")?;
    }
    if let Some(record) = &flow.code_record {
        cas.put(record)
            .context("storing the flow's record of components")?;
    }
    let recorder = Arc::new(Recorder::new(backend.records));

    let run_id = RunId::generate();
    let _alive = wflow_client::RunLock::hold(&settings.store, &run_id.0).ok(); // lets `wflow resume` tell a killed run
    printer.note(format!(
        "Running {}/{} ({} steps, {}, store: {summary_line})",
        printer.bold(&spec.name),
        run_id,
        spec.steps.len(),
        compute.workers_text(),
    ));
    let progress = Progress::new(printer);
    let runtime = tokio_runtime(local_workers)?;
    let connected = compute.connect(&runtime, &progress, &flow.plan, printer)?;
    let summary = on_worker(
        &runtime,
        wflow_scheduler::run_flow(RunOptions {
            tags: args.tags,
            components: flow.by_step,
            code_digest: flow.code_digest,
            plan: flow.plan,
            params,
            cas,
            recorder: recorder.clone(),
            max_workers,
            observer: progress.observer(),
            user: user(),
            live_logs: Some(settings.store.join("live").join(&run_id.0)),
            run_id,
            sandboxes: flow.sandboxes,
            max_tasks: flow.max_tasks,
            compute: connected.computes.clone(),
            cache: !args.no_cache,
        }),
    )?;
    progress.finish();
    let compute_json = connected.report(printer);
    if let Ok(r) = Arc::try_unwrap(recorder) {
        r.close()?;
    }
    report(&summary, printer, compute_json)
}

/// The runtime a run's scheduler runs on: one async thread, and blocking threads (up to
/// `local_workers`, at least 8) for the store's, the records' and Batch's I/O. Local tasks run on
/// the scheduler's own threads.
pub(crate) fn tokio_runtime(local_workers: usize) -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(local_workers.max(8))
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")
}

/// Runs `future` (a run loop) on the runtime's async worker thread and waits for it here.
/// `block_on` alone would poll it on this thread while each task's own future runs on the
/// worker: every task's end would then wake a third thread. Measured at 10,000 trivial tasks on
/// 2 workers: one context switch fewer per task.
pub(crate) fn on_worker<F>(runtime: &tokio::runtime::Runtime, future: F) -> F::Output
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    match runtime.block_on(runtime.spawn(future)) {
        Ok(out) => out,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("the run loop was cancelled: {e}"),
    }
}

pub(crate) fn parse_assignments(raw: &[String]) -> Result<Vec<(String, String)>> {
    raw.iter()
        .map(|a| match a.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.trim().to_string(), v.to_string())),
            _ => Err(BadInput(format!("`-p {a}`: a parameter is given as NAME=VALUE")).into()),
        })
        .collect()
}

/// Prints a run's outcome (JSON with `--json`, `compute` added: where tasks ran, API calls) and
/// gives its exit code.
pub(crate) fn report(
    summary: &RunSummary,
    printer: &Printer,
    compute: Option<serde_json::Value>,
) -> Result<ExitCode> {
    if printer.json() {
        let mut v = serde_json::to_value(summary)?;
        if let Some(c) = compute {
            v["compute"] = c;
        }
        printer.value(&v);
    } else {
        #[derive(Default)]
        struct Count<'a> {
            tasks: usize,
            failed: usize,
            cached: usize,
            caught: usize,
            first: Option<&'a wflow_scheduler::TaskSummary>,
        }
        let mut steps: BTreeMap<&str, Count> = BTreeMap::new();
        let mut order = Vec::new();
        for t in &summary.tasks {
            let e = steps.entry(&t.step).or_insert_with(|| {
                order.push(&*t.step);
                Count {
                    first: Some(t),
                    ..Count::default()
                }
            });
            e.tasks += 1;
            e.failed += usize::from(!t.ok);
            e.cached += usize::from(t.cached);
            e.caught += usize::from(t.caught);
        }
        for step in order {
            let c = &steps[step];
            let status = if c.failed > 0 {
                printer.red(&format!("{} failed", c.failed))
            } else if c.caught > 0 {
                format!("{} caught", c.caught)
            } else {
                "ok".into()
            };
            let first = c
                .first
                .map(|t| t.pathspec(&summary.flow, &summary.run_id))
                .unwrap_or_default();
            let tasks = if c.tasks == 1 {
                first
            } else {
                format!("{} tasks, first {first}", c.tasks)
            };
            let cached = match c.cached {
                0 => String::new(),
                n if n == c.tasks => " (cached)".into(),
                n => format!(" ({n} cached)"),
            };
            printer.line(format!("  {step:<16} {status:<6} {tasks}{cached}"));
        }
    }
    let pathspec = format!("{}/{}", summary.flow, summary.run_id);
    let secs = summary.duration_ms as f64 / 1000.0;
    match (&summary.status, &summary.failure) {
        (Status::Succeeded, _) => {
            let cached = summary.tasks.iter().filter(|t| t.cached).count();
            let cached = if cached > 0 {
                format!(", {cached} taken from the cache")
            } else {
                String::new()
            };
            printer.note(format!(
                "{} {pathspec} succeeded in {secs:.2} s ({} tasks{cached})",
                printer.green("✓"),
                summary.tasks.len()
            ));
            Ok(ExitCode::SUCCESS)
        }
        (_, Some(f)) => {
            let mut msg = format!(
                "{pathspec} failed in {secs:.2} s\n  task {}: {}",
                f.pathspec, f.message
            );
            if !f.stderr_tail.is_empty() {
                msg.push_str("\n  last lines of its stderr:");
                for l in f.stderr_tail.lines() {
                    msg.push_str(&format!("\n    | {l}"));
                }
            }
            Err(FlowFailed(msg).into())
        }
        _ => Err(FlowFailed(format!("{pathspec} failed")).into()),
    }
}

/// A live count of tasks on stderr while a run goes (only on a terminal).
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
    counts: Arc<Counts>,
}

fn render(counts: &Counts, bar: &ProgressBar) {
    let (s, d, f) = (
        counts.started.load(Ordering::Relaxed),
        counts.done.load(Ordering::Relaxed),
        counts.failed.load(Ordering::Relaxed),
    );
    let step = counts.step.lock().expect("not poisoned").clone();
    let remote = counts.remote.lock().expect("not poisoned").clone();
    bar.set_message(format!(
        "{d} tasks done, {} running, {f} failed — last started: {step}{remote}",
        s - d
    ));
}

#[derive(Default)]
struct Counts {
    started: AtomicUsize,
    done: AtomicUsize,
    failed: AtomicUsize,
    step: Mutex<String>,
    /// Job states on AWS Batch, when tasks run there.
    remote: Mutex<String>,
}

impl Progress {
    pub(crate) fn new(printer: &Printer) -> Progress {
        let bar = printer.interactive().then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {elapsed} {msg}").expect("valid template"),
            );
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        });
        Progress {
            bar,
            counts: Arc::default(),
        }
    }

    pub(crate) fn observer(&self) -> wflow_scheduler::Observer {
        let counts = self.counts.clone();
        let bar = self.bar.clone();
        Arc::new(move |ev: RunEvent| {
            match ev {
                RunEvent::TaskStarted { step, .. } => {
                    counts.started.fetch_add(1, Ordering::Relaxed);
                    *counts.step.lock().expect("not poisoned") = step.to_string();
                }
                RunEvent::TaskFinished { ok, .. } => {
                    counts.done.fetch_add(1, Ordering::Relaxed);
                    if !ok {
                        counts.failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
                RunEvent::AttemptFailed {
                    step,
                    task_id,
                    attempt,
                    failure,
                    will_retry: true,
                } => {
                    // The failure quotes the guest's error text: escaped for the terminal.
                    let line = crate::output::shown_lines(&format!(
                        "  {step}/{task_id} attempt {attempt} failed ({failure}); retrying"
                    ))
                    .into_owned();
                    match &bar {
                        Some(b) => b.println(line),
                        None => eprintln!("{line}"),
                    }
                }
                _ => {}
            }
            if let Some(bar) = &bar {
                render(&counts, bar);
            }
        })
    }

    /// Shows the tasks' job states on AWS Batch on the live line.
    #[cfg(feature = "batch")]
    pub(crate) fn batch_observer(&self) -> impl Fn(wflow_batch::JobCounts) + Send + Sync + 'static {
        let counts = self.counts.clone();
        let bar = self.bar.clone();
        move |c: wflow_batch::JobCounts| {
            *counts.remote.lock().expect("not poisoned") = format!(
                " — Batch: {} submitted, {} runnable, {} running, {} done",
                c.submitted, c.runnable, c.running, c.done
            );
            if let Some(bar) = &bar {
                render(&counts, bar);
            }
        }
    }

    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
