//! Workloads (b) and (e) of benches/compare: a foreach of `n` trivial tasks and a join that sums,
//! and a join that fails on request so the run can be resumed. The Metaflow twin is
//! `benches/compare/metaflow/foreach_flow.py`.

use wflow::{Artifact, Inputs, Param, Result};

/// start fans out one `square` task per number 1..=n; `join` adds the squares up.
#[wflow::flow]
pub struct Fanout {
    /// How many tasks the foreach runs.
    #[param(default = 10)]
    n: Param<i64>,
    /// Make `join` fail (to measure `wflow resume -p fail=false`).
    #[param(default = false)]
    fail: Param<bool>,
    /// The numbers 1..=n: the foreach's items.
    nums: Artifact<Vec<i64>>,
    /// One task's square.
    value: Artifact<i64>,
    /// The sum of the squares.
    total: Artifact<i64>,
}

#[wflow::steps]
impl Fanout {
    /// Makes the numbers.
    #[step(foreach = "square", items = "nums")]
    fn start(&mut self) -> Result<()> {
        let n = self.n.get()?;
        wflow::ensure!(n >= 1, "n must be at least 1, got {n}");
        self.nums.set((1..=n).collect());
        Ok(())
    }

    /// Squares one number.
    #[step(next = "join")]
    fn square(&mut self) -> Result<()> {
        let x: i64 = wflow::current::input()?;
        self.value.set(x * x);
        Ok(())
    }

    /// Adds the squares up (or fails, when `fail` is set).
    #[step(join, next = "end")]
    fn join(&mut self, inputs: Inputs<Self>) -> Result<()> {
        wflow::ensure!(!self.fail.get()?, "join failed on purpose (fail=true)");
        let mut total = 0i64;
        for input in inputs.iter() {
            total += *input.value.get()?;
        }
        self.total.set(total);
        Ok(())
    }

    /// Checks and prints the total.
    #[step]
    fn end(&mut self) -> Result<()> {
        let n = self.n.get()?;
        let total = *self.total.get()?;
        wflow::ensure!(
            total == n * (n + 1) * (2 * n + 1) / 6,
            "wrong total {total}"
        );
        println!("sum of squares of 1..={n}: {total}");
        Ok(())
    }
}
