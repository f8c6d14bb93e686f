//! `wflow build`: turn a flow's sources into components — a Rust crate (cargo), a Python or
//! JavaScript flow (componentize-py, componentize-js), or every component of a polyglot flow's
//! manifest. Prints the component file(s).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;

use crate::componentize::Form;
use crate::output::Printer;
use crate::settings::Settings;
use crate::source::{Built, Source};

#[derive(clap::Args, Debug)]
pub struct BuildArgs {
    /// A guest crate directory, a Python (`.py`, or a directory with `flow.py`) or JavaScript
    /// (`.js`, or a directory with `flow.js`) flow, or a polyglot flow's `wflow.toml`.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Build Python flows in full (componentize-py imports the flow's module at build time), as
    /// for `--compute batch` and `wflow deploy`, rather than in the quick form (the flow's sources
    /// written into a base component built once; see docs/polyglot.md).
    #[arg(long)]
    pub full: bool,
}

pub fn execute(args: BuildArgs, settings: &Settings, printer: &Printer) -> Result<ExitCode> {
    let form = if args.full { Form::Full } else { Form::Quick };
    let built = crate::source::build(&args.dir, settings, printer, form)?;
    // A quick-form Python flow's module runs only when the component loads: load it, so that a
    // module that does not import or a malformed flow class fails the build, as in full. (Its
    // compiled code is cached for the run that follows.)
    let quick: Vec<(&Path, &Path)> = match &built {
        Built::Single(wasm) => match Source::detect(&args.dir)?.quick_python(form) {
            Some(_) => vec![(args.dir.as_path(), wasm.as_path())],
            None => vec![],
        },
        Built::Polyglot(manifest, files) => manifest
            .components
            .iter()
            .zip(files)
            .filter_map(|(c, w)| c.source.quick_python(form).map(|p| (p, w.as_path())))
            .collect(),
    };
    if !quick.is_empty() {
        let policy = settings.policy()?;
        let engine = super::engine(settings, &policy, 1)?;
        for (source, wasm) in quick {
            let component = super::load_component(&engine, wasm, settings)
                .map_err(|e| crate::quick::explain_load(e.into(), source))?;
            super::warn(printer, &component);
        }
    }
    match built {
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
