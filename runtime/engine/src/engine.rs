//! The shared wasmtime engine: configuration (pooling allocator, epoch interruption), one linker
//! with WASI and the wflow interfaces built once, and the epoch ticker that enforces timeouts.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Config, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::error::{EngineError, Result};
use crate::host::TaskState;

/// How often the epoch advances; timeouts are rounded up to this.
pub const EPOCH_TICK_MS: u64 = 10;

pub use wflow_core::DEFAULT_MEMORY_MB;

/// Engine settings.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Tasks that may run at the same time (sizes the instance pool).
    pub max_concurrent_tasks: u32,
    /// Where compiled components are cached (`None`: no cache).
    pub cache_dir: Option<PathBuf>,
    /// Use the pooling allocator (fast instantiation); off only to measure what it buys.
    pub pooling: bool,
    /// Meter fuel so steps can be given a CPU budget (costs some speed on every step).
    pub fuel: bool,
    /// Most bytes of wasm stack a task may use.
    pub max_wasm_stack: usize,
    /// Instrument compiled code with epoch checks, which is how timeouts are enforced. On by
    /// default; off only to measure what it costs (then no timeout holds).
    pub epoch_interruption: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            max_concurrent_tasks: 16,
            cache_dir: None,
            pooling: true,
            fuel: false,
            max_wasm_stack: 1 << 20,
            epoch_interruption: true,
        }
    }
}

/// A configured wasmtime engine shared by every component and task. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    engine: wasmtime::Engine,
    linker: Linker<TaskState>,
    config: EngineConfig,
}

impl Engine {
    /// Builds the engine, its linker and starts the epoch ticker (when epochs are on).
    pub fn new(config: EngineConfig) -> Result<Engine> {
        let mut wcfg = Config::new();
        wcfg.epoch_interruption(config.epoch_interruption);
        wcfg.max_wasm_stack(config.max_wasm_stack);
        wcfg.consume_fuel(config.fuel);
        wcfg.wasm_backtrace_details(wasmtime::WasmBacktraceDetails::Disable);
        if config.pooling {
            let slots = (config.max_concurrent_tasks.max(1) * 2 + 8).min(1000);
            let mut pool = PoolingAllocationConfig::new();
            pool.total_component_instances(slots)
                .total_memories(slots * 2)
                .total_tables(slots * 8)
                .total_core_instances(slots * 16)
                .total_stacks(slots)
                .max_core_instances_per_component(50)
                .max_memories_per_component(4)
                .max_tables_per_component(16)
                .max_tables_per_module(4)
                .max_memory_size((DEFAULT_MEMORY_MB << 20) as usize)
                .max_component_instance_size(1 << 20)
                .max_core_instance_size(1 << 20)
                .linear_memory_keep_resident(4 << 20)
                .table_keep_resident(1 << 20)
                .async_stack_keep_resident(1 << 20);
            wcfg.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        }
        let engine =
            wasmtime::Engine::new(&wcfg).map_err(|e| EngineError::Config(format!("{e:#}")))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .map_err(|e| EngineError::Config(format!("{e:#}")))?;
        // Name lookups only of granted hosts (see `host::lookup`), in place of wasmtime-wasi's.
        linker.allow_shadowing(true);
        wasmtime_wasi::p2::bindings::sockets::ip_name_lookup::add_to_linker::<
            _,
            crate::host::lookup::GrantedLookup,
        >(&mut linker, crate::host::lookup::view)
        .map_err(|e| EngineError::Config(format!("{e:#}")))?;
        linker.allow_shadowing(false);
        crate::bindings::Step::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)
            .map_err(|e| EngineError::Config(format!("{e:#}")))?;

        let weak = engine.weak();
        if config.epoch_interruption {
            std::thread::Builder::new()
                .name("wflow-epoch".into())
                .spawn(move || {
                    while let Some(engine) = weak.upgrade() {
                        engine.increment_epoch();
                        drop(engine);
                        std::thread::sleep(Duration::from_millis(EPOCH_TICK_MS));
                    }
                })
                .map_err(|e| EngineError::Config(format!("cannot start the epoch thread: {e}")))?;
        }
        Ok(Engine {
            inner: Arc::new(Inner {
                engine,
                linker,
                config,
            }),
        })
    }

    pub(crate) fn wasmtime(&self) -> &wasmtime::Engine {
        &self.inner.engine
    }

    pub(crate) fn linker(&self) -> &Linker<TaskState> {
        &self.inner.linker
    }

    /// The settings it was built with.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }
}
