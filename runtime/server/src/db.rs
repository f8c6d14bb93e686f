//! The records in PostgreSQL: applying event batches, reading runs, tasks, attempts and tags,
//! tokens, heartbeats and the reaping of runs whose driver disappeared.

use deadpool_postgres::{GenericClient, Pool, Transaction};
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use wflow_core::{Digest, now_millis};
use wflow_metadata::{AttemptRecord, Event, RunKind, RunRecord, Status, TaskRecord};

use crate::error::ApiError;
use crate::wire::ErrorBody;

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
                            component, manifest_bytes";
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
        if bulk(&tx, caller, events).await.unwrap_or(false) {
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

/// The order in which kinds of events are applied in bulk: a kind only needs rows made by kinds
/// before it, and events of different tasks never depend on each other.
fn phase(e: &Event) -> u8 {
    match e {
        Event::RunStarted { .. } => 0,
        Event::TaskStarted { .. } => 1,
        Event::AttemptStarted { .. } => 2,
        Event::AttemptLogs { .. } => 3,
        Event::AttemptFinished { .. } => 4,
        Event::TaskManifest { .. } => 5,
        Event::TaskFinished { .. } => 6,
        Event::TaskReused { .. } => 7,
        Event::ForeachItems { .. } => 8,
        Event::RunFinished { .. } => 9,
    }
}

/// The batch in bulk statements (`unnest` of arrays), one per kind of event. `Ok(false)` or an
/// error when anything is not exactly as expected: the caller rolls back.
async fn bulk(tx: &Transaction<'_>, caller: &Caller, events: &[Event]) -> Result<bool, ApiError> {
    let mut order: Vec<&Event> = events.iter().collect();
    order.sort_by_key(|e| phase(e));
    let db = |e: tokio_postgres::Error| ApiError::db("recording events", &e);
    let mut i = 0;
    while i < order.len() {
        let p = phase(order[i]);
        let mut j = i;
        while j < order.len() && phase(order[j]) == p {
            j += 1;
        }
        let group = &order[i..j];
        i = j;
        match p {
            1 => {
                let (mut r, mut t, mut s, mut f, mut inp, mut m) =
                    (vec![], vec![], vec![], vec![], vec![], vec![]);
                for e in group {
                    if let Event::TaskStarted {
                        run_id,
                        task_id,
                        step,
                        foreach_path,
                        inputs,
                        started_ms,
                    } = e
                    {
                        r.push(run_id.as_str());
                        t.push(task_key(*task_id)?);
                        s.push(step.as_str());
                        f.push(serde_json::to_string(foreach_path).expect("numbers"));
                        inp.push(serde_json::to_string(inputs).expect("numbers"));
                        m.push(*started_ms);
                    }
                }
                let st = tx
                    .prepare_cached(&format!(
                        "INSERT INTO tasks (run_id, task_id, step, foreach_path, inputs, status, started_ms)
                         SELECT r, t, s, f, i, 'running', m
                         FROM unnest($1::text[], $2::int8[], $3::text[], $4::text[], $5::text[], $6::int8[])
                              AS u(r, t, s, f, i, m)
                         WHERE {}",
                        owned("u.r", 7, 8)
                    ))
                    .await
                    .map_err(db)?;
                let n = tx
                    .execute(
                        &st,
                        &[&r, &t, &s, &f, &inp, &m, &caller.user, &caller.admin],
                    )
                    .await
                    .map_err(db)?;
                if n as usize != group.len() {
                    return Ok(false);
                }
            }
            2 => {
                let (mut r, mut t, mut a, mut m) = (vec![], vec![], vec![], vec![]);
                for e in group {
                    if let Event::AttemptStarted {
                        run_id,
                        task_id,
                        attempt,
                        started_ms,
                    } = e
                    {
                        r.push(run_id.as_str());
                        t.push(task_key(*task_id)?);
                        a.push(attempt_key(*attempt)?);
                        m.push(*started_ms);
                    }
                }
                let st = tx
                    .prepare_cached(&format!(
                        "INSERT INTO attempts (run_id, task_id, attempt, status, started_ms)
                         SELECT r, t, a, 'running', m
                         FROM unnest($1::text[], $2::int8[], $3::int4[], $4::int8[]) AS u(r, t, a, m)
                         WHERE {}",
                        owned("u.r", 5, 6)
                    ))
                    .await
                    .map_err(db)?;
                let n = tx
                    .execute(&st, &[&r, &t, &a, &m, &caller.user, &caller.admin])
                    .await
                    .map_err(db)?;
                if n as usize != group.len() {
                    return Ok(false);
                }
                let st = tx
                    .prepare_cached(&format!(
                        "UPDATE tasks SET attempts = tasks.attempts + u.n
                         FROM (SELECT r, t, count(*)::int4 AS n
                               FROM unnest($1::text[], $2::int8[]) AS x(r, t) GROUP BY r, t) AS u
                         WHERE tasks.run_id = u.r AND tasks.task_id = u.t AND {}",
                        owned("u.r", 3, 4)
                    ))
                    .await
                    .map_err(db)?;
                let mut keys: Vec<(&str, i64)> = r.iter().copied().zip(t.iter().copied()).collect();
                keys.sort_unstable();
                keys.dedup();
                let n = tx
                    .execute(&st, &[&r, &t, &caller.user, &caller.admin])
                    .await
                    .map_err(db)?;
                if n as usize != keys.len() {
                    return Ok(false);
                }
            }
            3 => {
                let (mut r, mut t, mut a, mut o, mut x) = (vec![], vec![], vec![], vec![], vec![]);
                for e in group {
                    if let Event::AttemptLogs {
                        run_id,
                        task_id,
                        attempt,
                        stdout,
                        stderr,
                    } = e
                    {
                        r.push(run_id.as_str());
                        t.push(task_key(*task_id)?);
                        a.push(attempt_key(*attempt)?);
                        o.push(stdout.as_deref());
                        x.push(stderr.as_deref());
                    }
                }
                let st = tx
                    .prepare_cached(&format!(
                        "UPDATE attempts SET stdout_bytes = u.o, stderr_bytes = u.x
                         FROM unnest($1::text[], $2::int8[], $3::int4[], $4::bytea[], $5::bytea[])
                              AS u(r, t, a, o, x)
                         WHERE attempts.run_id = u.r AND attempts.task_id = u.t AND attempts.attempt = u.a
                           AND {}",
                        owned("u.r", 6, 7)
                    ))
                    .await
                    .map_err(db)?;
                let n = tx
                    .execute(&st, &[&r, &t, &a, &o, &x, &caller.user, &caller.admin])
                    .await
                    .map_err(db)?;
                if n as usize != group.len() {
                    return Ok(false);
                }
            }
            5 => {
                let (mut r, mut t, mut m) = (vec![], vec![], vec![]);
                for e in group {
                    if let Event::TaskManifest {
                        run_id,
                        task_id,
                        manifest,
                    } = e
                    {
                        r.push(run_id.as_str());
                        t.push(task_key(*task_id)?);
                        m.push(manifest.as_slice());
                    }
                }
                let st = tx
                    .prepare_cached(&format!(
                        "UPDATE tasks SET manifest_bytes = u.m
                         FROM unnest($1::text[], $2::int8[], $3::bytea[]) AS u(r, t, m)
                         WHERE tasks.run_id = u.r AND tasks.task_id = u.t AND {}",
                        owned("u.r", 4, 5)
                    ))
                    .await
                    .map_err(db)?;
                let n = tx
                    .execute(&st, &[&r, &t, &m, &caller.user, &caller.admin])
                    .await
                    .map_err(db)?;
                if n as usize != group.len() {
                    return Ok(false);
                }
            }
            4 => {
                let (mut r, mut t, mut a, mut s, mut f, mut er, mut o, mut x) = (
                    vec![],
                    vec![],
                    vec![],
                    vec![],
                    vec![],
                    vec![],
                    vec![],
                    vec![],
                );
                for e in group {
                    if let Event::AttemptFinished {
                        run_id,
                        task_id,
                        attempt,
                        status,
                        finished_ms,
                        error,
                        stdout,
                        stderr,
                        ..
                    } = e
                    {
                        r.push(run_id.as_str());
                        t.push(task_key(*task_id)?);
                        a.push(attempt_key(*attempt)?);
                        s.push(status.as_str());
                        f.push(*finished_ms);
                        er.push(error.clone());
                        o.push(hex(stdout));
                        x.push(hex(stderr));
                    }
                }
                let st = tx
                    .prepare_cached(&format!(
                        "UPDATE attempts SET status = u.s, finished_ms = u.f, error = u.e,
                                             stdout = u.o, stderr = u.x
                         FROM unnest($1::text[], $2::int8[], $3::int4[], $4::text[], $5::int8[],
                                     $6::text[], $7::text[], $8::text[]) AS u(r, t, a, s, f, e, o, x)
                         WHERE attempts.run_id = u.r AND attempts.task_id = u.t AND attempts.attempt = u.a
                           AND {}",
                        owned("u.r", 9, 10)
                    ))
                    .await
                    .map_err(db)?;
                let n = tx
                    .execute(
                        &st,
                        &[&r, &t, &a, &s, &f, &er, &o, &x, &caller.user, &caller.admin],
                    )
                    .await
                    .map_err(db)?;
                if n as usize != group.len() {
                    return Ok(false);
                }
                for e in group {
                    if let Event::AttemptFinished {
                        run_id,
                        task_id,
                        attempt,
                        started_ms: Some(started),
                        ..
                    } = e
                    {
                        worker_start(tx, run_id, *task_id, *attempt, *started).await?;
                    }
                }
            }
            6 => {
                let (mut r, mut t, mut s, mut f, mut m) = (vec![], vec![], vec![], vec![], vec![]);
                for e in group {
                    if let Event::TaskFinished {
                        run_id,
                        task_id,
                        status,
                        finished_ms,
                        manifest,
                    } = e
                    {
                        r.push(run_id.as_str());
                        t.push(task_key(*task_id)?);
                        s.push(status.as_str());
                        f.push(*finished_ms);
                        m.push(hex(manifest));
                    }
                }
                let st = tx
                    .prepare_cached(&format!(
                        "UPDATE tasks SET status = u.s, finished_ms = u.f, manifest = u.m
                         FROM unnest($1::text[], $2::int8[], $3::text[], $4::int8[], $5::text[])
                              AS u(r, t, s, f, m)
                         WHERE tasks.run_id = u.r AND tasks.task_id = u.t AND {}",
                        owned("u.r", 6, 7)
                    ))
                    .await
                    .map_err(db)?;
                let n = tx
                    .execute(&st, &[&r, &t, &s, &f, &m, &caller.user, &caller.admin])
                    .await
                    .map_err(db)?;
                if n as usize != group.len() {
                    return Ok(false);
                }
            }
            _ => {
                for e in group {
                    if apply(tx, caller, e).await.is_err() {
                        return Ok(false);
                    }
                }
            }
        }
    }
    Ok(true)
}

/// Records when an attempt really began where it ran (its end, just written, proved the caller
/// owns the run): the attempt's start and, for a first attempt, the task's.
async fn worker_start(
    tx: &impl GenericClient,
    run_id: &str,
    task_id: u64,
    attempt: u32,
    started: i64,
) -> ApiResult<()> {
    let what = format!("the start of attempt {attempt} of task {task_id} of run `{run_id}`");
    let fail = |e: tokio_postgres::Error| ApiError::db(&format!("recording {what}"), &e);
    let t = task_key(task_id)?;
    tx.execute(
        "UPDATE attempts SET started_ms = $4 WHERE run_id = $1 AND task_id = $2 AND attempt = $3",
        &[&run_id, &t, &attempt_key(attempt)?, &started],
    )
    .await
    .map_err(fail)?;
    if attempt == 0 {
        tx.execute(
            "UPDATE tasks SET started_ms = $3 WHERE run_id = $1 AND task_id = $2",
            &[&run_id, &t, &started],
        )
        .await
        .map_err(fail)?;
    }
    Ok(())
}

/// Maps an insert's failure: a duplicate key is `AlreadyRecorded`, a missing parent row the
/// `missing` error.
fn insert_error(
    e: tokio_postgres::Error,
    what: String,
    missing: impl FnOnce() -> ApiError,
) -> ApiError {
    match e.code() {
        Some(c) if *c == SqlState::UNIQUE_VIOLATION => ApiError::already_recorded(what),
        Some(c) if *c == SqlState::FOREIGN_KEY_VIOLATION => missing(),
        _ => ApiError::db(&format!("recording {what}"), &e),
    }
}

/// Applies one event (the same checks and errors as the SQLite records). Every write is
/// guarded by [`owned`]: a run of another user is refused (403), never written to.
async fn apply(tx: &impl GenericClient, caller: &Caller, event: &Event) -> ApiResult<()> {
    let changed = |what: String| {
        move |e: tokio_postgres::Error| ApiError::db(&format!("recording {what}"), &e)
    };
    let (user, admin) = (&caller.user, &caller.admin);
    match event {
        Event::RunStarted {
            run_id,
            flow,
            component,
            params,
            spec,
            started_ms,
            origin_run,
            kind,
            ..
        } => {
            let what = format!("run `{run_id}`");
            // `DO NOTHING` waits for a concurrent insert of the same id, then says whose it is.
            let st = tx
                .prepare_cached(
                    "INSERT INTO runs (run_id, flow, component, params, spec, status, started_ms,
                                       origin_run, user_name, heartbeat_ms, kind)
                     VALUES ($1, $2, $3, $4, $5, 'running', $6, $7, $8, $9, $10)
                     ON CONFLICT (run_id) DO NOTHING",
                )
                .await
                .map_err(changed(what.clone()))?;
            let n = tx
                .execute(
                    &st,
                    &[
                        run_id,
                        flow,
                        &component.to_hex(),
                        &params.to_string(),
                        &spec.to_string(),
                        started_ms,
                        origin_run,
                        user,
                        &now_millis(),
                        &kind.as_str(),
                    ],
                )
                .await
                .map_err(|e| insert_error(e, what.clone(), || ApiError::unknown_run(run_id)))?;
            if n == 0 {
                return Err(refusal(tx, caller, run_id, ApiError::already_recorded(what)).await);
            }
        }
        Event::TaskStarted {
            run_id,
            task_id,
            step,
            foreach_path,
            inputs,
            started_ms,
        } => {
            let what = format!("task {task_id} of run `{run_id}`");
            let st = tx
                .prepare_cached(&format!(
                    "INSERT INTO tasks (run_id, task_id, step, foreach_path, inputs, status, started_ms)
                     SELECT $1, $2, $3, $4, $5, 'running', $6 WHERE {}",
                    owned("$1", 7, 8)
                ))
                .await
                .map_err(changed(what.clone()))?;
            let fp = serde_json::to_string(foreach_path).expect("numbers");
            let inp = serde_json::to_string(inputs).expect("numbers");
            let n = tx
                .execute(
                    &st,
                    &[
                        run_id,
                        &task_key(*task_id)?,
                        step,
                        &fp,
                        &inp,
                        started_ms,
                        user,
                        admin,
                    ],
                )
                .await
                .map_err(|e| insert_error(e, what, || ApiError::unknown_run(run_id)))?;
            if n == 0 {
                return Err(refusal(tx, caller, run_id, ApiError::unknown_run(run_id)).await);
            }
        }
        Event::AttemptStarted {
            run_id,
            task_id,
            attempt,
            started_ms,
        } => {
            let what = format!("attempt {attempt} of task {task_id} of run `{run_id}`");
            let st = tx
                .prepare_cached(&format!(
                    "INSERT INTO attempts (run_id, task_id, attempt, status, started_ms)
                     SELECT $1, $2, $3, 'running', $4 WHERE {}",
                    owned("$1", 5, 6)
                ))
                .await
                .map_err(changed(what.clone()))?;
            let t = task_key(*task_id)?;
            let n = tx
                .execute(
                    &st,
                    &[run_id, &t, &attempt_key(*attempt)?, started_ms, user, admin],
                )
                .await
                .map_err(|e| {
                    insert_error(e, what.clone(), || ApiError::unknown_task(run_id, *task_id))
                })?;
            let missing = || ApiError::unknown_task(run_id, *task_id);
            if n == 0 {
                return Err(refusal(tx, caller, run_id, missing()).await);
            }
            let st = tx
                .prepare_cached(
                    "UPDATE tasks SET attempts = attempts + 1 WHERE run_id = $1 AND task_id = $2",
                )
                .await
                .map_err(changed(what.clone()))?;
            tx.execute(&st, &[run_id, &t])
                .await
                .map_err(changed(what))?;
        }
        Event::AttemptFinished {
            run_id,
            task_id,
            attempt,
            status,
            started_ms,
            finished_ms,
            error,
            stdout,
            stderr,
        } => {
            let what = format!("the end of attempt {attempt} of task {task_id} of run `{run_id}`");
            let st = tx
                .prepare_cached(&format!(
                    "UPDATE attempts SET status = $4, finished_ms = $5, error = $6, stdout = $7, stderr = $8
                     WHERE run_id = $1 AND task_id = $2 AND attempt = $3 AND {}",
                    owned("$1", 9, 10)
                ))
                .await
                .map_err(changed(what.clone()))?;
            let n = tx
                .execute(
                    &st,
                    &[
                        run_id,
                        &task_key(*task_id)?,
                        &attempt_key(*attempt)?,
                        &status.as_str(),
                        finished_ms,
                        error,
                        &hex(stdout),
                        &hex(stderr),
                        user,
                        admin,
                    ],
                )
                .await
                .map_err(changed(what))?;
            if n == 0 {
                let missing = ApiError::unknown_attempt(run_id, *task_id, *attempt);
                return Err(refusal(tx, caller, run_id, missing).await);
            }
            if let Some(started) = started_ms {
                worker_start(tx, run_id, *task_id, *attempt, *started).await?;
            }
        }
        Event::AttemptLogs {
            run_id,
            task_id,
            attempt,
            stdout,
            stderr,
        } => {
            let what = format!("the logs of attempt {attempt} of task {task_id} of run `{run_id}`");
            let st = tx
                .prepare_cached(&format!(
                    "UPDATE attempts SET stdout_bytes = $4, stderr_bytes = $5
                     WHERE run_id = $1 AND task_id = $2 AND attempt = $3 AND {}",
                    owned("$1", 6, 7)
                ))
                .await
                .map_err(changed(what.clone()))?;
            let n = tx
                .execute(
                    &st,
                    &[
                        run_id,
                        &task_key(*task_id)?,
                        &attempt_key(*attempt)?,
                        stdout,
                        stderr,
                        user,
                        admin,
                    ],
                )
                .await
                .map_err(changed(what))?;
            if n == 0 {
                let missing = ApiError::unknown_attempt(run_id, *task_id, *attempt);
                return Err(refusal(tx, caller, run_id, missing).await);
            }
        }
        Event::TaskManifest {
            run_id,
            task_id,
            manifest,
        } => {
            let what = format!("the manifest of task {task_id} of run `{run_id}`");
            let st = tx
                .prepare_cached(&format!(
                    "UPDATE tasks SET manifest_bytes = $3 WHERE run_id = $1 AND task_id = $2 AND {}",
                    owned("$1", 4, 5)
                ))
                .await
                .map_err(changed(what.clone()))?;
            let n = tx
                .execute(&st, &[run_id, &task_key(*task_id)?, manifest, user, admin])
                .await
                .map_err(changed(what))?;
            if n == 0 {
                let missing = ApiError::unknown_task(run_id, *task_id);
                return Err(refusal(tx, caller, run_id, missing).await);
            }
        }
        Event::TaskFinished {
            run_id,
            task_id,
            status,
            finished_ms,
            manifest,
        } => {
            let what = format!("the end of task {task_id} of run `{run_id}`");
            let st = tx
                .prepare_cached(&format!(
                    "UPDATE tasks SET status = $3, finished_ms = $4, manifest = $5
                     WHERE run_id = $1 AND task_id = $2 AND {}",
                    owned("$1", 6, 7)
                ))
                .await
                .map_err(changed(what.clone()))?;
            let n = tx
                .execute(
                    &st,
                    &[
                        run_id,
                        &task_key(*task_id)?,
                        &status.as_str(),
                        finished_ms,
                        &hex(manifest),
                        user,
                        admin,
                    ],
                )
                .await
                .map_err(changed(what))?;
            if n == 0 {
                let missing = ApiError::unknown_task(run_id, *task_id);
                return Err(refusal(tx, caller, run_id, missing).await);
            }
        }
        Event::TaskReused {
            run_id,
            task_id,
            origin_run,
            origin_task,
            manifest,
            finished_ms,
            component,
        } => {
            let what = format!("the reuse of task {task_id} of run `{run_id}`");
            let st = tx
                .prepare_cached(&format!(
                    "UPDATE tasks SET status = 'succeeded', finished_ms = $3, manifest = $4,
                                      origin_run = $5, origin_task = $6, component = $9
                     WHERE run_id = $1 AND task_id = $2 AND {}",
                    owned("$1", 7, 8)
                ))
                .await
                .map_err(changed(what.clone()))?;
            let n = tx
                .execute(
                    &st,
                    &[
                        run_id,
                        &task_key(*task_id)?,
                        finished_ms,
                        &manifest.to_hex(),
                        origin_run,
                        &task_key(*origin_task)?,
                        user,
                        admin,
                        &hex(component),
                    ],
                )
                .await
                .map_err(changed(what))?;
            if n == 0 {
                let missing = ApiError::unknown_task(run_id, *task_id);
                return Err(refusal(tx, caller, run_id, missing).await);
            }
        }
        Event::ForeachItems {
            run_id,
            task_id,
            items,
        } => {
            let what = format!("the foreach items of task {task_id} of run `{run_id}`");
            let st = tx
                .prepare_cached(&format!(
                    "UPDATE tasks SET foreach_items = $3 WHERE run_id = $1 AND task_id = $2 AND {}",
                    owned("$1", 4, 5)
                ))
                .await
                .map_err(changed(what.clone()))?;
            let n = tx
                .execute(
                    &st,
                    &[run_id, &task_key(*task_id)?, &items.to_hex(), user, admin],
                )
                .await
                .map_err(changed(what))?;
            if n == 0 {
                let missing = ApiError::unknown_task(run_id, *task_id);
                return Err(refusal(tx, caller, run_id, missing).await);
            }
        }
        Event::RunFinished {
            run_id,
            status,
            finished_ms,
            error,
        } => {
            let what = format!("the end of run `{run_id}`");
            let st = tx
                .prepare_cached(
                    "UPDATE runs SET status = $2, finished_ms = $3, error = $4
                     WHERE run_id = $1 AND (user_name = $5 OR $6)",
                )
                .await
                .map_err(changed(what.clone()))?;
            let n = tx
                .execute(
                    &st,
                    &[run_id, &status.as_str(), finished_ms, error, user, admin],
                )
                .await
                .map_err(changed(what))?;
            if n == 0 {
                return Err(refusal(tx, caller, run_id, ApiError::unknown_run(run_id)).await);
            }
        }
    }
    Ok(())
}

/// Which runs to list (`GET /api/v1/runs`).
#[derive(Debug, Default)]
pub struct RunQuery {
    /// Only this flow.
    pub flow: Option<String>,
    /// Only this status.
    pub status: Option<Status>,
    /// Only this kind of run.
    pub kind: Option<RunKind>,
    /// Only runs with every one of these tags.
    pub tags: Vec<String>,
    /// Only this user's runs (`None`: every user's).
    pub user: Option<String>,
    /// Only runs started at or after this time (ms since the epoch).
    pub since: Option<i64>,
    /// Page size.
    pub limit: i64,
    /// Page start.
    pub offset: i64,
    /// Leave the specs out.
    pub skip_spec: bool,
}

fn run_where(
    q: &RunQuery,
) -> (
    String,
    Vec<Box<dyn tokio_postgres::types::ToSql + Sync + Send>>,
) {
    let mut conds: Vec<String> = Vec::new();
    let mut args: Vec<Box<dyn tokio_postgres::types::ToSql + Sync + Send>> = Vec::new();
    if let Some(flow) = &q.flow {
        args.push(Box::new(flow.clone()));
        conds.push(format!("flow = ${}", args.len()));
    }
    if let Some(status) = q.status {
        args.push(Box::new(status.as_str().to_string()));
        conds.push(format!("status = ${}", args.len()));
    }
    if let Some(kind) = q.kind {
        args.push(Box::new(kind.as_str().to_string()));
        conds.push(format!("kind = ${}", args.len()));
    }
    if let Some(user) = &q.user {
        args.push(Box::new(user.clone()));
        conds.push(format!("user_name = ${}", args.len()));
    }
    if let Some(since) = q.since {
        args.push(Box::new(since));
        conds.push(format!("started_ms >= ${}", args.len()));
    }
    for tag in &q.tags {
        args.push(Box::new(tag.clone()));
        conds.push(format!(
            "EXISTS (SELECT 1 FROM tags WHERE tags.run_id = runs.run_id AND tags.tag = ${})",
            args.len()
        ));
    }
    let clause = if conds.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conds.join(" AND "))
    };
    (clause, args)
}

/// A page of runs, newest first.
pub async fn find_runs(pool: &Pool, q: &RunQuery) -> ApiResult<Vec<RunRecord>> {
    let client = pool.get().await?;
    let (clause, mut args) = run_where(q);
    let columns = if q.skip_spec {
        RUN_COLUMNS.replace("spec,", "'null',")
    } else {
        RUN_COLUMNS.to_string()
    };
    args.push(Box::new(q.limit));
    args.push(Box::new(q.offset));
    let sql = format!(
        "SELECT {columns} FROM runs {clause} ORDER BY started_ms DESC, run_id DESC LIMIT ${} OFFSET ${}",
        args.len() - 1,
        args.len()
    );
    let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = args
        .iter()
        .map(|a| a.as_ref() as &(dyn tokio_postgres::types::ToSql + Sync))
        .collect();
    let rows = client
        .query(&sql, &refs)
        .await
        .map_err(|e| ApiError::db("listing runs", &e))?;
    rows.iter().map(read_run).collect()
}

/// How many runs the query selects (ignoring its page).
pub async fn count_runs(pool: &Pool, q: &RunQuery) -> ApiResult<u64> {
    let client = pool.get().await?;
    let (clause, args) = run_where(q);
    let sql = format!("SELECT count(*) FROM runs {clause}");
    let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = args
        .iter()
        .map(|a| a.as_ref() as &(dyn tokio_postgres::types::ToSql + Sync))
        .collect();
    let row = client
        .query_one(&sql, &refs)
        .await
        .map_err(|e| ApiError::db("counting runs", &e))?;
    Ok(row.get::<_, i64>(0) as u64)
}

/// One run.
pub async fn run(pool: &Pool, run_id: &str) -> ApiResult<Option<RunRecord>> {
    let client = pool.get().await?;
    let st = client
        .prepare_cached(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE run_id = $1"))
        .await
        .map_err(|e| ApiError::db("reading a run", &e))?;
    let row = client
        .query_opt(&st, &[&run_id])
        .await
        .map_err(|e| ApiError::db("reading a run", &e))?;
    row.as_ref().map(read_run).transpose()
}

/// A page of a run's tasks by task id (optionally of one step), and whether the run exists.
pub async fn tasks(
    pool: &Pool,
    run_id: &str,
    step: Option<&str>,
    after: i64,
    limit: i64,
) -> ApiResult<Vec<TaskRecord>> {
    let client = pool.get().await?;
    let err = |e: tokio_postgres::Error| ApiError::db("listing tasks", &e);
    let rows = match step {
        None => {
            let st = client
                .prepare_cached(&format!(
                    "SELECT {TASK_COLUMNS} FROM tasks WHERE run_id = $1 AND task_id > $2
                     ORDER BY task_id LIMIT $3"
                ))
                .await
                .map_err(err)?;
            client
                .query(&st, &[&run_id, &after, &limit])
                .await
                .map_err(err)?
        }
        Some(step) => {
            let st = client
                .prepare_cached(&format!(
                    "SELECT {TASK_COLUMNS} FROM tasks WHERE run_id = $1 AND step = $4 AND task_id > $2
                     ORDER BY task_id LIMIT $3"
                ))
                .await
                .map_err(err)?;
            client
                .query(&st, &[&run_id, &after, &limit, &step])
                .await
                .map_err(err)?
        }
    };
    rows.iter().map(read_task).collect()
}

/// One task.
pub async fn task(pool: &Pool, run_id: &str, task_id: i64) -> ApiResult<Option<TaskRecord>> {
    let client = pool.get().await?;
    let err = |e: tokio_postgres::Error| ApiError::db("reading a task", &e);
    let st = client
        .prepare_cached(&format!(
            "SELECT {TASK_COLUMNS} FROM tasks WHERE run_id = $1 AND task_id = $2"
        ))
        .await
        .map_err(err)?;
    let row = client
        .query_opt(&st, &[&run_id, &task_id])
        .await
        .map_err(err)?;
    row.as_ref().map(read_task).transpose()
}

/// The attempts of a task.
pub async fn attempts(pool: &Pool, run_id: &str, task_id: i64) -> ApiResult<Vec<AttemptRecord>> {
    let client = pool.get().await?;
    let err = |e: tokio_postgres::Error| ApiError::db("listing attempts", &e);
    let st = client
        .prepare_cached(&format!(
            "SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE run_id = $1 AND task_id = $2 ORDER BY attempt"
        ))
        .await
        .map_err(err)?;
    let rows = client.query(&st, &[&run_id, &task_id]).await.map_err(err)?;
    rows.iter().map(read_attempt).collect()
}

/// The names of the flows with runs.
pub async fn flows(pool: &Pool) -> ApiResult<Vec<String>> {
    let client = pool.get().await?;
    let rows = client
        .query("SELECT DISTINCT flow FROM runs ORDER BY flow", &[])
        .await
        .map_err(|e| ApiError::db("listing flows", &e))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// The tags of some runs: (run, tag) pairs sorted.
pub async fn tags_of(pool: &Pool, run_ids: &[String]) -> ApiResult<Vec<(String, String)>> {
    let client = pool.get().await?;
    let err = |e: tokio_postgres::Error| ApiError::db("reading tags", &e);
    let st = client
        .prepare_cached("SELECT run_id, tag FROM tags WHERE run_id = ANY($1) ORDER BY run_id, tag")
        .await
        .map_err(err)?;
    let rows = client.query(&st, &[&run_ids]).await.map_err(err)?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// Every tag and how many runs carry it.
pub async fn all_tags(pool: &Pool) -> ApiResult<Vec<(String, u64)>> {
    let client = pool.get().await?;
    let rows = client
        .query(
            "SELECT tag, count(*) FROM tags GROUP BY tag ORDER BY tag",
            &[],
        )
        .await
        .map_err(|e| ApiError::db("listing tags", &e))?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), r.get::<_, i64>(1) as u64))
        .collect())
}

/// Adds and removes tags of a run (its owner or an administrator); returns (added, removed).
pub async fn change_tags(
    pool: &Pool,
    caller: &Caller,
    run_id: &str,
    add: &[String],
    remove: &[String],
) -> ApiResult<(usize, usize)> {
    for tag in add.iter().chain(remove) {
        wflow_metadata::validate_tag(tag).map_err(|reason| ApiError::invalid_tag(tag, reason))?;
    }
    let mut client = pool.get().await?;
    let err = |e: tokio_postgres::Error| ApiError::db("tagging a run", &e);
    let tx = client.transaction().await.map_err(err)?;
    let owner = tx
        .query_opt(
            "SELECT user_name FROM runs WHERE run_id = $1 FOR UPDATE",
            &[&run_id],
        )
        .await
        .map_err(err)?;
    let Some(owner) = owner else {
        return Err(ApiError::unknown_run(run_id));
    };
    let owner: String = owner.get(0);
    if owner != caller.user && !caller.admin {
        return Err(ApiError::forbidden(format!(
            "run `{run_id}` belongs to user `{owner}`; `{}` may not change its tags (an administrator's token may)",
            caller.user
        )));
    }
    let (mut added, mut removed) = (0, 0);
    for tag in add {
        added += tx
            .execute(
                "INSERT INTO tags (run_id, tag) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&run_id, tag],
            )
            .await
            .map_err(err)? as usize;
    }
    for tag in remove {
        removed += tx
            .execute(
                "DELETE FROM tags WHERE run_id = $1 AND tag = $2",
                &[&run_id, tag],
            )
            .await
            .map_err(err)? as usize;
    }
    tx.commit().await.map_err(err)?;
    Ok((added, removed))
}

/// Records that the drivers of `runs` (the caller's, or any for an administrator) are alive.
pub async fn heartbeat(pool: &Pool, caller: &Caller, runs: &[String]) -> ApiResult<u64> {
    let client = pool.get().await?;
    let st = client
        .prepare_cached(
            "UPDATE runs SET heartbeat_ms = $2 WHERE run_id = ANY($1) AND status = 'running'
             AND (user_name = $3 OR $4)",
        )
        .await
        .map_err(|e| ApiError::db("recording a heartbeat", &e))?;
    client
        .execute(&st, &[&runs, &now_millis(), &caller.user, &caller.admin])
        .await
        .map_err(|e| ApiError::db("recording a heartbeat", &e))
}

/// Marks failed every running run whose last heartbeat is older than `timeout_ms`, with its
/// running tasks and attempts; returns their ids.
pub async fn reap(pool: &Pool, timeout_ms: i64) -> Result<Vec<String>, ApiError> {
    let mut client = pool.get().await?;
    let err = |e: tokio_postgres::Error| ApiError::db("marking abandoned runs failed", &e);
    let now = now_millis();
    let tx = client.transaction().await.map_err(err)?;
    let rows = tx
        .query(
            "UPDATE runs SET status = 'failed', finished_ms = $1::int8,
                    error = 'the driver of this run disappeared: no heartbeat for '
                            || (($1::int8 - heartbeat_ms) / 1000) || ' s (the service''s timeout is '
                            || ($2::int8 / 1000) || ' s); its process was killed or lost its connection'
             WHERE status = 'running' AND heartbeat_ms < $1::int8 - $2::int8
             RETURNING run_id",
            &[&now, &timeout_ms],
        )
        .await
        .map_err(err)?;
    let ids: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    if !ids.is_empty() {
        tx.execute(
            "UPDATE tasks SET status = 'failed', finished_ms = $2
             WHERE run_id = ANY($1) AND status = 'running'",
            &[&ids, &now],
        )
        .await
        .map_err(err)?;
        tx.execute(
            "UPDATE attempts SET status = 'failed', finished_ms = $2,
                    error = 'the driver of this run disappeared'
             WHERE run_id = ANY($1) AND status = 'running'",
            &[&ids, &now],
        )
        .await
        .map_err(err)?;
    }
    tx.commit().await.map_err(err)?;
    Ok(ids)
}

/// How many records of each kind the database holds (for `/metrics`).
pub async fn counts(pool: &Pool) -> ApiResult<[(&'static str, i64); 3]> {
    let client = pool.get().await?;
    let row = client
        .query_one(
            "SELECT (SELECT reltuples::int8 FROM pg_class WHERE relname = 'runs'),
                    (SELECT reltuples::int8 FROM pg_class WHERE relname = 'tasks'),
                    (SELECT reltuples::int8 FROM pg_class WHERE relname = 'attempts')",
            &[],
        )
        .await
        .map_err(|e| ApiError::db("counting records", &e))?;
    Ok([
        ("runs", row.get::<_, Option<i64>>(0).unwrap_or(0).max(0)),
        ("tasks", row.get::<_, Option<i64>>(1).unwrap_or(0).max(0)),
        ("attempts", row.get::<_, Option<i64>>(2).unwrap_or(0).max(0)),
    ])
}
