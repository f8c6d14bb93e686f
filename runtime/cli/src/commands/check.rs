//! `wflow check`: validate a flow and show its graph.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use crate::output::Printer;
use crate::settings::Settings;

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// A component file (`.wasm`) or a guest crate directory.
    pub flow: PathBuf,
    /// Print the graph in Graphviz DOT instead.
    #[arg(long)]
    pub dot: bool,
}

pub fn execute(args: CheckArgs, settings: &Settings, printer: &Printer) -> Result<ExitCode> {
    let flow = super::load_flow(&args.flow, settings, 1, printer)?;
    let spec = flow.plan.spec();
    if printer.json() {
        printer.value(&serde_json::json!({
            "component": flow.wasm,
            "digest": flow.component.digest(),
            "spec": spec,
            "order": flow.plan.steps_in_order(),
        }));
    } else if args.dot {
        printer.line(flow.plan.to_dot());
    } else {
        printer.line(format!(
            "{} {} is valid ({} steps)",
            printer.green("✓"),
            printer.bold(&spec.name),
            spec.steps.len()
        ));
        if !spec.doc.is_empty() {
            printer.line(format!("  {}", spec.doc));
        }
        if !spec.parameters.is_empty() {
            printer.line("\nParameters:");
            for p in &spec.parameters {
                let default = p
                    .default
                    .as_deref()
                    .map(|d| format!(" = {d}"))
                    .unwrap_or_else(|| " (required)".into());
                printer.line(format!("  {} ({}){default}  {}", p.name, p.ty, p.help));
            }
        }
        printer.line("\nGraph:");
        printer.line(flow.plan.render_text());
    }
    Ok(ExitCode::SUCCESS)
}
