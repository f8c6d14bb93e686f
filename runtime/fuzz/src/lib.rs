//! Fuzzing harnesses for wflow: for each target, a decoder from arbitrary bytes to the target's
//! input and the invariants every input must keep. A violated invariant panics, which is what a
//! fuzzer reports as a crash.
//!
//! The same harnesses serve two drivers:
//!
//! - the cargo-fuzz targets in `fuzz/` (libFuzzer, coverage-guided; `fuzz/README.md` says how to
//!   run them), and
//! - the deterministic smoke runs in this crate's tests (`tests/smoke.rs`), which feed each
//!   harness a few thousand inputs from [`smoke::inputs`] so `cargo test` covers them in seconds.
//!
//! The targets:
//!
//! | target | what | module |
//! |---|---|---|
//! | `manifest` | [`Manifest::from_cbor`](wflow_store::Manifest::from_cbor) and [`Cas::get_manifest`](wflow_store::Cas::get_manifest) on any bytes | [`manifest`] |
//! | `policy` | [`Policy::parse`](wflow_policy::Policy::parse) on any text, and resolving a flow under what parsed | [`policy`] |
//! | `graph` | [`wflow_graph::validate`] (and the plan, rendering, parameters and policy resolution: an impostor gets no flow's grants, a narrowing policy only narrows, a worker admits what the policy resolved, no mount reaches a protected path) on any [`FlowSpec`](wflow_core::FlowSpec) | [`graph`] |
//! | `contract` (feature `contract`, on by default) | the host side of `wflow:flow@0.1.0`: a real guest calls `artifacts`, `context` and `foreach` with what the fuzzer chose, checked against a model of the contract | [`contract`] |
#![deny(missing_docs)]

#[cfg(feature = "contract")]
pub mod contract;
pub mod graph;
pub mod manifest;
pub mod policy;
pub mod smoke;

/// The op-program format the contract target's guest runs, shared with that guest.
#[path = "../../../test-programs/fuzz-guest/src/ops.rs"]
#[allow(missing_docs)]
pub mod ops;
