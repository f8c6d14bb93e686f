//! [`validate`] and rules 1–5 and 7: names, start and end, transitions, cycles, reachability and
//! settings. Rule 6 (splits and joins) lives in `splits`.

use std::collections::{HashMap, HashSet, VecDeque};

use wflow_core::{FlowSpec, Transition};

use crate::{GraphError, GraphErrors, Plan, splits};

/// Checks every rule of the crate documentation and returns the validated plan, or every problem
/// found.
pub fn validate(spec: &FlowSpec) -> Result<Plan, GraphErrors> {
    let mut errors = Vec::new();
    check_names(spec, &mut errors);
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
        _ => Err(GraphErrors(errors)),
    }
}

/// True for `[A-Za-z_][A-Za-z0-9_]*`.
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
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

/// Rule 1.
fn check_names(spec: &FlowSpec, errors: &mut Vec<GraphError>) {
    if !is_identifier(&spec.name) {
        let name = spec.name.clone();
        errors.push(GraphError::InvalidFlowName { name });
    }
    for s in spec.steps.iter().filter(|s| !is_identifier(&s.name)) {
        let step = s.name.clone();
        errors.push(GraphError::InvalidStepName { step });
    }
    for (step, count) in duplicates(spec.steps.iter().map(|s| s.name.as_str())) {
        let step = step.to_string();
        errors.push(GraphError::DuplicateStep { step, count });
    }
    for p in spec.parameters.iter().filter(|p| !is_identifier(&p.name)) {
        let param = p.name.clone();
        errors.push(GraphError::InvalidParameterName { param });
    }
    for (param, count) in duplicates(spec.parameters.iter().map(|p| p.name.as_str())) {
        let param = param.to_string();
        errors.push(GraphError::DuplicateParameter { param, count });
    }
}

/// Rule 7.
fn check_settings(spec: &FlowSpec, errors: &mut Vec<GraphError>) {
    for s in &spec.steps {
        let step = || s.name.clone();
        if s.catch.as_deref().is_some_and(str::is_empty) {
            errors.push(GraphError::EmptyCatch { step: step() });
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

/// Levenshtein distance between two names.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let next = (diag + usize::from(ca != cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
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
        let suggest = |target: &str| {
            let far = target.chars().count().min(3);
            spec.steps
                .iter()
                .zip(&canonical)
                .filter(|(_, c)| **c)
                .map(|(s, _)| (edit_distance(target, &s.name), &s.name))
                .filter(|&(d, _)| d < far)
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
    }
}
