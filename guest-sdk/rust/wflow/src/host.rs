//! The one door to the host. On wasm32 every function calls the WIT imports; on other targets it
//! calls the in-process mock of [`crate::testing`], so steps can be unit-tested natively.

use crate::{ArtifactInfo, Value};

/// An error returned by a host function (the WIT `error` variant).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))] // the mock never fails to store
pub(crate) enum HostError {
    NotFound(String),
    Invalid(String),
    Store(String),
}

pub(crate) use imp::*;

#[cfg(target_arch = "wasm32")]
mod imp {
    use super::HostError;
    use crate::wit::wflow::flow::{artifacts, context, control, foreach, secrets, types};
    use crate::{ArtifactInfo, ParamValue, Value};

    impl From<types::Error> for HostError {
        fn from(e: types::Error) -> HostError {
            match e {
                types::Error::NotFound(m) => HostError::NotFound(m),
                types::Error::Invalid(m) => HostError::Invalid(m),
                types::Error::Store(m) => HostError::Store(m),
            }
        }
    }

    fn value(v: types::Value) -> Value {
        Value {
            codec: v.codec,
            bytes: v.bytes,
        }
    }

    fn info(i: types::ArtifactInfo) -> ArtifactInfo {
        ArtifactInfo {
            name: i.name,
            size: i.size,
            codec: i.codec,
        }
    }

    pub(crate) fn flow_name() -> String {
        context::flow_name()
    }
    pub(crate) fn run_id() -> String {
        context::run_id()
    }
    pub(crate) fn step_name() -> String {
        context::step_name()
    }
    pub(crate) fn task_id() -> String {
        context::task_id()
    }
    pub(crate) fn attempt() -> u32 {
        context::attempt()
    }
    pub(crate) fn parameter(name: &str) -> Option<ParamValue> {
        context::parameter(name).map(|v| match v {
            types::ParamValue::String(s) => ParamValue::String(s),
            types::ParamValue::Int(i) => ParamValue::Int(i),
            types::ParamValue::Float(f) => ParamValue::Float(f),
            types::ParamValue::Bool(b) => ParamValue::Bool(b),
            types::ParamValue::Json(j) => ParamValue::Json(j),
        })
    }
    pub(crate) fn foreach_index() -> Option<u32> {
        context::foreach_index()
    }
    pub(crate) fn foreach_path() -> Vec<u32> {
        context::foreach_path()
    }
    pub(crate) fn foreach_item() -> Option<Value> {
        context::foreach_item().map(value)
    }

    pub(crate) fn list(input: Option<u32>) -> Result<Vec<ArtifactInfo>, HostError> {
        let infos = match input {
            None => artifacts::list(),
            Some(i) => artifacts::list_input(i)?,
        };
        Ok(infos.into_iter().map(info).collect())
    }
    pub(crate) fn get(name: &str, input: Option<u32>) -> Result<Value, HostError> {
        let v = match input {
            None => artifacts::get(name)?,
            Some(i) => artifacts::get_input(i, name)?,
        };
        Ok(value(v))
    }
    /// Puts `bytes` without copying them; they are back in `bytes` afterwards.
    pub(crate) fn put(name: &str, codec: &str, bytes: &mut Vec<u8>) -> Result<(), HostError> {
        let v = types::Value {
            codec: codec.to_string(),
            bytes: std::mem::take(bytes),
        };
        let r = artifacts::put(name, &v);
        *bytes = v.bytes;
        Ok(r?)
    }
    pub(crate) fn input_count() -> u32 {
        artifacts::input_count()
    }
    pub(crate) fn input_step(index: u32) -> Result<String, HostError> {
        Ok(artifacts::input_step(index)?)
    }
    pub(crate) fn declare_items(items: Vec<Value>) -> Result<(), HostError> {
        let items: Vec<types::Value> = items
            .into_iter()
            .map(|v| types::Value {
                codec: v.codec,
                bytes: v.bytes,
            })
            .collect();
        Ok(foreach::declare_items(&items)?)
    }

    pub(crate) fn next(step: &str) -> Result<(), HostError> {
        Ok(control::next(step)?)
    }
    pub(crate) fn secret(name: &str) -> Result<Vec<u8>, HostError> {
        Ok(secrets::get(name)?)
    }

    /// A host `reader` resource.
    pub(crate) struct Reader(artifacts::Reader);

    impl Reader {
        pub(crate) fn size(&self) -> u64 {
            self.0.size()
        }
        pub(crate) fn codec(&self) -> String {
            self.0.codec()
        }
        pub(crate) fn read(&mut self, max: u64) -> Result<Vec<u8>, HostError> {
            Ok(self.0.read(max)?)
        }
    }

    pub(crate) fn open_reader(name: &str, input: Option<u32>) -> Result<Reader, HostError> {
        Ok(Reader(artifacts::open_reader(name, input)?))
    }

    /// A host `writer` resource.
    pub(crate) struct Writer(artifacts::Writer);

    impl Writer {
        pub(crate) fn write(&mut self, bytes: &[u8]) -> Result<(), HostError> {
            Ok(self.0.write(bytes)?)
        }
        pub(crate) fn finish(self) -> Result<u64, HostError> {
            Ok(self.0.finish()?)
        }
    }

    pub(crate) fn open_writer(name: &str, codec: &str) -> Result<Writer, HostError> {
        Ok(Writer(artifacts::open_writer(name, codec)?))
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    pub(crate) use crate::testing::host::*;
}

/// Reads a visible artifact as it is stored, from this task's view or from input `input`.
pub(crate) fn get_value(name: &str, input: Option<u32>) -> crate::Result<Value> {
    get(name, input).map_err(|e| {
        let e = crate::Error::from(e);
        if e.is_not_found() {
            let place = match input {
                None => String::new(),
                Some(i) => format!(" in input {i}"),
            };
            crate::Error::new(
                crate::ErrorKind::NotFound,
                format_args!("artifact `{name}` not found{place}"),
            )
        } else {
            e.context(format_args!("reading artifact `{name}`"))
        }
    })
}

/// Lists artifacts: this task's view (`None`) or input `input`.
pub(crate) fn list_infos(input: Option<u32>) -> crate::Result<Vec<ArtifactInfo>> {
    Ok(list(input)?)
}
