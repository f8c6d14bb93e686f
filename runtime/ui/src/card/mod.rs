//! Cards: reports a step writes for people — markdown, tables, images and charts — kept as an
//! artifact with the codec [`CODEC`] and rendered here as a self-contained HTML document.
//!
//! A card is an ordinary artifact put through the contract's existing `put` (no host function of
//! its own): its name is `card:ID` (`card:default` unless the step names the card), which no
//! Rust field, Python attribute or JavaScript property can be, so it never collides with a flow's
//! own artifacts; its bytes are one CBOR map:
//!
//! ```text
//! { "version": 1,                       the card format (this wflow reads 1)
//!   "id": "default",
//!   "task": "Flow/run/step/task",       the task that wrote it (a later task inherits it)
//!   "title": "…",                       optional
//!   "parts": [                          shown in order; each a map with one key:
//!     { "markdown": "# text" },
//!     { "table": { "columns": ["a", "b"], "rows": [[1, "x"], …] } },
//!     { "image": { "type": "image/png", "bytes": h'…', "alt": "…" } },
//!     { "chart": { Vega-Lite spec with its data inline in `data.values` } } ] }
//! ```
//!
//! Rendering never fails as a whole: a part that cannot be read is replaced by a message naming
//! the part and the problem, and the rest is shown. Nothing in a card can run script: text is
//! escaped, raw HTML in markdown is shown as text, links may only be `http(s)`/`mailto`/relative,
//! images are `data:` URLs in `<img>` (an SVG there cannot run script), charts are drawn here as
//! SVG (the supported Vega-Lite subset is in [`chart`]), and the UI serves a card with a
//! Content-Security-Policy `sandbox` in a sandboxed `<iframe>`.

pub mod chart;
mod markdown;

use std::fmt::Write;

use base64::Engine;
use ciborium::Value;

use crate::text::esc;

/// The codec of a card artifact.
pub const CODEC: &str = "wflow.card";

/// The prefix of a card artifact's name: `card:ID`.
pub const NAME_PREFIX: &str = "card:";

/// The card format this wflow writes and reads.
pub const VERSION: u64 = 1;

/// Largest card rendered, in bytes (a larger one is a download).
const MAX_CARD_BYTES: u64 = 64 << 20;

/// Table rows shown at most (the rest are counted).
const ROWS_SHOWN: usize = 10_000;

/// A card decoded enough to show: who wrote it, and its HTML body (parts that could not be read
/// are messages in the body and listed in `problems`).
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The card's id (`default` unless named).
    pub id: String,
    /// The task that wrote the card (`Flow/run/step/task`), if the card says.
    pub task: Option<String>,
    /// The card's title, if it has one.
    pub title: Option<String>,
    /// The card as HTML (a fragment: put it in [`document`]).
    pub body: String,
    /// What could not be shown, one line each (empty when every part rendered).
    pub problems: Vec<String>,
}

/// A card found among a task's artifacts.
#[derive(Debug, Clone)]
pub struct Found {
    /// The artifact's name (`card:ID`).
    pub name: String,
    /// The artifact's pathspec.
    pub pathspec: String,
    /// Whether this task wrote it (`false`: it inherited the card from `rendered.task`).
    pub own: bool,
    /// The card.
    pub rendered: Rendered,
}

/// The cards among `task`'s artifacts, its own first. A card whose bytes cannot be read is
/// one with a problem, not an error; an error means the task's artifacts cannot be listed.
pub fn of_task(task: &wflow_client::Task) -> wflow_client::Result<Vec<Found>> {
    let me = task.pathspec();
    let origin = task.origin();
    let mut found: Vec<Found> = task
        .artifacts()?
        .into_iter()
        .filter(|a| is_card(a.codec()))
        .map(|a| {
            let rendered = if a.size() > MAX_CARD_BYTES {
                Rendered::failed(
                    a.name(),
                    format!(
                        "the card `{}` is {}, more than the {} a page shows: download it",
                        a.name(),
                        crate::text::size(a.size()),
                        crate::text::size(MAX_CARD_BYTES)
                    ),
                )
            } else {
                match a.bytes() {
                    Ok(bytes) => render(a.name(), &bytes),
                    Err(e) => Rendered::failed(a.name(), e.to_string()),
                }
            };
            // A card that does not say who wrote it counts as the task's own.
            let own = match &rendered.task {
                None => true,
                Some(t) => *t == me || origin.as_deref() == Some(t.as_str()),
            };
            Found {
                name: a.name().to_string(),
                pathspec: a.pathspec(),
                own,
                rendered,
            }
        })
        .collect();
    found.sort_by(|a, b| {
        (!a.own, a.rendered.id != "default", &a.name).cmp(&(
            !b.own,
            b.rendered.id != "default",
            &b.name,
        ))
    });
    Ok(found)
}

/// Whether an artifact with `codec` is a card.
pub fn is_card(codec: &str) -> bool {
    codec == CODEC
}

/// Renders the bytes of a card artifact named `name`. Never fails: what cannot be read becomes a
/// message in the body.
pub fn render(name: &str, bytes: &[u8]) -> Rendered {
    let mut out = Rendered::empty(name);
    let value: Value = match ciborium::from_reader(bytes) {
        Ok(v) => v,
        Err(e) => {
            out.problem(format!(
                "the card `{name}` is not valid CBOR ({} bytes): {e}",
                bytes.len()
            ));
            return out;
        }
    };
    let Some(map) = value.as_map() else {
        out.problem(format!(
            "the card `{name}` is not a map with `parts` but {}",
            kind(&value)
        ));
        return out;
    };
    let field = |k: &str| {
        map.iter()
            .find(|(key, _)| key.as_text() == Some(k))
            .map(|(_, v)| v)
    };
    match field("version")
        .and_then(|v| v.as_integer())
        .map(u64::try_from)
    {
        Some(Ok(VERSION)) => {}
        Some(Ok(v)) if v > VERSION => out.problem(format!(
            "the card `{name}` has format version {v}, newer than this wflow reads ({VERSION}): \
             parts it does not know are listed as such"
        )),
        _ => out.problem(format!(
            "the card `{name}` has no valid `version` (expected {VERSION})"
        )),
    }
    out.task = field("task").and_then(|v| v.as_text()).map(str::to_string);
    out.title = field("title").and_then(|v| v.as_text()).map(str::to_string);
    if let Some(t) = &out.title {
        let _ = write!(out.body, "<h1>{}</h1>", esc(t));
    }
    match field("parts").map(|p| p.as_array()) {
        Some(Some(parts)) => {
            if parts.is_empty() {
                out.body
                    .push_str(r#"<p class="note">This card is empty.</p>"#);
            }
            for (i, part) in parts.iter().enumerate() {
                match render_part(part) {
                    Ok(html) => out.body.push_str(&html),
                    Err(e) => out.problem(format!("part {} of card `{name}`: {e}", i + 1)),
                }
            }
        }
        Some(None) => out.problem(format!("`parts` of card `{name}` is not an array")),
        None => out.problem(format!("the card `{name}` has no `parts`")),
    }
    out
}

impl Rendered {
    fn empty(name: &str) -> Rendered {
        Rendered {
            id: name.strip_prefix(NAME_PREFIX).unwrap_or(name).to_string(),
            task: None,
            title: None,
            body: String::new(),
            problems: Vec::new(),
        }
    }

    /// A card that could not be read, showing why.
    pub fn failed(name: &str, message: String) -> Rendered {
        let mut r = Rendered::empty(name);
        r.problem(message);
        r
    }

    fn problem(&mut self, message: String) {
        let _ = write!(self.body, r#"<p class="problem">{}</p>"#, esc(&message));
        self.problems.push(message);
    }
}

/// What a CBOR value is, for messages.
pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Integer(_) => "an integer",
        Value::Bytes(_) => "a byte string",
        Value::Float(_) => "a number",
        Value::Text(_) => "a string",
        Value::Bool(_) => "a boolean",
        Value::Null => "null",
        Value::Tag(..) => "a tagged value",
        Value::Array(_) => "an array",
        Value::Map(_) => "a map",
        _ => "a value of another kind",
    }
}

/// The value of key `k` of a CBOR map.
pub(crate) fn get<'a>(map: &'a [(Value, Value)], k: &str) -> Option<&'a Value> {
    map.iter()
        .find(|(key, _)| key.as_text() == Some(k))
        .map(|(_, v)| v)
}

fn render_part(part: &Value) -> Result<String, String> {
    let map = part
        .as_map()
        .ok_or_else(|| format!("a part is a map with one key, not {}", kind(part)))?;
    let [(key, value)] = map.as_slice() else {
        return Err(format!(
            "a part is a map with exactly one key (markdown, table, image or chart), this one has {}",
            map.len()
        ));
    };
    match key.as_text() {
        Some("markdown") => {
            let text = value
                .as_text()
                .ok_or_else(|| format!("markdown is a string, not {}", kind(value)))?;
            Ok(format!(r#"<div class="md">{}</div>"#, markdown::html(text)))
        }
        Some("table") => table(value),
        Some("image") => image(value),
        Some("chart") => chart::svg(value)
            .map(|(svg, notes)| {
                let mut out = format!(r#"<figure class="chart">{svg}"#);
                for n in notes {
                    let _ = write!(out, r#"<figcaption class="note">{}</figcaption>"#, esc(&n));
                }
                out.push_str("</figure>");
                out
            })
            .map_err(|e| format!("the chart does not validate: {e}")),
        Some(other) => Err(format!(
            "unknown part `{}` (this wflow shows markdown, table, image and chart)",
            crate::text::clip(other, 40)
        )),
        None => Err("a part's key is a string".into()),
    }
}

/// A table cell as text.
fn cell(v: &Value) -> String {
    match v {
        Value::Text(s) => s.clone(),
        Value::Integer(i) => i128::from(*i).to_string(),
        Value::Float(f) => f.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => String::new(),
        Value::Bytes(b) => format!("({} bytes)", b.len()),
        other => wflow_client::cbor_to_json(other.clone()).to_string(),
    }
}

fn table(value: &Value) -> Result<String, String> {
    let map = value.as_map().ok_or_else(|| {
        format!(
            "a table is a map with `columns` and `rows`, not {}",
            kind(value)
        )
    })?;
    let columns = match get(map, "columns") {
        None => Vec::new(),
        Some(Value::Array(c)) => c.iter().map(cell).collect(),
        Some(other) => return Err(format!("table `columns` is an array, not {}", kind(other))),
    };
    let rows = match get(map, "rows") {
        Some(Value::Array(r)) => r,
        Some(other) => return Err(format!("table `rows` is an array, not {}", kind(other))),
        None => return Err("a table has `rows` (an array of arrays)".into()),
    };
    let mut out = String::from(r#"<table class="card-table">"#);
    if !columns.is_empty() {
        out.push_str("<thead><tr>");
        for c in &columns {
            let _ = write!(out, "<th>{}</th>", esc(c));
        }
        out.push_str("</tr></thead>");
    }
    out.push_str("<tbody>");
    for (i, row) in rows.iter().take(ROWS_SHOWN).enumerate() {
        let cells = row
            .as_array()
            .ok_or_else(|| format!("table row {} is an array, not {}", i + 1, kind(row)))?;
        out.push_str("<tr>");
        for c in cells {
            let class = if matches!(c, Value::Integer(_) | Value::Float(_)) {
                r#" class="n""#
            } else {
                ""
            };
            let _ = write!(out, "<td{class}>{}</td>", esc(&cell(c)));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    if rows.len() > ROWS_SHOWN {
        let _ = write!(
            out,
            r#"<p class="note">the first {ROWS_SHOWN} of {} rows</p>"#,
            rows.len()
        );
    }
    Ok(out)
}

/// The image types a card shows, by their first bytes.
fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if bytes.len() > 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        let head = std::str::from_utf8(&bytes[..bytes.len().min(1024)]).ok()?;
        let head = head.trim_start_matches('\u{feff}').trim_start();
        (head.starts_with("<svg") || head.starts_with("<?xml") && head.contains("<svg"))
            .then_some("image/svg+xml")
    }
}

fn image(value: &Value) -> Result<String, String> {
    let map = value
        .as_map()
        .ok_or_else(|| format!("an image is a map with `bytes`, not {}", kind(value)))?;
    let bytes = match get(map, "bytes") {
        Some(Value::Bytes(b)) => b,
        Some(other) => {
            return Err(format!(
                "image `bytes` is a byte string, not {}",
                kind(other)
            ));
        }
        None => return Err("an image has `bytes`".into()),
    };
    let found = sniff(bytes).ok_or_else(|| {
        format!(
            "the image's {} bytes are not PNG, JPEG, GIF, WebP or SVG",
            bytes.len()
        )
    })?;
    if let Some(said) = get(map, "type").and_then(Value::as_text)
        && said != found
    {
        return Err(format!(
            "the image says it is `{}` but its bytes are {found}",
            crate::text::clip(said, 40)
        ));
    }
    let alt = get(map, "alt").and_then(Value::as_text).unwrap_or("");
    let data = base64::engine::general_purpose::STANDARD.encode(bytes);
    Ok(format!(
        r#"<figure class="image"><img alt="{}" src="data:{found};base64,{data}"></figure>"#,
        esc(alt)
    ))
}

const STYLE: &str = r#"body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1rem 1.5rem; color: #111827; background: #fff; }
h1 { font-size: 1.3rem; } h2 { font-size: 1.1rem; } h3 { font-size: 1rem; }
table { border-collapse: collapse; margin: .6rem 0; }
th, td { text-align: left; padding: .25rem .9rem .25rem 0; vertical-align: top; }
thead th { border-bottom: 1px solid #d1d5db; } tbody td { border-bottom: 1px solid #f3f4f6; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f9fafb; border: 1px solid #e5e7eb; border-radius: 6px; padding: .6rem; overflow: auto; white-space: pre-wrap; }
code { background: #f3f4f6; border-radius: 3px; padding: 0 .2rem; }
figure { margin: .8rem 0; } img { max-width: 100%; }
.problem { color: #b91c1c; background: #fff5f5; border: 1px solid #fecaca; border-radius: 6px; padding: .5rem .7rem; white-space: pre-wrap; }
.note, .meta { color: #6b7280; font-size: .85rem; }
section.card + section.card { border-top: 1px solid #e5e7eb; margin-top: 1.5rem; }
svg text { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; }"#;

/// A whole, self-contained HTML document of `cards` (no script, no external resource): what the
/// UI serves for one card and what `wflow card get` writes for one or more.
pub fn document(title: &str, cards: &[Rendered]) -> String {
    let mut body = String::new();
    for c in cards {
        let _ = write!(body, r#"<section class="card" data-card="{}">"#, esc(&c.id));
        if let Some(t) = &c.task {
            let _ = write!(
                body,
                r#"<p class="meta">card <b>{}</b> of {}</p>"#,
                esc(&c.id),
                esc(t)
            );
        }
        body.push_str(&c.body);
        body.push_str("</section>");
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\">\n\
         <title>{}</title>\n<style>\n{STYLE}\n</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n",
        esc(title)
    )
}

#[cfg(test)]
mod tests;
