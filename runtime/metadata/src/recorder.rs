//! [`Recorder`]: a background thread that writes events in batches.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use std::time::{Duration, Instant};

use crate::{Event, MetadataError, MetadataStore, Result};

/// A background writer: events sent with `send` are written in batches (everything queued when
/// the thread wakes up goes in one transaction). `flush` blocks until everything sent so far is
/// written and returns the first error seen, if any. Dropping/`close` flushes and joins.
///
/// While the writer is busy with one transaction, new events pile up in memory and all go in the
/// next one, so a foreach of a thousand tasks costs a handful of transactions, and the sender
/// does not wait for SQLite — until [`MAX_QUEUED`] events wait: then `send` waits for the writer
/// to take them, so a run whose tasks end faster than their records are written holds a bounded
/// backlog in memory instead of all of it, and does not leave it all to write after its last
/// task. (Not during an outage of the records, when the run goes on and its records catch up.) Each transaction is atomic: a process killed mid-way leaves the
/// database as it was after some batch, never half of one.
///
/// An event that cannot be recorded (say, a task of an unknown run) is skipped without losing
/// the rest of its batch (see [`Metadata::record_skipping_failures`]); the error is kept and
/// returned by the next [`flush`](Self::flush) or [`close`](Self::close). Each error is returned
/// once. Dropping a recorder waits for its events to be written but discards any error: call
/// `close` to see it.
pub struct Recorder {
    shared: Arc<Shared>,
    meta: Arc<dyn MetadataStore>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled when events arrive or the recorder closes; the writer waits on it.
    wake: Condvar,
    /// Signalled when a batch is taken or written, or the writer stops; flushes and senders
    /// waiting for room wait on it.
    written: Condvar,
    /// Events waiting past which senders wait ([`MAX_QUEUED`]).
    limit: usize,
}

#[derive(Default)]
struct State {
    queue: Vec<Event>,
    /// Events sent since the start.
    sent: u64,
    /// Events written (or skipped with an error) since the start.
    written: u64,
    /// Transactions run since the start.
    batches: u64,
    /// The first error not yet returned by `flush`.
    error: Option<MetadataError>,
    /// `close` or drop asked the writer to finish.
    closing: bool,
    /// Callers waiting in `flush`: the writer does not hold events back for its batch window.
    flushing: usize,
    /// The writer thread has ended.
    stopped: bool,
    /// The writer is keeping a batch the records could not take (an outage): senders do not
    /// wait for it.
    outage: bool,
}

/// Events waiting to be written past which [`Recorder::send`] waits for the writer to take them
/// (about 20 MB of a run's events at the most).
pub const MAX_QUEUED: usize = 50_000;

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding this lock, and the state stays consistent if it did.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Recorder {
    /// Starts the writer thread for `meta` (any [`MetadataStore`]: an `Arc<Metadata>` will do).
    pub fn new(meta: Arc<dyn MetadataStore>) -> Recorder {
        Recorder::with_limit(meta, MAX_QUEUED)
    }

    fn with_limit(meta: Arc<dyn MetadataStore>, limit: usize) -> Recorder {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            written: Condvar::new(),
            limit,
        });
        let thread = std::thread::Builder::new()
            .name("wflow-metadata".into())
            .spawn({
                let shared = shared.clone();
                let meta = meta.clone();
                move || write_loop(&shared, meta.as_ref())
            })
            .expect("cannot start the metadata writer thread");
        Recorder {
            shared,
            meta,
            thread: Some(thread),
        }
    }

    /// The records written to.
    pub fn metadata(&self) -> &Arc<dyn MetadataStore> {
        &self.meta
    }

    /// How many batches (transactions) the writer has run so far.
    pub fn batches(&self) -> u64 {
        self.shared.lock().batches
    }

    /// Queues `event` for writing. Waits only while [`MAX_QUEUED`] events are waiting already
    /// (and the writer is running and the records are reachable): never for a transaction.
    pub fn send(&self, event: Event) {
        let mut state = self.shared.lock();
        while state.queue.len() >= self.shared.limit && !state.stopped && !state.outage {
            state = self
                .shared
                .written
                .wait(state)
                .unwrap_or_else(|p| p.into_inner());
        }
        // The writer waits for the first event of a batch only: while it gathers one (its batch
        // window) or writes one, waking it for every event would only cost a switch of threads.
        let first = state.queue.is_empty();
        state.queue.push(event);
        state.sent += 1;
        drop(state);
        if first {
            self.shared.wake.notify_one();
        }
    }

    /// Queues `events`, in order, as [`send`](Self::send) would one by one, but under one lock
    /// and with at most one wake-up of the writer (a batch of tasks served from the cache).
    pub fn send_all(&self, events: impl IntoIterator<Item = Event>) {
        let mut events = events.into_iter().peekable();
        while events.peek().is_some() {
            let mut state = self.shared.lock();
            while state.queue.len() >= self.shared.limit && !state.stopped && !state.outage {
                state = self
                    .shared
                    .written
                    .wait(state)
                    .unwrap_or_else(|p| p.into_inner());
            }
            // Up to the limit (past it, wait again for the writer to take a batch), or all of
            // them when the writer cannot take any, as `send` does.
            let room = if state.stopped || state.outage {
                usize::MAX
            } else {
                self.shared.limit - state.queue.len()
            };
            let first = state.queue.is_empty();
            let before = state.queue.len();
            state.queue.extend(events.by_ref().take(room));
            state.sent += (state.queue.len() - before) as u64;
            drop(state);
            if first {
                self.shared.wake.notify_one();
            }
        }
    }

    /// Blocks until every event sent so far is written; returns the first error since the last
    /// `flush`, if any.
    pub fn flush(&self) -> Result<()> {
        let mut state = self.shared.lock();
        let target = state.sent;
        state.flushing += 1;
        self.shared.wake.notify_one();
        while state.written < target && !state.stopped {
            state = self
                .shared
                .written
                .wait(state)
                .unwrap_or_else(|p| p.into_inner());
        }
        state.flushing -= 1;
        self.outcome(&mut state, target)
    }

    /// Writes everything sent, stops the writer thread and returns the first error not yet
    /// returned by [`flush`](Self::flush).
    pub fn close(mut self) -> Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<()> {
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        self.shared.lock().closing = true;
        self.shared.wake.notify_one();
        // The writer drains the queue before it ends; a panic in it is reported below as
        // `WriterStopped` since the events it held were not written.
        let _ = thread.join();
        let mut state = self.shared.lock();
        let target = state.sent;
        self.outcome(&mut state, target)
    }

    fn outcome(&self, state: &mut State, target: u64) -> Result<()> {
        if let Some(e) = state.error.take() {
            return Err(e);
        }
        if state.written < target {
            return Err(MetadataError::WriterStopped {
                path: self.meta.path().to_path_buf(),
            });
        }
        Ok(())
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("path", &self.meta.path())
            .finish_non_exhaustive()
    }
}

/// Marks the writer stopped however it ends, panics included, so no flush waits forever.
struct StopGuard<'a>(&'a Shared);

impl Drop for StopGuard<'_> {
    fn drop(&mut self) {
        self.0.lock().stopped = true;
        self.0.written.notify_all();
    }
}

/// How long the writer keeps a batch the records cannot take now ([`MetadataError::Unavailable`]:
/// the metadata service unreachable or its database down) and tries it again, before giving up on
/// the run's records (override: `WFLOW_METADATA_OUTAGE_SECS`).
pub const OUTAGE_LIMIT: Duration = Duration::from_secs(600);

fn outage_limit() -> Duration {
    std::env::var("WFLOW_METADATA_OUTAGE_SECS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map_or(OUTAGE_LIMIT, Duration::from_secs_f64)
}

/// Writes batches as events arrive. A batch the records cannot take now is kept, in order, and
/// tried again with back-off until [`OUTAGE_LIMIT`]: the run goes on and its records catch up
/// once the service is back. Nothing is ever written after a batch that was given up on, so the
/// records never show a run's end without the tasks before it (the run then stays `running`,
/// and the service marks it failed after its heartbeat timeout).
fn write_loop(shared: &Shared, meta: &dyn MetadataStore) {
    let _guard = StopGuard(shared);
    let window = meta.batch_window();
    let limit = outage_limit();
    let mut outage: Option<Instant> = None;
    let mut pause = Duration::from_millis(200);
    let mut gave_up: Option<String> = None;
    loop {
        let batch = {
            let mut state = shared.lock();
            while state.queue.is_empty() && !state.closing {
                state = shared.wake.wait(state).unwrap_or_else(|p| p.into_inner());
            }
            if state.queue.is_empty() {
                return; // closing, and everything is written
            }
            // Where each write is a request, gather more events first, unless someone waits.
            let deadline = Instant::now() + window;
            while !state.closing && state.flushing == 0 {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                state = shared
                    .wake
                    .wait_timeout(state, left)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
            let batch = std::mem::take(&mut state.queue);
            drop(state);
            // Room again for senders waiting on a full queue.
            shared.written.notify_all();
            batch
        };
        let result = match &gave_up {
            Some(why) => Err(MetadataError::Unavailable {
                path: meta.path().to_path_buf(),
                action: "recording events".into(),
                message: format!(
                    "not recorded, since earlier events of this process were not: {why}"
                ),
            }),
            None => meta.record_skipping_failures(&batch),
        };
        let result = match result {
            Err(e) if e.is_unavailable() && gave_up.is_none() => {
                let since = *outage.get_or_insert_with(Instant::now);
                if since.elapsed() < limit {
                    // Back in front of what came since, to be tried again in order.
                    let mut state = shared.lock();
                    let later = std::mem::take(&mut state.queue);
                    state.queue = batch;
                    state.queue.extend(later);
                    state.outage = true;
                    drop(state);
                    shared.written.notify_all();
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_secs(5));
                    continue;
                }
                gave_up = Some(format!("{e} (for {} s)", since.elapsed().as_secs()));
                Err(e)
            }
            other => {
                if gave_up.is_none() {
                    (outage, pause) = (None, Duration::from_millis(200));
                }
                other
            }
        };
        let mut state = shared.lock();
        state.outage = false;
        state.written += batch.len() as u64;
        state.batches += 1;
        if let Err(e) = result {
            state.error.get_or_insert(e);
        }
        drop(state);
        shared.written.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorder_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Recorder>();
        assert_send_sync::<crate::Metadata>();
    }

    #[test]
    fn flush_with_nothing_sent_and_close_are_quiet() {
        let rec = Recorder::new(Arc::new(crate::Metadata::open_in_memory().unwrap()));
        rec.flush().unwrap();
        rec.close().unwrap();
    }

    /// More events than the queue holds, sent faster than they are written: `send` waits for
    /// room instead of failing or dropping any, and every event is recorded in order.
    #[test]
    fn a_full_queue_makes_senders_wait_and_loses_nothing() {
        use crate::Status;
        let meta = Arc::new(crate::Metadata::open_in_memory().unwrap());
        // A small queue: the writer gathers for its batch window, so senders fill it at once.
        let limit = 10;
        let rec = Recorder::with_limit(meta.clone(), limit);
        rec.send(crate::test_run_started("R"));
        let n = 2_000;
        for task_id in 1..=n {
            rec.send(Event::TaskStarted {
                run_id: "R".into(),
                task_id,
                step: "s".into(),
                foreach_path: vec![task_id as u32],
                inputs: vec![],
                started_ms: 2,
            });
            assert!(rec.shared.lock().queue.len() <= limit);
        }
        rec.flush().unwrap();
        let tasks = meta.tasks("R").unwrap();
        assert_eq!(tasks.len() as u64, n);
        assert!(tasks.iter().all(|t| t.status == Status::Running));
        assert!(
            rec.batches() >= n / limit as u64,
            "{} batches",
            rec.batches()
        );
        rec.close().unwrap();
    }

    #[test]
    fn send_all_keeps_order_and_the_limit() {
        use crate::Status;
        let meta = Arc::new(crate::Metadata::open_in_memory().unwrap());
        let limit = 10;
        let rec = Recorder::with_limit(meta.clone(), limit);
        let run = crate::test_run_started("R");
        let n = 1_000u64;
        // Each task's start before its end: in order, or the end would find no task.
        let events = (1..=n).flat_map(|task_id| {
            [
                Event::TaskStarted {
                    run_id: "R".into(),
                    task_id,
                    step: "s".into(),
                    foreach_path: vec![task_id as u32],
                    inputs: vec![],
                    started_ms: 2,
                },
                Event::TaskFinished {
                    run_id: "R".into(),
                    task_id,
                    status: Status::Succeeded,
                    finished_ms: 3,
                    manifest: None,
                },
            ]
        });
        rec.send_all(std::iter::once(run).chain(events));
        // It waited for the writer rather than queueing past the limit.
        assert!(rec.shared.lock().queue.len() <= limit);
        rec.flush().unwrap();
        let tasks = meta.tasks("R").unwrap();
        assert_eq!(tasks.len() as u64, n);
        assert!(tasks.iter().all(|t| t.status == Status::Succeeded));
        assert!(rec.batches() >= 2 * n / limit as u64, "{}", rec.batches());
        rec.close().unwrap();
    }
}
