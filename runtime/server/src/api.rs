//! The HTTP API (`/api/v1/…`), its checks (protocol version, token) and `/healthz`,
//! `/metrics`, `/openapi.json`. The spec of the API is `runtime/server/openapi.json`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{MatchedPath, Path, RawQuery, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use deadpool_postgres::Pool;
use serde_json::json;
use wflow_metadata::{RunKind, Status, TaskQuery, TaskSort};

use crate::db::{self, Caller, RunQuery};
use crate::error::ApiError;
use crate::wire::{
    BatchOutcome, EventBatch, Heartbeat, PROTOCOL_HEADER, PROTOCOL_VERSION, Page, RemoveRuns,
    RunsRemoved, TagChange, TagChanged, WhoAmI,
};

/// The OpenAPI 3 description of this API, served as is at `/openapi.json`.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// The largest request body accepted (a batch of events).
pub const MAX_BODY: usize = 64 << 20;

/// The largest page a listing returns.
pub const MAX_PAGE: i64 = 1000;

/// What every handler shares.
pub struct AppState {
    /// The database.
    pub pool: Pool,
    /// Counters for `/metrics`.
    pub metrics: Metrics,
    /// Tokens checked recently: BLAKE3 of the token → its user, and when it was checked.
    pub tokens: Mutex<std::collections::HashMap<String, (Caller, std::time::Instant)>>,
    /// How long a checked token is remembered (a revoked token stops working within this time).
    pub token_cache: std::time::Duration,
}

impl AppState {
    /// The state of a service over `pool`.
    pub fn new(pool: Pool) -> AppState {
        AppState {
            pool,
            metrics: Metrics::default(),
            tokens: Mutex::new(std::collections::HashMap::new()),
            token_cache: crate::ServerConfig::DEFAULT_TOKEN_CACHE,
        }
    }

    /// Remembers checked tokens for `ttl` (zero: checks every request against the database).
    pub fn with_token_cache(mut self, ttl: std::time::Duration) -> AppState {
        self.token_cache = ttl;
        self
    }

    async fn caller(&self, token: &str) -> ApiResult<Option<Caller>> {
        let key = blake3::hash(token.as_bytes()).to_hex().to_string();
        if let Some((caller, at)) = self
            .tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            && at.elapsed() < self.token_cache
        {
            return Ok(Some(caller.clone()));
        }
        let caller = db::caller_of(&self.pool, token).await?;
        if let Some(c) = &caller {
            let mut cache = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
            if cache.len() > 10_000 {
                cache.clear();
            }
            cache.insert(key, (c.clone(), std::time::Instant::now()));
        }
        Ok(caller)
    }
}

/// Request and record counters, exported as Prometheus text.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    /// Events recorded.
    pub events: AtomicU64,
    /// Runs marked failed because their driver stopped sending heartbeats.
    pub reaped: AtomicU64,
}

type ApiResult<T> = Result<T, ApiError>;

/// The router with every route and check.
pub fn router(state: Arc<AppState>) -> Router {
    let api = Router::new()
        .route("/events", post(post_events))
        .route("/runs", get(list_runs))
        .route("/runs/count", get(count_runs))
        .route("/runs/{run_id}", get(get_run))
        .route("/runs/{run_id}/tasks", get(list_tasks))
        .route("/runs/{run_id}/steps", get(list_steps))
        .route("/runs/{run_id}/tasks/{task_id}", get(get_task))
        .route(
            "/runs/{run_id}/tasks/{task_id}/attempts",
            get(list_attempts),
        )
        .route("/runs/{run_id}/tags", get(run_tags).post(change_tags))
        .route("/flows", get(list_flows))
        .route("/tags", get(list_tags))
        .route("/heartbeats", post(post_heartbeat))
        .route("/cache/lookup", post(cache_lookup))
        .route("/whoami", get(whoami))
        .route("/admin/remove-runs", post(remove_runs))
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .route_layer(middleware::from_fn(check_protocol));
    Router::new()
        .nest("/api/v1", api)
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn_with_state(state.clone(), count_request))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such route (see /openapi.json)",
    )
}

/// Counts each request by route and status, and stamps the protocol version on the response.
async fn count_request(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |m| m.as_str())
        .to_string();
    let method = req.method().to_string();
    let mut resp = next.run(req).await;
    resp.headers_mut()
        .insert(PROTOCOL_HEADER, HeaderValue::from(PROTOCOL_VERSION));
    let status = resp.status().as_u16();
    *state
        .metrics
        .requests
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry((method, route, status))
        .or_default() += 1;
    resp
}

/// Refuses a request of another protocol version (or none) with a message saying which side to
/// upgrade.
async fn check_protocol(req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(PROTOCOL_HEADER)
        .map(|v| v.to_str().unwrap_or("?").to_string());
    match given.as_deref() {
        Some(v) if v == PROTOCOL_VERSION.to_string() => next.run(req).await,
        Some(v) => {
            let newer = v.parse::<u32>().is_ok_and(|v| v > PROTOCOL_VERSION);
            let advice = if newer {
                "the client is newer than this server: upgrade the server (wflow server)"
            } else {
                "the client is older than this server: upgrade wflow on the client"
            };
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "protocol_version",
                format!(
                    "the client speaks wflow protocol version {v}, this server speaks version \
                     {PROTOCOL_VERSION}; {advice}"
                ),
            )
            .into_response()
        }
        None => ApiError::new(
            StatusCode::BAD_REQUEST,
            "protocol_version",
            format!(
                "the request has no `{PROTOCOL_HEADER}` header; this server speaks wflow protocol \
                 version {PROTOCOL_VERSION}"
            ),
        )
        .into_response(),
    }
}

/// Finds the caller from `Authorization: Bearer TOKEN`; 401 without a known token.
async fn authenticate(
    State(state): State<Arc<AppState>>,
    mut req: Request,
    next: Next,
) -> Response {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .map(str::to_string);
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return ApiError::unauthorized(
            "no token: send `Authorization: Bearer TOKEN` (set WFLOW_TOKEN or `token` in the \
             [metadata] table of the config file; an administrator creates tokens with \
             `wflow server token create USER`)",
        )
        .into_response();
    };
    match state.caller(&token).await {
        Ok(Some(caller)) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Ok(None) => ApiError::unauthorized(
            "the token is not valid on this server (ask an administrator for one: `wflow server \
             token create USER`)",
        )
        .into_response(),
        Err(e) => e.into_response(),
    }
}

/// A JSON body, or a 400 saying what is wrong with it.
fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("malformed JSON body: {e}")))
}

async fn post_events(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    body: axum::body::Bytes,
) -> ApiResult<Json<BatchOutcome>> {
    let batch: EventBatch = parse_body(&body)?;
    let (recorded, first_failure) =
        db::record(&state.pool, &caller, &batch.events, batch.skip_failures).await?;
    state
        .metrics
        .events
        .fetch_add(recorded as u64, Ordering::Relaxed);
    Ok(Json(BatchOutcome {
        recorded,
        first_failure,
    }))
}

async fn cache_lookup(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    body: axum::body::Bytes,
) -> ApiResult<Json<crate::wire::CacheEntries>> {
    let q: crate::wire::CacheLookup = parse_body(&body)?;
    if q.keys.len() > crate::wire::MAX_CACHE_KEYS {
        return Err(ApiError::bad_request(format!(
            "{} keys in one cache lookup: at most {} are taken",
            q.keys.len(),
            crate::wire::MAX_CACHE_KEYS
        )));
    }
    if q.limit == 0 || q.limit > crate::wire::MAX_CACHE_ENTRIES {
        return Err(ApiError::bad_request(format!(
            "`limit` {} is out of range: 1 to {} entries per key",
            q.limit,
            crate::wire::MAX_CACHE_ENTRIES
        )));
    }
    let entries = db::cache_lookup(&state.pool, &caller, &q.keys, q.limit as i64).await?;
    Ok(Json(crate::wire::CacheEntries { entries }))
}

/// The query string as (key, value) pairs (keys may repeat: `tag=a&tag=b`).
fn pairs(raw: Option<String>) -> ApiResult<Vec<(String, String)>> {
    serde_urlencoded::from_str(raw.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::bad_request(format!("malformed query string: {e}")))
}

fn int(key: &str, value: &str, min: i64, max: i64) -> ApiResult<i64> {
    value
        .parse::<i64>()
        .ok()
        .filter(|v| (min..=max).contains(v))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "`{key}={value}`: expected an integer from {min} to {max}"
            ))
        })
}

fn bool_param(key: &str, value: &str) -> ApiResult<bool> {
    match value {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(ApiError::bad_request(format!(
            "`{key}={value}`: expected true or false"
        ))),
    }
}

/// The run query of `GET /runs` and `/runs/count`, with the caller's namespace applied: their
/// own runs unless `all=true` or `user=` another user, which need an administrator's token.
fn run_query(caller: &Caller, raw: Option<String>) -> ApiResult<RunQuery> {
    let mut q = RunQuery {
        limit: 50,
        ..RunQuery::default()
    };
    let (mut all, mut user) = (false, None);
    for (k, v) in pairs(raw)? {
        match k.as_str() {
            "flow" => q.flow = Some(v),
            "status" => {
                q.status = Some(
                    v.parse::<Status>()
                        .map_err(|e| ApiError::bad_request(e.to_string()))?,
                )
            }
            "kind" => {
                q.kind = Some(
                    v.parse::<RunKind>()
                        .map_err(|e| ApiError::bad_request(e.to_string()))?,
                )
            }
            "tag" => q.tags.push(v),
            "user" => user = Some(v),
            "all" => all = bool_param(&k, &v)?,
            "since" => q.since = Some(int(&k, &v, i64::MIN, i64::MAX)?),
            "until" => q.until = Some(int(&k, &v, i64::MIN, i64::MAX)?),
            "limit" => q.limit = int(&k, &v, 1, MAX_PAGE)?,
            "offset" => q.offset = int(&k, &v, 0, i64::MAX)?,
            "skip_spec" => q.skip_spec = bool_param(&k, &v)?,
            _ => {
                return Err(ApiError::bad_request(format!(
                    "unknown query parameter `{k}`"
                )));
            }
        }
    }
    q.user = match (all, user) {
        (true, Some(_)) => {
            return Err(ApiError::bad_request(
                "give `all=true` or `user=`, not both",
            ));
        }
        (true, None) if caller.admin => None,
        (true, None) => {
            return Err(ApiError::forbidden(format!(
                "`{}` may list only their own runs; listing every user's runs (--all) needs an \
                 administrator's token",
                caller.user
            )));
        }
        (false, Some(u)) if u != caller.user && !caller.admin => {
            return Err(ApiError::forbidden(format!(
                "`{}` may list only their own runs; listing the runs of `{u}` needs an \
                 administrator's token",
                caller.user
            )));
        }
        (false, Some(u)) => Some(u),
        (false, None) => Some(caller.user.clone()),
    };
    Ok(q)
}

async fn list_runs(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Page<wflow_metadata::RunRecord>>> {
    let q = run_query(&caller, raw)?;
    let items = db::find_runs(&state.pool, &q).await?;
    let next_offset = (items.len() as i64 == q.limit).then_some((q.offset + q.limit) as u64);
    Ok(Json(Page { items, next_offset }))
}

async fn count_runs(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<serde_json::Value>> {
    let mut q = run_query(&caller, raw)?;
    q.offset = 0;
    Ok(Json(
        json!({ "count": db::count_runs(&state.pool, &q).await? }),
    ))
}

async fn get_run(
    State(state): State<Arc<AppState>>,
    Path(run_id): Path<String>,
) -> ApiResult<Json<wflow_metadata::RunRecord>> {
    db::run(&state.pool, &run_id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::unknown_run(&run_id))
}

/// What the tasks of each step of a run add up to, by step name (the run's `step_summary`
/// rows; steps without tasks are absent).
async fn list_steps(
    State(state): State<Arc<AppState>>,
    Path(run_id): Path<String>,
) -> ApiResult<Json<Vec<wflow_metadata::StepStats>>> {
    let steps = db::step_stats(&state.pool, &run_id).await?;
    if steps.is_empty() && db::run(&state.pool, &run_id).await?.is_none() {
        return Err(ApiError::unknown_run(&run_id));
    }
    Ok(Json(steps))
}

fn task_id(raw: &str) -> ApiResult<i64> {
    int("task_id", raw, 0, i64::MAX)
}

async fn list_tasks(
    State(state): State<Arc<AppState>>,
    Path(run_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Page<wflow_metadata::TaskRecord>>> {
    let (mut after, mut limit, mut step, mut item) = (-1i64, MAX_PAGE, None, None);
    // A page of one step in another order (`sort`, `desc`, `status`, `offset`): what the UI's
    // step table asks for.
    let mut query: Option<TaskQuery> = None;
    for (k, v) in pairs(raw)? {
        match k.as_str() {
            "after" => after = int(&k, &v, -1, i64::MAX)?,
            "limit" => limit = int(&k, &v, 1, MAX_PAGE)?,
            "step" => step = Some(v),
            "item" => {
                let path: Vec<u32> = serde_json::from_str(&v).map_err(|_| {
                    ApiError::bad_request(format!(
                        "`item` must be a foreach item's path as a JSON list of indices \
                         (`[7]`, `[2,7]`), not `{v}`"
                    ))
                })?;
                item = Some(path);
            }
            "sort" => {
                query.get_or_insert_default().sort = v
                    .parse::<TaskSort>()
                    .map_err(|e| ApiError::bad_request(e.to_string()))?
            }
            "desc" => query.get_or_insert_default().desc = bool_param(&k, &v)?,
            "status" => {
                query.get_or_insert_default().status = Some(
                    v.parse::<Status>()
                        .map_err(|e| ApiError::bad_request(e.to_string()))?,
                )
            }
            "offset" => query.get_or_insert_default().offset = int(&k, &v, 0, i64::MAX)? as usize,
            _ => {
                return Err(ApiError::bad_request(format!(
                    "unknown query parameter `{k}`"
                )));
            }
        }
    }
    if let Some(path) = item {
        // The newest task of one foreach item of one step: what `Flow/run/step[7]` names.
        let Some(step) = step else {
            return Err(ApiError::bad_request("`item` names a task of one `step`"));
        };
        if query.is_some() || after != -1 {
            return Err(ApiError::bad_request(
                "`item` finds one task: no `after`, `sort`, `desc`, `status` or `offset` with it",
            ));
        }
        let items = db::task_of_item(&state.pool, &run_id, &step, &path).await?;
        if items.is_empty() && db::run(&state.pool, &run_id).await?.is_none() {
            return Err(ApiError::unknown_run(&run_id));
        }
        return Ok(Json(Page {
            items,
            next_offset: None,
        }));
    }
    if let Some(mut q) = query {
        let Some(step) = step else {
            return Err(ApiError::bad_request(
                "`sort`, `desc`, `status` and `offset` page the tasks of one `step`",
            ));
        };
        if after != -1 {
            return Err(ApiError::bad_request(
                "give `after` (tasks by id) or `offset` (a page in any order), not both",
            ));
        }
        q.limit = Some(limit as usize);
        let items = db::step_tasks(&state.pool, &run_id, &step, &q).await?;
        if items.is_empty() && db::run(&state.pool, &run_id).await?.is_none() {
            return Err(ApiError::unknown_run(&run_id));
        }
        let next_offset = (items.len() as i64 == limit).then_some((q.offset as i64 + limit) as u64);
        return Ok(Json(Page { items, next_offset }));
    }
    let items = db::tasks(&state.pool, &run_id, step.as_deref(), after, limit).await?;
    if items.is_empty() && db::run(&state.pool, &run_id).await?.is_none() {
        return Err(ApiError::unknown_run(&run_id));
    }
    let next_offset = (items.len() as i64 == limit)
        .then(|| items.last().map(|t| t.task_id))
        .flatten();
    Ok(Json(Page { items, next_offset }))
}

async fn get_task(
    State(state): State<Arc<AppState>>,
    Path((run_id, raw_task)): Path<(String, String)>,
) -> ApiResult<Json<wflow_metadata::TaskRecord>> {
    let t = task_id(&raw_task)?;
    match db::task(&state.pool, &run_id, t).await? {
        Some(task) => Ok(Json(task)),
        None if db::run(&state.pool, &run_id).await?.is_none() => {
            Err(ApiError::unknown_run(&run_id))
        }
        None => Err(ApiError::unknown_task(&run_id, t as u64)),
    }
}

async fn list_attempts(
    State(state): State<Arc<AppState>>,
    Path((run_id, raw_task)): Path<(String, String)>,
) -> ApiResult<Json<Vec<wflow_metadata::AttemptRecord>>> {
    let t = task_id(&raw_task)?;
    let attempts = db::attempts(&state.pool, &run_id, t).await?;
    if attempts.is_empty() && db::task(&state.pool, &run_id, t).await?.is_none() {
        if db::run(&state.pool, &run_id).await?.is_none() {
            return Err(ApiError::unknown_run(&run_id));
        }
        return Err(ApiError::unknown_task(&run_id, t as u64));
    }
    Ok(Json(attempts))
}

async fn run_tags(
    State(state): State<Arc<AppState>>,
    Path(run_id): Path<String>,
) -> ApiResult<Json<Vec<String>>> {
    let tags = db::tags_of(&state.pool, std::slice::from_ref(&run_id)).await?;
    if tags.is_empty() && db::run(&state.pool, &run_id).await?.is_none() {
        return Err(ApiError::unknown_run(&run_id));
    }
    Ok(Json(tags.into_iter().map(|(_, t)| t).collect()))
}

async fn change_tags(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(run_id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<TagChanged>> {
    let change: TagChange = parse_body(&body)?;
    let (added, removed) =
        db::change_tags(&state.pool, &caller, &run_id, &change.add, &change.remove).await?;
    Ok(Json(TagChanged { added, removed }))
}

/// `POST /admin/remove-runs`: an administrator (`wflow gc`) removes finished runs' records.
async fn remove_runs(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    body: axum::body::Bytes,
) -> ApiResult<Json<RunsRemoved>> {
    if !caller.admin {
        return Err(ApiError::forbidden(format!(
            "`{}` may not remove runs: `wflow gc` needs an administrator's token",
            caller.user
        )));
    }
    let req: RemoveRuns = parse_body(&body)?;
    if req.runs.len() > MAX_PAGE as usize {
        return Err(ApiError::bad_request(format!(
            "at most {MAX_PAGE} runs per request, not {}",
            req.runs.len()
        )));
    }
    let removed = db::remove_runs(&state.pool, &req.runs).await?;
    Ok(Json(RunsRemoved { removed }))
}

async fn list_flows(State(state): State<Arc<AppState>>) -> ApiResult<Json<Vec<String>>> {
    Ok(Json(db::flows(&state.pool).await?))
}

/// `GET /tags`: every tag with its count; `GET /tags?run=A&run=B`: those runs' tags.
async fn list_tags(
    State(state): State<Arc<AppState>>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<serde_json::Value>> {
    let mut runs = Vec::new();
    for (k, v) in pairs(raw)? {
        match k.as_str() {
            "run" => runs.push(v),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "unknown query parameter `{k}`"
                )));
            }
        }
    }
    if runs.is_empty() {
        let tags = db::all_tags(&state.pool).await?;
        return Ok(Json(json!(
            tags.into_iter()
                .map(|(tag, runs)| json!({ "tag": tag, "runs": runs }))
                .collect::<Vec<_>>()
        )));
    }
    if runs.len() > MAX_PAGE as usize {
        return Err(ApiError::bad_request(format!(
            "at most {MAX_PAGE} runs at once"
        )));
    }
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (run, tag) in db::tags_of(&state.pool, &runs).await? {
        out.entry(run).or_default().push(tag);
    }
    Ok(Json(json!(out)))
}

async fn post_heartbeat(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    body: axum::body::Bytes,
) -> ApiResult<Json<serde_json::Value>> {
    let hb: Heartbeat = parse_body(&body)?;
    if hb.runs.len() > MAX_PAGE as usize {
        return Err(ApiError::bad_request(format!(
            "at most {MAX_PAGE} runs at once"
        )));
    }
    let alive = db::heartbeat(&state.pool, &caller, &hb.runs).await?;
    Ok(Json(json!({ "running": alive })))
}

async fn whoami(Extension(caller): Extension<Caller>) -> Json<WhoAmI> {
    Json(WhoAmI {
        user: caller.user,
        admin: caller.admin,
    })
}

/// 200 when the database answers, 503 otherwise.
async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    let ok = match state.pool.get().await {
        Ok(client) => client.simple_query("SELECT 1").await.is_ok(),
        Err(_) => false,
    };
    if ok {
        (StatusCode::OK, Json(json!({ "status": "ok" }))).into_response()
    } else {
        ApiError::unavailable("the database is unreachable").into_response()
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let mut out = String::new();
    out.push_str(
        "# HELP wflow_http_requests_total HTTP requests served, by method, route and status.\n",
    );
    out.push_str("# TYPE wflow_http_requests_total counter\n");
    for ((method, route, status), n) in state
        .metrics
        .requests
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
    {
        out.push_str(&format!(
            "wflow_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}\n"
        ));
    }
    out.push_str(
        "# HELP wflow_events_recorded_total Events (records written) recorded since start.\n",
    );
    out.push_str("# TYPE wflow_events_recorded_total counter\n");
    out.push_str(&format!(
        "wflow_events_recorded_total {}\n",
        state.metrics.events.load(Ordering::Relaxed)
    ));
    out.push_str(
        "# HELP wflow_runs_reaped_total Runs marked failed because their driver disappeared.\n",
    );
    out.push_str("# TYPE wflow_runs_reaped_total counter\n");
    out.push_str(&format!(
        "wflow_runs_reaped_total {}\n",
        state.metrics.reaped.load(Ordering::Relaxed)
    ));
    if let Ok(counts) = db::counts(&state.pool).await {
        out.push_str("# HELP wflow_records Records in the database (estimate), by kind.\n");
        out.push_str("# TYPE wflow_records gauge\n");
        for (kind, n) in counts {
            out.push_str(&format!("wflow_records{{kind=\"{kind}\"}} {n}\n"));
        }
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}
