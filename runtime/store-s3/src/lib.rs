//! The S3 backend of the wflow store: a [`BlobStore`](wflow_store::BlobStore) in any
//! S3-compatible bucket, through aws-sdk-s3.
//!
//! This crate owns moving bytes to and from S3 — connections, credentials, retries, multipart
//! uploads and ranged reads. Content addressing, deduplication by digest and verification on read
//! are the [`Cas`](wflow_store::Cas)'s, written once above every backend; what a run *is* belongs
//! to `wflow-metadata`. It is a crate of its own so that the AWS SDK's compile time is paid only by
//! what uses it.
//!
//! # Layout
//!
//! A store at `s3://bucket/prefix` keeps each store key under the prefix, exactly as
//! [`LocalDisk`](wflow_store::LocalDisk) keeps it under its root:
//!
//! ```text
//! s3://bucket/prefix/
//! ├── blobs-v1/3f/3fa4…e1        every blob (artifact values, manifests, logs, components)
//! └── records-v1/…               the run records, when wflow-metadata keeps them in the store
//! ```
//!
//! There is no `tmp/`: objects appear whole or not at all on S3 itself.
//!
//! # Semantics, as the `BlobStore` contract asks
//!
//! - **Write once, deduplicated**: a `HEAD` first, and no upload if the key exists. The upload
//!   carries `If-None-Match: *` where the server honours it; correctness does not rest on it,
//!   since blob keys name their content (a second identical upload replaces bytes with the same
//!   bytes) and every other key wflow writes is unique to its writer.
//! - **Atomic**: a single `PUT` is atomic on S3; a value above the part size goes up as a multipart
//!   upload whose object appears only when `CompleteMultipartUpload` succeeds. An interrupted
//!   upload leaves nothing visible (failed uploads are aborted; docs/s3.md has the lifecycle rule
//!   for what a crash leaves).
//! - **Fast**: parts upload in parallel from the file or the slice, never copying more than the
//!   parts in flight; large reads fetch ranges in parallel, pinned to one ETag; every request
//!   shares one bound, `max_concurrency`. Retries with exponential backoff on throttling, 5xx and
//!   network errors are the SDK's standard retry mode.
//! - **Checked**: a CRC32 checksum goes with every upload and part (the server rejects a body
//!   that does not match); an upload counts as stored only once verified (the server's checksum
//!   of what it received, or a read-back), and deduplication skips an upload only for an object
//!   of the right size and checksum (see `verify.rs`); the `Cas` verifies the BLAKE3 digest of
//!   everything read.
//! - **Callable from anywhere**: the store owns a small tokio runtime and waits for it without
//!   `block_on`, so it works from plain threads, `spawn_blocking` threads and async tasks of
//!   another runtime alike.
//!
//! # Example
//!
//! ```no_run
//! use std::sync::Arc;
//! use wflow_store::Cas;
//! use wflow_store_s3::{S3Config, S3Store};
//!
//! let mut config = S3Config::new("s3://team-data/wflow");
//! config.endpoint = Some("http://127.0.0.1:9000".into()); // an S3-compatible server
//! config.path_style = true;
//! let store = S3Store::open(&config)?; // credentials: the standard AWS chain
//! let cas = Cas::new(Arc::new(store));
//! let digest = cas.put(b"hello")?;
//! assert_eq!(cas.get(&digest)?, b"hello");
//! # Ok::<(), wflow_store::StoreError>(())
//! ```
#![deny(missing_docs)]

mod bridge;
mod config;
mod error;
mod gc;
mod reader;
mod store;
mod transfer;
mod verify;

#[cfg(feature = "testing")]
pub mod testing;

pub use config::{
    Checksums, DEFAULT_MAX_ATTEMPTS, DEFAULT_MAX_CONCURRENCY, DEFAULT_PART_SIZE_MIB, S3Config,
    S3Url,
};
pub use gc::REFRESH_AFTER;
pub use store::S3Store;
