//! [`validate`] and rules 1–5 and 7: names, start and end, transitions, cycles, reachability and
//! settings. Rule 6 (splits and joins) lives in `splits`.

use std::collections::{HashMap, HashSet, VecDeque};

use wflow_core::names::{self, NameKind, NameProblem};
use wflow_core::{FlowSpec, Transition};

use crate::{GraphError, GraphErrors, Plan, splits};

/// Most steps a flow may declare.
pub const MAX_STEPS: usize = 10_000;
/// Most parameters a flow may declare.
pub const MAX_PARAMETERS: usize = 1_000;
/// Most environment variables, directories and network destinations one step may ask for,
/// together.
pub const MAX_CAPABILITIES: usize = 1_000;
/// Most errors reported; the rest are counted in one last [`GraphError::TooManyErrors`].
pub const MAX_ERRORS: usize = 100;
/// Most cells of edit-distance tables computed for "did you mean" hints in one validation; past
/// it, unknown names get no hint (a guest's spec must not make the host work for minutes).
const HINT_BUDGET: usize = 4_000_000;

/// Checks every rule of the crate documentation and returns the validated plan, or every problem
/// found (at most [`MAX_ERRORS`], then a count of the rest).
///
/// The work is bounded whatever the spec: at most [`MAX_STEPS`] steps (and transition targets
/// per step), [`MAX_PARAMETERS`] parameters and [`MAX_CAPABILITIES`] capabilities per step, names of at most [`MAX_NAME_BYTES`](wflow_core::names::MAX_NAME_BYTES) bytes
/// (a spec breaking these gets only those errors), and a fixed budget for name hints.
pub fn validate(spec: &FlowSpec) -> Result<Plan, GraphErrors> {
    let mut errors = Vec::new();
    if let Some(too_many) = check_sizes(spec) {
        return Err(GraphErrors(vec![too_many]));
    }
    if !check_names(spec, &mut errors) {
        return Err(GraphErrors(capped(errors)));
    }
    let graph = Graph::new(spec, &mut errors);
    let cycles = graph.check_cycles(&mut errors);
    let reachable = graph.check_reachability(&cycles, &mut errors);
    let sound = graph.unique
        && graph.start.is_some()
        && graph.end.is_some()
        && !graph.broken.iter().any(|&b| b)
        && cycles.is_empty();
    let analysis = sound.then(|| splits::analyse(&graph, &reachable, &mut errors));
    check_settings(spec, &mut errors);
    match analysis {
        Some(analysis) if errors.is_empty() => Ok(Plan::new(spec.clone(), analysis)),
        _ => Err(GraphErrors(capped(errors))),
    }
}

/// Too many steps, parameters, capabilities of a step or targets of a transition.
fn check_sizes(spec: &FlowSpec) -> Option<GraphError> {
    let too_many = |what: &str, count: usize, max: usize| GraphError::TooMany {
        what: what.to_string(),
        count,
        max,
    };
    if spec.steps.len() > MAX_STEPS {
        return Some(too_many("steps", spec.steps.len(), MAX_STEPS));
    }
    if spec.parameters.len() > MAX_PARAMETERS {
        return Some(too_many(
            "parameters",
            spec.parameters.len(),
            MAX_PARAMETERS,
        ));
    }
    spec.steps.iter().find_map(|s| {
        let c = &s.capabilities;
        let asked = c.env.len() + c.dirs.len() + c.network.len();
        let targets = s.transition.targets().len();
        if asked > MAX_CAPABILITIES {
            let what = format!("capabilities in step `{}`", names::shown(&s.name));
            Some(too_many(&what, asked, MAX_CAPABILITIES))
        } else if targets > MAX_STEPS {
            let what = format!("transition targets in step `{}`", names::shown(&s.name));
            Some(too_many(&what, targets, MAX_STEPS))
        } else {
            None
        }
    })
}

/// The first [`MAX_ERRORS`] errors, and a count of the rest.
fn capped(mut errors: Vec<GraphError>) -> Vec<GraphError> {
    if errors.len() > MAX_ERRORS {
        let more = errors.len() - MAX_ERRORS;
        errors.truncate(MAX_ERRORS);
        errors.push(GraphError::TooManyErrors { more });
    }
    errors
}

/// Each name used more than once, in order of first use, with its count.
fn duplicates<'a>(names: impl Iterator<Item = &'a str>) -> Vec<(&'a str, usize)> {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for name in names {
        match seen.get(name) {
            Some(&i) => counts[i].1 += 1,
            None => {
                seen.insert(name, counts.len());
                counts.push((name, 1));
            }
        }
    }
    counts.retain(|&(_, n)| n > 1);
    counts
}

/// Rule 1. Returns false when a name is too long to go on with the other rules (they would
/// quote it, and compare it with every other name).
fn check_names(spec: &FlowSpec, errors: &mut Vec<GraphError>) -> bool {
    // Pushes the error of a bad name; false when it stops the other checks.
    let check = |kind: NameKind, name: &str, errors: &mut Vec<GraphError>| {
        let Err(e) = names::validate(kind, name) else {
            return true;
        };
        if matches!(e.problem, NameProblem::NotIdentifier | NameProblem::Empty) {
            let name = name.to_string();
            errors.push(match kind {
                NameKind::Flow => GraphError::InvalidFlowName { name },
                NameKind::Step => GraphError::InvalidStepName { step: name },
                _ => GraphError::InvalidParameterName { param: name },
            });
            true
        } else {
            errors.push(GraphError::InvalidName(e));
            false
        }
    };
    let mut sane = check(NameKind::Flow, &spec.name, errors);
    for s in &spec.steps {
        sane &= check(NameKind::Step, &s.name, errors);
        for target in s.transition.targets() {
            if target.len() > names::MAX_NAME_BYTES {
                let error = names::validate(NameKind::Step, target).unwrap_err();
                errors.push(GraphError::InvalidName(error));
                sane = false;
            }
        }
    }
    for p in &spec.parameters {
        sane &= check(NameKind::Parameter, &p.name, errors);
    }
    if !sane {
        return false;
    }
    for (step, count) in duplicates(spec.steps.iter().map(|s| s.name.as_str())) {
        let step = step.to_string();
        errors.push(GraphError::DuplicateStep { step, count });
    }
    for (param, count) in duplicates(spec.parameters.iter().map(|p| p.name.as_str())) {
        let param = param.to_string();
        errors.push(GraphError::DuplicateParameter { param, count });
    }
    true
}

/// Rule 7.
fn check_settings(spec: &FlowSpec, errors: &mut Vec<GraphError>) {
    for s in &spec.steps {
        let step = || s.name.clone();
        match s.catch.as_deref() {
            Some("") => errors.push(GraphError::EmptyCatch { step: step() }),
            Some(name) => {
                if let Err(error) = names::validate(NameKind::Artifact, name) {
                    errors.push(GraphError::InvalidCatch {
                        step: step(),
                        error,
                    });
                }
            }
            None => {}
        }
        if s.timeout_secs == Some(0) {
            errors.push(GraphError::ZeroTimeout { step: step() });
        }
        if s.memory_mb == Some(0) {
            errors.push(GraphError::ZeroMemory { step: step() });
        }
        if s.cpu == Some(0) {
            errors.push(GraphError::ZeroCpu { step: step() });
        }
    }
}

/// The Levenshtein distance between `a` and `b` if it is at most `max`, computed only in the band
/// of the table where it can be (`len(a) × (2 max + 1)` cells, counted against `budget`); `None`
/// when it is larger or the budget is spent.
fn distance_within(a: &[char], b: &[char], max: usize, budget: &mut usize) -> Option<usize> {
    if a.len().abs_diff(b.len()) > max {
        return None;
    }
    let cost = (a.len() + 1) * (2 * max + 1);
    if cost > *budget {
        *budget = 0;
        return None;
    }
    *budget -= cost;
    let far = max + 1;
    let mut prev: Vec<usize> = (0..=b.len()).map(|j| j.min(far)).collect();
    let mut cur = vec![far; b.len() + 1];
    for i in 1..=a.len() {
        let lo = i.saturating_sub(max).max(1);
        let hi = (i + max).min(b.len());
        cur[0] = i.min(far);
        cur[lo - 1] = if lo == 1 { cur[0] } else { far };
        for j in lo..=hi {
            let substitute = prev[j - 1] + usize::from(a[i - 1] != b[j - 1]);
            cur[j] = substitute.min(prev[j] + 1).min(cur[j - 1] + 1).min(far);
        }
        if hi < b.len() {
            cur[hi + 1] = far;
        }
        if cur[lo - 1..=hi].iter().all(|&d| d >= far) {
            return None;
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    Some(prev[b.len()]).filter(|&d| d <= max)
}

/// The step graph, indexed by declaration position. When a name is declared twice, only its first
/// declaration takes part in the graph (the copies are reported by rule 1).
pub(crate) struct Graph<'a> {
    /// The flow.
    pub(crate) spec: &'a FlowSpec,
    /// Whether step `i` is the first declaration of its name.
    pub(crate) canonical: Vec<bool>,
    /// Whether every step name is unique.
    pub(crate) unique: bool,
    /// Whether step `i` has a transition error of its own (rules 2 and 3).
    pub(crate) broken: Vec<bool>,
    /// Declared targets of step `i`, in transition order, each once (empty for copies).
    pub(crate) succ: Vec<Vec<usize>>,
    /// For reachability only: the suggested names of step `i`'s unknown targets, as if fixed.
    pub(crate) presumed: Vec<Vec<usize>>,
    /// Canonical steps with a transition to step `i`, in declaration order.
    pub(crate) pred: Vec<Vec<usize>>,
    /// The step `start`.
    pub(crate) start: Option<usize>,
    /// The step `end`.
    pub(crate) end: Option<usize>,
    /// Loops: (switch step, the earlier step it may go back to). These edges are left out of
    /// `succ` and `pred`, so the rest of the graph must be acyclic.
    pub(crate) loops: Vec<(usize, usize)>,
}

impl<'a> Graph<'a> {
    /// Builds the graph and checks rules 2 and 3 (except what needs reachability).
    fn new(spec: &'a FlowSpec, errors: &mut Vec<GraphError>) -> Graph<'a> {
        let n = spec.steps.len();
        let mut index: HashMap<&str, usize> = HashMap::new();
        let mut canonical = vec![false; n];
        for (i, s) in spec.steps.iter().enumerate() {
            if !index.contains_key(s.name.as_str()) {
                index.insert(&s.name, i);
                canonical[i] = true;
            }
        }
        let start = index.get("start").copied();
        let end = index.get("end").copied();
        if start.is_none() {
            errors.push(GraphError::MissingStart);
        }
        if end.is_none() {
            errors.push(GraphError::MissingEnd);
        }
        if start.is_some_and(|s| spec.steps[s].join) {
            errors.push(GraphError::StartIsJoin);
        }
        let declared: Vec<(Vec<char>, &String)> = spec
            .steps
            .iter()
            .zip(&canonical)
            .filter(|(_, c)| **c)
            .map(|(s, _)| (s.name.chars().collect(), &s.name))
            .collect();
        let mut budget = HINT_BUDGET;
        let mut suggest = |target: &str| {
            let target: Vec<char> = target.chars().collect();
            let max = target.len().min(3).checked_sub(1)?;
            declared
                .iter()
                .filter_map(|(name, s)| {
                    Some((distance_within(&target, name, max, &mut budget)?, *s))
                })
                .min_by_key(|&(d, _)| d)
                .map(|(_, name)| name.clone())
        };
        let mut broken = vec![false; n];
        let mut succ = vec![Vec::new(); n];
        let mut presumed = vec![Vec::new(); n];
        for (i, s) in spec.steps.iter().enumerate() {
            let step = || s.name.clone();
            match &s.transition {
                Transition::End if s.name != "end" => {
                    errors.push(GraphError::EndOutsideEnd { step: step() });
                    broken[i] = true;
                }
                Transition::End => {}
                other if s.name == "end" => {
                    errors.push(GraphError::EndNotEnd {
                        found: describe(other),
                    });
                    broken[i] = true;
                }
                Transition::Next(targets) if targets.is_empty() => {
                    errors.push(GraphError::EmptyNext { step: step() });
                    broken[i] = true;
                }
                Transition::Switch {
                    choices,
                    max_iterations,
                } => {
                    if choices.len() < 2 {
                        errors.push(GraphError::SwitchTooFewChoices {
                            step: step(),
                            count: choices.len(),
                        });
                        broken[i] = true;
                    }
                    if *max_iterations == Some(0) {
                        errors.push(GraphError::ZeroIterations { step: step() });
                    }
                }
                _ => {}
            }
            let mut seen = HashSet::new();
            for target in s.transition.targets() {
                if !seen.insert(target) {
                    let target = target.to_string();
                    errors.push(GraphError::DuplicateTarget {
                        step: step(),
                        target,
                    });
                    broken[i] = true;
                } else if let Some(&t) = index.get(target) {
                    if canonical[i] {
                        succ[i].push(t);
                    }
                } else {
                    let suggestion = suggest(target);
                    if let Some(&t) = suggestion.as_deref().and_then(|s| index.get(s)) {
                        presumed[i].push(t);
                    }
                    let target = target.to_string();
                    errors.push(GraphError::UnknownStep {
                        step: step(),
                        target,
                        suggestion,
                    });
                    broken[i] = true;
                }
            }
        }
        let loops = loop_backs(spec, &mut succ, start, errors);
        let mut pred = vec![Vec::new(); n];
        for (i, targets) in succ.iter().enumerate() {
            for &t in targets {
                pred[t].push(i);
            }
        }
        let unique = canonical.iter().all(|&c| c);
        let graph = Graph {
            spec,
            canonical,
            unique,
            broken,
            succ,
            presumed,
            pred,
            start,
            end,
            loops,
        };
        if let Some(s) = start.filter(|&s| !graph.pred[s].is_empty()) {
            let from = graph.names(&graph.pred[s]);
            errors.push(GraphError::StartHasIncoming { from });
        }
        graph
    }

    /// The names of steps.
    pub(crate) fn names(&self, steps: &[usize]) -> Vec<String> {
        steps
            .iter()
            .map(|&i| self.spec.steps[i].name.clone())
            .collect()
    }

    /// Rule 5: reports steps unreachable from `start`, and returns which steps are reachable. An
    /// unknown target with a suggestion counts as a transition to the suggested step here, so that
    /// one misspelt name is one error.
    ///
    /// Then reports dead ends: every path that never reaches `end` stops at a step with a
    /// transition error of its own (already reported, and which says what to do) or loops forever
    /// in a cycle. So a dead end is reported once per reachable cycle with no way out to `end`,
    /// naming its first declared step.
    fn check_reachability(&self, cycles: &[Vec<usize>], errors: &mut Vec<GraphError>) -> Vec<bool> {
        let n = self.succ.len();
        let reachable = match self.start {
            Some(start) => {
                let edges: Vec<Vec<usize>> = (self.succ.iter().zip(&self.presumed))
                    .map(|(s, p)| s.iter().chain(p).copied().collect())
                    .collect();
                let reachable = walk(&[start], &edges, n);
                for i in (0..n).filter(|&i| self.canonical[i] && !reachable[i]) {
                    let step = self.spec.steps[i].name.clone();
                    errors.push(GraphError::Unreachable { step });
                }
                reachable
            }
            None => vec![true; n],
        };
        if let Some(end) = self.end {
            let seeds: Vec<usize> = (0..n).filter(|&i| i == end || self.broken[i]).collect();
            let finishes = walk(&seeds, &self.pred, n);
            for &first in cycles.iter().filter_map(|c| c.first()) {
                if reachable[first] && !finishes[first] {
                    let step = self.spec.steps[first].name.clone();
                    errors.push(GraphError::DeadEnd { step });
                }
            }
        }
        reachable
    }
}

/// Finds the loops (rule 4): a switch choice from which the switch itself can be reached goes
/// back to an earlier step. Takes those edges out of `succ`, and reports a loop without a bound
/// or back to `start`.
fn loop_backs(
    spec: &FlowSpec,
    succ: &mut [Vec<usize>],
    start: Option<usize>,
    errors: &mut Vec<GraphError>,
) -> Vec<(usize, usize)> {
    let n = succ.len();
    let mut loops = Vec::new();
    for (i, s) in spec.steps.iter().enumerate() {
        let Transition::Switch { max_iterations, .. } = &s.transition else {
            continue;
        };
        let back: Vec<usize> = succ[i]
            .iter()
            .copied()
            .filter(|&t| walk(&[t], succ, n)[i])
            .collect();
        if back.len() > 1 {
            errors.push(GraphError::BadLoop {
                step: s.name.clone(),
                target: spec.steps[back[1]].name.clone(),
                reason: format!("as well as to `{}`", spec.steps[back[0]].name),
            });
        }
        for &t in &back {
            let target = spec.steps[t].name.clone();
            if max_iterations.is_none() {
                errors.push(GraphError::LoopWithoutBound {
                    step: s.name.clone(),
                    target: target.clone(),
                });
            }
            if Some(t) == start {
                errors.push(GraphError::StartHasIncoming {
                    from: vec![s.name.clone()],
                });
            }
            loops.push((i, t));
        }
        succ[i].retain(|t| !back.contains(t));
    }
    loops
}

/// Which steps can be reached from `seeds` along `edges`.
fn walk(seeds: &[usize], edges: &[Vec<usize>], n: usize) -> Vec<bool> {
    let mut seen = vec![false; n];
    let mut queue: VecDeque<usize> = seeds.iter().copied().collect();
    seeds.iter().for_each(|&s| seen[s] = true);
    while let Some(v) = queue.pop_front() {
        for &w in &edges[v] {
            if !seen[w] {
                seen[w] = true;
                queue.push_back(w);
            }
        }
    }
    seen
}

/// A transition as a user would write it: `end`, `next(a, b)`, `foreach(a)`.
fn describe(t: &Transition) -> String {
    match t {
        Transition::End => "end".to_string(),
        Transition::Next(targets) => format!("next({})", targets.join(", ")),
        Transition::Foreach(target) => format!("foreach({target})"),
        Transition::Switch { choices, .. } => format!("switch({})", choices.join(", ")),
    }
}
