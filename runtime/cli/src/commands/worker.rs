//! `wflow worker`: run exactly one attempt of one task described in the store — what each AWS
//! Batch job of a run does (see docs/batch.md). The job's environment names the store
//! (`WFLOW_STORE`, `WFLOW_S3_*`), the description (`WFLOW_TASK`) and the digest of its bytes
//! (`WFLOW_TASK_DIGEST`: a description with other bytes is refused); an array child takes its
//! task from `AWS_BATCH_JOB_ARRAY_INDEX`.
//!
//! The worker checks the sandbox the description carries (the one the policy resolved for the step
//! on the submitting machine) against the policy it trusts itself (`/etc/wflow/policy.toml` or
//! `$WFLOW_POLICY`, baked into its image) and refuses the task if it asks for more. It then fetches
//! the component by digest (compiled once per machine in the cache), runs the task, and
//! writes the outputs, the manifest, the logs and last its report
//! (`tasks-v1/<run>/results/<task>-<attempt>`) to the store. The run that submitted the job
//! records the attempt from that report.
//!
//! | exit code | meaning |
//! |---|---|
//! | 0 | the attempt succeeded (report written) |
//! | 1 | the step failed (report written, with the step's error) |
//! | 2 | bad input: no such description, one that is not the job's (digest), no or a wrong array index, a sandbox this worker's policy refuses |
//! | 3 | environment: the store cannot be read or written, the component cannot be loaded |

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use wflow_engine::{Engine, EngineConfig};
use wflow_scheduler::AttemptReport;
use wflow_scheduler::remote::{RemoteError, TaskDescription, put_report, report_key};
use wflow_store::Cas;

use crate::exit::BadInput;
use crate::output::Printer;
use crate::settings::Settings;

/// A job of a run driven by `wflow run --compute batch`: its description.
struct Described {
    task: String,
    task_digest: wflow_core::Digest,
    index: Option<usize>,
}

#[derive(clap::Args, Debug)]
pub struct WorkerArgs {
    /// The task description's key in the store (`tasks-v1/RUN/TASK-ATTEMPT`). A job of a
    /// deployed run has none: it names its deployment (`WFLOW_DEPLOYMENT`, docs/deploy.md).
    #[arg(long, env = "WFLOW_TASK", value_name = "KEY")]
    pub task: Option<String>,
    /// The digest of the description's bytes, as the run that wrote it computed it (hex).
    #[arg(long, env = "WFLOW_TASK_DIGEST", value_name = "HEX")]
    pub task_digest: Option<wflow_core::Digest>,
    /// Which task of an array job's description (default: `AWS_BATCH_JOB_ARRAY_INDEX`, else 0).
    #[arg(long, env = "AWS_BATCH_JOB_ARRAY_INDEX", value_name = "N")]
    pub index: Option<usize>,
}

pub fn execute(args: WorkerArgs, settings: &Settings, printer: &Printer) -> Result<ExitCode> {
    #[cfg(feature = "deployed")]
    if args.task.is_none() && super::deployed::is_deployed() {
        return super::deployed::execute(settings, printer);
    }
    let (Some(task), Some(task_digest)) = (args.task, args.task_digest) else {
        return Err(BadInput(
            "wflow worker needs a task description: --task KEY and --task-digest HEX (or $WFLOW_TASK and $WFLOW_TASK_DIGEST), or the $WFLOW_DEPLOYMENT of a deployed run".into(),
        )
        .into());
    };
    let args = Described {
        task,
        task_digest,
        index: args.index,
    };
    let backend = crate::backends::open(settings, false)?.expect("created when absent");
    let cas = Arc::new(Cas::new(backend.blobs));
    let description = match TaskDescription::get(&cas, &args.task, &args.task_digest) {
        Ok(d) => d,
        Err(e @ RemoteError::Store(_)) => {
            return Err(anyhow::Error::new(e).context("the worker cannot read its task"));
        }
        Err(e) => return Err(BadInput(format!("{e} (in {})", settings.store_label())).into()),
    };
    let index = match (args.index, description.tasks.len()) {
        (Some(i), n) if i < n => i,
        (None, 1) => 0,
        (Some(i), n) => {
            return Err(BadInput(format!(
                "array index {i} is out of range: `{}` describes {n} task(s)",
                args.task
            ))
            .into());
        }
        (None, n) => {
            return Err(BadInput(format!(
                "`{}` describes {n} tasks (an array job) but no index was given (AWS_BATCH_JOB_ARRAY_INDEX or --index)",
                args.task
            ))
            .into());
        }
    };
    use wflow_core::names::{NameKind, validate};
    validate(NameKind::Flow, &description.flow)
        .and_then(|()| validate(NameKind::Run, &description.run_id))
        .and_then(|()| validate(NameKind::Step, &description.step))
        .map_err(|e| {
            BadInput(format!(
                "the task description `{}` is invalid: {e}",
                args.task
            ))
        })?;
    // The sandbox was written by whoever could write to the store: check it against the policy
    // this machine trusts before anything runs.
    let policy = settings.policy()?;
    if let Err(violations) = policy.admits(
        &description.flow,
        &description.step,
        &description.component.to_hex(),
        &description.sandbox,
        &settings.target()?,
    ) {
        let message = format!(
            "the task's sandbox is refused by this worker's policy; nothing was run\n{violations}"
        );
        let input = description.input(index).expect("index checked");
        let key = report_key(&input.run_id, input.task_id, input.attempt);
        put_report(&cas, &key, &AttemptReport::compute_failure(&message, false))
            .context("writing the task's report")?;
        return Err(BadInput(message).into());
    }
    let input = description.input(index).expect("index checked");
    let pathspec = format!(
        "{}/{}/{}/{}",
        input.flow, input.run_id, input.step, input.task_id
    );
    let key = report_key(&input.run_id, input.task_id, input.attempt);
    printer.note(format!(
        "wflow worker: {pathspec} attempt {} ({})",
        input.attempt,
        settings.store_label()
    ));

    // The component, by digest; the engine as the sandbox needs it.
    let loaded = cas
        .get(&description.component)
        .map_err(|e| format!("fetching component {}: {e}", description.component))
        .and_then(|bytes| {
            let engine = Engine::new(EngineConfig {
                max_concurrent_tasks: 1,
                cache_dir: Some(settings.cache_dir.join("compiled")),
                pooling: false,
                fuel: input.sandbox.fuel.is_some(),
                max_wasm_stack: policy.max_wasm_stack(),
                compiler: super::compiler().map_err(|e| format!("{e:#}"))?,
                compile_limits: super::compile_limits(&policy),
                ..EngineConfig::default()
            })
            .map_err(|e| e.to_string())?;
            let component = engine
                .load(&bytes, &format!("component {}", description.component))
                .map_err(|e| e.to_string())?;
            super::warn(printer, &component);
            Ok(component)
        });
    let component = match loaded {
        Ok(c) => c,
        Err(message) => {
            let report = AttemptReport::compute_failure(
                format!("the worker could not load the flow's component: {message}"),
                false,
            );
            put_report(&cas, &key, &report).context("writing the task's report")?;
            printer.note(format!("wflow worker: {pathspec}: {message}"));
            return Ok(ExitCode::from(3));
        }
    };

    let report = wflow_scheduler::run_attempt(&component, &cas, input);
    put_report(&cas, &key, &report).context("writing the task's report to the store")?;
    Ok(match &report.result {
        Ok(_) => {
            printer.note(format!("wflow worker: {pathspec} succeeded"));
            ExitCode::SUCCESS
        }
        Err(f) => {
            printer.note(format!("wflow worker: {pathspec} failed: {f}"));
            ExitCode::from(1)
        }
    })
}
