//! What garbage collection (`wflow gc`) needs of S3: listing with sizes and times, batched
//! `DeleteObjects`, and refreshing a blob a writer relies on.
//!
//! S3 has no "touch": an object's `LastModified` changes only when it is written. A writer that
//! finds a blob already stored (deduplication, or a resumed run reusing it) refreshes it with a
//! `CopyObject` of the object onto itself (metadata replaced, bytes unchanged, done inside S3),
//! but only when its last write is older than [`REFRESH_AFTER`] — so a blob used by many tasks
//! costs one copy per quarter of an hour at most, and the collector, which removes only blobs
//! older than its grace period (a day by default; gc warns below an hour), sees every blob a writer
//! came to rely on as recent.
//!
//! Between listing the store and removing a blob, a writer may refresh it. So the collector
//! lists the range of keys of each batch again just before its `DeleteObjects`
//! ([`Inner::delete_stale_keys`]: one `ListObjectsV2` per 1,000 keys of the range, not a
//! `HEAD` per blob) and spares what was written since; and a writer whose copy finds the blob
//! gone (removed after its `HEAD`) writes it again.

use std::collections::{HashMap, HashSet};
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
        let mut out = Vec::new();
        self.each_listed(full_prefix, |o| {
            let info = || {
                Some(ObjectInfo {
                    key: o.key()?.to_string(),
                    size: o.size().unwrap_or(0).max(0) as u64,
                    modified_ms: o.last_modified().and_then(|t| t.to_millis().ok())?,
                })
            };
            out.extend(info());
        })
        .await?;
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
        Ok(self
            .refresh_if_old(full, head.last_modified().and_then(|t| t.to_millis().ok()))
            .await)
    }

    /// Copies the object onto itself if `modified` (its `LastModified`) is older than
    /// [`REFRESH_AFTER`] or unknown. False when the copy found the object gone (a collection
    /// removed it after it was found): the caller writes it again.
    pub(crate) async fn refresh_if_old(&self, full: &str, modified: Option<i64>) -> bool {
        let old = modified
            .is_none_or(|m| wflow_core::now_millis() - m > REFRESH_AFTER.as_millis() as i64);
        !old || self.copy_onto_itself(full).await
    }

    /// Rewrites an object's metadata in place, which gives it a new `LastModified`. False only
    /// when the object is gone (404); other failures leave it as it was (best effort).
    pub(crate) async fn copy_onto_itself(&self, full: &str) -> bool {
        let _p = self.permit().await;
        let source = format!("{}/{}", self.bucket, urlencode(full));
        let copied = self
            .client
            .copy_object()
            .bucket(&self.bucket)
            .key(full)
            .copy_source(source)
            .metadata_directive(MetadataDirective::Replace)
            .metadata("wflow-refreshed", wflow_core::now_millis().to_string())
            .send()
            .await;
        !matches!(&copied, Err(e) if status(e) == Some(404))
    }

    /// Deletes those of `full` (keys as stored) last written before `before_ms`, a batch at a
    /// time, each batch's times read again by listing the range of keys it spans just before
    /// its `DeleteObjects`; returns the keys deleted. A key no longer listed is gone already.
    pub(crate) async fn delete_stale_keys(
        &self,
        full: &[String],
        before_ms: i64,
    ) -> Result<Vec<String>> {
        let mut sorted = full.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let mut deleted = Vec::new();
        for chunk in sorted.chunks(DELETE_BATCH) {
            let times = self.times_of(chunk).await?;
            let stale: Vec<String> = chunk
                .iter()
                .filter(|k| times.get(k.as_str()).is_some_and(|&m| m < before_ms))
                .cloned()
                .collect();
            if !stale.is_empty() {
                self.delete_keys(&stale).await?;
            }
            deleted.extend(stale);
        }
        Ok(deleted)
    }

    /// The `LastModified` of each of `sorted` (non-empty, ascending) that exists now, from a
    /// listing of the range of keys from the first to the last.
    async fn times_of(&self, sorted: &[String]) -> Result<HashMap<String, i64>> {
        let (first, last) = (&sorted[0], &sorted[sorted.len() - 1]);
        let common = first
            .char_indices()
            .zip(last.chars())
            .find(|((_, a), b)| a != b)
            .map_or(first.len().min(last.len()), |((i, _), _)| i);
        let prefix = &first[..common];
        // Just before `first` (listing starts after this key): `first` without its last char.
        let start_after = &first[..first.char_indices().last().map_or(0, |(i, _)| i)];
        let wanted: HashSet<&str> = sorted.iter().map(String::as_str).collect();
        let mut times = HashMap::new();
        let mut token: Option<String> = None;
        loop {
            let page = {
                let _p = self.permit().await;
                self.client
                    .list_objects_v2()
                    .bucket(&self.bucket)
                    .prefix(prefix)
                    .start_after(start_after)
                    .set_continuation_token(token.take())
                    .send()
                    .await
                    .map_err(|e| to_store_error(e, &self.target(prefix, "s3:ListBucket")))?
            };
            for o in page.contents() {
                let Some(key) = o.key() else { continue };
                if key > last.as_str() {
                    return Ok(times);
                }
                if let (true, Some(m)) = (
                    wanted.contains(key),
                    o.last_modified().and_then(|t| t.to_millis().ok()),
                ) {
                    times.insert(key.to_string(), m);
                }
            }
            match page.next_continuation_token() {
                Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_string()),
                _ => return Ok(times),
            }
        }
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
