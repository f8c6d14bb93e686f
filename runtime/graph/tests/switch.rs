//! Switches and loops (contract 0.2): where their branches may rejoin, which loops are sound, and
//! the errors of the rest.

#[allow(dead_code)] // the helpers the other test files use
mod common;

use common::flow;
use wflow_graph::{GraphError as E, validate};

fn s(name: &str) -> String {
    name.to_string()
}

#[test]
fn switch_branches_rejoin_at_a_plain_step_a_join_or_end() {
    for src in [
        // Rejoin at a plain step.
        "start ?> a b; a -> m; b -> m; m -> end; end",
        // One choice is the rejoin step itself.
        "start ?> a m; a -> m; m -> end; end",
        // Each branch reaches `end`.
        "start ?> a b; a -> end; b -> end; end",
        // A switch inside a foreach, its branches joined by the foreach's join.
        "start => p; p ?> a b; a -> j; b -> j; *j -> end; end",
        // A switch on one branch of a static split.
        "start -> x y; x ?> a b; a -> j; b -> j; y -> j; *j -> end; end",
        // Nested switches rejoining at one step.
        "start ?> a b; a ?> c d; c -> m; d -> m; b -> m; m -> end; end",
    ] {
        let plan = validate(&flow(src)).unwrap_or_else(|e| panic!("{src}: {e}"));
        assert_eq!(plan.steps_in_order().last().unwrap(), "end", "{src}");
    }
}

#[test]
fn a_loop_is_a_switch_back_to_an_earlier_step_with_a_bound() {
    let plan = validate(&flow("start -> a; a -> b; b ?3> a end; end")).unwrap();
    assert!(plan.loops_back("b", "a"));
    assert!(!plan.loops_back("b", "end"));
    let (target, body) = plan.loop_of("b").unwrap();
    assert_eq!(
        (target, body),
        ("a", &["a".to_string(), "b".to_string()][..])
    );
    // A step looping on itself, and a loop inside a foreach.
    validate(&flow("start -> a; a ?2> a end; end")).unwrap();
    let plan = validate(&flow("start => a; a ?2> a j; *j -> end; end")).unwrap();
    assert_eq!(plan.loop_of("a").unwrap().0, "a");
    let text = plan.render_text();
    assert!(
        text.contains("loop") && text.contains("(loops back to `a`, at most 2 iterations)"),
        "{text}"
    );
}

#[test]
fn bad_switches_and_loops_are_named() {
    let cases: Vec<(&str, Vec<E>)> = vec![
        (
            "start ?> end; end",
            vec![E::SwitchTooFewChoices {
                step: s("start"),
                count: 1,
            }],
        ),
        (
            "start -> a; a ?> a end; end",
            vec![E::LoopWithoutBound {
                step: s("a"),
                target: s("a"),
            }],
        ),
        (
            "start -> a; a ?0> a end; end",
            vec![E::ZeroIterations { step: s("a") }],
        ),
        (
            "start -> a; a ?2> start end; end",
            vec![E::StartHasIncoming { from: vec![s("a")] }],
        ),
        (
            // Back across the boundary of a foreach.
            "start -> a; a => b; b ?2> a j; *j -> end; end",
            vec![E::BadLoop {
                step: s("b"),
                target: s("a"),
                reason: s("which lies in other splits than the switch"),
            }],
        ),
        (
            // Two inputs in different splits: still not a join.
            "start -> x y; x -> m; y -> m; m -> end; end",
            vec![E::NotAJoin {
                step: s("m"),
                from: vec![s("x"), s("y")],
            }],
        ),
        (
            // A cycle that no switch closes stays a cycle.
            "start ?2> a end; a -> b; b -> a; end",
            vec![
                E::Cycle {
                    steps: vec![s("a"), s("b")],
                },
                E::DeadEnd { step: s("a") },
            ],
        ),
    ];
    for (src, want) in cases {
        let got = validate(&flow(src)).expect_err(src);
        assert_eq!(got.0, want, "{src}: {got}");
        for e in &got.0 {
            assert!(!e.to_string().is_empty());
        }
    }
    let e = validate(&flow("start -> a; a ?> a end; end")).unwrap_err();
    assert!(
        e.to_string()
            .contains("loops back to `a` but sets no `max_iterations`"),
        "{e}"
    );
}
