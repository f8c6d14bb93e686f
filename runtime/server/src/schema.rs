//! The PostgreSQL schema and its versioned migrations (table `schema_version`).
//!
//! Version `n` is what [`MIGRATIONS`]`[..n]` builds. A new version appends a migration and never
//! edits an old one, so a database of any older version is upgraded in place when the service
//! starts. A database written by a newer service is refused ([`SchemaError::TooNew`]).

use tokio_postgres::Client;

/// The newest schema version this service reads and writes.
pub const SCHEMA_VERSION: i32 = MIGRATIONS.len() as i32;

/// Migration `i` takes a database from version `i` to version `i + 1`.
const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5, V6, V7, V8];

/// Version 1: the model of the embedded SQLite records (runs, tasks, attempts, tags), plus who
/// started each run, its driver's last heartbeat, and the users' tokens.
///
/// Digests are 64 lowercase hex digits; params, spec, foreach paths and inputs are JSON text;
/// times are BIGINT milliseconds since the Unix epoch; status is running, succeeded or failed.
const V1: &str = "
CREATE TABLE tokens (
    hash       TEXT    NOT NULL PRIMARY KEY,
    user_name  TEXT    NOT NULL,
    admin      BOOLEAN NOT NULL,
    created_ms BIGINT  NOT NULL
);
CREATE TABLE runs (
    run_id       TEXT   NOT NULL PRIMARY KEY,
    flow         TEXT   NOT NULL,
    component    TEXT   NOT NULL,
    params       TEXT   NOT NULL,
    spec         TEXT   NOT NULL,
    status       TEXT   NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    started_ms   BIGINT NOT NULL,
    finished_ms  BIGINT,
    error        TEXT,
    origin_run   TEXT,
    user_name    TEXT   NOT NULL,
    heartbeat_ms BIGINT NOT NULL
);
CREATE INDEX runs_by_started ON runs (started_ms DESC, run_id DESC);
CREATE INDEX runs_by_user ON runs (user_name, started_ms DESC, run_id DESC);
CREATE INDEX runs_by_flow ON runs (flow, started_ms DESC, run_id DESC);
CREATE INDEX runs_running ON runs (heartbeat_ms) WHERE status = 'running';

CREATE TABLE tasks (
    run_id        TEXT    NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    task_id       BIGINT  NOT NULL,
    step          TEXT    NOT NULL,
    foreach_path  TEXT    NOT NULL,
    inputs        TEXT    NOT NULL,
    status        TEXT    NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    started_ms    BIGINT  NOT NULL,
    finished_ms   BIGINT,
    manifest      TEXT,
    attempts      INTEGER NOT NULL DEFAULT 0,
    origin_run    TEXT,
    origin_task   BIGINT,
    foreach_items TEXT,
    PRIMARY KEY (run_id, task_id)
);
CREATE INDEX tasks_by_step ON tasks (run_id, step, task_id);

CREATE TABLE attempts (
    run_id      TEXT    NOT NULL,
    task_id     BIGINT  NOT NULL,
    attempt     INTEGER NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    started_ms  BIGINT  NOT NULL,
    finished_ms BIGINT,
    error       TEXT,
    stdout      TEXT,
    stderr      TEXT,
    PRIMARY KEY (run_id, task_id, attempt),
    FOREIGN KEY (run_id, task_id) REFERENCES tasks (run_id, task_id) ON DELETE CASCADE
);

CREATE TABLE tags (
    run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    tag    TEXT NOT NULL,
    PRIMARY KEY (run_id, tag)
);
CREATE INDEX tags_by_tag ON tags (tag, run_id);
";

/// Version 2: `runs.kind`, `run` or `step_run` (a task run again by `wflow step-run --persist`,
/// never a flow's latest run); runs recorded before are runs.
const V2: &str = "
ALTER TABLE runs ADD COLUMN kind TEXT NOT NULL DEFAULT 'run' CHECK (kind IN ('run', 'step_run'));
";

/// Version 3: `tasks.component`, for a reused task the digest of the component that computed
/// its outputs.
const V3: &str = "
ALTER TABLE tasks ADD COLUMN component TEXT;
";

/// Version 4: store layout 2 — small manifests and logs kept in the records (`BYTEA`, `NULL`
/// where the bytes are a blob in the store), as in version 5 of the SQLite records.
const V4: &str = "
ALTER TABLE tasks ADD COLUMN manifest_bytes BYTEA;
ALTER TABLE attempts ADD COLUMN stdout_bytes BYTEA;
ALTER TABLE attempts ADD COLUMN stderr_bytes BYTEA;
";

/// Version 5: caching of pure steps, as in version 6 of the SQLite records — `tasks.cached`
/// (a task taken from the cache, its origin the task it came from) and `task_cache`, each pure
/// task's cache key and what it read (`reads`, JSON), looked up by key.
const V5: &str = "
ALTER TABLE tasks ADD COLUMN cached BOOLEAN NOT NULL DEFAULT FALSE;
CREATE TABLE task_cache (
    run_id  TEXT   NOT NULL,
    task_id BIGINT NOT NULL,
    scope   TEXT   NOT NULL,
    item    TEXT   NOT NULL,
    reads   TEXT   NOT NULL,
    PRIMARY KEY (run_id, task_id),
    FOREIGN KEY (run_id, task_id) REFERENCES tasks (run_id, task_id) ON DELETE CASCADE
);
CREATE INDEX task_cache_by_key ON task_cache (scope, item);
";

/// Version 6: `tasks_by_item`, the task of a foreach item found by its path (as version 8 of
/// the SQLite records).
const V6: &str = "
CREATE INDEX tasks_by_item ON tasks (run_id, step, foreach_path);
";

/// The summary columns of `step_summary` (after `run_id, step`) from the tasks of a step grouped
/// by run and step: how version 7 fills the table, and how a step whose extreme went away is
/// derived again (`crate::db::summary`), as `wflow_metadata`'s SQLite file does.
macro_rules! derived {
    () => {
        "COUNT(*), COUNT(*) FILTER (WHERE status = 'succeeded'),
    COUNT(*) FILTER (WHERE status = 'failed'), COUNT(*) FILTER (WHERE status = 'running'),
    COUNT(*) FILTER (WHERE origin_task IS NOT NULL),
    COUNT(*) FILTER (WHERE cached AND origin_task IS NOT NULL),
    COUNT(*) FILTER (WHERE status = 'succeeded' AND EXISTS (SELECT 1 FROM attempts a
        WHERE a.run_id = tasks.run_id AND a.task_id = tasks.task_id
        AND a.attempt = tasks.attempts - 1 AND a.status = 'failed')),
    COALESCE(SUM(attempts), 0), MIN(started_ms), MAX(finished_ms),
    COALESCE(SUM(finished_ms - started_ms), 0), MAX(finished_ms - started_ms)"
    };
}
pub(crate) const DERIVED: &str = derived!();

/// Version 7, as versions 7 and 9 of the SQLite records:
///
/// - `step_summary`: per step of a run what its tasks add up to, kept as tasks are recorded
///   (`wflow_metadata::summary`), so a step of 100,000 tasks is summed up by reading one row;
///   filled from the tasks recorded before; removed with its run.
/// - `tasks.item_key` (`wflow_metadata::item_key`: 8 hex digits per foreach level, compared
///   bytewise) and the indexes of a step's table in item and duration order, so a page of a
///   100,000-task step walks an index instead of sorting the step; the item key's index also
///   finds the task of a foreach item and replaces version 6's `tasks_by_item`.
const V7: &str = concat!(
    "
ALTER TABLE tasks ADD COLUMN item_key TEXT COLLATE \"C\" NOT NULL DEFAULT '';
UPDATE tasks SET item_key = COALESCE((
    SELECT string_agg(lpad(to_hex(e.v::bigint), 8, '0'), '' ORDER BY e.n)
    FROM jsonb_array_elements_text(foreach_path::jsonb) WITH ORDINALITY AS e(v, n)
    WHERE e.n <= 8), '')
WHERE foreach_path <> '[]';
DROP INDEX IF EXISTS tasks_by_item;
CREATE INDEX tasks_by_item_key ON tasks (run_id, step, item_key, task_id);
CREATE INDEX tasks_by_duration
    ON tasks (run_id, step, (COALESCE(finished_ms - started_ms, 9223372036854775807)), task_id);
CREATE TABLE step_summary (
    run_id           TEXT    NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    step             TEXT    NOT NULL,
    tasks            BIGINT  NOT NULL,
    succeeded        BIGINT  NOT NULL,
    failed           BIGINT  NOT NULL,
    running          BIGINT  NOT NULL,
    reused           BIGINT  NOT NULL,
    cached           BIGINT  NOT NULL,
    caught           BIGINT  NOT NULL,
    attempts         BIGINT  NOT NULL,
    first_started_ms BIGINT,
    last_finished_ms BIGINT,
    task_ms          BIGINT  NOT NULL,
    max_task_ms      BIGINT,
    PRIMARY KEY (run_id, step)
);
INSERT INTO step_summary SELECT run_id, step, ",
    derived!(),
    " FROM tasks GROUP BY run_id, step;
"
);

/// Version 8, as version 10 of the SQLite records: the other sort keys of a step's table
/// indexed too (`wflow_metadata::TaskSort::index`), so a page in any order walks an index: by
/// status (which also serves a status filter by task id), start time and attempts, each on
/// `tasks (run_id, step, <key>, task_id)`.
const V8: &str = "
CREATE INDEX tasks_by_status ON tasks (run_id, step, status, task_id);
CREATE INDEX tasks_by_started ON tasks (run_id, step, started_ms, task_id);
CREATE INDEX tasks_by_attempts ON tasks (run_id, step, attempts, task_id);
";

/// The schema could not be brought up to date.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// The database was written by a newer `wflow server`.
    #[error(
        "the database has schema version {found}, but this wflow server supports up to version \
         {supported}: it was written by a newer wflow server; upgrade this one (nothing was changed)"
    )]
    TooNew {
        /// The version in `schema_version`.
        found: i32,
        /// [`SCHEMA_VERSION`].
        supported: i32,
    },
    /// A statement failed.
    #[error("upgrading the database schema: {0}")]
    Db(#[from] tokio_postgres::Error),
}

/// Brings the database up to [`SCHEMA_VERSION`] in one transaction under an advisory lock (two
/// services starting at once do not both migrate); returns the version found before.
pub async fn migrate(client: &mut Client) -> Result<i32, SchemaError> {
    let tx = client.transaction().await?;
    // Any constant will do, as long as it is always the same one.
    tx.execute("SELECT pg_advisory_xact_lock(7395201)", &[])
        .await?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        .await?;
    let found: i32 = match tx
        .query_opt("SELECT version FROM schema_version", &[])
        .await?
    {
        Some(row) => row.get(0),
        None => {
            tx.execute("INSERT INTO schema_version (version) VALUES (0)", &[])
                .await?;
            0
        }
    };
    if found > SCHEMA_VERSION {
        return Err(SchemaError::TooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for sql in MIGRATIONS.iter().skip(found as usize) {
        tx.batch_execute(sql).await?;
    }
    tx.execute("UPDATE schema_version SET version = $1", &[&SCHEMA_VERSION])
        .await?;
    tx.commit().await?;
    Ok(found)
}
