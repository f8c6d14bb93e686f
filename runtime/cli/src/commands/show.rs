//! `wflow show`: what a pathspec names, in detail — a flow's runs; a run's graph with per-step
//! task counts, status and durations (also as an HTML page with a drawing); a step's tasks; a
//! task's attempts, artifacts and timings; an artifact's value.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use wflow_client::{Artifact, Client, Flow, Object, Run, Status, Step, Task};
use wflow_ui::graph::RunView;

use super::inspect::{
    clip, duration, first_line, indented, open_client, preview, run_json, size, status,
    status_cell, time,
};
use crate::exit::BadInput;
use crate::output::Printer;
use crate::settings::Settings;

/// Tasks listed for a step unless `--all`.
const TASKS_SHOWN: usize = 100;

#[derive(clap::Args, Debug)]
pub struct ShowArgs {
    /// What to show: `Flow`, `Flow/run` (or `Flow/latest`), `Flow/run/step`,
    /// `Flow/run/step/task` or `Flow/run/step/task/artifact`.
    pub pathspec: String,
    /// Write a self-contained HTML page drawing the run's graph, with per-step status and
    /// durations, to this file (for a run, or anything in it).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// List every task of a step (default: the first 100).
    #[arg(long)]
    pub all: bool,
}

pub fn execute(args: ShowArgs, settings: &Settings, printer: &Printer) -> Result<ExitCode> {
    let client = open_client(settings)?;
    let object = client.get(&args.pathspec)?;
    if let Some(file) = &args.html {
        let run = match &object {
            Object::Flow(f) => {
                return Err(BadInput(format!(
                    "`{}` names a flow; --html draws a run: give Flow/run (e.g. {}/latest)",
                    args.pathspec,
                    f.name()
                ))
                .into());
            }
            Object::Run(r) => r.clone(),
            Object::Step(s) => {
                client.run(&format!("{}/{}", flow_of(&args.pathspec), s.run_id()))?
            }
            Object::Task(t) => client.run(&format!("{}/{}", t.flow(), t.record().run_id))?,
            Object::Artifact(a) => client.run(&run_of(a.task_pathspec()))?,
        };
        let view = RunView::of(&run)?;
        let cards = write_cards(&run, file, printer)?;
        super::inspect::warn_skipped(&client, printer);
        let page = wflow_ui::report::page(&run, &view, &cards);
        std::fs::write(file, page).with_context(|| format!("cannot write {}", file.display()))?;
        printer.note(format!(
            "wrote the graph of {} to {}",
            run.pathspec(),
            file.display()
        ));
        if printer.json() {
            printer.value(&serde_json::json!({ "run": run.pathspec(), "html": file }));
        }
        return Ok(ExitCode::SUCCESS);
    }
    match object {
        Object::Flow(f) => show_flow(&f, printer),
        Object::Run(r) => show_run(&r, printer),
        Object::Step(s) => show_step(&client, &s, args.all, printer),
        Object::Task(t) => show_task(&t, printer),
        Object::Artifact(a) => show_artifact(&a, printer),
    }?;
    super::inspect::warn_skipped(&client, printer);
    Ok(ExitCode::SUCCESS)
}

fn flow_of(pathspec: &str) -> &str {
    pathspec.split('/').next().unwrap_or(pathspec)
}

fn run_of(task_pathspec: &str) -> String {
    task_pathspec
        .split('/')
        .take(2)
        .collect::<Vec<_>>()
        .join("/")
}

fn show_flow(flow: &Flow, printer: &Printer) -> Result<()> {
    let runs = flow.runs(Some(10))?;
    let total = flow.run_count()?;
    let latest = flow.latest_run()?;
    let good = flow.latest_successful_run()?;
    if printer.json() {
        printer.value(&serde_json::json!({
            "flow": flow.name(),
            "runs": total,
            "latest_run": latest.as_ref().map(|r| r.pathspec()),
            "latest_successful_run": good.as_ref().map(|r| r.pathspec()),
            "recent": runs.iter().map(run_json).collect::<Vec<_>>(),
        }));
        return Ok(());
    }
    printer.line(format!(
        "{}: {total} run{}",
        printer.bold(flow.name()),
        if total == 1 { "" } else { "s" }
    ));
    if let Some(r) = &latest {
        printer.line(format!(
            "  latest             {} ({})",
            r.pathspec(),
            status(printer, r.status())
        ));
    }
    match &good {
        Some(r) => printer.line(format!("  latest successful  {}", r.pathspec())),
        None => printer.line("  latest successful  none"),
    }
    printer.line("");
    for r in &runs {
        let took = r.duration_ms().map(duration).unwrap_or_else(|| "-".into());
        printer.line(format!(
            "  {}  {}  {}  {took}",
            r.pathspec(),
            status_cell(printer, r.status(), 9),
            time(r.record().started_ms)
        ));
    }
    if total as usize > runs.len() {
        printer.note(format!(
            "(the newest {} of {total}; `wflow runs {}` lists them all)",
            runs.len(),
            flow.name()
        ));
    }
    Ok(())
}

fn params_text(params: &serde_json::Value) -> String {
    match params.as_object() {
        Some(map) if !map.is_empty() => map
            .iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => format!("{k}={s}"),
                other => format!("{k}={other}"),
            })
            .collect::<Vec<_>>()
            .join("  "),
        _ => "none".into(),
    }
}

/// For each switch step of a run (contract 0.2): how many of its tasks chose each choice, from
/// the tasks that read its tasks' outputs. Empty when the flow has no switch (nothing is read).
fn switches_taken(
    run: &Run,
    view: &RunView,
) -> Result<std::collections::BTreeMap<String, Vec<(String, usize)>>> {
    let spec = run.spec().ok();
    let switches: Vec<(String, Vec<String>)> = spec
        .iter()
        .flat_map(|s| &s.steps)
        .filter(|s| !s.transition.choices().is_empty())
        .filter(|s| view.steps.iter().any(|v| v.name == s.name))
        .map(|s| (s.name.clone(), s.transition.choices().to_vec()))
        .collect();
    let mut out = std::collections::BTreeMap::new();
    if switches.is_empty() {
        return Ok(out);
    }
    let tasks = run.tasks()?;
    let step_of: std::collections::HashMap<u64, &str> =
        tasks.iter().map(|t| (t.id(), t.step())).collect();
    for (switch, choices) in switches {
        let counts = choices
            .into_iter()
            .map(|choice| {
                let n = tasks
                    .iter()
                    .filter(|t| t.step() == choice)
                    .filter(|t| {
                        t.record()
                            .inputs
                            .iter()
                            .any(|i| step_of.get(i) == Some(&switch.as_str()))
                    })
                    .count();
                (choice, n)
            })
            .collect();
        out.insert(switch, counts);
    }
    Ok(out)
}

/// `took fan; not taken: train, skip` (`took body ×2, end` for a loop).
fn taken_text(counts: &[(String, usize)]) -> String {
    let took: Vec<String> = counts
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(c, n)| {
            if *n == 1 {
                c.clone()
            } else {
                format!("{c} ×{n}")
            }
        })
        .collect();
    let not: Vec<&str> = counts
        .iter()
        .filter(|(_, n)| *n == 0)
        .map(|(c, _)| c.as_str())
        .collect();
    let mut parts = Vec::new();
    if !took.is_empty() {
        parts.push(format!("took {}", took.join(", ")));
    }
    if !not.is_empty() {
        parts.push(format!("not taken: {}", not.join(", ")));
    }
    parts.join("; ")
}

fn show_run(run: &Run, printer: &Printer) -> Result<()> {
    let view = RunView::of(run)?;
    let taken = switches_taken(run, &view)?;
    let r = run.record();
    if printer.json() {
        let mut v = run_json(run);
        v["steps"] = view
            .steps
            .iter()
            .map(|s| {
                serde_json::json!({
                    "step": s.name,
                    "kind": s.kind,
                    "next": s.targets,
                    "status": s.status,
                    "tasks": s.stats.tasks,
                    "succeeded": s.stats.succeeded,
                    "failed": s.stats.failed,
                    "running": s.stats.running,
                    "reused": s.stats.reused - s.stats.cached,
                    "cached": s.stats.cached,
                    "caught": s.stats.caught,
                    "attempts": s.stats.attempts,
                    "started_ms": s.stats.first_started_ms,
                    "finished_ms": s.stats.last_finished_ms,
                    "wall_ms": s.wall_ms(),
                    "task_ms": s.stats.task_ms,
                    "max_task_ms": s.stats.max_task_ms,
                    "taken": taken.get(&s.name).map(|c| {
                        c.iter()
                            .map(|(k, n)| (k.clone(), serde_json::json!(n)))
                            .collect::<serde_json::Map<_, _>>()
                    }),
                })
            })
            .collect();
        printer.value(&v);
        return Ok(());
    }
    let shown = crate::output::shown;
    printer.line(format!(
        "{}  {}",
        printer.bold(&shown(&run.pathspec())),
        status(printer, run.status())
    ));
    let took = match (run.duration_ms(), super::inspect::gone_note(run)) {
        (Some(ms), _) => format!("took {}", duration(ms)),
        (None, Some(note)) => format!("not finished: {note}"),
        (None, None) => "still running".into(),
    };
    printer.line(format!(
        "  started  {} UTC by {}, {took}",
        time(r.started_ms),
        shown(&r.user)
    ));
    printer.line(format!("  params   {}", params_text(&r.params)));
    if !run.tags().is_empty() {
        printer.line(format!("  tags     {}", shown(&run.tags().join(", "))));
    }
    if let Some(origin) = &r.origin_run {
        let origin = format!("{}/{origin}", r.flow);
        let origin = shown(&origin);
        printer.line(match r.kind {
            wflow_metadata::RunKind::StepRun => format!(
                "  kind     step-run of {origin} (one task run again; not a run of the flow)"
            ),
            wflow_metadata::RunKind::Run => format!("  resumes  {origin}"),
        });
    }
    printer.line(format!("  code     component {}", r.component.short()));
    // A multi-line error (a trap's wasm backtrace) would break the layout: its first line here,
    // the whole text once below the table.
    let long_error = r.error.as_deref().filter(|e| first_line(e).1);
    if let Some(e) = &r.error {
        let (first, more) = first_line(e);
        let more = if more { " (in full below)" } else { "" };
        printer.line(format!("  error    {}{more}", printer.red(&shown(first))));
    }
    printer.line("");
    let rows: Vec<[String; 5]> = view
        .steps
        .iter()
        .map(|s| {
            let next = if s.targets.is_empty() {
                String::new()
            } else {
                format!("{} -> {}", s.kind, s.targets.join(", "))
            };
            let next = match taken.get(&s.name) {
                Some(counts) if s.stats.tasks > 0 => format!("{next}  ({})", taken_text(counts)),
                _ => next,
            };
            [
                format!("{}{}", "  ".repeat(s.depth), s.name),
                s.status
                    .map(|st| st.as_str().to_string())
                    .unwrap_or_else(|| "-".into()),
                s.tasks_text(),
                s.wall_ms().map(duration).unwrap_or_default(),
                next,
            ]
        })
        .collect();
    let header = ["step", "status", "tasks", "wall time", "next"].map(String::from);
    let width = |c: usize| {
        rows.iter()
            .chain([&header])
            .map(|r| r[c].chars().count())
            .max()
            .unwrap_or(0)
    };
    let w = [width(0), width(1), width(2), width(3)];
    printer.line(format!(
        "  {:<w0$}  {:<w1$}  {:<w2$}  {:>w3$}  {}",
        header[0],
        header[1],
        header[2],
        header[3],
        header[4],
        w0 = w[0],
        w1 = w[1],
        w2 = w[2],
        w3 = w[3]
    ));
    for (row, s) in rows.iter().zip(&view.steps) {
        let st = match s.status {
            Some(x) => status_cell(printer, x, w[1]),
            None => format!("{:<w1$}", "-", w1 = w[1]),
        };
        printer.line(
            format!(
                "  {:<w0$}  {st}  {:<w2$}  {:>w3$}  {}",
                row[0],
                row[2],
                row[3],
                row[4],
                w0 = w[0],
                w2 = w[2],
                w3 = w[3]
            )
            .trim_end(),
        );
    }
    if let Some(e) = long_error {
        printer.line("");
        printer.line("  error in full:");
        printer.line(indented(&crate::output::shown_lines(e), 4));
    }
    Ok(())
}

fn show_step(client: &Client, step: &Step, all: bool, printer: &Printer) -> Result<()> {
    let tasks = step.tasks()?;
    let shown = if all {
        tasks.len()
    } else {
        tasks.len().min(TASKS_SHOWN)
    };
    if printer.json() {
        printer.value(&serde_json::json!({
            "pathspec": step.pathspec(),
            "step": step.name(),
            "status": step.status(),
            "stats": step.stats(),
            "tasks": tasks[..shown].iter().map(task_json).collect::<Vec<_>>(),
            "tasks_total": tasks.len(),
        }));
        return Ok(());
    }
    let s = step.stats();
    let st = step
        .status()
        .map(|x| status(printer, x))
        .unwrap_or_else(|| "not run".into());
    printer.line(format!("{}  {st}", printer.bold(&step.pathspec())));
    if s.tasks == 0 {
        let run = client.metadata().run(step.run_id())?;
        let why = match run.map(|r| r.status) {
            Some(Status::Running) => "the run has not reached it yet",
            _ => "the run ended before reaching it",
        };
        printer.line(format!("  no tasks: {why}"));
        return Ok(());
    }
    let wall = match (s.first_started_ms, s.last_finished_ms) {
        (Some(a), Some(b)) => duration(b - a),
        _ => "-".into(),
    };
    let plural = |n: u64, what: &str| {
        if n == 1 {
            format!("1 {what}")
        } else {
            format!("{n} {what}s")
        }
    };
    let caught = if s.caught > 0 {
        format!(" ({} caught)", s.caught)
    } else {
        String::new()
    };
    printer.line(format!(
        "  {}: {} succeeded{caught}, {} failed, {} running, {} reused, {} cached; {}",
        plural(s.tasks, "task"),
        s.succeeded,
        s.failed,
        s.running,
        s.reused - s.cached,
        s.cached,
        plural(s.attempts, "attempt")
    ));
    printer.line(format!(
        "  wall time {wall}, task time {}, longest task {}",
        duration(s.task_ms),
        s.max_task_ms.map(duration).unwrap_or_else(|| "-".into())
    ));
    printer.line("");
    printer.line("  task      status     foreach     attempts  duration    origin");
    for t in &tasks[..shown] {
        let r = t.record();
        let path = if r.foreach_path.is_empty() {
            "-".to_string()
        } else {
            format!("{:?}", r.foreach_path)
        };
        let origin = match t.origin() {
            Some(o) if r.is_cached() => format!("cached from {o}"),
            Some(o) => o,
            None if r.caught => "(caught: its failure is an artifact)".into(),
            None => String::new(),
        };
        printer.line(
            format!(
                "  {:<8}  {}  {:<10}  {:>8}  {:>8}    {origin}",
                r.task_id,
                task_status_cell(printer, r, 9),
                path,
                r.attempts,
                t.duration_ms().map(duration).unwrap_or_else(|| "-".into()),
            )
            .trim_end(),
        );
    }
    if shown < tasks.len() {
        printer.note(format!(
            "(the first {shown} of {} tasks; --all lists every one)",
            tasks.len()
        ));
    }
    Ok(())
}

fn task_json(t: &Task) -> serde_json::Value {
    let r = t.record();
    serde_json::json!({
        "pathspec": t.pathspec(),
        "task_id": r.task_id,
        "step": r.step,
        "status": r.status,
        "foreach_path": r.foreach_path,
        "inputs": r.inputs,
        "attempts": r.attempts,
        "started_ms": r.started_ms,
        "finished_ms": r.finished_ms,
        "duration_ms": t.duration_ms(),
        "manifest": r.manifest,
        "origin": t.origin(),
        "reuse": r.reuse_reason(),
        "cached": r.is_cached(),
        "caught": r.caught,
        "component": r.component,
    })
}

/// A task's status cell: `caught` for a task that succeeded through `catch`.
fn task_status_cell(printer: &Printer, r: &wflow_metadata::TaskRecord, width: usize) -> String {
    if r.caught {
        format!("{:<width$}", "caught")
    } else {
        status_cell(printer, r.status, width)
    }
}

fn show_task(task: &Task, printer: &Printer) -> Result<()> {
    let attempts = task.attempts()?;
    // A failed task has no artifacts: that is part of what is shown, not an error.
    let artifacts = match task.artifacts() {
        Ok(a) => a,
        Err(wflow_client::ClientError::NoArtifacts { .. }) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    let r = task.record();
    let secrets = task.secrets()?;
    if printer.json() {
        let mut v = task_json(task);
        v["secrets"] = serde_json::json!(secrets);
        v["attempt_records"] = serde_json::to_value(&attempts)?;
        v["artifacts"] = artifacts
            .iter()
            .map(|a| {
                let mut x = serde_json::to_value(a.info()).expect("plain data");
                if let Some(value) = preview(a) {
                    x["value"] = value;
                }
                x
            })
            .collect();
        printer.value(&v);
        return Ok(());
    }
    let shown_status = if r.caught {
        format!(
            "{} (caught: its step's `catch` kept the error of its last attempt)",
            status(printer, r.status)
        )
    } else {
        status(printer, r.status)
    };
    printer.line(format!(
        "{}  {shown_status}",
        printer.bold(&task.pathspec())
    ));
    let took = task
        .duration_ms()
        .map(|d| format!(", took {}", duration(d)))
        .unwrap_or_default();
    printer.line(format!("  started   {} UTC{took}", time(r.started_ms)));
    if !r.foreach_path.is_empty() {
        printer.line(format!("  foreach   item {:?}", r.foreach_path));
    }
    let inputs = match r.inputs.as_slice() {
        [] => "the run's parameters".to_string(),
        ids if ids.len() <= 5 => ids
            .iter()
            .map(|i| format!("task {i}"))
            .collect::<Vec<_>>()
            .join(", "),
        ids => format!("{} tasks ({} … {})", ids.len(), ids[0], ids[ids.len() - 1]),
    };
    printer.line(format!("  inputs    {inputs}"));
    if !secrets.is_empty() {
        printer.line(format!("  secrets   {} (names only)", secrets.join(", ")));
    }
    if let Some(origin) = task.origin() {
        printer.line(if r.is_cached() {
            format!(
                "  cached    from {origin} (a pure step that read the same: its outputs, not run \
                 again)"
            )
        } else {
            format!("  reused    from {origin} (its outputs, not run again)")
        });
        if let Some(c) = r.component.filter(|_| !r.is_cached()) {
            printer.line(format!(
                "  code      computed by component {} (the run's code may have changed since)",
                c.short()
            ));
        }
    }
    if let Some(m) = r.manifest {
        printer.line(format!("  manifest  {}", m.short()));
    }
    printer.line("");
    if attempts.is_empty() {
        printer.line(if r.is_cached() {
            "  attempts  none (cached)"
        } else if task.origin().is_some() {
            "  attempts  none (reused)"
        } else {
            "  attempts  none yet"
        });
    } else {
        printer.line("  attempt  status     duration  stdout     stderr     error");
        for a in &attempts {
            let took = a
                .finished_ms
                .map(|f| duration(f - a.started_ms))
                .unwrap_or_else(|| "-".into());
            let log = |d: &Option<wflow_core::Digest>| d.map(|_| "kept").unwrap_or("-");
            printer.line(
                format!(
                    "  {:<7}  {}  {:>8}  {:<9}  {:<9}  {}",
                    a.attempt,
                    status_cell(printer, a.status, 9),
                    took,
                    log(&a.stdout),
                    log(&a.stderr),
                    a.error
                        .as_deref()
                        .map(|e| clip(&crate::output::shown(first_line(e).0), 100))
                        .unwrap_or_default()
                )
                .trim_end(),
            );
        }
        // Errors that did not fit their cell, in full, once each (retries often repeat one).
        let mut long: Vec<(Vec<u32>, &str)> = Vec::new();
        for a in &attempts {
            let Some(e) = a.error.as_deref() else {
                continue;
            };
            let (first, more) = first_line(e);
            if !more && first.chars().count() <= 100 {
                continue;
            }
            match long.iter_mut().find(|(_, text)| *text == e) {
                Some((ns, _)) => ns.push(a.attempt),
                None => long.push((vec![a.attempt], e)),
            }
        }
        for (ns, e) in long {
            let which = ns.iter().map(u32::to_string).collect::<Vec<_>>().join(", ");
            let label = if ns.len() == 1 { "attempt" } else { "attempts" };
            printer.line("");
            printer.line(format!("  error of {label} {which} in full:"));
            printer.line(indented(&crate::output::shown_lines(e), 4));
        }
    }
    printer.line("");
    if artifacts.is_empty() {
        printer.line("  artifacts none");
    } else {
        printer.line("  artifact");
        let width = artifacts
            .iter()
            .map(|a| a.name().chars().count())
            .max()
            .unwrap_or(0);
        for a in &artifacts {
            let value = preview(a)
                .map(|v| clip(&v.to_string(), 60))
                .unwrap_or_default();
            printer.line(
                format!(
                    "  {:<width$}  {:<5}  {:>9}  {value}",
                    a.name(),
                    a.codec(),
                    size(a.size())
                )
                .trim_end(),
            );
        }
    }
    Ok(())
}

fn show_artifact(a: &Artifact, printer: &Printer) -> Result<()> {
    let value = if a.codec() == "cbor" {
        Some(a.value()?)
    } else {
        None
    };
    if printer.json() {
        let mut v = serde_json::to_value(a.info())?;
        v["pathspec"] = a.pathspec().into();
        if let Some(value) = value {
            v["value"] = value;
        }
        printer.value(&v);
        return Ok(());
    }
    let place = if a.reference().is_inline() {
        "inline in its task's manifest"
    } else {
        "a blob"
    };
    printer.line(format!(
        "{}  {}, {}, {place}, digest {}",
        printer.bold(&a.pathspec()),
        a.codec(),
        size(a.size()),
        a.digest().short()
    ));
    match value {
        Some(v) => printer.line(serde_json::to_string_pretty(&v)?),
        None => printer.line(format!(
            "(raw bytes: `wflow artifact get {} --output FILE` writes them)",
            a.pathspec()
        )),
    }
    Ok(())
}

/// Tasks whose cards `show --html` looks for at most (the first, by id).
const CARD_TASKS: usize = 1_000;

/// Writes the cards the run's tasks wrote beside the page `file` — `NAME.cards/STEP-TASK.html`,
/// each as `wflow card get` writes it — and returns the page's links to them (text, relative
/// URL). A task whose artifacts cannot be listed is skipped with a warning.
fn write_cards(
    run: &wflow_client::Run,
    file: &std::path::Path,
    printer: &Printer,
) -> Result<Vec<(String, String)>> {
    use wflow_ui::card;
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "report".into());
    let dir_name = format!("{stem}.cards");
    let dir = file.with_file_name(&dir_name);
    let mut links = Vec::new();
    for t in run.tasks()?.iter().take(CARD_TASKS) {
        let own: Vec<card::Rendered> = match card::of_task(t) {
            Ok(found) => found
                .into_iter()
                .filter(|f| f.own)
                .map(|f| f.rendered)
                .collect(),
            Err(e) => {
                printer.warning(format!("the cards of {}: {e}", t.pathspec()));
                continue;
            }
        };
        if own.is_empty() {
            continue;
        }
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let name = format!("{}-{}.html", t.step(), t.id());
        let path = dir.join(&name);
        std::fs::write(&path, card::document(&t.pathspec(), &own))
            .with_context(|| format!("cannot write {}", path.display()))?;
        let titles: Vec<&str> = own
            .iter()
            .map(|c| c.title.as_deref().unwrap_or(&c.id))
            .collect();
        links.push((
            format!("{}/{}: {}", t.step(), t.id(), titles.join(", ")),
            format!("{}/{name}", url_part(&dir_name)),
        ));
    }
    Ok(links)
}

/// `text` as one part of a relative URL (what is not unreserved is percent-encoded).
fn url_part(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
