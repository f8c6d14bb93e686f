//! Reading runs, tasks, attempts, tags and counts; heartbeats and the reaping of runs whose
//! driver disappeared.

use super::*;

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
    /// Only runs started before this time (ms since the epoch).
    pub until: Option<i64>,
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
    if let Some(until) = q.until {
        args.push(Box::new(until));
        conds.push(format!("started_ms < ${}", args.len()));
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

/// A page of the tasks of one step, filtered and sorted as `q` says (the order
/// [`TaskQuery::order_by_keys`](wflow_metadata::TaskQuery::order_by_keys) defines, the same as
/// SQLite's and the in-memory one): PostgreSQL walks the index of the order from whichever end
/// of the step is nearer (the step's summary says how many tasks it has).
pub async fn step_tasks(
    pool: &Pool,
    run_id: &str,
    step: &str,
    q: &wflow_metadata::TaskQuery,
) -> ApiResult<Vec<TaskRecord>> {
    let client = pool.get().await?;
    let err = |e: tokio_postgres::Error| ApiError::db("listing tasks", &e);
    let st = client
        .prepare_cached(
            "SELECT tasks, succeeded, failed, running FROM step_summary
             WHERE run_id = $1 AND step = $2",
        )
        .await
        .map_err(err)?;
    let total = match client
        .query_opt(&st, &[&run_id, &step])
        .await
        .map_err(err)?
    {
        Some(row) => row.get::<_, i64>(match q.status {
            None => 0,
            Some(Status::Succeeded) => 1,
            Some(Status::Failed) => 2,
            Some(Status::Running) => 3,
        }),
        None => 0,
    };
    let flipped = q.from_the_end(total.max(0) as usize);
    let q = flipped.as_ref().unwrap_or(q);
    let status = q.status.map(|s| s.as_str()).unwrap_or("");
    let limit = q
        .limit
        .map_or(i64::MAX, |l| l.min(i64::MAX as usize) as i64);
    let st = client
        .prepare_cached(&step_page_sql(q))
        .await
        .map_err(err)?;
    let rows = client
        .query(&st, &[&run_id, &step, &status, &limit, &(q.offset as i64)])
        .await
        .map_err(err)?;
    let mut tasks = rows.iter().map(read_task).collect::<ApiResult<Vec<_>>>()?;
    if flipped.is_some() {
        tasks.reverse();
    }
    Ok(tasks)
}

/// The SQL of a page of a step's tasks: `$1` the run, `$2` the step, `$3` the status or `''`,
/// `$4` the limit, `$5` the offset; the order `q`'s, the order of an index
/// ([`TaskQuery::index`](wflow_metadata::TaskQuery::index)).
pub fn step_page_sql(q: &wflow_metadata::TaskQuery) -> String {
    let filter = if q.status.is_some() {
        "AND status = $3"
    } else {
        "AND $3 = ''"
    };
    format!(
        "SELECT {TASK_COLUMNS} FROM tasks WHERE run_id = $1 AND step = $2
         {filter} {} LIMIT $4 OFFSET $5",
        q.order_by_keys()
    )
}

/// The newest task of step `step` of run `run_id` on foreach item `path` (none or one), by the
/// index `tasks (run_id, step, item_key, task_id)`.
pub async fn task_of_item(
    pool: &Pool,
    run_id: &str,
    step: &str,
    path: &[u32],
) -> ApiResult<Vec<TaskRecord>> {
    let client = pool.get().await?;
    let err = |e: tokio_postgres::Error| ApiError::db("finding the task of a foreach item", &e);
    let st = client
        .prepare_cached(&format!(
            "SELECT {TASK_COLUMNS} FROM tasks WHERE run_id = $1 AND step = $2
             AND item_key = $4 AND foreach_path = $3 ORDER BY task_id DESC LIMIT 1"
        ))
        .await
        .map_err(err)?;
    let key = wflow_metadata::item_key(path);
    let path = serde_json::to_string(path).expect("numbers serialise");
    let rows = client
        .query(&st, &[&run_id, &step, &path, &key])
        .await
        .map_err(err)?;
    rows.iter().map(read_task).collect()
}

/// Per key, the caller's earlier successful tasks filed under it, newest first, at most `limit`
/// each: one query for all keys. Only the caller's own runs count: another user's records could
/// otherwise put their outputs into the caller's runs.
pub async fn cache_lookup(
    pool: &Pool,
    caller: &Caller,
    keys: &[wflow_core::CacheKey],
    limit: i64,
) -> ApiResult<Vec<Vec<wflow_metadata::CacheEntry>>> {
    let client = pool.get().await?;
    let err = |e: tokio_postgres::Error| ApiError::db("looking up the task cache", &e);
    let st = client
        .prepare_cached(
            "SELECT k.i, e.run_id, e.task_id, e.reads, e.manifest, e.manifest_bytes, e.foreach_items
             FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(scope, item, i)
             CROSS JOIN LATERAL (
                 SELECT c.run_id, c.task_id, c.reads, t.manifest, t.manifest_bytes,
                        t.foreach_items
                 FROM task_cache c
                 JOIN tasks t ON t.run_id = c.run_id AND t.task_id = c.task_id
                 JOIN runs r ON r.run_id = c.run_id
                 WHERE c.scope = k.scope AND c.item = k.item AND t.status = 'succeeded'
                       AND t.manifest IS NOT NULL AND r.user_name = $3
                 ORDER BY t.finished_ms DESC LIMIT $4
             ) AS e
             ORDER BY k.i",
        )
        .await
        .map_err(err)?;
    let scopes: Vec<String> = keys.iter().map(|k| k.scope.to_hex()).collect();
    let items: Vec<String> = keys.iter().map(|k| k.item.to_hex()).collect();
    let rows = client
        .query(&st, &[&scopes, &items, &caller.user, &limit])
        .await
        .map_err(err)?;
    let mut out: Vec<Vec<wflow_metadata::CacheEntry>> = keys.iter().map(|_| Vec::new()).collect();
    for row in &rows {
        let i = row.get::<_, i64>(0) as usize - 1;
        let entry = wflow_metadata::CacheEntry {
            run_id: row.get(1),
            task_id: row.get::<_, i64>(2) as u64,
            reads: json(row, 3, "reads")?,
            manifest: digest(row, 4, "manifest")?.ok_or_else(|| corrupt("no manifest".into()))?,
            manifest_bytes: row.get(5),
            foreach_items: digest(row, 6, "foreach_items")?,
        };
        if let Some(list) = out.get_mut(i) {
            list.push(entry);
        }
    }
    Ok(out)
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

#[cfg(test)]
mod tests {
    use wflow_metadata::{Status, TaskQuery, TaskSort};

    use super::step_page_sql;
    use crate::testing::TestPostgres;

    /// The plan of every page query of a step's table: an index scan in the page's order, with
    /// no sort, when the planner may sort only as a last resort (on an empty table it would
    /// rather scan and sort); without a status filter, the index of the order. On a database of
    /// schema version 7 (no status, start or attempts index) this fails.
    #[test]
    fn pages_walk_an_index_in_their_order() {
        let pg = TestPostgres::shared();
        let db = pg.new_database("plans");
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(crate::open_database(&db, 1)).unwrap();
        let name = db.rsplit('/').next().unwrap();
        for sort in TaskSort::ALL {
            for desc in [false, true] {
                for status in [None, Some(Status::Failed)] {
                    let q = TaskQuery {
                        sort,
                        desc,
                        status,
                        limit: Some(100),
                        offset: 5000,
                    };
                    let arg = status.map_or("", |s| s.as_str());
                    let plan = pg.psql(
                        name,
                        &format!(
                            "SET enable_seqscan = off; SET enable_bitmapscan = off; \
                             SET enable_sort = off; \
                             PREPARE page (text, text, text, bigint, bigint) AS {}; \
                             EXPLAIN (COSTS OFF) EXECUTE page ('R', 's', '{arg}', 100, 5000)",
                            step_page_sql(&q)
                        ),
                    );
                    assert!(!plan.contains("Sort"), "{q:?}:\n{plan}");
                    let index = q.index();
                    if status.is_none() && sort != TaskSort::Task {
                        assert!(
                            plan.contains(&format!(
                                "Index Scan{} using {index} on tasks",
                                if desc { " Backward" } else { "" }
                            )),
                            "{q:?}:\n{plan}"
                        );
                    } else {
                        assert!(plan.contains("Index Scan"), "{q:?}:\n{plan}");
                    }
                }
            }
        }
    }
}
