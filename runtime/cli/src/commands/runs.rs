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
    /// Only runs started at or after WHEN: a duration back from now (`2h`, `7d`, `90m`, `2w`), a
    /// UTC date (`2026-11-28`) or a time (`2026-11-28T18:25:50Z`).
    #[arg(long, value_name = "WHEN")]
    pub since: Option<TimeBound>,
    /// Only runs started before WHEN (as for `--since`; a date takes in that whole day).
    #[arg(long, value_name = "WHEN")]
    pub until: Option<TimeBound>,
    /// Every run; on a metadata service, every user's (needs an administrator's token: you see
    /// your own runs otherwise).
    #[arg(long)]
    pub all: bool,
}

/// A bound of `--since`/`--until`, as written: resolved against the time of the listing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeBound {
    /// This long before now (ms).
    Ago(i64),
    /// This time (ms since the Unix epoch).
    At(i64),
    /// The start of this UTC day (ms since the Unix epoch).
    Day(i64),
}

const DAY_MS: i64 = 86_400_000;

impl std::str::FromStr for TimeBound {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<TimeBound, String> {
        let t = text.trim();
        if t.starts_with(|c: char| c.is_ascii_digit()) && !t.contains(['-', ':']) {
            let span = wflow_gc::parse_duration(t).map_err(|_| neither(t))?;
            return i64::try_from(span.as_millis())
                .map(TimeBound::Ago)
                .map_err(|_| format!("`{t}` is too long a duration"));
        }
        if let Ok(at) = t.parse::<jiff::Timestamp>() {
            return Ok(TimeBound::At(at.as_millisecond()));
        }
        if let Ok(at) = t.parse::<jiff::civil::DateTime>()
            && t.contains('T')
            && let Ok(z) = at.to_zoned(jiff::tz::TimeZone::UTC)
        {
            return Ok(TimeBound::At(z.timestamp().as_millisecond()));
        }
        if let Ok(day) = t.parse::<jiff::civil::Date>()
            && let Ok(z) = day.to_zoned(jiff::tz::TimeZone::UTC)
        {
            return Ok(TimeBound::Day(z.timestamp().as_millisecond()));
        }
        Err(neither(t))
    }
}

fn neither(t: &str) -> String {
    format!(
        "`{t}` is neither a duration back from now (2h, 7d, 90m, 2w), a UTC date (2026-11-28) \
         nor a time (2026-11-28T18:25:50Z)"
    )
}

impl TimeBound {
    /// Milliseconds since the Unix epoch, `now_ms` being now; `end`: a bound from above (a
    /// date then means the end of that day).
    pub fn resolve(self, now_ms: i64, end: bool) -> i64 {
        match self {
            TimeBound::Ago(ms) => now_ms.saturating_sub(ms),
            TimeBound::At(ms) => ms,
            TimeBound::Day(ms) if end => ms + DAY_MS,
            TimeBound::Day(ms) => ms,
        }
    }
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
    let now = wflow_core::now_millis();
    let since_ms = args.since.map(|b| b.resolve(now, false));
    let until_ms = args.until.map(|b| b.resolve(now, true));
    if let (Some(s), Some(u)) = (since_ms, until_ms)
        && s >= u
    {
        return Err(crate::exit::BadInput(format!(
            "--since ({} UTC) is not before --until ({} UTC): no run can match",
            time(s),
            time(u)
        ))
        .into());
    }
    let filter = RunFilter {
        flow: args.flow.clone(),
        tags: args.tags.clone(),
        status: args.status,
        kind: None,
        limit: (!args.all).then_some(args.limit),
        offset: 0,
        user: None,
        since_ms,
        until_ms,
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
        let unfiltered = filter.flow.is_none()
            && filter.tags.is_empty()
            && filter.status.is_none()
            && since_ms.is_none()
            && until_ms.is_none();
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

#[cfg(test)]
mod tests {
    use super::TimeBound;

    #[test]
    fn time_bounds_read_durations_times_and_dates() {
        let b = |t: &str| t.parse::<TimeBound>();
        assert_eq!(b("2h"), Ok(TimeBound::Ago(7_200_000)));
        assert_eq!(
            b("7d").unwrap().resolve(1_000_000_000, false),
            1_000_000_000 - 604_800_000
        );
        assert_eq!(b("1970-01-02T00:00:01Z"), Ok(TimeBound::At(86_401_000)));
        assert_eq!(b("1970-01-02T00:00:01"), Ok(TimeBound::At(86_401_000)));
        let day = b("1970-01-02").unwrap();
        assert_eq!(
            (day.resolve(0, false), day.resolve(0, true)),
            (86_400_000, 172_800_000)
        );
        for bad in ["", "2x", "h", "1970-13-01", "yesterday", "2 h"] {
            let e = b(bad).unwrap_err();
            assert!(e.contains(&format!("`{}`", bad.trim())), "{bad}: {e}");
        }
    }
}
