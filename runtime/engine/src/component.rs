//! Loading a flow component: recognising what the bytes are, compiling (or loading the compiled
//! code from the cache), checking the world, and reading the flow's spec.

use std::path::Path;

use wasmtime::Store;
use wasmtime::component::Component;
use wflow_core::{Digest, FlowSpec};

use crate::bindings::StepPre;
use crate::cache;
use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::host::{TaskLimiter, TaskState};
use crate::spec::from_wit;

/// The export every flow component has.
pub const FLOW_EXPORT: &str = "wflow:flow/flow@0.1.0";

/// The versions of the `wflow:flow` contract this host runs components of.
pub const CONTRACT_VERSIONS: &[&str] = &["0.1.0"];

/// The contract versions this host runs, for messages: `` `wflow:flow@0.1.0` ``.
pub fn supported_contracts() -> String {
    CONTRACT_VERSIONS
        .iter()
        .map(|v| format!("`wflow:flow@{v}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The first import or export name of the `wflow:flow` package whose version this host does not
/// run (`wflow:flow/context@0.9.0`, or a name without a version), if any.
pub(crate) fn unknown_contract<'a>(names: impl IntoIterator<Item = &'a String>) -> Option<&'a str> {
    names.into_iter().map(String::as_str).find(|n| {
        n.starts_with("wflow:flow/")
            && !n
                .split_once('@')
                .is_some_and(|(_, v)| CONTRACT_VERSIONS.contains(&v))
    })
}

/// A loaded, compiled and checked flow component, ready to run tasks. Cheap to clone.
#[derive(Clone)]
pub struct FlowComponent {
    pub(crate) engine: Engine,
    pub(crate) pre: StepPre<TaskState>,
    digest: Digest,
    spec: FlowSpec,
    warnings: Vec<String>,
}

impl FlowComponent {
    /// The component's content digest (BLAKE3 of its bytes).
    pub fn digest(&self) -> Digest {
        self.digest
    }

    /// The flow's spec as the guest declared it (not yet validated).
    pub fn spec(&self) -> &FlowSpec {
        &self.spec
    }

    /// What went wrong on the way without failing the load (a cache entry that did not verify,
    /// a cache that could not be used), for the user to see.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }
}

impl Engine {
    /// Loads a component file.
    pub fn load_file(&self, path: &Path) -> Result<FlowComponent> {
        let bytes = std::fs::read(path).map_err(|source| EngineError::Read {
            path: path.into(),
            source,
        })?;
        self.load(&bytes, &path.display().to_string())
    }

    /// Loads a component from bytes; `origin` names them in errors. Before anything is compiled,
    /// the component must look like a flow (its exports and imports) and stay within the
    /// [`CompileLimits`](crate::CompileLimits); compiling then happens where
    /// [`EngineConfig::compiler`](crate::EngineConfig::compiler) says.
    pub fn load(&self, bytes: &[u8], origin: &str) -> Result<FlowComponent> {
        check_header(bytes, origin)?;
        crate::precheck::check(bytes, origin, &self.config().compile_limits)?;
        let digest = Digest::of(bytes);
        let (component, warning) = cache::compile(self, bytes, &digest, origin)?;
        check_world(self, &component, origin)?;
        let instance_pre =
            self.linker()
                .instantiate_pre(&component)
                .map_err(|e| EngineError::MissingImport {
                    origin: origin.into(),
                    reason: format!("{e:#}"),
                })?;
        let pre = StepPre::new(instance_pre).map_err(|e| EngineError::WrongWorld {
            origin: origin.into(),
            reason: format!("{e:#}"),
        })?;
        let spec = read_spec(self, &pre, origin)?;
        Ok(FlowComponent {
            engine: self.clone(),
            pre,
            digest,
            spec,
            warnings: warning.into_iter().collect(),
        })
    }
}

fn check_header(bytes: &[u8], origin: &str) -> Result<()> {
    let not_wasm = |reason: &str| EngineError::NotWasm {
        origin: origin.into(),
        reason: reason.into(),
    };
    if bytes.is_empty() {
        return Err(not_wasm("the file is empty"));
    }
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(not_wasm("it does not start with the `\\0asm` magic number"));
    }
    match bytes[4..8] {
        [1, 0, 0, 0] => Err(EngineError::CoreModule {
            origin: origin.into(),
        }),
        [_, _, 1, 0] => Ok(()),
        _ => Err(not_wasm("unknown WebAssembly version or layer")),
    }
}

fn check_world(engine: &Engine, component: &Component, origin: &str) -> Result<()> {
    let ty = component.component_type();
    let names: Vec<String> = ty
        .exports(engine.wasmtime())
        .map(|(n, _)| n.to_string())
        .collect();
    if names.iter().any(|n| n == FLOW_EXPORT) {
        return Ok(());
    }
    if let Some(name) = unknown_contract(&names) {
        return Err(EngineError::unknown_contract(origin, name));
    }
    let reason = if names.is_empty() {
        "it exports nothing".to_string()
    } else {
        format!(
            "it exports {} instead",
            names
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    Err(EngineError::WrongWorld {
        origin: origin.into(),
        reason,
    })
}

fn read_spec(engine: &Engine, pre: &StepPre<TaskState>, origin: &str) -> Result<FlowSpec> {
    let state = TaskState {
        wasi: crate::sandbox::spec_ctx(),
        table: Default::default(),
        limiter: TaskLimiter::new(256 << 20),
        task: None,
    };
    let mut store = Store::new(engine.wasmtime(), state);
    store.limiter(|s| &mut s.limiter);
    store.set_epoch_deadline(10_000 / crate::EPOCH_TICK_MS);
    if engine.config().fuel {
        let _ = store.set_fuel(u64::MAX);
    }
    store.epoch_deadline_trap();
    let spec = pre
        .instantiate(&mut store)
        .and_then(|i| i.wflow_flow_flow().call_spec(&mut store))
        .map_err(|e| EngineError::Spec {
            origin: origin.into(),
            reason: format!("{e:#}"),
        })?;
    Ok(from_wit(spec))
}
