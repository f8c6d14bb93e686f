//! `wflow card get PATHSPEC [--output FILE.html]`: the cards a task wrote (or one card) as one
//! self-contained HTML file — no script, no external resource, charts drawn as SVG — to open in
//! any browser, offline.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use wflow_client::Object;
use wflow_ui::card::{self, Found};

use super::inspect::open_client;
use crate::output::Printer;
use crate::settings::Settings;

#[derive(clap::Args, Debug)]
pub struct CardArgs {
    #[command(subcommand)]
    pub command: CardCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum CardCommand {
    /// Write a task's cards (or one card) as a self-contained HTML file.
    Get {
        /// `Flow/run/step/task` (every card the task wrote), `Flow/run/step` (a step with one
        /// task) or `Flow/run/step/task/card:ID` (one card).
        pathspec: String,
        /// Write the HTML to this file (by default it goes to stdout).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
}

pub fn execute(args: CardArgs, settings: &Settings, printer: &Printer) -> Result<ExitCode> {
    let CardCommand::Get { pathspec, output } = args.command;
    let client = open_client(settings)?;
    let (title, cards) = match client.get(&pathspec)? {
        Object::Artifact(a) => {
            if !card::is_card(a.codec()) {
                bail!(
                    "{} is not a card: its codec is `{}`, a card's is `{}` (`wflow artifact get` \
                     reads other artifacts)",
                    a.pathspec(),
                    a.codec(),
                    card::CODEC
                );
            }
            let rendered = match a.bytes() {
                Ok(bytes) => card::render(a.name(), &bytes),
                Err(e) => card::Rendered::failed(a.name(), e.to_string()),
            };
            (a.pathspec(), vec![rendered])
        }
        Object::Task(t) => (t.pathspec(), own_cards(&t)?),
        Object::Step(s) => {
            let t = s.task()?;
            (t.pathspec(), own_cards(&t)?)
        }
        Object::Run(_) | Object::Flow(_) => bail!(
            "`{pathspec}` names a {}; cards belong to tasks: give Flow/run/step/task",
            if pathspec.contains('/') {
                "run"
            } else {
                "flow"
            }
        ),
    };
    for c in &cards {
        for p in &c.problems {
            printer.warning(format!("{title}: {p} (shown in the card)"));
        }
    }
    let html = card::document(&title, &cards);
    match &output {
        Some(file) => {
            std::fs::write(file, &html)
                .with_context(|| format!("cannot write {}", file.display()))?;
            if printer.json() {
                printer.value(&serde_json::json!({
                    "pathspec": title,
                    "output": file,
                    "cards": cards.iter().map(|c| serde_json::json!({
                        "id": c.id, "task": c.task, "title": c.title, "problems": c.problems,
                    })).collect::<Vec<_>>(),
                }));
            } else {
                printer.note(format!(
                    "wrote {} card{} of {title} ({} bytes) to {}",
                    cards.len(),
                    if cards.len() == 1 { "" } else { "s" },
                    html.len(),
                    file.display()
                ));
            }
        }
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(html.as_bytes())
                .and_then(|()| out.flush())
                .context("cannot write the card to stdout")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The cards `t` wrote itself; an error saying where to look when it has none.
fn own_cards(t: &wflow_client::Task) -> Result<Vec<card::Rendered>> {
    let found: Vec<Found> = card::of_task(t)?;
    if found.is_empty() {
        bail!(
            "task {} has no cards (a step writes one with `wflow::card` in Rust, \
             `current.card.append(…)` in Python or `current.card.append(…)` in JavaScript)",
            t.pathspec()
        );
    }
    let (own, inherited): (Vec<Found>, Vec<Found>) = found.into_iter().partition(|f| f.own);
    if own.is_empty() {
        let from: Vec<String> = inherited
            .iter()
            .map(|f| {
                format!(
                    "`{}` from {}",
                    f.name,
                    f.rendered.task.as_deref().unwrap_or("?")
                )
            })
            .collect();
        bail!(
            "task {} wrote no card of its own; it inherited {}: ask for the task that wrote it",
            t.pathspec(),
            from.join(", ")
        );
    }
    Ok(own.into_iter().map(|f| f.rendered).collect())
}
