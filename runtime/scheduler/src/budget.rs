//! The run's task budget (`max_tasks_per_run`): how many tasks a run will make is known exactly
//! once every foreach has declared its items — each item of a foreach adds one task for every step
//! between the split and its join (a nested foreach's own items are counted when it declares
//! them). So the budget is charged when items are declared, before any of their tasks exist, and
//! a declaration that would pass it fails the declaring task.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use wflow_engine::LimitExceeded;
use wflow_graph::{Plan, SplitKind};

/// Tasks counted against `max_tasks_per_run`.
#[derive(Debug)]
pub(crate) struct TaskBudget {
    limit: u64,
    used: AtomicU64,
    /// For each foreach step: the tasks each of its items adds.
    per_item: HashMap<String, u64>,
}

impl TaskBudget {
    /// The budget of a run of `plan`, charged with the steps outside every foreach.
    pub fn new(plan: &Plan, limit: u64) -> TaskBudget {
        let mut per_item: HashMap<String, u64> = HashMap::new();
        let mut base = 0u64;
        for step in plan.steps_in_order() {
            let innermost = plan
                .stack(step)
                .iter()
                .rev()
                .find(|f| f.kind == SplitKind::Foreach);
            match innermost {
                Some(f) => *per_item.entry(f.split.clone()).or_default() += 1,
                None => base += 1,
            }
        }
        TaskBudget {
            limit,
            used: AtomicU64::new(base),
            per_item,
        }
    }

    /// Charges the tasks one more iteration of the loop closed by switch `step` makes (`body`
    /// steps), or says why not.
    pub fn charge_loop(&self, step: &str, body: usize) -> Result<(), String> {
        self.used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                used.checked_add(body as u64).filter(|t| *t <= self.limit)
            })
            .map(|_| ())
            .map_err(|used| {
                format!(
                    "{}",
                    LimitExceeded {
                        limit: "max_tasks_per_run".into(),
                        value: self.limit.to_string(),
                        detail: format!(
                            ": the loop closed by `{step}` would run {body} more tasks, and the \
                             run already has {used} (the policy's [limits] sets it)"
                        ),
                    }
                )
            })
    }

    /// Charges the tasks `items` items of foreach `step` will make, or says why not.
    pub fn declare(&self, step: &str, items: usize) -> Result<(), LimitExceeded> {
        let each = self.per_item.get(step).copied().unwrap_or(1);
        let more = each.saturating_mul(items as u64);
        self.used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                used.checked_add(more).filter(|total| *total <= self.limit)
            })
            .map(|_| ())
            .map_err(|used| LimitExceeded {
                limit: "max_tasks_per_run".into(),
                value: self.limit.to_string(),
                detail: format!(
                    ": step `{step}` declared {items} items, which would make {more} more tasks, \
                     and the run already has {used} (every foreach level counts; the policy's \
                     [limits] sets it)"
                ),
            })
    }
}

#[cfg(test)]
mod tests {
    use wflow_core::{FlowSpec, StepSpec, Transition};

    use super::*;

    fn step(name: &str, t: Transition, join: bool) -> StepSpec {
        StepSpec {
            join,
            ..StepSpec::new(name, t)
        }
    }

    #[test]
    fn nested_foreach_counts_each_level_and_refuses_past_the_limit() {
        use Transition::{End, Foreach, Next};
        let next = |s: &str| Next(vec![s.into()]);
        let spec = FlowSpec {
            name: "Nested".into(),
            steps: vec![
                step("start", Foreach("outer".into()), false),
                step("outer", Foreach("inner".into()), false),
                step("inner", next("join_inner"), false),
                step("join_inner", next("join_outer"), true),
                step("join_outer", next("end"), true),
                step("end", End, false),
            ],
            doc: String::new(),
            parameters: vec![],
        };
        let plan = wflow_graph::validate(&spec).expect("valid");
        // start, join_outer, end: 3; each outer item: outer + join_inner; each inner item: inner.
        let b = TaskBudget::new(&plan, 3 + 2 * 10 + 10 * 5);
        b.declare("start", 10).unwrap();
        for _ in 0..5 {
            b.declare("outer", 10).unwrap();
        }
        let err = b.declare("outer", 10).unwrap_err().to_string();
        assert!(
            err.contains("`max_tasks_per_run` of 73 exceeded")
                && err.contains("step `outer` declared 10 items")
                && err.contains("already has 73"),
            "{err}"
        );
        // A refused declaration charges nothing.
        assert_eq!(b.used.load(Ordering::SeqCst), 73);
    }
}
