//! `wflow build`: compile a guest crate into a flow component.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use crate::output::Printer;

#[derive(clap::Args, Debug)]
pub struct BuildArgs {
    /// The guest crate directory.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
}

pub fn execute(args: BuildArgs, printer: &Printer) -> Result<ExitCode> {
    let wasm = crate::build::build_crate(&args.dir, printer.json())?;
    if printer.json() {
        printer.value(&serde_json::json!({ "component": wasm }));
    } else {
        printer.line(wasm.display().to_string());
    }
    Ok(ExitCode::SUCCESS)
}
