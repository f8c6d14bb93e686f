//! The administrator's policy: which capabilities steps may be granted (for every flow, or per
//! flow), the ceilings for memory, time, CPU, logs, artifacts and foreach width, and the defaults
//! a step gets when it does not say.
//!
//! A policy is one TOML file (see `docs/policy.md` for every key). [`Policy::resolve`] checks a
//! flow's spec against it *before anything runs* and either returns each step's [`Sandbox`] or
//! every [`Violation`], each naming the step and the capability or limit. This crate does no
//! sandboxing itself: the engine enforces the [`Sandbox`] it is given.
//!
//! ```
//! use wflow_core::{FlowSpec, StepSpec, Transition};
//! use wflow_policy::Policy;
//! let policy = Policy::parse("[limits]\nmax_memory_mb = 512\n", "inline").unwrap();
//! let mut start = StepSpec::new("start", Transition::Next(vec!["end".into()]));
//! start.memory_mb = Some(1024);
//! let spec = FlowSpec { name: "F".into(), doc: String::new(), parameters: vec![],
//!     steps: vec![start, StepSpec::new("end", Transition::End)] };
//! let err = policy.resolve(&spec, std::path::Path::new(".")).unwrap_err();
//! assert!(err.to_string().contains("step `start`: memory 1024 MiB is above the policy's ceiling of 512 MiB"));
//! ```
#![deny(missing_docs)]

mod file;
mod resolve;
mod step;
mod target;
mod violation;

pub use file::{
    DirRule, FlowRules, Grants, Limits, Policy, PolicyError, RetentionRules, SecretRule,
    StepDefaults,
};
pub use target::Target;
pub use violation::{Violation, Violations};
pub use wflow_core::Sandbox;
