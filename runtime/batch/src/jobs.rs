//! [`BatchCompute`]: submitting, polling and terminating jobs.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_batch::Client;
use aws_sdk_batch::types::{
    ArrayProperties, ContainerOverrides, ContainerProperties, JobDefinitionType, JobStatus,
    JobTimeout, KeyValuePair, ResourceRequirement, ResourceType,
};
use tokio::sync::{Notify, oneshot};
use wflow_core::StepSpec;
use wflow_scheduler::remote::{TaskDescription, get_report, report_key};
use wflow_scheduler::{Attempt, AttemptFuture, AttemptReport, Compute};
use wflow_store::Cas;

use crate::config::{BatchConfig, WORKER_OVERHEAD_MB};

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

    async fn poll_loop(self) {
        let min = Duration::from_millis(self.inner.config.poll_min_ms.max(10));
        let max = Duration::from_millis(self.inner.config.poll_max_ms).max(min);
        let mut interval = min;
        loop {
            let (idle, fresh) = {
                let mut t = self.inner.jobs.lock().expect("not poisoned");
                (t.active.is_empty(), std::mem::take(&mut t.fresh))
            };
            if idle {
                self.inner.wake.notified().await;
                interval = min;
                continue;
            }
            if fresh {
                interval = min;
            }
            tokio::time::sleep(interval).await;
            let changed = self.poll_once().await;
            interval = if changed {
                min
            } else {
                (interval * 3 / 2).min(max)
            };
        }
    }

    /// One round: `DescribeJobs` for every tracked job, 100 at a time; resolves what ended.
    async fn poll_once(&self) -> bool {
        let inner = &self.inner;
        let ids: Vec<String> = {
            let t = inner.jobs.lock().expect("not poisoned");
            t.active.keys().cloned().collect()
        };
        ApiCounters::add(&inner.counters.poll_rounds);
        let mut changed = false;
        let mut calls = 0;
        for chunk in ids.chunks(DESCRIBE_BATCH) {
            calls += 1;
            ApiCounters::add(&inner.counters.describe_jobs);
            let out = match inner
                .client
                .describe_jobs()
                .set_jobs(Some(chunk.to_vec()))
                .send()
                .await
            {
                Ok(out) => {
                    inner.failed_rounds.store(0, Ordering::Relaxed);
                    out
                }
                // The SDK retried already; the next round tries again, until the API has been
                // unreachable for too long.
                Err(e) => {
                    let failures = inner.failed_rounds.fetch_add(1, Ordering::Relaxed) + 1;
                    if failures >= MAX_FAILED_POLLS {
                        let message = format!(
                            "AWS Batch could not be polled {failures} times in a row: {}; the task's job may still run",
                            aws_sdk_batch::error::DisplayErrorContext(e)
                        );
                        for id in chunk {
                            self.resolve_rest(id, |_| {
                                Some(AttemptReport::compute_failure(message.clone(), false))
                            });
                        }
                        changed = true;
                    }
                    continue;
                }
            };
            for job in out.jobs() {
                changed |= self.update(job).await;
            }
        }
        inner
            .counters
            .max_describes_per_round
            .fetch_max(calls, Ordering::Relaxed);
        if changed {
            self.report_progress();
        }
        changed
    }

    /// Takes in one job's state; resolves its tasks if it ended.
    async fn update(&self, job: &aws_sdk_batch::types::JobDetail) -> bool {
        let inner = &self.inner;
        let Some(id) = job.job_id().map(str::to_string) else {
            return false;
        };
        let status = job.status().map_or("", |s| s.as_str()).to_string();
        let now = Instant::now();
        let limit = Duration::from_secs(inner.config.runnable_timeout_secs);
        enum Next {
            Nothing,
            Single(String),
            Array { list_failed: bool, all_done: bool },
        }
        let (changed, next, stuck) = {
            let mut t = inner.jobs.lock().expect("not poisoned");
            let Some(tr) = t.active.get_mut(&id) else {
                return false;
            };
            let mut changed = tr.status != status;
            tr.status = status.clone();
            let next;
            let waiting;
            if tr.array {
                let summary: BTreeMap<String, i32> = job
                    .array_properties()
                    .and_then(|a| a.status_summary())
                    .map(|m| m.iter().map(|(k, v)| (k.clone(), *v)).collect())
                    .unwrap_or_default();
                changed |= summary != tr.summary;
                let n = |k: &str| summary.get(k).copied().unwrap_or(0).max(0) as usize;
                let (ok, failed) = (n("SUCCEEDED"), n("FAILED"));
                waiting = n("RUNNABLE") > 0 && n("STARTING") + n("RUNNING") + ok + failed == 0;
                next = Next::Array {
                    list_failed: failed > tr.known_failed,
                    all_done: ok + failed >= tr.children.len() || status == "FAILED",
                };
                tr.summary = summary;
            } else {
                waiting = status == "RUNNABLE";
                next = if status == "SUCCEEDED" || status == "FAILED" {
                    Next::Single(
                        [
                            job.status_reason(),
                            job.container().and_then(|c| c.reason()),
                        ]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join("\u{1}"),
                    )
                } else {
                    Next::Nothing
                };
            }
            let stuck = if waiting {
                tr.runnable_since.get_or_insert(now).elapsed() > limit
            } else {
                tr.runnable_since = None;
                false
            };
            (changed, next, stuck)
        };
        if stuck {
            let secs = inner.config.runnable_timeout_secs;
            ApiCounters::add(&inner.counters.terminate_job);
            let _ = inner
                .client
                .terminate_job()
                .job_id(&id)
                .reason("Terminated by wflow: stuck RUNNABLE")
                .send()
                .await;
            let message = format!(
                "the Batch job stayed RUNNABLE for more than {secs} s: no compute environment of queue `{}` has capacity for it (its vCPUs or memory exceed every allowed instance type, the environment is at its maxvCpus or disabled)",
                inner.config.queue
            );
            self.resolve_rest(&id, |_| {
                Some(AttemptReport::compute_failure(message.clone(), false))
            });
            return true;
        }
        match next {
            Next::Nothing => {}
            Next::Single(reasons) => {
                let mut parts = reasons.split('\u{1}');
                let (status_reason, container_reason) = (parts.next(), parts.next());
                let report = self.read_report(&id, 0).await.map(|r| {
                    if status == "FAILED" {
                        not_a_success(r, &id)
                    } else {
                        r
                    }
                });
                let report =
                    report.unwrap_or_else(|| self.no_report(&id, status_reason, container_reason));
                self.resolve(&id, 0, report);
            }
            Next::Array {
                list_failed,
                all_done,
            } => {
                if list_failed {
                    self.collect_failed_children(&id).await;
                }
                if all_done {
                    self.collect_all(&id).await;
                }
            }
        }
        changed
    }

    /// `ListJobs` of an array job's FAILED children; resolves each.
    async fn collect_failed_children(&self, parent: &str) {
        let inner = &self.inner;
        let mut token: Option<String> = None;
        let mut failed = Vec::new();
        loop {
            ApiCounters::add(&inner.counters.list_jobs);
            let out = match inner
                .client
                .list_jobs()
                .array_job_id(parent)
                .job_status(JobStatus::Failed)
                .set_next_token(token.take())
                .send()
                .await
            {
                Ok(out) => out,
                Err(_) => return,
            };
            for s in out.job_summary_list() {
                let index = s
                    .array_properties()
                    .and_then(|a| a.index())
                    .map(|i| i as usize)
                    .or_else(|| {
                        s.job_id()?
                            .rsplit_once(':')
                            .and_then(|(_, i)| i.parse().ok())
                    });
                if let Some(index) = index {
                    failed.push((
                        index,
                        s.status_reason().map(str::to_string),
                        s.container().and_then(|c| c.reason()).map(str::to_string),
                    ));
                }
            }
            match out.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
        {
            let mut t = inner.jobs.lock().expect("not poisoned");
            if let Some(tr) = t.active.get_mut(parent) {
                tr.known_failed = tr.known_failed.max(failed.len());
            }
        }
        for (index, status_reason, container_reason) in failed {
            if !self.pending(parent, index) {
                continue;
            }
            let report = match self.read_report(parent, index).await {
                Some(r) => not_a_success(r, &format!("{parent}:{index}")),
                None => self.no_report(
                    parent,
                    status_reason.as_deref(),
                    container_reason.as_deref(),
                ),
            };
            self.resolve(parent, index, report);
        }
    }

    /// Reads the reports of every child not yet resolved (the array job is over).
    async fn collect_all(&self, parent: &str) {
        let (keys, cas) = {
            let t = self.inner.jobs.lock().expect("not poisoned");
            let Some(tr) = t.active.get(parent) else {
                return;
            };
            let keys: Vec<(usize, String)> = tr
                .children
                .iter()
                .enumerate()
                .filter(|(_, c)| c.tx.is_some())
                .map(|(i, c)| (i, report_key(&c.run_id, c.task_id, c.attempt)))
                .collect();
            (keys, t.cas.clone().expect("set with the first job"))
        };
        let per = keys.len().div_ceil(REPORT_READERS).max(1);
        let mut readers = tokio::task::JoinSet::new();
        for chunk in keys.chunks(per) {
            let (chunk, cas) = (chunk.to_vec(), cas.clone());
            readers.spawn_blocking(move || {
                chunk
                    .into_iter()
                    .map(|(i, k)| (i, get_report(&cas, &k)))
                    .collect::<Vec<_>>()
            });
        }
        let mut reports = Vec::new();
        while let Some(r) = readers.join_next().await {
            reports.extend(r.unwrap_or_default());
        }
        for (index, r) in reports {
            let report = match r {
                Ok(Some(r)) => r,
                Ok(None) => self.no_report(parent, None, None),
                Err(e) => AttemptReport::compute_failure(e, false),
            };
            self.resolve(parent, index, report);
        }
    }

    fn pending(&self, job: &str, index: usize) -> bool {
        let t = self.inner.jobs.lock().expect("not poisoned");
        t.active
            .get(job)
            .and_then(|tr| tr.children.get(index))
            .is_some_and(|c| c.tx.is_some())
    }

    async fn read_report(&self, job: &str, index: usize) -> Option<AttemptReport> {
        let (key, cas) = {
            let t = self.inner.jobs.lock().expect("not poisoned");
            let c = t.active.get(job)?.children.get(index)?;
            (report_key(&c.run_id, c.task_id, c.attempt), t.cas.clone()?)
        };
        match tokio::task::spawn_blocking(move || get_report(&cas, &key)).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => Some(AttemptReport::compute_failure(e, false)),
            Err(_) => None,
        }
    }

    fn no_report(
        &self,
        job: &str,
        status_reason: Option<&str>,
        container_reason: Option<&str>,
    ) -> AttemptReport {
        let (memory, timeout) = {
            let t = self.inner.jobs.lock().expect("not poisoned");
            t.active
                .get(job.split(':').next().unwrap_or(job))
                .map_or((0, None), |tr| (tr.memory_mb, tr.timeout_secs))
        };
        let (message, infrastructure) =
            explain_failure(status_reason, container_reason, memory, timeout);
        AttemptReport::compute_failure(format!("{message} [job {job}]"), infrastructure)
    }

    fn resolve(&self, job: &str, index: usize, report: AttemptReport) {
        self.resolve_rest_where(job, |i| i == index, |_| Some(report.clone()));
    }

    fn resolve_rest(&self, job: &str, report: impl Fn(usize) -> Option<AttemptReport>) {
        self.resolve_rest_where(job, |_| true, report);
    }

    fn resolve_rest_where(
        &self,
        job: &str,
        which: impl Fn(usize) -> bool,
        report: impl Fn(usize) -> Option<AttemptReport>,
    ) {
        let mut t = self.inner.jobs.lock().expect("not poisoned");
        let Some(tr) = t.active.get_mut(job) else {
            return;
        };
        let mut newly = 0;
        for (i, c) in tr.children.iter_mut().enumerate() {
            if !which(i) {
                continue;
            }
            if let Some(tx) = c.tx.take() {
                if let Some(r) = report(i) {
                    let _ = tx.send(r);
                }
                newly += 1;
            }
        }
        tr.resolved += newly;
        let over = tr.resolved >= tr.children.len();
        if over {
            t.active.remove(job);
        }
        t.done += newly as u64;
    }

    fn report_progress(&self) {
        let Some(f) = self.inner.progress.lock().expect("not poisoned").clone() else {
            return;
        };
        let counts = {
            let t = self.inner.jobs.lock().expect("not poisoned");
            let mut c = JobCounts {
                done: t.done,
                ..JobCounts::default()
            };
            let mut add = |status: &str, n: u64| match status {
                "SUBMITTED" | "PENDING" => c.submitted += n,
                "RUNNABLE" => c.runnable += n,
                "STARTING" | "RUNNING" => c.running += n,
                _ => {}
            };
            for tr in t.active.values() {
                if tr.array {
                    let pending = (tr.children.len() - tr.resolved) as u64;
                    let mut seen = 0;
                    for (k, v) in &tr.summary {
                        if !matches!(k.as_str(), "SUCCEEDED" | "FAILED") {
                            add(k, *v as u64);
                            seen += *v as u64;
                        }
                    }
                    // Children that ended but whose reports are not read yet, or not yet summarised.
                    add(
                        "SUBMITTED",
                        pending.saturating_sub(seen).min(if tr.summary.is_empty() {
                            pending
                        } else {
                            0
                        }),
                    );
                } else {
                    add(&tr.status, 1);
                }
            }
            c
        };
        f(counts);
    }

    /// The job definition for a step's resources: found or registered once per process.
    async fn job_definition(&self, attempt: &Attempt) -> Result<String, String> {
        let (vcpus, memory, timeout) = resources(&self.inner.config, attempt);
        self.job_definition_for(vcpus, memory, timeout).await
    }

    /// The ARN of the configured job queue (EventBridge rules name queues by ARN).
    pub async fn queue_arn(&self) -> Result<String, String> {
        let queue = &self.inner.config.queue;
        if queue.starts_with("arn:") {
            return Ok(queue.clone());
        }
        let out = self
            .inner
            .client
            .describe_job_queues()
            .job_queues(queue)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "reading AWS Batch job queue `{queue}` failed: {}",
                    aws_sdk_batch::error::DisplayErrorContext(e)
                )
            })?;
        out.job_queues()
            .iter()
            .find(|q| q.job_queue_name() == Some(queue.as_str()))
            .and_then(|q| q.job_queue_arn().map(str::to_string))
            .ok_or_else(|| format!("there is no AWS Batch job queue `{queue}`"))
    }

    /// The job definition (its ARN) for `vcpus`, `memory` MiB and an attempt duration of
    /// `timeout` seconds, running `wflow worker` in the configured image as the job role: found
    /// or registered once per process. Named `<prefix>-<hash of all of these>`.
    pub async fn job_definition_for(
        &self,
        vcpus: u32,
        memory: u32,
        timeout: Option<i32>,
    ) -> Result<String, String> {
        let inner = &self.inner;
        let c = &inner.config;
        let fingerprint = format!(
            "{}\n{}\n{vcpus}\n{memory}\n{timeout:?}",
            c.image,
            c.job_role.as_deref().unwrap_or("")
        );
        let hash = blake3::hash(fingerprint.as_bytes()).to_hex();
        let name = format!("{}-{}", c.job_definition_prefix, &hash[..16]);
        let mut known = inner.definitions.lock().await;
        if let Some(arn) = known.get(&name) {
            return Ok(arn.clone());
        }
        ApiCounters::add(&inner.counters.describe_job_definitions);
        let found = inner
            .client
            .describe_job_definitions()
            .job_definition_name(&name)
            .status("ACTIVE")
            .send()
            .await
            .map_err(|e| {
                format!(
                    "reading AWS Batch job definitions failed: {}",
                    aws_sdk_batch::error::DisplayErrorContext(e)
                )
            })?;
        let existing = found
            .job_definitions()
            .iter()
            .max_by_key(|d| d.revision())
            .and_then(|d| d.job_definition_arn().map(str::to_string));
        let arn = match existing {
            Some(arn) => arn,
            None => {
                let requirement = |t: ResourceType, v: String| {
                    ResourceRequirement::builder().r#type(t).value(v).build()
                };
                let mut props = ContainerProperties::builder()
                    .image(&c.image)
                    .command("wflow")
                    .command("worker")
                    .resource_requirements(requirement(ResourceType::Vcpu, vcpus.to_string()))
                    .resource_requirements(requirement(ResourceType::Memory, memory.to_string()));
                if let Some(role) = &c.job_role {
                    props = props.job_role_arn(role);
                }
                let mut register = inner
                    .client
                    .register_job_definition()
                    .job_definition_name(&name)
                    .r#type(JobDefinitionType::Container)
                    .container_properties(props.build());
                if let Some(t) = timeout {
                    register =
                        register.timeout(JobTimeout::builder().attempt_duration_seconds(t).build());
                }
                ApiCounters::add(&inner.counters.register_job_definition);
                register
                    .send()
                    .await
                    .map_err(|e| {
                        format!(
                            "registering AWS Batch job definition `{name}` failed: {}",
                            aws_sdk_batch::error::DisplayErrorContext(e)
                        )
                    })?
                    .job_definition_arn()
                    .map(str::to_string)
                    .ok_or_else(|| format!("registering `{name}` returned no ARN"))?
            }
        };
        known.insert(name, arn.clone());
        Ok(arn)
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

/// vCPUs, memory (MiB) and attempt duration (s) of a step's jobs.
fn resources(c: &BatchConfig, a: &Attempt) -> (u32, u32, Option<i32>) {
    step_resources(c, &a.step, a.input.sandbox.timeout)
}

/// vCPUs, memory (MiB) and attempt duration (s) of the jobs of `step`, whose sandbox (as the
/// policy resolved it) has `timeout`.
pub fn step_resources(
    c: &BatchConfig,
    step: &StepSpec,
    timeout: Option<Duration>,
) -> (u32, u32, Option<i32>) {
    let vcpus = step.cpu.unwrap_or(1).max(1);
    let memory = step.memory_mb.map_or(c.default_memory_mb, |m| {
        m.saturating_add(WORKER_OVERHEAD_MB)
    });
    // The sandbox enforces the step's own timeout; Batch's is the backstop, with room for the
    // worker to start and to write its outputs. AWS takes at least 60 s.
    let timeout =
        timeout.map(|t| (t.as_secs().saturating_add(120)).clamp(60, i32::MAX as u64) as i32);
    (vcpus, memory, timeout)
}

/// The report of a job Batch says FAILED. A worker whose job failed never wrote a success (it
/// writes its report last, and refuses a key someone else wrote first), so a success there was
/// not written by it: the attempt failed.
fn not_a_success(report: AttemptReport, job: &str) -> AttemptReport {
    if report.result.is_ok() {
        AttemptReport::compute_failure(
            format!(
                "the Batch job {job} failed, yet the store holds a report saying the attempt \
                 succeeded: it was not written by the job's worker (something else writes to \
                 the store's `tasks-v1/` prefix); its outputs are not used"
            ),
            false,
        )
    } else {
        report
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

/// Why a job that left no report failed, from Batch's `statusReason` and the container's
/// `reason`; and whether it is an infrastructure failure (retried apart from the step's
/// `retries`).
pub fn explain_failure(
    status_reason: Option<&str>,
    container_reason: Option<&str>,
    memory_mb: u32,
    timeout_secs: Option<u32>,
) -> (String, bool) {
    let status = status_reason.unwrap_or("");
    let container = container_reason.unwrap_or("");
    let both = format!("{status} {container}");
    let lower = both.to_lowercase();
    if lower.contains("outofmemory") || lower.contains("out of memory") {
        return (
            format!(
                "the Batch container was killed for using more than its {memory_mb} MiB of memory ({}); raise the step's `memory` setting",
                both.trim()
            ),
            false,
        );
    }
    if lower.contains("attempt duration exceeded") || lower.contains("timeout") {
        let limit =
            timeout_secs.map_or_else(String::new, |t| format!(" (the step's timeout is {t} s)"));
        return (
            format!(
                "the Batch job ran past its attempt duration and was stopped{limit}: {}",
                both.trim()
            ),
            false,
        );
    }
    if lower.contains("host ec2") && lower.contains("terminated")
        || lower.contains("spot")
        || lower.contains("instance terminated")
    {
        return (
            format!(
                "the host running the Batch job went away (spot reclaim or host termination): {}",
                both.trim()
            ),
            true,
        );
    }
    if lower.contains("terminated by wflow") {
        return (
            format!("the Batch job was terminated: {}", both.trim()),
            false,
        );
    }
    let why = if both.trim().is_empty() {
        "no reason given".to_string()
    } else {
        both.trim().to_string()
    };
    (
        format!(
            "the Batch job failed before its worker reported anything ({why}); see the job's log stream"
        ),
        false,
    )
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

    #[test]
    fn failures_are_explained() {
        let (m, infra) = explain_failure(
            Some("Essential container in task exited"),
            Some("OutOfMemoryError: Container killed due to memory usage"),
            512,
            None,
        );
        assert!(
            m.contains("512 MiB") && m.contains("memory") && !infra,
            "{m}"
        );
        let (m, infra) = explain_failure(
            Some("Job attempt duration exceeded timeout"),
            None,
            512,
            Some(30),
        );
        assert!(m.contains("30 s") && !infra, "{m}");
        let (m, infra) = explain_failure(
            Some("Host EC2 (instance i-0123) terminated."),
            None,
            512,
            None,
        );
        assert!(m.contains("spot reclaim") && infra, "{m}");
        let (m, infra) = explain_failure(None, None, 512, None);
        assert!(m.contains("no reason given") && !infra, "{m}");
    }
}
