//! A flow that fails on demand, for the host's end-to-end tests: `-p mode=…` picks how `work`
//! behaves.

use wflow::{Artifact, Param, Result};

/// start → work → end, where `work` misbehaves as the `mode` parameter says.
#[wflow::flow]
pub struct Faulty {
    /// How `work` behaves: ok, trap, panic, error, oom, loop, stdout, print-trap (prints, then
    /// traps) or drip (prints 20 lines slowly, a busy second or so apart, then succeeds).
    #[param(default = "ok")]
    mode: Param<String>,
    /// Set to 42 by `work` in mode `ok`.
    out: Artifact<i64>,
}

#[wflow::steps]
impl Faulty {
    /// Does nothing.
    #[step(next = "work")]
    fn start(&mut self) -> Result<()> {
        Ok(())
    }

    /// Behaves as `mode` says.
    #[step(next = "end")]
    fn work(&mut self) -> Result<()> {
        match self.mode.get()?.as_str() {
            "ok" => self.out.set(42),
            "trap" => trap(),
            "panic" => panic!("faulty step panicked on purpose"),
            "error" => wflow::bail!("faulty step failed on purpose"),
            "long-error" => wflow::bail!("a long error: {} THE-END", "word ".repeat(1_000)),
            "oom" => oom(),
            "loop" => spin(),
            "stdout" => {
                for i in 0..5 {
                    println!("line {i}");
                }
                eprintln!("a line on stderr");
            }
            "print-trap" => {
                for i in 0..3 {
                    println!("progress {i}");
                }
                eprintln!("about to trap");
                trap();
            }
            "drip" => {
                for i in 0..20 {
                    println!("drip {i}");
                    busy(300_000_000);
                }
                self.out.set(42);
            }
            other => wflow::bail!("unknown mode `{other}`"),
        }
        Ok(())
    }

    /// Does nothing.
    #[step]
    fn end(&mut self) -> Result<()> {
        Ok(())
    }
}

/// Executes the wasm `unreachable` instruction.
fn trap() -> ! {
    #[cfg(target_arch = "wasm32")]
    core::arch::wasm32::unreachable();
    #[cfg(not(target_arch = "wasm32"))]
    std::process::abort();
}

/// Allocates (and touches) 64 MiB at a time, up to 8 GiB, until memory runs out.
fn oom() -> ! {
    const CHUNK: usize = 64 << 20;
    let mut held: Vec<Vec<u8>> = Vec::new();
    for i in 1..=128usize {
        held.push(vec![1u8; CHUNK]);
        std::hint::black_box(&held);
        if i % 4 == 0 {
            eprintln!("allocated {} MiB", i * 64);
        }
    }
    // Not reached in a 32-bit address space; keep failing the step if it ever is.
    panic!("allocated 8 GiB without running out of memory");
}

/// Keeps the CPU busy for `n` iterations (the step has no clock to sleep on).
fn busy(n: u64) {
    let mut x: u64 = 0;
    for _ in 0..n {
        x = std::hint::black_box(x.wrapping_add(1));
    }
}

/// Loops forever.
fn spin() -> ! {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}
