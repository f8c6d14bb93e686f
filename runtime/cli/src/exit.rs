//! Exit codes: what happened, for scripts.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | the flow ran and a task failed |
//! | 2 | bad input: arguments, component, graph, parameters, pathspec, a request the metadata service refuses (403) |
//! | 3 | environment: store, metadata, build toolchain |

use std::process::ExitCode;

/// A failed run (code 1), as opposed to an error that stopped wflow before or around it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct FlowFailed(pub String);

/// Bad input from the user (code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(pub String);

/// The exit code for an error.
pub fn code_for(err: &anyhow::Error) -> ExitCode {
    if err.downcast_ref::<FlowFailed>().is_some() {
        return ExitCode::from(1);
    }
    let refused = |m: &wflow_metadata::MetadataError| {
        matches!(m, wflow_metadata::MetadataError::Denied { status: 403, .. })
    };
    let bad_input = err.chain().any(|e| {
        e.is::<BadInput>()
            || e.is::<wflow_engine::EngineError>()
            || e.is::<wflow_graph::GraphErrors>()
            || e.is::<wflow_core::ParamError>()
            || e.is::<wflow_core::PathspecError>()
            || e.is::<wflow_policy::Violations>()
            || e.is::<wflow_policy::PolicyError>()
            || e.downcast_ref::<wflow_client::ClientError>()
                .is_some_and(|c| c.is_bad_input())
            // The service refused what this user asked (another user's run, `--all`): the
            // request is the problem, not the environment. (A refused token, 401, is not.)
            || e.downcast_ref::<wflow_metadata::MetadataError>().is_some_and(refused)
            || e.downcast_ref::<wflow_client::ClientError>().is_some_and(
                |c| matches!(c, wflow_client::ClientError::Metadata(m) if refused(m)),
            )
    });
    ExitCode::from(if bad_input { 2 } else { 3 })
}
