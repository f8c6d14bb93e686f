//! Charts: a Vega-Lite spec with its data inline, drawn here as SVG.
//!
//! Vega and Vega-Lite (BSD-3-Clause) would be ~1 MB of minified JavaScript in the binary and
//! would need script in the page; cards run none. So wflow draws the common single-view charts
//! itself, on the server, and says plainly what it does not support:
//!
//! - `data.values`: an array of objects (`data.url` is refused: a card renders without network);
//! - `mark`: `bar`, `line`, `area`, `point`, `circle`, `square` (a string or `{"type": …}`);
//! - `encoding.x`, `encoding.y`: `field` + `type` (`quantitative`, `temporal`, `nominal`,
//!   `ordinal`; guessed from the data when absent), `title`, `aggregate` (`count`, `sum`, `mean`,
//!   `average`, `median`, `min`, `max`), `scale.zero`, `axis.title`; a bar chart needs one
//!   nominal/ordinal axis and one quantitative axis (vertical or horizontal bars);
//! - `encoding.color`: a nominal `field` (one series per value, a legend, the Tableau 10 colours
//!   Vega-Lite uses) or a fixed `value`;
//! - `title` (a string or `{"text": …}`), `width`, `height`, `description`, `$schema`.
//!
//! A spec that uses anything else that changes what is drawn (`layer`, `facet`, `concat`,
//! `repeat`, `transform`, `bin`, `timeUnit`, other encoding channels) does not validate: the card
//! shows the problem instead of a wrong picture. Options that only style (`config`, `axis`
//! details, `legend`, `sort`, …) are ignored and listed under the chart.

mod draw;
mod spec;

use std::fmt::Write;

use ciborium::Value as Cbor;
use serde_json::Value;

use crate::text::{clip, esc};
use draw::{Scale, axis_x, axis_y, draw};
use spec::{aggregate, channel, color, json_kind, key, label, mark, rows};

/// Marks drawn at most (the first rows); more would make the page heavy.
const MAX_MARKS: usize = 20_000;

/// Vega-Lite's default categorical colours (the `tableau10` scheme).
const PALETTE: [&str; 10] = [
    "#4c78a8", "#f58518", "#e45756", "#72b7b2", "#54a24b", "#eeca3b", "#b279a2", "#ff9da6",
    "#9d755d", "#bab0ac",
];

const TOP_KEYS: [&str; 9] = [
    "$schema",
    "description",
    "title",
    "width",
    "height",
    "data",
    "mark",
    "encoding",
    "name",
];
const REFUSED_TOP: [&str; 10] = [
    "layer",
    "facet",
    "hconcat",
    "vconcat",
    "concat",
    "repeat",
    "spec",
    "transform",
    "params",
    "selection",
];
const CHANNEL_KEYS: [&str; 4] = ["field", "type", "title", "aggregate"];
const REFUSED_CHANNEL: [&str; 5] = ["bin", "timeUnit", "stack", "condition", "datum"];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mark {
    Bar,
    Line,
    Area,
    Point,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Quantitative,
    Temporal,
    Nominal,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Agg {
    Count,
    Sum,
    Mean,
    Median,
    Min,
    Max,
}

struct Channel {
    name: &'static str,
    field: Option<String>,
    kind: Kind,
    title: String,
    agg: Option<Agg>,
    zero: bool,
}

/// A value on an axis: a number (quantitative, temporal as ms) or a category.
#[derive(Clone, PartialEq, PartialOrd, Debug)]
enum Key {
    Num(f64),
    Cat(String),
}

/// Draws `spec` (the CBOR of a Vega-Lite spec); returns the SVG and notes on what was ignored.
pub fn svg(spec: &Cbor) -> Result<(String, Vec<String>), String> {
    let spec = wflow_client::cbor_to_json(spec.clone());
    let spec = spec.as_object().ok_or_else(|| {
        format!(
            "a chart is a Vega-Lite spec (a map), not {}",
            json_kind(&spec)
        )
    })?;
    let mut notes = Vec::new();
    for k in spec.keys() {
        if REFUSED_TOP.contains(&k.as_str()) {
            return Err(format!(
                "`{k}` is not supported by wflow's chart renderer (one view: data.values, a mark, \
                 encoding x/y/color)"
            ));
        }
        if !TOP_KEYS.contains(&k.as_str()) {
            notes.push(format!("ignored: `{}`", clip(k, 40)));
        }
    }
    let mark = mark(spec.get("mark"))?;
    let rows = rows(spec.get("data"))?;
    let encoding = spec
        .get("encoding")
        .and_then(Value::as_object)
        .ok_or("a chart needs `encoding` with `x` and `y`")?;
    for k in encoding.keys() {
        if !["x", "y", "color"].contains(&k.as_str()) {
            return Err(format!(
                "encoding channel `{}` is not supported (x, y and color are)",
                clip(k, 40)
            ));
        }
    }
    let x = channel("x", encoding.get("x"), &rows, &mut notes)?;
    let y = channel("y", encoding.get("y"), &rows, &mut notes)?;
    let (color_field, color_value) = color(encoding.get("color"), &rows, &mut notes)?;
    let title = match spec.get("title") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Object(o)) => o.get("text").and_then(Value::as_str).map(str::to_string),
        _ => None,
    };
    let size = |k: &str, default: f64| {
        spec.get(k)
            .and_then(Value::as_f64)
            .filter(|v| (20.0..=4000.0).contains(v))
            .unwrap_or(default)
    };
    let (w, h) = (size("width", 420.0), size("height", 260.0));
    if mark == Mark::Bar && (x.kind == Kind::Nominal) == (y.kind == Kind::Nominal) {
        return Err(
            "a bar chart needs one nominal or ordinal axis and one quantitative axis".into(),
        );
    }
    // The points: (x, y, series), aggregated per (x or y category, series) when asked.
    let mut points: Vec<(Key, Key, String)> = Vec::new();
    let total = rows.len();
    for (i, row) in rows.iter().enumerate().take(MAX_MARKS) {
        let series = match &color_field {
            Some(f) => row.get(f).map(label).unwrap_or_default(),
            None => String::new(),
        };
        let (Some(xv), Some(yv)) = (key(&x, row, i)?, key(&y, row, i)?) else {
            continue;
        };
        points.push((xv, yv, series));
    }
    if total > MAX_MARKS {
        notes.push(format!("drew the first {MAX_MARKS} of {total} rows"));
    }
    if x.agg.is_some() || y.agg.is_some() {
        points = aggregate(points, &x, &y);
    }
    let mut series: Vec<String> = points.iter().map(|p| p.2.clone()).collect();
    series.sort();
    series.dedup();
    let colour_of = |s: &str| -> String {
        if let Some(v) = &color_value {
            return v.clone();
        }
        let i = series.iter().position(|x| x == s).unwrap_or(0);
        PALETTE[i % PALETTE.len()].to_string()
    };
    let xs = Scale::of(&x, points.iter().map(|p| &p.0));
    let ys = Scale::of(&y, points.iter().map(|p| &p.1));
    let rotate =
        matches!(&xs, Scale::Band(c) if c.len() > 8 || c.iter().any(|s| s.chars().count() > 8));
    let left = 60.0;
    let top = if title.is_some() { 34.0 } else { 12.0 };
    let bottom = if rotate { 90.0 } else { 46.0 };
    let legend = if color_field.is_some() { 140.0 } else { 12.0 };
    let (tw, th) = (left + w + legend, top + h + bottom);
    let mut out = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{tw}" height="{th}" viewBox="0 0 {tw} {th}" role="img" font-size="11">"##
    );
    if let Some(t) = &title {
        let _ = write!(
            out,
            r##"<text class="title" x="{:.1}" y="20" font-size="14" font-weight="600" text-anchor="middle" fill="#111827">{}</text>"##,
            left + w / 2.0,
            esc(&clip(t, 120))
        );
    }
    let _ = write!(out, r#"<g transform="translate({left},{top})">"#);
    axis_x(&mut out, &xs, &x, w, h, rotate);
    axis_y(&mut out, &ys, &y, h);
    draw(&mut out, mark, &xs, &ys, &points, &series, &colour_of, w, h);
    out.push_str("</g>");
    if color_field.is_some() {
        let lx = left + w + 16.0;
        let _ = write!(
            out,
            r##"<text x="{lx}" y="{:.1}" font-weight="600" fill="#374151">{}</text>"##,
            top + 8.0,
            esc(&clip(color_field.as_deref().unwrap_or(""), 20))
        );
        for (i, s) in series.iter().enumerate().take(30) {
            let y = top + 24.0 + i as f64 * 16.0;
            let _ = write!(
                out,
                r##"<rect x="{lx}" y="{:.1}" width="10" height="10" fill="{}"/><text x="{:.1}" y="{y:.1}" fill="#374151">{}</text>"##,
                y - 9.0,
                esc(&colour_of(s)),
                lx + 14.0,
                esc(&clip(s, 18))
            );
        }
    }
    out.push_str("</svg>");
    Ok((out, notes))
}
