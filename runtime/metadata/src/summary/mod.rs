//! Per-step summaries ([`StepStats`]) kept up to date as tasks are recorded, so a page about a
//! step of 100,000 tasks reads one row instead of adding its tasks up.
//!
//! The logic lives here once: a task's [`Share`] of its step's summary, the [`Change`] a batch
//! of events makes to a step (what its tasks' shares were before the batch, taken back, and are
//! after it, added), and how a change lands on a stored summary ([`Change::land`]). A backend
//! only keeps the rows: it notes each task an event touches before the event applies
//! ([`Touched`], [`task_of`]), reads the tasks' shares after the batch, and writes the changed
//! summaries. The SQLite file and the metadata service's PostgreSQL keep them in a table
//! `step_summary`; records kept as objects sum up a run's fold ([`stats_of`]).
//!
//! Counts and the total task time are sums, exact under any change. The extremes (first start,
//! last end, longest task) only grow by adding; when a task gives up the value that was its
//! step's extreme (an attempt reporting a later real start than the task's recorded one), the
//! step's summary is derived again from its tasks.

use std::collections::{BTreeMap, HashMap};

use crate::{Status, StepStats, TaskRecord};

mod sqlite;
pub(crate) use sqlite::{applied, flush, note, read_stats, shares_of_rows};

/// One task's share of its step's summary: what of its record the summary adds up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Share {
    /// Its step.
    pub step: String,
    /// Its status.
    pub status: Status,
    /// When it began.
    pub started_ms: i64,
    /// When it ended.
    pub finished_ms: Option<i64>,
    /// Attempts started.
    pub attempts: u32,
    /// Whether it took its outputs from another task (resume or cache).
    pub reused: bool,
    /// Whether it took them from the cache.
    pub cached: bool,
    /// Whether it succeeded though its last attempt failed (caught).
    pub caught: bool,
}

impl Share {
    /// The share of the task `t`.
    pub fn of(t: &TaskRecord) -> Share {
        Share {
            step: t.step.clone(),
            status: t.status,
            started_ms: t.started_ms,
            finished_ms: t.finished_ms,
            attempts: t.attempts,
            reused: t.is_reused(),
            cached: t.is_cached(),
            caught: t.caught,
        }
    }

    fn took(&self) -> Option<i64> {
        self.finished_ms.map(|end| end - self.started_ms)
    }

    /// Its counts, in the order of [`Change::counts`].
    fn counts(&self) -> [i64; COUNTS] {
        [
            1,
            i64::from(self.status == Status::Succeeded),
            i64::from(self.status == Status::Failed),
            i64::from(self.status == Status::Running),
            i64::from(self.reused),
            i64::from(self.cached),
            i64::from(self.caught),
            i64::from(self.attempts),
            self.took().unwrap_or(0),
        ]
    }
}

const COUNTS: usize = 9;

/// The summaries of tasks' shares, by step (what a `step_summary` table holds), ordered by step.
pub fn stats_of<'a>(shares: impl IntoIterator<Item = &'a Share>) -> Vec<StepStats> {
    let mut by_step: BTreeMap<&str, Change> = BTreeMap::new();
    for s in shares {
        by_step.entry(&s.step).or_default().add(s);
    }
    by_step
        .into_iter()
        .map(|(step, c)| c.land(None, step).expect("nothing taken back"))
        .collect()
}

/// What a batch of events changes in one step's summary.
#[derive(Clone, Debug, Default)]
pub struct Change {
    /// Added minus taken back: tasks, succeeded, failed, running, reused, cached, caught,
    /// attempts, task time.
    counts: [i64; COUNTS],
    first_started_ms: Option<i64>,
    last_finished_ms: Option<i64>,
    max_task_ms: Option<i64>,
    /// The extremes of the shares taken back and not given again by the same task: if one is
    /// the stored summary's, the summary is derived again.
    gone_started: Option<i64>,
    gone_finished: Option<i64>,
    gone_took: Option<i64>,
}

fn min(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    a.into_iter().chain(b).min()
}

fn max(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    a.into_iter().chain(b).max()
}

impl Change {
    fn add(&mut self, s: &Share) {
        for (c, n) in self.counts.iter_mut().zip(s.counts()) {
            *c += n;
        }
        self.first_started_ms = min(self.first_started_ms, Some(s.started_ms));
        self.last_finished_ms = max(self.last_finished_ms, s.finished_ms);
        self.max_task_ms = max(self.max_task_ms, s.took());
    }

    /// Takes back `before`, a task's share that is now `after` (in this step or another).
    fn take_back(&mut self, before: &Share, after: Option<&Share>) {
        for (c, n) in self.counts.iter_mut().zip(before.counts()) {
            *c -= n;
        }
        let kept = after.filter(|a| a.step == before.step);
        if kept.is_none_or(|a| a.started_ms != before.started_ms) {
            self.gone_started = min(self.gone_started, Some(before.started_ms));
        }
        if kept.is_none_or(|a| a.finished_ms != before.finished_ms) {
            self.gone_finished = max(self.gone_finished, before.finished_ms);
        }
        if kept.is_none_or(|a| a.took() != before.took()) {
            self.gone_took = max(self.gone_took, before.took());
        }
    }

    /// The summary of `step` after this change to `stored`; `None` when an extreme of `stored`
    /// may be gone (or a count would go below zero): derive it again from the step's tasks.
    pub fn land(&self, stored: Option<&StepStats>, step: &str) -> Option<StepStats> {
        let zero = StepStats::default();
        let s = stored.unwrap_or(&zero);
        let at_or_past = |gone: Option<i64>, have: Option<i64>, low: bool| match (gone, have) {
            (Some(g), Some(h)) => (low && g <= h) || (!low && g >= h),
            _ => false,
        };
        if at_or_past(self.gone_started, s.first_started_ms, true)
            || at_or_past(self.gone_finished, s.last_finished_ms, false)
            || at_or_past(self.gone_took, s.max_task_ms, false)
        {
            return None;
        }
        let old = [
            s.tasks as i64,
            s.succeeded as i64,
            s.failed as i64,
            s.running as i64,
            s.reused as i64,
            s.cached as i64,
            s.caught as i64,
            s.attempts as i64,
            s.task_ms,
        ];
        let mut n = [0i64; COUNTS];
        for i in 0..COUNTS {
            n[i] = old[i] + self.counts[i];
            // (The task time, a sum of differences of recorded times, may be anything.)
            if n[i] < 0 && i < COUNTS - 1 {
                return None;
            }
        }
        Some(StepStats {
            step: step.to_string(),
            tasks: n[0] as u64,
            succeeded: n[1] as u64,
            failed: n[2] as u64,
            running: n[3] as u64,
            reused: n[4] as u64,
            cached: n[5] as u64,
            caught: n[6] as u64,
            attempts: n[7] as u64,
            task_ms: n[8],
            first_started_ms: min(s.first_started_ms, self.first_started_ms),
            last_finished_ms: max(s.last_finished_ms, self.last_finished_ms),
            max_task_ms: max(s.max_task_ms, self.max_task_ms),
        })
    }
}

/// The tasks a batch of events touches, with their shares before it.
#[derive(Debug, Default)]
pub struct Touched {
    before: HashMap<(String, u64), Option<Share>>,
}

impl Touched {
    /// Whether the task's share before the batch is noted already.
    pub fn has(&self, run_id: &str, task_id: u64) -> bool {
        self.before.contains_key(&(run_id.to_string(), task_id))
    }

    /// Notes the task's share before the batch (`None`: not recorded yet).
    pub fn note(&mut self, run_id: &str, task_id: u64, share: Option<Share>) {
        self.before
            .entry((run_id.to_string(), task_id))
            .or_insert(share);
    }

    /// The tasks noted.
    pub fn tasks(&self) -> impl Iterator<Item = &(String, u64)> {
        self.before.keys()
    }

    /// The change to each `(run, step)` once the tasks' shares are `after` (a task absent from
    /// it is no longer recorded).
    pub fn changes(
        &self,
        after: &HashMap<(String, u64), Share>,
    ) -> BTreeMap<(String, String), Change> {
        let mut out: BTreeMap<(String, String), Change> = BTreeMap::new();
        for (key, before) in &self.before {
            let now = after.get(key);
            if before.as_ref() == now {
                continue;
            }
            if let Some(b) = before {
                out.entry((key.0.clone(), b.step.clone()))
                    .or_default()
                    .take_back(b, now);
            }
            if let Some(a) = now {
                out.entry((key.0.clone(), a.step.clone()))
                    .or_default()
                    .add(a);
            }
        }
        out
    }
}

/// The task an event changes the share of, if any.
pub fn task_of(event: &crate::Event) -> Option<(&str, u64)> {
    use crate::Event as E;
    match event {
        E::TaskStarted {
            run_id, task_id, ..
        }
        | E::AttemptStarted {
            run_id, task_id, ..
        }
        | E::AttemptFinished {
            run_id, task_id, ..
        }
        | E::TaskFinished {
            run_id, task_id, ..
        }
        | E::TaskReused {
            run_id, task_id, ..
        } => Some((run_id, *task_id)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn share(step: &str, status: Status, started: i64, finished: Option<i64>) -> Share {
        Share {
            step: step.into(),
            status,
            started_ms: started,
            finished_ms: finished,
            attempts: 1,
            reused: false,
            cached: false,
            caught: false,
        }
    }

    /// Lands the changes of `steps` (before → after of each task) on `stored`, or derives.
    fn land(stored: &[Share], changes: &[(Option<Share>, Option<Share>)]) -> Vec<StepStats> {
        let mut t = Touched::default();
        let mut after = HashMap::new();
        let mut now: Vec<Share> = stored.to_vec();
        for (i, (b, a)) in changes.iter().enumerate() {
            let id = 1000 + i as u64;
            t.note("R", id, b.clone());
            if let Some(a) = a {
                after.insert(("R".to_string(), id), a.clone());
            }
            if let Some(b) = b {
                let at = now.iter().position(|s| s == b).expect("a stored share");
                now.remove(at);
            }
            now.extend(a.clone());
        }
        let derived = stats_of(&now);
        let base = stats_of(stored);
        let mut landed: Vec<StepStats> = Vec::new();
        for ((_, step), c) in t.changes(&after) {
            let old = base.iter().find(|s| s.step == step);
            match c.land(old, &step) {
                Some(s) => landed.push(s),
                None => landed.push(derived.iter().find(|s| s.step == step).unwrap().clone()),
            }
        }
        for s in &derived {
            assert_eq!(landed.iter().find(|l| l.step == s.step), Some(s));
        }
        landed
    }

    #[test]
    fn changes_land_as_the_tasks_add_up() {
        use Status::*;
        let a = share("a", Succeeded, 10, Some(20));
        let b = share("a", Running, 12, None);
        // A task starts, another finishes, a third is reused.
        land(
            &[a.clone(), b.clone()],
            &[
                (None, Some(share("a", Running, 15, None))),
                (Some(b.clone()), Some(share("a", Failed, 12, Some(40)))),
                (
                    None,
                    Some(Share {
                        reused: true,
                        cached: true,
                        ..share("b", Succeeded, 5, Some(5))
                    }),
                ),
            ],
        );
        // The first task's start moves later (its attempt's real start): derived again.
        land(
            &[a.clone(), b.clone()],
            &[(Some(a.clone()), Some(share("a", Succeeded, 14, Some(20))))],
        );
        // The longest task shrinks: derived again.
        let long = share("a", Succeeded, 0, Some(100));
        land(
            &[a.clone(), long.clone()],
            &[(Some(long), Some(share("a", Succeeded, 50, Some(100))))],
        );
    }
}
