//! The graph linter: checks a [`FlowSpec`](wflow_core::FlowSpec) and turns it into a validated [`Plan`].
//!
//! [`validate`] is pure (no I/O) and reports every independent problem it finds, not just the
//! first, as a [`GraphErrors`] list. Each [`GraphError`] variant is one rule; its message names the
//! step(s) involved and says what to do.
//!
//! ```
//! use wflow_core::{FlowSpec, StepSpec, Transition};
//! let next = |to: &[&str]| Transition::Next(to.iter().map(|s| s.to_string()).collect());
//! let mut join = StepSpec::new("join", next(&["end"]));
//! join.join = true;
//! let spec = FlowSpec {
//!     name: "Hello".into(),
//!     doc: String::new(),
//!     parameters: vec![],
//!     steps: vec![
//!         StepSpec::new("start", next(&["a", "b"])),
//!         StepSpec::new("a", next(&["join"])),
//!         StepSpec::new("b", next(&["join"])),
//!         join,
//!         StepSpec::new("end", Transition::End),
//!     ],
//! };
//! let plan = wflow_graph::validate(&spec).unwrap();
//! assert_eq!(plan.join_of("start"), Some("join"));
//! assert_eq!(plan.predecessors("join"), ["a", "b"]);
//! ```
//!
//! # Rules
//!
//! 1. **Names.** The flow's name, every step name and every parameter name is an identifier
//!    (`[A-Za-z_][A-Za-z0-9_]*`) of at most 256 bytes ([`wflow_core::names`], the one rule for
//!    every name the host takes). Step names are unique; parameter names are unique. A flow has at
//!    most [`MAX_STEPS`] steps, [`MAX_PARAMETERS`] parameters and [`MAX_CAPABILITIES`] capabilities
//!    per step; past these bounds, or with a
//!    name too long, only those errors are reported, so validation takes bounded time whatever
//!    the spec (as do the hints for unknown names, which have a fixed budget).
//! 2. **Start and end.** There is exactly one step named `start` and one named `end`. `end` has the
//!    `end` transition and no other step does. `start` is not a join and no transition leads to it.
//! 3. **Transitions.** Every target of `next`, `foreach` and `switch` is a declared step (an unknown
//!    name comes with a suggestion when a declared name is within edit distance 2). A `next` list is
//!    non-empty and names each step once; a `switch` names at least two steps, each once.
//! 4. **No cycles, but bounded loops.** A switch choice from which the switch can be reached again
//!    goes back to an earlier step: a loop. It needs `max_iterations` (at least 1), may not go back
//!    to `start`, and a switch goes back to one step at most. Leaving those edges out, each cycle
//!    is reported once, naming its steps in order.
//! 5. **Reachability.** Every step is reachable from `start`, and every step leads to `end`. A path
//!    that never reaches `end` either stops at a step whose transition breaks rule 2 or 3 (and is
//!    reported there) or loops: such a dead end is reported once per cycle with no way out. For
//!    reachability, a misspelt target counts as the step it suggests, so one typo is one error.
//! 6. **Splits and joins**, matched structurally. A `next` with two or more targets opens a branch
//!    split; a `foreach` opens a foreach split. Walking the graph in topological order, each step
//!    gets a split stack (the splits open around it, outermost first):
//!    - a step that is not a join has exactly one incoming transition (`start` has none), or
//!      several in the same splits: the alternatives of switches rejoining (a switch opens no
//!      split, since only one of its choices runs);
//!    - a loop's way back stays in the splits of its switch and leads to a step that is not a join;
//!    - a join closes the innermost split open on all its inputs: every input carries the same
//!      innermost split with the same outer splits, otherwise the inputs come from different
//!      splits; a join with no open split is an error;
//!    - a join of a branch split receives every branch of it (a split whose branches end at several
//!      joins is reported as such); a join of a foreach receives its one path;
//!    - a join is never a direct target of the split it closes;
//!    - `end` is reached with no open split: every split is joined before it.
//!
//!    Nested foreach splits and branches inside a foreach (and the other way round) are fine.
//!    Rule 6 needs a sound graph, so it is checked only when rules 2–5 found no problem that would
//!    make it meaningless (unreachable steps are simply left out of it).
//! 7. **Settings.** A `catch` artifact name is a valid artifact name (non-empty, no `/`, `\`
//!    or control characters, not starting with `_`), and `timeout_secs`, `memory_mb` and `cpu`
//!    are positive when set.
#![deny(missing_docs)]

mod cycles;
mod error;
mod plan;
mod render;
mod splits;
mod validate;

pub use error::{GraphError, GraphErrors};
pub use plan::{Frame, Plan, SplitKind};
pub use validate::{MAX_CAPABILITIES, MAX_ERRORS, MAX_PARAMETERS, MAX_STEPS, validate};
