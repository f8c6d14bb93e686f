//! Target `graph`: graph validation of any flow spec, and what is built on a valid one.
//!
//! The input decodes to a [`FlowSpec`] in one of two ways (chosen by its first byte): names,
//! transitions and settings picked freely from small pools (most such graphs are invalid), or a
//! well-formed flow of nested branches and foreach splits that then takes a few damaging edits
//! (a wrong target, a missing join, an extra edge), so both the rules and the plan of a valid flow
//! are reached.
//!
//! Invariants, for any spec:
//! - [`validate`] returns a plan or a non-empty list of errors, each with a message; never a
//!   panic;
//! - a plan is consistent with its spec: a topological order of every step from `start` to `end`,
//!   predecessors that match the transitions, splits and joins that name each other, depth 0 at
//!   both ends; its text and dot renderings succeed;
//! - the spec survives a JSON round trip (it is recorded with each run);
//! - parameters resolve (from defaults and `-p` texts) to a value per parameter or an error;
//! - the built-in and the empty policy resolve the flow to a sandbox per step or violations that
//!   each name a step.

use std::collections::HashMap;

use wflow_core::{
    Capabilities, DirGrant, FlowSpec, ParamSpec, ParamType, StepSpec, Transition, resolve_params,
};
use wflow_graph::{Plan, SplitKind, validate};
use wflow_policy::{Policy, Target};

use crate::ops::Reader;

const STEP_NAMES: &[&str] = &[
    "start", "end", "a", "b", "c", "j", "k", "start", "end", "", "9x", "é", "a-b", "_",
];
const FLOW_NAMES: &[&str] = &["F", "Flow_1", "", "1x", "a b", "_"];
const PARAM_NAMES: &[&str] = &["n", "s", "n", "", "x-y", "_p"];
const TEXTS: &[&str] = &[
    "3", "x", "true", "1.5", "{}", "[1,", "", " 7 ", "yes", "-0", "1e999", "NaN", "\"é\"",
];

/// Decodes a flow spec from `data`.
pub fn decode(data: &[u8]) -> FlowSpec {
    let mut r = Reader::new(data);
    let mut spec = if r.u8().is_multiple_of(2) {
        structured(&mut r)
    } else {
        free(&mut r)
    };
    spec.parameters = (0..r.u8() % 4)
        .map(|_| ParamSpec {
            name: r.string(PARAM_NAMES),
            ty: param_type(r.u8()),
            default: (!r.u8().is_multiple_of(3)).then(|| r.string(TEXTS)),
            help: String::new(),
        })
        .collect();
    spec
}

fn param_type(b: u8) -> ParamType {
    [
        ParamType::String,
        ParamType::Int,
        ParamType::Float,
        ParamType::Bool,
        ParamType::Json,
    ][b as usize % 5]
}

fn settings(r: &mut Reader<'_>, s: &mut StepSpec) {
    let flags = r.u8();
    let opt = |r: &mut Reader<'_>, on: bool| {
        on.then(|| u32::from(r.u8()) % 4 * 1000 + u32::from(r.u8() % 2))
    };
    s.retries = u32::from(flags & 3);
    s.timeout_secs = opt(r, flags & 4 != 0);
    s.memory_mb = opt(r, flags & 8 != 0);
    s.cpu = opt(r, flags & 16 != 0);
    if flags & 32 != 0 {
        s.catch = Some(r.string(&["error", "", "_e"]));
    }
    if flags & 64 != 0 {
        s.capabilities = Capabilities {
            env: vec![r.string(&["HOME", "", "*"])],
            dirs: vec![DirGrant {
                host_path: r.string(&[".", "/", "/nonexistent", "../x", ""]),
                guest_path: "/data".into(),
                writable: r.u8().is_multiple_of(2),
            }],
            network: vec![r.string(&["a.example.com:443", "nohost", ":", "*:*"])],
            clock: r.u8().is_multiple_of(2),
            random: r.u8().is_multiple_of(2),
            secrets: vec![r.string(&["db_password", "", "*"])],
        };
    }
}

/// Names and transitions from pools: anything goes.
fn free(r: &mut Reader<'_>) -> FlowSpec {
    let name = r.string(FLOW_NAMES);
    let n = r.u8() % 10;
    let steps = (0..n)
        .map(|_| {
            let name = r.string(STEP_NAMES);
            let transition = match r.u8() % 5 {
                0 => Transition::End,
                1 => Transition::Foreach(r.string(STEP_NAMES)),
                4 => Transition::Switch {
                    choices: (0..r.u8() % 4).map(|_| r.string(STEP_NAMES)).collect(),
                    max_iterations: [None, Some(0), Some(3)][usize::from(r.u8() % 3)],
                },
                k => Transition::Next(
                    (0..(k - 1) * (r.u8() % 3))
                        .map(|_| r.string(STEP_NAMES))
                        .collect(),
                ),
            };
            let mut s = StepSpec::new(&name, transition);
            s.join = r.u8().is_multiple_of(3);
            settings(r, &mut s);
            s
        })
        .collect();
    FlowSpec {
        name,
        doc: String::new(),
        parameters: vec![],
        steps,
    }
}

/// Builds well-formed flows of nested splits.
struct Builder<'r, 'd> {
    r: &'r mut Reader<'d>,
    steps: Vec<StepSpec>,
}

impl Builder<'_, '_> {
    fn step(&mut self) -> usize {
        let i = self.steps.len();
        let mut s = StepSpec::new(&format!("s{i}"), Transition::End);
        settings(self.r, &mut s);
        self.steps.push(s);
        i
    }

    fn link(&mut self, from: usize, to: usize) {
        self.steps[from].transition = Transition::Next(vec![self.steps[to].name.clone()]);
    }

    /// One to three segments in a row; returns the first and last step.
    fn seq(&mut self, depth: u32) -> (usize, usize) {
        let n = 1 + self.r.u8() % 3;
        let (first, mut last) = self.segment(depth);
        for _ in 1..n {
            let (a, b) = self.segment(depth);
            self.link(last, a);
            last = b;
        }
        (first, last)
    }

    fn segment(&mut self, depth: u32) -> (usize, usize) {
        let kind = if depth >= 3 || self.steps.len() > 40 {
            0
        } else {
            self.r.u8() % 3
        };
        match kind {
            0 => {
                let i = self.step();
                (i, i)
            }
            1 => {
                let split = self.step();
                let n = 2 + self.r.u8() % 2;
                let bodies: Vec<(usize, usize)> = (0..n).map(|_| self.seq(depth + 1)).collect();
                let join = self.step();
                self.steps[join].join = true;
                for &(_, last) in &bodies {
                    self.link(last, join);
                }
                let targets = bodies
                    .iter()
                    .map(|&(a, _)| self.steps[a].name.clone())
                    .collect();
                self.steps[split].transition = Transition::Next(targets);
                (split, join)
            }
            _ => {
                let split = self.step();
                let (a, b) = self.seq(depth + 1);
                let join = self.step();
                self.steps[join].join = true;
                self.link(b, join);
                self.steps[split].transition = Transition::Foreach(self.steps[a].name.clone());
                (split, join)
            }
        }
    }
}

/// A well-formed flow, then up to three damaging edits.
fn structured(r: &mut Reader<'_>) -> FlowSpec {
    let mut b = Builder { r, steps: vec![] };
    let start = b.step();
    b.steps[start].name = "start".into();
    let (first, last) = b.seq(0);
    b.link(start, first);
    let end = b.step();
    b.steps[end].name = "end".into();
    b.link(last, end);
    b.steps[end].transition = Transition::End;
    let Builder { r, mut steps } = b;
    for _ in 0..r.u8() % 4 {
        let n = steps.len();
        let i = r.u8() as usize % n;
        let other = steps[r.u8() as usize % n].name.clone();
        match r.u8() % 8 {
            0 => steps[i].transition = Transition::Next(vec![other]),
            1 => steps[i].transition = Transition::Foreach(other),
            2 => steps[i].join = !steps[i].join,
            3 => steps[i].transition = Transition::End,
            4 => {
                if let Transition::Next(v) = &mut steps[i].transition {
                    v.push(other);
                }
            }
            5 => {
                steps.remove(i);
            }
            6 => {
                let copy = steps[i].clone();
                steps.push(copy);
            }
            _ => steps[i].name = r.string(STEP_NAMES),
        }
    }
    // Declaration order must not matter.
    let rotate = r.u8() as usize % steps.len().max(1);
    steps.rotate_left(rotate);
    FlowSpec {
        name: "F".into(),
        doc: String::new(),
        parameters: vec![],
        steps,
    }
}

/// Checks one input.
pub fn check(data: &[u8]) {
    let spec = decode(data);
    check_spec(&spec, data);
}

/// Checks a spec (the bytes pick the parameter texts given on the command line).
pub fn check_spec(spec: &FlowSpec, data: &[u8]) {
    match validate(spec) {
        Ok(plan) => check_plan(spec, &plan),
        Err(errors) => {
            assert!(
                !errors.0.is_empty(),
                "an invalid flow has at least one error"
            );
            for e in &errors.0 {
                assert!(!e.to_string().is_empty());
            }
            assert!(!errors.to_string().is_empty());
        }
    }

    let json = serde_json::to_string(spec).expect("a spec serializes");
    let back: FlowSpec = serde_json::from_str(&json).expect("a serialized spec deserializes");
    assert_eq!(&back, spec);

    let mut r = Reader::new(data);
    let given: Vec<(String, String)> = (0..r.u8() % 3)
        .map(|_| (r.string(PARAM_NAMES), r.string(TEXTS)))
        .collect();
    match resolve_params(&spec.parameters, &given) {
        Ok(values) => {
            assert!(spec.parameters.iter().all(|p| values.contains_key(&p.name)));
            assert!(values.len() <= spec.parameters.len());
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }

    let dir = std::env::temp_dir();
    for policy in [Policy::default(), Policy::builtin(&dir)] {
        match policy.resolve(spec, &dir) {
            Ok(sandboxes) => {
                assert!(spec.steps.iter().all(|s| sandboxes.contains_key(&s.name)));
            }
            Err(v) => {
                assert!(!v.list.is_empty());
                for violation in &v.list {
                    assert!(spec.step(&violation.step).is_some(), "{violation}");
                    assert!(!violation.message.is_empty());
                }
            }
        }
    }
    check_policy_binding(spec, &dir);
}

/// Policy resolution of an adversarial spec (issue 20): a flow's own grants go only to its pinned
/// component, whatever name the spec claims; a user's policy only narrows; what the policy
/// resolved, it admits on a worker; no sandbox reaches a protected path.
fn check_policy_binding(spec: &FlowSpec, dir: &std::path::Path) {
    let everything = "env = [\"*\"]\ndirs = [{ path = \"/\", writable = true }]\n\
                      network = [\"*:*\"]\nclock = true\nrandom = true\n";
    let flow_table = format!("{:?}", spec.name); // a TOML basic string is close enough to Rust's
    let pinned = Policy::parse(
        &format!(
            "[flows.{flow_table}]\ndigests = [\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"]\n[flows.{flow_table}.grants]\n{everything}"
        ),
        "pinned",
    );
    let Ok(pinned) = pinned else { return }; // a name TOML cannot hold as a key
    let impostor = Target::new(dir).with_component(spec, &"b".repeat(64));
    let unpinned = Target::new(dir);
    let as_impostor = pinned.resolve_for(spec, &impostor).map_err(|v| v.list);
    let as_nobody = Policy::default()
        .resolve_for(spec, &unpinned)
        .map_err(|v| v.list);
    assert_eq!(
        as_impostor, as_nobody,
        "an impostor gets exactly the global grants"
    );

    let narrowed = pinned.clone().narrowed_by(Policy::builtin(dir));
    let owner = Target::new(dir)
        .with_component(spec, &"a".repeat(64))
        .protect(&dir.join("wflow-fuzz-store"), "the store");
    match narrowed.resolve_for(spec, &owner) {
        Ok(sandboxes) => {
            assert!(
                Policy::builtin(dir).resolve_for(spec, &owner).is_ok(),
                "narrowing only narrows"
            );
            let store = dir.canonicalize().unwrap().join("wflow-fuzz-store");
            for (step, sb) in &sandboxes {
                for d in &sb.dirs {
                    let host = std::path::Path::new(&d.host_path);
                    assert!(
                        !host.starts_with(&store) && !store.starts_with(host),
                        "{step}: {d:?}"
                    );
                }
                narrowed
                    .admits(&spec.name, step, &"a".repeat(64), sb, &owner)
                    .unwrap_or_else(|v| panic!("{step}: its own sandbox is refused: {v}"));
            }
        }
        Err(v) => assert!(v.list.iter().all(|x| spec.step(&x.step).is_some())),
    }
}

fn check_plan(spec: &FlowSpec, plan: &Plan) {
    let order = plan.steps_in_order();
    assert_eq!(
        order.len(),
        spec.steps.len(),
        "every step is in the order once"
    );
    assert_eq!(plan.start(), "start");
    assert_eq!(order.first().map(String::as_str), Some("start"));
    assert_eq!(order.last().map(String::as_str), Some("end"));
    let position: HashMap<&str, usize> = order
        .iter()
        .enumerate()
        .map(|(i, s)| (s.as_str(), i))
        .collect();
    assert_eq!(position.len(), order.len(), "no step twice in the order");
    for step in &spec.steps {
        let name = step.name.as_str();
        assert_eq!(plan.step(name), step);
        for target in step.transition.targets() {
            assert!(position[name] < position[target], "{name} before {target}");
            assert!(
                plan.predecessors(target).iter().any(|p| p == name),
                "{name} is a predecessor of {target}"
            );
        }
        let preds = plan.predecessors(name);
        if name == "start" {
            assert!(preds.is_empty());
        } else if !step.join {
            assert_eq!(preds.len(), 1, "a plain step `{name}` has one input");
        }
        match plan.opens(name) {
            Some(kind) => {
                let join = plan.join_of(name).expect("a split has a join");
                assert_eq!(plan.closes(join), Some((name, kind)));
            }
            None => assert_eq!(plan.join_of(name), None),
        }
        if step.join {
            let (split, kind) = plan.closes(name).expect("a join closes a split");
            assert_eq!(plan.join_of(split), Some(name));
            assert_eq!(plan.depth(name), plan.depth(split));
            if kind == SplitKind::Branch {
                let Transition::Next(targets) = &plan.step(split).transition else {
                    panic!("a branch split has a `next` transition");
                };
                assert_eq!(preds.len(), targets.len(), "one input per branch");
            }
        }
        assert_eq!(plan.depth(name), plan.stack(name).len());
        assert!(plan.foreach_depth(name) <= plan.depth(name));
    }
    assert_eq!(plan.depth("start"), 0);
    assert_eq!(plan.depth("end"), 0);
    assert!(!plan.render_text().is_empty());
    assert!(plan.to_dot().starts_with("digraph"));
}
