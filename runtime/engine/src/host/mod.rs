//! Host implementations of the WIT interfaces, one file per interface (like wasmtime-wasi's
//! `p2/host/`). All of them act on [`TaskState`], the data of one task's wasmtime `Store`.

pub mod artifacts;
pub mod context;
pub mod foreach;
pub(crate) mod lookup;

use std::collections::BTreeMap;
use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, StoreLimits};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wflow_store::{ArtifactRef, Cas};

use crate::task::TaskInput;

/// Everything one task's `Store` holds.
pub struct TaskState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limiter: TaskLimiter,
    /// The task being run; `None` while the host only reads the flow's spec.
    pub(crate) task: Option<TaskIo>,
}

/// The task's inputs and what it has produced so far.
pub struct TaskIo {
    pub(crate) input: TaskInput,
    pub(crate) cas: Arc<Cas>,
    /// The task's view: inherited artifacts, overlaid with its puts.
    pub(crate) view: BTreeMap<String, ArtifactRef>,
    pub(crate) foreach_items: Option<Vec<crate::Value>>,
    /// Bytes of artifacts put so far (checked against the sandbox's cap).
    pub(crate) put_bytes: u64,
}

impl WasiView for TaskState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl TaskState {
    /// The running task, or a trap if the guest calls a task function while only its spec is read.
    pub(crate) fn io(&mut self) -> wasmtime::Result<&mut TaskIo> {
        self.task
            .as_mut()
            .ok_or_else(|| wasmtime::format_err!("task functions may not be called from `spec`"))
    }
}

/// Memory limiter that remembers whether a request was refused, so an out-of-memory abort can be
/// told apart from any other trap.
pub struct TaskLimiter {
    pub(crate) limits: StoreLimits,
    pub(crate) refused: bool,
}

impl ResourceLimiter for TaskLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let ok = self.limits.memory_growing(current, desired, maximum)?;
        if !ok {
            self.refused = true;
        }
        Ok(ok)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }
}
