//! `wflow:flow@0.2.0`: the interfaces 0.2.0 kept as they were forward to the 0.1.0 host functions
//! (one implementation, two versions); `control` and `secrets` are new.

use wasmtime::component::Resource;

use crate::bindings::v0_1::wflow::flow as old;
use crate::bindings::v0_2::wflow::flow::{artifacts, context, control, foreach, secrets, types};
use crate::host::TaskState;
use crate::host::artifacts::{ArtifactReader, ArtifactWriter};

type WitResult<T> = wasmtime::Result<Result<T, types::Error>>;

/// A 0.1.0 error as 0.2.0's.
pub(crate) fn error(e: old::types::Error) -> types::Error {
    match e {
        old::types::Error::NotFound(m) => types::Error::NotFound(m),
        old::types::Error::Invalid(m) => types::Error::Invalid(m),
        old::types::Error::Store(m) => types::Error::Store(m),
    }
}

fn value(v: old::types::Value) -> types::Value {
    types::Value {
        codec: v.codec,
        bytes: v.bytes,
    }
}

fn info(i: old::types::ArtifactInfo) -> types::ArtifactInfo {
    types::ArtifactInfo {
        name: i.name,
        size: i.size,
        codec: i.codec,
    }
}

/// A 0.1.0 host result as 0.2.0's.
fn forward<A, B>(
    r: wasmtime::Result<Result<A, old::types::Error>>,
    f: impl FnOnce(A) -> B,
) -> WitResult<B> {
    Ok(r?.map(f).map_err(error))
}

impl types::Host for TaskState {}

impl context::Host for TaskState {
    fn flow_name(&mut self) -> wasmtime::Result<String> {
        old::context::Host::flow_name(self)
    }

    fn run_id(&mut self) -> wasmtime::Result<String> {
        old::context::Host::run_id(self)
    }

    fn step_name(&mut self) -> wasmtime::Result<String> {
        old::context::Host::step_name(self)
    }

    fn task_id(&mut self) -> wasmtime::Result<String> {
        old::context::Host::task_id(self)
    }

    fn attempt(&mut self) -> wasmtime::Result<u32> {
        old::context::Host::attempt(self)
    }

    fn parameter(&mut self, name: String) -> wasmtime::Result<Option<types::ParamValue>> {
        use old::types::ParamValue as P;
        Ok(old::context::Host::parameter(self, name)?.map(|v| match v {
            P::String(s) => types::ParamValue::String(s),
            P::Int(i) => types::ParamValue::Int(i),
            P::Float(f) => types::ParamValue::Float(f),
            P::Bool(b) => types::ParamValue::Bool(b),
            P::Json(j) => types::ParamValue::Json(j),
        }))
    }

    fn foreach_index(&mut self) -> wasmtime::Result<Option<u32>> {
        old::context::Host::foreach_index(self)
    }

    fn foreach_path(&mut self) -> wasmtime::Result<Vec<u32>> {
        old::context::Host::foreach_path(self)
    }

    fn foreach_item(&mut self) -> wasmtime::Result<Option<types::Value>> {
        Ok(old::context::Host::foreach_item(self)?.map(value))
    }
}

impl artifacts::Host for TaskState {
    fn list(&mut self) -> wasmtime::Result<Vec<types::ArtifactInfo>> {
        Ok(old::artifacts::Host::list(self)?
            .into_iter()
            .map(info)
            .collect())
    }

    fn get(&mut self, name: String) -> WitResult<types::Value> {
        forward(old::artifacts::Host::get(self, name), value)
    }

    fn put(&mut self, name: String, v: types::Value) -> WitResult<()> {
        let v = old::types::Value {
            codec: v.codec,
            bytes: v.bytes,
        };
        forward(old::artifacts::Host::put(self, name, v), |()| ())
    }

    fn input_count(&mut self) -> wasmtime::Result<u32> {
        old::artifacts::Host::input_count(self)
    }

    fn input_step(&mut self, index: u32) -> WitResult<String> {
        forward(old::artifacts::Host::input_step(self, index), |s| s)
    }

    fn list_input(&mut self, index: u32) -> WitResult<Vec<types::ArtifactInfo>> {
        forward(old::artifacts::Host::list_input(self, index), |v| {
            v.into_iter().map(info).collect()
        })
    }

    fn get_input(&mut self, index: u32, name: String) -> WitResult<types::Value> {
        forward(old::artifacts::Host::get_input(self, index, name), value)
    }

    fn open_reader(
        &mut self,
        name: String,
        input: Option<u32>,
    ) -> WitResult<Resource<ArtifactReader>> {
        forward(old::artifacts::Host::open_reader(self, name, input), |r| r)
    }

    fn open_writer(&mut self, name: String, codec: String) -> WitResult<Resource<ArtifactWriter>> {
        forward(old::artifacts::Host::open_writer(self, name, codec), |w| w)
    }
}

impl artifacts::HostReader for TaskState {
    fn size(&mut self, r: Resource<ArtifactReader>) -> wasmtime::Result<u64> {
        old::artifacts::HostReader::size(self, r)
    }

    fn codec(&mut self, r: Resource<ArtifactReader>) -> wasmtime::Result<String> {
        old::artifacts::HostReader::codec(self, r)
    }

    fn read(&mut self, r: Resource<ArtifactReader>, max: u64) -> WitResult<Vec<u8>> {
        forward(old::artifacts::HostReader::read(self, r, max), |b| b)
    }

    fn drop(&mut self, r: Resource<ArtifactReader>) -> wasmtime::Result<()> {
        old::artifacts::HostReader::drop(self, r)
    }
}

impl artifacts::HostWriter for TaskState {
    fn write(&mut self, w: Resource<ArtifactWriter>, bytes: Vec<u8>) -> WitResult<()> {
        forward(old::artifacts::HostWriter::write(self, w, bytes), |()| ())
    }

    fn finish(&mut self, w: Resource<ArtifactWriter>) -> WitResult<u64> {
        forward(old::artifacts::HostWriter::finish(self, w), |n| n)
    }

    fn drop(&mut self, w: Resource<ArtifactWriter>) -> wasmtime::Result<()> {
        old::artifacts::HostWriter::drop(self, w)
    }
}

impl foreach::Host for TaskState {
    fn declare_items(&mut self, items: Vec<types::Value>) -> WitResult<()> {
        let items = items
            .into_iter()
            .map(|v| old::types::Value {
                codec: v.codec,
                bytes: v.bytes,
            })
            .collect();
        forward(old::foreach::Host::declare_items(self, items), |()| ())
    }
}

impl control::Host for TaskState {
    fn next(&mut self, step: String) -> WitResult<()> {
        let io = self.io()?;
        let choices = &io.input.choices;
        let refused = if choices.is_empty() {
            Some(format!(
                "step `{}` is not a switch step; only a step whose transition is `switch` may \
                 choose its successor",
                io.input.step
            ))
        } else if !choices.contains(&step) {
            Some(format!(
                "`{}` is not a choice of switch step `{}`: it may choose {}",
                step.escape_debug(),
                io.input.step,
                crate::task::listed(choices)
            ))
        } else {
            None
        };
        // Kept even when refused: the task then fails with the same message, whether or not the
        // step looks at the error.
        io.next = Some(step);
        Ok(match refused {
            Some(m) => Err(types::Error::Invalid(m)),
            None => Ok(()),
        })
    }
}

impl secrets::Host for TaskState {
    fn get(&mut self, name: String) -> WitResult<Vec<u8>> {
        let io = self.io()?;
        Ok(match io.input.secrets.get(&name) {
            Some(v) => Ok(v.clone()),
            None => Err(types::Error::NotFound(format!(
                "step `{}` was given no secret `{}`: a step reads only the secrets it asks for \
                 (`secrets = [\"{}\"]`)",
                io.input.step,
                name.escape_debug(),
                name.escape_debug()
            ))),
        })
    }
}
