//! A tiny notation for flows in tests.
//!
//! Steps are separated by `;`. `a -> b c` goes to `b` and `c` (a branch when there are several),
//! `a => b` is a foreach over `b`, `a ->` has an empty `next`, and a bare `a` has the `end`
//! transition. A leading `*` marks a join: `*j -> end`. `a ?> b c` is a switch between `b` and
//! `c`; `a ?5> b c` one with `max_iterations = 5`.

use wflow_core::{FlowSpec, StepSpec, Transition};

/// Parses one step.
pub fn step(src: &str) -> StepSpec {
    let src = src.trim();
    let (join, src) = match src.strip_prefix('*') {
        Some(rest) => (true, rest),
        None => (false, src),
    };
    let words = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
    let switch = src.split_once('?').and_then(|(name, rest)| {
        let (bound, targets) = rest.split_once('>')?;
        Some((name, bound.parse::<u32>().ok(), targets))
    });
    let (name, transition) = if let Some((name, max_iterations, targets)) = switch {
        let choices = words(targets);
        let t = Transition::Switch {
            choices,
            max_iterations,
        };
        (name, t)
    } else if let Some((name, target)) = src.split_once("=>") {
        (name, Transition::Foreach(target.trim().to_string()))
    } else if let Some((name, targets)) = src.split_once("->") {
        (name, Transition::Next(words(targets)))
    } else {
        (src, Transition::End)
    };
    let mut step = StepSpec::new(name.trim(), transition);
    step.join = join;
    step
}

/// Parses a flow named `Test`.
pub fn flow(src: &str) -> FlowSpec {
    FlowSpec {
        name: "Test".into(),
        doc: String::new(),
        parameters: vec![],
        steps: src
            .split(';')
            .filter(|s| !s.trim().is_empty())
            .map(step)
            .collect(),
    }
}

/// `flow(src)` changed by `edit`.
pub fn with(src: &str, edit: impl FnOnce(&mut FlowSpec)) -> FlowSpec {
    let mut f = flow(src);
    edit(&mut f);
    f
}

/// The step `name` of `f`, to edit.
pub fn step_mut<'a>(f: &'a mut FlowSpec, name: &str) -> &'a mut StepSpec {
    f.steps
        .iter_mut()
        .find(|s| s.name == name)
        .expect("step exists")
}

/// Owned names.
pub fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}
