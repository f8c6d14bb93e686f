//! `wflow runs`: list runs, newest first, optionally of one flow, by tag or status.

use std::process::ExitCode;

use anyhow::Result;
use wflow_client::{RunFilter, Status};
use wflow_metadata::RunKind;

use super::inspect::{duration, open_existing, run_json, status_cell, time};
use crate::output::Printer;
use crate::settings::Settings;

/// How many runs are listed unless `--limit` or `--all` says otherwise.
pub const DEFAULT_LIMIT: usize = 50;

#[derive(clap::Args, Debug)]
pub struct RunsArgs {
    /// Only runs of this flow.
    pub flow: Option<String>,
    /// Only runs with this tag (repeatable: runs with every tag given).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Only runs with this status: running, succeeded or failed.
    #[arg(long)]
    pub status: Option<Status>,
    /// At most this many runs, newest first.
    #[arg(long, short = 'n', default_value_t = DEFAULT_LIMIT, conflicts_with = "all")]
    pub limit: usize,
    /// Every run; on a metadata service, every user's (needs an administrator's token: you see
    /// your own runs otherwise).
    #[arg(long)]
    pub all: bool,
}

/// What a run's tasks add up to: how many, and how many succeeded, failed, were caught, reused
/// from a resumed run's origin, or taken from the cache.
fn task_counts(
    client: &wflow_client::Client,
    run: &wflow_client::Run,
) -> Result<serde_json::Value> {
    let stats = client.metadata().step_stats(&run.record().run_id)?;
    let sum = |f: fn(&wflow_metadata::StepStats) -> u64| stats.iter().map(f).sum::<u64>();
    Ok(serde_json::json!({
        "total": sum(|s| s.tasks),
        "succeeded": sum(|s| s.succeeded),
        "failed": sum(|s| s.failed),
        "caught": sum(|s| s.caught),
        "reused": sum(|s| s.reused - s.cached),
        "cached": sum(|s| s.cached),
    }))
}

pub fn execute(args: RunsArgs, settings: &Settings, printer: &Printer) -> Result<ExitCode> {
    let Some(client) = open_existing(settings)? else {
        if printer.json() {
            printer.value(&serde_json::json!([]));
        } else {
            printer.line(format!("no runs yet in {}", settings.store_label()));
        }
        return Ok(ExitCode::SUCCESS);
    };
    if let Some(flow) = &args.flow {
        // An unknown flow is an error listing the flows there are, not an empty list.
        client.flow(flow)?;
    }
    let filter = RunFilter {
        flow: args.flow.clone(),
        tags: args.tags.clone(),
        status: args.status,
        kind: None,
        limit: (!args.all).then_some(args.limit),
        offset: 0,
        user: None,
        since_ms: None,
        until_ms: None,
        all_users: args.all,
        skip_spec: true,
    };
    let runs = client.runs(&filter)?;
    super::inspect::warn_skipped(&client, printer);
    if printer.json() {
        let mut out = Vec::with_capacity(runs.len());
        for r in &runs {
            let mut v = run_json(r);
            v["tasks"] = task_counts(&client, r)?;
            out.push(v);
        }
        printer.value(&out);
        return Ok(ExitCode::SUCCESS);
    }
    if runs.is_empty() {
        let unfiltered = filter.flow.is_none() && filter.tags.is_empty() && filter.status.is_none();
        match &settings.location.metadata {
            Ok(Some(m)) if unfiltered => {
                printer.line(format!("no runs yet in your namespace on {}", m.url))
            }
            _ => printer.line("no runs match"),
        }
        return Ok(ExitCode::SUCCESS);
    }
    let shown = crate::output::shown;
    let width = runs
        .iter()
        .map(|r| shown(&r.pathspec()).chars().count())
        .max()
        .unwrap_or(0);
    for r in &runs {
        let took = match r.duration_ms() {
            Some(ms) => duration(ms),
            None => "-".to_string(),
        };
        let mut line = format!(
            "{:<width$}  {}  {}  {:>10}",
            shown(&r.pathspec()),
            status_cell(printer, r.status(), 9),
            time(r.record().started_ms),
            took
        );
        if !r.tags().is_empty() {
            line.push_str(&format!("  [{}]", shown(&r.tags().join(", "))));
        }
        if let Some(note) = super::inspect::gone_note(r) {
            line.push_str(&format!("  ({note})"));
        }
        match (r.origin_run(), r.record().kind) {
            (Some(origin), RunKind::StepRun) => {
                line.push_str(&format!("  (step-run of {})", shown(origin)))
            }
            (Some(origin), RunKind::Run) => {
                line.push_str(&format!("  (resumes {})", shown(origin)))
            }
            (None, _) => {}
        }
        printer.line(line);
    }
    if !args.all && runs.len() == args.limit {
        let total = client.metadata().count_runs(&RunFilter {
            limit: None,
            ..filter
        })?;
        if total as usize > runs.len() {
            printer.note(format!(
                "(the newest {} of {total} runs; --limit N or --all for more)",
                runs.len()
            ));
        }
    }
    Ok(ExitCode::SUCCESS)
}
