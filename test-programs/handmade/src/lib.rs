//! A flow written by hand with the SDK's builder API, without macros, whose graph is invalid on
//! purpose: `start` branches into `a` and `b`, but only `a` goes to the join; `b` goes straight to
//! `end`, so the branch is never joined. The host must refuse it before running anything.

use wflow::{Artifact, Flow, FlowSpec, Inputs, Result, StepSpec};

/// The flow type; it has no fields, its steps use artifact handles directly.
pub struct Handmade;

impl Flow for Handmade {
    fn spec() -> FlowSpec {
        FlowSpec::new("Handmade")
            .doc("A hand-written flow whose branch is never joined (invalid on purpose).")
            .step(
                StepSpec::new("start")
                    .doc("Branches into a and b.")
                    .branch(["a", "b"]),
            )
            .step(StepSpec::new("a").doc("Goes to the join.").next("join"))
            .step(
                StepSpec::new("b")
                    .doc("Skips the join: this makes the graph invalid.")
                    .next("end"),
            )
            .step(
                StepSpec::new("join")
                    .doc("Joins only a.")
                    .join()
                    .next("end"),
            )
            .step(StepSpec::new("end").doc("Ends the flow."))
    }

    fn run_step(step: &str) -> Result<()> {
        let mut x = Artifact::<i64>::new("x");
        match step {
            "start" => x.set(1),
            "a" => x.set(*x.get()? + 1),
            "b" => x.set(*x.get()? + 2),
            "join" => {
                let inputs = Inputs::<()>::new();
                let mut sum = 0;
                for i in 0..inputs.len() {
                    sum += *inputs.artifact::<i64>(i, "x")?.get()?;
                }
                x.set(sum);
            }
            "end" => println!("x = {}", x.get()?),
            other => wflow::bail!("Handmade has no step `{other}`"),
        }
        x.save()
    }
}

wflow::export_flow!(Handmade);
