//! A compute-bound guest for `benches/benches/sandbox.rs`: steps that only compute, so that the
//! cost of the sandbox's instrumentation (epoch checks, fuel metering) is all that differs between
//! engine settings. Each kernel's result goes through `black_box`, so no work is optimised away,
//! and nothing is stored.

use std::hint::black_box;

use wflow::{Param, Result};

/// Two kernels: a tight loop over memory, and deep recursion (many small calls).
#[wflow::flow]
pub struct Compute {
    /// Size of the work: loop iterations for `loops`, the argument of `fib` for `calls`.
    #[param(default = 1000)]
    n: Param<i64>,
}

/// A loop-heavy kernel: `n` rounds of xorshift mixing through a 4 KiB table, with a
/// data-dependent branch (an epoch or fuel check sits on every back edge).
fn loops(n: u64) -> u64 {
    let mut table = [0u32; 1024];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let slot = (x as usize) & 1023;
        if x & 1 == 0 {
            table[slot] = table[slot].wrapping_add(i as u32);
        } else {
            table[slot] ^= (x >> 32) as u32;
        }
    }
    table
        .iter()
        .fold(x, |acc, &t| acc.wrapping_mul(31).wrapping_add(u64::from(t)))
}

/// A call-heavy kernel: naive Fibonacci (an epoch or fuel check sits on every function entry).
fn fib(n: u64) -> u64 {
    if n < 2 {
        n
    } else {
        black_box(fib(n - 1)) + fib(n - 2)
    }
}

#[wflow::steps]
impl Compute {
    /// Does nothing: the cost of a task apart from its work.
    #[step(next = "loops")]
    fn start(&mut self) -> Result<()> {
        Ok(())
    }

    /// `n` rounds of the loop kernel.
    #[step(next = "calls")]
    fn loops(&mut self) -> Result<()> {
        let n = self.n.get()?.max(0) as u64;
        black_box(loops(black_box(n)));
        Ok(())
    }

    /// `fib(n)`, recursively.
    #[step(next = "end")]
    fn calls(&mut self) -> Result<()> {
        let n = self.n.get()?.clamp(0, 60) as u64;
        black_box(fib(black_box(n)));
        Ok(())
    }

    /// Does nothing.
    #[step]
    fn end(&mut self) -> Result<()> {
        Ok(())
    }
}
