//! The smoke run of every fuzz target: a few thousand deterministic inputs each (seed inputs,
//! their mutations and random bytes), so `cargo test` keeps the harnesses and their invariants
//! honest between real fuzzing campaigns (`fuzz/README.md`). A failure prints the input.

use std::panic::{AssertUnwindSafe, catch_unwind};

#[cfg(feature = "contract")]
use wflow_fuzz::contract;
use wflow_fuzz::{graph, manifest, policy, smoke};

/// How many inputs per target: `n` unless `WFLOW_FUZZ_SMOKE_SCALE` multiplies it (a longer
/// random campaign without libFuzzer: `WFLOW_FUZZ_SMOKE_SCALE=100 cargo test -p wflow-fuzz --release`).
fn count(n: usize) -> usize {
    let scale: usize = std::env::var("WFLOW_FUZZ_SMOKE_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    n * scale
}

/// Runs `check` on every input; on a panic, fails with the input in hex.
fn run(target: &str, inputs: &[Vec<u8>], check: impl Fn(&[u8])) {
    for (i, input) in inputs.iter().enumerate() {
        if catch_unwind(AssertUnwindSafe(|| check(input))).is_err() {
            let hex: String = input.iter().map(|b| format!("{b:02x}")).collect();
            panic!("{target}: input #{i} failed (hex): {hex}");
        }
    }
}

#[test]
fn manifest_smoke() {
    let target = manifest::Target::new();
    let inputs = smoke::inputs(1, count(4000), &manifest::seeds(), manifest::DICT, 512);
    run("manifest", &inputs, |d| target.check(d));
}

#[test]
fn policy_smoke() {
    let inputs = smoke::inputs(2, count(4000), &policy::seeds(), policy::DICT, 1024);
    run("policy", &inputs, policy::check);
}

#[test]
fn graph_smoke() {
    let inputs = smoke::inputs(3, count(4000), &[], &[], 256);
    run("graph", &inputs, graph::check);
    // Some of them must be valid flows, or the plan's invariants are never checked.
    let valid = inputs
        .iter()
        .filter(|d| wflow_graph::validate(&graph::decode(d)).is_ok())
        .count();
    assert!(
        valid >= inputs.len() / 40,
        "only {valid} of the inputs are valid flows"
    );
}

#[cfg(feature = "contract")]
#[test]
fn contract_smoke() {
    let target = contract::Target::new(&contract::guest_wasm());
    let inputs = smoke::inputs(4, count(1500), &contract::seeds(), &[], 512);
    run("contract", &inputs, |d| target.check(d));
}

#[cfg(feature = "contract")]
#[test]
fn names_follow_the_contract() {
    for ok in ["a", "x.y", "é", "名前", "a b", &"n".repeat(256)] {
        assert!(contract::valid_name(ok), "{ok:?}");
    }
    for bad in [
        "",
        "_x",
        "a/b",
        ".",
        "..",
        "a\0b",
        "a\\b",
        "a\tb",
        "\u{85}",
        &"n".repeat(257),
    ] {
        assert!(!contract::valid_name(bad), "{bad:?}");
    }
}
