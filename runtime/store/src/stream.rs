//! [`BlobWriter`] and [`BlobReader`]: artifacts too large to hold in memory at once.
//!
//! Both hash as the bytes pass, so a value is read or written exactly once: the writer knows its
//! digest (and so its key) when it finishes, and the reader checks the digest when it reaches the
//! end.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::sync::Arc;

use wflow_core::Digest;

use crate::backend::BlobStore;
use crate::manifest::{ArtifactRef, INLINE_MAX};
use crate::temp::TempPath;
use crate::{Cas, Result, StoreError};

/// Buffer between small `write` calls and the temporary file. Larger writes go straight through.
const WRITE_BUFFER: usize = 256 * 1024;

/// Writes an artifact piece by piece; [`finish`](BlobWriter::finish) stores it. Made by
/// [`Cas::writer`].
///
/// The first [`INLINE_MAX`] bytes are kept in memory; past that they go to a temporary file in the
/// backend's [`scratch_dir`](BlobStore::scratch_dir), which `finish` hands to the backend. A writer
/// dropped without `finish` removes its temporary file and stores nothing.
pub struct BlobWriter {
    backend: Arc<dyn BlobStore>,
    hasher: blake3::Hasher,
    len: u64,
    /// The bytes while there are at most `INLINE_MAX` of them.
    small: Vec<u8>,
    /// The temporary file, once the value outgrew `small`.
    spill: Option<(BufWriter<File>, TempPath)>,
    /// A write failed, so what was written is not the value the caller meant.
    failed: bool,
}

impl BlobWriter {
    pub(crate) fn new(backend: Arc<dyn BlobStore>) -> BlobWriter {
        BlobWriter {
            backend,
            hasher: Digest::hasher(),
            len: 0,
            small: Vec::new(),
            spill: None,
            failed: false,
        }
    }

    /// Finishes: stores the value as an artifact (inline if small, else moved into the store as a
    /// blob via put_file_if_absent) and returns its ref.
    pub fn finish(mut self, codec: &str) -> Result<ArtifactRef> {
        let digest = Digest::from_hasher(&self.hasher);
        if self.failed {
            let where_ = self.spill.as_ref().map_or_else(
                || self.backend.scratch_dir().display().to_string(),
                |(_, temp)| temp.path().display().to_string(),
            );
            let why = "an earlier write to this value failed, so it is incomplete";
            return Err(StoreError::io(where_, io::Error::other(why)));
        }
        let mut r = ArtifactRef {
            digest,
            size: self.len,
            codec: codec.to_string(),
            inline: None,
        };
        match self.spill.take() {
            None => r.inline = Some(std::mem::take(&mut self.small)),
            Some((file, temp)) => {
                let io_err = |e| StoreError::io(temp.path().display(), e);
                drop(file.into_inner().map_err(|e| io_err(e.into_error()))?);
                self.backend
                    .put_file_if_absent(&Cas::blob_key(&digest), temp.path())?;
                // `temp` is dropped here: the file is normally gone already.
            }
        }
        Ok(r)
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when nothing has been written yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn append(&mut self, buf: &[u8]) -> io::Result<()> {
        match &mut self.spill {
            Some((file, _)) => file.write_all(buf)?,
            None if self.small.len() + buf.len() <= INLINE_MAX => self.small.extend_from_slice(buf),
            None => {
                let scratch = self.backend.scratch_dir();
                let (file, temp) = TempPath::create(scratch, "write")
                    .map_err(|e| StoreError::io(scratch.display(), e))?;
                let mut file = BufWriter::with_capacity(WRITE_BUFFER, file);
                let spilled = file
                    .write_all(&self.small)
                    .and_then(|()| file.write_all(buf));
                spilled.map_err(|e| StoreError::io(temp.path().display(), e))?;
                self.small = Vec::new();
                self.spill = Some((file, temp));
            }
        }
        self.hasher.update(buf);
        self.len += buf.len() as u64;
        Ok(())
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.failed {
            return Err(io::Error::other("an earlier write to this value failed"));
        }
        self.append(buf).inspect_err(|_| self.failed = true)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.spill {
            Some((file, _)) => file.flush(),
            None => Ok(()),
        }
    }
}

impl std::fmt::Debug for BlobWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobWriter")
            .field("len", &self.len)
            .field("temp", &self.spill.as_ref().map(|(_, t)| t.path()))
            .finish()
    }
}

/// Reads an artifact piece by piece, checking its digest and size at the end. Made by
/// [`Cas::reader`].
///
/// `read` returns the bytes as they come; the read that reaches the end returns `Ok(0)` only if
/// everything read matches the reference, and otherwise an [`io::Error`] of kind `InvalidData`
/// wrapping a [`StoreError`] ([`StoreError::from_io`]). A consumer must therefore read to the end
/// (as `read_to_end` and `io::copy` do) and treat the data as untrusted until then.
pub struct BlobReader {
    inner: Box<dyn Read + Send>,
    hasher: blake3::Hasher,
    digest: Digest,
    size: u64,
    read: u64,
    /// The blob's key, or `None` for an inline value.
    key: Option<String>,
    /// Set at the end: `Some(true)` verified, `Some(false)` corrupt.
    verified: Option<bool>,
    /// Where a blob that fails verification is quarantined (see [`BlobStore::quarantine`]).
    store: Option<std::sync::Arc<dyn crate::BlobStore>>,
}

impl BlobReader {
    pub(crate) fn new(inner: Box<dyn Read + Send>, r: &ArtifactRef, key: Option<String>) -> Self {
        BlobReader {
            inner,
            hasher: Digest::hasher(),
            digest: r.digest,
            size: r.size,
            read: 0,
            key,
            verified: None,
            store: None,
        }
    }

    /// Quarantines the blob in `store` if it fails verification.
    pub(crate) fn quarantining_in(mut self, store: std::sync::Arc<dyn crate::BlobStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Total size in bytes, as the reference records it.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The digest the bytes must have.
    pub fn digest(&self) -> Digest {
        self.digest
    }

    /// Appends the next bytes of the value to `buf`, at most `max` (fewer only at its end), and
    /// returns how many. Like [`read`](Read::read) but into a `Vec`'s spare capacity, which is
    /// never zeroed first: a large piece costs one copy from the backend and its hashing, nothing
    /// more. The call that reaches the end checks everything read against the reference, as
    /// `read` does, and fails with the same error if it does not match.
    pub fn read_into(&mut self, buf: &mut Vec<u8>, max: usize) -> io::Result<usize> {
        if self.verified.is_some() || max == 0 {
            return self.read(&mut []);
        }
        let start = buf.len();
        buf.reserve(max);
        let got = (&mut self.inner).take(max as u64).read_to_end(buf);
        let n = buf.len() - start;
        self.hasher.update(&buf[start..]);
        self.read += n as u64;
        got?;
        if n < max {
            // The end of the value: check it now rather than on one more call.
            self.verify()?;
        }
        Ok(n)
    }

    /// Checks what was read against the reference once the end is reached, quarantining a blob
    /// that fails; reports the failure again on every later call.
    fn verify(&mut self) -> io::Result<()> {
        let checked = self.check();
        if self.verified.is_none()
            && checked.is_err()
            && let (Some(store), Some(key)) = (&self.store, &self.key)
        {
            let _ = store.quarantine(key);
        }
        self.verified = Some(checked.is_ok());
        checked.map_err(io::Error::from)
    }

    /// Checks what was read against the reference.
    fn check(&self) -> Result<()> {
        let digest = self.digest;
        if Digest::from_hasher(&self.hasher) != digest {
            return Err(match &self.key {
                Some(key) => StoreError::Corrupt {
                    digest,
                    key: key.clone(),
                },
                None => StoreError::InlineCorrupt { digest },
            });
        }
        if self.read != self.size {
            let (expected, actual) = (self.size, self.read);
            return Err(StoreError::SizeMismatch {
                digest,
                expected,
                actual,
            });
        }
        Ok(())
    }
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.verified {
            Some(true) => return Ok(0),
            Some(false) => {} // report the failure again
            None if buf.is_empty() => return Ok(0),
            None => {
                let n = self.inner.read(buf)?;
                if n > 0 {
                    self.hasher.update(&buf[..n]);
                    self.read += n as u64;
                    return Ok(n);
                }
            }
        }
        self.verify()?;
        Ok(0)
    }
}

impl std::fmt::Debug for BlobReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobReader")
            .field("digest", &self.digest)
            .field("size", &self.size)
            .field("read", &self.read)
            .field("key", &self.key)
            .finish()
    }
}
