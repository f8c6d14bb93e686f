//! A flow for the task cache: each parameter is read by one step only, so a change to one re-runs
//! exactly that step and the steps that read what it wrote; `stamp` asks for the clock and
//! `noise` for random numbers, so they always run.
//!
//! start (reads `n`) → square × n (its item) → total (every square) → scaled (total, `factor`)
//! and shifted (total, `shift`) → combine (both) → stamp (clock) → noise (random) → end (result)

use wflow::{Artifact, Inputs, Param, Result};

/// Squares 1..=n, adds them up, scales and shifts the total.
#[wflow::flow]
pub struct Cached {
    /// How many items.
    #[param(default = 4)]
    n: Param<i64>,
    /// What `scaled` multiplies the total by.
    #[param(default = 2)]
    factor: Param<i64>,
    /// What `shifted` adds to the total.
    #[param(default = 1)]
    shift: Param<i64>,
    /// 1..=n.
    items: Artifact<Vec<i64>>,
    /// One item squared.
    square: Artifact<i64>,
    /// The sum of the squares.
    total: Artifact<i64>,
    /// total × factor.
    scaled: Artifact<i64>,
    /// total + shift.
    shifted: Artifact<i64>,
    /// Both, as text.
    result: Artifact<String>,
    /// The real time, in nanoseconds since the epoch.
    stamp: Artifact<String>,
    /// Real random numbers.
    noise: Artifact<String>,
}

#[wflow::steps]
impl Cached {
    /// Makes the items.
    #[step(foreach = "square", items = "items")]
    fn start(&mut self) -> Result<()> {
        let n = self.n.get()?;
        self.items.set((1..=n).collect());
        Ok(())
    }

    /// Squares one item.
    #[step(next = "total")]
    fn square(&mut self) -> Result<()> {
        let x: i64 = wflow::current::input()?;
        println!("{x} squared is {}", x * x);
        self.square.set(x * x);
        Ok(())
    }

    /// Adds the squares up.
    #[step(join, next = ["scaled", "shifted"])]
    fn total(&mut self, inputs: Inputs<Self>) -> Result<()> {
        let mut total = 0;
        for input in inputs.iter() {
            total += *input.square.get()?;
        }
        self.total.set(total);
        Ok(())
    }

    /// Multiplies the total.
    #[step(next = "combine")]
    fn scaled(&mut self) -> Result<()> {
        let v = *self.total.get()? * self.factor.get()?;
        self.scaled.set(v);
        Ok(())
    }

    /// Shifts the total.
    #[step(next = "combine")]
    fn shifted(&mut self) -> Result<()> {
        let v = *self.total.get()? + self.shift.get()?;
        self.shifted.set(v);
        Ok(())
    }

    /// Puts both together.
    #[step(join, next = "stamp")]
    fn combine(&mut self, inputs: Inputs<Self>) -> Result<()> {
        let (mut scaled, mut shifted) = (0, 0);
        for (i, input) in inputs.iter().enumerate() {
            match inputs.step_of(i)?.as_str() {
                "scaled" => scaled = *input.scaled.get()?,
                _ => shifted = *input.shifted.get()?,
            }
        }
        self.result
            .set(format!("scaled {scaled}, shifted {shifted}"));
        Ok(())
    }

    /// Keeps the real time.
    #[step(next = "noise", clock)]
    fn stamp(&mut self) -> Result<()> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|e| e.to_string())?;
        self.stamp.set(now.as_nanos().to_string());
        Ok(())
    }

    /// Keeps real random numbers.
    #[step(next = "end", random)]
    fn noise(&mut self) -> Result<()> {
        use std::hash::{BuildHasher, RandomState};
        self.noise
            .set(format!("{:x}", RandomState::new().hash_one(0u8)));
        Ok(())
    }

    /// Prints the result.
    #[step]
    fn end(&mut self) -> Result<()> {
        println!("{}", self.result.get()?);
        Ok(())
    }
}
