//! What garbage collection (`wflow gc`) needs of S3: listing with sizes and times, batched
//! `DeleteObjects`, and refreshing a blob a writer relies on.
//!
//! S3 has no "touch": an object's `LastModified` changes only when it is written. A writer that
//! finds a blob already stored (deduplication, or a resumed run reusing it) refreshes it with a
//! `CopyObject` of the object onto itself (metadata replaced, bytes unchanged, done inside S3),
//! but only when its last write is older than [`REFRESH_AFTER`] — so a blob used by many tasks
//! costs one copy per quarter of an hour at most, and the collector, which removes only blobs
//! older than its grace period (a day by default, at least an hour), sees every blob a writer
//! came to rely on as recent.

use std::time::Duration;

use aws_sdk_s3::types::{Delete, MetadataDirective, ObjectIdentifier};
use wflow_store::{ObjectInfo, Result};

use crate::error::{other, status, to_store_error};
use crate::transfer::Inner;

/// A blob found by a writer is copied onto itself when its last write is older than this.
pub const REFRESH_AFTER: Duration = Duration::from_secs(15 * 60);

/// Keys per `DeleteObjects` request (S3's limit).
const DELETE_BATCH: usize = 1000;

impl Inner {
    /// Objects under a full prefix with their sizes and times, keys as stored (prefix and all).
    pub(crate) async fn list_info(&self, full_prefix: &str) -> Result<Vec<ObjectInfo>> {
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(full_prefix)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        loop {
            let page = {
                let _p = self.permit().await;
                pages.next().await
            };
            let Some(page) = page else { break };
            let page =
                page.map_err(|e| to_store_error(e, &self.target(full_prefix, "s3:ListBucket")))?;
            out.extend(page.contents().iter().filter_map(|o| {
                Some(ObjectInfo {
                    key: o.key()?.to_string(),
                    size: o.size().unwrap_or(0).max(0) as u64,
                    modified_ms: o.last_modified().and_then(|t| t.to_millis().ok())?,
                })
            }));
        }
        Ok(out)
    }

    /// Deletes full keys, up to 1,000 per request (absent keys are not an error).
    pub(crate) async fn delete_keys(&self, full: &[String]) -> Result<()> {
        for chunk in full.chunks(DELETE_BATCH) {
            let objects = chunk
                .iter()
                .map(|k| ObjectIdentifier::builder().key(k).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| {
                    other(
                        &self.url(&chunk[0]),
                        std::io::ErrorKind::InvalidInput,
                        e.to_string(),
                    )
                })?;
            let delete = Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
                .map_err(|e| {
                    other(
                        &self.url(&chunk[0]),
                        std::io::ErrorKind::InvalidInput,
                        e.to_string(),
                    )
                })?;
            let out = {
                let _p = self.permit().await;
                self.client
                    .delete_objects()
                    .bucket(&self.bucket)
                    .delete(delete)
                    .send()
                    .await
                    .map_err(|e| to_store_error(e, &self.target(&chunk[0], "s3:DeleteObject")))?
            };
            if let Some(e) = out.errors().first() {
                let key = e.key().unwrap_or(&chunk[0]);
                return Err(other(
                    &self.url(key),
                    std::io::ErrorKind::Other,
                    format!(
                        "DeleteObjects refused it: {} {} ({} of {} keys not deleted)",
                        e.code().unwrap_or("?"),
                        e.message().unwrap_or(""),
                        out.errors().len(),
                        chunk.len()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Whether the object exists; if its last write is older than [`REFRESH_AFTER`], copies it
    /// onto itself so it counts as recent (best effort: an object S3 cannot copy in one request,
    /// over 5 GB, stays as it is).
    pub(crate) async fn refresh(&self, full: &str) -> Result<bool> {
        let head = {
            let _p = self.permit().await;
            self.client
                .head_object()
                .bucket(&self.bucket)
                .key(full)
                .send()
                .await
        };
        let head = match head {
            Ok(h) => h,
            Err(e) if status(&e) == Some(404) => return Ok(false),
            Err(e) => return Err(to_store_error(e, &self.target(full, "s3:GetObject"))),
        };
        self.refresh_if_old(full, head.last_modified().and_then(|t| t.to_millis().ok()))
            .await;
        Ok(true)
    }

    /// Copies the object onto itself if `modified` (its `LastModified`) is older than
    /// [`REFRESH_AFTER`] or unknown.
    pub(crate) async fn refresh_if_old(&self, full: &str, modified: Option<i64>) {
        let old = modified
            .is_none_or(|m| wflow_core::now_millis() - m > REFRESH_AFTER.as_millis() as i64);
        if old {
            self.copy_onto_itself(full).await;
        }
    }

    /// Rewrites an object's metadata in place, which gives it a new `LastModified`.
    pub(crate) async fn copy_onto_itself(&self, full: &str) {
        let _p = self.permit().await;
        let source = format!("{}/{}", self.bucket, urlencode(full));
        let _ = self
            .client
            .copy_object()
            .bucket(&self.bucket)
            .key(full)
            .copy_source(source)
            .metadata_directive(MetadataDirective::Replace)
            .metadata("wflow-refreshed", wflow_core::now_millis().to_string())
            .send()
            .await;
    }
}

/// A key as `x-amz-copy-source` takes it: percent-encoded except `/` and unreserved characters.
fn urlencode(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
