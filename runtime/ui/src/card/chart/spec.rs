//! Reading a chart's spec: the mark, the rows, the channels — each checked against the subset
//! wflow draws, with an error naming what is wrong and where.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::{Agg, CHANNEL_KEYS, Channel, Key, Kind, Mark, REFUSED_CHANNEL};
use crate::text::clip;

pub(super) fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "a map",
    }
}

pub(super) fn mark(v: Option<&Value>) -> Result<Mark, String> {
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

pub(super) fn rows(data: Option<&Value>) -> Result<Vec<Map<String, Value>>, String> {
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

pub(super) fn channel(
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

pub(super) fn color(
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
pub(super) fn label(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

/// Milliseconds since the epoch of a date (`2026-11-28`) or a timestamp (RFC 3339).
pub(super) fn parse_time(s: &str) -> Option<f64> {
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
pub(super) fn key(c: &Channel, row: &Map<String, Value>, i: usize) -> Result<Option<Key>, String> {
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

pub(super) fn aggregate(
    points: Vec<(Key, Key, String)>,
    x: &Channel,
    y: &Channel,
) -> Vec<(Key, Key, String)> {
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
