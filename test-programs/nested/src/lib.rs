//! Nested foreach with a branch inside: for each x in 1..=width, for each y in 1..=width, the
//! value v = 10x + y goes through a branch (`double`: 2v, `square`: v²) joined by `combine`;
//! `row` sums a row, `total` sums the rows. `width` is required (no default).

use wflow::{Artifact, Inputs, Param, Result};

/// Nested foreach, branch inside foreach, joins at each level.
#[wflow::flow]
pub struct Nested {
    /// Items per level (required).
    width: Param<i64>,
    /// Outer items.
    xs: Artifact<Vec<i64>>,
    /// Inner items.
    ys: Artifact<Vec<i64>>,
    /// This cell's value, 10x + y.
    v: Artifact<i64>,
    /// 2v (branch `double`).
    doubled: Artifact<i64>,
    /// v² (branch `square`).
    squared: Artifact<i64>,
    /// 2v + v², with the foreach path it came from.
    cell: Artifact<(i64, Vec<u32>)>,
    /// Sum of a row's cells.
    row: Artifact<i64>,
    /// Sum of the rows.
    total: Artifact<i64>,
}

#[wflow::steps]
impl Nested {
    /// Outer fan-out.
    #[step(foreach = "outer", items = "xs")]
    fn start(&mut self) -> Result<()> {
        let w = self.width.get()?;
        wflow::ensure!(w >= 1, "width must be at least 1");
        self.xs.set((1..=w).collect());
        Ok(())
    }

    /// Inner fan-out for one x.
    #[step(foreach = "inner", items = "ys")]
    fn outer(&mut self) -> Result<()> {
        let x: i64 = wflow::current::input()?;
        let w = self.width.get()?;
        self.ys.set((1..=w).map(|y| 10 * x + y).collect());
        Ok(())
    }

    /// One cell: branches in two.
    #[step(next = ["double", "square"])]
    fn inner(&mut self) -> Result<()> {
        self.v.set(wflow::current::input()?);
        Ok(())
    }

    /// 2v.
    #[step(next = "combine")]
    fn double(&mut self) -> Result<()> {
        let v = *self.v.get()?;
        self.doubled.set(2 * v);
        Ok(())
    }

    /// v².
    #[step(next = "combine")]
    fn square(&mut self) -> Result<()> {
        let v = *self.v.get()?;
        self.squared.set(v * v);
        Ok(())
    }

    /// Joins the branch: 2v + v², tagged with the foreach path.
    #[step(join, next = "join_inner")]
    fn combine(&mut self, inputs: Inputs<Self>) -> Result<()> {
        let mut sum = 0;
        for (i, input) in inputs.iter().enumerate() {
            sum += match inputs.step_of(i)?.as_str() {
                "double" => *input.doubled.get()?,
                _ => *input.squared.get()?,
            };
        }
        self.cell.set((sum, wflow::current::foreach_path()));
        Ok(())
    }

    /// Sums a row.
    #[step(join, next = "join_outer")]
    fn join_inner(&mut self, inputs: Inputs<Self>) -> Result<()> {
        let mut sum = 0;
        for input in inputs.iter() {
            sum += input.cell.get()?.0;
        }
        self.row.set(sum);
        Ok(())
    }

    /// Sums the rows.
    #[step(join, next = "end")]
    fn join_outer(&mut self, inputs: Inputs<Self>) -> Result<()> {
        let mut sum = 0;
        for input in inputs.iter() {
            sum += *input.row.get()?;
        }
        self.total.set(sum);
        Ok(())
    }

    /// Prints the total.
    #[step]
    fn end(&mut self) -> Result<()> {
        println!("total {}", self.total.get()?);
        Ok(())
    }
}
