//! `wflow gc`: removes the runs a retention rule lets go, then every blob, manifest, log and
//! task description no kept run reaches (docs/store.md, "Garbage collection").

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use wflow_gc::{Options, Progress, Report, Retention, format_duration, parse_duration};
use wflow_store::Cas;

use crate::exit::BadInput;
use crate::output::{Printer, shown};
use crate::settings::Settings;

#[derive(clap::Args, Debug)]
pub struct GcArgs {
    /// Keep the newest N runs of each flow.
    #[arg(long, value_name = "N")]
    pub keep_last: Option<usize>,
    /// Keep runs that started less than this long ago: a number and a unit s, m, h, d or w
    /// (e.g. `30d`).
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub older_than: Option<Duration>,
    /// Keep runs carrying this tag (repeatable).
    #[arg(long, value_name = "TAG")]
    pub keep_tagged: Vec<String>,
    /// Apply the rule to this flow's runs only (other flows' runs are kept).
    #[arg(long, value_name = "FLOW")]
    pub flow: Option<String>,
    /// Leave alone whatever was written or used less than this long before gc began (default
    /// 1d): what runs in progress rely on and have not recorded yet.
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub grace: Option<Duration>,
    /// Print what would be removed, and how many bytes, without removing anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Go ahead even when the rule removes every run.
    #[arg(long)]
    pub yes: bool,
}

/// A grace period shorter than this gets a warning: tasks run longer, and on S3 a reused
/// blob is refreshed at most every 15 minutes.
const SHORT_GRACE: Duration = Duration::from_secs(3600);

fn duration(text: &str) -> Result<Duration, String> {
    parse_duration(text)
}

/// The `[retention]` table of the config file (`keep-last`, `older-than`, `keep-tagged`,
/// `grace`).
#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RetentionTable {
    keep_last: Option<usize>,
    older_than: Option<String>,
    #[serde(default)]
    keep_tagged: Vec<String>,
    grace: Option<String>,
}

/// The `[retention]` rules of the policy files in effect (the administrator's, and a user's
/// own), each a floor under the rule gc applies.
fn policy_rules(settings: &Settings) -> Result<Vec<Retention>> {
    let policy = settings.policy()?;
    std::iter::once(&policy)
        .chain(&policy.narrowing)
        .filter_map(|p| p.retention.as_ref().map(|r| (p, r)))
        .map(|(p, r)| {
            let older_than = r
                .older_than
                .as_deref()
                .map(parse_duration)
                .transpose()
                .map_err(|e| {
                    BadInput(format!(
                        "the policy {}, [retention] `older-than`: {e}",
                        p.origin
                    ))
                })?;
            Ok(Retention {
                keep_last: r.keep_last,
                older_than,
                keep_tagged: r.keep_tagged.clone(),
                flow: None,
            })
        })
        .collect()
}

/// The rule and grace period: the flags, else the config file's `[retention]` table.
fn rule(args: &GcArgs) -> Result<(Retention, Duration)> {
    let table: RetentionTable =
        match crate::backends::config_file_table("retention").map_err(BadInput)? {
            Some(t) => serde_json::from_value(serde_json::Value::Object(t))
                .map_err(|e| BadInput(format!("the config file's [retention] table: {e}")))?,
            None => RetentionTable::default(),
        };
    let from_config = |key: &str, text: &Option<String>| -> Result<Option<Duration>> {
        text.as_deref()
            .map(|t| {
                parse_duration(t)
                    .map_err(|e| BadInput(format!("the config file's [retention] `{key}`: {e}")))
            })
            .transpose()
            .map_err(Into::into)
    };
    let flags_given =
        args.keep_last.is_some() || args.older_than.is_some() || !args.keep_tagged.is_empty();
    let mut retention = if flags_given {
        Retention {
            keep_last: args.keep_last,
            older_than: args.older_than,
            keep_tagged: args.keep_tagged.clone(),
            flow: None,
        }
    } else {
        Retention {
            keep_last: table.keep_last,
            older_than: from_config("older-than", &table.older_than)?,
            keep_tagged: table.keep_tagged.clone(),
            flow: None,
        }
    };
    retention.flow = args.flow.clone();
    let grace = match args.grace {
        Some(g) => g,
        None => from_config("grace", &table.grace)?.unwrap_or(wflow_gc::DEFAULT_GRACE),
    };
    Ok((retention, grace))
}

pub fn execute(args: GcArgs, settings: &Settings, printer: &Printer) -> Result<ExitCode> {
    let (retention, grace) = rule(&args)?;
    let backend = crate::backends::open(settings, true)?
        .with_context(|| format!("no store at {}", settings.store_label()))?;
    let records_in_store = matches!(settings.location.metadata, Ok(None))
        && matches!(&settings.location.backend, Ok(t) if t.get("type").and_then(|v| v.as_str()) == Some("s3"));
    if grace < SHORT_GRACE && !args.dry_run {
        printer.warning(format!(
            "a grace period of {}: blobs that runs in progress wrote or reused and have not \
             recorded yet may be removed — use one this short only while no flow runs on the \
             store (on S3 the grace period must also exceed the 15 minutes between refreshes \
             of a reused blob: docs/store.md)",
            format_duration(grace)
        ));
    }
    let cas = Cas::new(backend.blobs);
    let options = Options {
        retention,
        grace,
        records_in_store,
        policy: policy_rules(settings)?,
    };
    let mut shown_phase = String::new();
    let mut progress = |p: Progress| {
        let line = match p {
            Progress::Marking { done, total } if done == total || done % 100 == 0 => {
                format!("gc: reading the records of kept runs ({done}/{total})")
            }
            Progress::RemovingRecords { runs } => {
                format!("gc: removing the records of {runs} runs")
            }
            Progress::Listing => "gc: listing the store".to_string(),
            Progress::Sweeping { done, total } => {
                format!("gc: removing objects ({done}/{total})")
            }
            _ => return,
        };
        if printer.interactive() && line != shown_phase {
            printer.note(&line);
            shown_phase = line;
        }
    };
    let prepared = wflow_gc::prepare(backend.records.as_ref(), &cas, options, &mut progress)
        .map_err(cli_error)?;
    if prepared.removes_every_run() && !args.yes && !args.dry_run {
        let n = prepared.removed().count();
        return Err(BadInput(format!(
            "this retention rule removes every run in {} ({n} run{}): check it with \
             --dry-run, and pass --yes to go ahead",
            settings.store_label(),
            if n == 1 { "" } else { "s" }
        ))
        .into());
    }
    let report = prepared
        .execute(args.dry_run, &mut progress)
        .map_err(cli_error)?;
    for w in backend.records.take_warnings() {
        printer.warning(w);
    }
    print(printer, &report, grace);
    Ok(ExitCode::SUCCESS)
}

/// The records' or the store's own error, so the exit code tells a refusal (an administrator's
/// token needed: 2) from an environment failure (3).
fn cli_error(e: wflow_gc::GcError) -> anyhow::Error {
    match e {
        wflow_gc::GcError::Records(m) => m.into(),
        wflow_gc::GcError::Store(s) => s.into(),
        other => other.into(),
    }
}

fn print(printer: &Printer, r: &Report, grace: Duration) {
    if printer.json() {
        printer.value(r);
        return;
    }
    let verb = if r.dry_run { "would remove" } else { "removed" };
    for run in &r.runs_removed {
        printer.line(format!(
            "{verb} {}/{}  {}",
            shown(&run.flow),
            shown(&run.run_id),
            run.status
        ));
    }
    let s = |n: u64| if n == 1 { "" } else { "s" };
    let mut summary = format!(
        "{}{verb} {} run{}, {} blob{} ({}), {} other object{} ({}); kept {} run{}, {} blob{} ({})",
        if r.dry_run { "dry run: " } else { "" },
        r.runs_removed.len(),
        s(r.runs_removed.len() as u64),
        r.blobs_removed,
        s(r.blobs_removed),
        bytes(r.blob_bytes_removed),
        r.other_removed,
        s(r.other_removed),
        bytes(r.other_bytes_removed),
        r.runs_kept,
        s(r.runs_kept as u64),
        r.blobs_kept,
        s(r.blobs_kept),
        bytes(r.blob_bytes_kept),
    );
    if r.blobs_recent > 0 {
        summary.push_str(&format!(
            "; {} unreferenced blob{} younger than the grace period ({}) left for later",
            r.blobs_recent,
            s(r.blobs_recent),
            format_duration(grace)
        ));
    }
    printer.line(summary);
    if !r.policy.is_empty() {
        printer.note("the policy's [retention] rule applied too: no run it keeps was removed");
    }
    for (prefix, n) in &r.left_alone {
        printer.note(format!(
            "left alone: {n} object{} under `{}` (not this wflow's layout)",
            s(*n),
            shown(prefix)
        ));
    }
    if !r.missing.is_empty() {
        printer.warning(format!(
            "kept runs reference {} blob{} that {} not in the store (e.g. {})",
            r.missing.len(),
            s(r.missing.len() as u64),
            if r.missing.len() == 1 { "is" } else { "are" },
            r.missing[0]
        ));
    }
    for note in &r.notes {
        printer.note(format!("note: {}", shown(note)));
    }
}

/// Bytes for people: `812 B`, `4.2 KB`, `1.3 GB`.
fn bytes(n: u64) -> String {
    let units = ["B", "KB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit + 1 < units.len() {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", units[unit])
    }
}
