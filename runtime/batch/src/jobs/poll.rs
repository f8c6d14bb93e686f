//! Following submitted jobs: `DescribeJobs` rounds, an array job's failed children, reading the
//! workers' reports and handing them to the scheduler.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use aws_sdk_batch::types::JobStatus;
use wflow_scheduler::AttemptReport;
use wflow_scheduler::remote::{get_report, report_key};

use super::{
    ApiCounters, BatchCompute, DESCRIBE_BATCH, JobCounts, MAX_FAILED_POLLS, REPORT_READERS,
};
use crate::failures::{explain_failure, not_a_success};

impl BatchCompute {
    pub(super) async fn poll_loop(self) {
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

    pub(super) fn report_progress(&self) {
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
}
