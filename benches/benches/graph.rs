//! Graph validation (`wflow_graph::validate`) of flows of about 1,000 steps: a line of 1,000 steps,
//! a branch into 998 steps and their join, and 333 foreach splits nested one in another.

use criterion::{Criterion, criterion_group, criterion_main};
use wflow_core::{FlowSpec, StepSpec, Transition};

fn next(to: &[String]) -> Transition {
    Transition::Next(to.to_vec())
}

fn flow(steps: Vec<StepSpec>) -> FlowSpec {
    FlowSpec {
        name: "Big".into(),
        doc: String::new(),
        parameters: vec![],
        steps,
    }
}

/// start → s1 → … → s998 → end.
fn line(n: usize) -> FlowSpec {
    let name = |i: usize| match i {
        0 => "start".to_string(),
        i if i == n - 1 => "end".to_string(),
        i => format!("s{i}"),
    };
    let steps = (0..n)
        .map(|i| {
            let t = if i == n - 1 {
                Transition::End
            } else {
                next(&[name(i + 1)])
            };
            StepSpec::new(&name(i), t)
        })
        .collect();
    flow(steps)
}

/// start → (b1 … b_{n-3}) → join → end.
fn branch(n: usize) -> FlowSpec {
    let branches: Vec<String> = (1..=n - 3).map(|i| format!("b{i}")).collect();
    let mut steps = vec![StepSpec::new("start", next(&branches))];
    steps.extend(
        branches
            .iter()
            .map(|b| StepSpec::new(b, next(&["join".into()]))),
    );
    let mut join = StepSpec::new("join", next(&["end".into()]));
    join.join = true;
    steps.push(join);
    steps.push(StepSpec::new("end", Transition::End));
    flow(steps)
}

/// start foreach → f1 foreach → … → innermost → j_k joins … → end: `depth` nested foreach splits.
fn nested(depth: usize) -> FlowSpec {
    let split = |i: usize| {
        if i == 0 {
            "start".to_string()
        } else {
            format!("f{i}")
        }
    };
    let join = |i: usize| format!("j{i}");
    let mut steps = Vec::new();
    for i in 0..depth {
        let target = if i + 1 < depth {
            split(i + 1)
        } else {
            "inner".to_string()
        };
        steps.push(StepSpec::new(&split(i), Transition::Foreach(target)));
    }
    steps.push(StepSpec::new("inner", next(&[join(depth - 1)])));
    for i in (0..depth).rev() {
        let after = if i == 0 {
            "end".to_string()
        } else {
            join(i - 1)
        };
        let mut j = StepSpec::new(&join(i), next(&[after]));
        j.join = true;
        steps.push(j);
    }
    steps.push(StepSpec::new("end", Transition::End));
    flow(steps)
}

fn validate(c: &mut Criterion) {
    let mut g = c.benchmark_group("validate");
    for (name, spec) in [
        ("line_1000", line(1000)),
        ("branch_1000", branch(1000)),
        ("nested_foreach_1000", nested(333)),
    ] {
        let plan =
            wflow_graph::validate(&spec).unwrap_or_else(|e| panic!("{name} is invalid: {e}"));
        assert_eq!(plan.spec().steps.len(), spec.steps.len());
        g.bench_function(name, |b| {
            b.iter(|| wflow_graph::validate(&spec).expect("valid"))
        });
    }
    g.finish();
}

criterion_group!(benches, validate);
criterion_main!(benches);
