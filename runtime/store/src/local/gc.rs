//! What garbage collection needs of a local directory: a blob's time of last use, and removal
//! that never loses a blob a writer has just started to rely on.
//!
//! A writer that finds the blob it would write already there (deduplication), or that reuses an
//! existing blob (`wflow resume`), sets the file's modification time to now ([`touch`]). The
//! collector removes only files whose time is older than its cutoff, and to close the window
//! between reading that time and removing the file, it first *renames* the file into `tmp/`,
//! then reads the time of the renamed file: a writer that touched the blob before the rename
//! shows in that time (the file is linked back), and a writer that comes after the rename finds
//! no blob and writes it again ([`remove_if_stale`]).

use std::fs::{self, File};
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::{LocalDisk, absent};
use crate::{Result, StoreError};

/// Whether a file is at `path`; if so, sets its modification time to now. A file this process
/// may read but not change (a store shared read-only) counts as present.
pub(super) fn touch(path: &Path) -> Result<bool> {
    let io_err = |e| StoreError::io(path.display(), e);
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if absent(&e) => return Ok(false),
        Err(e) => return Err(io_err(e)),
    };
    if !file.metadata().map_err(io_err)?.is_file() {
        return Ok(false);
    }
    match file.set_modified(SystemTime::now()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => Ok(true),
        Err(e) => Err(io_err(e)),
    }
}

/// A file's modification time in milliseconds since the Unix epoch (0 when unknown).
pub(super) fn modified_ms(meta: &fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis() as i64)
}

/// The suffix of a file moved aside by [`remove_if_stale`] (removed by the next collection if a
/// crash left it).
pub(crate) const TRASH_SUFFIX: &str = ".gc-trash";

/// Removes the file at `path` if its modification time is before `before_ms`; returns whether
/// it did. See the [module docs](self) for why it renames first.
pub(super) fn remove_if_stale(store: &LocalDisk, path: &Path, before_ms: i64) -> Result<bool> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let trash = store.scratch.join(format!(
        "{}-{}{TRASH_SUFFIX}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    match fs::rename(path, &trash) {
        Ok(()) => {}
        Err(e) if absent(&e) => return Ok(false),
        Err(e) => return Err(StoreError::io(path.display(), e)),
    }
    let trash_err = |e| StoreError::io(trash.display(), e);
    let meta = match fs::metadata(&trash) {
        Ok(meta) => meta,
        // `clean_scratch` removed it meanwhile, which it does only to an old file.
        Err(e) if absent(&e) => return Ok(true),
        Err(e) => return Err(trash_err(e)),
    };
    let stale = modified_ms(&meta) < before_ms;
    if !stale {
        // Used since it was listed: back where it was (unless a writer has put it back already).
        match fs::hard_link(&trash, path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(StoreError::io(path.display(), e)),
        }
    }
    match fs::remove_file(&trash) {
        Err(e) if !absent(&e) => Err(trash_err(e)),
        _ => Ok(stale),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BlobStore;
    use std::time::Duration;

    fn age(store: &LocalDisk, key: &str, by: Duration) {
        let f = File::open(store.root().join(key)).unwrap();
        f.set_modified(SystemTime::now() - by).unwrap();
    }

    #[test]
    fn a_deduplicated_write_refreshes_the_blob_and_stale_removal_spares_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalDisk::open(dir.path()).unwrap();
        let hour = Duration::from_secs(3600);
        store.put_if_absent("blobs-v1/aa/x", b"x").unwrap();
        store.put_if_absent("blobs-v1/bb/y", b"y").unwrap();
        age(&store, "blobs-v1/aa/x", 2 * hour);
        age(&store, "blobs-v1/bb/y", 2 * hour);
        let listed = store.list_info("blobs-v1/").unwrap();
        assert_eq!(listed.len(), 2);
        let cutoff = wflow_core::now_millis() - hour.as_millis() as i64;
        assert!(listed.iter().all(|o| o.modified_ms < cutoff && o.size == 1));
        // A writer deduplicates against x after the listing: it is refreshed, so it stays.
        assert!(!store.put_if_absent("blobs-v1/aa/x", b"x").unwrap());
        let keys: Vec<String> = listed.into_iter().map(|o| o.key).collect();
        let removed = store.delete_stale(&keys, cutoff).unwrap();
        assert_eq!(removed, ["blobs-v1/bb/y"]);
        assert_eq!(store.get("blobs-v1/aa/x").unwrap().unwrap(), b"x");
        assert!(!store.exists("blobs-v1/bb/y").unwrap());
        // Nothing is left in scratch; gone keys are not an error.
        assert_eq!(fs::read_dir(store.scratch_dir()).unwrap().count(), 0);
        assert!(store.delete_stale(&keys, cutoff).unwrap().is_empty());
        // `refresh` of an absent key says so.
        assert!(!store.refresh("blobs-v1/bb/y").unwrap());
        assert!(store.refresh("blobs-v1/aa/x").unwrap());
    }

    #[test]
    fn delete_removes_files_and_the_directories_they_leave_empty() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalDisk::open(dir.path()).unwrap();
        store.put_if_absent("live/r1/1-0.stdout", b"o").unwrap();
        store.put_if_absent("live/r1.lock", b"").unwrap();
        store.put_if_absent("live/r2/1-0.stdout", b"o").unwrap();
        store.put_if_absent("blobs-v1/cc/z", b"z").unwrap();
        store
            .delete(&[
                "live/r1/1-0.stdout".into(),
                "live/r1.lock".into(),
                "blobs-v1/cc/z".into(),
                "live/nothing".into(),
            ])
            .unwrap();
        assert!(!dir.path().join("live/r1").exists());
        assert!(dir.path().join("live/r2").exists());
        // A blob fan-out directory stays for the next writer.
        assert!(dir.path().join("blobs-v1/cc").is_dir());
        assert_eq!(store.list("").unwrap(), ["live/r2/1-0.stdout"]);
    }
}
