//! Cards in the UI: the section of a task's page that shows them, each in a sandboxed
//! `<iframe>`, and `/-/card/Flow/run/step/task/card:ID`, the card's own document.

use std::fmt::Write;

use axum::http::StatusCode;
use wflow_client::{Object, Task};

use crate::card::{self, Found};
use crate::shell::{self, asset, link};
use crate::text::{esc, seg};
use crate::{Reply, Ui};

/// The URL of a card's document.
fn card_url(ui: &Ui, pathspec: &str) -> String {
    let path: Vec<String> = pathspec.split('/').map(seg).collect();
    asset(ui, &format!("card/{}", path.join("/")))
}

/// A card in a sandboxed frame (no script, no same origin) with a link to open it alone.
pub fn frame(ui: &Ui, pathspec: &str, id: &str) -> String {
    let url = card_url(ui, pathspec);
    format!(
        r#"<div class="card" data-card="{id}"><iframe class="card" sandbox src="{url}" title="card {id}" loading="lazy"></iframe><p class="note"><a href="{url}">open card {id} alone</a></p></div>"#,
        id = esc(id),
    )
}

/// The "Cards" section of a task's page: its own cards in frames, the inherited ones as links
/// to the task that wrote them. Empty when the task has none.
pub fn section(ui: &Ui, t: &Task) -> String {
    let found: Vec<Found> = match card::of_task(t) {
        Ok(f) => f,
        Err(_) => return String::new(), // the artifacts section says why
    };
    if found.is_empty() {
        return String::new();
    }
    let mut out = String::from(r#"<h2>Cards</h2>"#);
    for f in found.iter().filter(|f| f.own) {
        if !f.rendered.problems.is_empty() {
            let _ = write!(
                out,
                r#"<p class="error">card {}: {} problem(s), shown in the card</p>"#,
                esc(&f.rendered.id),
                f.rendered.problems.len()
            );
        }
        out.push_str(&frame(ui, &f.pathspec, &f.rendered.id));
    }
    for f in found.iter().filter(|f| !f.own) {
        let from = f.rendered.task.as_deref().unwrap_or("");
        let parts: Vec<&str> = from.split('/').collect();
        let _ = write!(
            out,
            r#"<p class="note inherited">card {} inherited from {}</p>"#,
            esc(&f.rendered.id),
            if parts.len() == 4 {
                link(ui, &parts, from)
            } else {
                esc(from)
            }
        );
    }
    out
}

/// `/-/card/Flow/run/step/task/card:ID`: the card as a self-contained document, served with a
/// Content-Security-Policy `sandbox` (see [`Reply::Card`]).
pub fn document(ui: &Ui, path: &str) -> Reply {
    match ui.client.get(path) {
        Ok(Object::Artifact(a)) if card::is_card(a.codec()) => {
            let rendered = match a.bytes() {
                Ok(bytes) => card::render(a.name(), &bytes),
                Err(e) => card::Rendered::failed(a.name(), e.to_string()),
            };
            Reply::Card(card::document(&a.pathspec(), &[rendered]))
        }
        Ok(Object::Artifact(a)) => shell::message(
            ui,
            StatusCode::NOT_FOUND,
            "Not a card",
            &format!(
                "{} has codec `{}`, not `{}`: it is not a card",
                a.pathspec(),
                a.codec(),
                card::CODEC
            ),
        ),
        Ok(_) => shell::message(
            ui,
            StatusCode::NOT_FOUND,
            "Not found",
            &format!("`{path}` does not name a card (Flow/run/step/task/card:ID)"),
        ),
        Err(e) => shell::error(ui, path, &e),
    }
}
