//! `wflow:flow/context`: who the task is, its parameters and its foreach item.

use wflow_core::ParamValue;

use crate::bindings::types::{ParamValue as WitParam, Value as WitValue};
use crate::bindings::v0_1::wflow::flow::context::Host;
use crate::host::TaskState;

impl Host for TaskState {
    fn flow_name(&mut self) -> wasmtime::Result<String> {
        Ok(self.io()?.input.flow.clone())
    }

    fn run_id(&mut self) -> wasmtime::Result<String> {
        let io = self.io()?;
        io.reads.volatile();
        Ok(io.input.run_id.clone())
    }

    fn step_name(&mut self) -> wasmtime::Result<String> {
        Ok(self.io()?.input.step.clone())
    }

    fn task_id(&mut self) -> wasmtime::Result<String> {
        let io = self.io()?;
        io.reads.volatile();
        Ok(io.input.task_id.to_string())
    }

    fn attempt(&mut self) -> wasmtime::Result<u32> {
        let io = self.io()?;
        io.reads.volatile();
        Ok(io.input.attempt)
    }

    fn parameter(&mut self, name: String) -> wasmtime::Result<Option<WitParam>> {
        let io = self.io()?;
        io.reads.param(&name, io.input.params.get(&name));
        Ok(io.input.params.get(&name).map(|v| match v {
            ParamValue::Bool(b) => WitParam::Bool(*b),
            ParamValue::Int(i) => WitParam::Int(*i),
            ParamValue::Float(f) => WitParam::Float(*f),
            ParamValue::String(s) => WitParam::String(s.clone()),
            ParamValue::Json(j) => WitParam::Json(j.to_string()),
        }))
    }

    fn foreach_index(&mut self) -> wasmtime::Result<Option<u32>> {
        let io = self.io()?;
        io.reads.foreach_path(&io.input.foreach_path);
        Ok(io.input.foreach_path.last().copied())
    }

    fn foreach_path(&mut self) -> wasmtime::Result<Vec<u32>> {
        let io = self.io()?;
        io.reads.foreach_path(&io.input.foreach_path);
        Ok(io.input.foreach_path.clone())
    }

    fn foreach_item(&mut self) -> wasmtime::Result<Option<WitValue>> {
        Ok(self.io()?.input.foreach_item.as_ref().map(|v| WitValue {
            codec: v.codec.clone(),
            bytes: v.bytes.clone(),
        }))
    }
}
