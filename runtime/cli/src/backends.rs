//! Where artifacts and records go: the store and records that the global flags, `WFLOW_*`
//! variables and the config file name, resolved and opened by `wflow-config` (shared with the
//! Python package; its docs tell the precedence and the config file's tables).

use std::sync::Arc;

use anyhow::{Context, Result};
use wflow_store::BlobStore;

use crate::cli::GlobalArgs;
use crate::exit::BadInput;
use crate::settings::Settings;

pub use wflow_config::{Backend, config_file, config_file_table};

/// The explicit part of the settings: the global flags (clap has read their variables).
pub fn args(global: &GlobalArgs) -> wflow_config::StoreArgs {
    wflow_config::StoreArgs {
        store: global.store.clone(),
        s3_endpoint: global.s3_endpoint.clone(),
        s3_region: global.s3_region.clone(),
        s3_path_style: global.s3_path_style,
        s3_checksums: global.s3_checksums.clone(),
        s3_profile: global.s3_profile.clone(),
        metadata: global.metadata.clone(),
    }
}

/// Settings mistakes are bad input (exit code 2); the rest keeps its chain of causes.
fn cli_error(e: wflow_config::ConfigError) -> anyhow::Error {
    match e {
        wflow_config::ConfigError::Settings(m) => BadInput(m).into(),
        other => other.into(),
    }
}

/// Opens the store the settings name. With `existing`, a store without records yet gives `None`
/// and nothing is created.
pub fn open(settings: &Settings, existing: bool) -> Result<Option<Backend>> {
    wflow_config::open(&settings.location, existing).map_err(cli_error)
}

/// The blobs of the store the settings name, whatever holds the records (`wflow server --ui`
/// reads records through its own API with each caller's token).
pub fn open_blobs(settings: &Settings) -> Result<Arc<dyn BlobStore>> {
    wflow_config::open_blobs(&settings.location)
        .map_err(cli_error)?
        .with_context(|| format!("no store at {}", settings.store_label()))
}
