//! [`HttpMetadata`]: the records on a `wflow server`, behind the same trait as the SQLite file.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::Duration;

use serde::de::DeserializeOwned;
use wflow_metadata::{
    AttemptRecord, Event, MetadataError, MetadataStore, Result, RunFilter, RunKind, RunRecord,
    TaskQuery, TaskRecord,
};

use crate::wire::{
    BatchOutcome, ErrorEnvelope, EventBatch, Heartbeat, PROTOCOL_HEADER, PROTOCOL_VERSION, Page,
    TagChange, TagChanged,
};

/// How often a driver tells the service its runs are alive (override: `WFLOW_HEARTBEAT_SECS`).
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(10);

/// The most events sent in one request when failures are skipped.
const CHUNK: usize = 20_000;

/// How long the Recorder gathers events before sending them in one request.
const BATCH_WINDOW: Duration = Duration::from_millis(100);

/// The records on a metadata service (`wflow server`), over HTTP.
///
/// Every call is one or a few blocking requests; writes come in batches from a
/// [`Recorder`](wflow_metadata::Recorder) (its window is 100 ms). A request the service could not
/// act on because it or its database was unreachable is retried a few times (with back-off)
/// before the error is returned; nothing is half-written either way (each batch is one
/// transaction). While a run started through it is running, a background thread sends a
/// heartbeat for it every [`HEARTBEAT_INTERVAL`].
pub struct HttpMetadata {
    inner: Arc<Inner>,
}

struct Inner {
    base: String,
    label: PathBuf,
    token: Option<String>,
    agent: ureq::Agent,
    retries: u32,
    live: Mutex<HashSet<String>>,
    beat: Mutex<Option<std::thread::JoinHandle<()>>>,
    interval: Duration,
    stop: (Mutex<bool>, Condvar),
}

impl std::fmt::Debug for HttpMetadata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpMetadata")
            .field("url", &self.inner.base)
            .finish_non_exhaustive()
    }
}

impl HttpMetadata {
    /// A client of the service at `url` (`http://host:port`), sending `token`.
    pub fn new(url: &str, token: Option<String>) -> HttpMetadata {
        let base = url.trim_end_matches('/').to_string();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(5)))
            .timeout_global(Some(Duration::from_secs(60)))
            .user_agent(format!("wflow/{}", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        let interval = std::env::var("WFLOW_HEARTBEAT_SECS")
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|s| *s > 0.0)
            .map_or(HEARTBEAT_INTERVAL, Duration::from_secs_f64);
        let retries = std::env::var("WFLOW_METADATA_RETRIES")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(3);
        HttpMetadata {
            inner: Arc::new(Inner {
                label: PathBuf::from(&base),
                base,
                token,
                agent,
                retries,
                live: Mutex::new(HashSet::new()),
                beat: Mutex::new(None),
                interval,
                stop: (Mutex::new(false), Condvar::new()),
            }),
        }
    }

    /// Sends heartbeats every `interval` instead of [`HEARTBEAT_INTERVAL`] (or
    /// `WFLOW_HEARTBEAT_SECS`). Only before the client is shared.
    pub fn heartbeat_every(mut self, interval: Duration) -> HttpMetadata {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.interval = interval;
        }
        self
    }

    /// The service's URL.
    pub fn url(&self) -> &str {
        &self.inner.base
    }

    /// Who the token belongs to (checks the service, the version and the token at once).
    pub fn whoami(&self) -> Result<crate::wire::WhoAmI> {
        self.inner.get("/api/v1/whoami", "checking the token")
    }

    fn started(&self, events: &[Event]) {
        let mut live = self.inner.live.lock().unwrap_or_else(|p| p.into_inner());
        for e in events {
            match e {
                Event::RunStarted { run_id, .. } => {
                    live.insert(run_id.clone());
                }
                Event::RunFinished { run_id, .. } => {
                    live.remove(run_id);
                }
                _ => {}
            }
        }
        let any = !live.is_empty();
        drop(live);
        if any {
            let mut beat = self.inner.beat.lock().unwrap_or_else(|p| p.into_inner());
            if beat.is_none() {
                let weak = Arc::downgrade(&self.inner);
                *beat = std::thread::Builder::new()
                    .name("wflow-heartbeat".into())
                    .spawn(move || heartbeat_loop(weak))
                    .ok();
            }
        }
    }

    fn send(&self, events: &[Event], skip_failures: bool) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        // Skipping failures, events stand alone: a long queue goes in several requests (each
        // one transaction). Strict, the batch is one request: all or nothing.
        if skip_failures && events.len() > CHUNK {
            let mut first = None;
            for chunk in events.chunks(CHUNK) {
                match self.send(chunk, true) {
                    Ok(()) => {}
                    Err(
                        e @ (MetadataError::Service { .. }
                        | MetadataError::Unavailable { .. }
                        | MetadataError::Denied { .. }
                        | MetadataError::Protocol { .. }),
                    ) => {
                        return Err(e);
                    }
                    Err(e) => {
                        first.get_or_insert(e);
                    }
                }
            }
            return first.map_or(Ok(()), Err);
        }
        let batch = EventBatch {
            events: events.to_vec(),
            skip_failures,
        };
        let outcome: BatchOutcome =
            self.inner
                .post("/api/v1/events", &batch, "recording events")?;
        // Heartbeats for the runs that are now recorded (and none for those that ended).
        self.started(events);
        match outcome.first_failure {
            Some(body) => Err(body.into_error(&self.inner.label, "recording events", 0)),
            None => Ok(()),
        }
    }
}

impl Drop for HttpMetadata {
    fn drop(&mut self) {
        *self.inner.stop.0.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.inner.stop.1.notify_all();
        let handle = self
            .inner
            .beat
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(h) = handle {
            let _ = h.join();
        }
    }
}

fn heartbeat_loop(weak: Weak<Inner>) {
    loop {
        let Some(inner) = weak.upgrade() else { return };
        {
            let (lock, cvar) = &inner.stop;
            let stopped = lock.lock().unwrap_or_else(|p| p.into_inner());
            let (stopped, _) = cvar
                .wait_timeout_while(stopped, inner.interval, |s| !*s)
                .unwrap_or_else(|p| p.into_inner());
            if *stopped {
                return;
            }
        }
        let runs: Vec<String> = inner
            .live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect();
        if !runs.is_empty() {
            // A missed heartbeat is not an error of the run: the next one may get through.
            let _ = inner.post::<serde_json::Value>(
                "/api/v1/heartbeats",
                &Heartbeat { runs },
                "sending a heartbeat",
            );
        }
    }
}

/// Percent-encodes a path segment or query value.
fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Inner {
    fn get<T: DeserializeOwned>(&self, path: &str, action: &str) -> Result<T> {
        self.request("GET", path, None, action)
    }

    fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl serde::Serialize,
        action: &str,
    ) -> Result<T> {
        let body = serde_json::to_vec(body).expect("requests serialise");
        self.request("POST", path, Some(body), action)
    }

    fn service_error(&self, action: &str, message: String) -> MetadataError {
        MetadataError::Service {
            path: self.label.clone(),
            action: action.to_string(),
            message,
        }
    }

    fn unavailable(&self, action: &str, message: String) -> MetadataError {
        MetadataError::Unavailable {
            path: self.label.clone(),
            action: action.to_string(),
            message,
        }
    }

    /// One request, retried while the service or its database cannot be reached (connection
    /// refused, 503): nothing was done then, so sending it again is safe.
    fn request<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
        action: &str,
    ) -> Result<T> {
        let url = format!("{}{path}", self.base);
        let mut attempt = 0;
        loop {
            let mut req = ureq::http::Request::builder()
                .method(method)
                .uri(&url)
                .header(PROTOCOL_HEADER, PROTOCOL_VERSION.to_string())
                .header("content-type", "application/json");
            if let Some(t) = &self.token {
                req = req.header("authorization", format!("Bearer {t}"));
            }
            let req = req
                .body(body.clone().unwrap_or_default())
                .map_err(|e| self.service_error(action, format!("bad request: {e}")))?;
            let result = self.agent.run(req);
            // A service that went away (refused, or gone mid-request: reset, closed before it
            // answered) is retried, then reported unavailable, so the recorder waits for it. A
            // request cut mid-way was one transaction that did not commit unless the service died
            // between its commit and its answer.
            let retry = match &result {
                Err(ureq::Error::Io(e)) => matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionRefused
                        | std::io::ErrorKind::NotFound
                        | std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::ConnectionAborted
                        | std::io::ErrorKind::BrokenPipe
                        | std::io::ErrorKind::UnexpectedEof
                ),
                Err(ureq::Error::ConnectionFailed | ureq::Error::HostNotFound) => true,
                Ok(resp) => resp.status().as_u16() == 503,
                Err(_) => false,
            };
            if retry && attempt < self.retries {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(200 * (1 << attempt.min(4))));
                continue;
            }
            let mut resp = result.map_err(|e| {
                let message = format!("cannot reach the metadata service at {}: {e}", self.base);
                if retry {
                    self.unavailable(action, message)
                } else {
                    self.service_error(action, message)
                }
            })?;
            let status = resp.status().as_u16();
            let server_version = resp
                .headers()
                .get(PROTOCOL_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let text = resp
                .body_mut()
                .with_config()
                .limit(1 << 30)
                .read_to_string()
                .map_err(|e| self.service_error(action, format!("reading the answer: {e}")))?;
            match server_version.as_deref() {
                Some(v) if v == PROTOCOL_VERSION.to_string() => {}
                Some(v) => {
                    let advice = if v.parse::<u32>().is_ok_and(|v| v > PROTOCOL_VERSION) {
                        "the server is newer: upgrade wflow on this machine"
                    } else {
                        "the server is older: ask its administrator to upgrade wflow server"
                    };
                    return Err(MetadataError::Protocol {
                        path: self.label.clone(),
                        message: format!(
                            "this wflow speaks protocol version {PROTOCOL_VERSION}, the server \
                             version {v}; {advice}"
                        ),
                    });
                }
                None => {
                    return Err(self.service_error(
                        action,
                        format!(
                            "{} is not a wflow metadata service (HTTP {status}, no `{PROTOCOL_HEADER}` header)",
                            self.base
                        ),
                    ));
                }
            }
            if (200..300).contains(&status) {
                return serde_json::from_str(&text).map_err(|e| {
                    self.service_error(action, format!("unexpected answer ({e}): {text:.200}"))
                });
            }
            let error = match serde_json::from_str::<ErrorEnvelope>(&text) {
                Ok(env) => env.error.into_error(&self.label, action, status),
                Err(_) => self.service_error(action, format!("HTTP {status}: {text:.200}")),
            };
            return Err(match error {
                // The service is up but cannot work now (its database is down).
                MetadataError::Service { message, .. } if status == 503 => {
                    self.unavailable(action, message)
                }
                other => other,
            });
        }
    }

    /// Every page of a listing of runs.
    fn runs_query(&self, filter: &RunFilter, count: bool) -> String {
        let mut q: Vec<String> = Vec::new();
        if let Some(f) = &filter.flow {
            q.push(format!("flow={}", enc(f)));
        }
        if let Some(s) = filter.status {
            q.push(format!("status={s}"));
        }
        if let Some(k) = filter.kind {
            q.push(format!("kind={k}"));
        }
        for t in &filter.tags {
            q.push(format!("tag={}", enc(t)));
        }
        if let Some(u) = &filter.user {
            q.push(format!("user={}", enc(u)));
        } else if filter.all_users {
            q.push("all=true".into());
        }
        if let Some(since) = filter.since_ms {
            q.push(format!("since={since}"));
        }
        if let Some(until) = filter.until_ms {
            q.push(format!("until={until}"));
        }
        if filter.skip_spec && !count {
            q.push("skip_spec=true".into());
        }
        q.join("&")
    }
}

impl MetadataStore for HttpMetadata {
    fn record(&self, events: &[Event]) -> Result<()> {
        self.send(events, false)
    }

    fn record_skipping_failures(&self, events: &[Event]) -> Result<()> {
        self.send(events, true)
    }

    fn runs(&self, flow: Option<&str>) -> Result<Vec<RunRecord>> {
        self.find_runs(&RunFilter {
            flow: flow.map(str::to_string),
            ..RunFilter::default()
        })
    }

    fn run(&self, run_id: &str) -> Result<Option<RunRecord>> {
        match self.inner.get(
            &format!("/api/v1/runs/{}", enc(run_id)),
            &format!("reading run `{run_id}`"),
        ) {
            Ok(r) => Ok(Some(r)),
            Err(MetadataError::UnknownRun { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn tasks(&self, run_id: &str) -> Result<Vec<TaskRecord>> {
        self.tasks_where(run_id, None)
    }

    fn attempts(&self, run_id: &str, task_id: u64) -> Result<Vec<AttemptRecord>> {
        match self.inner.get(
            &format!("/api/v1/runs/{}/tasks/{task_id}/attempts", enc(run_id)),
            &format!("listing the attempts of task {task_id} of run `{run_id}`"),
        ) {
            Ok(a) => Ok(a),
            Err(MetadataError::UnknownRun { .. } | MetadataError::UnknownTask { .. }) => Ok(vec![]),
            Err(e) => Err(e),
        }
    }

    /// `POST /api/v1/admin/remove-runs`, 1,000 runs per request (an administrator's token).
    fn delete_runs(&self, run_ids: &[String]) -> Result<usize> {
        let mut removed = 0;
        for chunk in run_ids.chunks(1000) {
            let r: crate::wire::RunsRemoved = self.inner.post(
                "/api/v1/admin/remove-runs",
                &crate::wire::RemoveRuns {
                    runs: chunk.to_vec(),
                },
                "removing runs",
            )?;
            removed += r.removed;
        }
        Ok(removed)
    }

    fn add_tags(&self, run_id: &str, tags: &[String]) -> Result<usize> {
        let c: TagChanged = self.inner.post(
            &format!("/api/v1/runs/{}/tags", enc(run_id)),
            &TagChange {
                add: tags.to_vec(),
                remove: vec![],
            },
            &format!("tagging run `{run_id}`"),
        )?;
        Ok(c.added)
    }

    fn remove_tags(&self, run_id: &str, tags: &[String]) -> Result<usize> {
        let c: TagChanged = self.inner.post(
            &format!("/api/v1/runs/{}/tags", enc(run_id)),
            &TagChange {
                add: vec![],
                remove: tags.to_vec(),
            },
            &format!("untagging run `{run_id}`"),
        )?;
        Ok(c.removed)
    }

    fn tags(&self, run_id: &str) -> Result<Vec<String>> {
        match self.inner.get(
            &format!("/api/v1/runs/{}/tags", enc(run_id)),
            &format!("reading the tags of run `{run_id}`"),
        ) {
            Ok(t) => Ok(t),
            Err(MetadataError::UnknownRun { .. }) => Ok(vec![]),
            Err(e) => Err(e),
        }
    }

    fn path(&self) -> &Path {
        &self.inner.label
    }

    fn batch_window(&self) -> Duration {
        BATCH_WINDOW
    }

    fn task(&self, run_id: &str, task_id: u64) -> Result<Option<TaskRecord>> {
        match self.inner.get(
            &format!("/api/v1/runs/{}/tasks/{task_id}", enc(run_id)),
            &format!("reading task {task_id} of run `{run_id}`"),
        ) {
            Ok(t) => Ok(Some(t)),
            Err(MetadataError::UnknownRun { .. } | MetadataError::UnknownTask { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn tasks_of_step(&self, run_id: &str, step: &str) -> Result<Vec<TaskRecord>> {
        self.tasks_where(run_id, Some(step))
    }

    fn task_of_item(&self, run_id: &str, step: &str, path: &[u32]) -> Result<Option<TaskRecord>> {
        let item = serde_json::to_string(path).expect("numbers serialise");
        match self.inner.get::<Page<TaskRecord>>(
            &format!(
                "/api/v1/runs/{}/tasks?step={}&item={}",
                enc(run_id),
                enc(step),
                enc(&item)
            ),
            &format!("finding the task of item {item} of step `{step}` of run `{run_id}`"),
        ) {
            Ok(page) => Ok(page.items.into_iter().next()),
            Err(MetadataError::UnknownRun { .. }) => Ok(None),
            // An older service finds no item: read the step's tasks and look here.
            Err(MetadataError::Service { message, .. })
                if message.contains("unknown query parameter") =>
            {
                Ok(self
                    .tasks_of_step(run_id, step)?
                    .into_iter()
                    .rev()
                    .find(|t| t.foreach_path == path))
            }
            Err(e) => Err(e),
        }
    }

    fn flows(&self) -> Result<Vec<String>> {
        self.inner.get("/api/v1/flows", "listing flows")
    }

    /// The service's summaries (one row per step); an older service without them: the run's
    /// tasks summed up here.
    fn step_stats(&self, run_id: &str) -> Result<Vec<wflow_metadata::StepStats>> {
        match self.inner.get(
            &format!("/api/v1/runs/{}/steps", enc(run_id)),
            &format!("summing up the steps of run `{run_id}`"),
        ) {
            Ok(steps) => Ok(steps),
            Err(MetadataError::UnknownRun { .. }) => Ok(vec![]),
            Err(MetadataError::Service { message, .. }) if message.contains("no such route") => {
                let tasks = self.tasks(run_id)?;
                let shares: Vec<wflow_metadata::summary::Share> = tasks
                    .iter()
                    .map(wflow_metadata::summary::Share::of)
                    .collect();
                Ok(wflow_metadata::summary::stats_of(&shares))
            }
            Err(e) => Err(e),
        }
    }

    fn step_tasks(&self, run_id: &str, step: &str, query: &TaskQuery) -> Result<Vec<TaskRecord>> {
        match self.step_tasks_paged(run_id, step, query) {
            // An older service pages tasks by id only: read the step's and order them here.
            Err(MetadataError::Service { message, .. })
                if message.contains("unknown query parameter") =>
            {
                Ok(query.apply(self.tasks_of_step(run_id, step)?))
            }
            other => other,
        }
    }

    fn find_runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>> {
        match self.find_runs_paged(filter) {
            // An older service knows no kinds and records no step-runs: every run it
            // lists is a run of the flow.
            Err(MetadataError::Service { message, .. })
                if filter.kind == Some(RunKind::Run)
                    && message.contains("unknown query parameter `kind`") =>
            {
                self.find_runs_paged(&RunFilter {
                    kind: None,
                    ..filter.clone()
                })
            }
            other => other,
        }
    }

    fn count_runs(&self, filter: &RunFilter) -> Result<u64> {
        let query = self.inner.runs_query(filter, true);
        let v: serde_json::Value = self
            .inner
            .get(&format!("/api/v1/runs/count?{query}"), "counting runs")?;
        Ok(v["count"].as_u64().unwrap_or(0))
    }

    fn cache_lookup(
        &self,
        keys: &[wflow_core::CacheKey],
        limit: usize,
    ) -> Result<Vec<Vec<wflow_metadata::CacheEntry>>> {
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(crate::wire::MAX_CACHE_KEYS) {
            let body = crate::wire::CacheLookup {
                keys: chunk.to_vec(),
                limit: limit.clamp(1, crate::wire::MAX_CACHE_ENTRIES),
            };
            let got: crate::wire::CacheEntries =
                self.inner
                    .post("/api/v1/cache/lookup", &body, "looking up the task cache")?;
            out.extend(got.entries);
        }
        out.resize_with(keys.len(), Vec::new);
        Ok(out)
    }

    fn tags_of_runs(&self, run_ids: &[&str]) -> Result<BTreeMap<String, Vec<String>>> {
        let mut out = BTreeMap::new();
        for chunk in run_ids.chunks(200) {
            if chunk.is_empty() {
                continue;
            }
            let q: Vec<String> = chunk.iter().map(|r| format!("run={}", enc(r))).collect();
            let part: BTreeMap<String, Vec<String>> = self.inner.get(
                &format!("/api/v1/tags?{}", q.join("&")),
                "reading the tags of runs",
            )?;
            out.extend(part);
        }
        Ok(out)
    }

    fn all_tags(&self) -> Result<Vec<(String, u64)>> {
        #[derive(serde::Deserialize)]
        struct T {
            tag: String,
            runs: u64,
        }
        let tags: Vec<T> = self.inner.get("/api/v1/tags", "listing tags")?;
        Ok(tags.into_iter().map(|t| (t.tag, t.runs)).collect())
    }
}

impl HttpMetadata {
    fn tasks_where(&self, run_id: &str, step: Option<&str>) -> Result<Vec<TaskRecord>> {
        let mut out = Vec::new();
        let mut after: i64 = -1;
        let step_q = step
            .map(|s| format!("&step={}", enc(s)))
            .unwrap_or_default();
        loop {
            let page: Page<TaskRecord> = match self.inner.get(
                &format!(
                    "/api/v1/runs/{}/tasks?after={after}&limit={}{step_q}",
                    enc(run_id),
                    crate::api::MAX_PAGE
                ),
                &format!("listing the tasks of run `{run_id}`"),
            ) {
                Ok(p) => p,
                Err(MetadataError::UnknownRun { .. }) => return Ok(out),
                Err(e) => return Err(e),
            };
            out.extend(page.items);
            match page.next_offset {
                Some(next) => after = next as i64,
                None => return Ok(out),
            }
        }
    }
}

impl HttpMetadata {
    /// A page of a step's tasks, in as many requests as its limit needs.
    fn step_tasks_paged(
        &self,
        run_id: &str,
        step: &str,
        query: &TaskQuery,
    ) -> Result<Vec<TaskRecord>> {
        let mut q = format!("step={}&sort={}&desc={}", enc(step), query.sort, query.desc);
        if let Some(s) = query.status {
            q.push_str(&format!("&status={s}"));
        }
        let mut out = Vec::new();
        let mut offset = query.offset as u64;
        let want = query.limit.unwrap_or(usize::MAX);
        while out.len() < want {
            let page = (want - out.len()).min(crate::api::MAX_PAGE as usize);
            let page: Page<TaskRecord> = match self.inner.get(
                &format!(
                    "/api/v1/runs/{}/tasks?{q}&limit={page}&offset={offset}",
                    enc(run_id)
                ),
                &format!("listing the tasks of step `{step}` of run `{run_id}`"),
            ) {
                Ok(p) => p,
                Err(MetadataError::UnknownRun { .. }) => return Ok(out),
                Err(e) => return Err(e),
            };
            out.extend(page.items);
            match page.next_offset {
                Some(next) => offset = next,
                None => break,
            }
        }
        Ok(out)
    }

    /// Every page of a listing of runs.
    fn find_runs_paged(&self, filter: &RunFilter) -> Result<Vec<RunRecord>> {
        let query = self.inner.runs_query(filter, false);
        let mut out = Vec::new();
        let mut offset = filter.offset as u64;
        let want = filter.limit.unwrap_or(usize::MAX);
        while out.len() < want {
            let page = (want - out.len()).min(crate::api::MAX_PAGE as usize);
            let page: Page<RunRecord> = self.inner.get(
                &format!("/api/v1/runs?{query}&limit={page}&offset={offset}"),
                "listing runs",
            )?;
            out.extend(page.items);
            match page.next_offset {
                Some(next) => offset = next,
                None => break,
            }
        }
        Ok(out)
    }
}
