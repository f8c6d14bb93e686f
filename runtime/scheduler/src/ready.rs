//! The ready queue: tasks that may start, in the order they became ready.
//!
//! A foreach's items wait in it as one cursor, not as a task each: a 1,000,000-item foreach
//! would otherwise hold a million tasks (their inputs, split frames, items) at once before the
//! first of them ran. The cursor makes the next items' tasks when the queue runs short, a
//! window at a time; their ids are reserved when the foreach declares its items, so ids, order
//! and records are those of tasks made all at once.

use std::collections::VecDeque;
use std::sync::Arc;

use wflow_engine::{InputArtifacts, Value};

use crate::frames::Frame;
use crate::run::Pending;

/// Tasks made from cursors at a time, at least (the run loop asks for more when fewer than half
/// are left). Their cache lookups were made when the foreach declared its items.
pub(crate) const FANOUT_WINDOW: usize = 4096;

/// The items of one foreach whose tasks are not made yet.
pub(crate) struct Fanout {
    /// The step each item runs.
    pub step: Arc<str>,
    /// The split task and its output: every item's input.
    pub input: (u64, InputArtifacts),
    /// The frames around the split (each item's task adds its own).
    pub stack: Vec<Frame>,
    /// The items not handed out yet.
    pub items: std::vec::IntoIter<Value>,
    /// How many items the split declared.
    pub count: u32,
    /// The id of item 0's task (the items' ids follow on).
    pub first_id: u64,
    /// The index of the next item.
    pub next: u32,
    /// Each item's earlier tasks in the cache, when looked up (see
    /// [`look_up_items`](crate::cached::look_up_items)).
    pub candidates: Option<std::vec::IntoIter<Vec<wflow_metadata::CacheEntry>>>,
}

impl Fanout {
    /// The next item's task.
    fn take(&mut self) -> Option<Pending> {
        let item = self.items.next()?;
        let index = self.next;
        self.next += 1;
        let mut stack = self.stack.clone();
        stack.push(Frame {
            split_task: self.input.0,
            index,
            count: self.count,
            item: Some(Arc::new(item)),
        });
        Some(Pending {
            task_id: self.first_id + u64::from(index),
            step: self.step.clone(),
            inputs: vec![self.input.clone()],
            stack,
            candidates: self.candidates.as_mut().and_then(|c| c.next()),
        })
    }
}

enum Later {
    Task(Pending),
    Items(Fanout),
}

/// The ready queue (see the module's note).
#[derive(Default)]
pub(crate) struct Ready {
    /// Tasks made, the first to start at the front.
    now: VecDeque<Pending>,
    /// What comes after all of `now`, in order: tasks and foreach cursors.
    later: VecDeque<Later>,
    /// How many tasks at the back of `now` were not looked up in the cache yet (new tasks join
    /// at the back, so they are always its last ones).
    pub unlooked: usize,
}

impl Ready {
    /// A new task, behind every other.
    pub(crate) fn push(&mut self, p: Pending) {
        if self.later.is_empty() {
            self.now.push_back(p);
            self.unlooked += 1;
        } else {
            self.later.push_back(Later::Task(p));
        }
    }

    /// A foreach's items, behind every other task.
    pub(crate) fn push_items(&mut self, f: Fanout) {
        self.later.push_back(Later::Items(f));
    }

    /// A task to start before every other (one that could not be served from the cache).
    pub(crate) fn push_front(&mut self, p: Pending) {
        self.now.push_front(p);
    }

    pub(crate) fn pop_front(&mut self) -> Option<Pending> {
        self.now.pop_front()
    }

    pub(crate) fn front(&self) -> Option<&Pending> {
        self.now.front()
    }

    /// The tasks made so far (for the cache lookups of the newest).
    pub(crate) fn made(&mut self) -> &mut VecDeque<Pending> {
        &mut self.now
    }

    /// The foreaches whose items' tasks were not looked up in the cache.
    pub(crate) fn unlooked_items(&mut self) -> impl Iterator<Item = &mut Fanout> {
        self.later.iter_mut().filter_map(|l| match l {
            Later::Items(f) if f.candidates.is_none() => Some(f),
            _ => None,
        })
    }

    /// Whether tasks wait to be made (all of them after every task made).
    pub(crate) fn has_later(&self) -> bool {
        !self.later.is_empty()
    }

    /// Makes tasks from what waits until `window` tasks are made (or nothing waits), when
    /// fewer than half of that are.
    pub(crate) fn refill(&mut self, window: usize) {
        if self.now.len() >= window / 2 {
            return;
        }
        while self.now.len() < window {
            let Some(next) = self.later.front_mut() else {
                break;
            };
            let made = match next {
                Later::Task(_) => match self.later.pop_front() {
                    Some(Later::Task(p)) => Some(p),
                    _ => unreachable!("the front is a task"),
                },
                Later::Items(f) => match f.take() {
                    Some(p) => Some(p),
                    None => {
                        self.later.pop_front();
                        None
                    }
                },
            };
            if let Some(p) = made {
                self.now.push_back(p);
                self.unlooked += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(task_id: u64, step: &str) -> Pending {
        Pending {
            task_id,
            step: step.into(),
            inputs: Vec::new(),
            stack: Vec::new(),
            candidates: None,
        }
    }

    /// Tasks come out in the order and with the ids they would have had made all at once, a
    /// window at a time, and the cache lookups see each new one once.
    #[test]
    fn items_become_tasks_in_order_a_window_at_a_time() {
        let mut ready = Ready::default();
        ready.push(task(1, "a"));
        let items: Vec<Value> = (0..1000u32)
            .map(|i| Value {
                codec: "raw".into(),
                bytes: i.to_le_bytes().to_vec(),
            })
            .collect();
        ready.push_items(Fanout {
            step: "body".into(),
            input: (
                1,
                InputArtifacts {
                    step: "a".into(),
                    artifacts: Default::default(),
                },
            ),
            stack: Vec::new(),
            items: items.into_iter(),
            count: 1000,
            first_id: 2,
            next: 0,
            candidates: None,
        });
        // Made while the items wait: after all of them.
        ready.push(task(1002, "b"));
        assert_eq!(ready.unlooked, 1);
        let mut seen = Vec::new();
        let mut looked = 0;
        while ready.front().is_some() || ready.has_later() {
            ready.refill(64);
            assert!(ready.made().len() <= 64);
            looked += ready.unlooked;
            ready.unlooked = 0;
            // Take a few, as a turn of the run loop does.
            for _ in 0..20 {
                let Some(p) = ready.pop_front() else { break };
                seen.push(p);
            }
        }
        assert_eq!(looked, 1002);
        let ids: Vec<u64> = seen.iter().map(|p| p.task_id).collect();
        assert_eq!(ids, (1..=1002).collect::<Vec<_>>());
        assert_eq!(&*seen[0].step, "a");
        assert_eq!(&*seen[1001].step, "b");
        for (i, p) in seen[1..1001].iter().enumerate() {
            assert_eq!(&*p.step, "body");
            assert_eq!(p.inputs[0].0, 1);
            let frame = p.stack.last().unwrap();
            assert_eq!(
                (frame.split_task, frame.index, frame.count),
                (1, i as u32, 1000)
            );
            assert_eq!(frame.item.as_ref().unwrap().bytes, (i as u32).to_le_bytes());
        }
    }
}
