//! `wflow step-run`: run one task of a past run again, on the same inputs, without creating a
//! run (like Metaflow's `spin`): prints the artifacts it would produce and its logs. `--persist`
//! keeps the result as a new run, recorded with its origin.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;
use wflow_client::{Client, LogSource, Object, Stream};
use wflow_metadata::{Metadata, Recorder, Status};
use wflow_scheduler::{Code, Resume};

use super::inspect::{clip, open_client, preview, size, store_dir};
use super::resume::{component_for, run_resumed, workers};
use super::run::parse_assignments;
use crate::exit::{BadInput, FlowFailed};
use crate::output::Printer;
use crate::settings::Settings;

#[derive(clap::Args, Debug)]
pub struct StepRunArgs {
    /// The task to run again: `Flow/run/step/task` (or `Flow/run/step` for a step with one task).
    pub pathspec: String,
    /// The component (`.wasm`) or guest crate directory to run it with (say, after editing the
    /// step). Default: the run's own component, kept in the store.
    pub flow: Option<PathBuf>,
    /// Keep the result as a new run (with the reused tasks it read from and this one task),
    /// recorded with its origin. Without it nothing is recorded.
    #[arg(long)]
    pub persist: bool,
    /// Override a parameter, `NAME=VALUE` (repeatable); the others keep the run's values.
    #[arg(short = 'p', long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
}

pub fn execute(args: StepRunArgs, settings: &Settings, printer: &Printer) -> Result<ExitCode> {
    let given = parse_assignments(&args.params)?;
    let client = open_client(settings)?;
    let target = match client.get(&args.pathspec)? {
        Object::Task(t) => t,
        Object::Step(s) => s.task()?,
        _ => {
            return Err(BadInput(format!(
                "`{}` does not name a task: step-run re-runs one task, as in Flow/run/step/3",
                args.pathspec
            ))
            .into());
        }
    };
    let origin = client
        .metadata()
        .run(&target.record().run_id)?
        .expect("the task's run is recorded");
    let cas = client.cas().clone();
    let component = component_for(args.flow.as_deref(), &origin, &cas, settings, 1, printer)?;
    // The target and its ancestors, not the whole run (a million-task foreach's item has a few).
    let tasks = wflow_scheduler::lineage(&**client.metadata(), target.record())?;
    let code = component.code();
    let origin_code = Code::of_run(&cas, &origin, component.plan.steps_in_order(), &code);
    let mut resume = Resume::plan_step_run(
        origin.clone(),
        tasks,
        component.plan.clone(),
        &code,
        origin_code,
        target.record(),
    )
    .map_err(|e| BadInput(e.to_string()))?;
    let params = wflow_scheduler::resume_params(component.plan.spec(), &origin.params, &given)?;

    let meta = if args.persist {
        client.metadata().clone()
    } else {
        Arc::new(Metadata::open_in_memory()?)
    };
    printer.note(format!(
        "Running {} again on the same inputs, with {}",
        target.pathspec(),
        component.origin
    ));
    if let Some((old, new)) = &resume.report().code_changed {
        printer.note(format!(
            "  (the run used component {}; this is {})",
            old.short(),
            new.short()
        ));
    }
    let recorder = Arc::new(Recorder::new(meta.clone()));
    let summary = run_resumed(
        component,
        params,
        Arc::new(cas.clone()),
        recorder.clone(),
        workers(None),
        Arc::new(|_| {}),
        &mut resume,
        store_dir(settings),
        args.persist,
        &super::run::tokio_runtime(workers(None))?,
        Default::default(),
        Vec::new(),
        false,
    )?;
    if let Ok(r) = Arc::try_unwrap(recorder) {
        r.close()?;
    }
    let reused: Vec<u64> = resume.report().reused.iter().map(|t| t.task_id).collect();
    let Some(ran) = summary
        .tasks
        .iter()
        .find(|t| *t.step == *target.step() && !reused.contains(&t.task_id))
    else {
        // The run stopped before the task (a policy limit on the reused tasks' fan-out, say):
        // its failure says why.
        return Err(match &summary.failure {
            Some(f) => anyhow::anyhow!("the task did not run: the re-run stopped: {}", f.message),
            None => anyhow::anyhow!(
                "the task did not run: its inputs could not be rebuilt from run {}/{}",
                origin.flow,
                origin.run_id
            ),
        });
    };

    // Read the result back through a client over the records just written.
    let view = Client::from_parts(meta, cas, Some(store_dir(settings).to_path_buf()));
    let run = view.run(&format!("{}/{}", summary.flow, summary.run_id))?;
    let task = run.task(ran.task_id)?;
    let before = target.manifest().ok();
    let artifacts = match task.artifacts() {
        Ok(a) => a,
        Err(wflow_client::ClientError::NoArtifacts { .. }) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    let change = |name: &str, digest: wflow_core::Digest| -> &'static str {
        match before.as_ref().and_then(|m| m.artifacts.get(name)) {
            Some(r) if r.digest == digest => "same",
            Some(_) => "changed",
            None if before.is_some() => "new",
            None => "",
        }
    };
    let logs = task.logs(None)?;
    let failed = task.status() != Status::Succeeded;
    let error = logs.attempt.error.clone();
    let kept = args.persist.then(|| task.pathspec());

    if printer.json() {
        let list: Vec<serde_json::Value> = artifacts
            .iter()
            .map(|a| {
                let mut v = serde_json::to_value(a.info()).expect("plain data");
                v["compared"] = change(a.name(), a.digest()).into();
                if let Some(value) = preview(a) {
                    v["value"] = value;
                }
                v
            })
            .collect();
        printer.value(&serde_json::json!({
            "origin_task": target.pathspec(),
            "task": kept,
            "run": args.persist.then(|| run.pathspec()),
            "status": task.status(),
            "error": error,
            "artifacts": list,
            "stdout": String::from_utf8_lossy(&logs.stdout.bytes),
            "stderr": String::from_utf8_lossy(&logs.stderr.bytes),
        }));
    } else {
        printer.line(format!("artifacts (compared with {}):", target.pathspec()));
        let width = artifacts
            .iter()
            .map(|a| a.name().chars().count())
            .max()
            .unwrap_or(0);
        for a in &artifacts {
            let value = preview(a)
                .map(|v| clip(&v.to_string(), 60))
                .unwrap_or_default();
            printer.line(
                format!(
                    "  {:<width$}  {:<7}  {:<5}  {:>9}  {value}",
                    a.name(),
                    change(a.name(), a.digest()),
                    a.codec(),
                    size(a.size())
                )
                .trim_end(),
            );
        }
        if artifacts.is_empty() {
            printer.line("  none (the task failed)");
        }
        for s in Stream::BOTH {
            let log = logs.get(s);
            if log.source != LogSource::Empty && !log.bytes.is_empty() {
                printer.line(format!("{s}:"));
                for line in String::from_utf8_lossy(&log.bytes).lines() {
                    printer.line(format!("  | {line}"));
                }
            }
        }
        match &kept {
            Some(p) => printer.note(format!(
                "kept as {p} (run {}, origin {}/{})",
                run.pathspec(),
                origin.flow,
                origin.run_id
            )),
            None => printer.note("not kept: nothing was recorded (--persist keeps it as a run)"),
        }
    }
    if failed {
        return Err(FlowFailed(format!(
            "{} failed again: {}",
            target.pathspec(),
            error.unwrap_or_else(|| "see its logs".into())
        ))
        .into());
    }
    Ok(ExitCode::SUCCESS)
}
