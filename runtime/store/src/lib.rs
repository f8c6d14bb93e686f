//! The content-addressed artifact store of wflow.
//!
//! This crate owns every byte wflow keeps for a run: artifact values and the per-task manifests
//! that name them. It has three layers:
//!
//! - [`BlobStore`]: write-once bytes by key, the interface of a storage backend. [`LocalDisk`]
//!   implements it on a local directory; an object-store backend implements the same trait.
//! - [`Cas`]: content addressing over any backend. Blobs are keyed by the BLAKE3 [`Digest`] of
//!   their bytes, so equal values are stored once and every read is verified
//!   ([`StoreError::Corrupt`] names the blob that fails). Values of at most [`INLINE_MAX`] bytes
//!   skip the blob and live inside their [`ArtifactRef`]; large values stream through
//!   [`BlobWriter`] and [`BlobReader`] without ever being held in memory whole.
//! - [`Manifest`]: per task, artifact name → [`ArtifactRef`], encoded as CBOR and stored as a
//!   blob, so one digest names a task's whole output.
//!
//! What a run and its tasks *are* (names, states, which manifest belongs to which task) is the
//! business of the metadata crate, which records manifest digests.
//!
//! # On-disk layout
//!
//! A [`LocalDisk`] store, usually `<project>/.wflow/`:
//!
//! ```text
//! <root>/
//! ├── blobs-v1/                  every blob, named by its digest (64 hex digits)
//! │   ├── 00/ … ff/              256 fan-out directories, created on first use
//! │   │   └── 3fa4…e1            a blob: exactly the bytes that hash to its name
//! │   └── …                      (artifact values and CBOR manifests alike)
//! ├── <other>/…                  keys other users of the backend store, if any
//! └── tmp/                       scratch: files being written, linked into place when
//!                                complete; leftovers of a crash are harmless
//! ```
//!
//! Any key is a path relative to the root; keys under `tmp/` are reserved.
//!
//! # Guarantees
//!
//! - **Atomic**: an object appears complete or not at all; readers never see a partial write.
//! - **Write once**: an existing key is never overwritten, so a blob never changes once written.
//! - **Concurrent**: threads and processes may write the same store, even the same blob, at once
//!   (see [`LocalDisk`] for how).
//! - **Verified**: [`Cas`] checks the digest (and the recorded size) of every value it returns.
//! - **Not durable by default**: a crashed process loses nothing it finished writing, but a power
//!   loss may; [`LocalDisk::with_sync`] adds fsyncs.
//!
//! # Example
//!
//! ```
//! use std::io::{Read, Write};
//! use std::sync::Arc;
//! use wflow_store::{Cas, INLINE_MAX, LocalDisk, Manifest};
//!
//! let dir = tempfile::tempdir()?;
//! let cas = Cas::new(Arc::new(LocalDisk::open(&dir.path().join(".wflow"))?));
//!
//! // A small value is kept inline; a large one becomes a blob.
//! let answer = cas.put_artifact(b"42", "raw")?;
//! assert!(answer.inline.is_some());
//! let big = cas.put_artifact(&vec![7u8; INLINE_MAX + 1], "raw")?;
//! assert!(cas.contains(&big.digest)?);
//!
//! // Or stream it in, without holding it in memory.
//! let mut w = cas.writer()?;
//! for _ in 0..100 {
//!     w.write_all(&[1u8; 1000])?;
//! }
//! let streamed = w.finish("raw")?;
//! assert_eq!(streamed.size, 100_000);
//!
//! // A task's manifest names its artifacts.
//! let mut m = Manifest::new();
//! m.artifacts.insert("answer".into(), answer);
//! m.artifacts.insert("big".into(), big);
//! m.artifacts.insert("streamed".into(), streamed);
//! let digest = cas.put_manifest(&m)?;
//!
//! // Later, perhaps in another process: every read is verified.
//! let m = cas.get_manifest(&digest)?;
//! assert_eq!(cas.get_artifact(&m.artifacts["answer"])?, b"42");
//! let mut bytes = Vec::new();
//! cas.reader(&m.artifacts["streamed"])?.read_to_end(&mut bytes)?;
//! assert_eq!(bytes, vec![1u8; 100_000]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod artifacts;
mod backend;
mod cas;
mod error;
mod local;
mod manifest;
mod stream;
mod temp;

pub use artifacts::{Artifacts, Entry, Iter, MAX_DEPTH, Shadow};
pub use backend::{BlobStore, MAX_KEY_LEN, ObjectInfo, validate_key, validate_prefix};
pub use cas::{BLOBS_PREFIX, Cas};
pub use error::{Result, StoreError};
pub use local::{LocalDisk, QUARANTINE_DIR, SCRATCH_DIR};
pub use manifest::{ArtifactRef, INLINE_MAX, MANIFEST_VERSION, Manifest};
pub use stream::{BlobReader, BlobWriter};
pub use wflow_core::Digest;
