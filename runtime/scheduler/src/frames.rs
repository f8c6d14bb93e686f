//! Split frames: how a task knows which branch or foreach item it belongs to, so the join that
//! closes a split collects exactly the tasks it opened.

use std::sync::Arc;

use wflow_engine::Value;

/// One open split around a task.
#[derive(Clone, Debug)]
pub(crate) struct Frame {
    /// The task that opened the split.
    pub split_task: u64,
    /// Which branch or item this is.
    pub index: u32,
    /// How many branches or items the split has.
    pub count: u32,
    /// The item, for a foreach.
    pub item: Option<Arc<Value>>,
}

/// Indices of the foreach frames, outermost first.
pub(crate) fn foreach_path(stack: &[Frame]) -> Vec<u32> {
    stack
        .iter()
        .filter(|f| f.item.is_some())
        .map(|f| f.index)
        .collect()
}

/// The item of a foreach opened at foreach path `path` that leads to the task at `target`, when
/// that task lies inside it (a step-run makes, and reads, only that one).
pub(crate) fn item_toward(target: &[u32], path: &[u32]) -> Option<u32> {
    (target.len() > path.len() && target.starts_with(path)).then(|| target[path.len()])
}

/// The innermost foreach item.
pub(crate) fn foreach_item(stack: &[Frame]) -> Option<Value> {
    stack.iter().rev().find_map(|f| f.item.as_deref().cloned())
}
