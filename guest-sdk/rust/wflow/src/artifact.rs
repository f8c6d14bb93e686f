//! Artifacts: named values a task reads from its input and keeps for the next steps.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::fmt;
use std::io;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec::{CBOR, RAW};
use crate::host;
use crate::{Error, ErrorKind, ParamSpec, Result};

/// Size of the pieces [`ArtifactReader`] and [`ArtifactWriter`] move across the host boundary.
pub const CHUNK_SIZE: usize = 4 << 20;

/// Where a field handle reads from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// The task's own view: its input's artifacts (for a join, those all inputs agree on) plus its
    /// own puts. Only handles bound here are saved after the step.
    Task,
    /// Input `i` of a join step.
    Input(u32),
}

impl Source {
    fn input(self) -> Option<u32> {
        match self {
            Source::Task => None,
            Source::Input(i) => Some(i),
        }
    }
}

/// Facts about an artifact, without its value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArtifactInfo {
    /// Its name.
    pub name: String,
    /// Size of its encoded bytes.
    pub size: u64,
    /// Its codec.
    pub codec: String,
}

/// A field of a flow struct: [`Param`](crate::Param), [`Artifact`] or [`RawArtifact`].
///
/// `#[wflow::flow]` binds every field with [`bind`](Field::bind), collects parameter specs with
/// [`param_spec`](Field::param_spec) and, after a step returns `Ok`, calls [`save`](Field::save) on
/// every field of the task's own struct.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a field of a flow struct",
    note = "each field is a `wflow::Param<T>`, a `wflow::Artifact<T>` or a `wflow::RawArtifact`"
)]
pub trait Field: Sized {
    /// A handle on the field `name`, reading from `source`.
    fn bind(name: &'static str, source: Source) -> Self;

    /// Puts the value if the step changed it. Does nothing by default.
    fn save(&mut self) -> Result<()> {
        Ok(())
    }

    /// The parameter this field declares, if it is one. `None` by default.
    fn param_spec(
        name: &'static str,
        default: Option<&'static str>,
        help: &'static str,
    ) -> Option<ParamSpec> {
        let _ = (name, default, help);
        None
    }
}

/// A typed artifact, stored with the CBOR codec.
///
/// The value is loaded from the host on the first [`get`](Artifact::get) and cached. Only an
/// artifact that the step [`set`](Artifact::set)s or changes through
/// [`get_mut`](Artifact::get_mut) is put after the step: the host passes every other artifact on by
/// reference, without copying it through the guest.
///
/// ```
/// # fn demo(counter: &mut wflow::Artifact<u64>) -> wflow::Result<()> {
/// let before = *counter.get()?; // loads once
/// counter.set(before + 1); // put when the step returns Ok
/// *counter.get_mut()? += 1; // changes the cached value in place
/// # Ok(())
/// # }
/// ```
pub struct Artifact<T> {
    name: Cow<'static, str>,
    source: Source,
    value: OnceCell<T>,
    dirty: bool,
}

impl<T: Serialize + DeserializeOwned> Artifact<T> {
    /// A handle on artifact `name` in the task's own view.
    pub fn new(name: impl Into<Cow<'static, str>>) -> Artifact<T> {
        Artifact::bound(name, Source::Task)
    }

    /// A handle on artifact `name` of input `index` (joins).
    pub fn from_input(name: impl Into<Cow<'static, str>>, index: u32) -> Artifact<T> {
        Artifact::bound(name, Source::Input(index))
    }

    /// A handle on artifact `name` read from `source`.
    pub fn bound(name: impl Into<Cow<'static, str>>, source: Source) -> Artifact<T> {
        Artifact {
            name: name.into(),
            source,
            value: OnceCell::new(),
            dirty: false,
        }
    }

    /// The artifact's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where the handle reads from.
    pub fn source(&self) -> Source {
        self.source
    }

    /// The value: loaded from the host on first use, then cached. An error of kind
    /// [`ErrorKind::NotFound`] if no artifact of that name is visible.
    pub fn get(&self) -> Result<&T> {
        if let Some(v) = self.value.get() {
            return Ok(v);
        }
        let v = self.load()?;
        Ok(self.value.get_or_init(|| v))
    }

    /// Like [`get`](Artifact::get), but `None` if the artifact does not exist.
    pub fn try_get(&self) -> Result<Option<&T>> {
        match self.get() {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Sets the value; it is put when the step returns `Ok`.
    pub fn set(&mut self, value: T) {
        self.value = OnceCell::from(value);
        self.dirty = true;
    }

    /// The value, loaded if needed, to change in place; it is put when the step returns `Ok`.
    pub fn get_mut(&mut self) -> Result<&mut T> {
        self.get()?;
        self.dirty = true;
        Ok(self.value.get_mut().expect("loaded above"))
    }

    /// The value if it exists, else `init()`; either way it is put when the step returns `Ok`.
    pub fn get_or_insert_with(&mut self, init: impl FnOnce() -> T) -> Result<&mut T> {
        if self.try_get()?.is_none() {
            self.value = OnceCell::from(init());
        }
        self.dirty = true;
        Ok(self.value.get_mut().expect("loaded or set above"))
    }

    /// True if this task set or changed the value (it will be put).
    pub fn is_set(&self) -> bool {
        self.dirty
    }

    /// True if the value is in guest memory (loaded or set).
    pub fn is_loaded(&self) -> bool {
        self.value.get().is_some()
    }

    /// Puts the value now if it was set or changed, and marks it clean. The code generated by
    /// `#[wflow::steps]` calls this after the step returns `Ok`; call it yourself only in
    /// hand-written flows.
    pub fn save(&mut self) -> Result<()> {
        if !self.dirty {
            return Ok(());
        }
        if self.source != Source::Task {
            return Err(Error::new(
                ErrorKind::Invalid,
                format_args!("artifact `{}` of a join input cannot be put", self.name),
            ));
        }
        let value = self.value.get().expect("a dirty artifact holds a value");
        let mut bytes = crate::encode(value)
            .map_err(|e| e.context(format_args!("artifact `{}`", self.name)))?;
        host::put(&self.name, CBOR, &mut bytes).map_err(|e| {
            Error::from(e).context(format_args!("putting artifact `{}`", self.name))
        })?;
        self.dirty = false;
        Ok(())
    }

    fn load(&self) -> Result<T> {
        let value = host::get_value(&self.name, self.source.input())?;
        value
            .decode()
            .map_err(|e| e.context(format_args!("artifact `{}`", self.name)))
    }
}

impl<T: Serialize + DeserializeOwned> Field for Artifact<T> {
    fn bind(name: &'static str, source: Source) -> Self {
        Artifact::bound(name, source)
    }

    fn save(&mut self) -> Result<()> {
        Artifact::save(self)
    }
}

impl<T: fmt::Debug> fmt::Debug for Artifact<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Artifact")
            .field("name", &self.name)
            .field("source", &self.source)
            .field("value", &self.value.get())
            .field("set", &self.dirty)
            .finish()
    }
}

/// An artifact of plain bytes, stored with the `raw` codec.
///
/// Small values go through [`get`](RawArtifact::get) and [`set`](RawArtifact::set) like
/// [`Artifact`]. Large ones stream: [`reader`](RawArtifact::reader) and
/// [`writer`](RawArtifact::writer) move them in pieces of [`CHUNK_SIZE`], so they never need to fit
/// in guest memory at once.
///
/// ```
/// use std::io::{Read, Write};
/// # fn demo(blob: &mut wflow::RawArtifact) -> wflow::Result<()> {
/// let mut w = blob.writer()?;
/// w.write_all(b"many bytes")?;
/// let size = w.finish()?; // stored now
/// let mut text = String::new();
/// blob.reader()?.read_to_string(&mut text)?;
/// # Ok(())
/// # }
/// ```
pub struct RawArtifact {
    name: Cow<'static, str>,
    source: Source,
    value: OnceCell<Vec<u8>>,
    /// Codec of the loaded value (`raw` once set).
    codec: OnceCell<String>,
    dirty: bool,
}

impl RawArtifact {
    /// A handle on artifact `name` in the task's own view.
    pub fn new(name: impl Into<Cow<'static, str>>) -> RawArtifact {
        RawArtifact::bound(name, Source::Task)
    }

    /// A handle on artifact `name` of input `index` (joins).
    pub fn from_input(name: impl Into<Cow<'static, str>>, index: u32) -> RawArtifact {
        RawArtifact::bound(name, Source::Input(index))
    }

    /// A handle on artifact `name` read from `source`.
    pub fn bound(name: impl Into<Cow<'static, str>>, source: Source) -> RawArtifact {
        RawArtifact {
            name: name.into(),
            source,
            value: OnceCell::new(),
            codec: OnceCell::new(),
            dirty: false,
        }
    }

    /// The artifact's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where the handle reads from.
    pub fn source(&self) -> Source {
        self.source
    }

    /// All the bytes, loaded on first use and cached (the stored bytes, whatever their codec).
    pub fn get(&self) -> Result<&[u8]> {
        if let Some(v) = self.value.get() {
            return Ok(v);
        }
        let v = host::get_value(&self.name, self.source.input())?;
        let _ = self.codec.set(v.codec);
        Ok(self.value.get_or_init(|| v.bytes))
    }

    /// The codec of the value: `raw` once set in this step, else the stored one (loads the value
    /// if needed).
    pub fn codec(&self) -> Result<&str> {
        self.get()?;
        Ok(self.codec.get().map(String::as_str).unwrap_or(RAW))
    }

    /// Like [`get`](RawArtifact::get), but `None` if the artifact does not exist.
    pub fn try_get(&self) -> Result<Option<&[u8]>> {
        match self.get() {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Sets the bytes; they are put when the step returns `Ok`.
    pub fn set(&mut self, bytes: Vec<u8>) {
        self.value = OnceCell::from(bytes);
        self.codec = OnceCell::from(RAW.to_string());
        self.dirty = true;
    }

    /// The bytes, loaded if needed, to change in place; put when the step returns `Ok`.
    pub fn get_mut(&mut self) -> Result<&mut Vec<u8>> {
        self.get()?;
        self.dirty = true;
        self.codec = OnceCell::from(RAW.to_string());
        Ok(self.value.get_mut().expect("loaded above"))
    }

    /// True if this task set or changed the bytes with `set` or `get_mut` (they will be put).
    pub fn is_set(&self) -> bool {
        self.dirty
    }

    /// Reads the bytes piece by piece. Bytes set in this step and not yet put are read from memory.
    pub fn reader(&self) -> Result<ArtifactReader<'_>> {
        if let Some(bytes) = self.value.get() {
            return Ok(ArtifactReader {
                inner: ReaderInner::Memory(bytes),
                size: bytes.len() as u64,
                codec: self.codec.get().cloned().unwrap_or_else(|| RAW.to_string()),
            });
        }
        let r = host::open_reader(&self.name, self.source.input()).map_err(|e| {
            let e = Error::from(e);
            if e.is_not_found() {
                Error::new(
                    ErrorKind::NotFound,
                    format_args!("artifact `{}` not found", self.name),
                )
            } else {
                e.context(format_args!("opening artifact `{}`", self.name))
            }
        })?;
        Ok(ArtifactReader {
            size: r.size(),
            codec: r.codec(),
            inner: ReaderInner::Host {
                reader: r,
                chunk: Vec::new(),
                pos: 0,
                done: false,
            },
        })
    }

    /// Starts writing the artifact piece by piece with the `raw` codec; it is stored when
    /// [`ArtifactWriter::finish`] is called (a writer dropped unfinished stores nothing). Any value
    /// [`set`](RawArtifact::set) before is forgotten; a `set` after the writer is put after the step
    /// and so replaces what the writer stored.
    pub fn writer(&mut self) -> Result<ArtifactWriter> {
        self.value = OnceCell::new();
        self.codec = OnceCell::new();
        self.dirty = false;
        if self.source != Source::Task {
            return Err(Error::new(
                ErrorKind::Invalid,
                format_args!("artifact `{}` of a join input cannot be written", self.name),
            ));
        }
        ArtifactWriter::open(&self.name, RAW)
    }

    /// Puts the bytes now if they were set or changed, and marks them clean (called by the
    /// generated code after the step returns `Ok`).
    pub fn save(&mut self) -> Result<()> {
        if !self.dirty {
            return Ok(());
        }
        if self.source != Source::Task {
            return Err(Error::new(
                ErrorKind::Invalid,
                format_args!("artifact `{}` of a join input cannot be put", self.name),
            ));
        }
        let bytes = self
            .value
            .get_mut()
            .expect("a dirty artifact holds a value");
        host::put(&self.name, RAW, bytes).map_err(|e| {
            Error::from(e).context(format_args!("putting artifact `{}`", self.name))
        })?;
        self.dirty = false;
        Ok(())
    }
}

impl Field for RawArtifact {
    fn bind(name: &'static str, source: Source) -> Self {
        RawArtifact::bound(name, source)
    }

    fn save(&mut self) -> Result<()> {
        RawArtifact::save(self)
    }
}

impl fmt::Debug for RawArtifact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawArtifact")
            .field("name", &self.name)
            .field("source", &self.source)
            .field("len", &self.value.get().map(Vec::len))
            .field("set", &self.dirty)
            .finish()
    }
}

fn io_error(e: impl Into<Error>) -> io::Error {
    io::Error::other(e.into())
}

/// Reads an artifact piece by piece: implements [`io::Read`] and [`io::BufRead`].
pub struct ArtifactReader<'a> {
    inner: ReaderInner<'a>,
    size: u64,
    codec: String,
}

enum ReaderInner<'a> {
    Memory(&'a [u8]),
    Host {
        reader: host::Reader,
        chunk: Vec<u8>,
        pos: usize,
        done: bool,
    },
}

impl ArtifactReader<'_> {
    /// Total size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The value's codec.
    pub fn codec(&self) -> &str {
        &self.codec
    }
}

impl io::BufRead for ArtifactReader<'_> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        match &mut self.inner {
            ReaderInner::Memory(bytes) => Ok(bytes),
            ReaderInner::Host {
                reader,
                chunk,
                pos,
                done,
            } => {
                if *pos >= chunk.len() && !*done {
                    *chunk = reader.read(CHUNK_SIZE as u64).map_err(io_error)?;
                    *pos = 0;
                    *done = chunk.is_empty();
                }
                Ok(&chunk[*pos..])
            }
        }
    }

    fn consume(&mut self, amt: usize) {
        match &mut self.inner {
            ReaderInner::Memory(bytes) => *bytes = &bytes[amt.min(bytes.len())..],
            ReaderInner::Host { chunk, pos, .. } => *pos = (*pos + amt).min(chunk.len()),
        }
    }
}

impl io::Read for ArtifactReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = io::BufRead::fill_buf(self)?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        io::BufRead::consume(self, n);
        Ok(n)
    }
}

/// Writes an artifact piece by piece: implements [`io::Write`]. Nothing is visible until
/// [`finish`](ArtifactWriter::finish).
pub struct ArtifactWriter {
    name: String,
    writer: host::Writer,
    buf: Vec<u8>,
    written: u64,
}

impl ArtifactWriter {
    /// Starts writing artifact `name` with `codec` in the task's own view.
    pub fn open(name: &str, codec: &str) -> Result<ArtifactWriter> {
        let writer = host::open_writer(name, codec).map_err(|e| {
            Error::from(e).context(format_args!("opening artifact `{name}` for writing"))
        })?;
        Ok(ArtifactWriter {
            name: name.to_string(),
            writer,
            buf: Vec::new(),
            written: 0,
        })
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    fn send(&mut self, bytes: &[u8]) -> Result<()> {
        self.writer
            .write(bytes)
            .map_err(|e| Error::from(e).context(format_args!("writing artifact `{}`", self.name)))
    }

    fn send_buffer(&mut self) -> Result<()> {
        if !self.buf.is_empty() {
            let buf = std::mem::take(&mut self.buf);
            self.send(&buf)?;
            self.buf = buf;
            self.buf.clear();
        }
        Ok(())
    }

    /// Stores the value under the writer's name and returns its size in bytes.
    pub fn finish(mut self) -> Result<u64> {
        self.send_buffer()?;
        let name = std::mem::take(&mut self.name);
        self.writer
            .finish()
            .map_err(|e| Error::from(e).context(format_args!("finishing artifact `{name}`")))
    }
}

impl io::Write for ArtifactWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if self.buf.is_empty() && bytes.len() >= CHUNK_SIZE {
            // A whole chunk or more: send it as it is, without copying.
            let n = bytes.len().min(4 * CHUNK_SIZE);
            self.send(&bytes[..n]).map_err(io_error)?;
            self.written += n as u64;
            return Ok(n);
        }
        if self.buf.capacity() == 0 {
            self.buf.reserve_exact(CHUNK_SIZE);
        }
        let n = (CHUNK_SIZE - self.buf.len()).min(bytes.len());
        self.buf.extend_from_slice(&bytes[..n]);
        self.written += n as u64;
        if self.buf.len() == CHUNK_SIZE {
            self.send_buffer().map_err(io_error)?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_buffer().map_err(io_error)
    }
}

impl fmt::Debug for ArtifactWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArtifactWriter")
            .field("name", &self.name)
            .field("written", &self.written)
            .finish()
    }
}
