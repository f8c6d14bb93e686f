//! Drawing a read chart as SVG: scales, ticks, axes and the marks.

use std::fmt::Write;

use super::{Channel, Key, Kind, Mark};
use crate::text::{clip, esc};

pub(super) enum Scale {
    Band(Vec<String>),
    Linear { lo: f64, hi: f64, time: bool },
}

impl Scale {
    pub(super) fn of<'a>(c: &Channel, keys: impl Iterator<Item = &'a Key>) -> Scale {
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

pub(super) fn axis_x(out: &mut String, s: &Scale, c: &Channel, w: f64, h: f64, rotate: bool) {
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

pub(super) fn axis_y(out: &mut String, s: &Scale, c: &Channel, h: f64) {
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
pub(super) fn draw(
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
