//! [`LocalDisk`]: a [`BlobStore`] in a local directory, one file per object.
//!
//! # How a write works
//!
//! The bytes go to a new file in `root/tmp/`, which is then *hard-linked* to `root/<key>` and
//! unlinked from `tmp/`. `link(2)` refuses to replace an existing name, atomically and across
//! processes, so of two writers of the same key exactly one gets `true` and the other finds the key
//! present and drops its copy; readers only ever see complete files. Parent directories are created
//! on the first write under them.
//!
//! On a filesystem without hard links (some network and FAT filesystems) the store falls back to
//! `rename(2)` after checking the key is absent: still atomic for readers, and the object is still
//! complete and, under a content-addressed key, identical, but two racing writers may then both
//! report `true`.
//!
//! # Durability
//!
//! By default nothing is fsynced: a crash of the *process* at any point leaves either the whole
//! object or no object, but a power loss or kernel crash may lose recent writes or leave empty
//! files.
//! [`LocalDisk::with_sync`] trades speed for durability. Files left in `tmp/` by a crash are
//! harmless; [`LocalDisk::clean_scratch`] removes them.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::backend::{BlobStore, ObjectInfo, validate_key, validate_prefix};
use crate::temp::{self, TempPath};
use crate::{Result, StoreError};

/// Name of the scratch directory under the root; keys under it are reserved.
pub const SCRATCH_DIR: &str = "tmp";

/// A store in a local directory (see the [crate docs](crate) for its layout).
#[derive(Clone, Debug)]
pub struct LocalDisk {
    root: PathBuf,
    scratch: PathBuf,
    sync: bool,
}

impl LocalDisk {
    /// Opens (creating if needed, with parents) a store rooted at `root`. Errors clearly if `root`
    /// exists and is a file (StoreError::NotADirectory{path}), or is not writable
    /// (StoreError::NotWritable{path, source}: check by creating+removing a probe file in
    /// `root/tmp/`).
    ///
    /// A relative `root` is made absolute against the current directory.
    pub fn open(root: &Path) -> Result<LocalDisk> {
        let root = std::path::absolute(root).map_err(|source| StoreError::NotWritable {
            path: root.to_path_buf(),
            source,
        })?;
        match fs::metadata(&root) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Err(StoreError::NotADirectory { path: root }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir_all(&root).map_err(|e| cannot_create(&root, e))?;
            }
            Err(e) => return Err(cannot_create(&root, e)),
        }
        let scratch = root.join(SCRATCH_DIR);
        match fs::create_dir(&scratch) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                if !scratch.is_dir() {
                    return Err(StoreError::NotADirectory { path: scratch });
                }
            }
            Err(source) => return Err(StoreError::NotWritable { path: root, source }),
        }
        let not_writable = |source| StoreError::NotWritable {
            path: scratch.clone(),
            source,
        };
        let (probe_file, probe) = TempPath::create(&scratch, "probe").map_err(not_writable)?;
        drop(probe_file);
        probe.remove().map_err(not_writable)?;
        Ok(LocalDisk {
            root,
            scratch,
            sync: false,
        })
    }

    /// The store's root directory (absolute).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// With `sync`, every write is flushed to the device (file, then directory) before it counts as
    /// done, so it survives a power loss. Off by default: it makes writes several times slower.
    pub fn with_sync(mut self, sync: bool) -> LocalDisk {
        self.sync = sync;
        self
    }

    /// Removes temporary files left in `root/tmp/` by dead writers (a crash, kill -9), and returns
    /// how many were removed. A file is removed when it was last changed at least `older_than`
    /// ago and no live process holds it: each writer keeps its file locked while it writes, and
    /// the lock dies with the process. Where the filesystem cannot lock, only files older than an
    /// hour are removed. Blobs a garbage collection moved aside (see `gc`) and left there when
    /// it was killed are removed too. `wflow run` and `resume` call this with one minute.
    pub fn clean_scratch(&self, older_than: Duration) -> Result<usize> {
        let io_err = |e| StoreError::io(self.scratch.display(), e);
        let now = SystemTime::now();
        let mut removed = 0;
        for entry in fs::read_dir(&self.scratch).map_err(io_err)? {
            let entry = entry.map_err(io_err)?;
            let Ok(meta) = entry.metadata() else { continue };
            let age = meta
                .modified()
                .ok()
                .and_then(|m| now.duration_since(m).ok());
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let ours = name.ends_with(temp::SUFFIX);
            // A blob a garbage collection moved aside and was killed before removing.
            let trash = name.ends_with(gc::TRASH_SUFFIX);
            let old = |min: Duration| age.is_some_and(|a| a >= min);
            let abandoned = || match temp::is_abandoned(&entry.path()) {
                Some(abandoned) => abandoned,
                None => old(Duration::from_secs(3600)),
            };
            if meta.is_file() && old(older_than) && (trash || ours && abandoned()) {
                temp::remove_if_present(&entry.path()).map_err(io_err)?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// The file of `key`, after checking the key.
    fn path_of(&self, key: &str) -> Result<PathBuf> {
        validate_key(key)?;
        if key == SCRATCH_DIR || key.starts_with("tmp/") {
            let reason = "keys under `tmp/` are reserved for the store's scratch files";
            return Err(StoreError::InvalidKey {
                key: key.to_string(),
                reason,
            });
        }
        Ok(self.root.join(key))
    }

    /// Makes the complete file `src` (on the store's filesystem) appear at `target` unless
    /// something is there already; `src` itself stays (unless the rename fallback moved it).
    fn publish(&self, src: &Path, target: &Path) -> io::Result<bool> {
        let parent = target.parent().expect("a key has at least one component");
        let mut created_parent = false;
        loop {
            match fs::hard_link(src, target) {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    if fs::symlink_metadata(target).is_ok_and(|m| m.is_dir()) {
                        let why =
                            "a directory already has this name (a key cannot also be a prefix)";
                        return Err(io::Error::new(io::ErrorKind::IsADirectory, why));
                    }
                    return Ok(false);
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound && !created_parent => {
                    fs::create_dir_all(parent)?;
                    created_parent = true;
                }
                Err(e) if no_hard_links(&e) => {
                    if fs::symlink_metadata(target).is_ok() {
                        return Ok(false);
                    }
                    fs::create_dir_all(parent)?;
                    fs::rename(src, target)?;
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        if self.sync {
            // The new name, and any directories created for it, must reach the disk too.
            let mut dir = parent;
            loop {
                File::open(dir)?.sync_all()?;
                match dir.parent() {
                    Some(up) if created_parent && dir != self.root => dir = up,
                    _ => break,
                }
            }
        }
        Ok(true)
    }

    /// Walks the files whose keys start with `prefix` (see [`walk`]).
    fn walk_prefix(
        &self,
        prefix: &str,
        found: &mut dyn FnMut(String, &fs::DirEntry) -> Result<()>,
    ) -> Result<()> {
        validate_prefix(prefix)?;
        // Start in the deepest directory the prefix names in full.
        let dir_key = prefix.rfind('/').map_or("", |i| &prefix[..=i]);
        walk(&self.root.join(dir_key), dir_key, prefix, found)
    }

    /// After `key`'s file was removed, removes the directories it leaves empty below the
    /// top-level one (`live/<run>/`, `tasks-v1/<run>/`), but never a blob fan-out directory,
    /// where a writer may be about to link a new blob.
    fn remove_empty_parents(&self, key: &str) {
        if key.starts_with(crate::BLOBS_PREFIX) {
            return;
        }
        let mut dir = Path::new(key).parent();
        while let Some(d) = dir.filter(|d| d.components().count() >= 2) {
            if fs::remove_dir(self.root.join(d)).is_err() {
                break; // not empty, or gone
            }
            dir = d.parent();
        }
    }

    /// A new temporary file in the scratch directory.
    fn temp(&self, tag: &str) -> Result<(File, TempPath)> {
        TempPath::create(&self.scratch, tag).map_err(|e| StoreError::io(self.scratch.display(), e))
    }
}

/// Whether `link(2)` failed because the filesystem has no (more) hard links.
fn no_hard_links(e: &io::Error) -> bool {
    use io::ErrorKind::*;
    matches!(e.kind(), PermissionDenied | Unsupported | TooManyLinks)
}

/// Whether an error opening an object means there is no object.
fn absent(e: &io::Error) -> bool {
    use io::ErrorKind::*;
    matches!(e.kind(), NotFound | NotADirectory | IsADirectory)
}

/// Whether an object file is at `path`.
fn is_file(path: &Path) -> Result<bool> {
    match fs::metadata(path) {
        Ok(meta) => Ok(meta.is_file()),
        Err(e) if absent(&e) => Ok(false),
        Err(e) => Err(StoreError::io(path.display(), e)),
    }
}

/// The error for a root that cannot be created: a file in the way, or no permission.
fn cannot_create(root: &Path, source: io::Error) -> StoreError {
    for ancestor in root.ancestors() {
        if let Ok(meta) = fs::metadata(ancestor) {
            if !meta.is_dir() {
                return StoreError::NotADirectory {
                    path: ancestor.to_path_buf(),
                };
            }
            break;
        }
    }
    StoreError::NotWritable {
        path: root.to_path_buf(),
        source,
    }
}

/// Where [`LocalDisk::quarantine`](BlobStore::quarantine) moves blobs that failed verification.
pub const QUARANTINE_DIR: &str = "quarantine";

impl BlobStore for LocalDisk {
    /// Renames the file to `quarantine/<key with / as _>.<ms>` under the store root (kept for
    /// inspection, never read again).
    fn quarantine(&self, key: &str) -> Result<Option<String>> {
        let from = self.path_of(key)?;
        let name = format!("{}.{}", key.replace('/', "_"), wflow_core::now_millis());
        let dir = self.root.join(QUARANTINE_DIR);
        let to = dir.join(&name);
        match fs::create_dir_all(&dir).and_then(|_| fs::rename(&from, &to)) {
            Ok(()) => Ok(Some(format!("{QUARANTINE_DIR}/{name}"))),
            // Another reader moved it first.
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io(from.display(), e)),
        }
    }

    fn put_if_absent(&self, key: &str, bytes: &[u8]) -> Result<bool> {
        let target = self.path_of(key)?;
        if gc::touch(&target)? {
            return Ok(false); // the common case for deduplicated blobs: skip the write
        }
        let (mut file, temp) = self.temp("put")?;
        let io_err = |e| StoreError::io(temp.path().display(), e);
        file.write_all(bytes).map_err(io_err)?;
        if self.sync {
            file.sync_data().map_err(io_err)?;
        }
        drop(file);
        self.publish(temp.path(), &target)
            .map_err(|e| StoreError::io(target.display(), e))
    }

    fn put_file_if_absent(&self, key: &str, file: &Path) -> Result<bool> {
        let target = self.path_of(key)?;
        let file_err = |e| StoreError::io(file.display(), e);
        let wrote = if gc::touch(&target)? {
            false
        } else {
            fs::metadata(file).map_err(file_err)?; // name the source if it is missing
            if self.sync {
                File::open(file)
                    .and_then(|f| f.sync_data())
                    .map_err(file_err)?;
            }
            match self.publish(file, &target) {
                Err(e) if e.kind() == io::ErrorKind::CrossesDevices => {
                    // Another filesystem: copy into scratch first, then publish the copy.
                    let (copy, temp) = self.temp("copy")?;
                    drop(copy);
                    fs::copy(file, temp.path()).map_err(file_err)?;
                    if self.sync {
                        File::open(temp.path())
                            .and_then(|f| f.sync_data())
                            .map_err(file_err)?;
                    }
                    self.publish(temp.path(), &target)
                }
                other => other,
            }
            .map_err(|e| StoreError::io(target.display(), e))?
        };
        temp::remove_if_present(file).map_err(file_err)?;
        Ok(wrote)
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        // One allocation of the size the metadata gives (see `read` for how it is filled).
        self.get_with(key, &mut |_| {})
    }

    fn get_with(&self, key: &str, sink: &mut (dyn FnMut(&[u8]) + Send)) -> Result<Option<Vec<u8>>> {
        let path = self.path_of(key)?;
        let io_err = |e| StoreError::io(path.display(), e);
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if absent(&e) => return Ok(None),
            Err(e) => return Err(io_err(e)),
        };
        let meta = file.metadata().map_err(io_err)?;
        if !meta.is_file() {
            return Ok(None);
        }
        let len =
            usize::try_from(meta.len()).map_err(|_| io_err(io::ErrorKind::OutOfMemory.into()))?;
        // Written once, so the size cannot change; a file that was truncated or appended to behind
        // the store's back yields bytes whose hash does not match, or that it does not cover.
        read::read_all(&file, len, sink).map(Some).map_err(io_err)
    }

    fn open(&self, key: &str) -> Result<Option<Box<dyn Read + Send>>> {
        let path = self.path_of(key)?;
        let io_err = |e| StoreError::io(path.display(), e);
        match File::open(&path) {
            Ok(file) if file.metadata().map_err(io_err)?.is_file() => Ok(Some(Box::new(file))),
            Ok(_) => Ok(None),
            Err(e) if absent(&e) => Ok(None),
            Err(e) => Err(io_err(e)),
        }
    }

    fn exists(&self, key: &str) -> Result<bool> {
        is_file(&self.path_of(key)?)
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let mut keys = Vec::new();
        self.walk_prefix(prefix, &mut |key, _| {
            keys.push(key);
            Ok(())
        })?;
        keys.sort_unstable();
        Ok(keys)
    }

    /// Sizes and modification times from each file's metadata.
    fn list_info(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        let mut out = Vec::new();
        self.walk_prefix(prefix, &mut |key, entry| {
            // A file removed since the directory was read is not listed.
            if let Ok(meta) = entry.metadata() {
                out.push(ObjectInfo {
                    key,
                    size: meta.len(),
                    modified_ms: gc::modified_ms(&meta),
                });
            }
            Ok(())
        })?;
        out.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// Sets the file's modification time to now (see [`gc`]).
    fn refresh(&self, key: &str) -> Result<bool> {
        gc::touch(&self.path_of(key)?)
    }

    fn delete(&self, keys: &[String]) -> Result<()> {
        for key in keys {
            let path = self.path_of(key)?;
            match fs::remove_file(&path) {
                Ok(()) => self.remove_empty_parents(key),
                Err(e) if absent(&e) => {}
                Err(e) => return Err(StoreError::io(path.display(), e)),
            }
        }
        Ok(())
    }

    /// Moves each file aside, then removes it only if its time is still before `before_ms`
    /// (else puts it back): see [`gc`].
    fn delete_stale(&self, keys: &[String], before_ms: i64) -> Result<Vec<String>> {
        let mut removed = Vec::new();
        for key in keys {
            if gc::remove_if_stale(self, &self.path_of(key)?, before_ms)? {
                self.remove_empty_parents(key);
                removed.push(key.clone());
            }
        }
        Ok(removed)
    }

    fn scratch_dir(&self) -> &Path {
        &self.scratch
    }

    fn summary(&self) -> String {
        format!("local directory {}", self.root.display())
    }
}

/// Passes to `found` the key and directory entry of each file under `dir` (whose keys start with
/// `dir_key`) whose key starts with `prefix`.
fn walk(
    dir: &Path,
    dir_key: &str,
    prefix: &str,
    found: &mut dyn FnMut(String, &fs::DirEntry) -> Result<()>,
) -> Result<()> {
    let io_err = |e| StoreError::io(dir.display(), e);
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if absent(&e) => return Ok(()),
        Err(e) => return Err(io_err(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io_err)?;
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue; // not UTF-8: not a key this store wrote
        };
        if dir_key.is_empty() && name == SCRATCH_DIR {
            continue;
        }
        let key = format!("{dir_key}{name}");
        let kind = entry.file_type().map_err(io_err)?;
        if kind.is_dir() {
            let sub = format!("{key}/");
            if sub.starts_with(prefix) || prefix.starts_with(&sub) {
                walk(&entry.path(), &sub, prefix, found)?;
            }
        } else if kind.is_file() && key.starts_with(prefix) {
            found(key, &entry)?;
        }
    }
    Ok(())
}

mod gc;
mod read;
#[cfg(test)]
mod tests;
