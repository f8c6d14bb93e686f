//! The validated flow: the spec plus what the scheduler needs to know about its graph.

use std::collections::HashMap;
use std::fmt;

use wflow_core::{FlowSpec, StepSpec, Transition};

use crate::splits::Analysis;

/// The kind of a split.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SplitKind {
    /// A `next` with two or more targets: each branch runs once, in parallel.
    Branch,
    /// A `foreach`: the target runs once per declared item.
    Foreach,
}

impl fmt::Display for SplitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SplitKind::Branch => "branch",
            SplitKind::Foreach => "foreach",
        })
    }
}

/// One split open around a step: entry `i` of [`Plan::stack`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The step that opened the split.
    pub split: String,
    /// Its kind.
    pub kind: SplitKind,
    /// The split's target on whose path the step lies (for a foreach, its one target).
    pub branch: String,
}

/// A validated flow, ready for scheduling. Made only by [`validate`](crate::validate).
///
/// Methods taking a step name panic if the flow has no such step: pass only names that come from
/// the plan itself (its spec, [`Plan::steps_in_order`], transitions).
#[derive(Clone, Debug)]
pub struct Plan {
    spec: FlowSpec,
    index: HashMap<String, usize>,
    order: Vec<String>,
    preds: Vec<Vec<String>>,
    stacks: Vec<Vec<Frame>>,
    closes: Vec<Option<(usize, SplitKind)>>,
    join_of: Vec<Option<usize>>,
    /// Loops: switch step → (the step it goes back to, the steps of one iteration).
    loops: HashMap<String, (String, Vec<String>)>,
}

impl Plan {
    /// Builds the plan of a flow that passed every rule.
    pub(crate) fn new(spec: FlowSpec, analysis: Analysis) -> Plan {
        let name = |i: usize| spec.steps[i].name.clone();
        let names = |v: &[usize]| v.iter().map(|&i| name(i)).collect::<Vec<_>>();
        let index = spec
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.clone(), i))
            .collect();
        let order = names(&analysis.order);
        let preds = analysis.preds.iter().map(|p| names(p)).collect();
        let stacks = analysis
            .stacks
            .iter()
            .map(|stack| {
                stack
                    .iter()
                    .map(|f| Frame {
                        split: name(f.split),
                        kind: f.kind,
                        branch: name(f.branch),
                    })
                    .collect()
            })
            .collect();
        let loops = analysis
            .loops
            .iter()
            .map(|(s, t, body)| (name(*s), (name(*t), names(body))))
            .collect();
        Plan {
            loops,
            index,
            order,
            preds,
            stacks,
            closes: analysis.closes,
            join_of: analysis.join_of,
            spec,
        }
    }

    fn idx(&self, step: &str) -> usize {
        match self.index.get(step) {
            Some(&i) => i,
            None => panic!("flow `{}` has no step named `{step}`", self.spec.name),
        }
    }

    /// The flow's spec, as declared.
    pub fn spec(&self) -> &FlowSpec {
        &self.spec
    }

    /// The name of the first step: always `start`.
    pub fn start(&self) -> &str {
        &self.spec.steps[self.idx("start")].name
    }

    /// The spec of step `name`.
    pub fn step(&self, name: &str) -> &StepSpec {
        &self.spec.steps[self.idx(name)]
    }

    /// Every step in topological order: `start` first, `end` last, and among steps whose order the
    /// graph leaves open, declaration order.
    pub fn steps_in_order(&self) -> &[String] {
        &self.order
    }

    /// The steps with a transition to `step`. For the join of a branch split they are in the order
    /// of the split's targets (input `i` of the join comes from branch `i`); otherwise in
    /// declaration order. Empty for `start`.
    pub fn predecessors(&self, step: &str) -> &[String] {
        &self.preds[self.idx(step)]
    }

    /// For a join step: the split step it closes and that split's kind. `None` for other steps.
    pub fn closes(&self, join: &str) -> Option<(&str, SplitKind)> {
        self.closes[self.idx(join)].map(|(s, kind)| (self.spec.steps[s].name.as_str(), kind))
    }

    /// For a split step: the join step that closes it. `None` for other steps. A branch join
    /// expects one input per target of the split; a foreach join one input per item.
    pub fn join_of(&self, split: &str) -> Option<&str> {
        self.join_of[self.idx(split)].map(|j| self.spec.steps[j].name.as_str())
    }

    /// The kind of split `step` opens, if its transition is a split.
    pub fn opens(&self, step: &str) -> Option<SplitKind> {
        match &self.step(step).transition {
            Transition::Next(v) if v.len() >= 2 => Some(SplitKind::Branch),
            Transition::Foreach(_) => Some(SplitKind::Foreach),
            _ => None,
        }
    }

    /// For a switch step that closes a loop: the earlier step its loop goes back to, and the
    /// steps one iteration runs (in declaration order, both ends included). `None` otherwise.
    pub fn loop_of(&self, switch: &str) -> Option<(&str, &[String])> {
        self.loops
            .get(switch)
            .map(|(t, body)| (t.as_str(), body.as_slice()))
    }

    /// Every loop: its switch step and the steps of one iteration.
    pub fn loops(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.loops
            .iter()
            .map(|(s, (_, body))| (s.as_str(), body.as_slice()))
    }

    /// Whether going from `from` to `to` goes back round a loop.
    pub fn loops_back(&self, from: &str, to: &str) -> bool {
        self.loops.get(from).is_some_and(|(t, _)| t == to)
    }

    /// The splits open around `step`, outermost first. A split step itself is outside its own
    /// split, and a join is outside the split it closes.
    pub fn stack(&self, step: &str) -> &[Frame] {
        &self.stacks[self.idx(step)]
    }

    /// The number of splits open around `step` (`stack(step).len()`): 0 for `start` and `end`.
    pub fn depth(&self, step: &str) -> usize {
        self.stacks[self.idx(step)].len()
    }

    /// How many foreach splits are open around `step`: the length of its tasks' `foreach-path`.
    pub fn foreach_depth(&self, step: &str) -> usize {
        self.stack(step)
            .iter()
            .filter(|f| f.kind == SplitKind::Foreach)
            .count()
    }
}
