//! Where a run's tasks go: `--compute` and each step's `compute` setting mapped to backends
//! (`local`, `batch`), and the AWS Batch settings resolved from, in order of precedence:
//!
//! 1. `--batch-queue`, `--batch-image`, `--batch-job-role`, `--batch-region`,
//!    `--batch-endpoint` (or `$WFLOW_BATCH_QUEUE`, `$WFLOW_BATCH_IMAGE`, `$WFLOW_BATCH_JOB_ROLE`,
//!    `$WFLOW_BATCH_REGION`, `$WFLOW_BATCH_ENDPOINT`; and `$WFLOW_BATCH_POLL_MIN_MS`,
//!    `$WFLOW_BATCH_POLL_MAX_MS`, `$WFLOW_BATCH_RUNNABLE_TIMEOUT_SECS`);
//! 2. the `[batch]` table of the config file (see [`crate::backends`]).
//!
//! ```toml
//! [batch]
//! queue = "wflow-spot"
//! image = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/wflow-worker:0.1.0"
//! job_role = "arn:aws:iam::123456789012:role/wflow-worker"
//! region = "eu-west-1"
//! # endpoint = "http://127.0.0.1:5000"   # tests only
//! ```

use std::collections::BTreeMap;

use anyhow::Result;
use serde_json::{Map, Value};
use wflow_graph::Plan;
use wflow_scheduler::Computes;

use crate::commands::run::Progress;
use crate::exit::BadInput;
use crate::output::Printer;
use crate::settings::Settings;

/// The compute flags of `wflow run` and `wflow resume`.
#[derive(clap::Args, Debug, Default)]
pub struct ComputeArgs {
    /// Where every task runs: `local` (this machine) or `batch` (AWS Batch, see docs/batch.md).
    /// Overrides the steps' own `compute` settings. Default: each step's setting, else local.
    #[arg(long, env = "WFLOW_COMPUTE", value_name = "local|batch")]
    pub compute: Option<String>,
    #[command(flatten)]
    pub batch: BatchArgs,
}

impl ComputeArgs {
    /// How a Python flow is built for this run: in full when `--compute batch` sends every task
    /// off this machine, else in the quick form (docs/polyglot.md).
    pub fn python_form(&self) -> crate::componentize::Form {
        match self.compute.as_deref() {
            Some("batch") => crate::componentize::Form::Full,
            _ => crate::componentize::Form::Quick,
        }
    }
}

/// Where AWS Batch jobs go: flags of `run`, `resume` and `deploy create` (over the config
/// file's `[batch]` table).
#[derive(clap::Args, Debug, Default, Clone)]
pub struct BatchArgs {
    /// AWS Batch job queue (name or ARN).
    #[arg(long, env = "WFLOW_BATCH_QUEUE", value_name = "QUEUE")]
    pub batch_queue: Option<String>,
    /// The worker image for AWS Batch jobs (built from deploy/worker.Dockerfile).
    #[arg(long, env = "WFLOW_BATCH_IMAGE", value_name = "IMAGE")]
    pub batch_image: Option<String>,
    /// The IAM role AWS Batch jobs run as (ARN).
    #[arg(long, env = "WFLOW_BATCH_JOB_ROLE", value_name = "ARN")]
    pub batch_job_role: Option<String>,
    /// AWS Batch region.
    #[arg(long, env = "WFLOW_BATCH_REGION", value_name = "REGION")]
    pub batch_region: Option<String>,
    /// AWS Batch endpoint URL (tests, private endpoints).
    #[arg(long, env = "WFLOW_BATCH_ENDPOINT", value_name = "URL")]
    pub batch_endpoint: Option<String>,
}

/// The backends a run needs.
pub struct Placement {
    /// The backend of each step (`local` or `batch`).
    pub by_step: BTreeMap<String, String>,
    /// `--compute` given: every step goes there.
    pub forced: Option<String>,
}

impl Placement {
    /// Where each step runs; unknown backends are bad input.
    pub fn of(args: &ComputeArgs, plan: &Plan) -> Result<Placement, BadInput> {
        let check = |name: &str, what: String| match name {
            "local" | "batch" => Ok(()),
            other => Err(BadInput(format!(
                "{what} `{other}`: this wflow runs tasks on `local` (this machine) or `batch` (AWS Batch)"
            ))),
        };
        if let Some(c) = &args.compute {
            check(c, "--compute".into())?;
        }
        let mut by_step = BTreeMap::new();
        for step in &plan.spec().steps {
            let name = match (&args.compute, &step.compute) {
                (Some(forced), _) => forced.clone(),
                (None, Some(own)) => {
                    check(own, format!("step `{}` asks for compute", step.name))?;
                    own.clone()
                }
                (None, None) => "local".into(),
            };
            by_step.insert(step.name.clone(), name);
        }
        Ok(Placement {
            by_step,
            forced: args.compute.clone(),
        })
    }

    /// Whether any step runs on AWS Batch.
    pub fn uses_batch(&self) -> bool {
        self.by_step.values().any(|c| c == "batch")
    }

    /// Steps that run on `backend`.
    pub fn steps_on(&self, backend: &str) -> Vec<&str> {
        self.by_step
            .iter()
            .filter(|(_, c)| *c == backend)
            .map(|(s, _)| s.as_str())
            .collect()
    }
}

/// Tasks in flight on AWS Batch when `--max-workers` is not given: the queue bounds them.
const BATCH_MAX_WORKERS: usize = 100_000;

/// Where a run's tasks go, checked before anything is written; [`Prepared::connect`] then
/// connects the backends.
pub struct Prepared {
    placement: Placement,
    #[cfg(feature = "batch")]
    batch: Option<(wflow_batch::BatchConfig, Vec<(String, String)>)>,
    /// Tasks in flight at most: `--max-workers`, else one per core locally, else what the queue
    /// takes.
    pub max_workers: usize,
}

/// The connected backends of one run.
pub struct Connected {
    /// What the scheduler runs each step's tasks on.
    pub computes: Computes,
    #[cfg(feature = "batch")]
    batch: Option<wflow_batch::BatchCompute>,
}

impl Prepared {
    /// Checks `args` against `plan` and `settings` (an S3 store for Batch workers, the Batch
    /// settings); `requested` is `--max-workers`, `local_workers` the local default.
    pub fn check(
        args: &ComputeArgs,
        plan: &Plan,
        settings: &Settings,
        requested: Option<usize>,
        local_workers: usize,
    ) -> Result<Prepared> {
        let placement = Placement::of(args, plan)?;
        let max_workers = match requested {
            Some(n) => n.max(1),
            None if placement.uses_batch() => BATCH_MAX_WORKERS,
            None => local_workers.max(1),
        };
        if !placement.uses_batch() {
            return Ok(Prepared {
                placement,
                #[cfg(feature = "batch")]
                batch: None,
                max_workers,
            });
        }
        let env = worker_env(settings)?;
        #[cfg(not(feature = "batch"))]
        {
            let _ = env;
            Err(
                BadInput("this wflow was built without AWS Batch support (feature `batch`)".into())
                    .into(),
            )
        }
        #[cfg(feature = "batch")]
        Ok(Prepared {
            batch: Some((batch_config(&args.batch)?, env)),
            placement,
            max_workers,
        })
    }

    /// `N workers` or `workers as the queue takes`, for the run's first line.
    pub fn workers_text(&self) -> String {
        if self.max_workers == BATCH_MAX_WORKERS {
            "workers as the queue takes".to_string()
        } else {
            format!(
                "{} worker{}",
                self.max_workers,
                if self.max_workers == 1 { "" } else { "s" }
            )
        }
    }

    /// Connects the backends (AWS Batch: on `runtime`, reporting job counts to `progress`, and
    /// terminating the run's jobs on Ctrl-C), and says where tasks go.
    pub fn connect(
        self,
        runtime: &tokio::runtime::Runtime,
        progress: &Progress,
        plan: &Plan,
        printer: &Printer,
    ) -> Result<Connected> {
        let mut computes = Computes::default();
        #[cfg(not(feature = "batch"))]
        let _ = (runtime, progress);
        #[cfg(feature = "batch")]
        let mut batch = None;
        #[cfg(feature = "batch")]
        if let Some((config, env)) = self.batch {
            let b = runtime
                .block_on(wflow_batch::BatchCompute::connect(config, env))
                .map_err(BadInput)?;
            b.on_progress(progress.batch_observer());
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
            let b_dyn: std::sync::Arc<dyn wflow_scheduler::Compute> =
                std::sync::Arc::new(b.clone());
            computes.named.insert("batch".into(), b_dyn.clone());
            if self.placement.forced.as_deref() == Some("batch") {
                computes.default = b_dyn;
            }
            batch = Some(b);
        }
        if self.placement.forced.is_some() {
            // `--compute` overrides the steps' own settings.
            computes.named.clear();
        }
        let steps = &plan.spec().steps;
        let batch_steps = self.placement.steps_on("batch");
        if batch_steps.len() == steps.len() && !steps.is_empty() {
            printer.note(format!(
                "  tasks run on {}",
                computes.for_step(&steps[0]).describe()
            ));
        } else if !batch_steps.is_empty() {
            printer.note(format!(
                "  steps {} run on {}; the others on this machine",
                batch_steps.join(", "),
                computes.named["batch"].describe()
            ));
        }
        Ok(Connected {
            computes,
            #[cfg(feature = "batch")]
            batch,
        })
    }
}

impl Connected {
    /// Where the tasks ran, for the run's JSON summary (`None` when all ran here); also noted
    /// for people (the AWS Batch API calls made).
    pub fn report(&self, printer: &Printer) -> Option<Value> {
        #[cfg(not(feature = "batch"))]
        let _ = printer;
        #[cfg(feature = "batch")]
        if let Some(b) = &self.batch {
            let c = b.counters().snapshot();
            printer.note(format!(
                "  AWS Batch API calls: {} ({})",
                b.counters().total_calls(),
                c.iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            return Some(serde_json::json!({
                "batch": {
                    "queue": wflow_scheduler::Compute::describe(b),
                    "api_calls": b.counters().total_calls(),
                    "counters": c,
                    "jobs": b.submitted().len(),
                }
            }));
        }
        None
    }
}

/// The `[batch]` table overlaid with flags and variables, as the Batch crate's config.
#[cfg(feature = "batch")]
pub fn batch_config(args: &BatchArgs) -> Result<wflow_batch::BatchConfig, BadInput> {
    let mut table = crate::backends::config_file_table("batch")
        .map_err(BadInput)?
        .unwrap_or_default();
    let mut set = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            table.insert(k.into(), v);
        }
    };
    set("queue", args.batch_queue.clone().map(Value::from));
    set("image", args.batch_image.clone().map(Value::from));
    set("job_role", args.batch_job_role.clone().map(Value::from));
    set("region", args.batch_region.clone().map(Value::from));
    set("endpoint", args.batch_endpoint.clone().map(Value::from));
    for (key, var) in [
        ("poll_min_ms", "WFLOW_BATCH_POLL_MIN_MS"),
        ("poll_max_ms", "WFLOW_BATCH_POLL_MAX_MS"),
        ("runnable_timeout_secs", "WFLOW_BATCH_RUNNABLE_TIMEOUT_SECS"),
    ] {
        if let Some(v) = std::env::var(var).ok().filter(|v| !v.is_empty()) {
            let n: u64 = v
                .parse()
                .map_err(|_| BadInput(format!("${var} must be a whole number, not `{v}`")))?;
            set(key, Some(n.into()));
        }
    }
    for needed in ["queue", "image"] {
        if !table.contains_key(needed) {
            return Err(BadInput(format!(
                "running tasks on AWS Batch needs a {needed}: set `{needed}` in the config file's [batch] table, --batch-{needed} or $WFLOW_BATCH_{} (see docs/batch.md)",
                needed.to_uppercase()
            )));
        }
    }
    serde_json::from_value(Value::Object(table))
        .map_err(|e| BadInput(format!("the [batch] settings: {e}")))
}

/// What a worker needs to find the store: its `WFLOW_STORE` and `WFLOW_S3_*` variables. Only an
/// S3 store is reachable from Batch jobs.
pub fn worker_env(settings: &Settings) -> Result<Vec<(String, String)>, BadInput> {
    let table: &Map<String, Value> = settings
        .location
        .backend
        .as_ref()
        .map_err(|e| BadInput(e.clone()))?;
    if table.get("type").and_then(Value::as_str) != Some("s3") {
        return Err(BadInput(format!(
            "tasks on AWS Batch need a store their workers can reach: an S3 store (--store s3://BUCKET/PREFIX), not {}",
            settings.store_label()
        )));
    }
    let mut env = Vec::new();
    for (key, var) in [
        ("url", "WFLOW_STORE"),
        ("endpoint", "WFLOW_S3_ENDPOINT"),
        ("region", "WFLOW_S3_REGION"),
        ("path_style", "WFLOW_S3_PATH_STYLE"),
        ("checksums", "WFLOW_S3_CHECKSUMS"),
    ] {
        match table.get(key) {
            Some(Value::String(s)) => env.push((var.to_string(), s.clone())),
            Some(Value::Bool(b)) => env.push((var.to_string(), b.to_string())),
            _ => {}
        }
    }
    Ok(env)
}
