//! `wflow deploy create|trigger|list|show|delete`: a flow on AWS Step Functions driving AWS Batch
//! jobs, running with nobody's machine on (docs/deploy.md). The AWS settings come from, in order:
//!
//! 1. `--deploy-role`, `--deploy-events-role`, `--deploy-region`, `--deploy-endpoint` (or
//!    `$WFLOW_DEPLOY_ROLE`, `$WFLOW_DEPLOY_EVENTS_ROLE`, `$WFLOW_DEPLOY_REGION`,
//!    `$WFLOW_DEPLOY_ENDPOINT`);
//! 2. the `[deploy]` table of the config file.
//!
//! The jobs' queue, image and role are the `--compute batch` ones (`[batch]`, `--batch-*`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use wflow_core::{Digest, RunId, now_millis, resolve_params};
use wflow_deploy::aws::{Aws, DeployConfig, EndedJob, Execution, Machine};
use wflow_deploy::layout::env;
use wflow_deploy::{Deployment, asl, check_name, check_schedule};
use wflow_metadata::{Event, Recorder, Status};
use wflow_store::Cas;

use crate::componentize::Form;
use crate::compute::BatchArgs;
use crate::exit::{BadInput, FlowFailed};
use crate::output::Printer;
use crate::settings::{Settings, user};

#[derive(Args, Debug)]
pub struct DeployArgs {
    #[command(subcommand)]
    pub command: DeployCommand,
    /// The IAM role the state machine runs as (ARN; see docs/deploy.md).
    #[arg(long, global = true, env = "WFLOW_DEPLOY_ROLE", value_name = "ARN")]
    pub deploy_role: Option<String>,
    /// The IAM role schedules and triggers start executions as (ARN).
    #[arg(
        long,
        global = true,
        env = "WFLOW_DEPLOY_EVENTS_ROLE",
        value_name = "ARN"
    )]
    pub deploy_events_role: Option<String>,
    /// The region of Step Functions, Scheduler and EventBridge.
    #[arg(
        long,
        global = true,
        env = "WFLOW_DEPLOY_REGION",
        value_name = "REGION"
    )]
    pub deploy_region: Option<String>,
    /// The endpoint URL of Step Functions, Scheduler and EventBridge (tests, private endpoints).
    #[arg(long, global = true, env = "WFLOW_DEPLOY_ENDPOINT", value_name = "URL")]
    pub deploy_endpoint: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum DeployCommand {
    /// Create or update a deployment: the flow as a state machine of AWS Batch jobs.
    Create(CreateArgs),
    /// Start a run of a deployment and print its pathspec (`--wait`: follow it to its end).
    Trigger(TriggerArgs),
    /// List the deployments.
    List,
    /// Show a deployment: its graph, code, parameters, schedule, triggers and last runs.
    Show(NameArg),
    /// Delete a deployment's state machine, schedule and triggers (its runs and artifacts stay).
    Delete(NameArg),
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// A component file (`.wasm`), a guest crate directory, a Python or JavaScript flow, or a
    /// polyglot flow's `wflow.toml` (built first).
    pub flow: PathBuf,
    /// The deployment's name (default: the flow's).
    #[arg(long)]
    pub name: Option<String>,
    /// A parameter value every run of the deployment gets, `NAME=VALUE` (repeatable).
    #[arg(short = 'p', long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Start runs on a schedule: `rate(1 hour)`, `cron(0 6 * * ? *)` (EventBridge Scheduler,
    /// UTC). Redeploying without it removes the schedule.
    #[arg(long, value_name = "EXPR")]
    pub schedule: Option<String>,
    /// Start a run whenever a run of that deployment succeeds (repeatable); the triggering run's
    /// pathspec is kept as the new run's `triggered-by:` tag.
    #[arg(long = "trigger-on-finish", value_name = "DEPLOYMENT")]
    pub trigger_on_finish: Vec<String>,
    #[command(flatten)]
    pub batch: BatchArgs,
}

#[derive(Args, Debug)]
pub struct TriggerArgs {
    /// The deployment.
    pub name: String,
    /// A parameter value for this run, `NAME=VALUE` (repeatable), over the deployment's.
    #[arg(short = 'p', long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Follow the run to its end; exit 1 if it failed.
    #[arg(long)]
    pub wait: bool,
}

#[derive(Args, Debug)]
pub struct NameArg {
    /// The deployment.
    pub name: String,
}

pub fn execute(args: DeployArgs, settings: &Settings, printer: &Printer) -> Result<ExitCode> {
    let config = deploy_config(&args)?;
    let runtime = super::run::tokio_runtime(1)?;
    match args.command {
        DeployCommand::Create(a) => create(a, config, settings, printer, &runtime),
        DeployCommand::Trigger(a) => trigger(a, config, settings, printer, &runtime),
        DeployCommand::List => list(config, printer, &runtime),
        DeployCommand::Show(a) => show(a, config, settings, printer, &runtime),
        DeployCommand::Delete(a) => delete(a, config, printer, &runtime),
    }
}

/// The `[deploy]` table overlaid with flags and variables.
fn deploy_config(args: &DeployArgs) -> Result<DeployConfig, BadInput> {
    let mut table = crate::backends::config_file_table("deploy")
        .map_err(BadInput)?
        .unwrap_or_default();
    for (k, v) in [
        ("role", &args.deploy_role),
        ("events_role", &args.deploy_events_role),
        ("region", &args.deploy_region),
        ("endpoint", &args.deploy_endpoint),
    ] {
        if let Some(v) = v {
            table.insert(k.into(), Value::from(v.clone()));
        }
    }
    serde_json::from_value(Value::Object(table))
        .map_err(|e| BadInput(format!("the [deploy] settings: {e}")))
}

fn bad(e: wflow_deploy::DeployError) -> anyhow::Error {
    match e {
        wflow_deploy::DeployError::BadInput(m) => BadInput(m).into(),
        other => anyhow::Error::new(other),
    }
}

/// The deployment a state machine runs, from the store.
fn deployment_of(
    aws: &Aws,
    machine: &Machine,
    cas: &Cas,
    runtime: &tokio::runtime::Runtime,
) -> Result<Deployment> {
    let definition = runtime
        .block_on(aws.definition(&machine.arn))
        .map_err(bad)?;
    let definition: Value = serde_json::from_str(&definition)
        .with_context(|| format!("the state machine of `{}` is not JSON", machine.name))?;
    let (key, digest) = asl::deployment_ref(&definition).ok_or_else(|| {
        BadInput(format!(
            "the state machine {} names no wflow deployment",
            machine.arn
        ))
    })?;
    let digest: Digest = digest
        .parse()
        .map_err(|e| BadInput(format!("the state machine names a bad digest: {e}")))?;
    Deployment::get(cas, &key, &digest).map_err(|e| {
        BadInput(format!(
            "{e} (is this the store `{}` was deployed with?)",
            machine.name
        ))
        .into()
    })
}

fn find(aws: &Aws, name: &str, runtime: &tokio::runtime::Runtime) -> Result<Machine> {
    check_name(name).map_err(bad)?;
    runtime
        .block_on(aws.machine(name))
        .map_err(bad)?
        .ok_or_else(|| {
            BadInput(format!(
                "there is no deployment named `{name}` (`wflow deploy list` shows them)"
            ))
            .into()
        })
}

fn open_cas(settings: &Settings) -> Result<Arc<Cas>> {
    let backend = crate::backends::open(settings, false)?.expect("created when absent");
    Ok(Arc::new(Cas::new(backend.blobs)))
}

/// The store's bucket and key prefix (`""` or ending in `/`).
fn bucket_and_prefix(worker_env: &[(String, String)]) -> Result<(String, String)> {
    let url = worker_env
        .iter()
        .find(|(k, _)| k == "WFLOW_STORE")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| BadInput(format!("the store `{url}` is not an s3:// URL")))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let prefix = prefix.trim_matches('/');
    Ok((
        bucket.to_string(),
        if prefix.is_empty() {
            String::new()
        } else {
            format!("{prefix}/")
        },
    ))
}

fn create(
    args: CreateArgs,
    config: DeployConfig,
    settings: &Settings,
    printer: &Printer,
    runtime: &tokio::runtime::Runtime,
) -> Result<ExitCode> {
    // Everything is checked before anything is created.
    let given = super::run::parse_assignments(&args.params)?;
    if let Some(s) = &args.schedule {
        check_schedule(s).map_err(bad)?;
    }
    // A deployed flow leaves this machine: Python flows are built in full.
    let flow = super::load_flow(&args.flow, settings, 1, printer, Form::Full)?;
    asl::check_plan(&flow.plan).map_err(|e| BadInput(e.to_string()))?;
    let spec = flow.plan.spec().clone();
    let name = args.name.clone().unwrap_or_else(|| spec.name.clone());
    check_name(&name).map_err(bad)?;
    resolve_params(&spec.parameters, &given)
        .with_context(|| format!("flow `{}`: the deployment's parameters", spec.name))?;
    let worker_env = crate::compute::worker_env(settings)
        .map_err(|e| BadInput(e.0.replace("tasks on AWS Batch need", "a deployment needs")))?;
    let batch = crate::compute::batch_config(&args.batch)?;
    let role = config.role.clone().ok_or_else(|| {
        BadInput(
            "a deployment needs the IAM role its state machine runs as: --deploy-role ARN, $WFLOW_DEPLOY_ROLE or `role` in the config file's [deploy] table (see docs/deploy.md)".into(),
        )
    })?;
    let events_role = config.events_role.clone();
    if (args.schedule.is_some() || !args.trigger_on_finish.is_empty()) && events_role.is_none() {
        return Err(BadInput(
            "--schedule and --trigger-on-finish need the IAM role EventBridge starts executions as: --deploy-events-role ARN, $WFLOW_DEPLOY_EVENTS_ROLE or `events_role` in [deploy] (see docs/deploy.md)".into(),
        )
        .into());
    }
    let (bucket, prefix) = bucket_and_prefix(&worker_env)?;
    let aws = runtime.block_on(Aws::connect(&config));
    let cas = open_cas(settings)?;
    // Triggers name deployments that exist (their state machine and flow).
    let mut triggers = Vec::new();
    for other in &args.trigger_on_finish {
        check_name(other).map_err(bad)?;
        let m =
            find(&aws, other, runtime).with_context(|| format!("--trigger-on-finish {other}"))?;
        let d = deployment_of(&aws, &m, &cas, runtime)?;
        triggers.push((other.clone(), m.arn, d.spec.name));
    }

    // Only now is anything written: the components, the deployment, the job definitions, the
    // state machine, its schedule and triggers.
    for (_, wasm, _) in &flow.components {
        let bytes = std::fs::read(wasm).with_context(|| format!("reading {}", wasm.display()))?;
        cas.put(&bytes).context("storing the flow's component")?;
    }
    if let Some(record) = &flow.code_record {
        cas.put(record)
            .context("storing the flow's record of components")?;
    }
    let deployment = Deployment {
        version: 1,
        name: name.clone(),
        spec: spec.clone(),
        code: flow.code_digest,
        components: flow
            .by_step
            .iter()
            .map(|(s, c)| (s.clone(), c.digest()))
            .collect(),
        sandboxes: flow
            .sandboxes
            .iter()
            .map(|(s, sb)| (s.clone(), (**sb).clone()))
            .collect(),
        params: given.iter().cloned().collect(),
        max_tasks: flow.max_tasks,
        user: user(),
        created_ms: now_millis(),
    };
    let (key, digest) = deployment.put(&cas).map_err(bad)?;
    let compute = runtime
        .block_on(wflow_batch::BatchCompute::connect(
            batch.clone(),
            worker_env.clone(),
        ))
        .map_err(BadInput)?;
    // The ended rule's target names the queue by ARN.
    let queue_arn = match &events_role {
        Some(_) => Some(runtime.block_on(compute.queue_arn()).map_err(BadInput)?),
        None => None,
    };
    let mut job_definitions = BTreeMap::new();
    for step in &spec.steps {
        let timeout = flow.sandboxes.get(&step.name).and_then(|s| s.timeout);
        let (vcpus, memory, timeout) = wflow_batch::step_resources(&batch, step, timeout);
        let arn = runtime
            .block_on(compute.job_definition_for(vcpus, memory, timeout))
            .map_err(|e| anyhow::anyhow!(e))?;
        job_definitions.insert(step.name.clone(), arn);
    }
    let recorder_definition = runtime
        .block_on(compute.job_definition_for(1, batch.default_memory_mb, None))
        .map_err(|e| anyhow::anyhow!(e))?;
    let mut job_env = worker_env;
    job_env.push((env::DEPLOYMENT.into(), key.clone()));
    job_env.push((env::DEPLOYMENT_DIGEST.into(), digest.to_hex()));
    // Tests only: smaller array jobs (see `env::CHUNK`).
    if let Ok(n) = std::env::var(env::CHUNK) {
        job_env.push((env::CHUNK.into(), n));
    }
    let definition = asl::compile(
        &flow.plan,
        &asl::Target {
            queue: batch.queue.clone(),
            job_definitions,
            recorder_definition: recorder_definition.clone(),
            bucket,
            prefix,
            env: job_env.clone(),
        },
    )?;
    let text = serde_json::to_string(&definition)?;
    let (arn, changed) = runtime
        .block_on(aws.put_machine(&name, &text, &role))
        .map_err(bad)?;
    let input = json!({"params": "{}", "trigger": ""}).to_string();
    match (&args.schedule, &events_role) {
        (Some(expr), Some(r)) => runtime
            .block_on(aws.put_schedule(&name, expr, &arn, r, &input))
            .map_err(bad)?,
        _ => {
            runtime.block_on(aws.delete_schedule(&name)).map_err(bad)?;
        }
    }
    // Executions that fail, time out or are stopped get their run recorded with nobody looking.
    let records_ended = match (&events_role, &queue_arn) {
        (Some(r), Some(queue_arn)) => {
            let job = EndedJob {
                queue_arn,
                job_definition: &recorder_definition,
                job_name: &asl::job_name(&spec.name, "record-ended"),
                env: &job_env,
            };
            runtime
                .block_on(aws.put_ended_rule(&name, &arn, &job, r))
                .map_err(bad)?;
            true
        }
        _ => {
            runtime
                .block_on(aws.delete_ended_rule(&name))
                .map_err(bad)?;
            false
        }
    };
    let existing = runtime.block_on(aws.triggers(&name)).map_err(bad)?;
    for old in existing
        .iter()
        .filter(|o| !args.trigger_on_finish.contains(o))
    {
        runtime
            .block_on(aws.delete_trigger(&name, old))
            .map_err(bad)?;
    }
    if let Some(r) = &events_role {
        for (other, other_arn, other_flow) in &triggers {
            runtime
                .block_on(aws.put_trigger(&name, other, other_arn, other_flow, &arn, r))
                .map_err(bad)?;
        }
    }
    let calls = aws.calls.lock().expect("not poisoned").clone();
    if printer.json() {
        printer.value(&json!({
            "name": name,
            "flow": spec.name,
            "state_machine": arn,
            "changed": changed,
            "deployment": key,
            "code": flow.code_digest.to_string(),
            "definition_bytes": text.len(),
            "schedule": args.schedule,
            "trigger_on_finish": args.trigger_on_finish,
            "records_ended": records_ended,
            "api_calls": calls,
        }));
    } else {
        printer.note(format!(
            "{} {} as deployment {name}: state machine {arn} ({})",
            printer.green("✓"),
            printer.bold(&spec.name),
            if changed {
                "created or updated"
            } else {
                "unchanged"
            },
        ));
        printer.note(format!("  code {}", flow.code_digest));
        if let Some(s) = &args.schedule {
            printer.note(format!("  schedule {s}"));
        }
        for t in &args.trigger_on_finish {
            printer.note(format!("  starts when a run of {t} succeeds"));
        }
        if !records_ended {
            printer.note(
                "  no events role (--deploy-events-role): a run whose execution is stopped or times out is recorded as failed only when `wflow deploy show` or `trigger --wait` sees it",
            );
        }
        printer.note(format!("  start a run: wflow deploy trigger {name}"));
    }
    Ok(ExitCode::SUCCESS)
}

fn trigger(
    args: TriggerArgs,
    config: DeployConfig,
    settings: &Settings,
    printer: &Printer,
    runtime: &tokio::runtime::Runtime,
) -> Result<ExitCode> {
    let given = super::run::parse_assignments(&args.params)?;
    let aws = runtime.block_on(Aws::connect(&config));
    let machine = find(&aws, &args.name, runtime)?;
    let cas = open_cas(settings)?;
    let d = deployment_of(&aws, &machine, &cas, runtime)?;
    let mut all = d.params.clone();
    all.extend(given.iter().cloned());
    let all: Vec<(String, String)> = all.into_iter().collect();
    resolve_params(&d.spec.parameters, &all).with_context(|| format!("flow `{}`", d.spec.name))?;
    let run = RunId::generate().0;
    let params: BTreeMap<String, String> = given.into_iter().collect();
    let input = json!({"params": serde_json::to_string(&params)?, "trigger": ""}).to_string();
    let execution = runtime
        .block_on(aws.start(&machine.arn, &run, &input))
        .map_err(bad)?;
    let pathspec = format!("{}/{run}", d.spec.name);
    if !args.wait {
        if printer.json() {
            printer.value(&json!({"pathspec": pathspec, "execution": execution}));
        } else {
            printer.line(&pathspec);
        }
        return Ok(ExitCode::SUCCESS);
    }
    printer.note(format!(
        "Started {} (execution {execution}); following it",
        printer.bold(&pathspec)
    ));
    follow(
        &aws, &execution, &pathspec, &run, settings, printer, runtime,
    )
}

/// Follows an execution to its end, with the run's task counts as it goes.
fn follow(
    aws: &Aws,
    execution: &str,
    pathspec: &str,
    run: &str,
    settings: &Settings,
    printer: &Printer,
    runtime: &tokio::runtime::Runtime,
) -> Result<ExitCode> {
    let backend = crate::backends::open(settings, false)?.expect("created when absent");
    let progress = super::run::Progress::new(printer);
    let observer = progress.observer();
    let (mut started, mut done) = (
        std::collections::BTreeSet::new(),
        std::collections::BTreeSet::new(),
    );
    let status = loop {
        let e = runtime.block_on(aws.execution(execution)).map_err(bad)?;
        if let Ok(tasks) = backend.records.tasks(run) {
            for t in tasks {
                if started.insert(t.task_id) {
                    observer(wflow_scheduler::RunEvent::TaskStarted {
                        step: &t.step,
                        task_id: t.task_id,
                    });
                }
                if t.status != Status::Running && done.insert(t.task_id) {
                    observer(wflow_scheduler::RunEvent::TaskFinished {
                        step: &t.step,
                        task_id: t.task_id,
                        ok: t.status == Status::Succeeded,
                    });
                }
            }
        }
        if e.status != "RUNNING" && e.status != "PENDING_REDRIVE" {
            break e;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    progress.finish();
    record_ended(&backend, run, &status)?;
    let record = backend.records.run(run).ok().flatten();
    let error = record.as_ref().and_then(|r| r.error.clone());
    if printer.json() {
        let history = runtime.block_on(aws.history(execution)).map_err(bad)?;
        printer.value(&json!({
            "pathspec": pathspec,
            "execution": execution,
            "status": status.status,
            "tasks": done.len(),
            "error": error,
            "history": history,
        }));
    }
    if status.status == "SUCCEEDED" {
        printer.note(format!(
            "{} {pathspec} succeeded ({} tasks)",
            printer.green("✓"),
            done.len()
        ));
        Ok(ExitCode::SUCCESS)
    } else {
        Err(FlowFailed(format!(
            "{pathspec} {}: {}",
            status.status.to_lowercase().replace('_', " "),
            error
                .or(status.error)
                .unwrap_or_else(|| "see the execution's history".into())
        ))
        .into())
    }
}

/// Records as failed the run of an execution that ended without success while its run is still
/// `running` in the records: one stopped (`StopExecution`) or timed out ends without its last
/// state, and so does one whose failure-recording job could not run. Whether it did.
fn record_ended(backend: &crate::backends::Backend, run: &str, e: &Execution) -> Result<bool> {
    if matches!(
        e.status.as_str(),
        "RUNNING" | "PENDING_REDRIVE" | "SUCCEEDED"
    ) {
        return Ok(false);
    }
    match backend.records.run(run)? {
        Some(r) if r.status == Status::Running => {}
        _ => return Ok(false),
    }
    let error = wflow_deploy::execution_ended_error(&e.status, e.error.as_deref(), &e.arn);
    let recorder = Recorder::new(backend.records.clone());
    recorder.send(Event::RunFinished {
        run_id: run.to_string(),
        status: Status::Failed,
        finished_ms: e.stopped_ms.unwrap_or_else(now_millis),
        error: Some(wflow_core::bounded(&error, wflow_core::MAX_MESSAGE_CHARS).into()),
    });
    recorder.close()?;
    Ok(true)
}

fn list(
    config: DeployConfig,
    printer: &Printer,
    runtime: &tokio::runtime::Runtime,
) -> Result<ExitCode> {
    let aws = runtime.block_on(Aws::connect(&config));
    let machines = runtime.block_on(aws.machines()).map_err(bad)?;
    if printer.json() {
        printer.value(&machines);
    } else if machines.is_empty() {
        printer.note("no deployments (`wflow deploy create FLOW` makes one)");
    } else {
        for m in &machines {
            printer.line(format!("{:<24} {}", m.name, m.arn));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn show(
    args: NameArg,
    config: DeployConfig,
    settings: &Settings,
    printer: &Printer,
    runtime: &tokio::runtime::Runtime,
) -> Result<ExitCode> {
    let aws = runtime.block_on(Aws::connect(&config));
    let machine = find(&aws, &args.name, runtime)?;
    let cas = open_cas(settings)?;
    let d = deployment_of(&aws, &machine, &cas, runtime)?;
    let schedule = runtime.block_on(aws.schedule(&args.name)).map_err(bad)?;
    let triggers = runtime.block_on(aws.triggers(&args.name)).map_err(bad)?;
    let records_ended = runtime
        .block_on(aws.has_ended_rule(&args.name))
        .map_err(bad)?;
    let executions = runtime
        .block_on(aws.executions(&machine.arn, 10))
        .map_err(bad)?;
    // Runs of executions that were stopped or timed out are recorded as failed when seen here.
    let backend = crate::backends::open(settings, false)?.expect("created when absent");
    for e in &executions {
        record_ended(&backend, &e.name, e)?;
    }
    let plan = wflow_graph::validate(&d.spec)
        .map_err(|e| BadInput(format!("the deployed flow is invalid: {e}")))?;
    if printer.json() {
        printer.value(&json!({
            "name": d.name,
            "flow": d.spec.name,
            "state_machine": machine.arn,
            "code": d.code.to_string(),
            "params": d.params,
            "created_ms": d.created_ms,
            "user": d.user,
            "schedule": schedule.as_ref().map(|s| &s.expression),
            "trigger_on_finish": triggers,
            "records_ended": records_ended,
            "executions": executions.iter().map(|e| json!({
                "pathspec": format!("{}/{}", d.spec.name, e.name),
                "status": e.status,
                "execution": e.arn,
                "started_ms": e.started_ms,
                "stopped_ms": e.stopped_ms,
            })).collect::<Vec<_>>(),
        }));
        return Ok(ExitCode::SUCCESS);
    }
    printer.line(format!(
        "Deployment {} of flow {}",
        printer.bold(&d.name),
        d.spec.name
    ));
    printer.line(format!("  state machine {}", machine.arn));
    printer.line(format!("  code          {}", d.code));
    if !d.params.is_empty() {
        let p: Vec<String> = d.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        printer.line(format!("  parameters    {}", p.join(" ")));
    }
    printer.line(format!(
        "  schedule      {}",
        schedule.map_or_else(|| "none".to_string(), |s| s.expression)
    ));
    if !triggers.is_empty() {
        printer.line(format!("  starts after  {}", triggers.join(", ")));
    }
    printer.line(format!(
        "  ended rule    {}",
        if records_ended {
            "records runs whose execution fails, times out or is stopped"
        } else {
            "none (such runs are recorded when `deploy show` sees them)"
        }
    ));
    printer.line("");
    for l in plan.render_text().lines() {
        printer.line(format!("  {l}"));
    }
    printer.line("");
    if executions.is_empty() {
        printer.line("  no runs yet");
    }
    for e in &executions {
        printer.line(format!(
            "  {:<10} {}/{}",
            e.status.to_lowercase(),
            d.spec.name,
            e.name
        ));
    }
    Ok(ExitCode::SUCCESS)
}

fn delete(
    args: NameArg,
    config: DeployConfig,
    printer: &Printer,
    runtime: &tokio::runtime::Runtime,
) -> Result<ExitCode> {
    let aws = runtime.block_on(Aws::connect(&config));
    let machine = find(&aws, &args.name, runtime)?;
    runtime
        .block_on(aws.delete_schedule(&args.name))
        .map_err(bad)?;
    runtime
        .block_on(aws.delete_ended_rule(&args.name))
        .map_err(bad)?;
    for other in runtime.block_on(aws.triggers(&args.name)).map_err(bad)? {
        runtime
            .block_on(aws.delete_trigger(&args.name, &other))
            .map_err(bad)?;
    }
    runtime
        .block_on(aws.delete_machine(&machine.arn))
        .map_err(bad)?;
    if printer.json() {
        printer.value(&json!({"deleted": args.name, "state_machine": machine.arn}));
    } else {
        printer.note(format!(
            "deleted deployment {} (its runs and artifacts stay in the store)",
            args.name
        ));
    }
    Ok(ExitCode::SUCCESS)
}
