//! Applying events: in bulk (one statement per kind of event) or one by one, every write
//! guarded by the run's owner.

use super::*;

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
        Event::TaskReads { .. } => 9,
        Event::RunFinished { .. } => 10,
    }
}

/// The batch in bulk statements (`unnest` of arrays), one per kind of event. `Ok(false)` or an
/// error when anything is not exactly as expected: the caller rolls back.
pub(super) async fn bulk(
    tx: &Transaction<'_>,
    caller: &Caller,
    events: &[Event],
) -> Result<bool, ApiError> {
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
                let (mut r, mut t, mut s, mut f, mut inp, mut m, mut k) =
                    (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
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
                        k.push(wflow_metadata::item_key(foreach_path));
                    }
                }
                let st = tx
                    .prepare_cached(&format!(
                        "INSERT INTO tasks (run_id, task_id, step, foreach_path, inputs, status, started_ms,
                                            item_key)
                         SELECT r, t, s, f, i, 'running', m, k
                         FROM unnest($1::text[], $2::int8[], $3::text[], $4::text[], $5::text[], $6::int8[],
                                     $9::text[])
                              AS u(r, t, s, f, i, m, k)
                         WHERE {}",
                        owned("u.r", 7, 8)
                    ))
                    .await
                    .map_err(db)?;
                let n = tx
                    .execute(
                        &st,
                        &[&r, &t, &s, &f, &inp, &m, &caller.user, &caller.admin, &k],
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
pub(super) async fn apply(
    tx: &impl GenericClient,
    caller: &Caller,
    event: &Event,
) -> ApiResult<()> {
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
                    "INSERT INTO tasks (run_id, task_id, step, foreach_path, inputs, status, started_ms,
                                        item_key)
                     SELECT $1, $2, $3, $4, $5, 'running', $6, $9 WHERE {}",
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
                        &wflow_metadata::item_key(foreach_path),
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
            reason,
        } => {
            let what = format!("the reuse of task {task_id} of run `{run_id}`");
            let st = tx
                .prepare_cached(&format!(
                    "UPDATE tasks SET status = 'succeeded', finished_ms = $3, manifest = $4,
                                      origin_run = $5, origin_task = $6, component = $9,
                                      cached = $10
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
                        &(*reason == wflow_metadata::ReuseReason::Cached),
                    ],
                )
                .await
                .map_err(changed(what))?;
            if n == 0 {
                let missing = ApiError::unknown_task(run_id, *task_id);
                return Err(refusal(tx, caller, run_id, missing).await);
            }
        }
        Event::TaskReads {
            run_id,
            task_id,
            key,
            reads,
        } => {
            let what = format!("the reads of task {task_id} of run `{run_id}`");
            // Only a task of the caller's own run, recorded before.
            let st = tx
                .prepare_cached(&format!(
                    "INSERT INTO task_cache (run_id, task_id, scope, item, reads)
                     SELECT run_id, task_id, $3, $4, $5 FROM tasks
                     WHERE run_id = $1 AND task_id = $2 AND {}",
                    owned("$1", 6, 7)
                ))
                .await
                .map_err(changed(what.clone()))?;
            let reads = serde_json::to_string(reads).expect("reads serialise");
            let n = tx
                .execute(
                    &st,
                    &[
                        run_id,
                        &task_key(*task_id)?,
                        &key.scope.to_hex(),
                        &key.item.to_hex(),
                        &reads,
                        user,
                        admin,
                    ],
                )
                .await
                .map_err(|e| insert_error(e, what, || ApiError::unknown_task(run_id, *task_id)))?;
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
