//! Errors of loading a component or preparing the engine. Failures of a task are
//! [`crate::TaskFailure`]s, not errors: a guest cannot make the host fail.

use std::path::PathBuf;

/// Why a component could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The file could not be read.
    #[error("cannot read component {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not WebAssembly at all.
    #[error(
        "{origin} is not a WebAssembly file ({reason}); build a flow with `wflow build` or `cargo build --target wasm32-wasip2`"
    )]
    NotWasm {
        /// Where the bytes came from.
        origin: String,
        /// What is wrong.
        reason: String,
    },
    /// A core module, not a component.
    #[error(
        "{origin} is a core WebAssembly module, not a component; build for the `wasm32-wasip2` target (which emits components)"
    )]
    CoreModule {
        /// Where the bytes came from.
        origin: String,
    },
    /// Wasmtime rejected the component.
    #[error("{origin} is not a valid component: {reason}")]
    Invalid {
        /// Where the bytes came from.
        origin: String,
        /// Wasmtime's explanation.
        reason: String,
    },
    /// The component was built for a version of the `wflow:flow` contract this host does not run
    /// (a newer SDK's).
    #[error(
        "{origin} was built for the contract `{contract}` (it uses `{name}`), which this host does not run: this host runs flows built for {}. Run it with a wflow that supports `{contract}`, or build it with an SDK for a supported version",
        crate::component::supported_contracts()
    )]
    UnknownContract {
        /// Where the bytes came from.
        origin: String,
        /// The contract the component asks for: `wflow:flow@0.9.0`.
        contract: String,
        /// The import or export naming it: `wflow:flow/context@0.9.0`.
        name: String,
    },
    /// The component does not target the `wflow:flow/step` world.
    #[error(
        "{origin} is not a wflow flow: {reason}. A flow component exports the interface `flow` of a contract this host runs ({}; world `step`); write it with the `wflow` crate",
        crate::component::supported_contracts()
    )]
    WrongWorld {
        /// Where the bytes came from.
        origin: String,
        /// What does not match.
        reason: String,
    },
    /// The component imports something the host does not provide.
    #[error(
        "{origin} imports something this host does not provide: {reason}. A flow may import only {} and WASI 0.2 interfaces",
        crate::component::supported_contracts()
    )]
    MissingImport {
        /// Where the bytes came from.
        origin: String,
        /// Wasmtime's explanation, naming the import.
        reason: String,
    },
    /// The guest's `spec` call failed.
    #[error("{origin}: reading the flow's spec failed: {reason}{}", if stderr.is_empty() { String::new() } else { format!("\nThe component printed:\n{stderr}") })]
    Spec {
        /// Where the bytes came from.
        origin: String,
        /// The trap or error.
        reason: String,
        /// What the guest printed to stderr before it failed (its traceback), at most 64 KiB.
        stderr: String,
    },
    /// Compiling the component would exceed a bound (checked before compiling, or enforced on
    /// the child process that compiles).
    #[error(
        "{origin} is refused: {detail}, over the compile limit `{limit}` of {value}. Compile limits keep a component from costing the host unbounded time or memory before it runs (see the limits in docs/policy.md)"
    )]
    TooComplex {
        /// Where the bytes came from.
        origin: String,
        /// The limit's name.
        limit: &'static str,
        /// Its value.
        value: u64,
        /// What the component does.
        detail: String,
    },
    /// The compiler process failed for another reason.
    #[error("compiling {origin} failed: {reason}")]
    Compile {
        /// Where the bytes came from.
        origin: String,
        /// Why.
        reason: String,
    },
    /// Wasmtime could not be configured.
    #[error("cannot configure wasmtime: {0}")]
    Config(String),
}

impl EngineError {
    /// A component that uses `name`, of a `wflow:flow` version this host does not run.
    pub(crate) fn unknown_contract(origin: &str, name: &str) -> EngineError {
        let contract = match name.split_once('@') {
            Some((_, version)) => format!("wflow:flow@{version}"),
            None => "wflow:flow (no version)".to_string(),
        };
        EngineError::UnknownContract {
            origin: origin.into(),
            contract: contract
                .chars()
                .take(64)
                .collect::<String>()
                .escape_debug()
                .to_string(),
            name: name
                .chars()
                .take(128)
                .collect::<String>()
                .escape_debug()
                .to_string(),
        }
    }
}

/// Result with [`EngineError`].
pub type Result<T, E = EngineError> = std::result::Result<T, E>;
