//! A static branch: start → (a, b) → join → end.

use wflow::{Artifact, Inputs, Result};

/// Computes two things about some numbers in parallel and combines them.
///
/// `a` and `b` run in parallel from `start`'s artifacts; `join` reads each of them separately.
/// `label` is set in `start` and touched by neither branch, so the host passes it through the join
/// (all inputs agree on it) and `end` can still read it.
#[wflow::flow]
pub struct Branch {
    /// The numbers, set in `start`.
    numbers: Artifact<Vec<i64>>,
    /// A label set in `start` and read only in `end`.
    label: Artifact<String>,
    /// The sum of the numbers, computed by `a`.
    sum: Artifact<i64>,
    /// The largest number, computed by `b`.
    max: Artifact<i64>,
    /// What `join` made of both.
    summary: Artifact<String>,
}

#[wflow::steps]
impl Branch {
    /// Sets the numbers and the label.
    #[step(next = ["a", "b"])]
    fn start(&mut self) -> Result<()> {
        self.numbers.set(vec![3, 1, 4, 1, 5, 9, 2, 6]);
        self.label.set("some digits of pi".to_string());
        Ok(())
    }

    /// Adds the numbers up.
    #[step(next = "join")]
    fn a(&mut self) -> Result<()> {
        let sum = self.numbers.get()?.iter().sum();
        println!("a: sum = {sum}");
        self.sum.set(sum);
        Ok(())
    }

    /// Finds the largest number.
    #[step(next = "join")]
    fn b(&mut self) -> Result<()> {
        let max = *self.numbers.get()?.iter().max().ok_or("no numbers")?;
        println!("b: max = {max}");
        self.max.set(max);
        Ok(())
    }

    /// Combines what `a` and `b` found, reading each input separately.
    #[step(join, next = "end")]
    fn join(&mut self, inputs: Inputs<Self>) -> Result<()> {
        let (mut sum, mut max) = (None, None);
        for (i, input) in inputs.iter().enumerate() {
            match inputs.step_of(i)?.as_str() {
                "a" => sum = Some(*input.sum.get()?),
                "b" => max = Some(*input.max.get()?),
                other => wflow::bail!("unexpected input from step {other}"),
            }
        }
        let (Some(sum), Some(max)) = (sum, max) else {
            wflow::bail!("the join needs one input from `a` and one from `b`");
        };
        // `numbers` is the same in both inputs, so it is visible here too.
        let count = self.numbers.get()?.len();
        self.summary
            .set(format!("{count} numbers: sum {sum}, max {max}"));
        Ok(())
    }

    /// Prints the summary, and the label set back in `start`.
    #[step]
    fn end(&mut self) -> Result<()> {
        println!("{}: {}", self.label.get()?, self.summary.get()?);
        Ok(())
    }
}
