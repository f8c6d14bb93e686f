//! Hostile specs (issue 20, item 8): validation takes bounded work whatever a guest declares,
//! and still ends in a clear error. Before the bounds, 1,000 steps with 1,000-character names
//! pointing at missing steps spent minutes in the "did you mean" edit distance.

use wflow_core::{FlowSpec, StepSpec, Transition};
use wflow_graph::{GraphError as E, MAX_ERRORS, validate};

fn spec(steps: Vec<StepSpec>) -> FlowSpec {
    FlowSpec {
        name: "Hostile".into(),
        doc: String::new(),
        parameters: vec![],
        steps,
    }
}

/// `n` steps named `{c}…{i}` of `len` characters, each going to a missing step of the same shape.
fn long_names(n: usize, len: usize) -> Vec<StepSpec> {
    let name = |prefix: &str, i: usize| {
        let tail = format!("{prefix}{i}");
        format!("{}{tail}", "s".repeat(len - tail.len()))
    };
    let mut steps = vec![StepSpec::new("start", Transition::Next(vec![name("a", 0)]))];
    for i in 0..n {
        steps.push(StepSpec::new(
            &name("a", i),
            Transition::Next(vec![name("b", i)]),
        ));
    }
    steps.push(StepSpec::new("end", Transition::End));
    steps
}

#[test]
fn a_thousand_steps_with_thousand_character_names_are_refused_for_their_length() {
    let err = validate(&spec(long_names(1_000, 1_000))).unwrap_err();
    assert_eq!(err.0.len(), MAX_ERRORS + 1, "the list is capped");
    assert!(matches!(err.0[0], E::InvalidName(_)), "{:?}", err.0[0]);
    assert!(matches!(err.0[MAX_ERRORS], E::TooManyErrors { more } if more > 1_000));
    let text = err.to_string();
    assert!(
        text.contains("step name `sss") && text.contains("1000 bytes long, the most is 256"),
        "{}",
        &text[..300]
    );
    assert!(
        text.len() < 40_000,
        "no name is printed whole: {}",
        text.len()
    );
}

#[test]
fn a_thousand_unknown_targets_near_long_names_get_bounded_hints() {
    // Every target is one edit away from a declared name of 250 characters: the hint search
    // would compare each with every declared step. It has a budget; the errors still come.
    let err = validate(&spec(long_names(1_000, 250))).unwrap_err();
    assert_eq!(err.0.len(), MAX_ERRORS + 1);
    assert!(
        err.0[..MAX_ERRORS]
            .iter()
            .all(|e| matches!(e, E::UnknownStep { .. })),
        "{err}"
    );
}

#[test]
fn too_many_steps_is_one_error() {
    let mut steps = vec![StepSpec::new("start", Transition::Next(vec!["end".into()]))];
    steps.extend((0..20_000).map(|i| StepSpec::new(&format!("s{i}"), Transition::End)));
    let err = validate(&spec(steps)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "flow declares 20001 steps, more than the most of 10000"
    );
}

#[test]
fn a_step_asking_for_a_million_capabilities_is_one_error() {
    let mut start = StepSpec::new("start", Transition::Next(vec!["end".into()]));
    start.capabilities.env = (0..1_000_000).map(|i| format!("V{i}")).collect();
    let err = validate(&spec(vec![start, StepSpec::new("end", Transition::End)])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "flow declares 1000000 capabilities in step `start`, more than the most of 1000"
    );
}

#[test]
fn catch_names_follow_the_artifact_name_rule() {
    let huge = "c".repeat(1 << 20);
    for (name, needle) in [
        ("../../a/b\0c", "contains `/`"),
        ("_parameters", "reserved for the host"),
        (huge.as_str(), "1048576 bytes long"),
        ("x\u{1b}[2J", "contains `\\u{1b}`"),
    ] {
        let mut start = StepSpec::new("start", Transition::Next(vec!["end".into()]));
        start.catch = Some(name.into());
        let err = validate(&spec(vec![start, StepSpec::new("end", Transition::End)])).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("step `start`: `catch` names an invalid artifact: artifact name `")
                && text.contains(needle),
            "{text}"
        );
        assert!(text.len() < 300 && !text.contains('\u{1b}'), "{text:?}");
    }
}

#[test]
fn hints_still_find_near_names() {
    let steps = vec![
        StepSpec::new("start", Transition::Next(vec!["proces".into()])),
        StepSpec::new("process", Transition::Next(vec!["ennd".into()])),
        StepSpec::new("end", Transition::End),
    ];
    let text = validate(&spec(steps)).unwrap_err().to_string();
    assert!(text.contains("did you mean `process`?"), "{text}");
    assert!(text.contains("did you mean `end`?"), "{text}");
}
