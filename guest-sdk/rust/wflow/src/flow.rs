//! The traits a flow implements, join inputs, foreach items and the export.

use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::host;
use crate::{Artifact, ArtifactInfo, Error, ErrorKind, FlowSpec, ParamSpec, RawArtifact, Result};
use crate::{Source, Value};

/// A flow: its spec and the code of its steps. `#[wflow::steps]` implements it; a hand-written flow
/// implements it directly and exports it with [`export_flow!`](crate::export_flow).
pub trait Flow {
    /// The flow's spec. Must not depend on parameters or the environment.
    fn spec() -> FlowSpec;

    /// Runs one task of `step`.
    fn run_step(step: &str) -> Result<()>;
}

/// A struct whose fields are parameters and artifacts; `#[wflow::flow]` implements it.
pub trait FlowFields: Sized {
    /// The flow's name.
    const NAME: &'static str;

    /// The flow's documentation.
    const DOC: &'static str;

    /// Binds every field to `source`.
    fn bind(source: Source) -> Self;

    /// Puts every artifact the step set or changed.
    fn save(&mut self) -> Result<()>;

    /// The parameters the fields declare.
    fn parameters() -> Vec<ParamSpec>;
}

/// The inputs of a join step, one per branch or foreach item, each read separately.
///
/// `Inputs<F>` yields the flow struct `F` bound to each input: its fields read that input's
/// artifacts. Artifacts all inputs agree on are also visible in the join's own view.
///
/// ```
/// # #[wflow::flow] struct Sum { part: wflow::Artifact<i64>, total: wflow::Artifact<i64> }
/// # impl Sum {
/// fn join(&mut self, inputs: wflow::Inputs<Self>) -> wflow::Result<()> {
///     let mut total = 0;
///     for input in inputs.iter() {
///         total += *input.part.get()?;
///     }
///     self.total.set(total);
///     Ok(())
/// }
/// # }
/// ```
pub struct Inputs<F = ()> {
    count: u32,
    _flow: PhantomData<fn() -> F>,
}

impl<F> Inputs<F> {
    /// The inputs of the running task.
    pub fn new() -> Inputs<F> {
        Inputs {
            count: host::input_count(),
            _flow: PhantomData,
        }
    }

    /// Number of inputs.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// True if there are no inputs.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Name of the step that produced input `index`.
    pub fn step_of(&self, index: usize) -> Result<String> {
        Ok(host::input_step(self.index(index)?)?)
    }

    /// Artifacts of input `index`.
    pub fn artifacts_of(&self, index: usize) -> Result<Vec<ArtifactInfo>> {
        host::list_infos(Some(self.index(index)?))
    }

    /// A handle on artifact `name` of input `index`.
    pub fn artifact<T: Serialize + DeserializeOwned>(
        &self,
        index: usize,
        name: &str,
    ) -> Result<Artifact<T>> {
        Ok(Artifact::from_input(name.to_string(), self.index(index)?))
    }

    /// A handle on raw artifact `name` of input `index`.
    pub fn raw_artifact(&self, index: usize, name: &str) -> Result<RawArtifact> {
        Ok(RawArtifact::from_input(
            name.to_string(),
            self.index(index)?,
        ))
    }

    fn index(&self, index: usize) -> Result<u32> {
        match u32::try_from(index) {
            Ok(i) if i < self.count => Ok(i),
            _ => Err(Error::new(
                ErrorKind::Invalid,
                format_args!(
                    "input {index} out of range: this task has {} inputs",
                    self.count
                ),
            )),
        }
    }
}

impl<F> Default for Inputs<F> {
    fn default() -> Self {
        Inputs::new()
    }
}

impl<F: FlowFields> Inputs<F> {
    /// The flow struct bound to input `index`, or `None` if out of range.
    pub fn get(&self, index: usize) -> Option<F> {
        let i = self.index(index).ok()?;
        Some(F::bind(Source::Input(i)))
    }

    /// The flow struct bound to each input in turn.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = F> + use<F> {
        (0..self.count).map(|i| F::bind(Source::Input(i)))
    }
}

impl<F> std::fmt::Debug for Inputs<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inputs").field("len", &self.count).finish()
    }
}

/// A field that holds the items of a foreach step: `#[step(foreach = "…", items = "field")]`
/// declares each element as one item after the step returns `Ok`.
#[diagnostic::on_unimplemented(
    message = "`items = \"…\"` must name a field of type `Artifact<Vec<T>>`, not `{Self}`",
    label = "the foreach items come from this field"
)]
pub trait ForeachItems {
    /// The items, one encoded value each.
    fn foreach_values(&self) -> Result<Vec<Value>>;
}

impl<T: Serialize + DeserializeOwned> ForeachItems for Artifact<Vec<T>> {
    fn foreach_values(&self) -> Result<Vec<Value>> {
        self.get()?.iter().map(Value::cbor).collect()
    }
}

impl<T: Serialize> ForeachItems for [T] {
    fn foreach_values(&self) -> Result<Vec<Value>> {
        self.iter().map(Value::cbor).collect()
    }
}

impl<T: Serialize> ForeachItems for Vec<T> {
    fn foreach_values(&self) -> Result<Vec<Value>> {
        self.iter().map(Value::cbor).collect()
    }
}

/// Declares the items of the running foreach step, each encoded as CBOR: one task of the target
/// step runs per item and reads it with [`current::input`](crate::current::input). Call it once,
/// in a step whose transition is `foreach`; a later call replaces the items.
pub fn foreach_items<T: Serialize>(items: &[T]) -> Result<()> {
    declare_values(items.foreach_values()?)
}

/// Declares already encoded foreach items.
pub fn declare_values(items: Vec<Value>) -> Result<()> {
    host::declare_items(items).map_err(|e| Error::from(e).context("declaring foreach items"))
}

/// Converts what a step method returns into a step result: `()` or any `Result<(), E>` whose error
/// converts into [`Error`].
#[diagnostic::on_unimplemented(
    message = "a step returns `wflow::Result<()>` (or `()`), not `{Self}`",
    label = "this step's return type"
)]
pub trait IntoStepResult {
    /// The conversion.
    fn into_step_result(self) -> Result<()>;
}

impl IntoStepResult for () {
    fn into_step_result(self) -> Result<()> {
        Ok(())
    }
}

impl<E: Into<Error>> IntoStepResult for std::result::Result<(), E> {
    fn into_step_result(self) -> Result<()> {
        self.map_err(Into::into)
    }
}
