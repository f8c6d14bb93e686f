//! Write [wflow](https://github.com/wflow-dev/wflow) flows in Rust.
//!
//! A flow is a graph of steps. Each step runs as a WebAssembly component in the wflow sandbox,
//! reads the artifacts its input left, and keeps new ones for the next steps. This crate is what a
//! flow's crate (a `cdylib` built for `wasm32-wasip2`) depends on.
//!
//! # A flow
//!
//! A struct marked [`#[wflow::flow]`](macro@flow) holds the flow's parameters ([`Param`]) and
//! artifacts ([`Artifact`], [`RawArtifact`]); an `impl` block marked [`#[wflow::steps]`](macro@steps)
//! holds its steps. The flow's name is the struct's name, its doc the struct's doc comment.
//!
//! ```
//! use wflow::{Artifact, Inputs, Param, Result};
//!
//! /// Squares some numbers in parallel and adds them up.
//! #[wflow::flow]
//! struct SumOfSquares {
//!     /// How many numbers.
//!     #[param(default = 10)]
//!     n: Param<i64>,
//!     /// A greeting shown at the end.
//!     #[param(default = "done")]
//!     message: Param<String>,
//!     nums: Artifact<Vec<i64>>,
//!     square: Artifact<i64>,
//!     total: Artifact<i64>,
//! }
//!
//! #[wflow::steps]
//! impl SumOfSquares {
//!     /// Makes the numbers 1..=n.
//!     #[step(foreach = "square", items = "nums")]
//!     fn start(&mut self) -> Result<()> {
//!         let n = self.n.get()?;
//!         wflow::ensure!(n >= 0, "n must not be negative, got {n}");
//!         self.nums.set((1..=n).collect());
//!         Ok(())
//!     }
//!
//!     /// Squares one number (one task per item of `nums`).
//!     #[step(next = "sum", retries = 2, timeout = 60)]
//!     fn square(&mut self) -> Result<()> {
//!         let x: i64 = wflow::current::input()?;
//!         self.square.set(x * x);
//!         Ok(())
//!     }
//!
//!     /// Adds the squares up.
//!     #[step(join, next = "end")]
//!     fn sum(&mut self, inputs: Inputs<Self>) -> Result<()> {
//!         let mut total = 0;
//!         for input in inputs.iter() {
//!             total += *input.square.get()?;
//!         }
//!         self.total.set(total);
//!         Ok(())
//!     }
//!
//!     /// Prints the total.
//!     #[step]
//!     fn end(&mut self) -> Result<()> {
//!         println!("{}: {}", self.message.get()?, self.total.get()?);
//!         Ok(())
//!     }
//! }
//! # // Natively, the steps run against a stand-in for the host:
//! # use wflow::testing::{MockInput, MockTask};
//! # let out = MockTask::new("start").param("n", 3).run::<SumOfSquares>().unwrap();
//! # assert_eq!(out.items::<i64>().unwrap(), Some(vec![1, 2, 3]));
//! # let out = MockTask::new("square").item(1, &2i64).run::<SumOfSquares>().unwrap();
//! # assert_eq!(out.get::<i64>("square").unwrap(), 4);
//! # let out = MockTask::new("sum")
//! #     .input("square", MockInput::new().artifact("square", &1i64))
//! #     .input("square", MockInput::new().artifact("square", &4i64))
//! #     .run::<SumOfSquares>()
//! #     .unwrap();
//! # assert_eq!(out.get::<i64>("total").unwrap(), 5);
//! ```
//!
//! Build it with `cargo build --target wasm32-wasip2 --release` (or `wflow build`) and run it with
//! `wflow run path/to/crate -p n=100`.
//!
//! # Steps
//!
//! `#[step(…)]` marks a method as a step; the step's doc comment becomes its doc. Every step takes
//! `&mut self` (a join also takes [`Inputs<Self>`]) and returns [`Result<()>`].
//!
//! | attribute | meaning |
//! | --- | --- |
//! | `next = "b"` | then step `b` |
//! | `next = ["b", "c"]` | then `b` and `c` in parallel (a branch, joined later) |
//! | `foreach = "b", items = "field"` | one task of `b` per element of the `Artifact<Vec<T>>` field |
//! | `join` | joins a branch or foreach: takes `inputs: wflow::Inputs<Self>` |
//! | *(none of the above)* | ends the flow: only `end` |
//! | `retries = 2`, `timeout = 60`, `memory = 256`, `cpu = 1` | extra attempts, seconds, MiB, CPUs |
//! | `catch = "name"` | on final failure, store the error as artifact `name` ([`Caught`]) and go on |
//! | `switch = ["b", "c"]` | then `b` or `c`, as the step chooses with [`next`] (contract 0.2) |
//! | `switch = ["body", "end"], max_iterations = 10` | a loop back to the earlier step `body`, at most 10 times |
//! | `compute = "name"`, `env = ["VAR"]`, `network = ["host:443"]`, `clock`, `random` | placement and capabilities |
//! | `secrets = ["db_password"]` | secrets the step reads with [`secret`] (the host's policy says where each comes from) |
//!
//! # Artifacts
//!
//! Inside a step, the struct's fields are bound to the task: [`Artifact::get`] loads a value from
//! the host on first use, [`Artifact::set`] and [`Artifact::get_mut`] change it. After the step
//! returns `Ok`, only the artifacts it set or changed are put; the host passes every other one on
//! by reference. [`RawArtifact`] holds plain bytes and streams them with
//! [`reader`](RawArtifact::reader) and [`writer`](RawArtifact::writer). Values are encoded as CBOR
//! ([`encode`], [`decode`]) with serde.
//!
//! A step that returns `Err` fails with the error's message; a panic fails it too (the panic
//! message goes to stderr, which the host keeps as the task's log, like everything printed with
//! `println!` and `eprintln!`).
//!
//! # Without macros
//!
//! A flow can be written by hand: implement [`Flow`] (its spec built with [`FlowSpec`] and
//! [`StepSpec`]; steps use [`Artifact::new`], [`Param::new`], [`Inputs`], [`foreach_items`]; call
//! [`Artifact::save`] on what a step set) and export it with [`export_flow!`].
//!
//! ```
//! use wflow::{Artifact, Flow, FlowSpec, Result, StepSpec};
//!
//! struct Tiny;
//!
//! impl Flow for Tiny {
//!     fn spec() -> FlowSpec {
//!         FlowSpec::new("Tiny")
//!             .step(StepSpec::new("start").next("end"))
//!             .step(StepSpec::new("end"))
//!     }
//!
//!     fn run_step(step: &str) -> Result<()> {
//!         let mut x = Artifact::<u32>::new("x");
//!         match step {
//!             "start" => x.set(7),
//!             "end" => println!("x = {}", x.get()?),
//!             other => wflow::bail!("no step {other}"),
//!         }
//!         x.save()
//!     }
//! }
//!
//! wflow::export_flow!(Tiny);
//! ```
//!
//! # Testing natively
//!
//! On targets other than wasm32, `wflow::testing::MockTask` stands in for the host, so
//! `cargo test` can run single steps.
#![deny(missing_docs)]

extern crate self as wflow;

mod artifact;
pub mod card;
pub mod codec;
mod control;
pub mod current;
mod error;
mod flow;
mod host;
mod param;
mod spec;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

pub use artifact::{
    Artifact, ArtifactInfo, ArtifactReader, ArtifactWriter, CHUNK_SIZE, Field, RawArtifact, Source,
};
pub use codec::{Bytes, Value, decode, encode};
pub use control::{next, secret, secret_bytes};
pub use error::{Caught, Context, Error, ErrorKind, Result};
pub use flow::{
    Flow, FlowFields, ForeachItems, Inputs, IntoStepResult, declare_values, foreach_items,
};
#[cfg(feature = "json")]
pub use param::Json;
pub use param::{Param, ParamKind, ParamType, ParamValue};
pub use spec::{Capabilities, DirGrant, FlowSpec, ParamSpec, StepSpec, Transition};

/// Declares a flow's fields: put it on a struct with named fields, each a [`Param`], an
/// [`Artifact`] or a [`RawArtifact`].
///
/// The flow is named after the struct (or `#[wflow::flow(name = "Other")]`) and documented by its
/// doc comment. A parameter field takes `#[param(default = <literal>, help = "…")]`: without a
/// default the parameter is required, and the help defaults to the field's doc comment.
/// Implements [`FlowFields`].
pub use wflow_macro::flow;

/// Declares a flow's steps: put it on the `impl` block of a [`#[wflow::flow]`](macro@flow)
/// struct and mark each step method with `#[step(…)]` (see the [crate docs](crate#steps)).
/// Implements [`Flow`] and exports the flow from the component (one flow per crate: a component
/// exports a single `flow` interface).
///
/// In a polyglot flow (docs/polyglot.md), `#[wflow::steps(elsewhere = ["square", "sum"])]` names
/// the steps other components provide: transitions may target them, and `start` or `end` may be
/// among them. Every other target must still be a step of the `impl` block.
pub use wflow_macro::steps;

/// The generated WIT bindings (world `step` of `wflow:flow@0.2.0`). Not a stable API.
#[doc(hidden)]
#[allow(unsafe_code, missing_docs, clippy::all)]
pub mod wit {
    wit_bindgen::generate!({
        world: "step",
        path: "wit",
        pub_export_macro: true,
        default_bindings_module: "::wflow::wit",
        runtime_path: "::wflow::wit::__rt",
    });

    #[doc(hidden)]
    pub use wit_bindgen::rt as __rt;
}

/// Exports a type that implements [`Flow`] as the component's `flow` interface.
///
/// `#[wflow::steps]` calls it for you; call it once, at the top level of the flow's crate, only for
/// a hand-written flow. On targets other than wasm32 it exports nothing.
#[macro_export]
macro_rules! export_flow {
    ($flow:ty) => {
        #[allow(unsafe_code)]
        const _: () = {
            #[doc(hidden)]
            struct __WflowExport;

            impl $crate::wit::exports::wflow::flow::flow::Guest for __WflowExport {
                fn spec() -> $crate::wit::exports::wflow::flow::flow::FlowSpec {
                    $crate::__private::spec::<$flow>()
                }

                fn run_step(
                    step: ::std::string::String,
                ) -> ::core::result::Result<(), $crate::wit::exports::wflow::flow::flow::StepError>
                {
                    $crate::__private::run_step::<$flow>(&step)
                }
            }

            #[cfg(target_arch = "wasm32")]
    $crate::wit::export!(__WflowExport with_types_in $crate::wit);
        };
    };
}

/// What the macros' expansions call. Not a stable API.
#[doc(hidden)]
pub mod __private {
    use crate::wit::exports::wflow::flow::flow as exports;
    use crate::{Flow, ForeachItems, Result};

    pub use crate::param::ParamField;

    /// The spec of `F`, as the WIT export returns it.
    pub fn spec<F: Flow>() -> exports::FlowSpec {
        crate::spec::to_wit::flow(F::spec())
    }

    /// Runs one task of `step` of `F` for the WIT export.
    pub fn run_step<F: Flow>(step: &str) -> std::result::Result<(), exports::StepError> {
        crate::card::clear();
        F::run_step(step)
            .and_then(|()| crate::card::save())
            .map_err(|e| exports::StepError {
                message: e.to_string(),
            })
    }

    /// Declares the items of a foreach step from the field named by `items = "…"`.
    pub fn declare_foreach<I: ForeachItems + ?Sized>(items: &I) -> Result<()> {
        crate::declare_values(items.foreach_values()?)
    }

    /// Compile-time check that a `#[param]` field is a parameter.
    pub const fn assert_param<P: ParamField>() {}

    /// Error for a step name the flow does not have.
    pub fn unknown_step(flow: &str, step: &str) -> crate::Error {
        crate::Error::new(
            crate::ErrorKind::Invalid,
            format_args!("flow {flow} has no step `{step}`"),
        )
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;
