//! [`Bridge`]: the backend's own tokio runtime, and a way to wait for its work from any thread.
//!
//! [`BlobStore`](wflow_store::BlobStore) is synchronous. The engine calls it from blocking worker
//! threads, but the scheduler also calls it from inside *its* tokio runtime, where
//! `Runtime::block_on` would panic ("Cannot start a runtime from within a runtime"). So the S3
//! backend owns a small multi-threaded runtime that drives all its I/O and timers, and waits for a
//! future with [`park_on`]: it polls the future on the calling thread (inside the runtime's
//! context, so the SDK finds its reactor and clock) and parks the thread between polls. That works
//! on any thread — a plain one, a `spawn_blocking` one or an async worker of another runtime (which
//! it then blocks, as any synchronous call would).
//!
//! The future is polled *unconstrained* by tokio's cooperative budget. On an async worker of
//! another runtime, the thread-local budget is that runtime's current task's: once a task had made
//! ~128 tokio calls through the bridge without returning to its runtime, every tokio resource
//! (locks, channels, sockets, join handles) answered `Pending` and woke the waker at once, and the
//! thread spun at 100 % CPU forever, since only returning to the runtime refills the budget (the
//! hang of `wflow resume` on S3 with a foreach of 40 items or more). Async callers should still
//! not call the synchronous store from an async worker, since it blocks that worker (the scheduler
//! moves such calls to blocking threads), but when one does, it is slow, never stuck.
//!
//! Work that must go on while the caller is not polling (the parts of a transfer, read-ahead) is
//! spawned onto the runtime; the caller then waits on its `JoinHandle` the same way.

use std::future::Future;
use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;

use tokio::runtime::{Handle, Runtime};

/// The runtime of one S3 store. Dropping it never blocks (so it may happen inside async code).
#[derive(Debug)]
pub(crate) struct Bridge {
    runtime: Option<Runtime>,
}

impl Bridge {
    /// A runtime with `threads` worker threads named `wflow-s3`.
    pub(crate) fn new(threads: usize) -> io::Result<Bridge> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("wflow-s3")
            .enable_all()
            .build()?;
        Ok(Bridge {
            runtime: Some(runtime),
        })
    }

    /// The runtime's handle, to spawn work on it.
    pub(crate) fn handle(&self) -> &Handle {
        self.runtime
            .as_ref()
            .expect("present until dropped")
            .handle()
    }

    /// Runs `fut` to completion on the calling thread, inside this runtime's context.
    pub(crate) fn block_on<F: Future>(&self, fut: F) -> F::Output {
        let _context = self.handle().enter();
        park_on(fut)
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            // `Runtime`'s own drop waits for its workers, which panics inside async code.
            runtime.shutdown_background();
        }
    }
}

/// Wakes a parked thread.
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `fut` on this thread until it completes, parking in between. Needs no runtime of its
/// own: whatever the future waits for must be driven elsewhere (here: the bridge's workers).
pub(crate) fn park_on<F: Future>(fut: F) -> F::Output {
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    // Not the caller's cooperative budget: see the module's documentation.
    let mut fut = pin!(tokio::task::coop::unconstrained(fut));
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        // A spurious wake-up only costs one more poll.
        std::thread::park();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn waits_from_a_plain_thread_and_from_inside_another_runtime() {
        let bridge = Arc::new(Bridge::new(1).unwrap());
        let slept = bridge.block_on(async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            7
        });
        assert_eq!(slept, 7);

        let other = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let b = bridge.clone();
        let n = other.block_on(async move {
            // Inside another runtime's async context: no "runtime within a runtime" panic.
            let spawned = b.handle().spawn(async { 40 });
            b.block_on(async { spawned.await.unwrap() + 2 })
        });
        assert_eq!(n, 42);

        // The last reference dropped inside async code does not panic either.
        other.block_on(async move { drop(bridge) });
    }

    /// The hang of `wflow resume` on S3: hundreds of synchronous store calls from one async task
    /// of another runtime used up that task's cooperative budget, after which every tokio
    /// resource polled through the bridge said `Pending` forever.
    #[test]
    fn many_calls_from_one_async_task_of_another_runtime_all_complete() {
        let bridge = Arc::new(Bridge::new(1).unwrap());
        let lock = Arc::new(tokio::sync::RwLock::new(0u32));
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let other = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            let total = other.block_on(async move {
                let mut total = 0;
                for _ in 0..1000 {
                    let lock = lock.clone();
                    // What the SDK's caches do on every request: take a tokio lock; and a
                    // spawned part awaited through its join handle, as transfers do.
                    total += bridge.block_on(async move { *lock.read().await + 1 });
                    let part = bridge.handle().spawn(async { 1 });
                    total += bridge.block_on(part).unwrap();
                }
                total
            });
            let _ = done.send(total);
        });
        // Generous: 2,000 calls take milliseconds; before the fix they never finished.
        let total = finished
            .recv_timeout(Duration::from_secs(120))
            .expect("every call through the bridge completes");
        assert_eq!(total, 2000);
    }
}
