//! Whether a run recorded as running still has a process: a lock file the process running it
//! holds (an OS advisory lock, released by the OS however the process ends).
//!
//! A run's record says `running` from its start until its process records the end. A process
//! that is killed never does, so the record alone cannot tell a live run from a dead one; the
//! lock can. Runs started by `wflow run`, `wflow resume` and `wflow step-run --persist` hold one.

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};

use crate::logs::LIVE_DIR;

/// The lock file of run `run_id`: `<store_root>/live/<run_id>.lock`.
pub fn run_lock_path(store_root: &Path, run_id: &str) -> PathBuf {
    store_root.join(LIVE_DIR).join(format!("{run_id}.lock"))
}

/// A held run lock: the run's process is alive while it exists. Dropping it removes the file.
#[derive(Debug)]
pub struct RunLock {
    path: PathBuf,
    _file: File,
}

impl RunLock {
    /// Creates and locks the lock file of `run_id` (call before the run is recorded).
    pub fn hold(store_root: &Path, run_id: &str) -> std::io::Result<RunLock> {
        let path = run_lock_path(store_root, run_id);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        file.try_lock().map_err(|e| match e {
            TryLockError::Error(e) => e,
            TryLockError::WouldBlock => {
                std::io::Error::other(format!("{} is locked by another process", path.display()))
            }
        })?;
        let _ = std::fs::write(&path, format!("{}\n", std::process::id()));
        Ok(RunLock { path, _file: file })
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Whether the process of a run recorded as running is still there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Liveness {
    /// A process holds the run's lock: it is running.
    Alive,
    /// The run's lock is there but no process holds it: its process died (killed, crashed).
    Gone,
    /// The run has no lock file (it was not started by a command that takes one, or it ended).
    Unknown,
}

/// The liveness of run `run_id` of the store at `store_root`.
pub fn liveness(store_root: &Path, run_id: &str) -> Liveness {
    let path = run_lock_path(store_root, run_id);
    let Ok(file) = File::open(&path) else {
        return Liveness::Unknown;
    };
    match file.try_lock() {
        Ok(()) => Liveness::Gone,
        Err(TryLockError::WouldBlock) => Liveness::Alive,
        Err(TryLockError::Error(_)) => Liveness::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_is_alive_a_dropped_one_unknown_a_stale_one_gone() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(liveness(dir.path(), "R"), Liveness::Unknown);
        let lock = RunLock::hold(dir.path(), "R").unwrap();
        assert_eq!(liveness(dir.path(), "R"), Liveness::Alive);
        assert!(
            RunLock::hold(dir.path(), "R").is_err(),
            "one holder at a time"
        );
        drop(lock);
        assert_eq!(liveness(dir.path(), "R"), Liveness::Unknown);
        // What a killed process leaves: the file, unlocked.
        std::fs::write(run_lock_path(dir.path(), "R"), "123\n").unwrap();
        assert_eq!(liveness(dir.path(), "R"), Liveness::Gone);
    }
}
