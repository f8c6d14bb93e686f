//! Logs of a task's attempts: stored in the store once an attempt ends, and mirrored to live files
//! while it runs.
//!
//! # Live logs
//!
//! While an attempt runs, the engine appends what the task writes to
//! `<store>/live/<run_id>/<task_id>-<attempt>.stdout` and `.stderr` ([`live_log_path`]). A file
//! exists only once the task has written to that stream and the attempt has run for
//! `wflow_engine::LIVE_AFTER` (0.2 s: a shorter attempt, like most of a big foreach, never has
//! one), and the run's live folder is removed once the run ends and its final logs are recorded. So:
//!
//! - an attempt whose record has a log digest: the log is in the store (the live file is gone or
//!   about to go);
//! - an attempt still running: the live file holds what it has written so far;
//! - an attempt of a killed run (its record never finished): the live file holds its last lines.

use std::io::{Read, Seek, SeekFrom};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Duration;

use wflow_metadata::{AttemptRecord, Status};

use crate::{Client, ClientError, Result, Task};

/// The folder of a store holding live logs, one folder per run inside it.
pub const LIVE_DIR: &str = "live";

/// One of a task's two output streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl Stream {
    /// Both streams, stdout first.
    pub const BOTH: [Stream; 2] = [Stream::Stdout, Stream::Stderr];

    /// `stdout` or `stderr` (also the live file's extension).
    pub fn as_str(&self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }

    fn index(self) -> usize {
        match self {
            Stream::Stdout => 0,
            Stream::Stderr => 1,
        }
    }
}

impl std::fmt::Display for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The folder of run `run_id`'s live logs: `<store_root>/live/<run_id>`.
pub fn live_log_dir(store_root: &Path, run_id: &str) -> PathBuf {
    store_root.join(LIVE_DIR).join(run_id)
}

/// The live log of one stream of one attempt:
/// `<store_root>/live/<run_id>/<task_id>-<attempt>.<stdout|stderr>`.
///
/// ```
/// use std::path::Path;
/// use wflow_client::{Stream, live_log_path};
/// let p = live_log_path(Path::new("/s"), "20261128T182550-k3f9a", 7, 1, Stream::Stderr);
/// assert_eq!(p, Path::new("/s/live/20261128T182550-k3f9a/7-1.stderr"));
/// ```
pub fn live_log_path(
    store_root: &Path,
    run_id: &str,
    task_id: u64,
    attempt: u32,
    stream: Stream,
) -> PathBuf {
    live_log_dir(store_root, run_id).join(format!("{task_id}-{attempt}.{}", stream.as_str()))
}

/// Where a log's bytes came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogSource {
    /// The store: the attempt ended and its log was kept.
    Stored,
    /// The live file: the attempt is running, or its run was killed before it ended.
    Live,
    /// Nothing: the attempt wrote nothing to this stream (so far).
    Empty,
}

/// One stream of one attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Log {
    /// Which stream.
    pub stream: Stream,
    /// What the attempt wrote to it.
    pub bytes: Vec<u8>,
    /// Where the bytes came from.
    pub source: LogSource,
}

/// Both streams of one attempt.
#[derive(Clone, Debug)]
pub struct AttemptLogs {
    /// The attempt's record.
    pub attempt: AttemptRecord,
    /// Its standard output.
    pub stdout: Log,
    /// Its standard error.
    pub stderr: Log,
}

impl AttemptLogs {
    /// The log of `stream`.
    pub fn get(&self, stream: Stream) -> &Log {
        match stream {
            Stream::Stdout => &self.stdout,
            Stream::Stderr => &self.stderr,
        }
    }
}

/// What [`Task::follow_logs`] reports as it goes.
#[derive(Debug)]
pub enum FollowEvent<'a> {
    /// Output of `attempt` is about to be followed (sent first, then for each retry).
    Attempt(u32),
    /// New output.
    Output {
        /// The attempt that wrote it.
        attempt: u32,
        /// The stream.
        stream: Stream,
        /// The bytes, in order, never repeated.
        bytes: &'a [u8],
    },
}

/// How following ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FollowEnd {
    /// The task finished with this status, and all its output was passed on.
    Finished(Status),
    /// The run ended (its process died or was killed) while the task was still recorded as
    /// running; what its live files held was passed on.
    RunEnded(Status),
    /// The run is still recorded as running but its process is gone (killed); what its live
    /// files held was passed on.
    ProcessGone,
    /// The callback asked to stop.
    Stopped,
}

/// Settings of [`Task::follow_logs`].
#[derive(Clone, Debug)]
pub struct FollowOptions {
    /// The attempt to start with (default: the latest one when following starts).
    pub attempt: Option<u32>,
    /// The streams to follow (default both).
    pub streams: Vec<Stream>,
    /// How often to look for new output.
    pub poll: Duration,
}

impl Default for FollowOptions {
    fn default() -> Self {
        FollowOptions {
            attempt: None,
            streams: Stream::BOTH.to_vec(),
            poll: Duration::from_millis(100),
        }
    }
}

impl Task<'_> {
    /// The logs of attempt `attempt` (default: the latest), from the store once the attempt
    /// ended, else from its live files.
    pub fn logs(&self, attempt: Option<u32>) -> Result<AttemptLogs> {
        let attempts = self.attempts()?;
        let record = match attempt {
            Some(n) => attempts
                .into_iter()
                .find(|a| a.attempt == n)
                .ok_or_else(|| ClientError::NoSuchAttempt {
                    task: self.pathspec(),
                    attempt: n,
                    attempts: self.record().attempts,
                })?,
            None => attempts
                .into_iter()
                .last()
                .ok_or_else(|| ClientError::NoSuchAttempt {
                    task: self.pathspec(),
                    attempt: 0,
                    attempts: 0,
                })?,
        };
        let read = |stream: Stream| -> Result<Log> {
            let digest = match stream {
                Stream::Stdout => record.stdout,
                Stream::Stderr => record.stderr,
            };
            if digest.is_some() {
                return Ok(Log {
                    stream,
                    bytes: self.stored_log(&record, stream)?,
                    source: LogSource::Stored,
                });
            }
            match self.read_live(record.attempt, stream, 0)? {
                Some(bytes) => Ok(Log {
                    stream,
                    bytes,
                    source: LogSource::Live,
                }),
                None => Ok(Log {
                    stream,
                    bytes: Vec::new(),
                    source: LogSource::Empty,
                }),
            }
        };
        Ok(AttemptLogs {
            stdout: read(Stream::Stdout)?,
            stderr: read(Stream::Stderr)?,
            attempt: record,
        })
    }

    /// Passes the task's output to `on` as it is written, until the task finishes (or its run
    /// ends, or `on` breaks). Starts with what was already written. When an attempt fails and
    /// the task retries, goes on with the next attempt.
    ///
    /// Blocks, polling the records and live files every `options.poll`.
    pub fn follow_logs(
        &self,
        options: &FollowOptions,
        mut on: impl FnMut(FollowEvent) -> ControlFlow<()>,
    ) -> Result<FollowEnd> {
        let client = self.client();
        let meta = client.metadata();
        let (run_id, task_id) = (self.record().run_id.clone(), self.record().task_id);
        let mut attempt = match options.attempt {
            Some(n) => n,
            None => self.attempts()?.last().map_or(0, |a| a.attempt),
        };
        let mut offsets = [0usize; 2];
        let mut done = [false; 2];
        let mut announced = false;
        let mut stopping = false;
        loop {
            // Read the run before the task and the task before its attempts: a run is recorded
            // finished only after its tasks, so a finished run never shows a task still running
            // that had in fact finished in between the reads.
            let run_status = meta.run(&run_id)?.map_or(Status::Running, |r| r.status);
            let task = meta
                .task(&run_id, task_id)?
                .unwrap_or_else(|| self.record().clone());
            let attempts = meta.attempts(&run_id, task_id)?;
            if let Some(record) = attempts.iter().find(|a| a.attempt == attempt) {
                if !announced {
                    announced = true;
                    if on(FollowEvent::Attempt(attempt)).is_break() {
                        return Ok(FollowEnd::Stopped);
                    }
                }
                for &stream in &options.streams {
                    let i = stream.index();
                    if done[i] {
                        continue;
                    }
                    let digest = match stream {
                        Stream::Stdout => record.stdout,
                        Stream::Stderr => record.stderr,
                    };
                    let fresh = match digest {
                        Some(_) => {
                            done[i] = true;
                            let all = self.stored_log(record, stream)?;
                            all.get(offsets[i]..)
                                .map(<[u8]>::to_vec)
                                .unwrap_or_default()
                        }
                        None => {
                            // Finished without a digest: it wrote nothing (or its log could not
                            // be stored); the live file, if any, is all there is.
                            done[i] = record.status.is_finished();
                            self.read_live(attempt, stream, offsets[i])?
                                .unwrap_or_default()
                        }
                    };
                    if !fresh.is_empty() {
                        offsets[i] += fresh.len();
                        let event = FollowEvent::Output {
                            attempt,
                            stream,
                            bytes: &fresh,
                        };
                        if on(event).is_break() {
                            return Ok(FollowEnd::Stopped);
                        }
                    }
                }
                let streams_done = options.streams.iter().all(|s| done[s.index()]);
                if streams_done {
                    if attempts.iter().any(|a| a.attempt == attempt + 1) {
                        attempt += 1;
                        offsets = [0; 2];
                        done = [false; 2];
                        announced = false;
                        continue;
                    }
                    if task.status.is_finished() {
                        return Ok(FollowEnd::Finished(task.status));
                    }
                }
            } else if task.status.is_finished() {
                return Ok(FollowEnd::Finished(task.status));
            }
            if run_status.is_finished() && !task.status.is_finished() {
                return Ok(FollowEnd::RunEnded(run_status));
            }
            if !run_status.is_finished() && !task.status.is_finished() && self.run_is_gone() {
                // Read what the live files got before the process died, then stop.
                if stopping {
                    return Ok(FollowEnd::ProcessGone);
                }
                stopping = true;
                continue;
            }
            std::thread::sleep(options.poll);
        }
    }

    fn run_is_gone(&self) -> bool {
        match self.client().store_root() {
            Some(root) => crate::liveness(root, &self.record().run_id) == crate::Liveness::Gone,
            None => false,
        }
    }

    /// A log the attempt's record names: from the records or the store (see
    /// [`AttemptRecord::read_log`]).
    fn stored_log(&self, record: &AttemptRecord, stream: Stream) -> Result<Vec<u8>> {
        let err = |reason: String| ClientError::Log {
            task: self.pathspec(),
            attempt: record.attempt,
            stream: stream.as_str(),
            reason,
        };
        record
            .read_log(self.client().cas(), stream == Stream::Stderr)
            .ok_or_else(|| err("no log is recorded".into()))?
            .map_err(|e| err(e.to_string()))
    }

    /// The live file's bytes from `offset`, or `None` if there is no live file.
    fn read_live(&self, attempt: u32, stream: Stream, offset: usize) -> Result<Option<Vec<u8>>> {
        let Some(root) = self.client().store_root() else {
            return Ok(None);
        };
        let path = live_log_path(root, &self.record().run_id, self.id(), attempt, stream);
        let err = |e: std::io::Error| ClientError::Log {
            task: self.pathspec(),
            attempt,
            stream: stream.as_str(),
            reason: format!("reading the live log {}: {e}", path.display()),
        };
        let mut file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(err(e)),
        };
        file.seek(SeekFrom::Start(offset as u64)).map_err(err)?;
        let mut out = Vec::new();
        file.read_to_end(&mut out).map_err(err)?;
        Ok(Some(out))
    }
}

#[allow(dead_code)]
fn _assert_client_is_send_sync() {
    fn check<T: Send + Sync>() {}
    check::<Client>();
}
