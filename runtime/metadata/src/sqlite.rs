//! [`Metadata`]: one SQLite connection to the database file, and the writing of events.

use std::os::raw::c_int;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior, ffi, params};

use crate::merge::{self, AttemptRow, Op, TaskRow};
use crate::{Event, MetadataError, Result, schema};

/// How long a statement waits for another connection's write lock before failing.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A handle on the metadata database: run, task and attempt records in one SQLite file.
///
/// Cheap to share behind an `Arc`; calls from several threads take turns on the one connection.
/// Several handles (in one process or several) may use the same file at once: readers never wait,
/// writers take turns, waiting up to [`BUSY_TIMEOUT`] for each other.
pub struct Metadata {
    pub(crate) conn: Mutex<Connection>,
    pub(crate) path: PathBuf,
}

impl std::fmt::Debug for Metadata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metadata")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Metadata {
    /// Opens or creates the SQLite file (parent dir must exist), applies the schema (versioned
    /// with `PRAGMA user_version`; a newer version is refused with
    /// [`MetadataError::SchemaTooNew`]), WAL mode.
    ///
    /// The connection uses WAL journaling with `synchronous=NORMAL` (a crash or power loss may
    /// lose the last transactions but never leaves a half-written one), foreign keys on, and a
    /// busy timeout of [`BUSY_TIMEOUT`].
    pub fn open(path: &Path) -> Result<Metadata> {
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
        if let Some(parent) = parent.filter(|p| !p.is_dir()) {
            return Err(MetadataError::MissingParent {
                path: path.to_path_buf(),
                parent: parent.to_path_buf(),
            });
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)
            .map_err(|e| MetadataError::sqlite(path, "opening", e))?;
        Self::setup(conn, path)
    }

    /// A private database in memory, gone when dropped (for tests of code that records runs).
    pub fn open_in_memory() -> Result<Metadata> {
        let path = Path::new(":memory:");
        let conn =
            Connection::open_in_memory().map_err(|e| MetadataError::sqlite(path, "opening", e))?;
        Self::setup(conn, path)
    }

    /// Configures a new connection: the busy timeout first, then the journal mode, pragmas and
    /// schema, each idempotent. Several processes may open a new file at the same moment: the
    /// switch to WAL needs the file's exclusive lock, and SQLite answers `SQLITE_BUSY` at once,
    /// without waiting in the busy handler, to a connection that would otherwise deadlock with
    /// another (both holding a shared lock, both wanting the exclusive one). So the whole set-up
    /// is retried on a busy or locked database, for up to [`BUSY_TIMEOUT`].
    fn setup(mut conn: Connection, path: &Path) -> Result<Metadata> {
        let err = |e| MetadataError::sqlite(path, "configuring the connection", e);
        conn.busy_timeout(BUSY_TIMEOUT).map_err(err)?;
        let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
        let mut pause = Duration::from_millis(1);
        loop {
            match configure(&mut conn, path) {
                Err(e) if is_busy(&e) && std::time::Instant::now() < deadline => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Err(e) => return Err(e),
                Ok(()) => break,
            }
        }
        Ok(Metadata {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Applies events in order in one transaction (the updates of a row created in the same
    /// batch folded into its insert: see [`merge`]).
    ///
    /// All or nothing: if one event fails (say a task of a run that was never started), none of
    /// them is recorded and the error names the culprit.
    pub fn record(&self, events: &[Event]) -> Result<()> {
        let mut conn = self.lock();
        let err = |e| MetadataError::sqlite(&self.path, "recording events", e);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        // Each task's share of its step's summary as it was before the batch (no event changes
        // a share before the task's first event in the batch: see `summary::note`).
        let mut touched = crate::summary::Touched::default();
        for event in events {
            crate::summary::note(&tx, &self.path, &mut touched, event)?;
            // A task started in the batch had no share before it (had it been recorded, its
            // start would fail the batch).
            crate::summary::applied(&mut touched, event);
        }
        let ops = merge::merge(events);
        for op in &ops {
            match op {
                Op::Event(event) => apply(&tx, &self.path, event)?,
                Op::Task(row) => insert_task(&tx, &self.path, row)?,
                Op::Attempt(row) => insert_attempt(&tx, &self.path, row)?,
            }
        }
        let known = crate::summary::shares_of_rows(&ops);
        crate::summary::flush(&tx, &self.path, &touched, known)?;
        tx.commit().map_err(err)
    }

    /// Like [`record`](Self::record), but a failing event is skipped (its effects undone) and
    /// the others are still recorded, in one transaction; returns the first failure.
    ///
    /// This is what the [`Recorder`](crate::Recorder) uses: its batches are cut wherever the
    /// writer thread happens to wake up, so losing a whole batch for one bad event would lose an
    /// arbitrary set of good ones.
    pub fn record_skipping_failures(&self, events: &[Event]) -> Result<()> {
        // The fast path: everything goes in. Only when it does not are events isolated.
        if self.record(events).is_ok() {
            return Ok(());
        }
        // Otherwise isolate each event in a savepoint. (If the strict pass failed for a passing
        // reason, such as a lock held past the busy timeout, this pass may well succeed.)
        let mut conn = self.lock();
        let err = |e| MetadataError::sqlite(&self.path, "recording events", e);
        let mut tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let mut first = None;
        let mut touched = crate::summary::Touched::default();
        for event in events {
            crate::summary::note(&tx, &self.path, &mut touched, event)?;
            let sp = tx.savepoint().map_err(err)?;
            match apply(&sp, &self.path, event) {
                Ok(()) => {
                    sp.commit().map_err(err)?;
                    crate::summary::applied(&mut touched, event);
                }
                Err(e) => {
                    if sp.is_autocommit() {
                        // SQLite rolled the whole transaction back (disk full, I/O error...).
                        return Err(e);
                    }
                    sp.finish().map_err(err)?;
                    first.get_or_insert(e);
                }
            }
        }
        crate::summary::flush(&tx, &self.path, &touched, Default::default())?;
        tx.commit().map_err(err)?;
        first.map_or(Ok(()), Err)
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave the connection half-way through a
        // transaction (rusqlite rolls back on drop), so a poisoned lock is still usable.
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The extended result code of a constraint violation.
fn constraint(e: &rusqlite::Error) -> Option<c_int> {
    match e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            Some(f.extended_code)
        }
        _ => None,
    }
}

fn is_duplicate(e: &rusqlite::Error) -> bool {
    matches!(
        constraint(e),
        Some(ffi::SQLITE_CONSTRAINT_PRIMARYKEY | ffi::SQLITE_CONSTRAINT_UNIQUE)
    )
}

/// A row naming a run or task that is not recorded: a task's or attempt's missing parent row
/// (a foreign key), or a run id with no key ([`run_key!`]: `NULL` into `run NOT NULL`).
fn is_missing_parent_row(e: &rusqlite::Error) -> bool {
    matches!(
        constraint(e),
        Some(ffi::SQLITE_CONSTRAINT_FOREIGNKEY | ffi::SQLITE_CONSTRAINT_NOTNULL)
    )
}

/// A digest as the records keep it (schema version 11): its 32 bytes.
pub(crate) fn blob(d: &Option<wflow_core::Digest>) -> Option<&[u8]> {
    d.as_ref().map(|d| &d.0[..])
}

/// Applies one event.
/// The connection's pragmas and schema; safe to run again after any failure.
fn configure(conn: &mut Connection, path: &Path) -> Result<()> {
    let err = |e| MetadataError::sqlite(path, "configuring the connection", e);
    // The first statement that reads the file: a file that is not SQLite fails here. Only a
    // file not yet in WAL mode (a new one) is switched, which takes its exclusive lock.
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .map_err(err)?;
    if !mode.eq_ignore_ascii_case("wal") && !mode.eq_ignore_ascii_case("memory") {
        let _mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(err)?;
    }
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(err)?;
    conn.pragma_update(None, "foreign_keys", true)
        .map_err(err)?;
    schema::migrate(conn, path)
}

/// Whether `e` is another connection holding a lock (worth trying again).
fn is_busy(e: &MetadataError) -> bool {
    matches!(e, MetadataError::Sqlite { source, .. }
        if matches!(source.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)))
}

fn apply(conn: &Connection, path: &Path, event: &Event) -> Result<()> {
    let sql_err =
        |what: String| move |e| MetadataError::sqlite(path, format!("recording {what}"), e);
    let run_missing = |run_id: &str| MetadataError::UnknownRun {
        path: path.to_path_buf(),
        run_id: run_id.to_string(),
    };
    let task_missing = |run_id: &str, task_id: u64| MetadataError::UnknownTask {
        path: path.to_path_buf(),
        run_id: run_id.to_string(),
        task_id,
    };
    let attempt_missing =
        |run_id: &str, task_id: u64, attempt: u32| MetadataError::UnknownAttempt {
            path: path.to_path_buf(),
            run_id: run_id.to_string(),
            task_id,
            attempt,
        };
    let duplicate = |what: String| MetadataError::AlreadyRecorded {
        path: path.to_path_buf(),
        what,
    };
    match event {
        Event::RunStarted {
            run_id,
            flow,
            component,
            params,
            spec,
            started_ms,
            origin_run,
            user,
            kind,
        } => {
            let what = format!("run `{run_id}`");
            let mut st = conn
                .prepare_cached(
                    "INSERT INTO runs (run_id, flow, component, params, spec, status, started_ms,
                                       origin_run, user, kind)
                     VALUES (?1, ?2, ?3, ?4, ?5, 'running', ?6, ?7, ?8, ?9)",
                )
                .map_err(sql_err(what.clone()))?;
            let row = params![
                run_id,
                flow,
                component.to_hex(),
                params.to_string(),
                spec.to_string(),
                started_ms,
                origin_run,
                user,
                kind.as_str()
            ];
            st.execute(row).map_err(|e| {
                if is_duplicate(&e) {
                    duplicate(what.clone())
                } else {
                    sql_err(what.clone())(e)
                }
            })?;
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
            let mut st = conn
                .prepare_cached(concat!(
                    "INSERT INTO tasks (run, task_id, step, foreach_path, inputs, status,
                                            started_ms, item_key)
                         VALUES (",
                    run_key!(),
                    ", ?2, ?3, ?4, ?5, 'running', ?6, ?7)"
                ))
                .map_err(sql_err(what.clone()))?;
            let item_key = crate::item_key(foreach_path);
            let foreach_path = serde_json::to_string(foreach_path).expect("numbers serialise");
            let inputs = serde_json::to_string(inputs).expect("numbers serialise");
            let row = params![
                run_id,
                task_id,
                step,
                foreach_path,
                inputs,
                started_ms,
                item_key
            ];
            st.execute(row).map_err(|e| {
                if is_duplicate(&e) {
                    duplicate(what.clone())
                } else if is_missing_parent_row(&e) {
                    run_missing(run_id)
                } else {
                    sql_err(what.clone())(e)
                }
            })?;
        }
        Event::AttemptStarted {
            run_id,
            task_id,
            attempt,
            started_ms,
        } => {
            let what = format!("attempt {attempt} of task {task_id} of run `{run_id}`");
            let mut st = conn
                .prepare_cached(concat!(
                    "INSERT INTO attempts (run, task_id, attempt, status, started_ms)
                         VALUES (",
                    run_key!(),
                    ", ?2, ?3, 'running', ?4)"
                ))
                .map_err(sql_err(what.clone()))?;
            st.execute(params![run_id, task_id, attempt, started_ms])
                .map_err(|e| {
                    if is_duplicate(&e) {
                        duplicate(what.clone())
                    } else if is_missing_parent_row(&e) {
                        task_missing(run_id, *task_id)
                    } else {
                        sql_err(what.clone())(e)
                    }
                })?;
            conn.prepare_cached(concat!(
                "UPDATE tasks SET attempts = attempts + 1 WHERE run = ",
                run_key!(),
                " AND task_id = ?2"
            ))
            .and_then(|mut st| st.execute(params![run_id, task_id]))
            .map_err(sql_err(what))?;
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
            let changed = conn
                .prepare_cached(concat!(
                    "UPDATE attempts SET status = ?4, finished_ms = ?5, error = ?6, stdout = ?7,
                                         stderr = ?8
                     WHERE run = ",
                    run_key!(),
                    " AND task_id = ?2 AND attempt = ?3"
                ))
                .and_then(|mut st| {
                    st.execute(params![
                        run_id,
                        task_id,
                        attempt,
                        status.as_str(),
                        finished_ms,
                        error,
                        blob(stdout),
                        blob(stderr)
                    ])
                })
                .map_err(sql_err(what.clone()))?;
            if changed == 0 {
                return Err(attempt_missing(run_id, *task_id, *attempt));
            }
            if let Some(started) = started_ms {
                conn.prepare_cached(concat!(
                    "UPDATE attempts SET started_ms = ?4 WHERE run = ",
                    run_key!(),
                    " AND task_id = ?2 AND attempt = ?3"
                ))
                .and_then(|mut st| st.execute(params![run_id, task_id, attempt, started]))
                .map_err(sql_err(what.clone()))?;
                if *attempt == 0 {
                    conn.prepare_cached(concat!(
                        "UPDATE tasks SET started_ms = ?3 WHERE run = ",
                        run_key!(),
                        " AND task_id = ?2"
                    ))
                    .and_then(|mut st| st.execute(params![run_id, task_id, started]))
                    .map_err(sql_err(what))?;
                }
            }
        }
        Event::TaskManifest {
            run_id,
            task_id,
            manifest,
        } => {
            let what = format!("the manifest of task {task_id} of run `{run_id}`");
            let changed = conn
                .prepare_cached(concat!(
                    "UPDATE tasks SET manifest_bytes = ?3 WHERE run = ",
                    run_key!(),
                    " AND task_id = ?2"
                ))
                .and_then(|mut st| st.execute(params![run_id, task_id, manifest]))
                .map_err(sql_err(what))?;
            if changed == 0 {
                return Err(task_missing(run_id, *task_id));
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
            let changed = conn
                .prepare_cached(concat!(
                    "UPDATE attempts SET stdout_bytes = ?4, stderr_bytes = ?5 WHERE run = ",
                    run_key!(),
                    " AND task_id = ?2 AND attempt = ?3"
                ))
                .and_then(|mut st| st.execute(params![run_id, task_id, attempt, stdout, stderr]))
                .map_err(sql_err(what))?;
            if changed == 0 {
                return Err(attempt_missing(run_id, *task_id, *attempt));
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
            let changed = conn
                .prepare_cached(concat!(
                    "UPDATE tasks SET status = ?3, finished_ms = ?4, manifest = ?5 WHERE run = ",
                    run_key!(),
                    " AND task_id = ?2"
                ))
                .and_then(|mut st| {
                    st.execute(params![
                        run_id,
                        task_id,
                        status.as_str(),
                        finished_ms,
                        blob(manifest)
                    ])
                })
                .map_err(sql_err(what))?;
            if changed == 0 {
                return Err(task_missing(run_id, *task_id));
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
            let changed = conn
                .prepare_cached(concat!(
                    "UPDATE tasks SET status = 'succeeded', finished_ms = ?3, manifest = ?4,
                                      origin_run = ?5, origin_task = ?6, component = ?7,
                                      cached = ?8
                     WHERE run = ",
                    run_key!(),
                    " AND task_id = ?2"
                ))
                .and_then(|mut st| {
                    st.execute(params![
                        run_id,
                        task_id,
                        finished_ms,
                        &manifest.0[..],
                        origin_run,
                        origin_task,
                        blob(component),
                        *reason == crate::ReuseReason::Cached
                    ])
                })
                .map_err(sql_err(what))?;
            if changed == 0 {
                return Err(task_missing(run_id, *task_id));
            }
        }
        Event::TaskReads {
            run_id,
            task_id,
            key,
            reads,
        } => {
            let what = format!("the reads of task {task_id} of run `{run_id}`");
            let mut st = conn
                .prepare_cached(concat!(
                    "INSERT INTO task_cache (run, task_id, scope, item, reads) VALUES (",
                    run_key!(),
                    ", ?2, ?3, ?4, ?5)"
                ))
                .map_err(sql_err(what.clone()))?;
            let reads = serde_json::to_string(reads).expect("reads serialise");
            let row = params![run_id, task_id, &key.scope.0[..], &key.item.0[..], reads];
            st.execute(row).map_err(|e| {
                if is_duplicate(&e) {
                    duplicate(what.clone())
                } else if is_missing_parent_row(&e) {
                    task_missing(run_id, *task_id)
                } else {
                    sql_err(what.clone())(e)
                }
            })?;
        }
        Event::ForeachItems {
            run_id,
            task_id,
            items,
        } => {
            let what = format!("the foreach items of task {task_id} of run `{run_id}`");
            let changed = conn
                .prepare_cached(concat!(
                    "UPDATE tasks SET foreach_items = ?3 WHERE run = ",
                    run_key!(),
                    " AND task_id = ?2"
                ))
                .and_then(|mut st| st.execute(params![run_id, task_id, &items.0[..]]))
                .map_err(sql_err(what))?;
            if changed == 0 {
                return Err(task_missing(run_id, *task_id));
            }
        }
        Event::RunFinished {
            run_id,
            status,
            finished_ms,
            error,
        } => {
            let what = format!("the end of run `{run_id}`");
            let changed = conn
                .prepare_cached(
                    "UPDATE runs SET status = ?2, finished_ms = ?3, error = ?4 WHERE run_id = ?1",
                )
                .and_then(|mut st| st.execute(params![run_id, status.as_str(), finished_ms, error]))
                .map_err(sql_err(what))?;
            if changed == 0 {
                return Err(run_missing(run_id));
            }
        }
    }
    Ok(())
}

/// Inserts a task's row as a batch's events left it (see [`merge`]).
fn insert_task(conn: &Connection, path: &Path, row: &TaskRow) -> Result<()> {
    let (run_id, task_id) = (row.run_id, row.task_id);
    let what = format!("task {task_id} of run `{run_id}`");
    let mut st = conn
        .prepare_cached(concat!(
            "INSERT INTO tasks (run, task_id, step, foreach_path, inputs, status, started_ms,
                                    finished_ms, manifest, attempts, foreach_items,
                                    manifest_bytes, origin_run, origin_task, component, cached,
                                    item_key)
                 VALUES (",
            run_key!(),
            ", ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)"
        ))
        .map_err(|e| MetadataError::sqlite(path, format!("recording {what}"), e))?;
    let foreach_path = serde_json::to_string(row.foreach_path).expect("numbers serialise");
    let inputs = serde_json::to_string(row.inputs).expect("numbers serialise");
    st.execute(params![
        run_id,
        task_id,
        row.step,
        foreach_path,
        inputs,
        row.status.as_str(),
        row.started_ms,
        row.finished_ms,
        blob(&row.manifest),
        row.attempts,
        blob(&row.foreach_items),
        row.manifest_bytes,
        row.origin_run,
        row.origin_task,
        blob(&row.component),
        row.cached,
        crate::item_key(row.foreach_path)
    ])
    .map_err(|e| {
        if is_duplicate(&e) {
            MetadataError::AlreadyRecorded {
                path: path.to_path_buf(),
                what,
            }
        } else if is_missing_parent_row(&e) {
            MetadataError::UnknownRun {
                path: path.to_path_buf(),
                run_id: run_id.to_string(),
            }
        } else {
            MetadataError::sqlite(path, format!("recording {what}"), e)
        }
    })?;
    Ok(())
}

/// Inserts an attempt's row as a batch's events left it (see [`merge`]), and counts it on its
/// task when the task's row was not in the batch.
fn insert_attempt(conn: &Connection, path: &Path, row: &AttemptRow) -> Result<()> {
    let (run_id, task_id, attempt) = (row.run_id, row.task_id, row.attempt);
    let what = format!("attempt {attempt} of task {task_id} of run `{run_id}`");
    let sql_err = |e| MetadataError::sqlite(path, format!("recording {what}"), e);
    let mut st = conn
        .prepare_cached(concat!(
            "INSERT INTO attempts (run, task_id, attempt, status, started_ms, finished_ms,
                                       error, stdout, stderr, stdout_bytes, stderr_bytes)
                 VALUES (",
            run_key!(),
            ", ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
        ))
        .map_err(sql_err)?;
    st.execute(params![
        run_id,
        task_id,
        attempt,
        row.status.as_str(),
        row.started_ms,
        row.finished_ms,
        row.error,
        blob(&row.stdout),
        blob(&row.stderr),
        row.stdout_bytes,
        row.stderr_bytes
    ])
    .map_err(|e| {
        if is_duplicate(&e) {
            MetadataError::AlreadyRecorded {
                path: path.to_path_buf(),
                what: what.clone(),
            }
        } else if is_missing_parent_row(&e) {
            MetadataError::UnknownTask {
                path: path.to_path_buf(),
                run_id: run_id.to_string(),
                task_id,
            }
        } else {
            sql_err(e)
        }
    })?;
    if row.count_on_task {
        conn.prepare_cached(concat!(
            "UPDATE tasks SET attempts = attempts + 1 WHERE run = ",
            run_key!(),
            " AND task_id = ?2"
        ))
        .and_then(|mut st| st.execute(params![run_id, task_id]))
        .map_err(sql_err)?;
    }
    Ok(())
}
