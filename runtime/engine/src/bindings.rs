//! Host bindings generated from `wit/flow.wit`. Private to the crate: callers see [`crate::TaskInput`]
//! and [`crate::TaskOutcome`], never generated types.

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "step",
    imports: { default: trappable },
    with: {
        "wflow:flow/artifacts.reader": crate::host::artifacts::ArtifactReader,
        "wflow:flow/artifacts.writer": crate::host::artifacts::ArtifactWriter,
    },
});

pub use wflow::flow::types;
