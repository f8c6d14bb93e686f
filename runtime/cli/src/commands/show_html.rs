//! `wflow show RUN --html FILE`: a self-contained HTML page (no script, no external resource)
//! with an SVG drawing of the run's graph — one box per step, laid out by topological depth,
//! coloured by status, with task counts and durations — and a table of the same.

use std::fmt::Write;

use wflow_client::{Run, Status};

use super::inspect::{duration, time};
use super::show::{RunView, StepView};

const NODE_W: f64 = 250.0;
const NODE_H: f64 = 74.0;
const GAP_X: f64 = 40.0;
const GAP_Y: f64 = 64.0;
const MARGIN: f64 = 28.0;

/// Escapes text for HTML and SVG.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn clip(text: &str, max: usize) -> String {
    super::inspect::clip(text, max)
}

/// Fill, stroke and label of a step's status.
fn colours(status: Option<Status>) -> (&'static str, &'static str, &'static str) {
    match status {
        Some(Status::Succeeded) => ("#e3f5ea", "#2f9e5b", "succeeded"),
        Some(Status::Failed) => ("#fde4e3", "#d64541", "failed"),
        Some(Status::Running) => ("#fff4d1", "#d99a00", "running"),
        None => ("#f3f4f6", "#9aa1a9", "not run"),
    }
}

/// Where each step's box goes: `(x, y)` of its top-left corner, and the canvas size.
pub fn layout(view: &RunView) -> (Vec<(f64, f64)>, f64, f64) {
    let n = view.steps.len();
    let layers = view
        .steps
        .iter()
        .map(|s| s.layer)
        .max()
        .map_or(0, |l| l + 1);
    let mut rows: Vec<Vec<usize>> = vec![Vec::new(); layers];
    for (i, s) in view.steps.iter().enumerate() {
        rows[s.layer].push(i);
    }
    // Order each row by the mean position of its steps' predecessors (fewer crossings).
    let mut slot = vec![0.0f64; n];
    for row in rows.iter_mut() {
        let key = |i: usize| -> f64 {
            let preds: Vec<f64> = view
                .steps
                .iter()
                .enumerate()
                .filter(|(_, p)| p.targets.iter().any(|t| t == &view.steps[i].name))
                .map(|(j, _)| slot[j])
                .collect();
            if preds.is_empty() {
                i as f64
            } else {
                preds.iter().sum::<f64>() / preds.len() as f64
            }
        };
        let mut keyed: Vec<(f64, usize)> = row.iter().map(|&i| (key(i), i)).collect();
        keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        *row = keyed.into_iter().map(|(_, i)| i).collect();
        let width = row.len() as f64;
        for (k, &i) in row.iter().enumerate() {
            slot[i] = k as f64 - (width - 1.0) / 2.0;
        }
    }
    let widest = rows.iter().map(Vec::len).max().unwrap_or(1).max(1) as f64;
    let canvas_w = 2.0 * MARGIN + widest * NODE_W + (widest - 1.0) * GAP_X;
    let canvas_h = 2.0 * MARGIN + layers as f64 * NODE_H + (layers.max(1) - 1) as f64 * GAP_Y;
    let mut pos = vec![(0.0, 0.0); n];
    for (layer, row) in rows.iter().enumerate() {
        let row_w = row.len() as f64 * NODE_W + (row.len().max(1) - 1) as f64 * GAP_X;
        let x0 = (canvas_w - row_w) / 2.0;
        for (k, &i) in row.iter().enumerate() {
            pos[i] = (
                x0 + k as f64 * (NODE_W + GAP_X),
                MARGIN + layer as f64 * (NODE_H + GAP_Y),
            );
        }
    }
    (pos, canvas_w, canvas_h)
}

/// The SVG drawing of the run's graph.
pub fn svg(view: &RunView) -> String {
    let (pos, w, h) = layout(view);
    let mut out = String::new();
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0}" height="{h:.0}" viewBox="0 0 {w:.0} {h:.0}" role="img" aria-label="graph of the run">
<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#6b7280"/></marker></defs>
"##
    );
    // Edges first, under the boxes.
    for (i, s) in view.steps.iter().enumerate() {
        for t in &s.targets {
            let Some(j) = view.steps.iter().position(|v| &v.name == t) else {
                continue;
            };
            let (x1, y1) = (pos[i].0 + NODE_W / 2.0, pos[i].1 + NODE_H);
            let (x2, y2) = (pos[j].0 + NODE_W / 2.0, pos[j].1 - 2.0);
            let mid = (y1 + y2) / 2.0;
            let dash = if s.foreach {
                r#" stroke-dasharray="6 4""#
            } else {
                ""
            };
            let _ = writeln!(
                out,
                r##"<path class="edge" d="M{x1:.1},{y1:.1} C{x1:.1},{mid:.1} {x2:.1},{mid:.1} {x2:.1},{y2:.1}" fill="none" stroke="#6b7280" stroke-width="1.6"{dash} marker-end="url(#arrow)"/>"##
            );
            if s.foreach {
                let _ = writeln!(
                    out,
                    r##"<text x="{:.1}" y="{:.1}" font-size="11" fill="#6b7280" font-style="italic">foreach</text>"##,
                    (x1 + x2) / 2.0 + 6.0,
                    mid
                );
            }
        }
    }
    for (i, s) in view.steps.iter().enumerate() {
        let (x, y) = pos[i];
        let (fill, stroke, label) = colours(s.status);
        let dash = if s.status.is_none() {
            r#" stroke-dasharray="4 3""#
        } else {
            ""
        };
        let _ = writeln!(
            out,
            r#"<g class="step" data-step="{}" data-status="{label}">"#,
            esc(&s.name)
        );
        let _ = writeln!(out, "<title>{}</title>", esc(&tooltip(s)));
        if s.stats.tasks > 1 {
            // A stack of cards for a step with many tasks.
            for k in [2.0, 1.0] {
                let _ = writeln!(
                    out,
                    r#"<rect x="{:.1}" y="{:.1}" width="{NODE_W}" height="{NODE_H}" rx="9" fill="{fill}" stroke="{stroke}" stroke-width="1" opacity="0.6"/>"#,
                    x + 4.0 * k,
                    y + 4.0 * k
                );
            }
        }
        let border = if s.join { 3.0 } else { 1.8 };
        let _ = writeln!(
            out,
            r#"<rect x="{x:.1}" y="{y:.1}" width="{NODE_W}" height="{NODE_H}" rx="9" fill="{fill}" stroke="{stroke}" stroke-width="{border}"{dash}/>"#
        );
        let _ = writeln!(
            out,
            r##"<text x="{:.1}" y="{:.1}" font-size="14" font-weight="600" fill="#111827">{}</text>"##,
            x + 12.0,
            y + 22.0,
            esc(&clip(&s.name, 24))
        );
        let _ = writeln!(
            out,
            r##"<text x="{:.1}" y="{:.1}" font-size="11" fill="#6b7280" text-anchor="end">{}</text>"##,
            x + NODE_W - 10.0,
            y + 22.0,
            esc(&s.kind)
        );
        let st = &s.stats;
        let mut counts = match st.tasks {
            0 => String::new(),
            1 => " · 1 task".to_string(),
            n => format!(" · {n} tasks"),
        };
        if st.failed > 0 && st.tasks > 1 {
            counts.push_str(&format!(", {} failed", st.failed));
        }
        if st.running > 0 && st.tasks > 1 {
            counts.push_str(&format!(", {} running", st.running));
        }
        let _ = writeln!(
            out,
            r##"<text x="{:.1}" y="{:.1}" font-size="12" fill="#374151"><tspan fill="{stroke}" font-weight="600">{label}</tspan>{}</text>"##,
            x + 12.0,
            y + 42.0,
            esc(&counts)
        );
        let mut times = match s.wall_ms() {
            Some(ms) => format!("{} wall · {} task time", duration(ms), duration(st.task_ms)),
            None => String::new(),
        };
        if st.reused > 0 {
            let reused = if st.reused == st.tasks {
                "reused".to_string()
            } else {
                format!("{} reused", st.reused)
            };
            times = if times.is_empty() {
                reused
            } else {
                format!("{reused} · {times}")
            };
        }
        let _ = writeln!(
            out,
            r##"<text x="{:.1}" y="{:.1}" font-size="11" fill="#6b7280">{}</text>"##,
            x + 12.0,
            y + 61.0,
            esc(&clip(&times, 38))
        );
        out.push_str("</g>\n");
    }
    out.push_str("</svg>\n");
    out
}

fn tooltip(s: &StepView) -> String {
    let st = &s.stats;
    let mut t = format!(
        "{} ({}): {}\n{} succeeded, {} failed, {} running, {} reused; {} attempts",
        s.name,
        s.kind,
        s.tasks_text(),
        st.succeeded,
        st.failed,
        st.running,
        st.reused,
        st.attempts
    );
    if let Some(ms) = s.wall_ms() {
        let _ = write!(
            t,
            "\nwall {}, task time {}",
            duration(ms),
            duration(st.task_ms)
        );
    }
    if let Some(m) = st.max_task_ms {
        let _ = write!(t, ", longest task {}", duration(m));
    }
    t
}

/// The whole page.
pub fn page(run: &Run, view: &RunView) -> String {
    let r = run.record();
    let (_, stroke, label) = colours(Some(r.status));
    let mut rows = String::new();
    let mut meta = vec![
        ("flow", esc(&r.flow)),
        ("run", esc(&r.run_id)),
        (
            "status",
            format!(r#"<b style="color:{stroke}">{label}</b>"#),
        ),
        (
            "started",
            format!("{} UTC by {}", time(r.started_ms), esc(&r.user)),
        ),
        (
            "duration",
            run.duration_ms()
                .map(duration)
                .unwrap_or_else(|| "still running".into()),
        ),
        ("parameters", esc(&params(&r.params))),
        ("component", format!("<code>{}</code>", r.component)),
    ];
    if !run.tags().is_empty() {
        meta.push(("tags", esc(&run.tags().join(", "))));
    }
    if let Some(o) = &r.origin_run {
        meta.push(("resumes", esc(&format!("{}/{o}", r.flow))));
    }
    if let Some(e) = &r.error {
        meta.push(("error", format!(r#"<span class="err">{}</span>"#, esc(e))));
    }
    for (k, v) in meta {
        let _ = writeln!(rows, "<tr><th>{k}</th><td>{v}</td></tr>");
    }
    let mut steps = String::new();
    for s in &view.steps {
        let (_, stroke, label) = colours(s.status);
        let st = &s.stats;
        let _ = writeln!(
            steps,
            r#"<tr><td>{}{}</td><td>{}</td><td style="color:{stroke};font-weight:600">{label}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td></tr>"#,
            "&nbsp;&nbsp;".repeat(s.depth),
            esc(&s.name),
            esc(&s.kind),
            st.tasks,
            st.succeeded,
            st.failed,
            st.reused,
            st.attempts,
            s.wall_ms().map(duration).unwrap_or_default(),
            if st.tasks > 0 {
                duration(st.task_ms)
            } else {
                String::new()
            },
        );
    }
    format!(
        r##"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem; color: #111827; }}
h1 {{ font-size: 1.4rem; margin-bottom: .3rem; }}
table {{ border-collapse: collapse; margin: 1rem 0; }}
th, td {{ text-align: left; padding: .25rem .8rem .25rem 0; vertical-align: top; }}
table.steps th {{ border-bottom: 1px solid #d1d5db; }}
table.steps td {{ border-bottom: 1px solid #f3f4f6; }}
td.n {{ text-align: right; font-variant-numeric: tabular-nums; }}
.err {{ color: #b91c1c; white-space: pre-wrap; }}
.graph {{ overflow-x: auto; border: 1px solid #e5e7eb; border-radius: 8px; padding: .5rem; background: #fcfcfd; }}
.legend span {{ display: inline-block; margin-right: 1rem; font-size: .85rem; }}
.legend i {{ display: inline-block; width: .8rem; height: .8rem; border-radius: 3px; margin-right: .3rem; vertical-align: -1px; }}
svg text {{ font-family: system-ui, -apple-system, "Segoe UI", sans-serif; }}
</style>
</head>
<body>
<h1>{title}</h1>
<table class="meta">
{rows}</table>
<div class="legend"><span><i style="background:#e3f5ea;border:1px solid #2f9e5b"></i>succeeded</span><span><i style="background:#fde4e3;border:1px solid #d64541"></i>failed</span><span><i style="background:#fff4d1;border:1px solid #d99a00"></i>running</span><span><i style="background:#f3f4f6;border:1px dashed #9aa1a9"></i>not run</span><span>stacked box: many tasks · thick border: join · dashed arrow: foreach</span></div>
<div class="graph">
{svg}</div>
<table class="steps">
<tr><th>step</th><th>kind</th><th>status</th><th>tasks</th><th>succeeded</th><th>failed</th><th>reused</th><th>attempts</th><th>wall time</th><th>task time</th></tr>
{steps}</table>
<p style="color:#6b7280;font-size:.8rem">Written by wflow {version}.</p>
</body>
</html>
"##,
        title = esc(&run.pathspec()),
        svg = svg(view),
        version = env!("CARGO_PKG_VERSION"),
    )
}

fn params(p: &serde_json::Value) -> String {
    match p.as_object() {
        Some(m) if !m.is_empty() => m
            .iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => format!("{k}={s}"),
                o => format!("{k}={o}"),
            })
            .collect::<Vec<_>>()
            .join(", "),
        _ => "none".into(),
    }
}
