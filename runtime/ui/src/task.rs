//! The pages of a task (attempts, logs, artifacts) and of an artifact (its value, paged), and the
//! raw downloads of artifacts and logs.

use std::fmt::Write;

use axum::http::StatusCode;
use wflow_client::{Artifact, LogSource, Object, Status, Stream, Task, preview_cbor_page};

use crate::shell::{self, asset, badge, link, number, page, pager};
use crate::text::{duration, esc, seg, size, time};
use crate::{Params, Reply, Ui};

/// The end of a log shown on a task's page; the whole log is a download.
const LOG_SHOWN_BYTES: usize = 64 << 10;
/// Input tasks linked from a task's page at most.
const INPUTS_SHOWN: usize = 20;
/// Items of an artifact's top-level array or map per page.
const ITEMS_PER_PAGE: u64 = 100;
/// Bytes of JSON shown per page of an artifact's value (about).
const VALUE_BUDGET: usize = 256 << 10;
/// Bytes of a raw artifact shown as text.
const RAW_SHOWN_BYTES: usize = 16 << 10;

fn parts(t: &Task) -> [String; 4] {
    [
        t.flow().to_string(),
        t.record().run_id.clone(),
        t.step().to_string(),
        t.id().to_string(),
    ]
}

/// The name of the artifact a step's `catch` stores its caught error under, if it has one.
fn caught_name(t: &Task) -> Option<String> {
    let run = t
        .client()
        .run(&format!("{}/{}", t.flow(), t.record().run_id))
        .ok()?;
    run.spec().ok()?.step(t.step())?.catch.clone()
}

pub fn task_page(ui: &Ui, t: &Task, q: &Params) -> wflow_client::Result<Reply> {
    let rec = t.record();
    let p = parts(t);
    let p: Vec<&str> = p.iter().map(String::as_str).collect();
    let mut body = String::from(r#"<table class="meta">"#);
    let mut row = |k: &str, v: String| {
        let _ = write!(body, "<tr><th>{k}</th><td>{v}</td></tr>");
    };
    let caught = if rec.caught { " caught" } else { "" };
    row("status", format!("{}{caught}", badge(Some(rec.status))));
    if !rec.foreach_path.is_empty() {
        let item: Vec<String> = rec.foreach_path.iter().map(u32::to_string).collect();
        row("item", item.join("."));
    }
    row("started", format!("{} UTC", time(rec.started_ms)));
    row(
        "duration",
        t.duration_ms()
            .map(duration)
            .unwrap_or_else(|| "still running".into()),
    );
    row("attempts", rec.attempts.to_string());
    if let Some(o) = t.origin() {
        let o_parts: Vec<&str> = o.split('/').collect();
        let label = if rec.is_cached() {
            "cached from"
        } else {
            "reused from"
        };
        row(label, link(ui, &o_parts, &o));
    }
    if !rec.inputs.is_empty() {
        let run = t.client().run(&format!("{}/{}", t.flow(), rec.run_id))?;
        let mut links = Vec::new();
        for id in rec.inputs.iter().take(INPUTS_SHOWN) {
            if let Ok(input) = run.task(*id) {
                let id = id.to_string();
                links.push(link(
                    ui,
                    &[p[0], p[1], input.step(), &id],
                    &format!("{}/{id}", input.step()),
                ));
            }
        }
        if rec.inputs.len() > INPUTS_SHOWN {
            links.push(format!("… {} more", rec.inputs.len() - INPUTS_SHOWN));
        }
        row("inputs", links.join(", "));
    }
    let secrets = t.secrets()?;
    if !secrets.is_empty() {
        let names: Vec<String> = secrets
            .iter()
            .map(|s| format!("<code>{}</code>", esc(s)))
            .collect();
        row("secrets", format!("{} (names only)", names.join(", ")));
    }
    body.push_str("</table>");

    let attempts = t.attempts()?;
    if !attempts.is_empty() {
        body.push_str(
            r#"<h2>Attempts</h2><table class="attempts"><thead><tr><th>attempt</th><th>status</th><th>started (UTC)</th><th>duration</th><th>error</th></tr></thead><tbody>"#,
        );
        for a in &attempts {
            let _ = write!(
                body,
                r#"<tr><td><a href="?attempt={n}">{n}</a></td><td>{}</td><td>{}</td><td class="n">{}</td><td>{}</td></tr>"#,
                badge(Some(a.status)),
                time(a.started_ms),
                a.finished_ms
                    .map(|f| duration(f - a.started_ms))
                    .unwrap_or_default(),
                a.error
                    .as_deref()
                    .map(|e| format!(r#"<pre class="error">{}</pre>"#, esc(e)))
                    .unwrap_or_default(),
                n = a.attempt,
            );
        }
        body.push_str("</tbody></table>");
        let attempt = q.get("attempt").and_then(|a| a.parse().ok());
        match t.logs(attempt) {
            Ok(logs) => {
                let n = logs.attempt.attempt;
                let _ = write!(body, "<h2>Logs of attempt {n}</h2>");
                for stream in Stream::BOTH {
                    let log = logs.get(stream);
                    let source = match log.source {
                        LogSource::Stored => "",
                        LogSource::Live => r#" <span class="st st-running">live</span>"#,
                        LogSource::Empty => " (empty)",
                    };
                    let url = asset(
                        ui,
                        &format!(
                            "log/{}?attempt={n}&stream={stream}",
                            p.iter().map(|s| seg(s)).collect::<Vec<_>>().join("/")
                        ),
                    );
                    let _ = write!(
                        body,
                        r#"<h3>{stream}{source} <a class="dl" href="{url}">raw</a></h3>"#
                    );
                    if log.bytes.is_empty() {
                        continue;
                    }
                    let cut = log.bytes.len().saturating_sub(LOG_SHOWN_BYTES);
                    if cut > 0 {
                        let _ = write!(
                            body,
                            r#"<p class="note">the last {} of {} (the whole log is the raw download)</p>"#,
                            size(LOG_SHOWN_BYTES as u64),
                            size(log.bytes.len() as u64)
                        );
                    }
                    let _ = write!(
                        body,
                        r#"<pre class="log" data-stream="{stream}">{}</pre>"#,
                        esc(&String::from_utf8_lossy(&log.bytes[cut..]))
                    );
                }
            }
            Err(e) => {
                let _ = write!(body, r#"<p class="error">{}</p>"#, esc(&e.to_string()));
            }
        }
    }

    body.push_str(&crate::cards::section(ui, t));
    body.push_str("<h2>Artifacts</h2>");
    match t.artifacts() {
        Ok(artifacts) if artifacts.is_empty() => body.push_str("<p>none</p>"),
        Ok(artifacts) => {
            let caught = caught_name(t);
            body.push_str(
                r#"<table class="artifacts"><thead><tr><th>name</th><th>codec</th><th>size</th><th>digest</th><th></th></tr></thead><tbody>"#,
            );
            for a in &artifacts {
                let mark = if caught.as_deref() == Some(a.name()) {
                    r#" <span class="st st-failed">caught error</span>"#
                } else {
                    ""
                };
                let _ = write!(
                    body,
                    r#"<tr data-artifact="{}"><td>{}{mark}</td><td>{}</td><td class="n">{}</td><td><code>{}</code></td><td><a class="dl" href="{}">download</a></td></tr>"#,
                    esc(a.name()),
                    link(ui, &[p[0], p[1], p[2], p[3], a.name()], a.name()),
                    esc(a.codec()),
                    size(a.size()),
                    a.digest().to_hex().get(..16).unwrap_or_default(),
                    raw_url(ui, &p, a.name()),
                );
            }
            body.push_str("</tbody></table>");
        }
        // A failed task has none; its error is in the attempts above.
        Err(_) if rec.status == Status::Failed => {
            body.push_str(r#"<p class="note">none: the task failed</p>"#);
        }
        Err(e) => {
            let _ = write!(body, r#"<p class="note">{}</p>"#, esc(&e.to_string()));
        }
    }
    let live = rec.status == Status::Running;
    Ok(Reply::Html(
        StatusCode::OK,
        page(ui, &t.pathspec(), &p, live, &body),
    ))
}

fn raw_url(ui: &Ui, task: &[&str], name: &str) -> String {
    let mut path: Vec<String> = task.iter().map(|s| seg(s)).collect();
    path.push(seg(name));
    asset(ui, &format!("raw/{}", path.join("/")))
}

pub fn artifact_page(ui: &Ui, a: &Artifact, q: &Params) -> wflow_client::Result<Reply> {
    let spec = a.pathspec();
    let p: Vec<&str> = spec.split('/').collect();
    let mut body = format!(
        r#"<table class="meta"><tr><th>codec</th><td>{}</td></tr><tr><th>size</th><td>{}</td></tr><tr><th>digest</th><td><code>{}</code></td></tr></table><p><a class="dl" href="{}">download the raw bytes</a></p>"#,
        esc(a.codec()),
        size(a.size()),
        a.digest(),
        raw_url(ui, &p[..4], a.name()),
    );
    if crate::card::is_card(a.codec()) {
        body.push_str(&crate::cards::frame(ui, &spec, a.name()));
    } else {
        match value_html(a, q) {
            Ok(html) => body.push_str(&html),
            // A blob that cannot be read or decoded spoils this artifact only.
            Err(e) => {
                let _ = write!(body, r#"<p class="error">{}</p>"#, esc(&e));
            }
        }
    }
    Ok(Reply::Html(
        StatusCode::OK,
        page(ui, &spec, &p, false, &body),
    ))
}

fn value_html(a: &Artifact, q: &Params) -> Result<String, String> {
    let bytes = a.bytes().map_err(|e| e.to_string())?;
    if a.codec() != "cbor" {
        let shown = &bytes[..bytes.len().min(RAW_SHOWN_BYTES)];
        return Ok(match std::str::from_utf8(shown) {
            Ok(text) => format!(
                r#"<h2>Value ({} codec, as text{})</h2><pre class="value">{}</pre>"#,
                esc(a.codec()),
                if shown.len() < bytes.len() {
                    ", the start"
                } else {
                    ""
                },
                esc(text)
            ),
            Err(_) => format!(
                "<p>{} of binary data: download it to read it.</p>",
                size(bytes.len() as u64)
            ),
        });
    }
    let page_no = number(q, "page", 1).max(1);
    let skip = (page_no as u64 - 1) * ITEMS_PER_PAGE;
    match preview_cbor_page(&bytes, skip, ITEMS_PER_PAGE, VALUE_BUDGET)
        .map_err(|e| format!("{}: {e}", a.pathspec()))?
    {
        Some(pg) => {
            let pages = pg.total.div_ceil(ITEMS_PER_PAGE).max(1) as usize;
            let json = serde_json::to_string_pretty(&pg.value).unwrap_or_default();
            Ok(format!(
                r#"<h2>Value</h2><p class="note">items {} to {} of {}{}</p><pre class="value">{}</pre>{}"#,
                (skip + 1).min(pg.total),
                skip + pg.shown,
                pg.total,
                if pg.truncated {
                    " (long parts cut)"
                } else {
                    ""
                },
                esc(&json),
                pager(q, page_no, page_no < pages, Some(pages)),
            ))
        }
        None => {
            let p = wflow_client::preview_cbor(&bytes, VALUE_BUDGET)
                .map_err(|e| format!("{}: {e}", a.pathspec()))?;
            let json = serde_json::to_string_pretty(&p.value).unwrap_or_default();
            Ok(format!(
                r#"<h2>Value</h2>{}<pre class="value">{}</pre>"#,
                if p.truncated {
                    r#"<p class="note">long parts cut</p>"#
                } else {
                    ""
                },
                esc(&json)
            ))
        }
    }
}

/// `/-/raw/Flow/run/step/task/artifact`: the artifact's bytes as a download.
pub fn raw(ui: &Ui, path: &str) -> Reply {
    match ui.client.get(path) {
        Ok(Object::Artifact(a)) => match a.bytes() {
            Ok(bytes) => Reply::Bytes {
                content_type: "application/octet-stream",
                download: Some(a.name().to_string()),
                bytes,
            },
            Err(e) => shell::message(
                ui,
                StatusCode::INTERNAL_SERVER_ERROR,
                "Could not read the artifact",
                &e.to_string(),
            ),
        },
        Ok(_) => shell::message(
            ui,
            StatusCode::NOT_FOUND,
            "Not found",
            &format!("`{path}` does not name an artifact (Flow/run/step/task/artifact)"),
        ),
        Err(e) => shell::error(ui, path, &e),
    }
}

/// `/-/log/Flow/run/step/task?attempt=N&stream=stdout|stderr`: a log as plain text.
pub fn raw_log(ui: &Ui, path: &str, q: &Params) -> Reply {
    let stream = match q.get("stream").map(String::as_str) {
        None | Some("stdout") => Stream::Stdout,
        Some("stderr") => Stream::Stderr,
        Some(_) => {
            return shell::message(
                ui,
                StatusCode::BAD_REQUEST,
                "Bad request",
                "stream must be stdout or stderr",
            );
        }
    };
    let attempt = q.get("attempt").and_then(|a| a.parse().ok());
    let task = match ui.client.task(path) {
        Ok(t) => t,
        Err(e) => return shell::error(ui, path, &e),
    };
    match task.logs(attempt) {
        Ok(logs) => Reply::Bytes {
            content_type: "text/plain; charset=utf-8",
            download: None,
            bytes: logs.get(stream).bytes.clone(),
        },
        Err(e) => shell::error(ui, path, &e),
    }
}
