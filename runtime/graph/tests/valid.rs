//! Graphs that pass every rule, and what their plans say.

mod common;

use std::time::{Duration, Instant};

use common::{flow, names, step_mut, with};
use wflow_core::{FlowSpec, ParamSpec, ParamType, StepSpec, Transition};
use wflow_graph::{Frame, SplitKind, validate};

/// (label, flow, expected `steps_in_order`)
const VALID: &[(&str, &str, &[&str])] = &[
    (
        "linear",
        "start -> a; a -> b; b -> end; end",
        &["start", "a", "b", "end"],
    ),
    (
        "start straight to end",
        "start -> end; end",
        &["start", "end"],
    ),
    (
        "branch and join",
        "start -> a b; a -> j; b -> j; *j -> end; end",
        &["start", "a", "b", "j", "end"],
    ),
    (
        "foreach and join",
        "start => w; w -> j; *j -> end; end",
        &["start", "w", "j", "end"],
    ),
    (
        "nested foreach",
        "start => outer; outer => inner; inner -> ji; *ji -> jo; *jo -> end; end",
        &["start", "outer", "inner", "ji", "jo", "end"],
    ),
    (
        "branch inside foreach",
        "start => f; f -> a b; a -> jb; b -> jb; *jb -> jf; *jf -> end; end",
        &["start", "f", "a", "b", "jb", "jf", "end"],
    ),
    (
        "foreach inside branch",
        "start -> a b; a => w; w -> jw; *jw -> j; b -> j; *j -> end; end",
        &["start", "a", "w", "jw", "b", "j", "end"],
    ),
    (
        "three-way branch",
        "start -> a b c; a -> j; b -> j; c -> j; *j -> end; end",
        &["start", "a", "b", "c", "j", "end"],
    ),
    (
        "longer branches",
        "start -> a b; a -> a2; a2 -> j; b -> j; *j -> end; end",
        &["start", "a", "a2", "b", "j", "end"],
    ),
    (
        "end is the join",
        "start -> a b; a -> end; b -> end; *end",
        &["start", "a", "b", "end"],
    ),
    (
        "join that splits again",
        "start -> a b; a -> j; b -> j; *j -> c d; c -> k; d -> k; *k -> end; end",
        &["start", "a", "b", "j", "c", "d", "k", "end"],
    ),
    (
        "join that starts a foreach",
        "start -> a b; a -> j; b -> j; *j => w; w -> k; *k -> end; end",
        &["start", "a", "b", "j", "w", "k", "end"],
    ),
    (
        "declaration order does not matter",
        "end; *j -> end; b -> j; a -> j; start -> b a",
        &["start", "b", "a", "j", "end"],
    ),
];

#[test]
fn valid_graphs_validate() {
    for (label, src, order) in VALID {
        let plan = validate(&flow(src)).unwrap_or_else(|e| panic!("{label}: {e}"));
        assert_eq!(plan.steps_in_order(), names(order), "{label}");
        assert_eq!(plan.start(), "start", "{label}");
        assert_eq!(plan.depth("start"), 0, "{label}");
        assert_eq!(plan.depth("end"), 0, "{label}");
        assert!(plan.predecessors("start").is_empty(), "{label}");
        for name in plan.steps_in_order() {
            if let Some((split, _)) = plan.closes(name) {
                assert_eq!(plan.join_of(split), Some(name.as_str()), "{label}: {name}");
            }
        }
    }
}

#[test]
fn nested_foreach_plan() {
    let plan = validate(&flow(
        "start -> prep; prep => outer; outer => inner; inner -> work; work -> ji; *ji -> jo; \
         *jo -> end; end",
    ))
    .unwrap();
    assert_eq!(
        plan.steps_in_order(),
        names(&["start", "prep", "outer", "inner", "work", "ji", "jo", "end"])
    );
    assert_eq!(plan.predecessors("prep"), ["start"]);
    assert_eq!(plan.predecessors("ji"), ["work"]);
    assert_eq!(plan.predecessors("end"), ["jo"]);
    assert_eq!(plan.closes("ji"), Some(("outer", SplitKind::Foreach)));
    assert_eq!(plan.closes("jo"), Some(("prep", SplitKind::Foreach)));
    assert_eq!(plan.closes("work"), None);
    assert_eq!(plan.join_of("prep"), Some("jo"));
    assert_eq!(plan.join_of("outer"), Some("ji"));
    assert_eq!(plan.join_of("inner"), None);
    assert_eq!(plan.opens("prep"), Some(SplitKind::Foreach));
    assert_eq!(plan.opens("inner"), None);
    let depths: Vec<usize> = plan
        .steps_in_order()
        .iter()
        .map(|s| plan.depth(s))
        .collect();
    assert_eq!(depths, [0, 0, 1, 2, 2, 1, 0, 0]);
    assert_eq!(plan.foreach_depth("work"), 2);
    let frame = |split: &str, branch: &str| Frame {
        split: split.into(),
        kind: SplitKind::Foreach,
        branch: branch.into(),
    };
    assert_eq!(
        plan.stack("work"),
        [frame("prep", "outer"), frame("outer", "inner")]
    );
    assert_eq!(plan.stack("ji"), [frame("prep", "outer")]);
}

#[test]
fn branch_join_inputs_follow_branch_order() {
    // Declared c before b, but the split lists b first: input 0 of the join is branch b.
    let plan = validate(&flow(
        "start -> b c; c -> j; b -> b2; b2 -> j; *j -> end; end",
    ))
    .unwrap();
    assert_eq!(plan.predecessors("j"), ["b2", "c"]);
    assert_eq!(plan.closes("j"), Some(("start", SplitKind::Branch)));
    assert_eq!(plan.join_of("start"), Some("j"));
    assert_eq!(plan.stack("b2")[0].branch, "b");
    let plan = validate(&flow("start -> a b; a -> j; b -> j; *j -> end; end")).unwrap();
    assert_eq!(plan.step("j").name, "j");
    assert_eq!(plan.spec().steps.len(), 5);
}

#[test]
fn long_chain_validates_quickly() {
    let n = 1000;
    let mut steps = vec![StepSpec::new("start", Transition::Next(vec!["s1".into()]))];
    for i in 1..n {
        let next = if i + 1 == n {
            "end".to_string()
        } else {
            format!("s{}", i + 1)
        };
        steps.push(StepSpec::new(
            &format!("s{i}"),
            Transition::Next(vec![next]),
        ));
    }
    steps.push(StepSpec::new("end", Transition::End));
    steps.reverse(); // declaration order must not matter
    let spec = FlowSpec {
        name: "Long".into(),
        doc: String::new(),
        parameters: vec![],
        steps,
    };
    let t0 = Instant::now();
    let plan = validate(&spec).unwrap();
    assert!(
        t0.elapsed() < Duration::from_secs(1),
        "took {:?}",
        t0.elapsed()
    );
    assert_eq!(plan.steps_in_order().len(), n + 1);
    assert_eq!(plan.steps_in_order()[500], "s500");
    assert_eq!(plan.predecessors("end"), [format!("s{}", n - 1)]);
}

#[test]
fn wide_branch_validates_quickly() {
    let n = 1000;
    let branches: Vec<String> = (0..n).map(|i| format!("b{i}")).collect();
    let mut steps = vec![StepSpec::new("start", Transition::Next(branches.clone()))];
    for b in &branches {
        steps.push(StepSpec::new(b, Transition::Next(vec!["j".into()])));
    }
    let mut j = StepSpec::new("j", Transition::Next(vec!["end".into()]));
    j.join = true;
    steps.extend([j, StepSpec::new("end", Transition::End)]);
    let spec = FlowSpec {
        name: "Wide".into(),
        doc: String::new(),
        parameters: vec![],
        steps,
    };
    let t0 = Instant::now();
    let plan = validate(&spec).unwrap();
    assert!(
        t0.elapsed() < Duration::from_secs(1),
        "took {:?}",
        t0.elapsed()
    );
    assert_eq!(plan.predecessors("j"), branches);
}

#[test]
fn parameters_and_settings_are_accepted() {
    let spec = with("start -> end; end", |f| {
        f.parameters.push(ParamSpec {
            name: "alpha_1".into(),
            ty: ParamType::Float,
            default: None,
            help: String::new(),
        });
        let s = step_mut(f, "start");
        s.retries = 2;
        s.timeout_secs = Some(30);
        s.memory_mb = Some(512);
        s.cpu = Some(2);
        s.catch = Some("error".into());
    });
    validate(&spec).unwrap();
}

#[test]
fn render_text_draws_one_line_per_step() {
    let spec = with("start => work; work -> gather; *gather -> end; end", |f| {
        step_mut(f, "gather").retries = 2;
        step_mut(f, "work").memory_mb = Some(256);
    });
    let text = validate(&spec).unwrap().render_text();
    let expected = "\
start   foreach  -> work
  work  linear   -> gather  memory=256MiB
gather  join     -> end     (joins foreach at `start`)  retries=2
end     end
";
    assert_eq!(text, expected);
}

#[test]
fn to_dot_draws_every_step_and_edge() {
    let dot = validate(&flow(
        "start -> a b; a -> j; b -> j; *j => w; w -> k; *k -> end; end",
    ))
    .unwrap()
    .to_dot();
    assert!(dot.starts_with("digraph \"Test\" {\n"), "{dot}");
    assert!(dot.ends_with("}\n"));
    assert!(
        dot.contains("\"start\" [label=\"start\\nbranch\", shape=ellipse];"),
        "{dot}"
    );
    assert!(
        dot.contains("\"j\" [label=\"j\\njoin+foreach\", peripheries=2];"),
        "{dot}"
    );
    assert!(dot.contains("\"start\" -> \"a\";"));
    assert!(dot.contains("\"j\" -> \"w\" [style=dashed, label=\"foreach\"];"));
    assert_eq!(dot.matches("->").count(), 7);
}
