//! The SQL schema and its versioned migrations (`PRAGMA user_version`).
//!
//! Version `n` of the schema is what [`MIGRATIONS`]`[..n]` builds. A new version appends a
//! migration; it never edits an old one, so a database of any older version upgrades in place
//! when it is opened. A file whose version is newer than [`SCHEMA_VERSION`] is refused.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use crate::{MetadataError, Result};

/// The newest schema version this crate reads and writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Migration `i` takes a database from version `i` to version `i + 1`.
const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5, V6, V7, V8, V9, V10, V11];

/// Version 1: runs, tasks, attempts and tags.
///
/// Digests are 64 lowercase hex digits in TEXT columns; params, spec, foreach paths and inputs
/// are JSON text; times are INTEGER milliseconds since the Unix epoch.
const V1: &str = "
CREATE TABLE IF NOT EXISTS runs (
    run_id      TEXT    NOT NULL PRIMARY KEY,
    flow        TEXT    NOT NULL,
    component   TEXT    NOT NULL,
    params      TEXT    NOT NULL,
    spec        TEXT    NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    started_ms  INTEGER NOT NULL,
    finished_ms INTEGER,
    error       TEXT,
    origin_run  TEXT,
    user        TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_flow ON runs (flow, started_ms);
CREATE INDEX IF NOT EXISTS runs_by_started ON runs (started_ms);

CREATE TABLE IF NOT EXISTS tasks (
    run_id       TEXT    NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    task_id      INTEGER NOT NULL,
    step         TEXT    NOT NULL,
    foreach_path TEXT    NOT NULL,
    inputs       TEXT    NOT NULL,
    status       TEXT    NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    started_ms   INTEGER NOT NULL,
    finished_ms  INTEGER,
    manifest     TEXT,
    attempts     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, task_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tasks_by_step ON tasks (run_id, step);

CREATE TABLE IF NOT EXISTS attempts (
    run_id      TEXT    NOT NULL,
    task_id     INTEGER NOT NULL,
    attempt     INTEGER NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    started_ms  INTEGER NOT NULL,
    finished_ms INTEGER,
    error       TEXT,
    stdout      TEXT,
    stderr      TEXT,
    PRIMARY KEY (run_id, task_id, attempt),
    FOREIGN KEY (run_id, task_id) REFERENCES tasks (run_id, task_id) ON DELETE CASCADE
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS tags (
    run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    tag    TEXT NOT NULL,
    PRIMARY KEY (run_id, tag)
) WITHOUT ROWID;
";

/// Version 2: resume and tags.
///
/// - `tasks.origin_run`, `tasks.origin_task`: a task reused by `wflow resume` points at the task
///   of the origin run whose outputs it took (its manifest is that task's); `NULL` for a task that
///   ran.
/// - `tasks.foreach_items`: for a foreach split task, the digest of its declared items (a CBOR
///   list of `[codec, bytes]` pairs in the store), so a resumed run can fan out again without
///   re-running the split.
/// - `tags_by_tag`: `wflow runs --tag T` without scanning every run's tags.
/// - `runs_by_flow_status`: the latest (successful) run of a flow in one index probe.
const V2: &str = "
ALTER TABLE tasks ADD COLUMN origin_run TEXT;
ALTER TABLE tasks ADD COLUMN origin_task INTEGER;
ALTER TABLE tasks ADD COLUMN foreach_items TEXT;
CREATE INDEX IF NOT EXISTS tags_by_tag ON tags (tag, run_id);
CREATE INDEX IF NOT EXISTS runs_by_flow_status ON runs (flow, status, started_ms);
";

/// Version 3: `runs.kind`, `run` for a run of the flow or `step_run` for one task run again by
/// `wflow step-run --persist` (never the flow's latest run). Runs recorded before are runs.
const V3: &str = "
ALTER TABLE runs ADD COLUMN kind TEXT NOT NULL DEFAULT 'run' CHECK (kind IN ('run', 'step_run'));
";

/// Version 4: `tasks.component`, for a task a resumed run reused, the digest of the component
/// that computed its outputs (a resume after a code fix reuses tasks of the old code).
const V4: &str = "
ALTER TABLE tasks ADD COLUMN component TEXT;
";

/// Version 5: store layout 2 — small manifests and logs kept in the records.
///
/// - `tasks.manifest_bytes`: the CBOR bytes of the task's manifest when at most
///   `RECORD_INLINE_MAX` bytes (no blob is written for it); `NULL` for a manifest kept as a blob
///   (a large one, or any written by an older wflow).
/// - `attempts.stdout_bytes`, `attempts.stderr_bytes`: likewise for the attempt's logs.
///
/// The digest columns stay as they were: they name the bytes wherever they are, and every read
/// checks them.
const V5: &str = "
ALTER TABLE tasks ADD COLUMN manifest_bytes BLOB;
ALTER TABLE attempts ADD COLUMN stdout_bytes BLOB;
ALTER TABLE attempts ADD COLUMN stderr_bytes BLOB;
";

/// Version 6: caching of pure steps.
///
/// - `tasks.cached`: 1 for a task taken from the cache (its `origin_run`/`origin_task` name the
///   task whose outputs it took); 0 for any other, and for every task recorded before (a task
///   with an origin and 0 here was reused by a resume).
/// - `task_cache`: per task that ran a pure step, its cache key (`scope`: the component and
///   step; `item`: its foreach item) and what it read and put (`reads`, the JSON form of
///   `wflow_core::TaskReads`). Removed with its task.
/// - `task_cache_by_key`: the lookup of earlier tasks by cache key.
const V6: &str = "
ALTER TABLE tasks ADD COLUMN cached INTEGER NOT NULL DEFAULT 0;
CREATE TABLE IF NOT EXISTS task_cache (
    run_id  TEXT    NOT NULL,
    task_id INTEGER NOT NULL,
    scope   TEXT    NOT NULL,
    item    TEXT    NOT NULL,
    reads   TEXT    NOT NULL,
    PRIMARY KEY (run_id, task_id),
    FOREIGN KEY (run_id, task_id) REFERENCES tasks (run_id, task_id) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS task_cache_by_key ON task_cache (scope, item);
";

/// The summary columns of `step_summary` (after `run_id, step`) computed from the tasks grouped
/// by run and step: how migration 7 fills the table (over the tables of that version).
macro_rules! derived {
    () => {
        "COUNT(*), SUM(status = 'succeeded'), SUM(status = 'failed'), SUM(status = 'running'),
         SUM(origin_task IS NOT NULL), SUM(cached AND origin_task IS NOT NULL),
         SUM(status = 'succeeded' AND EXISTS (SELECT 1 FROM attempts a
             WHERE a.run_id = tasks.run_id AND a.task_id = tasks.task_id
             AND a.attempt = tasks.attempts - 1 AND a.status = 'failed')),
         SUM(attempts), MIN(started_ms), MAX(finished_ms),
         COALESCE(SUM(finished_ms - started_ms), 0), MAX(finished_ms - started_ms)"
    };
}

/// [`derived!`] over the tables of version 11 on (a task's attempts found by its run's key,
/// `run`, rather than its run id): how a step whose extreme went away is derived again
/// (`crate::summary`). (Version 7's migration keeps the text it was released with.)
pub(crate) const DERIVED: &str =
    "COUNT(*), SUM(status = 'succeeded'), SUM(status = 'failed'), SUM(status = 'running'),
     SUM(origin_task IS NOT NULL), SUM(cached AND origin_task IS NOT NULL),
     SUM(status = 'succeeded' AND EXISTS (SELECT 1 FROM attempts a
         WHERE a.run = tasks.run AND a.task_id = tasks.task_id
         AND a.attempt = tasks.attempts - 1 AND a.status = 'failed')),
     SUM(attempts), MIN(started_ms), MAX(finished_ms),
     COALESCE(SUM(finished_ms - started_ms), 0), MAX(finished_ms - started_ms)";

/// Version 7: `step_summary`, per step of a run what its tasks add up to (counts by status,
/// reused, cached, caught, attempts; first start, last end, task time, longest task), kept as
/// tasks are recorded (`crate::summary`) so a step of 100,000 tasks is summed up by reading one
/// row. Filled from the tasks of the runs recorded before. Removed with its run.
const V7: &str = concat!(
    "CREATE TABLE IF NOT EXISTS step_summary (
    run_id           TEXT    NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    step             TEXT    NOT NULL,
    tasks            INTEGER NOT NULL,
    succeeded        INTEGER NOT NULL,
    failed           INTEGER NOT NULL,
    running          INTEGER NOT NULL,
    reused           INTEGER NOT NULL,
    cached           INTEGER NOT NULL,
    caught           INTEGER NOT NULL,
    attempts         INTEGER NOT NULL,
    first_started_ms INTEGER,
    last_finished_ms INTEGER,
    task_ms          INTEGER NOT NULL,
    max_task_ms      INTEGER,
    PRIMARY KEY (run_id, step)
) WITHOUT ROWID;
INSERT OR REPLACE INTO step_summary SELECT run_id, step, ",
    derived!(),
    " FROM tasks GROUP BY run_id, step;"
);

/// Version 8: `tasks_by_item`, the task of a foreach item (`Flow/run/step[7]`) found by its
/// path instead of reading the step's tasks.
const V8: &str = "
CREATE INDEX IF NOT EXISTS tasks_by_item ON tasks (run_id, step, foreach_path);
";

/// Version 9: the sort keys of a step's table, indexed so a page of a 100,000-task step is
/// read in index order instead of sorting the step's tasks (`crate::paging`).
///
/// - `tasks.item_key`: the task's foreach path as 8 hex digits per level (the first 8 levels;
///   `crate::item_key`), which sorts as the paths do; filled for the tasks recorded before.
/// - `tasks_by_item_key (run_id, step, item_key)`: the item sort, and the task of a foreach item
///   (`Flow/run/step[7]`); it replaces version 8's `tasks_by_item`, on the JSON text of the path
///   (which sorts `[10]` before `[2]`).
/// - `tasks_by_duration (run_id, step, <duration>)`: the duration sort, on the expression
///   `crate::DURATION_KEY` (a running task's duration sorts last).
const V9: &str = "
ALTER TABLE tasks ADD COLUMN item_key TEXT NOT NULL DEFAULT '';
UPDATE tasks SET item_key = COALESCE((SELECT group_concat(printf('%08x', value), '' ORDER BY key)
                                      FROM json_each(tasks.foreach_path) WHERE key < 8), '')
WHERE foreach_path != '[]';
DROP INDEX IF EXISTS tasks_by_item;
CREATE INDEX IF NOT EXISTS tasks_by_item_key ON tasks (run_id, step, item_key);
CREATE INDEX IF NOT EXISTS tasks_by_duration
    ON tasks (run_id, step, COALESCE(finished_ms - started_ms, 9223372036854775807));
";

/// Version 10: the other sort keys of a step's table indexed too, so a page in any order walks
/// an index (`crate::TaskSort::index`): `tasks_by_status`, `tasks_by_started` and
/// `tasks_by_attempts` on `tasks (run_id, step, <key>)`. Each is the narrowest index of its
/// order: the table is keyed by `(run_id, task_id)`, so each entry ends with the task id, the
/// order's tie-break. The status index also serves a status filter by task id. Each costs one
/// more index entry per task written (and an update when the key changes: a task's status as it
/// ends, its attempts as they start, its start when an attempt reports a later real one).
const V10: &str = "
CREATE INDEX IF NOT EXISTS tasks_by_status ON tasks (run_id, step, status);
CREATE INDEX IF NOT EXISTS tasks_by_started ON tasks (run_id, step, started_ms);
CREATE INDEX IF NOT EXISTS tasks_by_attempts ON tasks (run_id, step, attempts);
";

/// Version 11: smaller task records (issue 19: a trivial task of a 10,000-item foreach cost 1,576
/// bytes of the file; 1,097 in this version. docs/store.md has the breakdown).
///
/// - Runs are keyed by an integer, `runs.id` (an alias of the rowid, never reused while its
///   run's rows exist: they go with it), and the per-task tables (`tasks`, `attempts`,
///   `task_cache`) name their run by it, `run`, instead of repeating its 21-character id in
///   every row and every index entry (7 of them per task). `runs.run_id` stays the run's name,
///   unique; `tags` and `step_summary`, a few rows per run, keep it.
/// - Digests in those tables are 32-byte BLOBs instead of 64 hex digits: `tasks.manifest`,
///   `foreach_items`, `component`; `attempts.stdout`, `stderr`; `task_cache.scope`, `item` (and
///   so its index).
///
/// SQLite cannot change a table's key in place, so the four tables are built anew (indexes and
/// all, under the same names) and the rows copied: run with foreign keys off (they cannot be
/// switched inside a transaction, and dropping the old `runs` would otherwise delete every
/// task), checked with `PRAGMA foreign_key_check` before the version is written.
const V11: &str = "CREATE TABLE runs_v11 (
    id          INTEGER PRIMARY KEY,
    run_id      TEXT    NOT NULL UNIQUE,
    flow        TEXT    NOT NULL,
    component   TEXT    NOT NULL,
    params      TEXT    NOT NULL,
    spec        TEXT    NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    started_ms  INTEGER NOT NULL,
    finished_ms INTEGER,
    error       TEXT,
    origin_run  TEXT,
    user        TEXT    NOT NULL,
    kind        TEXT    NOT NULL DEFAULT 'run' CHECK (kind IN ('run', 'step_run'))
);
INSERT INTO runs_v11 (run_id, flow, component, params, spec, status, started_ms, finished_ms,
                      error, origin_run, user, kind)
SELECT run_id, flow, component, params, spec, status, started_ms, finished_ms, error,
       origin_run, user, kind FROM runs ORDER BY started_ms, run_id;
CREATE TABLE tasks_v11 (
    run            INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    task_id        INTEGER NOT NULL,
    step           TEXT    NOT NULL,
    foreach_path   TEXT    NOT NULL,
    inputs         TEXT    NOT NULL,
    status         TEXT    NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    started_ms     INTEGER NOT NULL,
    finished_ms    INTEGER,
    manifest       BLOB,
    attempts       INTEGER NOT NULL DEFAULT 0,
    origin_run     TEXT,
    origin_task    INTEGER,
    foreach_items  BLOB,
    component      BLOB,
    manifest_bytes BLOB,
    cached         INTEGER NOT NULL DEFAULT 0,
    item_key       TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (run, task_id)
) WITHOUT ROWID;
INSERT INTO tasks_v11
SELECT r.id, t.task_id, t.step, t.foreach_path, t.inputs, t.status, t.started_ms, t.finished_ms,
       unhex(t.manifest), t.attempts, t.origin_run, t.origin_task, unhex(t.foreach_items),
       unhex(t.component), t.manifest_bytes, t.cached, t.item_key
FROM tasks t JOIN runs_v11 r ON r.run_id = t.run_id;
CREATE TABLE attempts_v11 (
    run          INTEGER NOT NULL,
    task_id      INTEGER NOT NULL,
    attempt      INTEGER NOT NULL,
    status       TEXT    NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    started_ms   INTEGER NOT NULL,
    finished_ms  INTEGER,
    error        TEXT,
    stdout       BLOB,
    stderr       BLOB,
    stdout_bytes BLOB,
    stderr_bytes BLOB,
    PRIMARY KEY (run, task_id, attempt),
    FOREIGN KEY (run, task_id) REFERENCES tasks (run, task_id) ON DELETE CASCADE
) WITHOUT ROWID;
INSERT INTO attempts_v11
SELECT r.id, a.task_id, a.attempt, a.status, a.started_ms, a.finished_ms, a.error,
       unhex(a.stdout), unhex(a.stderr), a.stdout_bytes, a.stderr_bytes
FROM attempts a JOIN runs_v11 r ON r.run_id = a.run_id;
CREATE TABLE task_cache_v11 (
    run     INTEGER NOT NULL,
    task_id INTEGER NOT NULL,
    scope   BLOB    NOT NULL,
    item    BLOB    NOT NULL,
    reads   TEXT    NOT NULL,
    PRIMARY KEY (run, task_id),
    FOREIGN KEY (run, task_id) REFERENCES tasks (run, task_id) ON DELETE CASCADE
) WITHOUT ROWID;
INSERT INTO task_cache_v11
SELECT r.id, c.task_id, unhex(c.scope), unhex(c.item), c.reads
FROM task_cache c JOIN runs_v11 r ON r.run_id = c.run_id;
DROP TABLE task_cache;
DROP TABLE attempts;
DROP TABLE tasks;
DROP TABLE runs;
ALTER TABLE runs_v11 RENAME TO runs;
ALTER TABLE tasks_v11 RENAME TO tasks;
ALTER TABLE attempts_v11 RENAME TO attempts;
ALTER TABLE task_cache_v11 RENAME TO task_cache;
CREATE INDEX runs_by_flow ON runs (flow, started_ms);
CREATE INDEX runs_by_started ON runs (started_ms);
CREATE INDEX runs_by_flow_status ON runs (flow, status, started_ms);
CREATE INDEX tasks_by_step ON tasks (run, step);
CREATE INDEX tasks_by_item_key ON tasks (run, step, item_key);
CREATE INDEX tasks_by_duration
    ON tasks (run, step, COALESCE(finished_ms - started_ms, 9223372036854775807));
CREATE INDEX tasks_by_status ON tasks (run, step, status);
CREATE INDEX tasks_by_started ON tasks (run, step, started_ms);
CREATE INDEX tasks_by_attempts ON tasks (run, step, attempts);
CREATE INDEX task_cache_by_key ON task_cache (scope, item);
";

/// The SQL that builds version `version` of the schema in an empty file, for tests of upgrades
/// from older files (which then set `PRAGMA user_version` and fill the tables as that version
/// did). Panics past [`SCHEMA_VERSION`].
#[doc(hidden)]
pub fn schema_sql(version: usize) -> String {
    MIGRATIONS[..version].concat()
}

/// The schema version stored in the file (0 for a new, empty file).
pub(crate) fn version(conn: &Connection, path: &Path) -> Result<i64> {
    conn.query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(|e| MetadataError::sqlite(path, "reading the schema version", e))
}

/// Brings the database up to [`SCHEMA_VERSION`], or refuses a newer one.
///
/// The check and the migrations run in one write transaction, so two processes opening a new
/// file at the same moment do not both create it, and a crash mid-way leaves the old version.
/// Foreign keys are off while they run (a migration that rebuilds a table drops the old one:
/// with them on, dropping `runs` would delete every task), and checked before the commit.
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    let found = version(conn, path)?;
    check_not_newer(path, found)?;
    if found == SCHEMA_VERSION {
        // The common case takes no write lock, so opening never waits for another writer.
        return Ok(());
    }
    let err = |e| MetadataError::sqlite(path, "upgrading the schema", e);
    // Only outside a transaction does this pragma take effect.
    let keys_on: bool = conn
        .query_row("PRAGMA foreign_keys", [], |row| row.get(0))
        .map_err(err)?;
    conn.pragma_update(None, "foreign_keys", false)
        .map_err(err)?;
    let migrated = migrate_in_transaction(conn, path);
    conn.pragma_update(None, "foreign_keys", keys_on)
        .map_err(err)?;
    migrated
}

fn migrate_in_transaction(conn: &mut Connection, path: &Path) -> Result<()> {
    let err = |e| MetadataError::sqlite(path, "upgrading the schema", e);
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(err)?;
    // Read again under the lock: another process may have migrated in between.
    let found = version(&tx, path)?;
    check_not_newer(path, found)?;
    if found == SCHEMA_VERSION {
        return Ok(());
    }
    for (from, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tx.execute_batch(sql).map_err(|e| {
            MetadataError::sqlite(
                path,
                format!("upgrading the schema to version {}", from + 1),
                e,
            )
        })?;
    }
    let broken: Option<String> = tx
        .query_row("PRAGMA foreign_key_check", [], |row| row.get(0))
        .optional()
        .map_err(err)?;
    if let Some(table) = broken {
        return Err(MetadataError::corrupt(
            path,
            format!("the rows of `{table}` after upgrading the schema"),
            "a row names a run or task that is not recorded",
        ));
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)
        .map_err(err)?;
    tx.commit().map_err(err)
}

fn check_not_newer(path: &Path, found: i64) -> Result<()> {
    if found > SCHEMA_VERSION {
        return Err(MetadataError::SchemaTooNew {
            path: path.to_path_buf(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_once_and_refuses_newer() {
        let path = Path::new(":memory:");
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn, path).unwrap();
        assert_eq!(version(&conn, path).unwrap(), SCHEMA_VERSION);
        migrate(&mut conn, path).unwrap();

        let tables: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(
            tables,
            [
                "attempts",
                "runs",
                "step_summary",
                "tags",
                "task_cache",
                "tasks"
            ]
        );

        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        let err = migrate(&mut conn, path).unwrap_err();
        assert!(
            matches!(err, MetadataError::SchemaTooNew { found, .. } if found == SCHEMA_VERSION + 1)
        );
    }
}
