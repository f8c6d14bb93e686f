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

use std::collections::BTreeMap;
use std::fmt::Write;

use ciborium::Value as Cbor;
use serde_json::{Map, Value};

use crate::text::{clip, esc};

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

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "a map",
    }
}

fn mark(v: Option<&Value>) -> Result<Mark, String> {
    let name = match v {
        Some(Value::String(s)) => s.as_str(),
        Some(Value::Object(o)) => o
            .get("type")
            .and_then(Value::as_str)
            .ok_or("`mark` is a string or a map with `type`")?,
        Some(other) => return Err(format!("`mark` is a string, not {}", json_kind(other))),
        None => return Err("a chart needs a `mark` (bar, line, area, point)".into()),
    };
    Ok(match name {
        "bar" => Mark::Bar,
        "line" => Mark::Line,
        "area" => Mark::Area,
        "point" | "circle" | "square" => Mark::Point,
        other => {
            return Err(format!(
                "mark `{}` is not supported (bar, line, area, point, circle, square are)",
                clip(other, 40)
            ));
        }
    })
}

fn rows(data: Option<&Value>) -> Result<Vec<Map<String, Value>>, String> {
    let data = data
        .and_then(Value::as_object)
        .ok_or("a chart needs `data` with `values` (its rows, inline)")?;
    if data.contains_key("url") {
        return Err(
            "`data.url` is not supported: a card renders without network, put the rows in \
             `data.values`"
                .into(),
        );
    }
    let values = match data.get("values") {
        Some(Value::Array(v)) => v,
        Some(other) => {
            return Err(format!(
                "`data.values` is an array, not {}",
                json_kind(other)
            ));
        }
        None => return Err("`data` has no `values` (the rows, inline)".into()),
    };
    values
        .iter()
        .enumerate()
        .map(|(i, r)| match r {
            Value::Object(o) => Ok(o.clone()),
            other => Err(format!(
                "row {} of `data.values` is a map of fields, not {}",
                i + 1,
                json_kind(other)
            )),
        })
        .collect()
}

fn channel(
    name: &'static str,
    def: Option<&Value>,
    rows: &[Map<String, Value>],
    notes: &mut Vec<String>,
) -> Result<Channel, String> {
    let def = match def {
        Some(Value::Object(o)) => o,
        Some(other) => {
            return Err(format!(
                "`encoding.{name}` is a map with `field` and `type`, not {}",
                json_kind(other)
            ));
        }
        None => return Err(format!("a chart needs `encoding.{name}`")),
    };
    for k in def.keys() {
        if REFUSED_CHANNEL.contains(&k.as_str()) {
            return Err(format!("`encoding.{name}.{k}` is not supported"));
        }
        let honoured = CHANNEL_KEYS.contains(&k.as_str())
            || (k == "scale"
                && def[k].get("zero").is_some()
                && def[k].as_object().is_some_and(|s| s.len() == 1))
            || (k == "axis"
                && def[k].get("title").is_some()
                && def[k].as_object().is_some_and(|s| s.len() == 1));
        if !honoured {
            notes.push(format!("ignored: `encoding.{name}.{}`", clip(k, 40)));
        }
    }
    let agg = match def.get("aggregate").map(|a| a.as_str()) {
        None => None,
        Some(Some("count")) => Some(Agg::Count),
        Some(Some("sum")) => Some(Agg::Sum),
        Some(Some("mean" | "average")) => Some(Agg::Mean),
        Some(Some("median")) => Some(Agg::Median),
        Some(Some("min")) => Some(Agg::Min),
        Some(Some("max")) => Some(Agg::Max),
        Some(other) => {
            return Err(format!(
                "`encoding.{name}.aggregate` {} is not supported (count, sum, mean, average, \
                 median, min, max are)",
                other
                    .map(|s| format!("`{}`", clip(s, 20)))
                    .unwrap_or_default()
            ));
        }
    };
    let field = match def.get("field") {
        Some(Value::String(f)) => Some(f.clone()),
        Some(other) => {
            return Err(format!(
                "`encoding.{name}.field` is a string, not {}",
                json_kind(other)
            ));
        }
        None if agg == Some(Agg::Count) => None,
        None => return Err(format!("`encoding.{name}` needs a `field`")),
    };
    if let Some(f) = &field
        && !rows.is_empty()
        && !rows.iter().any(|r| r.contains_key(f))
    {
        let mut known: Vec<&str> = rows[0].keys().map(String::as_str).collect();
        known.truncate(12);
        return Err(format!(
            "field `{}` of `encoding.{name}` is in no row of `data.values` (fields: {})",
            clip(f, 40),
            known.join(", ")
        ));
    }
    let kind = match def.get("type").map(|t| t.as_str()) {
        Some(Some("quantitative" | "Q")) => Kind::Quantitative,
        Some(Some("temporal" | "T")) => Kind::Temporal,
        Some(Some("nominal" | "ordinal" | "N" | "O")) => Kind::Nominal,
        Some(other) => {
            return Err(format!(
                "`encoding.{name}.type` {}is not one of quantitative, temporal, nominal, ordinal",
                other
                    .map(|s| format!("`{}` ", clip(s, 20)))
                    .unwrap_or_default()
            ));
        }
        None if agg.is_some() => Kind::Quantitative,
        None => {
            let f = field.as_deref().unwrap_or("");
            if rows.iter().filter_map(|r| r.get(f)).all(Value::is_number) {
                Kind::Quantitative
            } else {
                Kind::Nominal
            }
        }
    };
    if agg.is_some() && kind != Kind::Quantitative {
        return Err(format!(
            "`encoding.{name}` aggregates, so its type is quantitative"
        ));
    }
    let title = def
        .get("title")
        .or_else(|| def.get("axis").and_then(|a| a.get("title")))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| match (agg, &field) {
            (Some(Agg::Count), _) => "Count of records".into(),
            (Some(a), Some(f)) => format!("{a:?} of {f}"),
            (_, f) => f.clone().unwrap_or_default(),
        });
    let zero = def
        .get("scale")
        .and_then(|s| s.get("zero"))
        .and_then(Value::as_bool)
        .unwrap_or(kind == Kind::Quantitative);
    Ok(Channel {
        name,
        field,
        kind,
        title,
        agg,
        zero,
    })
}

fn color(
    def: Option<&Value>,
    rows: &[Map<String, Value>],
    notes: &mut Vec<String>,
) -> Result<(Option<String>, Option<String>), String> {
    let Some(def) = def else {
        return Ok((None, None));
    };
    let def = def
        .as_object()
        .ok_or("`encoding.color` is a map with `field` or `value`")?;
    if let Some(v) = def.get("value") {
        let v = v.as_str().ok_or("`encoding.color.value` is a string")?;
        let ok = v.len() <= 32
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || "#(),.% ".contains(c));
        if !ok {
            return Err(format!(
                "`encoding.color.value` `{}` is not a colour",
                clip(v, 40)
            ));
        }
        return Ok((None, Some(v.to_string())));
    }
    let field = def
        .get("field")
        .and_then(Value::as_str)
        .ok_or("`encoding.color` needs a `field` (or a fixed `value`)")?;
    if !rows.is_empty() && !rows.iter().any(|r| r.contains_key(field)) {
        return Err(format!(
            "field `{}` of `encoding.color` is in no row of `data.values`",
            clip(field, 40)
        ));
    }
    for k in def.keys() {
        if !["field", "type", "title"].contains(&k.as_str()) {
            notes.push(format!("ignored: `encoding.color.{}`", clip(k, 40)));
        }
    }
    Ok((Some(field.to_string()), None))
}

/// A category label for a JSON value.
fn label(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

/// Milliseconds since the epoch of a date (`2026-11-28`) or a timestamp (RFC 3339).
fn parse_time(s: &str) -> Option<f64> {
    if let Ok(t) = s.parse::<jiff::Timestamp>() {
        return Some(t.as_millisecond() as f64);
    }
    if let Ok(dt) = s.parse::<jiff::civil::DateTime>() {
        return dt
            .to_zoned(jiff::tz::TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp().as_millisecond() as f64);
    }
    let d = s.parse::<jiff::civil::Date>().ok()?;
    d.to_zoned(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp().as_millisecond() as f64)
}

/// The value of `c` in `row` (`None`: missing or null, the row is skipped).
fn key(c: &Channel, row: &Map<String, Value>, i: usize) -> Result<Option<Key>, String> {
    let Some(f) = &c.field else {
        return Ok(Some(Key::Num(1.0))); // count
    };
    let v = match row.get(f) {
        None | Some(Value::Null) => return Ok(None),
        Some(v) => v,
    };
    let bad = |what: &str| {
        format!(
            "row {} of `data.values`: field `{}` is {}, not {what} (`encoding.{}` is {})",
            i + 1,
            clip(f, 40),
            clip(&v.to_string(), 40),
            c.name,
            match c.kind {
                Kind::Quantitative => "quantitative",
                Kind::Temporal => "temporal",
                Kind::Nominal => "nominal",
            }
        )
    };
    Ok(Some(match c.kind {
        Kind::Nominal => Key::Cat(label(v)),
        Kind::Quantitative => match v {
            Value::Number(n) => Key::Num(n.as_f64().ok_or_else(|| bad("a number"))?),
            Value::String(s) => Key::Num(s.trim().parse().map_err(|_| bad("a number"))?),
            _ => return Err(bad("a number")),
        },
        Kind::Temporal => match v {
            Value::Number(n) => Key::Num(n.as_f64().ok_or_else(|| bad("a time"))?),
            Value::String(s) => Key::Num(parse_time(s).ok_or_else(|| bad("a date or time"))?),
            _ => return Err(bad("a date or time")),
        },
    }))
}

fn aggregate(points: Vec<(Key, Key, String)>, x: &Channel, y: &Channel) -> Vec<(Key, Key, String)> {
    // The aggregated channel's values are combined per (other channel's value, series).
    let on_y = y.agg.is_some();
    let agg = if on_y { y.agg } else { x.agg }.unwrap_or(Agg::Sum);
    let mut groups: BTreeMap<(String, String), (Key, Vec<f64>)> = BTreeMap::new();
    for (xv, yv, s) in points {
        let (by, val) = if on_y { (xv, yv) } else { (yv, xv) };
        let Key::Num(n) = val else { continue };
        let id = match &by {
            Key::Num(n) => format!("{n:020.6}"),
            Key::Cat(c) => c.clone(),
        };
        groups.entry((id, s)).or_insert((by, Vec::new())).1.push(n);
    }
    groups
        .into_iter()
        .map(|((_, s), (by, mut vals))| {
            let v = match agg {
                Agg::Count => vals.len() as f64,
                Agg::Sum => vals.iter().sum(),
                Agg::Mean => vals.iter().sum::<f64>() / vals.len() as f64,
                Agg::Min => vals.iter().copied().fold(f64::INFINITY, f64::min),
                Agg::Max => vals.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                Agg::Median => {
                    vals.sort_by(f64::total_cmp);
                    let m = vals.len() / 2;
                    if vals.len() % 2 == 0 {
                        (vals[m - 1] + vals[m]) / 2.0
                    } else {
                        vals[m]
                    }
                }
            };
            if on_y {
                (by, Key::Num(v), s)
            } else {
                (Key::Num(v), by, s)
            }
        })
        .collect()
}

enum Scale {
    Band(Vec<String>),
    Linear { lo: f64, hi: f64, time: bool },
}

impl Scale {
    fn of<'a>(c: &Channel, keys: impl Iterator<Item = &'a Key>) -> Scale {
        if c.kind == Kind::Nominal {
            let mut cats: Vec<String> = Vec::new();
            for k in keys {
                if let Key::Cat(s) = k
                    && !cats.contains(s)
                {
                    cats.push(s.clone());
                }
            }
            // Vega-Lite sorts a nominal axis ascending; numbers-as-text by their value.
            cats.sort_by(|a, b| match (a.parse::<f64>(), b.parse::<f64>()) {
                (Ok(x), Ok(y)) => x.total_cmp(&y),
                _ => a.cmp(b),
            });
            return Scale::Band(cats);
        }
        let nums = keys.filter_map(|k| match k {
            Key::Num(n) if n.is_finite() => Some(*n),
            _ => None,
        });
        let (mut lo, mut hi) = nums.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), n| {
            (l.min(n), h.max(n))
        });
        if !lo.is_finite() {
            (lo, hi) = (0.0, 1.0);
        }
        if c.zero && c.kind == Kind::Quantitative {
            lo = lo.min(0.0);
            hi = hi.max(0.0);
        }
        if hi - lo <= 0.0 {
            hi = lo + 1.0;
        }
        let time = c.kind == Kind::Temporal;
        if !time {
            let step = nice_step(hi - lo);
            lo = (lo / step).floor() * step;
            hi = (hi / step).ceil() * step;
        }
        Scale::Linear { lo, hi, time }
    }

    /// Where `k` is along `len` pixels (the middle of its band), and the band width.
    fn at(&self, k: &Key, len: f64) -> (f64, f64) {
        match (self, k) {
            (Scale::Band(cats), Key::Cat(c)) => {
                let bw = len / cats.len().max(1) as f64;
                let i = cats.iter().position(|x| x == c).unwrap_or(0) as f64;
                (bw * (i + 0.5), bw)
            }
            (Scale::Linear { lo, hi, .. }, Key::Num(n)) => ((n - lo) / (hi - lo) * len, 0.0),
            _ => (0.0, 0.0),
        }
    }
}

/// A round step near a fifth of `span` (1, 2 or 5 times a power of ten).
fn nice_step(span: f64) -> f64 {
    let raw = span / 5.0;
    let p = 10f64.powf(raw.log10().floor());
    let m = raw / p;
    let f = if m <= 1.0 {
        1.0
    } else if m <= 2.0 {
        2.0
    } else if m <= 5.0 {
        5.0
    } else {
        10.0
    };
    f * p
}

fn ticks(lo: f64, hi: f64, time: bool) -> Vec<(f64, String)> {
    let step = if time {
        time_step(hi - lo)
    } else {
        nice_step(hi - lo)
    };
    let mut out = Vec::new();
    let mut v = (lo / step).ceil() * step;
    while v <= hi + step * 1e-9 && out.len() < 12 {
        let text = if time {
            let ts = jiff::Timestamp::from_millisecond(v as i64).unwrap_or_default();
            let fmt = if step >= DAY {
                "%Y-%m-%d"
            } else if step >= 60_000.0 {
                "%m-%d %H:%M"
            } else {
                "%H:%M:%S"
            };
            ts.strftime(fmt).to_string()
        } else {
            number(v, step)
        };
        out.push((v, text));
        v += step;
    }
    out
}

const DAY: f64 = 86_400_000.0;

/// A calendar-like step (seconds to years, in ms) giving at most about 8 ticks over `span` ms.
fn time_step(span: f64) -> f64 {
    const S: f64 = 1000.0;
    const STEPS: [f64; 18] = [
        S,
        5.0 * S,
        15.0 * S,
        30.0 * S,
        60.0 * S,
        300.0 * S,
        900.0 * S,
        1800.0 * S,
        3600.0 * S,
        3.0 * 3600.0 * S,
        6.0 * 3600.0 * S,
        12.0 * 3600.0 * S,
        DAY,
        2.0 * DAY,
        7.0 * DAY,
        30.0 * DAY,
        91.0 * DAY,
        365.0 * DAY,
    ];
    STEPS
        .into_iter()
        .find(|s| span / s <= 8.0)
        .unwrap_or_else(|| (span / 8.0 / (365.0 * DAY)).ceil() * 365.0 * DAY)
}

fn number(v: f64, step: f64) -> String {
    let v = if v.abs() < step * 1e-9 { 0.0 } else { v };
    if step.abs() >= 1.0 || step == 0.0 {
        let r = v.round();
        if r.abs() >= 1e6 {
            format!("{:.1e}", r)
        } else {
            format!("{r}")
        }
    } else {
        let decimals = (-step.log10().floor()) as usize;
        format!("{v:.decimals$}")
    }
}

const AXIS: &str = "#6b7280";

fn axis_x(out: &mut String, s: &Scale, c: &Channel, w: f64, h: f64, rotate: bool) {
    let _ = write!(
        out,
        r#"<line x1="0" y1="{h}" x2="{w}" y2="{h}" stroke="{AXIS}"/>"#
    );
    let labels: Vec<(f64, String)> = match s {
        Scale::Band(cats) => cats
            .iter()
            .map(|k| (s.at(&Key::Cat(k.clone()), w).0, clip(k, 14)))
            .collect(),
        Scale::Linear { lo, hi, time } => ticks(*lo, *hi, *time)
            .into_iter()
            .map(|(v, t)| (s.at(&Key::Num(v), w).0, t))
            .collect(),
    };
    let every = (labels.len() / 40).max(1);
    for (x, text) in labels.iter().step_by(every) {
        let _ = write!(
            out,
            r#"<line x1="{x:.1}" y1="{h}" x2="{x:.1}" y2="{:.1}" stroke="{AXIS}"/>"#,
            h + 4.0
        );
        if rotate {
            let _ = write!(
                out,
                r#"<text x="{x:.1}" y="{:.1}" fill="{AXIS}" text-anchor="end" transform="rotate(-45 {x:.1} {:.1})">{}</text>"#,
                h + 14.0,
                h + 14.0,
                esc(text)
            );
        } else {
            let _ = write!(
                out,
                r#"<text x="{x:.1}" y="{:.1}" fill="{AXIS}" text-anchor="middle">{}</text>"#,
                h + 16.0,
                esc(text)
            );
        }
    }
    let _ = write!(
        out,
        r##"<text class="axis-title" x="{:.1}" y="{:.1}" fill="#374151" font-weight="600" text-anchor="middle">{}</text>"##,
        w / 2.0,
        h + if rotate { 84.0 } else { 36.0 },
        esc(&clip(&c.title, 60))
    );
}

fn axis_y(out: &mut String, s: &Scale, c: &Channel, h: f64) {
    let _ = write!(
        out,
        r#"<line x1="0" y1="0" x2="0" y2="{h}" stroke="{AXIS}"/>"#
    );
    let labels: Vec<(f64, String)> = match s {
        Scale::Band(cats) => cats
            .iter()
            .map(|k| (h - s.at(&Key::Cat(k.clone()), h).0, clip(k, 8)))
            .collect(),
        Scale::Linear { lo, hi, time } => ticks(*lo, *hi, *time)
            .into_iter()
            .map(|(v, t)| (h - s.at(&Key::Num(v), h).0, t))
            .collect(),
    };
    let every = (labels.len() / 30).max(1);
    for (y, text) in labels.iter().step_by(every) {
        let _ = write!(
            out,
            r##"<line x1="-4" y1="{y:.1}" x2="0" y2="{y:.1}" stroke="{AXIS}"/><line x1="0" y1="{y:.1}" x2="100%" y2="{y:.1}" stroke="#f3f4f6"/><text x="-7" y="{:.1}" fill="{AXIS}" text-anchor="end">{}</text>"##,
            y + 3.5,
            esc(text)
        );
    }
    let _ = write!(
        out,
        r##"<text class="axis-title" x="{:.1}" y="-46" fill="#374151" font-weight="600" text-anchor="middle" transform="rotate(-90)">{}</text>"##,
        -h / 2.0,
        esc(&clip(&c.title, 60))
    );
}

#[allow(clippy::too_many_arguments)]
fn draw(
    out: &mut String,
    mark: Mark,
    xs: &Scale,
    ys: &Scale,
    points: &[(Key, Key, String)],
    series: &[String],
    colour_of: &dyn Fn(&str) -> String,
    w: f64,
    h: f64,
) {
    let px = |p: &(Key, Key, String)| xs.at(&p.0, w);
    let py = |p: &(Key, Key, String)| {
        let (y, bw) = ys.at(&p.1, h);
        (h - y, bw)
    };
    let groups = series.len().max(1) as f64;
    match mark {
        Mark::Bar => {
            let vertical = matches!(xs, Scale::Band(_));
            for p in points {
                let slot = series.iter().position(|s| *s == p.2).unwrap_or(0) as f64;
                let fill = esc(&colour_of(&p.2));
                let tip = esc(&format!("{} · {}", key_text(&p.0), key_text(&p.1)));
                if vertical {
                    let (cx, bw) = px(p);
                    let (y, _) = py(p);
                    let y0 = h - ys.at(&Key::Num(0.0), h).0;
                    let inner = bw * 0.8 / groups;
                    let x = cx - bw * 0.4 + slot * inner;
                    let _ = write!(
                        out,
                        r#"<rect class="mark" x="{x:.1}" y="{:.1}" width="{inner:.1}" height="{:.1}" fill="{fill}"><title>{tip}</title></rect>"#,
                        y.min(y0),
                        (y - y0).abs().max(0.5)
                    );
                } else {
                    let (cy, bh) = py(p);
                    let (x, _) = px(p);
                    let x0 = xs.at(&Key::Num(0.0), w).0;
                    let inner = bh * 0.8 / groups;
                    let y = cy - bh * 0.4 + slot * inner;
                    let _ = write!(
                        out,
                        r#"<rect class="mark" x="{:.1}" y="{y:.1}" width="{:.1}" height="{inner:.1}" fill="{fill}"><title>{tip}</title></rect>"#,
                        x.min(x0),
                        (x - x0).abs().max(0.5)
                    );
                }
            }
        }
        Mark::Line | Mark::Area => {
            for s in series
                .iter()
                .map(String::as_str)
                .chain(series.is_empty().then_some(""))
            {
                let mut pts: Vec<(f64, f64)> = points
                    .iter()
                    .filter(|p| p.2 == s)
                    .map(|p| (px(p).0, py(p).0))
                    .collect();
                pts.sort_by(|a, b| a.0.total_cmp(&b.0));
                if pts.is_empty() {
                    continue;
                }
                let path: Vec<String> = pts.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
                let colour = esc(&colour_of(s));
                if mark == Mark::Area {
                    let base = h - ys.at(&Key::Num(0.0), h).0;
                    let _ = write!(
                        out,
                        r#"<polygon class="mark" points="{:.1},{base:.1} {} {:.1},{base:.1}" fill="{colour}" fill-opacity="0.7"/>"#,
                        pts[0].0,
                        path.join(" "),
                        pts[pts.len() - 1].0
                    );
                } else {
                    let _ = write!(
                        out,
                        r#"<polyline class="mark" points="{}" fill="none" stroke="{colour}" stroke-width="2"/>"#,
                        path.join(" ")
                    );
                }
            }
        }
        Mark::Point => {
            for p in points {
                let _ = write!(
                    out,
                    r#"<circle class="mark" cx="{:.1}" cy="{:.1}" r="3.5" fill="none" stroke="{}" stroke-width="1.5"><title>{}</title></circle>"#,
                    px(p).0,
                    py(p).0,
                    esc(&colour_of(&p.2)),
                    esc(&format!("{} · {}", key_text(&p.0), key_text(&p.1)))
                );
            }
        }
    }
}

fn key_text(k: &Key) -> String {
    match k {
        Key::Num(n) => {
            if n.fract() == 0.0 && n.abs() < 1e15 {
                format!("{n:.0}")
            } else {
                format!("{n}")
            }
        }
        Key::Cat(c) => clip(c, 40),
    }
}
