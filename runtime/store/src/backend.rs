//! [`BlobStore`]: write-once bytes by key, the interface every storage backend implements.
//!
//! A backend knows nothing about digests or artifacts; [`Cas`](crate::Cas) builds content
//! addressing on top of it. Keys are relative `/`-separated paths (see [`validate_key`]), so the
//! same key works as a file path under a local directory and as an object name in an object store.

use std::io::Read;
use std::path::Path;

use crate::{Result, StoreError};

/// An object as [`BlobStore::list_info`] lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Its key.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
    /// When it was last written or refreshed ([`BlobStore::refresh`]), in milliseconds since the
    /// Unix epoch.
    pub modified_ms: i64,
}

/// Longest key accepted, in bytes.
pub const MAX_KEY_LEN: usize = 1024;

/// Bytes by key. Keys are relative '/'-separated paths like "blobs-v1/ab/abcd…". Written once:
/// never overwritten.
///
/// Implementations must be safe to share between threads, and between processes using the same
/// store: two writers of one key must leave exactly one complete object behind.
pub trait BlobStore: Send + Sync + 'static {
    /// Stores bytes under key unless the key exists. Returns true if this call wrote it. Atomic: a
    /// reader never sees a partial object.
    fn put_if_absent(&self, key: &str, bytes: &[u8]) -> Result<bool>;

    /// Same, taking ownership of a finished local file (moved/renamed or uploaded, then removed).
    ///
    /// The file is gone when this returns `Ok`, whether or not this call wrote the key.
    fn put_file_if_absent(&self, key: &str, file: &Path) -> Result<bool>;

    /// Whole object, or Ok(None) if absent.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>>;

    /// Like [`get`](Self::get), and also passes every byte of the object, in order, to `sink`.
    ///
    /// [`Cas`](crate::Cas) hashes through `sink` to verify what it reads. A backend may override
    /// this to hash each piece while it is still in the CPU cache, or on another thread while it
    /// reads the rest; the default reads the whole object, then passes it in one call.
    fn get_with(&self, key: &str, sink: &mut (dyn FnMut(&[u8]) + Send)) -> Result<Option<Vec<u8>>> {
        let bytes = self.get(key)?;
        if let Some(bytes) = &bytes {
            sink(bytes);
        }
        Ok(bytes)
    }

    /// A streaming reader over the object, or Ok(None).
    fn open(&self, key: &str) -> Result<Option<Box<dyn Read + Send>>>;

    /// Whether an object is stored under `key`.
    fn exists(&self, key: &str) -> Result<bool>;

    /// Keys under a prefix (sorted).
    ///
    /// The prefix is a plain string prefix, as in object stores: `"blobs-v1/a"` matches
    /// `"blobs-v1/ab/…"`; `""` lists every key.
    fn list(&self, prefix: &str) -> Result<Vec<String>>;

    /// A local directory where temporary files for this store may be created (same filesystem as
    /// the store for local disk, so rename is atomic).
    fn scratch_dir(&self) -> &Path;

    /// One line for humans, e.g. "local directory /home/x/proj/.wflow".
    fn summary(&self) -> String;

    /// Whether an object is stored under `key`, and if so marks it as just used, so that a
    /// garbage collection that began before now does not remove it (the writer that
    /// deduplicates against it, or reuses it, is about to record a reference to it). Where the
    /// backend cannot mark it, the default only checks that it exists.
    fn refresh(&self, key: &str) -> Result<bool> {
        self.exists(key)
    }

    /// Like [`list`](Self::list), with each object's size and time of last write or refresh.
    /// Backends that cannot tell say [`StoreError::Unsupported`].
    fn list_info(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        let _ = prefix;
        Err(unsupported(self, "list objects with their times"))
    }

    /// Removes the objects under `keys` (absent ones are not an error). Only garbage collection
    /// deletes anything; backends that cannot say [`StoreError::Unsupported`].
    fn delete(&self, keys: &[String]) -> Result<()> {
        let _ = keys;
        Err(unsupported(self, "delete objects"))
    }

    /// Removes the objects under `keys` that were last written or refreshed before
    /// `before_ms`, and returns the keys removed. An object refreshed or written again after it
    /// was listed stays where the backend can tell (a local directory checks each file's time
    /// after moving it aside); the default deletes every key given.
    fn delete_stale(&self, keys: &[String], before_ms: i64) -> Result<Vec<String>> {
        let _ = before_ms;
        self.delete(keys)?;
        Ok(keys.to_vec())
    }

    /// Moves the object under `key` out of the way after its bytes failed verification, so the
    /// next writer of the same content stores it afresh instead of deduplicating against the
    /// damaged copy. Returns where it went, or `None` where the backend cannot (the default:
    /// wflow never deletes or overwrites objects on S3).
    fn quarantine(&self, key: &str) -> Result<Option<String>> {
        let _ = key;
        Ok(None)
    }
}

/// [`StoreError::Unsupported`] naming `store`.
fn unsupported<S: BlobStore + ?Sized>(store: &S, action: &'static str) -> StoreError {
    StoreError::Unsupported {
        backend: store.summary(),
        action,
    }
}

/// Checks that `key` is a valid store key: a non-empty relative path of `/`-separated components,
/// none empty, `.` or `..`, without `\` or NUL, at most [`MAX_KEY_LEN`] bytes.
pub fn validate_key(key: &str) -> Result<()> {
    let bad = |reason| {
        Err(StoreError::InvalidKey {
            key: key.to_string(),
            reason,
        })
    };
    if key.is_empty() {
        return bad("a key cannot be empty");
    }
    if key.ends_with('/') {
        return bad("a key cannot end with `/`");
    }
    validate_prefix(key)
}

/// Checks that `prefix` is a valid [`BlobStore::list`] prefix: like a key, except that it may be
/// empty, end with `/`, or end in the middle of a component.
pub fn validate_prefix(prefix: &str) -> Result<()> {
    let bad = |reason| {
        Err(StoreError::InvalidKey {
            key: prefix.to_string(),
            reason,
        })
    };
    if prefix.len() > MAX_KEY_LEN {
        return bad("a key cannot be longer than 1024 bytes");
    }
    if prefix.starts_with('/') {
        return bad("a key is relative: it cannot start with `/`");
    }
    if prefix.contains(['\\', '\0']) {
        return bad("a key cannot contain `\\` or NUL");
    }
    // A trailing '/' is fine in a prefix; every component before it must be a real name.
    let body = prefix.strip_suffix('/').unwrap_or(prefix);
    if body.is_empty() {
        return Ok(());
    }
    for part in body.split('/') {
        if part.is_empty() {
            return bad("a key cannot contain an empty component (`//`)");
        }
        if part == "." || part == ".." {
            return bad("a key cannot contain `.` or `..` components");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_keys() {
        for key in [
            "a",
            "blobs-v1/ab/abcd",
            "x/y.z/w",
            "runs/2026/a-b_c",
            "a..b",
            ".hidden/x",
        ] {
            validate_key(key).unwrap_or_else(|e| panic!("{key}: {e}"));
        }
    }

    #[test]
    fn bad_keys() {
        let long = "a/".repeat(600);
        for key in [
            "", "/abs", "a//b", "a/", "..", "a/../b", "./a", "a/.", "a\\b", "a\0b", &long,
        ] {
            let err = validate_key(key).unwrap_err();
            assert!(
                matches!(&err, StoreError::InvalidKey { key: k, .. } if k == key),
                "{key}: {err}"
            );
        }
    }

    #[test]
    fn prefixes() {
        for p in ["", "blobs-v1/", "blobs-v1/a", "b", "a/b/"] {
            validate_prefix(p).unwrap_or_else(|e| panic!("{p}: {e}"));
        }
        for p in ["/", "a//", "../", "a/../", "a/./b", "/x", "."] {
            assert!(validate_prefix(p).is_err(), "{p} should be rejected");
        }
    }
}
