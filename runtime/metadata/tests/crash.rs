//! A writer process killed at a random moment leaves a consistent database.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use wflow_metadata::{Metadata, Recorder, Status};

const CHILD: &str = "WFLOW_METADATA_CRASH_TEST_DB";

/// In the child process: record tasks forever, until killed.
fn write_forever(path: &Path) -> ! {
    let recorder = Recorder::new(Arc::new(Metadata::open(path).unwrap()));
    recorder.send(run_started("R", "F", 1));
    for t in 0.. {
        recorder.send(task_started("R", t, "fan", &[t as u32], &[]));
        recorder.send(attempt_started("R", t, 0));
        recorder.send(attempt_finished("R", t, 0, Status::Failed));
        recorder.send(attempt_started("R", t, 1));
        recorder.send(attempt_finished("R", t, 1, Status::Succeeded));
        recorder.send(task_finished("R", t, Status::Succeeded));
        if t % 256 == 255 {
            recorder.flush().unwrap(); // keep the queue (and memory) bounded
        }
    }
    unreachable!()
}

/// Kills the child if the test fails before it does, so no writer outlives the test.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn count(conn: &rusqlite::Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |row| row.get(0)).unwrap()
}

#[test]
fn a_killed_writer_leaves_a_consistent_database() {
    if let Some(path) = std::env::var_os(CHILD) {
        write_forever(Path::new(&path));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.db");
    drop(Metadata::open(&path).unwrap());
    let exe = std::env::current_exe().unwrap();
    let mut child = KillOnDrop(
        Command::new(exe)
            .args([
                "--exact",
                "a_killed_writer_leaves_a_consistent_database",
                "--test-threads=1",
            ])
            .env(CHILD, &path)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );

    // Read from this process while the child writes, and kill it mid-stream.
    let meta = Metadata::open(&path).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while meta.tasks("R").unwrap().len() < 2_000 {
        assert!(Instant::now() < deadline, "the child wrote too slowly");
        assert!(
            child.0.try_wait().unwrap().is_none(),
            "the child exited early"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(child); // SIGKILL, mid-batch or between batches
    drop(meta);

    let meta = Metadata::open(&path).unwrap();
    let tasks = meta.tasks("R").unwrap();
    assert!(tasks.len() >= 2_000);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let ok: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    assert_eq!(
        count(&conn, "SELECT count(*) FROM pragma_foreign_key_check"),
        0
    );
    // Every attempt start bumped its task's count in the same transaction.
    let mismatched = "SELECT count(*) FROM tasks t WHERE t.attempts != (SELECT count(*) \
                      FROM attempts a WHERE a.run = t.run AND a.task_id = t.task_id)";
    assert_eq!(count(&conn, mismatched), 0);
    // Task ids were sent in order, so the recorded ones have no gaps.
    let ids: Vec<u64> = tasks.iter().map(|t| t.task_id).collect();
    assert_eq!(ids, (0..tasks.len() as u64).collect::<Vec<_>>());
}
