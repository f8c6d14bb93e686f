//! Capture of a task's stdout and stderr: kept in memory up to a cap (the excess is dropped and a
//! marker says so — never an error), and, when a live file is given, mirrored to it so
//! `wflow logs --follow` sees lines while the task runs and a killed run keeps them.
//!
//! Mirroring starts once the attempt has run for [`LIVE_AFTER`]: an attempt that ends sooner
//! (a trivial task, most of a big foreach) creates no file at all, and its logs reach the store
//! and the records when it ends. From then on every write is appended to the file as it comes; a
//! background thread catches up an attempt that wrote early and then went quiet.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi_io::poll::Pollable;
use wasmtime_wasi_io::streams::{OutputStream, StreamResult};

use crate::redact::{Pending, Redactor};

/// How long an attempt runs before its output is mirrored to its live file.
pub const LIVE_AFTER: Duration = Duration::from_millis(200);

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
    /// Secret values to hide, and the bytes held back because they may begin one.
    redact: Option<(Redactor, Pending)>,
}

struct Live {
    path: PathBuf,
    file: Option<File>,
    failed: bool,
    /// When the sink was made (the attempt's start).
    since: Instant,
    /// Bytes of `buf` already in the file.
    mirrored: usize,
    /// Handed to the catch-up thread (once).
    watched: bool,
}

impl LogSink {
    /// A sink keeping at most `cap` bytes, mirrored to `live` if given (see [`LIVE_AFTER`]).
    pub fn new(cap: usize, live: Option<PathBuf>) -> LogSink {
        let live = live.map(|path| Live {
            path,
            file: None,
            failed: false,
            since: Instant::now(),
            mirrored: 0,
            watched: false,
        });
        LogSink {
            inner: Arc::new(Mutex::new(Inner {
                buf: Vec::new(),
                cap,
                truncated: false,
                live,
                redact: None,
            })),
        }
    }

    /// This sink, replacing the values `redactor` knows in everything written to it (the kept
    /// bytes and the live file alike), even a value split across writes.
    pub fn redacting(self, redactor: Redactor) -> LogSink {
        if !redactor.is_empty() {
            self.inner.lock().expect("log sink lock").redact = Some((redactor, Pending::default()));
        }
        self
    }

    /// Appends guest output.
    pub fn append(&self, bytes: &[u8]) {
        let mut g = self.inner.lock().expect("log sink lock");
        if let Some((r, pending)) = g.redact.as_mut() {
            let clean = pending.push(r, bytes);
            drop(g);
            return self.append_clean(&clean);
        }
        drop(g);
        self.append_clean(bytes)
    }

    /// Appends output already redacted.
    fn append_clean(&self, bytes: &[u8]) {
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
        g.buf.extend_from_slice(kept);
        if cut {
            g.truncated = true;
            let marker = format!(
                "\n[wflow: output truncated: this attempt's log limit of {} bytes was reached]\n",
                g.cap
            );
            g.buf.extend_from_slice(marker.as_bytes());
        }
        let Inner { buf, live, .. } = &mut *g;
        let Some(live) = live.as_mut() else {
            return;
        };
        if live.since.elapsed() >= LIVE_AFTER {
            live.mirror(buf);
        } else if !live.watched && !buf.is_empty() {
            live.watched = true;
            watch(Arc::downgrade(&self.inner));
        }
    }

    /// Everything kept, and whether output was dropped. The stream ends here: what was held
    /// back as the possible start of a secret is written out first.
    pub fn contents(&self) -> (Vec<u8>, bool) {
        let rest = match self.inner.lock().expect("log sink lock").redact.as_mut() {
            Some((r, pending)) => pending.finish(r),
            None => Vec::new(),
        };
        if !rest.is_empty() {
            self.append_clean(&rest);
        }
        let g = self.inner.lock().expect("log sink lock");
        (g.buf.clone(), g.truncated)
    }
}

impl Live {
    /// Appends to the file what `buf` holds beyond what it already has.
    fn mirror(&mut self, buf: &[u8]) {
        if self.failed || self.mirrored >= buf.len() {
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
        if let Some(f) = self.file.as_mut() {
            if f.write_all(&buf[self.mirrored..]).is_err() {
                self.failed = true;
            }
            self.mirrored = buf.len();
        }
    }
}

/// Sinks that wrote before [`LIVE_AFTER`]: the catch-up thread mirrors each one that is still
/// alive once its time comes, even if it writes nothing more.
fn watch(sink: Weak<Mutex<Inner>>) {
    static WATCHED: OnceLock<Mutex<Vec<Weak<Mutex<Inner>>>>> = OnceLock::new();
    let list = WATCHED.get_or_init(|| {
        let spawned = std::thread::Builder::new()
            .name("wflow-live-logs".into())
            .spawn(|| {
                loop {
                    std::thread::sleep(LIVE_AFTER / 4);
                    let Some(list) = WATCHED.get() else { continue };
                    let due: Vec<Weak<Mutex<Inner>>> = {
                        let mut l = list.lock().unwrap_or_else(|p| p.into_inner());
                        std::mem::take(&mut *l)
                    };
                    let mut later = Vec::new();
                    for weak in due {
                        let Some(inner) = weak.upgrade() else {
                            continue;
                        };
                        let mut g = inner.lock().unwrap_or_else(|p| p.into_inner());
                        let Inner { buf, live, .. } = &mut *g;
                        match live.as_mut() {
                            Some(l) if l.since.elapsed() >= LIVE_AFTER => l.mirror(buf),
                            Some(_) => later.push(weak.clone()),
                            None => {}
                        }
                    }
                    if !later.is_empty() {
                        list.lock().unwrap_or_else(|p| p.into_inner()).extend(later);
                    }
                }
            });
        // Without the thread, an early writer's lines reach its live file with its next write.
        drop(spawned);
        Mutex::new(Vec::new())
    });
    list.lock().unwrap_or_else(|p| p.into_inner()).push(sink);
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
        std::thread::sleep(LIVE_AFTER);
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

    #[test]
    fn a_short_attempt_creates_no_file_and_a_quiet_one_is_caught_up() {
        let dir = std::env::temp_dir().join(format!("wflow-live-{}", std::process::id()));
        let short = dir.join("run/1-0.stdout");
        let made = std::time::Instant::now();
        let sink = LogSink::new(100, Some(short.clone()));
        sink.append(b"quick\n");
        drop(sink);
        // (Unless this thread was held up past LIVE_AFTER in between.)
        let quick = made.elapsed() < LIVE_AFTER;
        // A long attempt that wrote early and then went quiet: its line still reaches the file.
        let quiet = dir.join("run/2-0.stdout");
        let sink = LogSink::new(100, Some(quiet.clone()));
        sink.append(b"early\n");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::fs::read_to_string(&quiet).unwrap_or_default() != "early\n" {
            assert!(std::time::Instant::now() < deadline, "never mirrored");
            std::thread::sleep(Duration::from_millis(10));
        }
        sink.append(b"late\n");
        assert_eq!(std::fs::read_to_string(&quiet).unwrap(), "early\nlate\n");
        assert!(!quick || !short.exists(), "the short attempt left no file");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn secrets_are_redacted_in_the_kept_bytes_and_the_live_file() {
        let dir = std::env::temp_dir().join(format!("wflow-redact-{}", std::process::id()));
        let live = dir.join("run/1-0.stdout");
        let secrets = crate::Secrets([("pw".to_string(), b"s3cr3t".to_vec())].into());
        let sink = LogSink::new(1000, Some(live.clone())).redacting(Redactor::new(&secrets));
        std::thread::sleep(LIVE_AFTER);
        sink.append(b"one s3c");
        sink.append(b"r3t two\n");
        sink.append(b"ends with s3");
        let (buf, _) = sink.contents();
        let want = "one [wflow: secret pw redacted] two\nends with s3";
        assert_eq!(String::from_utf8(buf).unwrap(), want);
        assert_eq!(std::fs::read_to_string(&live).unwrap(), want);
        let _ = std::fs::remove_dir_all(dir);
    }
}
