//! `wflow:flow/foreach`: a foreach step declares its items.

use crate::bindings::types::{Error as WitError, Value as WitValue};
use crate::bindings::v0_1::wflow::flow::foreach::Host;
use crate::host::TaskState;
use crate::host::artifacts::{ENTRY_BYTES, check_codec};

impl Host for TaskState {
    fn declare_items(&mut self, items: Vec<WitValue>) -> wasmtime::Result<Result<(), WitError>> {
        let io = self.io()?;
        if !io.input.is_foreach {
            return Ok(Err(WitError::Invalid(format!(
                "step `{}` is not a foreach step; only a step whose transition is `foreach` may declare items",
                io.input.step
            ))));
        }
        let max = io.input.sandbox.max_foreach_items;
        if items.len() > max as usize {
            return Err(wasmtime::Error::new(crate::sandbox::LimitExceeded {
                limit: "max_foreach_items".into(),
                value: max.to_string(),
                detail: format!(": step `{}` declared {} items", io.input.step, items.len()),
            }));
        }
        if let Some(e) = items.iter().find_map(|v| check_codec(&v.codec).err()) {
            return Ok(Err(e));
        }
        // The items are kept by the host (and the scheduler, one task per item): they count
        // against the task's artifact bytes like values do.
        let kept = items.iter().fold(0u64, |n, v| {
            n.saturating_add((v.bytes.len() + v.codec.len()) as u64 + ENTRY_BYTES)
        });
        io.charge(kept)?;
        io.foreach_items = Some(
            items
                .into_iter()
                .map(|v| crate::Value {
                    codec: v.codec,
                    bytes: v.bytes,
                })
                .collect(),
        );
        Ok(Ok(()))
    }
}
