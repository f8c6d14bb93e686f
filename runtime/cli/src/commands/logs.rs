//! `wflow logs`: stdout and stderr of a task's attempt.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use wflow_core::Pathspec;

use super::lookup::Records;
use crate::exit::BadInput;
use crate::output::Printer;
use crate::settings::Settings;

#[derive(clap::Args, Debug)]
pub struct LogsArgs {
    /// The task: `Flow/run/step/task`.
    pub pathspec: String,
    /// Only stdout.
    #[arg(long, conflicts_with = "stderr")]
    pub stdout: bool,
    /// Only stderr.
    #[arg(long)]
    pub stderr: bool,
    /// Which attempt (default: the latest).
    #[arg(long)]
    pub attempt: Option<u32>,
}

pub fn execute(args: LogsArgs, settings: &Settings, printer: &Printer) -> Result<ExitCode> {
    let p: Pathspec = args.pathspec.parse()?;
    let records = Records::open(settings)?;
    let task = records.task(&p)?;
    let attempts = records.meta.attempts(&task.run_id, task.task_id)?;
    let attempt = match args.attempt {
        Some(n) => attempts.iter().find(|a| a.attempt == n).ok_or_else(|| {
            BadInput(format!(
                "task {p} has no attempt {n}; it has {} attempt(s) from 0",
                attempts.len()
            ))
        })?,
        None => attempts
            .last()
            .ok_or_else(|| BadInput(format!("task {p} has not started an attempt")))?,
    };
    let read = |d: &Option<wflow_core::Digest>| -> Result<Vec<u8>> {
        Ok(match d {
            Some(d) => records.cas.get(d)?,
            None => Vec::new(),
        })
    };
    let (out, err) = (read(&attempt.stdout)?, read(&attempt.stderr)?);
    if printer.json() {
        printer.value(&serde_json::json!({
            "pathspec": p.to_string(),
            "attempt": attempt.attempt,
            "stdout": String::from_utf8_lossy(&out),
            "stderr": String::from_utf8_lossy(&err),
        }));
        return Ok(ExitCode::SUCCESS);
    }
    let mut w = std::io::stdout().lock();
    if !args.stderr {
        w.write_all(&out)?;
    }
    if !args.stdout {
        w.write_all(&err)?;
    }
    Ok(ExitCode::SUCCESS)
}
