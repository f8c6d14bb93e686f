//! Workload (a) of benches/compare: five steps in a line, each reading and writing small artifacts.
//! The Metaflow twin is `benches/compare/metaflow/linear_flow.py`.

use wflow::{Artifact, Result};

/// start → one → two → three → end; each step adds to a counter and a list of names.
#[wflow::flow]
pub struct Linear {
    /// Incremented by every step.
    count: Artifact<i64>,
    /// The steps seen so far.
    seen: Artifact<Vec<String>>,
}

impl Linear {
    fn visit(&mut self, step: &str) -> Result<()> {
        *self.count.get_mut()? += 1;
        self.seen.get_mut()?.push(step.to_string());
        Ok(())
    }
}

#[wflow::steps]
impl Linear {
    /// Sets the artifacts.
    #[step(next = "one")]
    fn start(&mut self) -> Result<()> {
        self.count.set(1);
        self.seen.set(vec!["start".to_string()]);
        Ok(())
    }

    /// Updates them.
    #[step(next = "two")]
    fn one(&mut self) -> Result<()> {
        self.visit("one")
    }

    /// Updates them.
    #[step(next = "three")]
    fn two(&mut self) -> Result<()> {
        self.visit("two")
    }

    /// Updates them.
    #[step(next = "end")]
    fn three(&mut self) -> Result<()> {
        self.visit("three")
    }

    /// Checks and prints them.
    #[step]
    fn end(&mut self) -> Result<()> {
        self.visit("end")?;
        wflow::ensure!(*self.count.get()? == 5, "expected 5 visits");
        println!("{} steps: {:?}", self.count.get()?, self.seen.get()?);
        Ok(())
    }
}
