//! The macros' expansions, run natively against `wflow::testing`'s stand-in for the host.
#![cfg(not(target_arch = "wasm32"))]

use serde::{Deserialize, Serialize};
use wflow::testing::{MockInput, MockTask};
use wflow::{Artifact, Flow, Inputs, Param, ParamType, RawArtifact, Result, Transition};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Point {
    x: i32,
    y: i32,
}

/// A flow with every kind of field.
///
/// Its doc has two paragraphs.
#[wflow::flow(name = "Everything")]
struct Every {
    /// How many items.
    #[param(default = 3)]
    n: Param<i64>,
    /// A required name,
    /// documented over two lines.
    who: Param<String>,
    #[param(default = -0.5, help = "A ratio")]
    ratio: Param<f64>,
    #[param(default = true)]
    flag: Param<bool>,
    items: Artifact<Vec<Point>>,
    point: Artifact<Point>,
    parts: Artifact<Vec<i32>>,
    seen: Artifact<u32>,
    untouched: Artifact<String>,
    bytes: RawArtifact,
    errors: Artifact<String>,
}

#[wflow::steps]
impl Every {
    /// Starts.
    ///
    /// Only the first paragraph is the step's doc.
    #[step(
        foreach = "each",
        items = "items",
        retries = 1,
        timeout = 30,
        memory = 64,
        cpu = 2
    )]
    fn start(&mut self) -> Result<()> {
        let n = self.n.get()? as i32;
        self.items
            .set((0..n).map(|i| Point { x: i, y: -i }).collect());
        self.bytes.set(self.who.get()?.into_bytes());
        Ok(())
    }

    /// One item.
    #[step(next = "gather", catch = "errors", env = ["HOME"], network = ["example.org:443"], clock, random, compute = "local")]
    fn each(&mut self) -> Result<()> {
        let p: Point = wflow::current::input()?;
        wflow::ensure!(p.x != 99, "item 99 is cursed");
        self.point.set(p);
        Ok(())
    }

    #[step(join, next = "again")]
    fn gather(&mut self, inputs: Inputs<Self>) -> Result<()> {
        let mut parts = Vec::new();
        for input in inputs.iter() {
            parts.push(input.point.get()?.x);
        }
        self.parts.set(parts);
        Ok(())
    }

    /// Re-declares items it did not set: they are loaded from the task's view.
    #[step(foreach = "noop", items = "items")]
    fn again(&mut self) {
        *self.seen.get_or_insert_with(|| 0).unwrap() += 1;
    }

    #[step(next = ["left", "right"])]
    fn noop(&mut self) -> Result<(), String> {
        Ok(())
    }

    #[step(next = "join2")]
    fn left(&mut self) -> Result<()> {
        Ok(())
    }

    #[step(next = "join2")]
    fn right(&mut self) -> Result<()> {
        Err("right always fails".into())
    }

    #[step(join, next = "end")]
    fn join2(&mut self, _inputs: Inputs<Self>) -> Result<()> {
        Ok(())
    }

    #[step]
    fn end(&mut self) -> Result<()> {
        println!("{}", self.untouched.get()?);
        Ok(())
    }

    /// Not a step: left alone.
    #[allow(dead_code)]
    fn helper(&self) -> usize {
        self.parts.get().map(Vec::len).unwrap_or(0)
    }
}

#[test]
fn spec_from_attributes_and_docs() {
    let spec = Every::spec();
    assert_eq!(spec.name, "Everything");
    assert_eq!(
        spec.doc,
        "A flow with every kind of field.\n\nIts doc has two paragraphs."
    );

    let p: Vec<_> = spec
        .parameters
        .iter()
        .map(|p| (p.name.as_str(), p.ty, p.default.as_deref(), p.help.as_str()))
        .collect();
    assert_eq!(
        p,
        [
            ("n", ParamType::Int, Some("3"), "How many items."),
            (
                "who",
                ParamType::String,
                None,
                "A required name, documented over two lines."
            ),
            ("ratio", ParamType::Float, Some("-0.5"), "A ratio"),
            ("flag", ParamType::Bool, Some("true"), ""),
        ]
    );

    let names: Vec<_> = spec.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "start", "each", "gather", "again", "noop", "left", "right", "join2", "end"
        ]
    );
    let start = spec.get_step("start").unwrap();
    assert_eq!(start.doc, "Starts.");
    assert_eq!(start.transition, Transition::Foreach("each".into()));
    assert_eq!(
        (
            start.retries,
            start.timeout_secs,
            start.memory_mb,
            start.cpu
        ),
        (1, Some(30), Some(64), Some(2))
    );
    let each = spec.get_step("each").unwrap();
    assert_eq!(each.catch.as_deref(), Some("errors"));
    assert_eq!(each.compute.as_deref(), Some("local"));
    assert_eq!(each.capabilities.env, ["HOME"]);
    assert_eq!(each.capabilities.network, ["example.org:443"]);
    assert!(each.capabilities.clock && each.capabilities.random);
    assert!(spec.get_step("gather").unwrap().join);
    assert!(!each.join);
    assert_eq!(
        spec.get_step("noop").unwrap().transition,
        Transition::Next(vec!["left".into(), "right".into()])
    );
    assert_eq!(spec.get_step("end").unwrap().transition, Transition::End);
    assert_eq!(spec.get_step("gather").unwrap().doc, "");
}

#[test]
fn foreach_step_puts_and_declares_items() {
    let out = MockTask::new("start")
        .param("who", "ada")
        .param("n", 2)
        .run::<Every>()
        .unwrap();
    let items: Vec<Point> = out.items().unwrap().unwrap();
    assert_eq!(items, [Point { x: 0, y: 0 }, Point { x: 1, y: -1 }]);
    assert_eq!(out.put_names(), ["items", "bytes"]);
    assert_eq!(out.raw("bytes").unwrap(), b"ada");
    assert_eq!(out.value("bytes").unwrap().codec, "raw");
    // Declaring the items used the value set in the step: nothing was read from the host.
    assert!(out.reads().is_empty(), "{:?}", out.reads());
}

#[test]
fn foreach_items_not_set_are_loaded() {
    let items = vec![Point { x: 5, y: 5 }];
    let out = MockTask::new("again")
        .param("who", "x")
        .artifact("items", &items)
        .run::<Every>()
        .unwrap();
    assert_eq!(out.items::<Point>().unwrap().unwrap(), items);
    assert_eq!(out.get::<u32>("seen").unwrap(), 1);
    assert_eq!(out.put_names(), ["seen"]);
}

#[test]
fn item_tasks_read_their_item() {
    let out = MockTask::new("each")
        .param("who", "x")
        .item(1, &Point { x: 1, y: 2 })
        .run::<Every>()
        .unwrap();
    assert_eq!(out.get::<Point>("point").unwrap(), Point { x: 1, y: 2 });
    let err = MockTask::new("each")
        .param("who", "x")
        .item(0, &Point { x: 99, y: 0 })
        .run::<Every>()
        .unwrap_err();
    assert_eq!(err.to_string(), "item 99 is cursed");
    let err = MockTask::new("each")
        .param("who", "x")
        .run::<Every>()
        .unwrap_err();
    assert!(err.to_string().contains("not inside a foreach"), "{err}");
}

#[test]
fn joins_read_each_input() {
    let input = |x| MockInput::new().artifact("point", &Point { x, y: 0 });
    let out = MockTask::new("gather")
        .param("who", "x")
        .input("each", input(3))
        .input("each", input(4))
        .run::<Every>()
        .unwrap();
    assert_eq!(out.get::<Vec<i32>>("parts").unwrap(), [3, 4]);
    assert_eq!(out.put_names(), ["parts"]);
}

#[test]
fn errors_fail_the_step_and_put_nothing() {
    let err = MockTask::new("right")
        .param("who", "x")
        .run::<Every>()
        .unwrap_err();
    assert_eq!(err.to_string(), "right always fails");
    let err = MockTask::new("noop").param("who", "x").run::<Every>();
    assert!(err.is_ok());
    let err = MockTask::new("nope")
        .param("who", "x")
        .run::<Every>()
        .unwrap_err();
    assert_eq!(err.to_string(), "flow Everything has no step `nope`");
    let err = MockTask::new("end")
        .param("who", "x")
        .run::<Every>()
        .unwrap_err();
    assert!(
        err.is_not_found() && err.to_string().contains("`untouched`"),
        "{err}"
    );
}
