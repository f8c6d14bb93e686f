//! A foreach: start fans out one `square` task per number, `sum` joins them.

use wflow::{Artifact, Inputs, Param, Result};

/// Squares the numbers 1..=n in parallel and adds the squares up.
#[wflow::flow]
pub struct Foreach {
    /// How many numbers to square.
    #[param(default = 10)]
    n: Param<i64>,
    /// The numbers 1..=n; each one is an item of the foreach.
    nums: Artifact<Vec<i64>>,
    /// One task's square.
    square: Artifact<i64>,
    /// The sum of the squares.
    total: Artifact<i64>,
}

#[wflow::steps]
impl Foreach {
    /// Makes the numbers; one `square` task runs per element of `nums`.
    #[step(foreach = "square", items = "nums")]
    fn start(&mut self) -> Result<()> {
        let n = self.n.get()?;
        // A foreach needs at least one item.
        wflow::ensure!(n >= 1, "n must be at least 1, got {n}");
        self.nums.set((1..=n).collect());
        Ok(())
    }

    /// Squares this task's number.
    #[step(next = "sum")]
    fn square(&mut self) -> Result<()> {
        let x: i64 = wflow::current::input()?;
        let index = wflow::current::foreach_index().unwrap_or_default();
        self.square.set(x * x);
        println!("item {index}: {x}^2 = {}", x * x);
        Ok(())
    }

    /// Adds up the squares of every `square` task.
    #[step(join, next = "end")]
    fn sum(&mut self, inputs: Inputs<Self>) -> Result<()> {
        let mut total = 0i64;
        for input in inputs.iter() {
            total = total
                .checked_add(*input.square.get()?)
                .ok_or("the total overflows an i64")?;
        }
        self.total.set(total);
        Ok(())
    }

    /// Prints the total.
    #[step]
    fn end(&mut self) -> Result<()> {
        println!(
            "sum of squares of 1..={}: {}",
            self.n.get()?,
            self.total.get()?
        );
        Ok(())
    }
}
