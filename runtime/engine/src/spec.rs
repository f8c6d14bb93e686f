//! Conversion of the guest's WIT `flow-spec` into the host's [`wflow_core::FlowSpec`], for each
//! contract version. The records 0.2.0 kept are converted by one macro for both; what 0.2.0 added
//! (the `switch` transition, `capabilities.secrets`) by 0.2.0's own functions.

use wflow_core::{Capabilities, DirGrant, FlowSpec, ParamSpec, ParamType, StepSpec, Transition};

use crate::bindings::{v0_1, v0_2};

/// `fn flow(wit::FlowSpec) -> FlowSpec` for the WIT module `$wit`, whose `transition` and
/// `secrets` functions (defined beside it) convert what differs between versions.
macro_rules! from_wit {
    ($wit:path) => {
        use $wit as wit;

        pub(crate) fn flow(s: wit::FlowSpec) -> FlowSpec {
            FlowSpec {
                name: s.name,
                doc: s.doc,
                parameters: s
                    .parameters
                    .into_iter()
                    .map(|p| ParamSpec {
                        name: p.name,
                        ty: match p.type_ {
                            wit::ParamType::String => ParamType::String,
                            wit::ParamType::Int => ParamType::Int,
                            wit::ParamType::Float => ParamType::Float,
                            wit::ParamType::Bool => ParamType::Bool,
                            wit::ParamType::Json => ParamType::Json,
                        },
                        default: p.default,
                        help: p.help,
                    })
                    .collect(),
                steps: s.steps.into_iter().map(step).collect(),
            }
        }

        fn step(s: wit::StepSpec) -> StepSpec {
            let caps = s.capabilities;
            let secrets = secrets(&caps);
            StepSpec {
                name: s.name,
                doc: s.doc,
                transition: transition(s.transition),
                join: s.join,
                retries: s.retries,
                timeout_secs: s.timeout_secs,
                memory_mb: s.memory_mb,
                cpu: s.cpu,
                catch: s.catch,
                compute: s.compute,
                capabilities: Capabilities {
                    env: caps.env,
                    dirs: caps
                        .dirs
                        .into_iter()
                        .map(|d| DirGrant {
                            host_path: d.host_path,
                            guest_path: d.guest_path,
                            writable: d.writable,
                        })
                        .collect(),
                    network: caps.network,
                    clock: caps.clock,
                    random: caps.random,
                    secrets,
                },
            }
        }
    };
}

mod v1 {
    use super::*;
    from_wit!(v0_1::wflow::flow::types);

    fn transition(t: wit::Transition) -> Transition {
        match t {
            wit::Transition::End => Transition::End,
            wit::Transition::Next(v) => Transition::Next(v),
            wit::Transition::Foreach(t) => Transition::Foreach(t),
        }
    }

    fn secrets(_: &wit::Capabilities) -> Vec<String> {
        Vec::new()
    }
}

mod v2 {
    use super::*;
    from_wit!(v0_2::wflow::flow::types);

    fn transition(t: wit::Transition) -> Transition {
        match t {
            wit::Transition::End => Transition::End,
            wit::Transition::Next(v) => Transition::Next(v),
            wit::Transition::Foreach(t) => Transition::Foreach(t),
            wit::Transition::Switch(s) => Transition::Switch {
                choices: s.choices,
                max_iterations: s.max_iterations,
            },
        }
    }

    fn secrets(caps: &wit::Capabilities) -> Vec<String> {
        caps.secrets.clone()
    }
}

pub(crate) use v1::flow as from_v0_1;
pub(crate) use v2::flow as from_v0_2;
