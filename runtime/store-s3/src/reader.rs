//! [`S3Reader`]: a streaming `Read` over an object, fetching the next ranges in parallel ahead of
//! the reader, so a large artifact streams at network speed with a bounded buffer (the read-ahead
//! window times the part size).

use std::collections::VecDeque;
use std::io::{self, Read};
use std::sync::Arc;

use tokio::task::JoinHandle;
use wflow_store::Result;

use crate::bridge::{Bridge, park_on};
use crate::error::other;
use crate::transfer::{Inner, Ranged};

pub(crate) struct S3Reader {
    /// Keeps the runtime alive as long as the reader.
    bridge: Arc<Bridge>,
    inner: Arc<Inner>,
    full: String,
    etag: Option<String>,
    total: u64,
    /// The first byte not yet requested.
    next: u64,
    /// Ranges requested, in order.
    pending: VecDeque<JoinHandle<Result<Option<Ranged>>>>,
    window: usize,
    current: bytes::Bytes,
    pos: usize,
}

impl S3Reader {
    /// A reader that starts with the first range (already fetched) of an object of `total` bytes.
    pub(crate) fn new(
        bridge: Arc<Bridge>,
        inner: Arc<Inner>,
        full: String,
        first: Ranged,
    ) -> S3Reader {
        let window = inner.max_concurrency.clamp(1, 4);
        let mut reader = S3Reader {
            bridge,
            next: first.bytes.len() as u64,
            total: first.total,
            etag: first.etag,
            current: first.bytes,
            pos: 0,
            inner,
            full,
            pending: VecDeque::new(),
            window,
        };
        reader.request_ahead();
        reader
    }

    /// Keeps `window` ranges in flight.
    fn request_ahead(&mut self) {
        while self.pending.len() < self.window && self.next < self.total {
            let start = self.next;
            let end = (start + self.inner.part_size).min(self.total) - 1;
            self.next = end + 1;
            let (inner, full, etag) = (self.inner.clone(), self.full.clone(), self.etag.clone());
            self.pending.push_back(
                self.bridge.handle().spawn(async move {
                    inner.get_range(&full, start, end, etag.as_deref()).await
                }),
            );
        }
    }

    fn next_range(&mut self) -> Result<Option<bytes::Bytes>> {
        self.request_ahead();
        let Some(task) = self.pending.pop_front() else {
            return Ok(None);
        };
        let url = self.inner.url(&self.full);
        let ranged = park_on(task)
            .map_err(|e| {
                other(
                    &url,
                    io::ErrorKind::Other,
                    format!("read-ahead task failed: {e}"),
                )
            })??
            .ok_or_else(|| {
                other(
                    &url,
                    io::ErrorKind::NotFound,
                    "the object disappeared while it was being read",
                )
            })?;
        self.request_ahead();
        Ok(Some(ranged.bytes))
    }
}

impl Read for S3Reader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.current.len() {
            match self.next_range().map_err(io::Error::from)? {
                Some(bytes) => {
                    self.current = bytes;
                    self.pos = 0;
                }
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len() - self.pos);
        buf[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Drop for S3Reader {
    fn drop(&mut self) {
        for task in &self.pending {
            task.abort();
        }
    }
}
