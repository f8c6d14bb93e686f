//! `wflow artifact`: read an artifact of a task (printed as JSON or written raw to a file), or
//! list a task's artifacts.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};

use super::inspect::{open_client, preview, size};
use crate::output::Printer;
use crate::settings::Settings;

/// About how many bytes of JSON `get` prints of a value without `--full`.
const PREVIEW_BYTES: usize = 1 << 20;

#[derive(clap::Args, Debug)]
pub struct ArtifactArgs {
    #[command(subcommand)]
    pub command: ArtifactCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum ArtifactCommand {
    /// Print an artifact's value as JSON (CBOR values) or write its bytes to a file.
    Get {
        /// `Flow/run/step/task/name`.
        pathspec: String,
        /// Write the raw encoded bytes to this file instead of printing.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Print all of a large value (by default about the first MiB of JSON is printed).
        #[arg(long)]
        full: bool,
    },
    /// List a task's artifacts: name, codec, size (and the value of small CBOR ones).
    List {
        /// `Flow/run/step/task`.
        pathspec: String,
    },
}

pub fn execute(args: ArtifactArgs, settings: &Settings, printer: &Printer) -> Result<ExitCode> {
    let client = open_client(settings)?;
    match args.command {
        ArtifactCommand::Get {
            pathspec,
            output,
            full,
        } => {
            let artifact = client.artifact(&pathspec)?;
            if let Some(out) = output {
                let mut reader = artifact.reader()?;
                let mut file = std::fs::File::create(&out)
                    .with_context(|| format!("cannot create {}", out.display()))?;
                if let Err(e) = std::io::copy(&mut reader, &mut file) {
                    drop(file);
                    let _ = std::fs::remove_file(&out);
                    let reason = match wflow_store::StoreError::from_io(&e) {
                        Some(store) => store.to_string(),
                        None => e.to_string(),
                    };
                    anyhow::bail!(
                        "cannot write artifact {} to {} (the file was removed): {reason}",
                        artifact.pathspec(),
                        out.display()
                    );
                }
                printer.note(format!(
                    "wrote {} bytes ({}) to {}",
                    artifact.size(),
                    artifact.codec(),
                    out.display()
                ));
                return Ok(ExitCode::SUCCESS);
            }
            if artifact.codec() == "cbor" && full {
                printer.value(&artifact.value()?);
            } else if artifact.codec() == "cbor" {
                let preview = artifact.preview(PREVIEW_BYTES)?;
                printer.value(&preview.value);
                if preview.truncated {
                    // On stderr even with --json: the JSON on stdout is not the whole value.
                    eprintln!(
                        "note: {} is larger than shown ({} bytes of CBOR; parts past the first \
                         MiB of JSON are marked `…`): `--full` prints all of it, `--output FILE` \
                         writes its raw bytes",
                        artifact.pathspec(),
                        artifact.size()
                    );
                }
            } else {
                printer.value(&serde_json::json!({
                    "codec": artifact.codec(), "size": artifact.size(), "digest": artifact.digest(),
                    "hint": "use --output FILE to write the bytes",
                }));
            }
        }
        ArtifactCommand::List { pathspec } => {
            let task = client.task(&pathspec)?;
            let artifacts = task.artifacts()?;
            if printer.json() {
                let list: Vec<serde_json::Value> = artifacts
                    .iter()
                    .map(|a| {
                        let mut v = serde_json::to_value(a.info()).expect("plain data");
                        if let Some(value) = preview(a) {
                            v["value"] = value;
                        }
                        v
                    })
                    .collect();
                printer.value(&list);
            } else {
                let width = artifacts.iter().map(|a| a.name().len()).max().unwrap_or(0);
                let codecs = artifacts.iter().map(|a| a.codec().len()).max().unwrap_or(0);
                for a in &artifacts {
                    let value = preview(a)
                        .map(|v| super::inspect::clip(&v.to_string(), 60))
                        .unwrap_or_default();
                    printer.line(format!(
                        "{:<width$}  {:<codecs$}  {:>9}  {value}",
                        a.name(),
                        a.codec(),
                        size(a.size())
                    ));
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
