//! What [`validate`](crate::validate) reports: one [`GraphError`] per problem.

use std::fmt;

use crate::SplitKind;

/// All problems found in a flow, in a stable order (names, start and end, transitions, cycles,
/// reachability, splits and joins, settings). Never empty when returned by `validate`.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphErrors(pub Vec<GraphError>);

impl fmt::Display for GraphErrors {
    /// One error per line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for GraphErrors {}

const IDENT: &str = "use letters, digits and `_`, not starting with a digit";

/// One problem in a flow's graph. Each variant is one rule of the crate documentation; its message
/// names the step(s) involved and says what to do.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GraphError {
    /// Rule 1: the flow's name is empty or not an identifier.
    #[error("flow name {} is not a valid identifier; {IDENT}", quoted(.name))]
    InvalidFlowName {
        /// The name as declared.
        name: String,
    },
    /// Rule 1: a step's name is empty or not an identifier.
    #[error("step {}: name is not a valid identifier; {IDENT}", quoted(.step))]
    InvalidStepName {
        /// The name as declared.
        step: String,
    },
    /// Rule 1: a name of the flow, a step, a parameter or a transition target breaks the one
    /// name rule in a way that stops the other checks (for example it is too long).
    #[error("{0}")]
    InvalidName(wflow_core::names::NameError),
    /// Rule 1: more steps or parameters than the graph linter takes.
    #[error("flow declares {count} {what}, more than the most of {max}")]
    TooMany {
        /// `steps` or `parameters`.
        what: String,
        /// How many it declares.
        count: usize,
        /// The most allowed.
        max: usize,
    },
    /// Not a rule: more errors than are reported.
    #[error("… and {more} more error(s)")]
    TooManyErrors {
        /// How many errors were left out.
        more: usize,
    },
    /// Rule 1: several steps share a name.
    #[error(
        "step `{step}`: declared {count} times; step names must be unique, rename or remove the copies"
    )]
    DuplicateStep {
        /// The shared name.
        step: String,
        /// How many steps carry it.
        count: usize,
    },
    /// Rule 1: a parameter's name is empty or not an identifier.
    #[error("parameter {}: name is not a valid identifier; {IDENT}", quoted(.param))]
    InvalidParameterName {
        /// The name as declared.
        param: String,
    },
    /// Rule 1: several parameters share a name.
    #[error("parameter `{param}`: declared {count} times; parameter names must be unique")]
    DuplicateParameter {
        /// The shared name.
        param: String,
        /// How many parameters carry it.
        count: usize,
    },
    /// Rule 2: no step is named `start`.
    #[error("flow has no step named `start`; add one: every run begins there")]
    MissingStart,
    /// Rule 2: no step is named `end`.
    #[error(
        "flow has no step named `end`; add one with the `end` transition: every run finishes there"
    )]
    MissingEnd,
    /// Rule 2: the step `end` has another transition than `end`.
    #[error(
        "step `end`: has the transition `{found}` but must have the `end` transition; nothing runs after `end`"
    )]
    EndNotEnd {
        /// The transition found, written as `next(a, b)` or `foreach(a)`.
        found: String,
    },
    /// Rule 2: a step other than `end` has the `end` transition.
    #[error(
        "step `{step}`: has the `end` transition but only the step `end` may end the flow; use next(end) instead"
    )]
    EndOutsideEnd {
        /// The step.
        step: String,
    },
    /// Rule 2: `start` is marked as a join.
    #[error("step `start`: is marked as a join but nothing comes before it; unmark it")]
    StartIsJoin,
    /// Rule 2: some transition leads to `start`.
    #[error("step `start`: has incoming transitions (from {}); the flow begins at `start`, so no step may go to it", list(.from))]
    StartHasIncoming {
        /// The steps going to `start`, in declaration order.
        from: Vec<String>,
    },
    /// Rule 3: a transition names a step that does not exist.
    #[error("step `{step}`: goes to unknown step {}; {}", quoted(.target), match .suggestion {
        Some(s) => format!("did you mean `{s}`?"),
        None => "declare it or fix the name".to_string(),
    })]
    UnknownStep {
        /// The step whose transition is wrong.
        step: String,
        /// The unknown name.
        target: String,
        /// The closest declared step name, if one is within edit distance 2.
        suggestion: Option<String>,
    },
    /// Rule 3: a `next` transition lists no step.
    #[error("step `{step}`: its `next` lists no step; name at least one (or use `end`)")]
    EmptyNext {
        /// The step.
        step: String,
    },
    /// Rule 3: a `next` transition lists a step twice.
    #[error("step `{step}`: its `next` lists `{target}` more than once; list each step once")]
    DuplicateTarget {
        /// The step whose transition is wrong.
        step: String,
        /// The repeated target.
        target: String,
    },
    /// Rule 3: a switch names fewer than two steps.
    #[error(
        "step `{step}`: its `switch` names {count} step(s); a switch chooses between at least two (use `next` for one)"
    )]
    SwitchTooFewChoices {
        /// The switch step.
        step: String,
        /// How many choices it has.
        count: usize,
    },
    /// Rule 4: a switch loops back without a bound.
    #[error(
        "step `{step}`: its `switch` loops back to `{target}` but sets no `max_iterations`; a loop needs a bound (e.g. `max_iterations = 100`)"
    )]
    LoopWithoutBound {
        /// The switch step.
        step: String,
        /// The earlier step it may go back to.
        target: String,
    },
    /// Rule 4: a loop bound of zero.
    #[error("step `{step}`: `max_iterations` is 0; a loop runs at least once, so give 1 or more")]
    ZeroIterations {
        /// The switch step.
        step: String,
    },
    /// Rule 6: a loop goes back into a join, or across a split's boundary.
    #[error(
        "step `{step}`: its `switch` loops back to `{target}`, {reason}; a loop stays inside one split (or outside all) and re-enters at a step that is not a join"
    )]
    BadLoop {
        /// The switch step.
        step: String,
        /// The loop's target.
        target: String,
        /// What is wrong.
        reason: String,
    },
    /// Rule 4: transitions loop. `steps` are in transition order; the last one goes to the first.
    #[error("steps {} -> `{}` form a cycle; a flow must not loop, except through a `switch` back to an earlier step with `max_iterations`",
        .steps.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(" -> "),
        .steps.first().map(String::as_str).unwrap_or_default())]
    Cycle {
        /// The steps of the cycle, starting with the first declared one.
        steps: Vec<String>,
    },
    /// Rule 5: no path from `start` leads to the step.
    #[error("step `{step}`: is not reachable from `start`; make some step go to it, or remove it")]
    Unreachable {
        /// The step.
        step: String,
    },
    /// Rule 5: no path from the step leads to `end`: it lies on a cycle with no way out.
    #[error(
        "step `{step}`: never leads to `end`, it only loops back to itself; give its cycle a way out to `end`"
    )]
    DeadEnd {
        /// The step.
        step: String,
    },
    /// Rule 6: a step that is not a join has several incoming transitions.
    #[error("step `{step}`: has {} incoming transitions (from {}) but is not a join; mark it as a join", .from.len(), list(.from))]
    NotAJoin {
        /// The step.
        step: String,
        /// Its predecessors, in declaration order.
        from: Vec<String>,
    },
    /// Rule 6: a join has no split open on its input.
    #[error(
        "step `{step}`: is a join but no split is open on its input; unmark it, or place it after a split"
    )]
    JoinWithoutSplit {
        /// The join step.
        step: String,
    },
    /// Rule 6: a join's inputs do not all come from the same innermost split.
    #[error("step `{step}`: its inputs come from different splits ({}); a join must receive the branches of one split only, the innermost one open on all its inputs", inputs_text(.inputs))]
    InconsistentJoin {
        /// The join step.
        step: String,
        /// Each input step with the innermost split open on it (`None`: outside any split).
        inputs: Vec<(String, Option<String>)>,
    },
    /// Rule 6: a join of a branch split does not receive all of its branches.
    #[error("step `{step}`: joins the split at `{split}` but misses its {} {}; every branch of a split must reach this join", if .missing.len() == 1 { "branch" } else { "branches" }, list(.missing))]
    MissingBranches {
        /// The join step.
        step: String,
        /// The branch split it closes.
        split: String,
        /// The split's targets whose paths do not reach the join.
        missing: Vec<String>,
    },
    /// Rule 6: the branches of one split end at several joins.
    #[error("split at `{split}`: its branches are joined at several steps ({}); all branches of a split must meet at one join", list(.joins))]
    SplitJoinedTwice {
        /// The branch split.
        split: String,
        /// The joins that each receive some of its branches.
        joins: Vec<String>,
    },
    /// Rule 6: a join is a direct target of the split it closes.
    #[error(
        "step `{step}`: is a join and a direct target of the split at `{split}` it closes; put a step between the split and its join"
    )]
    JoinIsSplitTarget {
        /// The join step.
        step: String,
        /// The split.
        split: String,
    },
    /// Rule 6: a split is still open when the flow reaches `end`.
    #[error("split at `{split}` ({kind}) is never joined before `end`; add a join step that receives its {}", if *.kind == SplitKind::Foreach { "items" } else { "branches" })]
    UnjoinedSplit {
        /// The split step.
        split: String,
        /// Its kind.
        kind: SplitKind,
    },
    /// Rule 7: `catch` names an empty artifact.
    #[error("step `{step}`: `catch` names an empty artifact; give it a name or remove `catch`")]
    EmptyCatch {
        /// The step.
        step: String,
    },
    /// Rule 7: `catch` names an artifact that is not a valid artifact name.
    #[error("step `{step}`: `catch` names an invalid artifact: {error}")]
    InvalidCatch {
        /// The step.
        step: String,
        /// Why the name is refused.
        error: wflow_core::names::NameError,
    },
    /// Rule 7: `timeout_secs` is zero.
    #[error("step `{step}`: timeout is 0 seconds; set a positive timeout or none")]
    ZeroTimeout {
        /// The step.
        step: String,
    },
    /// Rule 7: `memory_mb` is zero.
    #[error("step `{step}`: memory limit is 0 MiB; set a positive limit or none")]
    ZeroMemory {
        /// The step.
        step: String,
    },
    /// Rule 7: `cpu` is zero.
    #[error("step `{step}`: asks for 0 CPUs; ask for at least 1 or leave it unset")]
    ZeroCpu {
        /// The step.
        step: String,
    },
}

impl GraphError {
    /// A short, stable identifier of the rule broken (for example `unknown-step`), for machine
    /// output such as `wflow check --json`.
    pub fn rule(&self) -> &'static str {
        match self {
            GraphError::InvalidFlowName { .. } => "invalid-flow-name",
            GraphError::InvalidStepName { .. } => "invalid-step-name",
            GraphError::InvalidName(_) => "invalid-name",
            GraphError::TooMany { .. } => "too-many",
            GraphError::TooManyErrors { .. } => "too-many-errors",
            GraphError::DuplicateStep { .. } => "duplicate-step",
            GraphError::InvalidParameterName { .. } => "invalid-parameter-name",
            GraphError::DuplicateParameter { .. } => "duplicate-parameter",
            GraphError::MissingStart => "missing-start",
            GraphError::MissingEnd => "missing-end",
            GraphError::EndNotEnd { .. } => "end-not-end",
            GraphError::EndOutsideEnd { .. } => "end-outside-end",
            GraphError::StartIsJoin => "start-is-join",
            GraphError::StartHasIncoming { .. } => "start-has-incoming",
            GraphError::UnknownStep { .. } => "unknown-step",
            GraphError::EmptyNext { .. } => "empty-next",
            GraphError::DuplicateTarget { .. } => "duplicate-target",
            GraphError::Cycle { .. } => "cycle",
            GraphError::SwitchTooFewChoices { .. } => "switch-too-few-choices",
            GraphError::LoopWithoutBound { .. } => "loop-without-bound",
            GraphError::ZeroIterations { .. } => "zero-iterations",
            GraphError::BadLoop { .. } => "bad-loop",
            GraphError::Unreachable { .. } => "unreachable",
            GraphError::DeadEnd { .. } => "dead-end",
            GraphError::NotAJoin { .. } => "not-a-join",
            GraphError::JoinWithoutSplit { .. } => "join-without-split",
            GraphError::InconsistentJoin { .. } => "inconsistent-join",
            GraphError::MissingBranches { .. } => "missing-branches",
            GraphError::SplitJoinedTwice { .. } => "split-joined-twice",
            GraphError::JoinIsSplitTarget { .. } => "join-is-split-target",
            GraphError::UnjoinedSplit { .. } => "unjoined-split",
            GraphError::EmptyCatch { .. } => "empty-catch",
            GraphError::InvalidCatch { .. } => "invalid-catch",
            GraphError::ZeroTimeout { .. } => "zero-timeout",
            GraphError::ZeroMemory { .. } => "zero-memory",
            GraphError::ZeroCpu { .. } => "zero-cpu",
        }
    }
}

/// `` `name` `` (escaped, cut to 64 characters), or `(empty)` for an empty name.
fn quoted(name: &str) -> String {
    if name.is_empty() {
        "(empty)".to_string()
    } else {
        format!("`{}`", wflow_core::names::shown(name))
    }
}

/// `` `a`, `b` ``.
fn list(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `` `b` in the split at `a`, `c` outside any split ``.
fn inputs_text(inputs: &[(String, Option<String>)]) -> String {
    inputs
        .iter()
        .map(|(step, split)| match split {
            Some(s) => format!("`{step}` in the split at `{s}`"),
            None => format!("`{step}` outside any split"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}
