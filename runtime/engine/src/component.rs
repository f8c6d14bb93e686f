//! Loading a flow component: recognising what the bytes are, compiling (or loading the compiled
//! code from the cache), checking the world, and reading the flow's spec.

use std::path::Path;
use std::sync::Arc;

use wasmtime::Store;
use wasmtime::component::Component;
use wflow_core::{Digest, FlowSpec};

use crate::bindings::{v0_1, v0_2};
use crate::cache;
use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::host::{TaskLimiter, TaskState};

/// The export of a flow component of contract 0.1.0 (0.2.0's is [`FLOW_EXPORTS`]`[1]`).
pub const FLOW_EXPORT: &str = "wflow:flow/flow@0.1.0";

/// The `flow` export of each contract version this host runs, in [`CONTRACT_VERSIONS`]' order.
pub const FLOW_EXPORTS: &[&str] = &["wflow:flow/flow@0.1.0", "wflow:flow/flow@0.2.0"];

/// The versions of the `wflow:flow` contract this host runs components of.
pub const CONTRACT_VERSIONS: &[&str] = &["0.1.0", "0.2.0"];

/// A component's instance-to-be, by the contract version it targets: each runs by its own.
#[derive(Clone)]
pub(crate) enum Pre {
    V0_1(v0_1::StepPre<TaskState>),
    V0_2(v0_2::StepPre<TaskState>),
}

impl Pre {
    fn new(pre: wasmtime::component::InstancePre<TaskState>, v0_2: bool) -> wasmtime::Result<Pre> {
        Ok(if v0_2 {
            Pre::V0_2(v0_2::StepPre::new(pre)?)
        } else {
            Pre::V0_1(v0_1::StepPre::new(pre)?)
        })
    }

    /// The contract version: `0.1.0`, `0.2.0`.
    pub(crate) fn version(&self) -> &'static str {
        match self {
            Pre::V0_1(_) => CONTRACT_VERSIONS[0],
            Pre::V0_2(_) => CONTRACT_VERSIONS[1],
        }
    }

    fn spec(&self, store: &mut Store<TaskState>) -> wasmtime::Result<FlowSpec> {
        Ok(match self {
            Pre::V0_1(p) => {
                let spec = p
                    .instantiate(&mut *store)?
                    .wflow_flow_flow()
                    .call_spec(store)?;
                crate::spec::from_v0_1(spec)
            }
            Pre::V0_2(p) => {
                let spec = p
                    .instantiate(&mut *store)?
                    .wflow_flow_flow()
                    .call_spec(store)?;
                crate::spec::from_v0_2(spec)
            }
        })
    }

    /// Instantiates and runs one task of `step`; `Ok(Err(message))` is the step's own error.
    pub(crate) fn run_step(
        &self,
        store: &mut Store<TaskState>,
        step: &str,
    ) -> wasmtime::Result<Result<(), String>> {
        Ok(match self {
            Pre::V0_1(p) => p
                .instantiate(&mut *store)?
                .wflow_flow_flow()
                .call_run_step(store, step)?
                .map_err(|e| e.message),
            Pre::V0_2(p) => p
                .instantiate(&mut *store)?
                .wflow_flow_flow()
                .call_run_step(store, step)?
                .map_err(|e| e.message),
        })
    }
}

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
    pub(crate) pre: Pre,
    digest: Digest,
    // Shared: the run loop clones a component for every task it starts.
    spec: Arc<FlowSpec>,
    warnings: Arc<[String]>,
    compiled: Option<cache::CompileStats>,
}

impl FlowComponent {
    /// The component's content digest (BLAKE3 of its bytes).
    pub fn digest(&self) -> Digest {
        self.digest
    }

    /// The version of the `wflow:flow` contract the component targets: `0.1.0`, `0.2.0`.
    pub fn contract(&self) -> &'static str {
        self.pre.version()
    }

    /// The flow's spec as the guest declared it (not yet validated).
    pub fn spec(&self) -> &FlowSpec {
        &self.spec
    }

    /// How the component was compiled, when it was compiled now (not loaded from the cache) with
    /// the function cache: how many functions were reused from earlier compiles.
    pub fn compiled(&self) -> Option<cache::CompileStats> {
        self.compiled
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
        self.load_with(bytes, origin, None)
    }

    /// Loads a component that is `base` with only the bytes of `range`, inside one data segment,
    /// changed (a quick-form Python flow: its sources in the base's slot): its compiled code is
    /// derived from the base's, compiled once, rather than compiled (see `derive.rs`). A
    /// component that is not such a copy of `base` is compiled as usual, with a warning.
    pub fn load_derived(
        &self,
        bytes: &[u8],
        base: &[u8],
        range: std::ops::Range<usize>,
        origin: &str,
    ) -> Result<FlowComponent> {
        self.load_with(bytes, origin, Some((base, range)))
    }

    fn load_with(
        &self,
        bytes: &[u8],
        origin: &str,
        base: Option<(&[u8], std::ops::Range<usize>)>,
    ) -> Result<FlowComponent> {
        check_header(bytes, origin)?;
        crate::precheck::check(bytes, origin, &self.config().compile_limits)?;
        let digest = Digest::of(bytes);
        let (component, warning, compiled) = match base {
            Some((base, range)) => {
                cache::compile_derived(self, bytes, &digest, base, range, origin)?
            }
            None => cache::compile(self, bytes, &digest, origin)?,
        };
        let v0_2 = check_world(self, &component, origin)?;
        let instance_pre =
            self.linker()
                .instantiate_pre(&component)
                .map_err(|e| EngineError::MissingImport {
                    origin: origin.into(),
                    reason: format!("{e:#}"),
                })?;
        let pre = Pre::new(instance_pre, v0_2).map_err(|e| EngineError::WrongWorld {
            origin: origin.into(),
            reason: format!("{e:#}"),
        })?;
        let spec = read_spec(self, &pre, origin)?;
        Ok(FlowComponent {
            engine: self.clone(),
            pre,
            digest,
            spec: Arc::new(spec),
            warnings: warning.into_iter().collect(),
            compiled,
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

/// Which contract the component targets, from its `flow` export: `true` for 0.2.0.
fn check_world(engine: &Engine, component: &Component, origin: &str) -> Result<bool> {
    let ty = component.component_type();
    let names: Vec<String> = ty
        .exports(engine.wasmtime())
        .map(|(n, _)| n.to_string())
        .collect();
    if let Some(v) = names
        .iter()
        .find_map(|n| FLOW_EXPORTS.iter().position(|e| e == n))
    {
        return Ok(v == 1);
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

fn read_spec(engine: &Engine, pre: &Pre, origin: &str) -> Result<FlowSpec> {
    let stderr = crate::LogSink::new(64 << 10, None);
    let state = TaskState {
        wasi: crate::sandbox::spec_ctx(stderr.clone()),
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
    pre.spec(&mut store).map_err(|e| EngineError::Spec {
        origin: origin.into(),
        reason: format!("{e:#}"),
        stderr: String::from_utf8_lossy(&stderr.contents().0)
            .trim_end()
            .to_string(),
    })
}
