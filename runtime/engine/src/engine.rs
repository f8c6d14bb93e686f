//! The shared wasmtime engine: configuration (pooling allocator, epoch interruption), one linker
//! with WASI and the wflow interfaces built once, and the epoch ticker that enforces timeouts.

use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Config, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::compile::Compiler;
use crate::error::{EngineError, Result};
use crate::host::TaskState;
use crate::precheck::CompileLimits;

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
    /// Where components are compiled: in a bounded child process for anything untrusted.
    pub compiler: Compiler,
    /// Bounds checked before compiling, and the child compiler's time and memory.
    pub compile_limits: CompileLimits,
    /// Most bytes of guest memory all tasks of this engine may be granted at once: a task
    /// reserves its memory limit before it starts and waits while the others hold too much.
    /// `None`: three quarters of the machine's RAM.
    pub host_memory_bytes: Option<u64>,
    /// The secret that authenticates compiled code in the cache (`None`:
    /// [`default_cache_key`]); created with mode 0600 if missing.
    pub cache_key: Option<PathBuf>,
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
            compiler: Compiler::InProcess,
            compile_limits: CompileLimits::default(),
            host_memory_bytes: None,
            cache_key: None,
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
    memory: MemoryBudget,
}

/// Guest memory granted to running tasks, against the host's budget.
struct MemoryBudget {
    total: u64,
    granted: Mutex<u64>,
    freed: Condvar,
}

/// A task's share of the host's memory budget, given back when dropped.
pub(crate) struct Reservation<'a> {
    budget: &'a MemoryBudget,
    bytes: u64,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        let mut granted = self
            .budget
            .granted
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        *granted -= self.bytes;
        self.budget.freed.notify_all();
    }
}

/// Three quarters of the machine's RAM (`MemTotal` in `/proc/meminfo`); unbounded if unknown.
fn default_host_memory() -> u64 {
    let total_kib = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        m.lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    });
    total_kib.map_or(u64::MAX, |k| k.saturating_mul(1024) / 4 * 3)
}

/// The wasmtime settings of `config`: every one that affects compiled code is here, so a child
/// compiler building its engine from the same `EngineConfig` (without pooling, which only
/// changes how instances are allocated) produces code this engine accepts.
pub(crate) fn wasmtime_config(config: &EngineConfig) -> Config {
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
            // Rewritten in place at every reset rather than returned to the kernel and faulted
            // in again by the next task: an interpreter's heap (Python, JavaScript) is tens of
            // MiB that every task touches. Release, a 300-item Python foreach on 2 workers
            // (2026-12-08, load ~1.5): 4 MiB 1.52 s with 1.8 s of system time, 64 MiB 0.61 s and
            // 0.2 s, peak RSS 126 vs 131 MB; a trivial Rust task unchanged (memory ~1 MiB).
            .linear_memory_keep_resident(64 << 20)
            .table_keep_resident(1 << 20)
            .async_stack_keep_resident(1 << 20)
            .pagemap_scan(PAGEMAP_SCAN);
        wcfg.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    wcfg
}

/// How a memory slot is reset: never with Linux's `PAGEMAP_SCAN` ioctl, for now.
///
/// Before the pool hands a memory slot to the next instance, wasmtime puts it back to the
/// module's initial image: it copies the image (or zeros) over the first
/// `linear_memory_keep_resident` bytes (64 MiB, or the memory's size if smaller) whatever the
/// task touched, and returns the rest to the kernel with `madvise`. With the ioctl, wasmtime
/// would ask the kernel which pages the task wrote and restore only those, which is cheaper
/// (release, benches/benches/polyglot.rs `instantiate_run`, a fresh instance and one trivial
/// step, load ~1.5, 2026-12-08, with 4 MiB kept resident: Rust 26.9 → 12.0 µs, Python 3.62 →
/// 2.91 ms, JavaScript 846 → 456 µs). But wasmtime 48 asks only for *present* written pages: a
/// page the task wrote whose entry is not present when the slot is reset — swapped out, or being migrated by the
/// kernel (compaction runs on hosts without swap too) — is neither restored nor returned, and the
/// next instance in the slot, another task, may read it (the open fix upstream:
/// bytecodealliance/wasmtime#14357). A task never seeing another task's memory is a promise of the
/// sandbox, so the scan stays off (explicitly, whatever wasmtime's default) until a wasmtime with
/// that fix is in use. `tests/all/isolation.rs` checks the promise on every reset path.
const PAGEMAP_SCAN: wasmtime::Enabled = wasmtime::Enabled::No;

impl Engine {
    /// Builds the engine, its linker and starts the epoch ticker (when epochs are on).
    pub fn new(config: EngineConfig) -> Result<Engine> {
        let wcfg = wasmtime_config(&config);
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
        // Both contract versions: each component finds the interfaces of the one it targets.
        crate::bindings::v0_1::Step::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)
            .map_err(|e| EngineError::Config(format!("{e:#}")))?;
        crate::bindings::v0_2::Step::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)
            .map_err(|e| EngineError::Config(format!("{e:#}")))?;
        linker.allow_shadowing(true);
        crate::host::artifacts::write_in_place_to_linker(&mut linker)
            .map_err(|e| EngineError::Config(format!("{e:#}")))?;
        linker.allow_shadowing(false);

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
        let memory = MemoryBudget {
            total: config
                .host_memory_bytes
                .unwrap_or_else(default_host_memory)
                .max(1),
            granted: Mutex::new(0),
            freed: Condvar::new(),
        };
        Ok(Engine {
            inner: Arc::new(Inner {
                engine,
                linker,
                config,
                memory,
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

    /// Reserves `bytes` of the host's guest-memory budget for a task, waiting until the tasks
    /// running now leave enough (a task asking for more than the whole budget waits to run
    /// alone).
    pub(crate) fn reserve_memory(&self, bytes: u64) -> Reservation<'_> {
        let budget = &self.inner.memory;
        let bytes = bytes.min(budget.total);
        let mut granted = budget.granted.lock().unwrap_or_else(|p| p.into_inner());
        while *granted + bytes > budget.total {
            granted = budget
                .freed
                .wait(granted)
                .unwrap_or_else(|p| p.into_inner());
        }
        *granted += bytes;
        Reservation { budget, bytes }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_wait_for_the_host_memory_budget() {
        let engine = Engine::new(EngineConfig {
            host_memory_bytes: Some(100),
            pooling: false,
            epoch_interruption: false,
            ..EngineConfig::default()
        })
        .unwrap();
        let first = engine.reserve_memory(60);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::scope(|s| {
            s.spawn(|| {
                let _second = engine.reserve_memory(60);
                tx.send(()).unwrap();
            });
            // 60 + 60 > 100: the second cannot start while the first runs, however long we wait.
            assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
            drop(first);
            rx.recv().unwrap();
        });
        // More than the whole budget: capped, so it runs alone instead of never.
        drop(engine.reserve_memory(1 << 40));
    }
}
