//! The guest of the criterion benches (`benches/`): each step is one thing to measure, run on its
//! own through `FlowComponent::run_task`. The graph is a plain line so that it validates.

use std::io::{Read, Write};

use wflow::{Param, RawArtifact, Result};

/// Steps to time one at a time: a trivial one, and artifacts put and got whole or streamed.
#[wflow::flow]
pub struct BenchGuest {
    /// Size of the value `put` and `stream_put` write, in bytes.
    #[param(default = 1024)]
    bytes: Param<i64>,
    /// The value, written by `put` or `stream_put`, read by `get` or `stream_get`.
    blob: RawArtifact,
}

/// Chunk size of the streaming steps.
const CHUNK: usize = 1 << 20;

/// A value of `n` bytes that differs from task to task (the task id in its first bytes), so the
/// store cannot deduplicate it away.
fn value(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    let id: u64 = wflow::current::task_id().parse().unwrap_or(0);
    let tag = id.to_le_bytes();
    let k = tag.len().min(n);
    v[..k].copy_from_slice(&tag[..k]);
    v
}

#[wflow::steps]
impl BenchGuest {
    /// Does nothing: what a task costs apart from its work.
    #[step(next = "put")]
    fn start(&mut self) -> Result<()> {
        Ok(())
    }

    /// Puts `bytes` bytes as one value (`artifacts.put`).
    #[step(next = "get")]
    fn put(&mut self) -> Result<()> {
        let n = self.bytes.get()? as usize;
        self.blob.set(value(n));
        Ok(())
    }

    /// Gets the whole value (`artifacts.get`).
    #[step(next = "stream_put")]
    fn get(&mut self) -> Result<()> {
        let bytes = self.blob.get()?;
        std::hint::black_box(bytes);
        Ok(())
    }

    /// Writes `bytes` bytes through the streaming writer, 1 MiB at a time.
    #[step(next = "stream_get")]
    fn stream_put(&mut self) -> Result<()> {
        let n = self.bytes.get()? as usize;
        let chunk = value(n.min(CHUNK));
        let mut w = self.blob.writer()?;
        let mut left = n;
        while left > 0 {
            let k = left.min(CHUNK);
            w.write_all(&chunk[..k])?;
            left -= k;
        }
        w.finish()?;
        Ok(())
    }

    /// Reads the value through the streaming reader.
    #[step(next = "end")]
    fn stream_get(&mut self) -> Result<()> {
        let mut r = self.blob.reader()?;
        let mut buf = vec![0u8; CHUNK];
        let mut total = 0usize;
        loop {
            let k = r.read(&mut buf)?;
            if k == 0 {
                break;
            }
            total += k;
        }
        std::hint::black_box(total);
        Ok(())
    }

    /// Does nothing.
    #[step]
    fn end(&mut self) -> Result<()> {
        Ok(())
    }
}
