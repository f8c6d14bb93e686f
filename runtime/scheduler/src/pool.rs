//! The threads local attempts run on: a pool of this process's own, fed by one queue.
//!
//! Each local attempt used to be a `spawn_blocking` of the scheduler's tokio runtime. Its
//! blocking pool keeps up to eight idle threads, each waiting on one condition variable under
//! one lock, and wakes one while it still holds that lock: at 10,000 trivial tasks on two
//! workers the woken threads spent about 6 % of the run's CPU waiting for that lock
//! (`Mutex::lock_contended` inside the condition variable's wait). Here a thread is woken only
//! after the lock is released, idle threads take the oldest job first, and a thread is started
//! only when no idle one is left for a queued job (so there are as many as attempts ever ran
//! at once, never more). A thread idle for [`KEEP_ALIVE`] ends.
//!
//! The threads run outside any tokio runtime, like a plain blocking thread: what an attempt
//! calls that needs a runtime brings its own (the S3 store does).

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

/// How long a thread of the pool waits for a job before it ends.
pub const KEEP_ALIVE: Duration = Duration::from_secs(10);

type Job = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    /// Threads waiting for a job.
    idle: usize,
}

#[derive(Default)]
struct Pool {
    queue: Mutex<Queue>,
    /// Signalled (outside the lock) when a job is queued.
    queued: Condvar,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(Pool::default)
}

impl Pool {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // Jobs run outside the lock and nothing else can panic holding it.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn submit(&'static self, job: Job) {
        let mut q = self.lock();
        q.jobs.push_back(job);
        // Every idle thread may have been signalled for a job queued before this one.
        let start = q.idle < q.jobs.len();
        drop(q);
        if start {
            std::thread::Builder::new()
                .name("wflow-task".into())
                .spawn(move || self.work())
                .expect("cannot start a thread to run tasks on");
        } else {
            self.queued.notify_one();
        }
    }

    fn work(&self) {
        let mut q = self.lock();
        loop {
            if let Some(job) = q.jobs.pop_front() {
                drop(q);
                job();
                q = self.lock();
                continue;
            }
            q.idle += 1;
            let (back, waited) = self
                .queued
                .wait_timeout(q, KEEP_ALIVE)
                .unwrap_or_else(|p| p.into_inner());
            q = back;
            q.idle -= 1;
            if waited.timed_out() && q.jobs.is_empty() {
                return;
            }
        }
    }
}

/// Queues `f` at once (not when the future is first polled) to run on a thread of the pool;
/// the future gives its result, or the panic's message if it panicked.
pub(crate) fn run<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> impl std::future::Future<Output = Result<T, String>> + Send {
    let (tx, rx) = tokio::sync::oneshot::channel();
    pool().submit(Box::new(move || {
        let out = catch_unwind(AssertUnwindSafe(f)).map_err(|p| {
            p.downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".into())
        });
        let _ = tx.send(out);
    }));
    async move {
        rx.await
            .unwrap_or_else(|_| Err("the job was dropped unrun".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// More jobs at once than there are idle threads: each runs once, on threads of the pool,
    /// and a panicking job reports its message instead of taking a thread's caller down.
    #[tokio::test]
    async fn jobs_run_once_and_panics_are_reported() {
        let jobs: Vec<_> = (0..64u64)
            .map(|i| tokio::spawn(run(move || i * 2)))
            .collect();
        let mut sum = 0;
        for j in jobs {
            sum += j.await.unwrap().unwrap();
        }
        assert_eq!(sum, 2 * (0..64).sum::<u64>());
        let name = run(|| std::thread::current().name().map(String::from))
            .await
            .unwrap();
        assert_eq!(name.as_deref(), Some("wflow-task"));
        let err = run(|| -> u32 { panic!("boom {}", 7) }).await.unwrap_err();
        assert_eq!(err, "boom 7");
        assert!(pool().lock().idle >= 1);
    }
}
