//! Runs steps natively, without a wflow host, for unit tests (not on wasm32).
//!
//! [`MockTask`] plays the host for one task: it holds the parameters, the inherited artifacts, the
//! join inputs and the foreach item, runs one step of a [`Flow`], and returns what the step put and
//! declared as a [`MockOutcome`].
//!
//! ```
//! use wflow::{Artifact, Param, Result};
//! use wflow::testing::MockTask;
//!
//! /// Doubles a number.
//! #[wflow::flow]
//! struct Double {
//!     /// The number.
//!     #[param(default = 21)]
//!     x: Param<i64>,
//!     doubled: Artifact<i64>,
//! }
//!
//! #[wflow::steps]
//! impl Double {
//!     #[step(next = "end")]
//!     fn start(&mut self) -> Result<()> {
//!         self.doubled.set(self.x.get()? * 2);
//!         Ok(())
//!     }
//!
//!     #[step]
//!     fn end(&mut self) -> Result<()> {
//!         println!("{}", self.doubled.get()?);
//!         Ok(())
//!     }
//! }
//!
//! let out = MockTask::new("start").run::<Double>().unwrap();
//! assert_eq!(out.get::<i64>("doubled").unwrap(), 42);
//! let out = MockTask::new("start").param("x", 5).run::<Double>().unwrap();
//! assert_eq!(out.get::<i64>("doubled").unwrap(), 10);
//! ```

use std::cell::RefCell;
use std::collections::BTreeMap;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Error, ErrorKind, Flow, ParamType, ParamValue, Result, Value};

/// One task to run against an in-process stand-in for the host.
#[derive(Clone, Debug)]
pub struct MockTask {
    state: State,
}

#[derive(Clone, Debug, Default)]
struct State {
    flow_name: String,
    run_id: String,
    step_name: String,
    task_id: String,
    attempt: u32,
    params: BTreeMap<String, ParamValue>,
    foreach_path: Vec<u32>,
    item: Option<Value>,
    previous_step: String,
    view: BTreeMap<String, Value>,
    inputs: Vec<(String, BTreeMap<String, Value>)>,
    puts: BTreeMap<String, Value>,
    put_order: Vec<String>,
    items: Option<Vec<Value>>,
    reads: Vec<String>,
    read_chunk: usize,
    error: Option<Error>,
    /// The step's switch choices (from the spec) and the one it made.
    choices: Vec<String>,
    next: Option<String>,
    secrets: BTreeMap<String, Vec<u8>>,
}

impl MockTask {
    /// A task of `step` with no parameters given, no artifacts and no inputs.
    pub fn new(step: &str) -> MockTask {
        MockTask {
            state: State {
                run_id: "mock-run".into(),
                step_name: step.into(),
                task_id: "1".into(),
                previous_step: "start".into(),
                read_chunk: usize::MAX,
                ..State::default()
            },
        }
    }

    /// Gives a parameter (others get their defaults).
    pub fn param(mut self, name: &str, value: impl Into<ParamValue>) -> MockTask {
        self.state.params.insert(name.into(), value.into());
        self
    }

    /// Adds an inherited artifact, encoded as CBOR.
    pub fn artifact<T: Serialize + ?Sized>(mut self, name: &str, value: &T) -> MockTask {
        match Value::cbor(value) {
            Ok(v) => {
                self.state.view.insert(name.into(), v);
            }
            Err(e) => self.state.error = Some(e),
        }
        self
    }

    /// Adds an inherited artifact of raw bytes.
    pub fn raw_artifact(mut self, name: &str, bytes: impl Into<Vec<u8>>) -> MockTask {
        self.state
            .view
            .insert(name.into(), Value::raw(bytes.into()));
        self
    }

    /// Adds a join input produced by `step`. The artifacts all inputs agree on become visible in
    /// the task's own view too, as the host does.
    pub fn input(mut self, step: &str, input: MockInput) -> MockTask {
        if let Some(e) = input.error {
            self.state.error = Some(e);
        }
        self.state.inputs.push((step.into(), input.artifacts));
        self
    }

    /// Makes the task one of a foreach: its item (CBOR) and its index.
    pub fn item<T: Serialize + ?Sized>(mut self, index: u32, item: &T) -> MockTask {
        match Value::cbor(item) {
            Ok(v) => self.state.item = Some(v),
            Err(e) => self.state.error = Some(e),
        }
        self.state.foreach_path.push(index);
        self
    }

    /// Sets the attempt number (0 by default).
    pub fn attempt(mut self, attempt: u32) -> MockTask {
        self.state.attempt = attempt;
        self
    }

    /// Names the step that produced the input of a plain (non-join) task (`start` by default).
    pub fn previous_step(mut self, step: &str) -> MockTask {
        self.state.previous_step = step.into();
        self
    }

    /// Gives the step the secret `name` (it must also ask for it in its spec).
    pub fn secret(mut self, name: &str, value: impl Into<Vec<u8>>) -> MockTask {
        self.state.secrets.insert(name.into(), value.into());
        self
    }

    /// Makes readers return at most `bytes` per host read, to exercise chunk boundaries.
    pub fn read_chunk(mut self, bytes: usize) -> MockTask {
        self.state.read_chunk = bytes.max(1);
        self
    }

    /// Runs the task's step of flow `F`: fills in parameter defaults from `F::spec()`, runs the
    /// step, and returns what it put and declared. An error if the step fails.
    pub fn run<F: Flow>(self) -> Result<MockOutcome> {
        let mut state = self.state;
        if let Some(e) = state.error.take() {
            return Err(e);
        }
        let spec = F::spec();
        state.flow_name = spec.name.clone();
        for name in state.params.keys() {
            if !spec.parameters.iter().any(|p| &p.name == name) {
                return Err(Error::msg(format_args!(
                    "flow {} has no parameter `{name}`",
                    spec.name
                )));
            }
        }
        for p in &spec.parameters {
            if state.params.contains_key(&p.name) {
                continue;
            }
            let text = p.default.as_deref().ok_or_else(|| {
                Error::msg(format_args!("missing required parameter `{}`", p.name))
            })?;
            state
                .params
                .insert(p.name.clone(), parse_param(&p.name, p.ty, text)?);
        }
        if !state.inputs.is_empty() {
            let (_, first) = &state.inputs[0];
            for (name, value) in first {
                if state.inputs.iter().all(|(_, a)| a.get(name) == Some(value)) {
                    state
                        .view
                        .entry(name.clone())
                        .or_insert_with(|| value.clone());
                }
            }
        }
        let step = state.step_name.clone();
        if let Some(s) = spec.get_step(&step) {
            if let crate::Transition::Switch { choices, .. } = &s.transition {
                state.choices = choices.clone();
            }
            // As the host does: a step is given only the secrets it asks for.
            state
                .secrets
                .retain(|name, _| s.capabilities.secrets.contains(name));
        }
        TASK.with(|t| *t.borrow_mut() = Some(state));
        struct Clear;
        impl Drop for Clear {
            fn drop(&mut self) {
                TASK.with(|t| t.borrow_mut().take());
            }
        }
        let clear = Clear;
        crate::card::clear();
        let result = F::run_step(&step).and_then(|()| crate::card::save());
        crate::card::clear();
        let state = TASK
            .with(|t| t.borrow_mut().take())
            .expect("mock state is set");
        drop(clear);
        result?;
        if !state.choices.is_empty() && state.next.is_none() {
            return Err(Error::msg(format_args!(
                "switch step `{step}` finished without choosing its successor: call \
                 `wflow::next` with one of {:?}",
                state.choices
            )));
        }
        Ok(MockOutcome {
            puts: state.puts,
            put_order: state.put_order,
            items: state.items,
            reads: state.reads,
            next: state.next,
        })
    }
}

/// The artifacts of one join input, for [`MockTask::input`].
#[derive(Clone, Debug, Default)]
pub struct MockInput {
    artifacts: BTreeMap<String, Value>,
    error: Option<Error>,
}

impl MockInput {
    /// An input with no artifacts.
    pub fn new() -> MockInput {
        MockInput::default()
    }

    /// Adds an artifact, encoded as CBOR.
    pub fn artifact<T: Serialize + ?Sized>(mut self, name: &str, value: &T) -> MockInput {
        match Value::cbor(value) {
            Ok(v) => {
                self.artifacts.insert(name.into(), v);
            }
            Err(e) => self.error = Some(e),
        }
        self
    }

    /// Adds an artifact of raw bytes.
    pub fn raw_artifact(mut self, name: &str, bytes: impl Into<Vec<u8>>) -> MockInput {
        self.artifacts.insert(name.into(), Value::raw(bytes.into()));
        self
    }
}

/// What a task run by [`MockTask::run`] left behind.
#[derive(Clone, Debug)]
pub struct MockOutcome {
    puts: BTreeMap<String, Value>,
    put_order: Vec<String>,
    items: Option<Vec<Value>>,
    reads: Vec<String>,
    next: Option<String>,
}

impl MockOutcome {
    /// The artifact `name` the step put, decoded.
    pub fn get<T: DeserializeOwned>(&self, name: &str) -> Result<T> {
        self.value(name)?.decode()
    }

    /// The bytes of artifact `name` the step put, whatever the codec.
    pub fn raw(&self, name: &str) -> Result<&[u8]> {
        Ok(&self.value(name)?.bytes)
    }

    /// The artifact `name` the step put, as stored.
    pub fn value(&self, name: &str) -> Result<&Value> {
        self.puts.get(name).ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format_args!("the step did not put `{name}`"),
            )
        })
    }

    /// Names the step put, in the order of the puts (a name put twice appears twice).
    pub fn put_names(&self) -> &[String] {
        &self.put_order
    }

    /// Names of the artifacts the step read from the host (`get`, `get-input`, `open-reader`), in
    /// order: what was loaded, not what was merely bound.
    pub fn reads(&self) -> &[String] {
        &self.reads
    }

    /// The successor a switch step chose with [`next`](crate::next).
    pub fn next(&self) -> Option<&str> {
        self.next.as_deref()
    }

    /// The foreach items the step declared, decoded, or `None` if it declared none.
    pub fn items<T: DeserializeOwned>(&self) -> Result<Option<Vec<T>>> {
        match &self.items {
            None => Ok(None),
            Some(items) => items
                .iter()
                .map(Value::decode)
                .collect::<Result<_>>()
                .map(Some),
        }
    }
}

fn parse_param(name: &str, ty: ParamType, text: &str) -> Result<ParamValue> {
    let bad = || {
        Error::msg(format_args!(
            "parameter `{name}`: `{text}` is not a valid {}",
            ty.as_str()
        ))
    };
    Ok(match ty {
        ParamType::String => ParamValue::String(text.into()),
        ParamType::Int => ParamValue::Int(text.trim().parse().map_err(|_| bad())?),
        ParamType::Float => ParamValue::Float(text.trim().parse().map_err(|_| bad())?),
        ParamType::Bool => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => ParamValue::Bool(true),
            "false" | "0" | "no" => ParamValue::Bool(false),
            _ => return Err(bad()),
        },
        ParamType::Json => ParamValue::Json(text.into()),
    })
}

thread_local! {
    static TASK: RefCell<Option<State>> = const { RefCell::new(None) };
}

fn with<R>(f: impl FnOnce(&mut State) -> R) -> R {
    TASK.with(|t| {
        let mut t = t.borrow_mut();
        let state = t.as_mut().expect(
            "wflow host functions are only available while a step runs; \
             natively, run the step with wflow::testing::MockTask",
        );
        f(state)
    })
}

pub(crate) mod host {
    //! The mock's side of `crate::host`.
    use super::{State, with};
    use crate::host::HostError;
    use crate::{ArtifactInfo, ParamValue, Value};

    fn not_found(name: &str) -> HostError {
        HostError::NotFound(name.to_string())
    }

    fn input(
        s: &State,
        index: u32,
    ) -> Result<&std::collections::BTreeMap<String, Value>, HostError> {
        if s.inputs.is_empty() {
            return if index == 0 {
                Ok(&s.view)
            } else {
                Err(HostError::Invalid(format!("input {index} out of range")))
            };
        }
        s.inputs
            .get(index as usize)
            .map(|(_, a)| a)
            .ok_or_else(|| HostError::Invalid(format!("input {index} out of range")))
    }

    fn lookup(s: &State, name: &str, index: Option<u32>) -> Result<Value, HostError> {
        match index {
            None => s
                .puts
                .get(name)
                .or_else(|| s.view.get(name))
                .cloned()
                .ok_or_else(|| not_found(name)),
            Some(i) => input(s, i)?
                .get(name)
                .cloned()
                .ok_or_else(|| not_found(name)),
        }
    }

    pub(crate) fn flow_name() -> String {
        with(|s| s.flow_name.clone())
    }
    pub(crate) fn run_id() -> String {
        with(|s| s.run_id.clone())
    }
    pub(crate) fn step_name() -> String {
        with(|s| s.step_name.clone())
    }
    pub(crate) fn task_id() -> String {
        with(|s| s.task_id.clone())
    }
    pub(crate) fn attempt() -> u32 {
        with(|s| s.attempt)
    }
    pub(crate) fn parameter(name: &str) -> Option<ParamValue> {
        with(|s| s.params.get(name).cloned())
    }
    pub(crate) fn foreach_index() -> Option<u32> {
        with(|s| s.foreach_path.last().copied())
    }
    pub(crate) fn foreach_path() -> Vec<u32> {
        with(|s| s.foreach_path.clone())
    }
    pub(crate) fn foreach_item() -> Option<Value> {
        with(|s| s.item.clone())
    }

    pub(crate) fn list(index: Option<u32>) -> Result<Vec<ArtifactInfo>, HostError> {
        with(|s| {
            let info = |(name, v): (&String, &Value)| ArtifactInfo {
                name: name.clone(),
                size: v.bytes.len() as u64,
                codec: v.codec.clone(),
            };
            Ok(match index {
                None => {
                    let mut all = s.view.clone();
                    all.extend(s.puts.iter().map(|(k, v)| (k.clone(), v.clone())));
                    all.iter().map(info).collect()
                }
                Some(i) => input(s, i)?.iter().map(info).collect(),
            })
        })
    }
    pub(crate) fn get(name: &str, index: Option<u32>) -> Result<Value, HostError> {
        with(|s| {
            let v = lookup(s, name, index)?;
            s.reads.push(name.to_string());
            Ok(v)
        })
    }
    #[allow(clippy::ptr_arg)] // the same signature as on wasm32, where the Vec is moved out and back
    pub(crate) fn put(name: &str, codec: &str, bytes: &mut Vec<u8>) -> Result<(), HostError> {
        with(|s| {
            s.puts.insert(
                name.to_string(),
                Value {
                    codec: codec.to_string(),
                    bytes: bytes.clone(),
                },
            );
            s.put_order.push(name.to_string());
            Ok(())
        })
    }
    pub(crate) fn input_count() -> u32 {
        with(|s| match (s.inputs.len(), s.step_name.as_str()) {
            (0, "start") => 0,
            (0, _) => 1,
            (n, _) => n as u32,
        })
    }
    pub(crate) fn input_step(index: u32) -> Result<String, HostError> {
        with(|s| {
            input(s, index)?;
            Ok(if s.inputs.is_empty() {
                s.previous_step.clone()
            } else {
                s.inputs[index as usize].0.clone()
            })
        })
    }
    pub(crate) fn declare_items(items: Vec<Value>) -> Result<(), HostError> {
        with(|s| {
            s.items = Some(items);
            Ok(())
        })
    }

    pub(crate) fn next(step: &str) -> Result<(), HostError> {
        with(|s| {
            let refused = if s.choices.is_empty() {
                Some(format!(
                    "step `{}` is not a switch step; only a step whose transition is `switch` \
                     may choose its successor",
                    s.step_name
                ))
            } else if !s.choices.iter().any(|c| c == step) {
                Some(format!(
                    "`{step}` is not a choice of switch step `{}`: it may choose {:?}",
                    s.step_name, s.choices
                ))
            } else {
                None
            };
            match refused {
                Some(m) => Err(HostError::Invalid(m)),
                None => {
                    s.next = Some(step.to_string());
                    Ok(())
                }
            }
        })
    }
    pub(crate) fn secret(name: &str) -> Result<Vec<u8>, HostError> {
        with(|s| {
            s.secrets.get(name).cloned().ok_or_else(|| {
                HostError::NotFound(format!(
                    "step `{}` was given no secret `{name}`: a step reads only the secrets it \
                     asks for (`secrets = [\"{name}\"]`)",
                    s.step_name
                ))
            })
        })
    }

    /// A reader over a copy of the value.
    pub(crate) struct Reader {
        value: Value,
        pos: usize,
        chunk: usize,
    }

    impl Reader {
        pub(crate) fn size(&self) -> u64 {
            self.value.bytes.len() as u64
        }
        pub(crate) fn codec(&self) -> String {
            self.value.codec.clone()
        }
        pub(crate) fn read(&mut self, max: u64) -> Result<Vec<u8>, HostError> {
            let max = usize::try_from(max).unwrap_or(usize::MAX).min(self.chunk);
            let end = self.pos.saturating_add(max).min(self.value.bytes.len());
            let out = self.value.bytes[self.pos..end].to_vec();
            self.pos = end;
            Ok(out)
        }
    }

    pub(crate) fn open_reader(name: &str, index: Option<u32>) -> Result<Reader, HostError> {
        with(|s| {
            let value = lookup(s, name, index)?;
            s.reads.push(name.to_string());
            Ok(Reader {
                value,
                pos: 0,
                chunk: s.read_chunk,
            })
        })
    }

    /// A writer that puts its bytes on `finish`.
    pub(crate) struct Writer {
        name: String,
        codec: String,
        bytes: Vec<u8>,
    }

    impl Writer {
        pub(crate) fn write(&mut self, bytes: &[u8]) -> Result<(), HostError> {
            self.bytes.extend_from_slice(bytes);
            Ok(())
        }
        pub(crate) fn finish(self) -> Result<u64, HostError> {
            let size = self.bytes.len() as u64;
            let mut bytes = self.bytes;
            put(&self.name, &self.codec, &mut bytes)?;
            Ok(size)
        }
    }

    pub(crate) fn open_writer(name: &str, codec: &str) -> Result<Writer, HostError> {
        with(|_| ());
        Ok(Writer {
            name: name.to_string(),
            codec: codec.to_string(),
            bytes: Vec::new(),
        })
    }
}
