//! `wflow runs`: list runs, newest first.

use std::process::ExitCode;

use anyhow::Result;
use wflow_metadata::Metadata;

use crate::output::Printer;
use crate::settings::Settings;

#[derive(clap::Args, Debug)]
pub struct RunsArgs {
    /// Only runs of this flow.
    pub flow: Option<String>,
}

pub fn execute(args: RunsArgs, settings: &Settings, printer: &Printer) -> Result<ExitCode> {
    let path = settings.metadata_path();
    if !path.exists() {
        if printer.json() {
            printer.value(&serde_json::json!([]));
        } else {
            printer.line(format!("no runs yet in {}", settings.store.display()));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let meta = Metadata::open(&path)?;
    let runs = meta.runs(args.flow.as_deref())?;
    if printer.json() {
        printer.value(&runs);
        return Ok(ExitCode::SUCCESS);
    }
    for r in runs {
        let secs = r
            .finished_ms
            .map(|f| format!("{:.2} s", (f - r.started_ms) as f64 / 1000.0))
            .unwrap_or_default();
        printer.line(format!(
            "{}/{}  {:<9}  {secs}",
            r.flow,
            r.run_id,
            r.status.as_str()
        ));
    }
    Ok(ExitCode::SUCCESS)
}
