//! The words of wflow as plain types: flow specs, parameters, digests, run ids and pathspecs.
//!
//! This crate does no I/O. Every other runtime crate speaks these types: the engine converts the
//! guest's WIT `flow-spec` into a [`FlowSpec`], the graph crate validates it, the store keys blobs by
//! [`Digest`], and the metadata and CLI address everything by [`Pathspec`].
//!
//! ```
//! use wflow_core::{Digest, Pathspec};
//! let d = Digest::of(b"hello");
//! assert_eq!(d.to_string().len(), 64);
//! let p: Pathspec = "Hello/20261128T182550-k3f9a/start/1".parse().unwrap();
//! assert_eq!(p.step.as_deref(), Some("start"));
//! ```
#![deny(missing_docs)]

mod digest;
mod ids;
pub mod names;
mod params;
pub mod reads;
mod sandbox;
mod spec;
mod text;

pub use digest::{Digest, DigestError};
pub use ids::{Pathspec, PathspecError, RunId, now_millis};
pub use params::{ParamError, parse_param, resolve_params};
pub use reads::{CacheKey, TaskReads};
pub use sandbox::{
    DEFAULT_MAX_ARTIFACTS, DEFAULT_MAX_OPEN_ARTIFACTS, DEFAULT_MEMORY_MB, Sandbox, SecretGrant,
    SecretSource,
};
pub use spec::{
    Capabilities, DirGrant, FlowSpec, ParamSpec, ParamType, ParamValue, StepSpec, Transition,
};
pub use text::{MAX_MESSAGE_CHARS, bounded};
