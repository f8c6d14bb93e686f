//! Host bindings generated from the contract, one module per version (`wit/<version>/`). Private
//! to the crate: callers see [`crate::TaskInput`] and [`crate::TaskOutcome`], never generated
//! types.
//!
//! The host functions are written once, against 0.1.0's types (`host/`); the interfaces 0.2.0
//! kept unchanged forward to them (`host/v0_2.rs`), and both versions share the artifact
//! reader and writer resources.

/// `wflow:flow@0.1.0`, as released.
pub mod v0_1 {
    wasmtime::component::bindgen!({
        path: "../../wit/0.1.0",
        world: "step",
        imports: { default: trappable },
        with: {
            "wflow:flow/artifacts.reader": crate::host::artifacts::ArtifactReader,
            "wflow:flow/artifacts.writer": crate::host::artifacts::ArtifactWriter,
        },
    });
}

/// `wflow:flow@0.2.0`: 0.1.0 plus switches, loops and secrets.
pub mod v0_2 {
    wasmtime::component::bindgen!({
        path: "../../wit/0.2.0",
        world: "step",
        imports: { default: trappable },
        with: {
            "wflow:flow/artifacts.reader": crate::host::artifacts::ArtifactReader,
            "wflow:flow/artifacts.writer": crate::host::artifacts::ArtifactWriter,
        },
    });
}

pub use v0_1::wflow::flow::types;
