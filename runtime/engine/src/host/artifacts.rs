//! `wflow:flow/artifacts`: reading inherited and input artifacts, keeping new ones, and the
//! streaming reader/writer resources for values larger than guest memory.

use std::io::Write;

use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, Resource, WasmList};
use wflow_store::{ArtifactRef, Artifacts, BlobReader, BlobWriter};

use crate::bindings::types::{ArtifactInfo, Error as WitError, Value as WitValue};
use crate::bindings::v0_1::wflow::flow::artifacts::{Host, HostReader, HostWriter};
use crate::host::{TaskIo, TaskState};
use crate::sandbox::LimitExceeded;

/// A guest's open reader.
pub struct ArtifactReader {
    /// The artifact's name and, for an input's, that input's index and step (for errors).
    name: String,
    input: Option<(u32, String)>,
    reader: BlobReader,
    size: u64,
    codec: String,
}

/// A guest's open writer; the value becomes visible on `finish`.
pub struct ArtifactWriter {
    name: String,
    codec: String,
    writer: Option<BlobWriter>,
}

type WitResult<T> = wasmtime::Result<Result<T, WitError>>;

fn info(name: &str, r: &ArtifactRef) -> ArtifactInfo {
    ArtifactInfo {
        name: name.to_string(),
        size: r.size,
        codec: r.codec.clone(),
    }
}

fn store_err(e: impl std::fmt::Display) -> WitError {
    WitError::Store(e.to_string())
}

/// A store error reading artifact `name` (a corrupt blob, say): the message names the artifact as
/// well as the blob, so the task's error says which value could not be read.
fn read_err(name: &str, input: Option<(u32, &str)>, e: impl std::fmt::Display) -> WitError {
    let from = match input {
        Some((i, step)) => format!(" of input {i} (step `{step}`)"),
        None => String::new(),
    };
    WitError::Store(format!("reading artifact `{name}`{from}: {e}"))
}

/// The artifacts of input `index` of a task, if it exists.
fn input_artifacts(input: &crate::TaskInput, index: u32) -> Option<&Artifacts> {
    input.inputs.get(index as usize).map(|i| &i.artifacts)
}

impl TaskIo {
    fn input_view(&self, index: u32) -> Result<&Artifacts, WitError> {
        self.input
            .inputs
            .get(index as usize)
            .map(|i| &i.artifacts)
            .ok_or_else(|| {
                WitError::Invalid(format!(
                    "input {index} does not exist: this task has {} input(s)",
                    self.input.inputs.len()
                ))
            })
    }

    fn lookup(&self, name: &str, input: Option<u32>) -> Result<&ArtifactRef, WitError> {
        let found = match input {
            None => self.view.get(name),
            Some(i) => self.input_view(i)?.get(name),
        };
        found.ok_or_else(|| WitError::NotFound(name.to_string()))
    }

    fn check_name(&self, name: &str) -> Result<(), WitError> {
        wflow_core::names::validate(wflow_core::names::NameKind::Artifact, name).map_err(|e| {
            WitError::Invalid(format!(
                "`{}` is not a valid artifact name: {}",
                e.shown, e.problem
            ))
        })
    }

    /// Counts `n` more bytes against the task's artifact cap; exceeding it fails the attempt.
    pub(crate) fn charge(&mut self, n: u64) -> wasmtime::Result<()> {
        let max = self.input.sandbox.max_artifact_bytes;
        self.put_bytes = self.put_bytes.saturating_add(n);
        if self.put_bytes > max {
            return Err(wasmtime::Error::new(LimitExceeded {
                limit: "max_artifact_bytes".into(),
                value: format!("{max} bytes"),
                detail: format!(
                    ": the task tried to keep {} bytes of artifacts (values, names, codecs and \
                     foreach items all count)",
                    self.put_bytes
                ),
            }));
        }
        Ok(())
    }

    /// Counts one more artifact (a `put` or an `open-writer`) and what the host keeps for its
    /// manifest entry: the name, the codec and the entry itself. Past `max_artifacts` or
    /// `max_artifact_bytes` the attempt fails.
    fn charge_entry(&mut self, name: &str, codec: &str) -> wasmtime::Result<()> {
        let max = self.input.sandbox.max_artifacts;
        self.artifacts = self.artifacts.saturating_add(1);
        if self.artifacts > max {
            return Err(wasmtime::Error::new(LimitExceeded {
                limit: "max_artifacts".into(),
                value: max.to_string(),
                detail: format!(
                    ": the task tried to put more than {max} artifacts (the last was `{}`)",
                    shown(name)
                ),
            }));
        }
        self.charge((name.len() + codec.len()) as u64 + ENTRY_BYTES)
    }

    /// Fails the attempt when a value of `size` bytes cannot fit in what is left of the guest's
    /// memory budget: checked before the host reads the value, so a small step asking for a huge
    /// artifact costs the host nothing.
    fn check_fits(&self, name: &str, size: u64, room: u64) -> wasmtime::Result<()> {
        if size > room {
            let limit = self.input.sandbox.memory_bytes;
            return Err(wasmtime::Error::new(LimitExceeded {
                limit: "memory".into(),
                value: format!("{} MiB", limit >> 20),
                detail: format!(
                    ": out of memory for artifact `{}` ({size} bytes, {room} bytes left of the \
                     step's memory); read it in pieces with `open-reader` or raise the step's \
                     `memory`",
                    shown(name)
                ),
            }));
        }
        Ok(())
    }
}

/// What the host keeps per manifest entry besides its name and codec (digest, size, bookkeeping),
/// charged against `max_artifact_bytes`.
pub(crate) const ENTRY_BYTES: u64 = 64;

/// Longest codec name, in bytes.
pub(crate) const MAX_CODEC: usize = 64;

/// A name as shown in an error: at most 64 characters, escaped.
fn shown(name: &str) -> String {
    let head: String = name.chars().take(64).collect();
    let more = if head.len() < name.len() { "…" } else { "" };
    format!("{}{more}", head.escape_debug())
}

/// A codec is 1 to [`MAX_CODEC`] bytes: a lowercase ASCII letter, then lowercase letters, digits
/// and `.`, `_`, `+`, `-`, `/` (`cbor`, `raw`, `json`, `text/csv`, …).
pub(crate) fn check_codec(codec: &str) -> Result<(), WitError> {
    let ok = !codec.is_empty()
        && codec.len() <= MAX_CODEC
        && codec.starts_with(|c: char| c.is_ascii_lowercase())
        && codec
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._+-/".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(WitError::Invalid(format!(
            "`{}` is not a valid codec: it must be 1 to {MAX_CODEC} bytes, start with a lowercase \
             letter and hold only lowercase letters, digits and `.`, `_`, `+`, `-`, `/` \
             (`cbor` and `raw` are the standard ones)",
            shown(codec)
        )))
    }
}

impl Host for TaskState {
    fn list(&mut self) -> wasmtime::Result<Vec<ArtifactInfo>> {
        let io = self.io()?;
        io.reads.view_list(io.view.iter());
        Ok(io.view.iter().map(|(n, r)| info(n, r)).collect())
    }

    fn get(&mut self, name: String) -> WitResult<WitValue> {
        let room = self.limiter.room();
        let io = self.io()?;
        io.reads.view_get(&name, io.view.get(&name));
        if let Ok(r) = io.lookup(&name, None) {
            io.check_fits(&name, r.size, room)?;
        }
        Ok(io.lookup(&name, None).and_then(|r| {
            let bytes = io
                .cas
                .get_artifact(r)
                .map_err(|e| read_err(&name, None, e))?;
            Ok(WitValue {
                codec: r.codec.clone(),
                bytes,
            })
        }))
    }

    fn put(&mut self, name: String, value: WitValue) -> WitResult<()> {
        let io = self.io()?;
        if let Err(e) = io
            .check_name(&name)
            .and_then(|()| check_codec(&value.codec))
        {
            return Ok(Err(e));
        }
        io.charge_entry(&name, &value.codec)?;
        io.charge(value.bytes.len() as u64)?;
        match io.cas.put_artifact(&value.bytes, &value.codec) {
            Ok(r) => {
                io.reads.put(&name, io.view.get(&name));
                io.view.insert(name, r);
                Ok(Ok(()))
            }
            Err(e) => Ok(Err(store_err(e))),
        }
    }

    fn input_count(&mut self) -> wasmtime::Result<u32> {
        let io = self.io()?;
        io.reads.input_count(io.input.inputs.len());
        Ok(io.input.inputs.len() as u32)
    }

    fn input_step(&mut self, index: u32) -> WitResult<String> {
        let io = self.io()?;
        io.reads
            .input_touched(index, input_artifacts(&io.input, index));
        Ok(io
            .input_view(index)
            .map(|_| io.input.inputs[index as usize].step.to_string()))
    }

    fn list_input(&mut self, index: u32) -> WitResult<Vec<ArtifactInfo>> {
        let io = self.io()?;
        io.reads
            .input_list(index, input_artifacts(&io.input, index));
        Ok(io
            .input_view(index)
            .map(|v| v.iter().map(|(n, r)| info(n, r)).collect()))
    }

    fn get_input(&mut self, index: u32, name: String) -> WitResult<WitValue> {
        let room = self.limiter.room();
        let io = self.io()?;
        io.reads
            .input_get(index, input_artifacts(&io.input, index), &name);
        if let Ok(r) = io.lookup(&name, Some(index)) {
            io.check_fits(&name, r.size, room)?;
        }
        Ok(io.lookup(&name, Some(index)).and_then(|r| {
            let step = &io.input.inputs[index as usize].step;
            let bytes = io
                .cas
                .get_artifact(r)
                .map_err(|e| read_err(&name, Some((index, step)), e))?;
            Ok(WitValue {
                codec: r.codec.clone(),
                bytes,
            })
        }))
    }

    fn open_reader(
        &mut self,
        name: String,
        input: Option<u32>,
    ) -> WitResult<Resource<ArtifactReader>> {
        let io = self.io()?;
        match input {
            None => io.reads.view_get(&name, io.view.get(&name)),
            Some(i) => io.reads.input_get(i, input_artifacts(&io.input, i), &name),
        }
        let opened = io.lookup(&name, input).and_then(|r| {
            let input = input.map(|i| (i, io.input.inputs[i as usize].step.to_string()));
            let reader = io
                .cas
                .reader(r)
                .map_err(|e| read_err(&name, input.as_ref().map(|(i, s)| (*i, s.as_str())), e))?;
            Ok(ArtifactReader {
                name: name.clone(),
                input,
                reader,
                size: r.size,
                codec: r.codec.clone(),
            })
        });
        match opened {
            Ok(r) => {
                self.open_handle(&name, "reader")?;
                Ok(Ok(self.table.push(r)?))
            }
            Err(e) => Ok(Err(e)),
        }
    }

    fn open_writer(&mut self, name: String, codec: String) -> WitResult<Resource<ArtifactWriter>> {
        let io = self.io()?;
        if let Err(e) = io.check_name(&name).and_then(|()| check_codec(&codec)) {
            return Ok(Err(e));
        }
        io.charge_entry(&name, &codec)?;
        self.open_handle(&name, "writer")?;
        match self.io()?.cas.writer() {
            Ok(w) => Ok(Ok(self.table.push(ArtifactWriter {
                name,
                codec,
                writer: Some(w),
            })?)),
            Err(e) => {
                self.io()?.open_handles -= 1;
                Ok(Err(store_err(e)))
            }
        }
    }
}

/// Largest chunk one `read` call returns, whatever the guest asks for.
const MAX_READ: u64 = 16 << 20;

impl HostReader for TaskState {
    fn size(&mut self, r: Resource<ArtifactReader>) -> wasmtime::Result<u64> {
        Ok(self.table.get(&r)?.size)
    }

    fn codec(&mut self, r: Resource<ArtifactReader>) -> wasmtime::Result<String> {
        Ok(self.table.get(&r)?.codec.clone())
    }

    fn read(&mut self, r: Resource<ArtifactReader>, max: u64) -> WitResult<Vec<u8>> {
        let reader = self.table.get_mut(&r)?;
        // Filled straight from the store, never zeroed first; the piece then goes once into the
        // guest's memory.
        let mut buf = Vec::new();
        match reader
            .reader
            .read_into(&mut buf, max.min(MAX_READ) as usize)
        {
            Ok(_) => Ok(Ok(buf)),
            Err(e) => {
                let input = reader.input.as_ref().map(|(i, s)| (*i, s.as_str()));
                Ok(Err(read_err(&reader.name, input, e)))
            }
        }
    }

    fn drop(&mut self, r: Resource<ArtifactReader>) -> wasmtime::Result<()> {
        self.table.delete(r)?;
        self.closed_handle();
        Ok(())
    }
}

/// `writer.write` of both contract versions, defined over the generated one: the guest's bytes
/// are hashed and written straight from its memory, where the generated binding first copies
/// them into a new `Vec` (for a 100 MiB value, 100 MiB copied and as many page faults for
/// nothing).
pub(crate) fn write_in_place_to_linker(linker: &mut Linker<TaskState>) -> wasmtime::Result<()> {
    linker.instance("wflow:flow/artifacts@0.1.0")?.func_wrap(
        "[method]writer.write",
        |store, (w, bytes): (Resource<ArtifactWriter>, WasmList<u8>)| {
            Ok((write_in_place(store, &w, &bytes)?,))
        },
    )?;
    linker.instance("wflow:flow/artifacts@0.2.0")?.func_wrap(
        "[method]writer.write",
        |store, (w, bytes): (Resource<ArtifactWriter>, WasmList<u8>)| {
            Ok((write_in_place(store, &w, &bytes)?.map_err(crate::host::v0_2::error),))
        },
    )?;
    Ok(())
}

/// Writes `bytes`, still in the guest's memory, to writer `w`.
fn write_in_place(
    mut store: StoreContextMut<'_, TaskState>,
    w: &Resource<ArtifactWriter>,
    bytes: &WasmList<u8>,
) -> WitResult<()> {
    store.data_mut().io()?.charge(bytes.len() as u64)?;
    let writer = store.data_mut().table.get_mut(w)?;
    let Some(mut inner) = writer.writer.take() else {
        return Ok(Err(WitError::Invalid(format!(
            "writer of `{}` is already finished",
            writer.name
        ))));
    };
    // Out of the table while the guest's memory is borrowed; put back whatever happens.
    let written = inner.write_all(bytes.as_le_slice(&store));
    store.data_mut().table.get_mut(w)?.writer = Some(inner);
    Ok(written.map_err(store_err))
}

impl HostWriter for TaskState {
    fn write(&mut self, w: Resource<ArtifactWriter>, bytes: Vec<u8>) -> WitResult<()> {
        self.io()?.charge(bytes.len() as u64)?;
        let writer = self.table.get_mut(&w)?;
        let Some(inner) = writer.writer.as_mut() else {
            return Ok(Err(WitError::Invalid(format!(
                "writer of `{}` is already finished",
                writer.name
            ))));
        };
        Ok(inner.write_all(&bytes).map_err(store_err))
    }

    fn finish(&mut self, w: Resource<ArtifactWriter>) -> WitResult<u64> {
        let writer = self.table.get_mut(&w)?;
        let Some(inner) = writer.writer.take() else {
            return Ok(Err(WitError::Invalid(format!(
                "writer of `{}` is already finished",
                writer.name
            ))));
        };
        let (name, codec) = (writer.name.clone(), writer.codec.clone());
        match inner.finish(&codec) {
            Ok(r) => {
                let size = r.size;
                let io = self.io()?;
                io.reads.put(&name, io.view.get(&name));
                io.view.insert(name, r);
                Ok(Ok(size))
            }
            Err(e) => Ok(Err(store_err(e))),
        }
    }

    fn drop(&mut self, w: Resource<ArtifactWriter>) -> wasmtime::Result<()> {
        self.table.delete(w)?;
        self.closed_handle();
        Ok(())
    }
}

impl TaskState {
    /// Counts one more open reader or writer; past `max_open_artifacts` the attempt fails (the
    /// task holding them, not its neighbours, which would otherwise run out of file handles).
    fn open_handle(&mut self, name: &str, kind: &str) -> wasmtime::Result<()> {
        let io = self.io()?;
        let max = io.input.sandbox.max_open_artifacts;
        if io.open_handles >= max {
            return Err(wasmtime::Error::new(LimitExceeded {
                limit: "max_open_artifacts".into(),
                value: max.to_string(),
                detail: format!(
                    ": the task already holds {max} open artifact readers and writers and opened \
                     a {kind} of `{}`; drop the ones it no longer needs",
                    shown(name)
                ),
            }));
        }
        io.open_handles += 1;
        Ok(())
    }
}

impl TaskState {
    fn closed_handle(&mut self) {
        if let Some(io) = self.task.as_mut() {
            io.open_handles = io.open_handles.saturating_sub(1);
        }
    }
}

impl crate::bindings::types::Host for TaskState {}
