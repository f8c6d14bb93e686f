//! `wflow build`: turn a flow's sources into components — a Rust crate (cargo), a Python or
//! JavaScript flow (componentize-py, componentize-js), or every component of a polyglot flow's
//! manifest. Prints the component file(s).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use crate::output::Printer;
use crate::settings::Settings;
use crate::source::Built;

#[derive(clap::Args, Debug)]
pub struct BuildArgs {
    /// A guest crate directory, a Python (`.py`, or a directory with `flow.py`) or JavaScript
    /// (`.js`, or a directory with `flow.js`) flow, or a polyglot flow's `wflow.toml`.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
}

pub fn execute(args: BuildArgs, settings: &Settings, printer: &Printer) -> Result<ExitCode> {
    match crate::source::build(&args.dir, &settings.cache_dir, printer)? {
        Built::Single(wasm) => {
            if printer.json() {
                printer.value(&serde_json::json!({ "component": wasm }));
            } else {
                printer.line(wasm.display().to_string());
            }
        }
        Built::Polyglot(manifest, files) => {
            let keys = manifest.components.iter().map(|c| c.key.clone());
            if printer.json() {
                let map: serde_json::Map<String, serde_json::Value> = keys
                    .zip(files.iter().map(|f| serde_json::json!(f)))
                    .collect();
                printer.value(&serde_json::json!({ "components": map }));
            } else {
                for (key, file) in keys.zip(&files) {
                    printer.line(format!("{key}: {}", file.display()));
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
