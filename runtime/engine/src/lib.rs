//! The sandbox: wasmtime configured for wflow, flow components loaded and checked, and one task
//! run at a time in a fresh instance.
//!
//! This crate owns everything that touches wasmtime: the engine settings (pooling allocator,
//! epoch interruption for timeouts), the on-disk cache of compiled components, the host side of
//! the WIT contract (`host/`, one file per interface) and the classification of failures (trap,
//! panic, out of memory, timeout). It does not decide what runs when — that is the scheduler's
//! job — and it stores artifacts only through [`wflow_store::Cas`].
//!
//! A task gets no ambient capability: no preopened directory, no environment variable, no
//! network, no inherited stdio. Its stdout and stderr are captured in memory and returned in the
//! [`TaskOutcome`].
//!
//! ```no_run
//! use std::sync::Arc;
//! use wflow_engine::{Engine, EngineConfig};
//! let engine = Engine::new(EngineConfig::default())?;
//! let flow = engine.load_file("hello.wasm".as_ref())?;
//! println!("flow {} has {} steps", flow.spec().name, flow.spec().steps.len());
//! # Ok::<(), wflow_engine::EngineError>(())
//! ```
#![deny(missing_docs)]

mod bindings;
mod cache;
mod compile;
mod component;
mod denial;
mod derive;
mod engine;
mod error;
mod functions;
mod host;
mod logs;
mod precheck;
mod reads;
mod redact;
mod sandbox;
mod spec;
mod task;

pub use cache::{CompileStats, Sealed, default_cache_key};
pub use compile::{Compiler, compile_main};
pub use component::{FLOW_EXPORT, FlowComponent};
pub use engine::{DEFAULT_MEMORY_MB, EPOCH_TICK_MS, Engine, EngineConfig};
pub use error::{EngineError, Result};
pub use logs::{LIVE_AFTER, LogSink};
pub use precheck::CompileLimits;
pub use reads::reads_match;
pub use redact::Redactor;
pub use sandbox::{LimitExceeded, Sandbox};
pub use task::{InputArtifacts, Secrets, TaskFailure, TaskInput, TaskOutcome, Value, inherited};
