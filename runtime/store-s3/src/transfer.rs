//! [`Inner`]: the requests the store makes — HEAD, conditional PUT, multipart upload with parallel
//! parts, ranged GETs, LIST — each bounded by one semaphore so a store never has more than
//! `max_concurrency` requests in flight, however many threads call it.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::{ByteStream, Length};
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart};
use futures_util::{StreamExt, TryStreamExt};
use tokio::sync::Semaphore;
use wflow_store::{Result, StoreError};

use crate::error::{Target, other, status, to_store_error};

/// S3 refuses more parts than this in one upload.
const MAX_PARTS: u64 = 10_000;

/// Everything a request needs; shared by the store, its readers and its spawned tasks.
/// Objects up to this size are uploaded with a conditional PUT without a HEAD first (see
/// [`Inner::needs_head`]).
pub(crate) const HEAD_FIRST_ABOVE: u64 = 256 * 1024;

pub(crate) struct Inner {
    pub(crate) client: Client,
    pub(crate) bucket: String,
    /// Empty, or ending with `/`.
    pub(crate) prefix: String,
    /// For messages: the endpoint URL, or "AWS S3 in <region>".
    pub(crate) endpoint: String,
    pub(crate) part_size: u64,
    pub(crate) max_concurrency: usize,
    pub(crate) permits: Semaphore,
    /// The client with checksums on uploads only where required (see [`Inner::client`]).
    pub(crate) plain: Client,
    /// Safe mode: plain uploads (no streaming checksums), each read back to verify it. Set by
    /// `checksums = "when_required"`, or when an upload did not verify (see `crate::verify`).
    pub(crate) safe: AtomicBool,
    /// Send `If-None-Match: *` (cleared if the server rejects the header outright).
    pub(crate) conditional: AtomicBool,
}

/// An object's bytes from a ranged GET, with what the response said about the whole object.
pub(crate) struct Ranged {
    pub(crate) bytes: bytes::Bytes,
    pub(crate) total: u64,
    pub(crate) etag: Option<String>,
}

/// Where the bytes of an upload come from.
#[derive(Clone, Copy)]
pub(crate) enum Source<'a> {
    Slice(&'a [u8]),
    File(&'a Path),
}

/// One part's body, owned, for a spawned task.
enum PartBody {
    Bytes(bytes::Bytes),
    File { path: PathBuf, offset: u64 },
}

impl Inner {
    /// The object key of a store key.
    pub(crate) fn full(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    pub(crate) fn url(&self, full: &str) -> String {
        format!("s3://{}/{full}", self.bucket)
    }

    pub(crate) fn target(&self, full: &str, action: &'static str) -> Target<'_> {
        Target {
            url: self.url(full),
            endpoint: &self.endpoint,
            bucket: &self.bucket,
            action,
        }
    }

    /// The client for uploads: the configured one, or in safe mode the one that sends plain
    /// bodies (some servers store the `aws-chunked` framing of streamed uploads as the object).
    pub(crate) fn client(&self) -> &Client {
        if self.safe.load(Ordering::Relaxed) {
            &self.plain
        } else {
            &self.client
        }
    }

    /// Whether uploads carry a CRC32 checksum (not in safe mode).
    fn checksums(&self) -> bool {
        !self.safe.load(Ordering::Relaxed)
    }

    /// The part size of a multipart upload of `len` bytes.
    pub(crate) fn part_size_for(&self, len: u64) -> u64 {
        self.part_size.max(len.div_ceil(MAX_PARTS))
    }

    pub(crate) async fn permit(&self) -> tokio::sync::SemaphorePermit<'_> {
        self.permits
            .acquire()
            .await
            .expect("the semaphore is never closed")
    }

    /// Whether an upload of `len` bytes should look first (HEAD) whether the object is there.
    /// Small objects — manifests, logs, record batches, most values — go straight to a
    /// conditional PUT: one request instead of two, and a server that honours `If-None-Match`
    /// answers 412 when the object exists. Bigger ones, and every object on a server that does
    /// not do conditional writes, are looked for first so that nothing is sent twice.
    pub(crate) fn needs_head(&self, len: u64) -> bool {
        len > HEAD_FIRST_ABOVE || !self.conditional.load(Ordering::Relaxed)
    }

    /// Before an upload: the size of the object, or `None` if it is absent *or the HEAD is
    /// forbidden* — without `s3:ListBucket` on the bucket, S3 answers 403 for a missing key, and
    /// the PUT that follows then says clearly whether writing is allowed.
    pub(crate) async fn head_before_put(&self, full: &str) -> Result<Option<u64>> {
        match self.head(full).await {
            Err(StoreError::Io { source, .. })
                if source.kind() == io::ErrorKind::PermissionDenied =>
            {
                Ok(None)
            }
            other => other,
        }
    }

    /// The size of the object, or `None` if absent.
    pub(crate) async fn head(&self, full: &str) -> Result<Option<u64>> {
        let _p = self.permit().await;
        let out = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(full)
            .send()
            .await;
        match out {
            Ok(o) => Ok(Some(o.content_length().unwrap_or(0).max(0) as u64)),
            Err(e) if status(&e) == Some(404) => Ok(None),
            Err(e) => Err(to_store_error(e, &self.target(full, "s3:GetObject"))),
        }
    }

    /// One PUT of a whole object unless it exists (with `overwrite`, whether or not it does).
    pub(crate) async fn put_whole(
        &self,
        full: &str,
        body: PutBody<'_>,
        len: u64,
        overwrite: bool,
    ) -> Result<Put> {
        let mut conflicts = 0;
        loop {
            let stream = match body {
                PutBody::Bytes(b) => ByteStream::from(b.clone()),
                PutBody::File(path) => ByteStream::read_from()
                    .path(path)
                    .length(Length::Exact(len))
                    .build()
                    .await
                    .map_err(|e| {
                        other(
                            &path.display().to_string(),
                            io::ErrorKind::Other,
                            e.to_string(),
                        )
                    })?,
            };
            let conditional = !overwrite && self.conditional.load(Ordering::Relaxed);
            let mut req = self
                .client()
                .put_object()
                .bucket(&self.bucket)
                .key(full)
                .content_length(len as i64)
                .body(stream);
            if conditional {
                req = req.if_none_match("*");
            }
            if self.checksums() {
                req = req.checksum_algorithm(ChecksumAlgorithm::Crc32);
            }
            let result = {
                let _p = self.permit().await;
                req.send().await
            };
            match result {
                Ok(out) => {
                    return Ok(Put::Wrote {
                        crc32: out
                            .checksum_crc32()
                            .map(str::to_string)
                            .into_iter()
                            .collect(),
                    });
                }
                // Someone else wrote it first (the caller checks what is there).
                Err(e) if status(&e) == Some(412) => return Ok(Put::Exists),
                // A concurrent conditional write of the same key is in progress (AWS): wait and
                // look again.
                Err(e) if status(&e) == Some(409) && conflicts < 5 => {
                    conflicts += 1;
                    tokio::time::sleep(Duration::from_millis(100 << conflicts)).await;
                    if self.head_before_put(full).await?.is_some() {
                        return Ok(Put::Exists);
                    }
                }
                Err(e) if conditional && status(&e) == Some(501) => {
                    // The server does not do conditional writes: correctness never rested on
                    // them (the HEAD before, and keys that name their content), so go without.
                    self.conditional.store(false, Ordering::Relaxed);
                }
                Err(e) => return Err(to_store_error(e, &self.target(full, "s3:PutObject"))),
            }
        }
    }

    /// A multipart upload of `len` bytes from `src`, parts in parallel; the object appears only
    /// when the upload completes, so an interrupted one leaves nothing visible.
    pub(crate) async fn put_multipart(
        self: &Arc<Self>,
        full: &str,
        src: Source<'_>,
        len: u64,
        overwrite: bool,
    ) -> Result<Put> {
        let part_size = self.part_size_for(len);
        let mut create = self
            .client()
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(full);
        if self.checksums() {
            create = create.checksum_algorithm(ChecksumAlgorithm::Crc32);
        }
        let created = {
            let _p = self.permit().await;
            create.send().await
        }
        .map_err(|e| to_store_error(e, &self.target(full, "s3:PutObject")))?;
        let upload_id = created
            .upload_id()
            .ok_or_else(|| {
                other(
                    &self.url(full),
                    io::ErrorKind::InvalidData,
                    "CreateMultipartUpload returned no upload id",
                )
            })?
            .to_string();

        let result = self
            .upload_parts_and_complete(full, src, len, part_size, &upload_id, overwrite)
            .await;
        if !matches!(result, Ok(Put::Wrote { .. })) {
            // Failed, or lost the race: drop the parts (best effort; a lifecycle rule that
            // aborts incomplete multipart uploads catches what a crash leaves).
            let _p = self.permit().await;
            let _ = self
                .client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(full)
                .upload_id(&upload_id)
                .send()
                .await;
        }
        result
    }

    async fn upload_parts_and_complete(
        self: &Arc<Self>,
        full: &str,
        src: Source<'_>,
        len: u64,
        part_size: u64,
        upload_id: &str,
        overwrite: bool,
    ) -> Result<Put> {
        let count = len.div_ceil(part_size);
        let handle = tokio::runtime::Handle::current();
        let mut parts: Vec<CompletedPart> = futures_util::stream::iter(0..count)
            .map(|i| {
                let offset = i * part_size;
                let size = part_size.min(len - offset);
                // Built when the stream admits the part, so at most `max_concurrency` parts of
                // an in-memory value are ever copied at once.
                let body = match src {
                    Source::Slice(bytes) => PartBody::Bytes(bytes::Bytes::copy_from_slice(
                        &bytes[offset as usize..(offset + size) as usize],
                    )),
                    Source::File(path) => PartBody::File {
                        path: path.to_path_buf(),
                        offset,
                    },
                };
                let task = handle.spawn(upload_part(
                    self.clone(),
                    full.to_string(),
                    upload_id.to_string(),
                    i as i32 + 1,
                    body,
                    size,
                ));
                let url = self.url(full);
                async move {
                    task.await.map_err(|e| {
                        other(
                            &url,
                            io::ErrorKind::Other,
                            format!("upload task failed: {e}"),
                        )
                    })?
                }
            })
            .buffer_unordered(self.max_concurrency.max(1))
            .try_collect()
            .await?;
        parts.sort_by_key(|p| p.part_number());

        let crc32 = parts
            .iter()
            .filter_map(|p| p.checksum_crc32().map(str::to_string))
            .collect::<Vec<_>>();
        // Proof only if every part came back with its checksum.
        let crc32 = if crc32.len() == parts.len() {
            crc32
        } else {
            Vec::new()
        };
        loop {
            let conditional = !overwrite && self.conditional.load(Ordering::Relaxed);
            let mut req = self
                .client()
                .complete_multipart_upload()
                .bucket(&self.bucket)
                .key(full)
                .upload_id(upload_id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(parts.clone()))
                        .build(),
                );
            if conditional {
                req = req.if_none_match("*");
            }
            let result = {
                let _p = self.permit().await;
                req.send().await
            };
            return match result {
                Ok(_) => Ok(Put::Wrote {
                    crc32: crc32.clone(),
                }),
                Err(e) if status(&e) == Some(412) => Ok(Put::Exists),
                Err(e) if conditional && status(&e) == Some(501) => {
                    self.conditional.store(false, Ordering::Relaxed);
                    continue;
                }
                Err(e) => Err(to_store_error(e, &self.target(full, "s3:PutObject"))),
            };
        }
    }

    /// Bytes `start..=end` of an object (clamped to its size), or `None` if it is absent. With
    /// `etag`, fails if the object is no longer that version.
    pub(crate) async fn get_range(
        &self,
        full: &str,
        start: u64,
        end: u64,
        etag: Option<&str>,
    ) -> Result<Option<Ranged>> {
        let mut req = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(full)
            .range(format!("bytes={start}-{end}"));
        if let Some(etag) = etag {
            req = req.if_match(etag);
        }
        let _p = self.permit().await;
        let out = match req.send().await {
            Ok(out) => out,
            Err(e) if status(&e) == Some(404) => return Ok(None),
            // A range of an empty object cannot be satisfied: read it whole.
            Err(e) if status(&e) == Some(416) && start == 0 => return self.get_whole(full).await,
            Err(e) if status(&e) == Some(412) => {
                return Err(other(
                    &self.url(full),
                    io::ErrorKind::InvalidData,
                    "the object was replaced while it was being read (its ETag changed)",
                ));
            }
            Err(e) => return Err(to_store_error(e, &self.target(full, "s3:GetObject"))),
        };
        let total = match out.content_range() {
            Some(range) => range
                .rsplit_once('/')
                .and_then(|(_, total)| total.parse::<u64>().ok())
                .ok_or_else(|| {
                    other(
                        &self.url(full),
                        io::ErrorKind::InvalidData,
                        format!("bad Content-Range `{range}`"),
                    )
                })?,
            // The server ignored the range and sent the whole object.
            None => out.content_length().unwrap_or(0).max(0) as u64,
        };
        let etag = out.e_tag().map(str::to_string);
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| {
                other(
                    &self.url(full),
                    io::ErrorKind::Other,
                    format!("reading the body: {e}"),
                )
            })?
            .into_bytes();
        Ok(Some(Ranged { bytes, total, etag }))
    }

    /// The whole object `full` as one GET (`None` when there is none); its body is the
    /// caller's to read.
    pub(crate) async fn get_object(
        &self,
        full: &str,
    ) -> Result<Option<aws_sdk_s3::operation::get_object::GetObjectOutput>> {
        match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(full)
            .send()
            .await
        {
            Ok(out) => Ok(Some(out)),
            Err(e) if status(&e) == Some(404) => Ok(None),
            Err(e) => Err(to_store_error(e, &self.target(full, "s3:GetObject"))),
        }
    }

    async fn get_whole(&self, full: &str) -> Result<Option<Ranged>> {
        let Some(out) = self.get_object(full).await? else {
            return Ok(None);
        };
        let etag = out.e_tag().map(str::to_string);
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| {
                other(
                    &self.url(full),
                    io::ErrorKind::Other,
                    format!("reading the body: {e}"),
                )
            })?
            .into_bytes();
        let total = bytes.len() as u64;
        Ok(Some(Ranged { bytes, total, etag }))
    }

    /// Every object key under `full_prefix`, paginated.
    pub(crate) async fn list(&self, full_prefix: &str) -> Result<Vec<String>> {
        let mut keys = Vec::new();
        self.each_listed(full_prefix, |o| keys.extend(o.key().map(str::to_string)))
            .await?;
        Ok(keys)
    }

    /// Calls `each` on every object under `full_prefix`, a page at a time (each page's request
    /// holds a permit).
    pub(crate) async fn each_listed(
        &self,
        full_prefix: &str,
        mut each: impl FnMut(&aws_sdk_s3::types::Object),
    ) -> Result<()> {
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(full_prefix)
            .into_paginator()
            .send();
        loop {
            let page = {
                let _p = self.permit().await;
                pages.next().await
            };
            let Some(page) = page else { break };
            let page =
                page.map_err(|e| to_store_error(e, &self.target(full_prefix, "s3:ListBucket")))?;
            page.contents().iter().for_each(&mut each);
        }
        Ok(())
    }
}

/// What an upload did.
#[derive(Debug)]
pub(crate) enum Put {
    /// This call stored the object; `crc32` holds the CRC32 checksums the server computed over
    /// what it received and returned (one for a single PUT, one per part for a multipart upload,
    /// in part order; empty when it returned none), to check against the bytes sent.
    Wrote { crc32: Vec<String> },
    /// The object was already there (a conditional write refused): its content is unchecked.
    Exists,
}

/// The body of a whole-object PUT.
#[derive(Clone, Copy)]
pub(crate) enum PutBody<'a> {
    Bytes(&'a bytes::Bytes),
    File(&'a Path),
}

/// Uploads one part (a spawned task, so parts go in parallel on the store's runtime).
async fn upload_part(
    inner: Arc<Inner>,
    full: String,
    upload_id: String,
    number: i32,
    body: PartBody,
    size: u64,
) -> Result<CompletedPart> {
    let stream = match body {
        PartBody::Bytes(b) => ByteStream::from(b),
        PartBody::File { path, offset } => ByteStream::read_from()
            .path(&path)
            .offset(offset)
            .length(Length::Exact(size))
            .build()
            .await
            .map_err(|e| {
                other(
                    &path.display().to_string(),
                    io::ErrorKind::Other,
                    e.to_string(),
                )
            })?,
    };
    let mut req = inner
        .client()
        .upload_part()
        .bucket(&inner.bucket)
        .key(&full)
        .upload_id(&upload_id)
        .part_number(number)
        .content_length(size as i64)
        .body(stream);
    if inner.checksums() {
        req = req.checksum_algorithm(ChecksumAlgorithm::Crc32);
    }
    let out = {
        let _p = inner.permit().await;
        req.send().await
    }
    .map_err(|e| to_store_error(e, &inner.target(&full, "s3:PutObject")))?;
    let mut part = CompletedPart::builder().part_number(number);
    if let Some(etag) = out.e_tag() {
        part = part.e_tag(etag);
    }
    if let Some(crc) = out.checksum_crc32() {
        part = part.checksum_crc32(crc);
    }
    Ok(part.build())
}
