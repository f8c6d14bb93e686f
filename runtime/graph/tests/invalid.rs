//! Graphs that break rules: each must report exactly the expected errors, naming the steps.

mod common;

use common::{flow, names, step_mut, with};
use wflow_core::{FlowSpec, ParamSpec, ParamType};
use wflow_graph::{GraphError as E, SplitKind, validate};

fn s(name: &str) -> String {
    name.to_string()
}

fn param(f: &mut FlowSpec, name: &str) {
    let (ty, default, help) = (ParamType::Int, None, String::new());
    f.parameters.push(ParamSpec {
        name: s(name),
        ty,
        default,
        help,
    });
}

/// (label, flow, expected errors in order, names each message list must quote)
fn cases() -> Vec<(&'static str, FlowSpec, Vec<E>, &'static [&'static str])> {
    vec![
        (
            "missing start",
            flow("begin -> end; end"),
            vec![E::MissingStart],
            &["start"],
        ),
        (
            "missing end",
            flow("start -> stop; stop"),
            vec![E::MissingEnd, E::EndOutsideEnd { step: s("stop") }],
            &["end", "stop"],
        ),
        (
            "duplicate step",
            flow("start -> a; a -> end; a -> end; end"),
            vec![E::DuplicateStep {
                step: s("a"),
                count: 2,
            }],
            &["a"],
        ),
        (
            "unknown target with suggestion",
            flow("start -> proces; process -> end; end"),
            vec![E::UnknownStep {
                step: s("start"),
                target: s("proces"),
                suggestion: Some(s("process")),
            }],
            &["start", "proces", "process"],
        ),
        (
            "unknown target without suggestion",
            flow("start -> a end; a -> zzz; end"),
            vec![E::UnknownStep {
                step: s("a"),
                target: s("zzz"),
                suggestion: None,
            }],
            &["a", "zzz"],
        ),
        (
            "unknown target cuts the flow",
            flow("start -> a; a -> zzz; end"),
            vec![
                E::UnknownStep {
                    step: s("a"),
                    target: s("zzz"),
                    suggestion: None,
                },
                E::Unreachable { step: s("end") },
            ],
            &["a", "zzz", "end"],
        ),
        (
            "unknown foreach target",
            flow("start -> w0 end; w0 => wrk; work -> end; end"),
            vec![E::UnknownStep {
                step: s("w0"),
                target: s("wrk"),
                suggestion: Some(s("work")),
            }],
            &["w0", "wrk", "work"],
        ),
        (
            "cycle",
            flow("start -> a; a -> b; b -> a end; end"),
            vec![E::Cycle {
                steps: names(&["a", "b"]),
            }],
            &["a", "b"],
        ),
        (
            "self loop",
            flow("start -> a; a -> a end; end"),
            vec![E::Cycle {
                steps: names(&["a"]),
            }],
            &["a"],
        ),
        (
            "cycle through start",
            flow("start -> a; a -> start end; end"),
            vec![
                E::StartHasIncoming {
                    from: names(&["a"]),
                },
                E::Cycle {
                    steps: names(&["start", "a"]),
                },
            ],
            &["start", "a"],
        ),
        (
            "dead end: a cycle with no way out",
            flow("start -> a end; a -> b; b -> a; end"),
            vec![
                E::Cycle {
                    steps: names(&["a", "b"]),
                },
                E::DeadEnd { step: s("a") },
            ],
            &["a", "b"],
        ),
        (
            "unreachable step",
            flow("start -> end; orphan -> end; end"),
            vec![E::Unreachable { step: s("orphan") }],
            &["orphan"],
        ),
        (
            "non-join with two inputs",
            flow("start -> a1 a2; a1 -> b; a2 -> b; b -> end; end"),
            vec![E::NotAJoin {
                step: s("b"),
                from: names(&["a1", "a2"]),
            }],
            &["b", "a1", "a2"],
        ),
        (
            "end receives two branches but is not a join",
            flow("start -> a b; a -> end; b -> end; end"),
            vec![E::NotAJoin {
                step: s("end"),
                from: names(&["a", "b"]),
            }],
            &["end", "a", "b"],
        ),
        (
            "empty flow",
            flow(""),
            vec![E::MissingStart, E::MissingEnd],
            &["start", "end"],
        ),
        (
            "join closes the inner split only",
            flow("start => f; f -> a b; a -> j; b -> j; *j -> end; end"),
            vec![E::UnjoinedSplit {
                split: s("start"),
                kind: SplitKind::Foreach,
            }],
            &["start"],
        ),
        (
            "join without split",
            flow("start -> j; *j -> end; end"),
            vec![E::JoinWithoutSplit { step: s("j") }],
            &["j"],
        ),
        (
            "join missing a branch",
            flow("start -> a b c; a -> j; b -> j; c -> end; *j -> end; end"),
            vec![E::MissingBranches {
                step: s("j"),
                split: s("start"),
                missing: names(&["c"]),
            }],
            &["j", "start", "c"],
        ),
        (
            "branch joined at two joins",
            flow("start -> a b; a -> j1; b -> j2; *j1 -> k; *j2 -> k; *k -> end; end"),
            vec![E::SplitJoinedTwice {
                split: s("start"),
                joins: names(&["j1", "j2"]),
            }],
            &["start", "j1", "j2"],
        ),
        (
            "join of two different splits",
            flow("start -> a b; a -> c d; c -> j; d -> j; b -> j; *j -> end; end"),
            vec![E::InconsistentJoin {
                step: s("j"),
                inputs: vec![
                    (s("c"), Some(s("a"))),
                    (s("d"), Some(s("a"))),
                    (s("b"), Some(s("start"))),
                ],
            }],
            &["j", "a", "b", "c", "d", "start"],
        ),
        (
            "join is a direct target of its branch split",
            flow("start -> a j; a -> j; *j -> end; end"),
            vec![E::JoinIsSplitTarget {
                step: s("j"),
                split: s("start"),
            }],
            &["j", "start"],
        ),
        (
            "join is the target of its foreach",
            flow("start => j; *j -> end; end"),
            vec![E::JoinIsSplitTarget {
                step: s("j"),
                split: s("start"),
            }],
            &["j", "start"],
        ),
        (
            "unjoined foreach reaching end",
            flow("start => w; w -> end; end"),
            vec![E::UnjoinedSplit {
                split: s("start"),
                kind: SplitKind::Foreach,
            }],
            &["start"],
        ),
        (
            "unjoined nested foreach",
            flow("start => a; a => b; b -> j; *j -> end; end"),
            vec![E::UnjoinedSplit {
                split: s("start"),
                kind: SplitKind::Foreach,
            }],
            &["start"],
        ),
        (
            "end with a non-end transition",
            flow("start -> end; end -> done; done"),
            vec![
                E::EndNotEnd {
                    found: s("next(done)"),
                },
                E::EndOutsideEnd { step: s("done") },
            ],
            &["end", "done"],
        ),
        (
            "start marked join",
            flow("*start -> end; end"),
            vec![E::StartIsJoin],
            &["start"],
        ),
        (
            "empty next list",
            flow("start -> a end; a ->; end"),
            vec![E::EmptyNext { step: s("a") }],
            &["a"],
        ),
        (
            "duplicate target",
            flow("start -> a a; a -> end; end"),
            vec![E::DuplicateTarget {
                step: s("start"),
                target: s("a"),
            }],
            &["start", "a"],
        ),
        (
            "invalid identifiers",
            with("start -> my-step; my-step -> end; end", |f| {
                f.name = s("1flow");
                param(f, "bad name");
            }),
            vec![
                E::InvalidFlowName { name: s("1flow") },
                E::InvalidStepName { step: s("my-step") },
                E::InvalidParameterName {
                    param: s("bad name"),
                },
            ],
            &["1flow", "my-step", "bad name"],
        ),
        (
            "bad settings",
            with("start -> end; end", |f| {
                let st = step_mut(f, "start");
                st.catch = Some(String::new());
                (st.timeout_secs, st.memory_mb, st.cpu) = (Some(0), Some(0), Some(0));
            }),
            vec![
                E::EmptyCatch { step: s("start") },
                E::ZeroTimeout { step: s("start") },
                E::ZeroMemory { step: s("start") },
                E::ZeroCpu { step: s("start") },
            ],
            &["start"],
        ),
        (
            "several errors at once",
            with("start -> a; a -> bb; b -> end; end; b -> end", |f| {
                f.name = String::new();
                param(f, "n");
                param(f, "n");
                step_mut(f, "a").memory_mb = Some(0);
            }),
            vec![
                E::InvalidFlowName {
                    name: String::new(),
                },
                E::DuplicateStep {
                    step: s("b"),
                    count: 2,
                },
                E::DuplicateParameter {
                    param: s("n"),
                    count: 2,
                },
                E::UnknownStep {
                    step: s("a"),
                    target: s("bb"),
                    suggestion: Some(s("b")),
                },
                E::ZeroMemory { step: s("a") },
            ],
            &["a", "b", "bb", "n"],
        ),
    ]
}

#[test]
fn invalid_graphs_report_exact_errors() {
    for (label, spec, expected, mentions) in cases() {
        let errors = match validate(&spec) {
            Ok(_) => panic!("{label}: validated"),
            Err(e) => e,
        };
        assert_eq!(errors.0, expected, "{label}");
        let text = errors.to_string();
        assert_eq!(
            text.lines().count(),
            expected.len(),
            "{label}: one line per error\n{text}"
        );
        for name in mentions {
            assert!(
                text.contains(&format!("`{name}`")),
                "{label}: `{name}` not named in\n{text}"
            );
        }
        for e in &errors.0 {
            assert!(!e.rule().is_empty());
        }
    }
}

#[test]
fn messages_say_what_to_do() {
    let msg = |src: &str| validate(&flow(src)).unwrap_err().to_string();
    assert_eq!(
        msg("start -> a1 a2; a1 -> b; a2 -> b; b -> end; end"),
        "step `b`: has 2 incoming transitions (from `a1`, `a2`) but is not a join; mark it as a join"
    );
    assert_eq!(
        msg("start -> ed; end"),
        "step `start`: goes to unknown step `ed`; did you mean `end`?"
    );
    assert_eq!(
        msg("start -> a; a -> b; b -> c end; c -> a; end"),
        "steps `a` -> `b` -> `c` -> `a` form a cycle; a flow must not loop, except through a `switch` back to an earlier step with `max_iterations`"
    );
    assert_eq!(
        msg("start => w; w -> end; end"),
        "split at `start` (foreach) is never joined before `end`; add a join step that receives its items"
    );
    let name = with("start -> end; end", |f| f.name = String::new());
    assert_eq!(
        validate(&name).unwrap_err().to_string(),
        "flow name (empty) is not a valid identifier; use letters, digits and `_`, not starting with a digit"
    );
}

#[test]
fn graph_errors_is_an_error() {
    let err: Box<dyn std::error::Error> = Box::new(validate(&flow("end")).unwrap_err());
    assert_eq!(
        err.to_string(),
        "flow has no step named `start`; add one: every run begins there"
    );
}
