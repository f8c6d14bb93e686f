//! Host implementations of the WIT interfaces, one file per interface (like wasmtime-wasi's
//! `p2/host/`). All of them act on [`TaskState`], the data of one task's wasmtime `Store`.

pub mod artifacts;
pub mod context;
pub mod foreach;
pub(crate) mod lookup;
mod v0_2;

use std::collections::BTreeMap;
use std::sync::Arc;

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wflow_store::{ArtifactRef, Artifacts, Cas, Shadow};

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
    pub(crate) view: View,
    pub(crate) foreach_items: Option<Vec<crate::Value>>,
    /// Bytes the host keeps for the task so far: values, names, codecs, manifest entries and
    /// foreach items (checked against `max_artifact_bytes`).
    pub(crate) put_bytes: u64,
    /// Artifacts put or opened for writing so far (checked against `max_artifacts`).
    pub(crate) artifacts: u64,
    /// Readers and writers open now (checked against `max_open_artifacts`).
    pub(crate) open_handles: u32,
    /// The successor a switch step chose last (`control.next`, contract 0.2), valid or not.
    pub(crate) next: Option<String>,
    /// What the task has read so far (for caching).
    pub(crate) reads: crate::reads::ReadLog,
}

/// What a task sees as its own artifacts: what it inherited (shared, not copied), overlaid with
/// what it has put so far.
#[derive(Debug, Default)]
pub(crate) struct View {
    pub(crate) inherited: Artifacts,
    pub(crate) puts: BTreeMap<String, ArtifactRef>,
}

impl View {
    /// A view of `inherited`, nothing put yet.
    pub(crate) fn new(inherited: Artifacts) -> View {
        View {
            inherited,
            puts: BTreeMap::new(),
        }
    }

    /// The artifact called `name`: the task's put, else the inherited one.
    pub(crate) fn get(&self, name: &str) -> Option<&ArtifactRef> {
        self.puts.get(name).or_else(|| self.inherited.get(name))
    }

    /// Keeps the task's put of `name`.
    pub(crate) fn insert(&mut self, name: String, r: ArtifactRef) {
        self.puts.insert(name, r);
    }

    /// Every artifact of the view, in name order.
    pub(crate) fn iter(
        &self,
    ) -> Shadow<wflow_store::Iter<'_>, std::collections::btree_map::Iter<'_, String, ArtifactRef>>
    {
        Shadow::new(self.inherited.iter(), self.puts.iter())
    }

    /// The task's artifacts: its puts over what it inherited.
    pub(crate) fn finish(self) -> Artifacts {
        self.inherited.with_puts(self.puts)
    }
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

/// The task's resource limiter: **all** linear memories and tables of the task's instance (a
/// component may hold several core instances, each with its own memory) are counted together
/// against one budget, so extra memories cannot multiply the step's `memory` limit. A table
/// element counts [`TABLE_ELEMENT_BYTES`]. It remembers whether a request was refused, so an
/// out-of-memory abort can be told apart from any other trap.
pub struct TaskLimiter {
    /// Bytes of memories and tables the task may hold together.
    pub(crate) max_bytes: u64,
    /// Bytes granted so far (memories and tables are never freed while the task runs).
    pub(crate) used: u64,
    pub(crate) refused: bool,
}

/// What one table element counts against the task's memory budget.
pub const TABLE_ELEMENT_BYTES: u64 = 8;

/// Most instances, memories and tables one task's store may create.
const MAX_INSTANCES: usize = 64;
const MAX_MEMORIES: usize = 16;
const MAX_TABLES: usize = 64;

impl TaskLimiter {
    /// A limiter with a budget of `max_bytes`.
    pub(crate) fn new(max_bytes: u64) -> TaskLimiter {
        TaskLimiter {
            max_bytes,
            used: 0,
            refused: false,
        }
    }

    /// Bytes the task may still add to its memories and tables.
    pub(crate) fn room(&self) -> u64 {
        self.max_bytes.saturating_sub(self.used)
    }

    fn grow(&mut self, extra: u64) -> bool {
        match self.used.checked_add(extra) {
            Some(total) if total <= self.max_bytes => {
                self.used = total;
                true
            }
            _ => {
                self.refused = true;
                false
            }
        }
    }
}

impl ResourceLimiter for TaskLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if maximum.is_some_and(|m| desired > m) {
            return Ok(false);
        }
        Ok(self.grow(desired.saturating_sub(current) as u64))
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if maximum.is_some_and(|m| desired > m) {
            return Ok(false);
        }
        let elements = desired.saturating_sub(current) as u64;
        Ok(self.grow(elements.saturating_mul(TABLE_ELEMENT_BYTES)))
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }
}
