//! `wflow check`: validate a flow and show its graph.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use crate::componentize::Form;
use crate::output::Printer;
use crate::settings::Settings;

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// A component file (`.wasm`), a guest crate directory, a Python or JavaScript flow, or a
    /// polyglot flow's `wflow.toml`.
    pub flow: PathBuf,
    /// Print the graph in Graphviz DOT instead.
    #[arg(long)]
    pub dot: bool,
}

pub fn execute(args: CheckArgs, settings: &Settings, printer: &Printer) -> Result<ExitCode> {
    let flow = super::load_flow(&args.flow, settings, 1, printer, Form::Quick)?;
    let spec = flow.plan.spec();
    if printer.json() {
        let components: serde_json::Map<String, serde_json::Value> = flow
            .components
            .iter()
            .map(|(key, wasm, c)| {
                let steps = provided_by(&flow, key);
                let v = serde_json::json!({
                    "file": wasm,
                    "digest": c.digest(),
                    "contract": c.contract(),
                    "steps": steps,
                });
                (key.clone(), v)
            })
            .collect();
        printer.value(&serde_json::json!({
            "component": flow.components[0].1,
            "components": components,
            "digest": flow.code_digest,
            "contract": flow.components[0].2.contract(),
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
        if flow.code_record.is_some() {
            printer.line("\nComponents:");
            for (key, wasm, c) in &flow.components {
                printer.line(format!(
                    "  {key:<10} {}  ({})\n             digest {}",
                    provided_by(&flow, key).join(", "),
                    wasm.display(),
                    c.digest()
                ));
            }
        } else {
            printer.line(format!(
                "  digest {} (pin it in a policy's [flows.{}] digests to give it that flow's grants)",
                flow.components[0].2.digest(),
                spec.name
            ));
            printer.line(format!(
                "  contract wflow:flow@{}",
                flow.components[0].2.contract()
            ));
        }
        printer.line("\nGraph:");
        printer.line(flow.plan.render_text());
    }
    Ok(ExitCode::SUCCESS)
}

/// The steps component `key` provides.
fn provided_by<'a>(flow: &'a super::LoadedFlow, key: &str) -> Vec<&'a str> {
    flow.owner
        .iter()
        .filter(|(_, k)| *k == key)
        .map(|(s, _)| s.as_str())
        .collect()
}
