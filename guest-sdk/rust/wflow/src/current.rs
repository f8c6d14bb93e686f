//! The task being run: its identifiers, its foreach position and item, its parameters.
//!
//! ```
//! # fn demo() -> wflow::Result<()> {
//! println!("{} of run {} (attempt {})", wflow::current::step_name(), wflow::current::run_id(),
//!          wflow::current::attempt());
//! if wflow::current::foreach_index().is_some() {
//!     let item: i64 = wflow::current::input()?;
//! }
//! # Ok(())
//! # }
//! ```

use serde::de::DeserializeOwned;

use crate::host;
use crate::{ArtifactInfo, Error, ErrorKind, ParamValue, Result, Value};

/// Name of the flow.
pub fn flow_name() -> String {
    host::flow_name()
}

/// Id of the run.
pub fn run_id() -> String {
    host::run_id()
}

/// Name of the step being run.
pub fn step_name() -> String {
    host::step_name()
}

/// Id of the task, unique within the run.
pub fn task_id() -> String {
    host::task_id()
}

/// Attempt number, starting at 0.
pub fn attempt() -> u32 {
    host::attempt()
}

/// Index of this task's item within the innermost enclosing foreach, if any.
pub fn foreach_index() -> Option<u32> {
    host::foreach_index()
}

/// Indices within every enclosing foreach, outermost first.
pub fn foreach_path() -> Vec<u32> {
    host::foreach_path()
}

/// This task's foreach item, decoded: the element of the items the foreach step declared.
pub fn input<T: DeserializeOwned>() -> Result<T> {
    let value = input_value().ok_or_else(|| {
        Error::new(
            ErrorKind::Invalid,
            "this task has no foreach item: it is not inside a foreach",
        )
    })?;
    value.decode().map_err(|e| e.context("foreach item"))
}

/// This task's foreach item as the host stores it, or `None` outside a foreach.
pub fn input_value() -> Option<Value> {
    host::foreach_item()
}

/// A parameter's value, or `None` if the flow has no such parameter. [`Param`](crate::Param) is the
/// typed way.
pub fn parameter(name: &str) -> Option<ParamValue> {
    host::parameter(name)
}

/// Artifacts visible to this task: inherited ones and those put so far.
pub fn artifacts() -> Result<Vec<ArtifactInfo>> {
    host::list_infos(None)
}
