//! `wflow logs`: stdout and stderr of a task's attempt, from the store or, while the attempt
//! runs, from its live files; `--follow` streams them until the task ends.

use std::io::Write;
use std::ops::ControlFlow;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use wflow_client::{
    Client, FollowEnd, FollowEvent, FollowOptions, LogSource, Object, Stream, Task,
};

use super::inspect::open_client;
use crate::exit::BadInput;
use crate::output::Printer;
use crate::settings::Settings;

#[derive(clap::Args, Debug)]
pub struct LogsArgs {
    /// The task: `Flow/run/step/task`, `Flow/run/step[7]` (the task of foreach item 7), or
    /// `Flow/run/step` for every task of the step, each headed by its task and foreach index.
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
    /// Keep printing output as the task writes it, until it ends (across its retries).
    #[arg(long, short = 'f')]
    pub follow: bool,
}

pub fn execute(args: LogsArgs, settings: &Settings, printer: &Printer) -> Result<ExitCode> {
    let client = open_client(settings)?;
    let streams: Vec<Stream> = match (args.stdout, args.stderr) {
        (true, _) => vec![Stream::Stdout],
        (_, true) => vec![Stream::Stderr],
        _ => Stream::BOTH.to_vec(),
    };
    if !args.follow
        && let Object::Step(step) = client.get(&args.pathspec)?
        && step.stats().tasks > 1
    {
        return step_logs(&step.tasks()?, args.attempt, &streams, printer);
    }
    let task = find_task(&client, &args.pathspec, args.follow)?;
    if args.follow {
        return follow(&task, args.attempt, streams, printer);
    }
    // A task that did not run (reused by a resume, or cached) shows the logs of the task that
    // computed its outputs.
    let task = match computed_by(&client, &task)? {
        Some((origin, how)) => {
            printer.note(format!(
                "({} was {how}: these are the logs of {}, whose outputs it took)",
                task.pathspec(),
                origin.pathspec()
            ));
            origin
        }
        None => task,
    };
    let logs = task.logs(args.attempt)?;
    if task.record().caught && !printer.json() {
        printer.note(format!(
            "(task {} failed and its step's `catch` kept the error: the run went on)",
            task.pathspec()
        ));
    }
    if printer.json() {
        printer.value(&serde_json::json!({
            "pathspec": task.pathspec(),
            "attempt": logs.attempt.attempt,
            "status": logs.attempt.status,
            "caught": task.record().caught,
            "stdout": String::from_utf8_lossy(&logs.stdout.bytes),
            "stderr": String::from_utf8_lossy(&logs.stderr.bytes),
            "source": { "stdout": logs.stdout.source, "stderr": logs.stderr.source },
        }));
        return Ok(ExitCode::SUCCESS);
    }
    if streams
        .iter()
        .any(|s| logs.get(*s).source == LogSource::Live)
    {
        let gone = client
            .run(&format!("{}/{}", task.flow(), task.record().run_id))?
            .liveness()
            == wflow_client::Liveness::Gone;
        let why = if logs.attempt.status.is_finished() || task.status().is_finished() {
            "the attempt ended without its logs being stored"
        } else if gone {
            "the run's process is gone (killed?); this is what it wrote before"
        } else {
            "the attempt is still running; --follow to keep reading"
        };
        printer.note(format!(
            "(live output of attempt {}: {why})",
            logs.attempt.attempt
        ));
    }
    for s in streams {
        super::inspect::write_stdout(&logs.get(s).bytes)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The logs of every task of a step, in task order, each headed by its pathspec, foreach index
/// and status (`--json`: a list of what `logs` prints for one task).
fn step_logs(
    tasks: &[Task],
    attempt: Option<u32>,
    streams: &[Stream],
    printer: &Printer,
) -> Result<ExitCode> {
    let mut all = Vec::new();
    for task in tasks {
        let r = task.record();
        // A task that did not run has no attempt of its own: its logs are its origin's.
        let (from, how) = match computed_by(task.client(), task)? {
            Some((origin, how)) => {
                let note = format!("{how} from {}: its logs", origin.pathspec());
                (origin, Some(note))
            }
            None => (task.clone(), None),
        };
        let logs = match from.logs(attempt) {
            Ok(l) => l,
            Err(wflow_client::ClientError::NoSuchAttempt { .. }) => {
                let why = match (&how, attempt) {
                    (Some(how), _) => format!("{how}: none"),
                    (None, Some(n)) => format!("no attempt {n}"),
                    (None, None) => "no attempt yet".into(),
                };
                if !printer.json() {
                    printer.line(heading(task, &why));
                }
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        if printer.json() {
            all.push(serde_json::json!({
                "pathspec": task.pathspec(),
                "foreach_path": r.foreach_path,
                "attempt": logs.attempt.attempt,
                "status": logs.attempt.status,
                "caught": r.caught,
                "cached": r.is_cached(),
                "stdout": String::from_utf8_lossy(&logs.stdout.bytes),
                "stderr": String::from_utf8_lossy(&logs.stderr.bytes),
            }));
            continue;
        }
        let caught = if r.caught { "; caught" } else { "" };
        let what = format!(
            "attempt {}, {}{caught}",
            logs.attempt.attempt, logs.attempt.status
        );
        printer.line(heading(
            task,
            &match &how {
                Some(how) => format!("{how}, {what}"),
                None => what,
            },
        ));
        for s in streams {
            super::inspect::write_stdout(&logs.get(*s).bytes)?;
        }
    }
    if printer.json() {
        printer.value(&serde_json::Value::Array(all));
    }
    Ok(ExitCode::SUCCESS)
}

/// For a task that did not run (reused by a resume, or cached): the task whose outputs it took
/// that ran (following origins that did not run either), and how it came by them.
fn computed_by<'c>(
    client: &'c Client,
    task: &Task<'c>,
) -> Result<Option<(Task<'c>, &'static str)>> {
    let r = task.record();
    if r.attempts > 0 || !r.is_reused() {
        return Ok(None);
    }
    let how = if r.is_cached() { "cached" } else { "reused" };
    let mut current = task.clone();
    // Origins form a chain back in time; a bound keeps a planted loop from spinning.
    for _ in 0..64 {
        let Some(origin) = current.origin() else {
            break;
        };
        let Ok(Object::Task(t)) = client.get(&origin) else {
            break;
        };
        current = t;
        if current.record().attempts > 0 {
            return Ok(Some((current, how)));
        }
    }
    Ok(None)
}

/// `=== Flow/run/step/12 [7] (attempt 0, succeeded) ===`.
fn heading(task: &Task, what: &str) -> String {
    let index = match task.record().foreach_path.as_slice() {
        [] => String::new(),
        path => format!(
            " [{}]",
            path.iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join("][")
        ),
    };
    format!("=== {}{index} ({what}) ===", task.pathspec())
}

/// The task a pathspec names; a step with one task stands for it. With `wait`, a step of a live
/// run that has no task yet is waited for.
fn find_task<'c>(client: &'c Client, pathspec: &str, wait: bool) -> Result<Task<'c>> {
    loop {
        match client.get(pathspec)? {
            Object::Task(t) => return Ok(t),
            Object::Step(s) => {
                if s.stats().tasks == 0 && wait {
                    let run = client.run(&format!("{}/{}", pathspec_flow(pathspec), s.run_id()))?;
                    if !run.status().is_finished() {
                        std::thread::sleep(Duration::from_millis(200));
                        continue;
                    }
                }
                return Ok(s.task()?);
            }
            _ => {
                return Err(BadInput(format!(
                    "`{pathspec}` does not name a task: logs belong to a task, as in \
                     Flow/run/step/3 (`wflow show Flow/run` lists a run's steps and tasks)"
                ))
                .into());
            }
        }
    }
}

fn pathspec_flow(pathspec: &str) -> &str {
    pathspec.split('/').next().unwrap_or(pathspec)
}

fn follow(
    task: &Task,
    attempt: Option<u32>,
    streams: Vec<Stream>,
    printer: &Printer,
) -> Result<ExitCode> {
    let options = FollowOptions {
        attempt,
        streams,
        poll: Duration::from_millis(100),
    };
    let json = printer.json();
    let mut first = true;
    let end = task.follow_logs(&options, |event| {
        let mut out = std::io::stdout().lock();
        let written = match event {
            FollowEvent::Attempt(n) => {
                if !first && !json {
                    printer.note(format!("--- attempt {n} ---"));
                }
                first = false;
                Ok(())
            }
            FollowEvent::Output {
                attempt,
                stream,
                bytes,
            } if json => {
                let line = serde_json::json!({
                    "attempt": attempt, "stream": stream, "text": String::from_utf8_lossy(bytes),
                });
                writeln!(out, "{line}").and_then(|_| out.flush())
            }
            FollowEvent::Output { bytes, .. } => out.write_all(bytes).and_then(|_| out.flush()),
        };
        // A closed pipe (`| head`) ends following quietly.
        if written.is_err() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })?;
    match end {
        FollowEnd::Finished(status) => printer.note(format!("(task {} {status})", task.pathspec())),
        FollowEnd::RunEnded(status) => printer.note(format!(
            "(the run ended ({status}) while task {} was still recorded as running: its process \
             was stopped; above is what its live log held)",
            task.pathspec()
        )),
        FollowEnd::ProcessGone => printer.note(format!(
            "(the process of run {} is gone (killed?) while task {} was running: above is what \
             its live log held)",
            task.record().run_id,
            task.pathspec()
        )),
        FollowEnd::Stopped => {}
    }
    Ok(ExitCode::SUCCESS)
}
