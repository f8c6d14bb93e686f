//! [`BatchCompute`]: submitting and terminating jobs; polling them is in `poll`, job definitions
//! in `definitions`.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use aws_sdk_batch::Client;
use aws_sdk_batch::types::{ArrayProperties, ContainerOverrides, KeyValuePair};
use tokio::sync::{Notify, oneshot};
use wflow_scheduler::remote::TaskDescription;
use wflow_scheduler::{Attempt, AttemptFuture, AttemptReport, Compute};
use wflow_store::Cas;

use crate::config::BatchConfig;

mod definitions;
mod poll;

use definitions::resources;
pub use definitions::step_resources;

/// The largest array job AWS Batch takes; a larger foreach is split into several.
pub const MAX_ARRAY_SIZE: usize = 10_000;
/// Ids per `DescribeJobs` call (the API's limit).
const DESCRIBE_BATCH: usize = 100;
/// Failed `DescribeJobs` calls in a row (each already retried by the SDK) before the tasks being
/// polled are failed.
const MAX_FAILED_POLLS: u64 = 20;
/// Parallel store reads when collecting the reports of an array job.
const REPORT_READERS: usize = 8;

/// Calls made to the Batch API, by operation.
#[derive(Debug, Default)]
pub struct ApiCounters {
    /// `SubmitJob`.
    pub submit_job: AtomicU64,
    /// `DescribeJobs`.
    pub describe_jobs: AtomicU64,
    /// `ListJobs`.
    pub list_jobs: AtomicU64,
    /// `DescribeJobDefinitions`.
    pub describe_job_definitions: AtomicU64,
    /// `RegisterJobDefinition`.
    pub register_job_definition: AtomicU64,
    /// `TerminateJob`.
    pub terminate_job: AtomicU64,
    /// Poll rounds (each makes `ceil(tracked jobs / 100)` `DescribeJobs` calls).
    pub poll_rounds: AtomicU64,
    /// Most `DescribeJobs` calls made in one poll round.
    pub max_describes_per_round: AtomicU64,
}

impl ApiCounters {
    fn add(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Every counter by name (API operations by their AWS names).
    pub fn snapshot(&self) -> BTreeMap<&'static str, u64> {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        [
            ("SubmitJob", g(&self.submit_job)),
            ("DescribeJobs", g(&self.describe_jobs)),
            ("ListJobs", g(&self.list_jobs)),
            ("DescribeJobDefinitions", g(&self.describe_job_definitions)),
            ("RegisterJobDefinition", g(&self.register_job_definition)),
            ("TerminateJob", g(&self.terminate_job)),
            ("poll_rounds", g(&self.poll_rounds)),
            ("max_describes_per_round", g(&self.max_describes_per_round)),
        ]
        .into()
    }

    /// API calls in all.
    pub fn total_calls(&self) -> u64 {
        let s = self.snapshot();
        s.iter()
            .filter(|(k, _)| k.chars().next().is_some_and(char::is_uppercase))
            .map(|(_, v)| v)
            .sum()
    }
}

/// Tasks by the state of their Batch job, for progress.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JobCounts {
    /// SUBMITTED or PENDING.
    pub submitted: u64,
    /// RUNNABLE (waiting for capacity).
    pub runnable: u64,
    /// STARTING or RUNNING.
    pub running: u64,
    /// SUCCEEDED or FAILED.
    pub done: u64,
}

type ProgressFn = Arc<dyn Fn(JobCounts) + Send + Sync>;

/// Tasks run as AWS Batch jobs (see the [crate docs](crate)).
#[derive(Clone)]
pub struct BatchCompute {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    config: BatchConfig,
    region: String,
    /// Variables every worker gets: where the store is (`WFLOW_STORE`, `WFLOW_S3_*`).
    worker_env: Vec<(String, String)>,
    counters: ApiCounters,
    jobs: Mutex<Tracking>,
    /// Job definitions registered or found, by name: their ARN.
    definitions: tokio::sync::Mutex<HashMap<String, String>>,
    wake: Notify,
    progress: Mutex<Option<ProgressFn>>,
    /// `DescribeJobs` calls failed in a row.
    failed_rounds: AtomicU64,
}

#[derive(Default)]
struct Tracking {
    /// Jobs not yet resolved, by job id.
    active: BTreeMap<String, Tracked>,
    /// Every job submitted (for terminate_all).
    submitted: Vec<String>,
    /// Resolved tasks (for progress).
    done: u64,
    poller: bool,
    /// A job was submitted since the poller last looked: poll soon.
    fresh: bool,
    cas: Option<Arc<Cas>>,
}

struct Tracked {
    /// One for a plain job; one per index for an array job.
    children: Vec<Child>,
    array: bool,
    status: String,
    summary: BTreeMap<String, i32>,
    /// When it was first seen RUNNABLE with nothing running.
    runnable_since: Option<Instant>,
    /// Children already reported.
    resolved: usize,
    /// FAILED children already listed.
    known_failed: usize,
    /// The step's timeout and memory, to explain failures.
    timeout_secs: Option<u32>,
    memory_mb: u32,
}

struct Child {
    run_id: String,
    task_id: u64,
    attempt: u32,
    tx: Option<oneshot::Sender<AttemptReport>>,
}

impl BatchCompute {
    /// A client for the configured region and endpoint; `worker_env` is what every worker needs
    /// to find the store. Checks nothing remote yet.
    pub async fn connect(
        config: BatchConfig,
        worker_env: Vec<(String, String)>,
    ) -> Result<BatchCompute, String> {
        if config.queue.is_empty() || config.image.is_empty() {
            return Err("AWS Batch needs a job queue and a worker image (`[batch]` queue and image, or --batch-queue and --batch-image)".into());
        }
        let settings = wflow_aws::Settings {
            profile: config.profile.clone(),
            region: config.region.clone(),
            endpoint: config.endpoint.clone(),
        };
        let sdk = wflow_aws::load(&settings).await;
        let region = wflow_aws::region_of(&sdk);
        let builder = wflow_aws::builder!(aws_sdk_batch, &sdk, &settings);
        Ok(BatchCompute {
            inner: Arc::new(Inner {
                client: Client::from_conf(builder.build()),
                config,
                region,
                worker_env,
                counters: ApiCounters::default(),
                jobs: Mutex::new(Tracking::default()),
                definitions: tokio::sync::Mutex::new(HashMap::new()),
                wake: Notify::new(),
                progress: Mutex::new(None),
                failed_rounds: AtomicU64::new(0),
            }),
        })
    }

    /// The API calls made so far.
    pub fn counters(&self) -> &ApiCounters {
        &self.inner.counters
    }

    /// Calls `f` with the tasks' job states after each poll round that changed them.
    pub fn on_progress(&self, f: impl Fn(JobCounts) + Send + Sync + 'static) {
        *self.inner.progress.lock().expect("not poisoned") = Some(Arc::new(f));
    }

    /// Terminates every job this run submitted that may still run (for Ctrl-C). Best effort:
    /// returns how many `TerminateJob` calls succeeded.
    pub async fn terminate_all(&self, reason: &str) -> usize {
        let ids: Vec<String> = {
            let t = self.inner.jobs.lock().expect("not poisoned");
            t.active.keys().cloned().collect()
        };
        let mut ok = 0;
        for id in ids {
            ApiCounters::add(&self.inner.counters.terminate_job);
            let r = self
                .inner
                .client
                .terminate_job()
                .job_id(&id)
                .reason(reason)
                .send()
                .await;
            ok += usize::from(r.is_ok());
        }
        ok
    }

    /// Every job id submitted so far.
    pub fn submitted(&self) -> Vec<String> {
        self.inner
            .jobs
            .lock()
            .expect("not poisoned")
            .submitted
            .clone()
    }

    async fn launch(&self, cas: &Arc<Cas>, attempts: &[Attempt]) -> Result<String, String> {
        let inner = &self.inner;
        let description = TaskDescription::of(attempts);
        let (key, digest) = {
            let cas = cas.clone();
            tokio::task::spawn_blocking(move || description.put(&cas))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("writing the task description to the store: {e}"))?
        };
        let first = &attempts[0];
        let definition = self.job_definition(first).await?;
        // The job names the description's bytes, not only its key: the worker checks them.
        let mut env = vec![
            ("WFLOW_TASK".to_string(), key),
            ("WFLOW_TASK_DIGEST".to_string(), digest.to_hex()),
        ];
        env.extend(inner.worker_env.iter().cloned());
        let overrides = ContainerOverrides::builder()
            .set_environment(Some(
                env.into_iter()
                    .map(|(k, v)| KeyValuePair::builder().name(k).value(v).build())
                    .collect(),
            ))
            .build();
        let mut submit = inner
            .client
            .submit_job()
            .job_name(job_name(
                &first.input.flow,
                &first.input.step,
                first.input.task_id,
            ))
            .job_queue(&inner.config.queue)
            .job_definition(&definition)
            .container_overrides(overrides);
        if attempts.len() > 1 {
            submit = submit.array_properties(
                ArrayProperties::builder()
                    .size(attempts.len() as i32)
                    .build(),
            );
        }
        ApiCounters::add(&inner.counters.submit_job);
        let out = submit.send().await.map_err(|e| {
            format!(
                "submitting to AWS Batch queue `{}` failed: {}",
                inner.config.queue,
                aws_sdk_batch::error::DisplayErrorContext(e)
            )
        })?;
        out.job_id()
            .map(str::to_string)
            .ok_or_else(|| "AWS Batch accepted the job but returned no job id".to_string())
    }

    fn track(
        &self,
        cas: &Arc<Cas>,
        job_id: String,
        attempts: &[Attempt],
        txs: Vec<oneshot::Sender<AttemptReport>>,
    ) {
        let first = &attempts[0];
        let (_, memory_mb, _) = resources(&self.inner.config, first);
        let tracked = Tracked {
            children: attempts
                .iter()
                .zip(txs)
                .map(|(a, tx)| Child {
                    run_id: a.input.run_id.clone(),
                    task_id: a.input.task_id,
                    attempt: a.input.attempt,
                    tx: Some(tx),
                })
                .collect(),
            array: attempts.len() > 1,
            status: "SUBMITTED".into(),
            summary: BTreeMap::new(),
            runnable_since: None,
            resolved: 0,
            known_failed: 0,
            timeout_secs: first.step.timeout_secs,
            memory_mb,
        };
        let start_poller = {
            let mut t = self.inner.jobs.lock().expect("not poisoned");
            t.active.insert(job_id.clone(), tracked);
            t.submitted.push(job_id);
            t.cas.get_or_insert_with(|| cas.clone());
            t.fresh = true;
            !std::mem::replace(&mut t.poller, true)
        };
        if start_poller {
            tokio::spawn(self.clone().poll_loop());
        }
        self.inner.wake.notify_one();
        self.report_progress();
    }
}

impl Compute for BatchCompute {
    fn describe(&self) -> String {
        let c = &self.inner.config;
        format!(
            "AWS Batch queue {} in {} (image {})",
            c.queue, self.inner.region, c.image
        )
    }

    fn max_group(&self) -> usize {
        MAX_ARRAY_SIZE
    }

    fn start<'a>(
        &'a self,
        cas: &'a Arc<Cas>,
        attempts: Vec<Attempt>,
    ) -> Pin<Box<dyn Future<Output = Vec<AttemptFuture>> + Send + 'a>> {
        Box::pin(async move {
            let (txs, rxs): (Vec<_>, Vec<_>) = attempts.iter().map(|_| oneshot::channel()).unzip();
            match self.launch(cas, &attempts).await {
                Ok(job_id) => self.track(cas, job_id, &attempts, txs),
                Err(message) => {
                    for tx in txs {
                        let _ = tx.send(AttemptReport::compute_failure(message.clone(), false));
                    }
                }
            }
            rxs.into_iter()
                .map(|rx| {
                    Box::pin(async move {
                        rx.await.unwrap_or_else(|_| {
                            AttemptReport::compute_failure("the AWS Batch poller stopped", false)
                        })
                    }) as AttemptFuture
                })
                .collect()
        })
    }
}

/// A job's name: `wflow-<flow>-<step>-<task>`, in what Batch allows (128 letters, digits, `-`, `_`).
pub fn job_name(flow: &str, step: &str, task_id: u64) -> String {
    let raw = format!("wflow-{flow}-{step}-{task_id}");
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(128)
        .collect()
}

/// Sizes of the array jobs for `n` tasks (each at most [`MAX_ARRAY_SIZE`]).
pub fn split_sizes(n: usize) -> Vec<usize> {
    let mut out = vec![MAX_ARRAY_SIZE; n / MAX_ARRAY_SIZE];
    if !n.is_multiple_of(MAX_ARRAY_SIZE) {
        out.push(n % MAX_ARRAY_SIZE);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_sizes() {
        assert_eq!(job_name("Hello", "start", 1), "wflow-Hello-start-1");
        assert_eq!(job_name("a.b", "c d", 2), "wflow-a_b-c_d-2");
        assert_eq!(job_name(&"x".repeat(200), "s", 1).len(), 128);
        assert_eq!(split_sizes(50), vec![50]);
        assert_eq!(split_sizes(25_001), vec![10_000, 10_000, 5_001]);
        assert_eq!(split_sizes(20_000), vec![10_000, 10_000]);
    }
}
