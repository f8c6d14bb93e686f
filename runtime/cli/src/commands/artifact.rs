//! `wflow artifact get`: read an artifact of a task, printed as JSON or written raw to a file.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use wflow_core::Pathspec;

use super::lookup::Records;
use crate::exit::BadInput;
use crate::output::Printer;
use crate::settings::Settings;

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
    },
}

pub fn execute(args: ArtifactArgs, settings: &Settings, printer: &Printer) -> Result<ExitCode> {
    let ArtifactCommand::Get { pathspec, output } = args.command;
    let p: Pathspec = pathspec.parse()?;
    let (Some(run), Some(step), Some(task), Some(name)) = (&p.run, &p.step, &p.task, &p.artifact)
    else {
        return Err(BadInput(format!(
            "`{p}`: an artifact is addressed as Flow/run/step/task/name"
        ))
        .into());
    };
    let records = Records::open(settings)?;
    let task_rec = records.task(&p)?;
    let Some(manifest) = task_rec.manifest else {
        return Err(BadInput(format!(
            "task `{}/{run}/{step}/{task}` has no artifacts: it did not succeed",
            p.flow
        ))
        .into());
    };
    let cas = &records.cas;
    let manifest = cas.get_manifest(&manifest)?;
    let Some(r) = manifest.artifacts.get(name) else {
        let names: Vec<&str> = manifest.artifacts.keys().map(String::as_str).collect();
        return Err(BadInput(format!(
            "task `{}/{run}/{step}/{task}` has no artifact `{name}`; it has: {}",
            p.flow,
            names.join(", ")
        ))
        .into());
    };
    let bytes = cas
        .get_artifact(r)
        .with_context(|| format!("reading artifact {p}"))?;
    if let Some(out) = output {
        std::fs::write(&out, &bytes).with_context(|| format!("writing {}", out.display()))?;
        printer.note(format!(
            "wrote {} bytes ({}) to {}",
            bytes.len(),
            r.codec,
            out.display()
        ));
        return Ok(ExitCode::SUCCESS);
    }
    match r.codec.as_str() {
        "cbor" => {
            let value: ciborium::Value = ciborium::from_reader(bytes.as_slice())
                .with_context(|| format!("artifact {p} is not valid CBOR"))?;
            printer.value(&cbor_to_json(value));
        }
        other => {
            printer.value(&serde_json::json!({
                "codec": other, "size": r.size, "digest": r.digest,
                "hint": "use --output FILE to write the bytes",
            }));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// CBOR as JSON: byte strings become `{"$bytes": "<hex>"}`, non-text map keys their JSON text.
pub fn cbor_to_json(v: ciborium::Value) -> serde_json::Value {
    use ciborium::Value as C;
    use serde_json::Value as J;
    match v {
        C::Null => J::Null,
        C::Bool(b) => J::Bool(b),
        C::Integer(i) => {
            let i = i128::from(i);
            i64::try_from(i)
                .map(J::from)
                .or_else(|_| u64::try_from(i).map(J::from))
                .unwrap_or_else(|_| J::String(i.to_string()))
        }
        C::Float(f) => serde_json::Number::from_f64(f)
            .map(J::Number)
            .unwrap_or_else(|| J::String(f.to_string())),
        C::Text(s) => J::String(s),
        C::Bytes(b) => {
            let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
            serde_json::json!({ "$bytes": hex })
        }
        C::Array(a) => J::Array(a.into_iter().map(cbor_to_json).collect()),
        C::Map(m) => J::Object(
            m.into_iter()
                .map(|(k, v)| {
                    let key = match k {
                        C::Text(s) => s,
                        other => cbor_to_json(other).to_string(),
                    };
                    (key, cbor_to_json(v))
                })
                .collect(),
        ),
        C::Tag(_, inner) => cbor_to_json(*inner),
        _ => J::Null,
    }
}
