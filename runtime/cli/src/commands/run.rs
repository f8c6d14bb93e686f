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
use wflow_scheduler::{Compute, RunEvent, RunOptions, RunSummary};
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
    #[command(flatten)]
    pub compute: crate::compute::ComputeArgs,
}

/// Tasks in flight on AWS Batch when `--max-workers` is not given: the queue bounds them.
const BATCH_MAX_WORKERS: usize = 100_000;

pub fn execute(args: RunArgs, settings: &Settings, printer: &Printer) -> Result<ExitCode> {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let local_workers = args.max_workers.unwrap_or(cores).max(1);
    let given = parse_assignments(&args.params)?;
    let flow = super::load_flow(&args.flow, settings, local_workers, printer)?;
    let spec = flow.plan.spec().clone();
    let params = resolve_params(&spec.parameters, &given)
        .with_context(|| format!("flow `{}`", spec.name))?;
    let placement = crate::compute::Placement::of(&args.compute, &flow.plan)?;
    let batch_env = if placement.uses_batch() {
        Some(crate::compute::worker_env(settings)?)
    } else {
        None
    };
    #[cfg(feature = "batch")]
    let batch_config = match &batch_env {
        Some(_) => Some(crate::compute::batch_config(&args.compute)?),
        None => None,
    };
    #[cfg(not(feature = "batch"))]
    if batch_env.is_some() {
        return Err(BadInput(
            "this wflow was built without AWS Batch support (feature `batch`)".into(),
        )
        .into());
    }
    let max_workers = match args.max_workers {
        Some(n) => n.max(1),
        None if placement.uses_batch() => BATCH_MAX_WORKERS,
        None => local_workers,
    };

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
    let workers = if max_workers == BATCH_MAX_WORKERS {
        "workers as the queue takes".to_string()
    } else {
        format!(
            "{max_workers} worker{}",
            if max_workers == 1 { "" } else { "s" }
        )
    };
    printer.note(format!(
        "Running {}/{} ({} steps, {workers}, store: {summary_line})",
        printer.bold(&spec.name),
        run_id,
        spec.steps.len(),
    ));
    let progress = Progress::new(printer);
    let observer = progress.observer();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(local_workers.max(8))
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    let mut compute = wflow_scheduler::Computes::default();
    #[cfg(feature = "batch")]
    let mut batch = None;
    #[cfg(feature = "batch")]
    if let (Some(config), Some(env)) = (batch_config, batch_env) {
        let b = runtime
            .block_on(wflow_batch::BatchCompute::connect(config, env))
            .map_err(BadInput)?;
        b.on_progress(progress.batch_observer());
        // Ctrl-C: end every job of the run, then stop.
        let handle = b.clone();
        runtime.spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("interrupted: terminating the run's AWS Batch jobs…");
                let n = handle
                    .terminate_all("Terminated by wflow: the run was interrupted (Ctrl-C)")
                    .await;
                eprintln!("terminated {n} AWS Batch job(s)");
                std::process::exit(130);
            }
        });
        let b_dyn: Arc<dyn wflow_scheduler::Compute> = Arc::new(b.clone());
        compute.named.insert("batch".into(), b_dyn.clone());
        if placement.forced.as_deref() == Some("batch") {
            compute.default = b_dyn;
        }
        batch = Some(b);
    }
    if placement.forced.is_some() {
        // `--compute` overrides the steps' own settings.
        compute.named.clear();
    }
    let batch_steps = placement.steps_on("batch");
    if batch_steps.len() == spec.steps.len() {
        printer.note(format!(
            "  tasks run on {}",
            compute.for_step(&spec.steps[0]).describe()
        ));
    } else if !batch_steps.is_empty() {
        printer.note(format!(
            "  steps {} run on {}; the others on this machine",
            batch_steps.join(", "),
            compute.named["batch"].describe()
        ));
    }
    let summary = runtime.block_on(wflow_scheduler::run_flow(RunOptions {
        components: flow.by_step,
        code_digest: flow.code_digest,
        plan: flow.plan,
        params,
        cas,
        recorder: recorder.clone(),
        max_workers,
        observer,
        user: user(),
        live_logs: Some(settings.store.join("live").join(&run_id.0)),
        run_id,
        sandboxes: flow.sandboxes,
        compute,
    }))?;
    progress.finish();
    #[allow(unused_mut)]
    let mut compute_json = None;
    #[cfg(feature = "batch")]
    if let Some(b) = &batch {
        let c = b.counters().snapshot();
        compute_json = Some(serde_json::json!({
            "batch": {
                "queue": b.describe(),
                "api_calls": b.counters().total_calls(),
                "counters": c,
                "jobs": b.submitted().len(),
            }
        }));
        printer.note(format!(
            "  AWS Batch API calls: {} ({})",
            b.counters().total_calls(),
            c.iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if let Ok(r) = Arc::try_unwrap(recorder) {
        r.close()?;
    }
    report_with(&summary, printer, compute_json)
}

pub(crate) fn parse_assignments(raw: &[String]) -> Result<Vec<(String, String)>> {
    raw.iter()
        .map(|a| match a.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.trim().to_string(), v.to_string())),
            _ => Err(BadInput(format!("`-p {a}`: a parameter is given as NAME=VALUE")).into()),
        })
        .collect()
}

pub(crate) fn report(summary: &RunSummary, printer: &Printer) -> Result<ExitCode> {
    report_with(summary, printer, None)
}

/// [`report`], with `compute` (where tasks ran, API calls) added to the JSON summary.
fn report_with(
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
        let mut steps: BTreeMap<&str, (usize, usize, &str)> = BTreeMap::new();
        let mut order = Vec::new();
        for t in &summary.tasks {
            let e = steps.entry(&t.step).or_insert_with(|| {
                order.push(t.step.as_str());
                (0, 0, t.pathspec.as_str())
            });
            e.0 += 1;
            if !t.ok {
                e.1 += 1;
            }
        }
        for step in order {
            let (n, failed, first) = steps[step];
            let status = if failed > 0 {
                printer.red(&format!("{failed} failed"))
            } else {
                "ok".into()
            };
            let tasks = if n == 1 {
                first.to_string()
            } else {
                format!("{n} tasks, first {first}")
            };
            printer.line(format!("  {step:<16} {status:<6} {tasks}"));
        }
    }
    let pathspec = format!("{}/{}", summary.flow, summary.run_id);
    let secs = summary.duration_ms as f64 / 1000.0;
    match (&summary.status, &summary.failure) {
        (Status::Succeeded, _) => {
            printer.note(format!(
                "{} {pathspec} succeeded in {secs:.2} s ({} tasks)",
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
                    let line = format!(
                        "  {step}/{task_id} attempt {attempt} failed ({failure}); retrying"
                    );
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
