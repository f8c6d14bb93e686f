//! Conversion of the guest's WIT `flow-spec` into the host's [`wflow_core::FlowSpec`].

use wflow_core::{Capabilities, DirGrant, FlowSpec, ParamSpec, ParamType, StepSpec, Transition};

use crate::bindings::types as wit;

pub(crate) fn from_wit(s: wit::FlowSpec) -> FlowSpec {
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
    StepSpec {
        name: s.name,
        doc: s.doc,
        transition: match s.transition {
            wit::Transition::End => Transition::End,
            wit::Transition::Next(v) => Transition::Next(v),
            wit::Transition::Foreach(t) => Transition::Foreach(t),
        },
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
        },
    }
}
