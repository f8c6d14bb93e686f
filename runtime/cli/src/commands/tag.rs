//! `wflow tag`: put labels on runs, take them off, list them (`wflow runs --tag T` finds runs by
//! them).

use std::process::ExitCode;

use anyhow::Result;

use super::inspect::open_client;
use crate::output::{Printer, shown};
use crate::settings::Settings;

#[derive(clap::Args, Debug)]
pub struct TagArgs {
    #[command(subcommand)]
    pub command: TagCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum TagCommand {
    /// Add tags to a run.
    Add {
        /// The run: `Flow/run` (or `Flow/latest`).
        run: String,
        /// The tags (any text without control characters, up to 256 bytes).
        #[arg(required = true)]
        tags: Vec<String>,
    },
    /// Remove tags from a run (a tag the run does not have is ignored).
    Remove {
        /// The run: `Flow/run` (or `Flow/latest`).
        run: String,
        /// The tags.
        #[arg(required = true)]
        tags: Vec<String>,
    },
    /// List a run's tags, or, without a run, every tag and how many runs have it.
    List {
        /// The run: `Flow/run` (or `Flow/latest`).
        run: Option<String>,
    },
}

pub fn execute(args: TagArgs, settings: &Settings, printer: &Printer) -> Result<ExitCode> {
    let client = open_client(settings)?;
    let meta = client.metadata();
    match args.command {
        TagCommand::Add { run, tags } => {
            let run = client.run(&run)?;
            let added = meta.add_tags(run.id(), &tags)?;
            report(
                printer,
                &run.pathspec(),
                &meta.tags(run.id())?,
                added,
                "added",
            );
        }
        TagCommand::Remove { run, tags } => {
            let run = client.run(&run)?;
            let removed = meta.remove_tags(run.id(), &tags)?;
            report(
                printer,
                &run.pathspec(),
                &meta.tags(run.id())?,
                removed,
                "removed",
            );
        }
        TagCommand::List { run: Some(run) } => {
            let run = client.run(&run)?;
            if printer.json() {
                printer.value(&run.tags());
            } else {
                for t in run.tags() {
                    printer.line(shown(t));
                }
            }
        }
        TagCommand::List { run: None } => {
            let tags = meta.all_tags()?;
            if printer.json() {
                let list: Vec<_> = tags
                    .iter()
                    .map(|(tag, runs)| serde_json::json!({ "tag": tag, "runs": runs }))
                    .collect();
                printer.value(&list);
            } else {
                let width = tags
                    .iter()
                    .map(|(t, _)| shown(t).chars().count())
                    .max()
                    .unwrap_or(0);
                for (tag, runs) in tags {
                    let s = if runs == 1 { "" } else { "s" };
                    printer.line(format!("{:<width$}  {runs} run{s}", shown(&tag)));
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn report(printer: &Printer, run: &str, tags: &[String], changed: usize, verb: &str) {
    if printer.json() {
        printer.value(&serde_json::json!({ "run": run, "tags": tags, verb: changed }));
    } else {
        let now = if tags.is_empty() {
            "no tags".to_string()
        } else {
            tags.join(", ")
        };
        printer.line(format!(
            "{}: {} ({changed} {verb})",
            shown(run),
            shown(&now)
        ));
    }
}
