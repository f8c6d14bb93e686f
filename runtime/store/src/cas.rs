//! [`Cas`]: content addressing over any [`BlobStore`].
//!
//! A blob's key is derived from the BLAKE3 digest of its bytes, so equal values are stored once and
//! every read can be checked: [`Cas::get`], [`Cas::get_artifact`] and [`BlobReader`] all verify
//! the bytes against the digest before handing them out, and report [`StoreError::Corrupt`] (naming
//! the digest and the key) when they do not match.

use std::io::Cursor;
use std::sync::Arc;

use wflow_core::Digest;

use crate::backend::BlobStore;
use crate::manifest::{ArtifactRef, INLINE_MAX, Manifest};
use crate::stream::{BlobReader, BlobWriter};
use crate::{Result, StoreError};

/// The key prefix of every blob; the `v1` changes if the key scheme ever does.
pub const BLOBS_PREFIX: &str = "blobs-v1/";

/// The content-addressed store: blobs by digest, artifacts and manifests on top of a backend.
///
/// Cheap to clone (the backend is shared), and safe to use from many threads at once.
#[derive(Clone)]
pub struct Cas {
    backend: Arc<dyn BlobStore>,
}

impl std::fmt::Debug for Cas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cas")
            .field("backend", &self.backend.summary())
            .finish()
    }
}

impl Cas {
    /// A content-addressed store over `backend`.
    pub fn new(backend: Arc<dyn BlobStore>) -> Cas {
        Cas { backend }
    }

    /// The backend, for operations on keys of its own.
    pub fn backend(&self) -> &Arc<dyn BlobStore> {
        &self.backend
    }

    /// Key of a blob: "blobs-v1/<first 2 hex>/<64 hex>".
    pub fn blob_key(digest: &Digest) -> String {
        let hex = digest.to_hex();
        format!("{BLOBS_PREFIX}{}/{hex}", &hex[..2])
    }

    /// The digest a blob key names, or `None` if `key` is not a blob key.
    pub fn digest_of_key(key: &str) -> Option<Digest> {
        let (fan, hex) = key.strip_prefix(BLOBS_PREFIX)?.split_once('/')?;
        let digest: Digest = hex.parse().ok()?;
        (fan.len() == 2 && hex.starts_with(fan) && hex == digest.to_hex()).then_some(digest)
    }

    /// Hash + store (deduplicated: skip write if present). Returns the digest.
    pub fn put(&self, bytes: &[u8]) -> Result<Digest> {
        let digest = Digest::of(bytes);
        self.backend
            .put_if_absent(&Self::blob_key(&digest), bytes)?;
        Ok(digest)
    }

    /// Read + verify the hash (StoreError::Corrupt{digest, key} on mismatch,
    /// StoreError::NotFound{digest} if absent).
    pub fn get(&self, digest: &Digest) -> Result<Vec<u8>> {
        let key = Self::blob_key(digest);
        let mut hasher = Digest::hasher();
        let bytes = self
            .backend
            .get_with(&key, &mut |piece| {
                hasher.update(piece);
            })?
            .ok_or(StoreError::NotFound { digest: *digest })?;
        if Digest::from_hasher(&hasher) != *digest {
            // Out of the way, so the next run that produces these bytes stores them again.
            let _ = self.backend.quarantine(&key);
            return Err(StoreError::Corrupt {
                digest: *digest,
                key,
            });
        }
        Ok(bytes)
    }

    /// Whether the blob is stored (without reading or verifying it).
    pub fn contains(&self, digest: &Digest) -> Result<bool> {
        self.backend.exists(&Self::blob_key(digest))
    }

    /// Whether the blob is stored; if so, marks it as just used (see
    /// [`BlobStore::refresh`]): what a writer that reuses a blob without writing it (a resumed
    /// run taking an earlier task's outputs) does before recording a reference to it.
    pub fn refresh(&self, digest: &Digest) -> Result<bool> {
        self.backend.refresh(&Self::blob_key(digest))
    }

    /// Digests of every blob in the store, sorted.
    pub fn list_blobs(&self) -> Result<Vec<Digest>> {
        let keys = self.backend.list(BLOBS_PREFIX)?;
        Ok(keys.iter().filter_map(|k| Self::digest_of_key(k)).collect())
    }

    /// Artifact value → ArtifactRef: inline if bytes.len() <= INLINE_MAX (no blob written), else a
    /// blob.
    pub fn put_artifact(&self, bytes: &[u8], codec: &str) -> Result<ArtifactRef> {
        let (digest, inline) = if bytes.len() <= INLINE_MAX {
            (Digest::of(bytes), Some(bytes.to_vec()))
        } else {
            (self.put(bytes)?, None)
        };
        Ok(ArtifactRef {
            digest,
            size: bytes.len() as u64,
            codec: codec.to_string(),
            inline,
        })
    }

    /// Bytes of an artifact (inline or blob), verified against ref.digest and ref.size.
    pub fn get_artifact(&self, r: &ArtifactRef) -> Result<Vec<u8>> {
        let bytes = match &r.inline {
            Some(bytes) => {
                if Digest::of(bytes) != r.digest {
                    return Err(StoreError::InlineCorrupt { digest: r.digest });
                }
                bytes.clone()
            }
            None => self.get(&r.digest)?,
        };
        if bytes.len() as u64 != r.size {
            return Err(StoreError::SizeMismatch {
                digest: r.digest,
                expected: r.size,
                actual: bytes.len() as u64,
            });
        }
        Ok(bytes)
    }

    /// Streaming write: returns a writer that hashes as it goes into a temp file in scratch_dir.
    ///
    /// The temp file is only created once the value outgrows [`INLINE_MAX`]; smaller values stay
    /// in memory and end up inline.
    pub fn writer(&self) -> Result<BlobWriter> {
        Ok(BlobWriter::new(self.backend.clone()))
    }

    /// Streaming read of an artifact, verifying the hash when the end is reached (error from read()
    /// if corrupt).
    ///
    /// That error is an [`std::io::Error`] of kind `InvalidData` wrapping the [`StoreError`]
    /// ([`StoreError::from_io`] gets it back). A missing blob is reported here, as
    /// [`StoreError::NotFound`].
    pub fn reader(&self, r: &ArtifactRef) -> Result<BlobReader> {
        match &r.inline {
            Some(bytes) => Ok(BlobReader::new(
                Box::new(Cursor::new(bytes.clone())),
                r,
                None,
            )),
            None => {
                let key = Self::blob_key(&r.digest);
                let inner = self
                    .backend
                    .open(&key)?
                    .ok_or(StoreError::NotFound { digest: r.digest })?;
                Ok(BlobReader::new(inner, r, Some(key)).quarantining_in(self.backend.clone()))
            }
        }
    }

    /// Stores a manifest, always as a blob (never inline), and returns its digest.
    pub fn put_manifest(&self, m: &Manifest) -> Result<Digest> {
        self.put(&m.to_cbor()?)
    }

    /// Reads and verifies a manifest (StoreError::BadManifest{digest, reason} if it does not
    /// decode).
    pub fn get_manifest(&self, d: &Digest) -> Result<Manifest> {
        Manifest::from_cbor(d, &self.get(d)?)
    }
}

#[cfg(test)]
mod tests;
