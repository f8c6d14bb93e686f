//! Never trusting an upload the server did not prove: what each upload should have stored
//! ([`Expected`]: size and CRC32s, computed here from the bytes sent), the check of what was
//! stored, and [`Inner::put_verified`], the upload that deduplicates only against an object that
//! checks out and replaces one that does not.
//!
//! An upload is proven when the server returns the CRC32 of what it received and it is the one
//! computed here (per part for a multipart upload). Otherwise (a server that returns none, or
//! safe mode) the object is read back and checked: size and CRC32. A server that stored
//! something else (s3rver stores the `aws-chunked` framing of streamed uploads as the object,
//! answering 200) is caught there: the store then switches to safe mode (plain uploads, no
//! streaming checksums, each one read back), tells the user once, and uploads again over the bad
//! object. Content addressing makes the overwrite safe: the right bytes for a key are the same
//! whoever writes them.

use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use aws_sdk_s3::types::ChecksumMode;
use wflow_store::Result;

use crate::error::{other, status, to_store_error};
use crate::transfer::{Inner, Put, PutBody, Source};

/// Uploads of one object tried before giving up (a bad object replaced, a race lost).
const ATTEMPTS: usize = 3;

/// What an upload of some bytes must leave in the bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Expected {
    pub(crate) len: u64,
    /// CRC32 of the whole object.
    pub(crate) crc32: u32,
    /// CRC32 of each part, when uploaded in parts of `part_size`.
    pub(crate) parts: Vec<u32>,
}

impl Expected {
    /// Of bytes in memory, uploaded in parts of `part_size` above it.
    pub(crate) fn of_slice(bytes: &[u8], part_size: u64) -> Expected {
        let mut parts: Vec<u32> = bytes
            .chunks(part_size.max(1) as usize)
            .map(crc32fast::hash)
            .collect();
        if parts.is_empty() {
            parts.push(crc32fast::hash(&[]));
        }
        Expected {
            len: bytes.len() as u64,
            crc32: crc32fast::hash(bytes),
            parts,
        }
    }

    /// Of a file (read once), uploaded in parts of `part_size` above it.
    pub(crate) fn of_file(path: &Path, part_size: u64) -> io::Result<Expected> {
        let mut file = std::fs::File::open(path)?;
        let (mut whole, mut part) = (crc32fast::Hasher::new(), crc32fast::Hasher::new());
        let (mut len, mut in_part, mut parts) = (0u64, 0u64, Vec::new());
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let room = (part_size.max(1) - in_part).min(buf.len() as u64) as usize;
            let n = file.read(&mut buf[..room])?;
            if n == 0 {
                break;
            }
            whole.update(&buf[..n]);
            part.update(&buf[..n]);
            (len, in_part) = (len + n as u64, in_part + n as u64);
            if in_part == part_size {
                parts.push(std::mem::replace(&mut part, crc32fast::Hasher::new()).finalize());
                in_part = 0;
            }
        }
        if in_part > 0 || parts.is_empty() {
            parts.push(part.finalize());
        }
        Ok(Expected {
            len,
            crc32: whole.finalize(),
            parts,
        })
    }
}

/// A CRC32 as S3 writes it: base64 of its four big-endian bytes.
pub(crate) fn crc32_header(crc: u32) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = crc.to_be_bytes();
    let n = u32::from_be_bytes([0, b[0], b[1], b[2]]);
    let m = u32::from(b[3]) << 16;
    let mut out = String::with_capacity(8);
    for shift in [18, 12, 6, 0] {
        out.push(ALPHABET[(n >> shift & 63) as usize] as char);
    }
    out.push(ALPHABET[(m >> 18 & 63) as usize] as char);
    out.push(ALPHABET[(m >> 12 & 63) as usize] as char);
    out.push_str("==");
    out
}

/// A stored object's checksum, if it can be compared with `want`'s whole CRC32: only for an
/// object uploaded whole (one in parts has a checksum of its parts' checksums, in a form that
/// depends on the server and on the part size of whoever uploaded it).
fn whole_only<'a>(crc32: Option<&'a str>, want: &Expected) -> Option<&'a str> {
    crc32.filter(|_| want.parts.len() == 1)
}

/// Why what is stored under a key is not what should be there; `None` when it is.
fn mismatch(size: u64, crc32: Option<&str>, want: &Expected) -> Option<String> {
    if size != want.len {
        return Some(format!(
            "the object has {size} bytes where {} were sent",
            want.len
        ));
    }
    // `…-N`: a checksum of parts' checksums, not comparable here.
    match crc32 {
        Some(crc) if !crc.contains('-') && crc != crc32_header(want.crc32) => Some(format!(
            "its CRC32 is {crc} where the bytes sent have {}",
            crc32_header(want.crc32)
        )),
        _ => None,
    }
}

impl Inner {
    /// An object's size and (if the server keeps one) its CRC32, or `None` if absent.
    async fn stored(&self, full: &str) -> Result<Option<(u64, Option<String>, Option<i64>)>> {
        let _p = self.permit().await;
        let out = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(full)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await;
        match out {
            Ok(o) => Ok(Some((
                o.content_length().unwrap_or(0).max(0) as u64,
                o.checksum_crc32().map(str::to_string),
                o.last_modified().and_then(|t| t.to_millis().ok()),
            ))),
            // (The checksum of an object uploaded in parts is one of its parts' checksums,
            // whatever its form: callers compare it only for objects uploaded whole.)
            Err(e) if status(&e) == Some(404) => Ok(None),
            // Without s3:ListBucket a missing object reads as 403: take it as absent, and the
            // PUT that follows says clearly whether writing is allowed.
            Err(e) if status(&e) == Some(403) => Ok(None),
            Err(e) => Err(to_store_error(e, &self.target(full, "s3:GetObject"))),
        }
    }

    /// Reads the object back and checks its size and CRC32; `None` when it is `want`.
    async fn read_back(&self, full: &str, want: &Expected) -> Result<Option<String>> {
        let _p = self.permit().await;
        let Some(out) = self.get_object(full).await? else {
            return Ok(Some("the object is not there after its upload".into()));
        };
        let mut body = out.body;
        let (mut crc, mut size) = (crc32fast::Hasher::new(), 0u64);
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| {
                other(
                    &self.url(full),
                    io::ErrorKind::Other,
                    format!("reading the object back: {e}"),
                )
            })?;
            size += chunk.len() as u64;
            crc.update(&chunk);
        }
        Ok(mismatch(size, Some(&crc32_header(crc.finalize())), want))
    }

    /// Whether the server's checksums of an upload prove it stored `want`.
    fn proven(&self, crc32: &[String], want: &Expected) -> bool {
        if crc32.is_empty() {
            return false;
        }
        let sent: Vec<String> = if want.len <= self.part_size {
            vec![crc32_header(want.crc32)]
        } else {
            want.parts.iter().map(|c| crc32_header(*c)).collect()
        };
        crc32 == sent.as_slice()
    }

    /// Stores `src` (`want` describes it) under `full` unless an object that checks out is
    /// already there; returns whether this call wrote it. Deduplicates only against an object
    /// of the right size (and CRC32, when the server keeps one); anything else is overwritten.
    /// An upload the server does not prove is read back before it counts as stored.
    pub(crate) async fn put_verified(
        self: &Arc<Self>,
        full: &str,
        src: Source<'_>,
        want: &Expected,
    ) -> Result<bool> {
        let len = want.len;
        let mut overwrite = false;
        let mut last = String::new();
        if self.needs_head(len)
            && let Some((size, crc, modified)) = self.stored(full).await?
        {
            match mismatch(size, whole_only(crc.as_deref(), want), want) {
                // Deduplicated: a blob this writer now relies on (see `crate::gc`); written
                // again below if a collection removed it meanwhile.
                None if self.refresh_if_old(full, modified).await => return Ok(false),
                None => last = "a collection removed the object as it was found".into(),
                // Another writer's object under a key that does not name its content (a task
                // description, a record): never replaced; the caller compares and refuses.
                Some(_) if !self.names_its_content(full) => return Ok(false),
                Some(why) => {
                    overwrite = true;
                    last = why;
                }
            }
        }
        for _ in 0..ATTEMPTS {
            let put = if len <= self.part_size {
                let bytes;
                let body = match src {
                    Source::Slice(slice) => {
                        bytes = bytes::Bytes::copy_from_slice(slice);
                        PutBody::Bytes(&bytes)
                    }
                    Source::File(path) => PutBody::File(path),
                };
                self.put_whole(full, body, len, overwrite).await?
            } else {
                self.put_multipart(full, src, len, overwrite).await?
            };
            let why = match put {
                // Already there (a conditional write refused): dedupe only if it checks out.
                Put::Exists => match self.stored(full).await? {
                    Some((size, crc, modified)) => {
                        match mismatch(size, whole_only(crc.as_deref(), want), want) {
                            None if self.refresh_if_old(full, modified).await => {
                                return Ok(false);
                            }
                            None => "a collection removed the object as it was found".into(),
                            Some(_) if !self.names_its_content(full) => return Ok(false),
                            Some(why) => why,
                        }
                    }
                    None => "the object vanished after a conditional write found it".into(),
                },
                Put::Wrote { crc32 } if self.proven(&crc32, want) => return Ok(true),
                Put::Wrote { crc32 } if !crc32.is_empty() => {
                    let why = format!(
                        "the server's checksums of the upload ({}) are not those of the bytes sent",
                        crc32.join(", ")
                    );
                    self.go_safe(full, &why);
                    why
                }
                Put::Wrote { .. } => match self.read_back(full, want).await? {
                    None => return Ok(true),
                    Some(why) => {
                        self.go_safe(full, &why);
                        why
                    }
                },
            };
            overwrite = true;
            last = why;
        }
        Err(other(
            &self.url(full),
            io::ErrorKind::InvalidData,
            format!(
                "the S3 endpoint {} did not store this upload correctly after {ATTEMPTS} attempts: \
                 {last}; if the server does not handle checksummed (aws-chunked) uploads, set \
                 `checksums = \"when_required\"` (--s3-checksums when_required); docs/s3.md lists \
                 the servers known to work",
                self.endpoint
            ),
        ))
    }

    /// Whether the key names its content (a blob): only then is an existing object that does
    /// not check out replaced, since the right bytes for the key are the same for every writer.
    /// Other keys are written once and never replaced (`BlobStore::put_if_absent`).
    fn names_its_content(&self, full: &str) -> bool {
        full.strip_prefix(self.prefix.as_str())
            .is_some_and(|key| key.starts_with(wflow_store::BLOBS_PREFIX))
    }

    /// After an upload that did not verify: plain uploads from now on (said once).
    fn go_safe(&self, full: &str, why: &str) {
        if !self.safe.swap(true, Ordering::Relaxed) {
            eprintln!(
                "warning: the S3 endpoint {} stored an upload wrongly ({}: {why}); wflow now \
                 uploads without streaming checksums and reads every upload back, and replaces \
                 the bad object. Set `checksums = \"when_required\"` (--s3-checksums \
                 when_required) for this server to start that way.",
                self.endpoint,
                self.url(full)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_headers_are_base64_of_the_big_endian_bytes() {
        // Known values: S3's documentation and `aws s3api` output.
        assert_eq!(crc32_header(0), "AAAAAA==");
        assert_eq!(crc32_header(crc32fast::hash(b"hello world")), "DUoRhQ==");
    }

    #[test]
    fn a_file_and_the_same_bytes_in_memory_expect_the_same() {
        let dir = tempfile::tempdir().unwrap();
        for len in [0usize, 1, 99, 100, 101, 350] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            let path = dir.path().join(format!("f{len}"));
            std::fs::write(&path, &bytes).unwrap();
            let file = Expected::of_file(&path, 100).unwrap();
            assert_eq!(file, Expected::of_slice(&bytes, 100), "{len} bytes");
            assert_eq!(file.parts.len(), len.div_ceil(100).max(1));
        }
    }

    #[test]
    fn mismatches_name_size_and_checksum() {
        let want = Expected::of_slice(b"abc", 100);
        assert_eq!(mismatch(3, None, &want), None);
        assert_eq!(mismatch(3, Some(&crc32_header(want.crc32)), &want), None);
        assert_eq!(mismatch(3, Some("xx-2"), &want), None);
        assert!(mismatch(4, None, &want).unwrap().contains("4 bytes"));
        assert!(
            mismatch(3, Some("AAAAAA=="), &want)
                .unwrap()
                .contains("CRC32")
        );
    }
}
