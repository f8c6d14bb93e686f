//! Capture of a task's stdout and stderr: kept in memory up to a cap (the excess is dropped and a
//! marker says so — never an error), and, when a live file is given, appended to it as the guest
//! writes, so `wflow logs --follow` sees lines while the task runs and a killed run keeps them.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi_io::poll::Pollable;
use wasmtime_wasi_io::streams::{OutputStream, StreamResult};

/// One captured stream. Cheap to clone; clones share the buffer.
#[derive(Clone)]
pub struct LogSink {
    inner: Arc<Mutex<Inner>>,
}

struct Inner {
    buf: Vec<u8>,
    cap: usize,
    truncated: bool,
    live: Option<Live>,
}

struct Live {
    path: PathBuf,
    file: Option<File>,
    failed: bool,
}

impl LogSink {
    /// A sink keeping at most `cap` bytes, mirrored to `live` if given.
    pub fn new(cap: usize, live: Option<PathBuf>) -> LogSink {
        let live = live.map(|path| Live {
            path,
            file: None,
            failed: false,
        });
        LogSink {
            inner: Arc::new(Mutex::new(Inner {
                buf: Vec::new(),
                cap,
                truncated: false,
                live,
            })),
        }
    }

    /// Appends guest output.
    pub fn append(&self, bytes: &[u8]) {
        let mut g = self.inner.lock().expect("log sink lock");
        if g.truncated {
            return;
        }
        let room = g.cap.saturating_sub(g.buf.len());
        let (kept, cut) = if bytes.len() > room {
            (&bytes[..room], true)
        } else {
            (bytes, false)
        };
        let mut chunk = kept.to_vec();
        if cut {
            g.truncated = true;
            chunk.extend_from_slice(
                format!("\n[wflow: output truncated: this attempt's log limit of {} bytes was reached]\n", g.cap)
                    .as_bytes(),
            );
        }
        g.buf.extend_from_slice(&chunk);
        if let Some(live) = g.live.as_mut() {
            live.append(&chunk);
        }
    }

    /// Everything kept, and whether output was dropped.
    pub fn contents(&self) -> (Vec<u8>, bool) {
        let g = self.inner.lock().expect("log sink lock");
        (g.buf.clone(), g.truncated)
    }
}

impl Live {
    fn append(&mut self, bytes: &[u8]) {
        if self.failed || bytes.is_empty() {
            return;
        }
        if self.file.is_none() {
            let opened = self
                .path
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|_| File::options().create(true).append(true).open(&self.path));
            match opened {
                Ok(f) => self.file = Some(f),
                Err(_) => {
                    // Live logs are a convenience: the final log is still kept in memory.
                    self.failed = true;
                    return;
                }
            }
        }
        if let Some(f) = self.file.as_mut()
            && f.write_all(bytes).is_err()
        {
            self.failed = true;
        }
    }
}

impl std::fmt::Debug for LogSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogSink").finish_non_exhaustive()
    }
}

impl IsTerminal for LogSink {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogSink {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[async_trait::async_trait]
impl Pollable for LogSink {
    async fn ready(&mut self) {}
}

impl OutputStream for LogSink {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.append(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        // Always accept: past the cap, output is dropped rather than blocking or failing the guest.
        Ok(1 << 20)
    }
}

impl tokio::io::AsyncWrite for LogSink {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.append(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_with_a_marker_and_mirrors_to_the_live_file() {
        let dir = std::env::temp_dir().join(format!("wflow-logs-{}", std::process::id()));
        let live = dir.join("run/1-0.stdout");
        let sink = LogSink::new(10, Some(live.clone()));
        sink.append(b"12345");
        sink.append(b"67890abc");
        sink.append(b"more");
        let (buf, truncated) = sink.contents();
        assert!(truncated);
        let text = String::from_utf8(buf).unwrap();
        assert!(
            text.starts_with("1234567890\n[wflow: output truncated"),
            "{text}"
        );
        assert!(text.contains("10 bytes"));
        assert_eq!(std::fs::read_to_string(&live).unwrap(), text);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn no_output_creates_no_file() {
        let live = std::env::temp_dir().join(format!("wflow-nolog-{}/x", std::process::id()));
        let sink = LogSink::new(100, Some(live.clone()));
        sink.append(b"");
        assert!(!live.exists());
    }
}
