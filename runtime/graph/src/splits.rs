//! Rule 6: splits and joins, matched structurally.
//!
//! Steps are visited in topological order. Each gets a split stack: the frames (split step, kind,
//! branch target) open around it. A transition carries its source's stack to its target, plus one
//! frame when the source is a split. A step that is not a join must have one input and takes its
//! stack; a join pops the innermost frame, which must be the same split on all its inputs.
//!
//! When a step breaks a rule, the error is reported and the step is *poisoned*: what follows it is
//! not checked, since its stack is unknown and any further error there would only echo this one.
//! The one exception is a non-join with several inputs: it is checked as if it were marked as a
//! join (the fix its error suggests), silently, and poisoned only if that fails too.
//!
//! Switches (contract 0.2) open no split: only one of their choices runs, so the paths of a switch
//! rejoin at any step where they meet with the same stack — a plain step with several inputs, all
//! in the same splits, receives exactly one of them. (Without a switch, a plain step's inputs in
//! the same splits cannot happen: one path runs per split context, and it passes each step once.)
//! For the same reason a join may receive several inputs on one branch of its split, or on the
//! path of its foreach, when they are alternatives of a switch. A loop (a switch going back to an
//! earlier step) stays in the splits of its switch and re-enters at a step that is not a join.

use std::collections::{BTreeSet, HashSet};

use wflow_core::Transition;

use crate::validate::Graph;
use crate::{GraphError, SplitKind};

/// A frame of a split stack, by step index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RawFrame {
    /// The split step.
    pub(crate) split: usize,
    /// Its kind.
    pub(crate) kind: SplitKind,
    /// The split's target on whose path the step lies.
    pub(crate) branch: usize,
}

/// What the plan needs from rule 6, by step index.
pub(crate) struct Analysis {
    /// Reachable steps in topological order (declaration order among ties).
    pub(crate) order: Vec<usize>,
    /// Predecessors of each step (branch order for a branch join, else declaration order).
    pub(crate) preds: Vec<Vec<usize>>,
    /// The split stack of each step.
    pub(crate) stacks: Vec<Vec<RawFrame>>,
    /// For a join: the split it closes.
    pub(crate) closes: Vec<Option<(usize, SplitKind)>>,
    /// For a split: its join.
    pub(crate) join_of: Vec<Option<usize>>,
    /// Loops: (switch, the earlier step it goes back to, the steps each iteration runs).
    pub(crate) loops: Vec<(usize, usize, Vec<usize>)>,
}

/// Why a set of inputs cannot be joined.
enum Problem {
    /// No split is open on any input.
    NoSplit,
    /// The inputs do not share their innermost split: (input, its innermost split).
    Mixed(Vec<(usize, Option<usize>)>),
    /// The split closed is itself one of the inputs.
    DirectTarget(usize),
    /// Some branches of the split are missing.
    Missing(usize, Vec<usize>),
}

/// A successful join.
struct Joined {
    stack: Vec<RawFrame>,
    split: usize,
    kind: SplitKind,
    preds: Vec<usize>,
}

/// Checks rule 6 on the steps reachable from `start`. The graph must be sound: unique names,
/// `start` and `end` present, every transition valid, no cycle.
pub(crate) fn analyse(graph: &Graph, reachable: &[bool], errors: &mut Vec<GraphError>) -> Analysis {
    let n = graph.succ.len();
    let name = |i: usize| graph.spec.steps[i].name.clone();
    let mut preds: Vec<Vec<usize>> = (0..n)
        .map(|i| {
            graph.pred[i]
                .iter()
                .copied()
                .filter(|&p| reachable[p])
                .collect()
        })
        .collect();
    let order = topological_order(graph, &preds, reachable);
    // `None`: poisoned (or unreachable).
    let mut stacks: Vec<Option<Vec<RawFrame>>> = vec![None; n];
    let mut closes = vec![None; n];
    let mut join_of = vec![None; n];
    let mut partial: Vec<(usize, usize, Vec<usize>)> = Vec::new();
    for &v in &order {
        if Some(v) == graph.start {
            stacks[v] = Some(Vec::new());
            continue;
        }
        let Some(inputs) = preds[v]
            .iter()
            .map(|&p| Some((p, carry(graph, p, v, stacks[p].as_ref()?))))
            .collect::<Option<Vec<_>>>()
        else {
            continue;
        };
        let step = name(v);
        if !graph.spec.steps[v].join {
            let (_, first) = &inputs[0];
            if inputs.iter().all(|(_, s)| s == first) {
                // One input, or the alternatives of switches rejoining.
                stacks[v] = Some(first.clone());
            } else {
                let from = graph.names(&preds[v]);
                errors.push(GraphError::NotAJoin { step, from });
                stacks[v] = join(graph, &inputs).ok().map(|j| j.stack);
            }
            continue;
        }
        match join(graph, &inputs) {
            Ok(joined) => {
                closes[v] = Some((joined.split, joined.kind));
                join_of[joined.split] = Some(v);
                preds[v] = joined.preds;
                stacks[v] = Some(joined.stack);
            }
            Err(Problem::NoSplit) => {
                errors.push(GraphError::JoinWithoutSplit { step });
                if let [(_, stack)] = inputs.as_slice() {
                    stacks[v] = Some(stack.clone());
                }
            }
            Err(Problem::Mixed(list)) => {
                let inputs = list.into_iter().map(|(p, s)| (name(p), s.map(name)));
                let inputs = inputs.collect();
                errors.push(GraphError::InconsistentJoin { step, inputs });
            }
            Err(Problem::DirectTarget(split)) => {
                let split = name(split);
                errors.push(GraphError::JoinIsSplitTarget { step, split });
            }
            Err(Problem::Missing(split, missing)) => partial.push((split, v, missing)),
        }
    }
    report_partial_joins(graph, &partial, errors);
    let end = graph.end.expect("a sound graph has `end`");
    for frame in stacks[end].iter().flatten() {
        let (split, kind) = (name(frame.split), frame.kind);
        errors.push(GraphError::UnjoinedSplit { split, kind });
    }
    let mut loops = Vec::new();
    for &(switch, target) in &graph.loops {
        if !reachable[switch] {
            continue;
        }
        let (step, target_name) = (name(switch), name(target));
        let bad = |reason: String| GraphError::BadLoop {
            step: step.clone(),
            target: target_name.clone(),
            reason,
        };
        if graph.spec.steps[target].join {
            errors.push(bad("a join".into()));
        } else if let (Some(a), Some(b)) = (&stacks[switch], &stacks[target])
            && a != b
        {
            errors.push(bad("which lies in other splits than the switch".into()));
        }
        let from_target = walk(target, &graph.succ);
        let to_switch = walk(switch, &graph.pred);
        let body = (0..n).filter(|&i| from_target[i] && to_switch[i]).collect();
        loops.push((switch, target, body));
    }
    let stacks = stacks.into_iter().map(Option::unwrap_or_default).collect();
    Analysis {
        order,
        preds,
        stacks,
        closes,
        join_of,
        loops,
    }
}

/// The steps reachable from `seed` along `edges` (itself included).
fn walk(seed: usize, edges: &[Vec<usize>]) -> Vec<bool> {
    let mut seen = vec![false; edges.len()];
    seen[seed] = true;
    let mut todo = vec![seed];
    while let Some(v) = todo.pop() {
        for &w in &edges[v] {
            if !seen[w] {
                seen[w] = true;
                todo.push(w);
            }
        }
    }
    seen
}

/// Kahn's algorithm over the reachable steps, taking the first declared ready step each time.
fn topological_order(graph: &Graph, preds: &[Vec<usize>], reachable: &[bool]) -> Vec<usize> {
    let n = preds.len();
    let mut waiting: Vec<usize> = preds.iter().map(Vec::len).collect();
    let mut ready: BTreeSet<usize> = (0..n)
        .filter(|&i| reachable[i] && waiting[i] == 0)
        .collect();
    let mut order = Vec::with_capacity(n);
    while let Some(v) = ready.pop_first() {
        order.push(v);
        for &w in &graph.succ[v] {
            waiting[w] -= 1;
            if waiting[w] == 0 {
                ready.insert(w);
            }
        }
    }
    order
}

/// The stack the transition `from -> to` carries.
fn carry(graph: &Graph, from: usize, to: usize, stack: &[RawFrame]) -> Vec<RawFrame> {
    let mut stack = stack.to_vec();
    let kind = match &graph.spec.steps[from].transition {
        Transition::Next(targets) if targets.len() >= 2 => Some(SplitKind::Branch),
        Transition::Foreach(_) => Some(SplitKind::Foreach),
        _ => None,
    };
    if let Some(kind) = kind {
        stack.push(RawFrame {
            split: from,
            kind,
            branch: to,
        });
    }
    stack
}

/// Joins `inputs` (predecessor, carried stack): pops their common innermost split.
fn join(graph: &Graph, inputs: &[(usize, Vec<RawFrame>)]) -> Result<Joined, Problem> {
    let (_, first) = &inputs[0];
    if inputs.iter().all(|(_, s)| s.is_empty()) {
        return Err(Problem::NoSplit);
    }
    let outer = &first[..first.len().saturating_sub(1)];
    let consistent = inputs.iter().all(|(_, s)| {
        let top = s.last().map(|f| f.split);
        s.len() == first.len() && top == first.last().map(|f| f.split) && &s[..outer.len()] == outer
    });
    let mixed = || {
        let list = inputs.iter().map(|(p, s)| (*p, s.last().map(|f| f.split)));
        Problem::Mixed(list.collect())
    };
    let (Some(top), true) = (first.last(), consistent) else {
        return Err(mixed());
    };
    let (split, kind) = (top.split, top.kind);
    if inputs.iter().any(|&(p, _)| p == split) {
        return Err(Problem::DirectTarget(split));
    }
    let mut preds: Vec<usize> = inputs.iter().map(|&(p, _)| p).collect();
    match kind {
        SplitKind::Branch => {
            // Branch order: `succ` of a sound split lists its targets as declared.
            let targets = &graph.succ[split];
            let got: HashSet<usize> = inputs.iter().map(|(_, s)| s[outer.len()].branch).collect();
            let missing: Vec<usize> = targets
                .iter()
                .copied()
                .filter(|t| !got.contains(t))
                .collect();
            if !missing.is_empty() {
                return Err(Problem::Missing(split, missing));
            }
            // Several inputs on one branch are alternatives of a switch (see the module doc).
            let position = |p: usize| {
                let (_, s) = inputs.iter().find(|(q, _)| *q == p).expect("an input");
                targets.iter().position(|&t| t == s[outer.len()].branch)
            };
            preds.sort_by_key(|&p| position(p));
        }
        // Likewise, several inputs on a foreach's path are alternatives of a switch.
        SplitKind::Foreach => {}
    }
    Ok(Joined {
        stack: outer.to_vec(),
        split,
        kind,
        preds,
    })
}

/// Reports joins that missed branches: a split claimed by several joins is reported once as
/// [`GraphError::SplitJoinedTwice`], otherwise each join gets [`GraphError::MissingBranches`].
fn report_partial_joins(
    graph: &Graph,
    partial: &[(usize, usize, Vec<usize>)],
    errors: &mut Vec<GraphError>,
) {
    let mut splits: Vec<usize> = Vec::new();
    for &(split, _, _) in partial {
        if !splits.contains(&split) {
            splits.push(split);
        }
    }
    let name = |i: usize| graph.spec.steps[i].name.clone();
    for split in splits {
        let claims: Vec<_> = partial.iter().filter(|(s, _, _)| *s == split).collect();
        if claims.len() > 1 {
            let joins = claims.iter().map(|&&(_, j, _)| name(j)).collect();
            errors.push(GraphError::SplitJoinedTwice {
                split: name(split),
                joins,
            });
        } else {
            for (_, join, missing) in claims {
                let (step, missing) = (name(*join), graph.names(missing));
                errors.push(GraphError::MissingBranches {
                    step,
                    split: name(split),
                    missing,
                });
            }
        }
    }
}
