//! Temporary files with names unique across threads and processes, removed when dropped.
//!
//! A name is `<tag>-<salt>-<pid>-<counter>.tmp`: the salt is 64 random bits drawn once per process
//! (so two machines sharing a store over a network filesystem, or two containers with the same pid,
//! do not collide), the counter is per process. Files are created with `create_new`, so even a
//! collision could never make two writers share a file: the loser just draws the next name.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The suffix of every temporary file.
pub(crate) const SUFFIX: &str = ".tmp";

/// A file in a scratch directory that is removed when this value is dropped, unless it was already
/// moved away.
#[derive(Debug)]
pub(crate) struct TempPath {
    path: PathBuf,
}

impl TempPath {
    /// Creates a new empty file in `dir`, open for writing and locked (`flock`) for as long as
    /// the returned `File` is open, so [`is_abandoned`] can tell a live writer's file from one a
    /// dead process left.
    pub(crate) fn create(dir: &Path, tag: &str) -> io::Result<(File, TempPath)> {
        loop {
            let path = dir.join(unique_name(tag));
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => {
                    // A filesystem without locks only loses the early clean-up of dead writers'
                    // files; they are still removed by age.
                    let _ = file.try_lock();
                    return Ok((file, TempPath { path }));
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Where the file is.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the file now, reporting failure (a missing file is not a failure).
    pub(crate) fn remove(mut self) -> io::Result<()> {
        // Take the path out before skipping `Drop`: forgetting `self` with its path leaked the
        // path's allocation (found by LeakSanitizer in the `manifest` fuzz target).
        let path = std::mem::take(&mut self.path);
        std::mem::forget(self);
        remove_if_present(&path)
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = remove_if_present(&self.path);
    }
}

/// Removes `path`; a file that is already gone is fine.
pub(crate) fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Whether no live process holds the scratch file at `path`: its writer locked it when creating
/// it, and a lock dies with its process (even by kill -9). `None` if the filesystem cannot say.
pub(crate) fn is_abandoned(path: &Path) -> Option<bool> {
    let file = File::open(path).ok()?;
    match file.try_lock() {
        Ok(()) => Some(true),
        Err(fs::TryLockError::WouldBlock) => Some(false),
        Err(fs::TryLockError::Error(_)) => None,
    }
}

/// A file name no other thread or process will pick.
fn unique_name(tag: &str) -> String {
    static SALT: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let salt = *SALT.get_or_init(|| {
        let mut bytes = [0u8; 8];
        if getrandom::fill(&mut bytes).is_err() {
            // No OS randomness: the clock still separates processes that reuse a pid.
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            bytes = nanos.to_le_bytes();
        }
        u64::from_le_bytes(bytes)
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{tag}-{salt:016x}-{}-{n}{SUFFIX}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique_across_threads() {
        let names: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| (0..1000).map(|_| unique_name("t")).collect::<Vec<_>>()))
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect()
        });
        let set: HashSet<&String> = names.iter().collect();
        assert_eq!(set.len(), 8000);
        assert!(names[0].starts_with("t-") && names[0].ends_with(SUFFIX));
    }

    #[test]
    fn removed_on_drop_unless_moved() {
        let dir = tempfile::tempdir().unwrap();
        let (_, temp) = TempPath::create(dir.path(), "a").unwrap();
        let path = temp.path().to_path_buf();
        assert!(path.is_file());
        drop(temp);
        assert!(!path.exists());

        let (_, temp) = TempPath::create(dir.path(), "b").unwrap();
        let moved = dir.path().join("kept");
        fs::rename(temp.path(), &moved).unwrap();
        temp.remove().unwrap(); // already gone: fine
        assert!(moved.is_file());
    }
}
