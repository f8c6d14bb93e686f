//! The records in PostgreSQL: applying event batches, reading runs, tasks, attempts and tags,
//! tokens, heartbeats and the reaping of runs whose driver disappeared.

use deadpool_postgres::{GenericClient, Pool, Transaction};
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use wflow_core::{Digest, now_millis};
use wflow_metadata::{AttemptRecord, Event, RunKind, RunRecord, Status, TaskRecord};

use crate::error::ApiError;
use crate::wire::ErrorBody;

mod read;
mod summary;
mod write;

pub use read::*;
pub use summary::step_stats;
use write::{apply, bulk};

/// Who is calling: the user a token belongs to.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The user's name; every run they start is recorded under it.
    pub user: String,
    /// An administrator's token: may read and change every user's runs.
    pub admin: bool,
}

type ApiResult<T> = Result<T, ApiError>;

const RUN_COLUMNS: &str = "run_id, flow, component, params, spec, status, started_ms, finished_ms, \
                           error, origin_run, user_name, kind";
const TASK_COLUMNS: &str = "run_id, task_id, step, foreach_path, inputs, status, started_ms, \
                            finished_ms, manifest, attempts, origin_run, origin_task, foreach_items, \
                            component, manifest_bytes, cached, \
                            (status = 'succeeded' AND EXISTS (SELECT 1 FROM attempts a \
                             WHERE a.run_id = tasks.run_id AND a.task_id = tasks.task_id \
                             AND a.attempt = tasks.attempts - 1 AND a.status = 'failed'))";
const ATTEMPT_COLUMNS: &str = "run_id, task_id, attempt, status, started_ms, finished_ms, error, stdout, stderr, \
     stdout_bytes, stderr_bytes";

fn hex(d: &Option<Digest>) -> Option<String> {
    d.as_ref().map(Digest::to_hex)
}

fn digest(row: &Row, i: usize, what: &str) -> ApiResult<Option<Digest>> {
    let text: Option<String> = row.get(i);
    text.map(|t| {
        t.parse()
            .map_err(|_| corrupt(format!("{what} `{t}` is not a digest")))
    })
    .transpose()
}

fn status(row: &Row, i: usize) -> ApiResult<Status> {
    let s: String = row.get(i);
    s.parse().map_err(|e| corrupt(format!("{e}")))
}

fn json<T: serde::de::DeserializeOwned>(row: &Row, i: usize, what: &str) -> ApiResult<T> {
    let s: String = row.get(i);
    serde_json::from_str(&s).map_err(|e| corrupt(format!("{what}: {e}")))
}

fn corrupt(message: String) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        format!("corrupt record: {message}"),
    )
}

/// A run from a row of [`RUN_COLUMNS`] (`spec` may be the text `null`).
pub fn read_run(row: &Row) -> ApiResult<RunRecord> {
    Ok(RunRecord {
        run_id: row.get(0),
        flow: row.get(1),
        component: digest(row, 2, "component")?.ok_or_else(|| corrupt("no component".into()))?,
        params: json(row, 3, "params")?,
        spec: json(row, 4, "spec")?,
        status: status(row, 5)?,
        started_ms: row.get(6),
        finished_ms: row.get(7),
        error: row.get(8),
        origin_run: row.get(9),
        user: row.get(10),
        kind: row
            .get::<_, String>(11)
            .parse()
            .map_err(|e| corrupt(format!("{e}")))?,
    })
}

fn read_task(row: &Row) -> ApiResult<TaskRecord> {
    Ok(TaskRecord {
        run_id: row.get(0),
        task_id: row.get::<_, i64>(1) as u64,
        step: row.get(2),
        foreach_path: json(row, 3, "foreach_path")?,
        inputs: json(row, 4, "inputs")?,
        status: status(row, 5)?,
        started_ms: row.get(6),
        finished_ms: row.get(7),
        manifest: digest(row, 8, "manifest")?,
        attempts: row.get::<_, i32>(9) as u32,
        origin_run: row.get(10),
        origin_task: row.get::<_, Option<i64>>(11).map(|t| t as u64),
        foreach_items: digest(row, 12, "foreach_items")?,
        component: digest(row, 13, "component")?,
        manifest_bytes: row.get(14),
        cached: row.get(15),
        caught: row.get(16),
    })
}

fn read_attempt(row: &Row) -> ApiResult<AttemptRecord> {
    Ok(AttemptRecord {
        run_id: row.get(0),
        task_id: row.get::<_, i64>(1) as u64,
        attempt: row.get::<_, i32>(2) as u32,
        status: status(row, 3)?,
        started_ms: row.get(4),
        finished_ms: row.get(5),
        error: row.get(6),
        stdout: digest(row, 7, "stdout")?,
        stderr: digest(row, 8, "stderr")?,
        stdout_bytes: row.get(9),
        stderr_bytes: row.get(10),
    })
}

/// The largest task or attempt id the database holds (BIGINT / INTEGER).
fn task_key(task_id: u64) -> ApiResult<i64> {
    i64::try_from(task_id)
        .map_err(|_| ApiError::bad_request(format!("task id {task_id} is too large")))
}

fn attempt_key(attempt: u32) -> ApiResult<i32> {
    i32::try_from(attempt)
        .map_err(|_| ApiError::bad_request(format!("attempt {attempt} is too large")))
}

/// The token's user, if the token is known.
pub async fn caller_of(pool: &Pool, token: &str) -> ApiResult<Option<Caller>> {
    let client = pool.get().await?;
    let hash = blake3::hash(token.as_bytes()).to_hex().to_string();
    let st = client
        .prepare_cached("SELECT user_name, admin FROM tokens WHERE hash = $1")
        .await
        .map_err(|e| ApiError::db("checking the token", &e))?;
    let row = client
        .query_opt(&st, &[&hash])
        .await
        .map_err(|e| ApiError::db("checking the token", &e))?;
    Ok(row.map(|r| Caller {
        user: r.get(0),
        admin: r.get(1),
    }))
}

/// Creates a token for `user` (an administrator's with `admin`); returns it. Only its BLAKE3 hash
/// is stored.
pub async fn create_token(
    client: &tokio_postgres::Client,
    user: &str,
    admin: bool,
) -> Result<String, tokio_postgres::Error> {
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).expect("the OS random source failed");
    let token: String = std::iter::once("wf_".to_string())
        .chain(raw.iter().map(|b| format!("{b:02x}")))
        .collect();
    let hash = blake3::hash(token.as_bytes()).to_hex().to_string();
    client
        .execute(
            "INSERT INTO tokens (hash, user_name, admin, created_ms) VALUES ($1, $2, $3, $4)",
            &[&hash, &user, &admin, &now_millis()],
        )
        .await?;
    Ok(token)
}

/// A token as an administrator sees it: never the token itself (only its hash is stored).
#[derive(Clone, Debug, serde::Serialize)]
pub struct TokenInfo {
    /// The first 12 hex digits of the token's hash: names it for `token revoke --id`.
    pub id: String,
    /// Its user.
    pub user: String,
    /// Whether it is an administrator's.
    pub admin: bool,
    /// When it was created (ms since the Unix epoch).
    pub created_ms: i64,
}

/// Every token, oldest first.
pub async fn list_tokens(
    client: &tokio_postgres::Client,
) -> Result<Vec<TokenInfo>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT hash, user_name, admin, created_ms FROM tokens ORDER BY created_ms, hash",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| TokenInfo {
            id: r.get::<_, String>(0)[..12].to_string(),
            user: r.get(1),
            admin: r.get(2),
            created_ms: r.get(3),
        })
        .collect())
}

/// Deletes `user`'s tokens, or only those whose hash starts with `id` (hex digits); returns how
/// many.
pub async fn revoke_tokens(
    client: &tokio_postgres::Client,
    user: &str,
    id: Option<&str>,
) -> Result<u64, tokio_postgres::Error> {
    let prefix = format!("{}%", id.unwrap_or(""));
    client
        .execute(
            "DELETE FROM tokens WHERE user_name = $1 AND hash LIKE $2",
            &[&user, &prefix],
        )
        .await
}

/// Removes the records of the finished runs among `run_ids` (tasks, attempts and tags go with
/// them: `ON DELETE CASCADE`) in one transaction; a running run is never removed. Returns how
/// many were removed.
pub async fn remove_runs(pool: &Pool, run_ids: &[String]) -> ApiResult<usize> {
    let client = pool.get().await?;
    let removed = client
        .execute(
            "DELETE FROM runs WHERE run_id = ANY($1) AND status <> 'running'",
            &[&run_ids],
        )
        .await
        .map_err(|e| ApiError::db("removing runs", &e))?;
    Ok(removed as usize)
}

/// Applies a batch of events for `caller`: all in one transaction.
///
/// Strict (`skip_failures` false): all or nothing; the first failing event's error is returned
/// (404 for an unknown run, task or attempt, 409 for a start recorded twice). With
/// `skip_failures`, failing events are skipped (each in a savepoint) and the first failure is
/// returned beside the count of events recorded.
pub async fn record(
    pool: &Pool,
    caller: &Caller,
    events: &[Event],
    skip_failures: bool,
) -> ApiResult<(usize, Option<ErrorBody>)> {
    if events.is_empty() {
        return Ok((0, None));
    }
    check_names(events)?;
    // The tasks whose shares of their steps' summaries the batch may change.
    let keys = summary::tasks_of(events);
    let mut client = pool.get().await?;
    let now = now_millis();
    // Ownership is checked inside each transaction, and again by every write's `WHERE` (a run
    // another user starts meanwhile is not written to: see `OWNED`).
    // The fast path: the batch in bulk statements. Anything unexpected (a duplicate, a missing
    // row) rolls it back and the slow path below finds and names the culprit.
    {
        let tx = client
            .transaction()
            .await
            .map_err(|e| ApiError::db("recording events", &e))?;
        check_owner(&tx, caller, events).await?;
        summary::lock_runs(&tx, events).await?;
        let before = summary::shares(&tx, &keys).await?;
        if bulk(&tx, caller, events).await.unwrap_or(false) {
            summary::update(&tx, &keys, before).await?;
            touch(&tx, caller, events, now).await?;
            tx.commit()
                .await
                .map_err(|e| ApiError::db("recording events", &e))?;
            return Ok((events.len(), None));
        }
        // Dropped: rolled back.
    }
    let err = |e: tokio_postgres::Error| ApiError::db("recording events", &e);
    let mut tx = client.transaction().await.map_err(err)?;
    check_owner(&tx, caller, events).await?;
    summary::lock_runs(&tx, events).await?;
    let before = summary::shares(&tx, &keys).await?;
    let mut recorded = 0;
    let mut first: Option<ErrorBody> = None;
    for (i, event) in events.iter().enumerate() {
        if !skip_failures {
            apply(&tx, caller, event).await?;
            recorded += 1;
            continue;
        }
        let sp = tx.savepoint("event").await.map_err(err)?;
        match apply(&sp, caller, event).await {
            Ok(()) => {
                sp.commit().await.map_err(err)?;
                recorded += 1;
            }
            Err(e) if e.status.is_server_error() => return Err(e),
            Err(e) => {
                sp.rollback().await.map_err(err)?;
                if first.is_none() {
                    let mut body = *e.body;
                    body.index = Some(i);
                    first = Some(body);
                }
            }
        }
    }
    summary::update(&tx, &keys, before).await?;
    touch(&tx, caller, events, now).await?;
    tx.commit().await.map_err(err)?;
    Ok((recorded, first))
}

/// 400 naming the first event with a run id, flow or step name the shared rule refuses
/// (`wflow_core::names`, as every other backend): nothing of the batch is recorded.
fn check_names(events: &[Event]) -> ApiResult<()> {
    use wflow_core::names::{NameKind, validate};
    for (i, event) in events.iter().enumerate() {
        let mut names = vec![(NameKind::Run, event.run_id())];
        match event {
            Event::RunStarted {
                flow, origin_run, ..
            } => {
                names.push((NameKind::Flow, flow));
                names.extend(origin_run.as_deref().map(|o| (NameKind::Run, o)));
            }
            Event::TaskStarted { step, .. } => names.push((NameKind::Step, step)),
            Event::TaskReused { origin_run, .. } => names.push((NameKind::Run, origin_run)),
            _ => {}
        }
        for (kind, name) in names {
            validate(kind, name).map_err(|e| {
                ApiError::bad_request(format!(
                    "event {i} of the batch: {e} (nothing was recorded)"
                ))
            })?;
        }
    }
    Ok(())
}

/// 403 when an event is about a run of another user (unless the caller is an administrator).
async fn check_owner(
    client: &impl GenericClient,
    caller: &Caller,
    events: &[Event],
) -> ApiResult<()> {
    if caller.admin {
        return Ok(());
    }
    let mut ids: Vec<&str> = events.iter().map(Event::run_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let st = client
        .prepare_cached(
            "SELECT run_id, user_name FROM runs WHERE run_id = ANY($1) AND user_name <> $2",
        )
        .await
        .map_err(|e| ApiError::db("checking the runs' owners", &e))?;
    let rows = client
        .query(&st, &[&ids, &caller.user])
        .await
        .map_err(|e| ApiError::db("checking the runs' owners", &e))?;
    if let Some(row) = rows.first() {
        let (run, owner): (String, String) = (row.get(0), row.get(1));
        return Err(ApiError::forbidden(format!(
            "run `{run}` belongs to user `{owner}`; `{}` may not record events of it (nothing was recorded)",
            caller.user
        )));
    }
    Ok(())
}

/// Every event says the run's driver is alive.
async fn touch(tx: &Transaction<'_>, caller: &Caller, events: &[Event], now: i64) -> ApiResult<()> {
    let mut ids: Vec<&str> = events.iter().map(Event::run_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let st = tx
        .prepare_cached(
            "UPDATE runs SET heartbeat_ms = $2 WHERE run_id = ANY($1) AND status = 'running'
             AND (user_name = $3 OR $4)",
        )
        .await
        .map_err(|e| ApiError::db("recording a heartbeat", &e))?;
    tx.execute(&st, &[&ids, &now, &caller.user, &caller.admin])
        .await
        .map_err(|e| ApiError::db("recording a heartbeat", &e))?;
    Ok(())
}

/// The condition every write of an event carries: the run `{r}` is the caller's (`$U`, or any
/// run for an administrator, `$A`). With it, a run that another user started between the owner
/// check and the write is never written to, whatever else the batch holds.
fn owned(r: &str, u: usize, a: usize) -> String {
    format!(
        "EXISTS (SELECT 1 FROM runs AS o WHERE o.run_id = {r} AND (o.user_name = ${u} OR ${a}))"
    )
}

/// Why a guarded write changed nothing: the run is another user's (403), else `missing`.
async fn refusal(
    tx: &impl GenericClient,
    caller: &Caller,
    run_id: &str,
    missing: ApiError,
) -> ApiError {
    let owner = tx
        .query_opt("SELECT user_name FROM runs WHERE run_id = $1", &[&run_id])
        .await;
    match owner {
        Ok(Some(row)) => {
            let owner: String = row.get(0);
            if owner == caller.user || caller.admin {
                missing
            } else {
                ApiError::forbidden(format!(
                    "run `{run_id}` belongs to user `{owner}`; `{}` may not record events of it",
                    caller.user
                ))
            }
        }
        Ok(None) => missing,
        Err(e) => ApiError::db("checking the run's owner", &e),
    }
}
