//! Contract 0.2's control flow: a switch at `start` (taken each way by the parameter `choice`,
//! or given no valid choice), a switch inside a foreach (`pick`, joined by `gather`), and a loop
//! (`body` → `check` → back to `body`) that ends after `until` iterations, fails at iteration
//! `fail_at`, and is bounded by `max_iterations = 5`.

#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))] // the flow runs only as a component

use wflow::{Artifact, Inputs, Param, Result};

/// Chooses, fans out, loops.
#[wflow::flow]
struct Control {
    /// Where `start` goes: `train`, `skip` or `fan`; `nowhere` makes no choice, and anything
    /// else is chosen as it is (undeclared).
    #[param(default = "train")]
    choice: Param<String>,
    /// How many iterations the loop runs.
    #[param(default = 3)]
    until: Param<i64>,
    /// The iteration at which `body` fails (0: never).
    #[param(default = 0)]
    fail_at: Param<i64>,
    path: Artifact<String>,
    nums: Artifact<Vec<i64>>,
    tag: Artifact<String>,
    tags: Artifact<Vec<String>>,
    count: Artifact<i64>,
}

#[wflow::steps]
impl Control {
    /// Chooses where to go from the parameter `choice`.
    #[step(switch = ["train", "skip", "fan"])]
    fn start(&mut self) -> Result<()> {
        self.count.set(0);
        match self.choice.get()?.as_str() {
            "nowhere" => Ok(()),
            other => wflow::next(other),
        }
    }

    #[step(next = "body")]
    fn train(&mut self) -> Result<()> {
        self.path.set("train".into());
        Ok(())
    }

    #[step(next = "body")]
    fn skip(&mut self) -> Result<()> {
        self.path.set("skip".into());
        Ok(())
    }

    #[step(foreach = "pick", items = "nums")]
    fn fan(&mut self) -> Result<()> {
        self.path.set("fan".into());
        self.nums.set(vec![1, 2, 3]);
        Ok(())
    }

    /// A switch in a foreach: each item goes its own way.
    #[step(switch = ["even", "odd"])]
    fn pick(&mut self) -> Result<()> {
        let n: i64 = wflow::current::input()?;
        wflow::next(if n % 2 == 0 { "even" } else { "odd" })
    }

    #[step(next = "gather")]
    fn even(&mut self) -> Result<()> {
        let n: i64 = wflow::current::input()?;
        self.tag.set(format!("{n}:even"));
        Ok(())
    }

    #[step(next = "gather")]
    fn odd(&mut self) -> Result<()> {
        let n: i64 = wflow::current::input()?;
        self.tag.set(format!("{n}:odd"));
        Ok(())
    }

    #[step(join, next = "body")]
    fn gather(&mut self, inputs: Inputs<Self>) -> Result<()> {
        let mut tags = Vec::new();
        for input in inputs.iter() {
            tags.push(input.tag.get()?.clone());
        }
        self.tags.set(tags);
        Ok(())
    }

    /// One iteration of the loop.
    #[step(next = "check")]
    fn body(&mut self) -> Result<()> {
        let count = *self.count.get()? + 1;
        println!("iteration {count}");
        wflow::ensure!(count != self.fail_at.get()?, "failing at iteration {count}");
        self.count.set(count);
        Ok(())
    }

    /// Goes round again until `until` iterations are done.
    #[step(switch = ["body", "end"], max_iterations = 5)]
    fn check(&mut self) -> Result<()> {
        let again = *self.count.get()? < self.until.get()?;
        wflow::next(if again { "body" } else { "end" })
    }

    #[step]
    fn end(&mut self) -> Result<()> {
        println!(
            "{} after {} iterations",
            self.path.get()?,
            self.count.get()?
        );
        Ok(())
    }
}
