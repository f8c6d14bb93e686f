//! A run as self-contained HTML (no script, no external resource): an SVG drawing of its graph —
//! one box per step, laid out by topological depth, coloured by status, with task counts and
//! durations — and a table of the same, and links to the cards its tasks wrote. `wflow show RUN
//! --html FILE` writes the [`page`] (and the cards beside it); the
//! Python package shows the [`fragment`] in notebooks.

use std::fmt::Write;

use wflow_client::Run;

use crate::graph::{RunView, colours, svg};
use crate::text::{duration, esc, params, time};

/// The whole page; `cards` are links (text, relative URL) to the cards of the run's tasks,
/// listed under the steps when there are any.
pub fn page(run: &Run, view: &RunView, cards: &[(String, String)]) -> String {
    let mut links = String::new();
    if !cards.is_empty() {
        links.push_str(
            r#"<h2 style="font-family:system-ui,sans-serif;font-size:1.1rem">Cards</h2><ul class="cards">"#,
        );
        for (text, url) in cards {
            let _ = write!(
                links,
                r#"<li><a href="{}">{}</a></li>"#,
                esc(url),
                esc(text)
            );
        }
        links.push_str("</ul>\n");
    }
    format!(
        r##"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ margin: 2rem; }}
</style>
</head>
<body>
{body}{links}<p style="color:#6b7280;font-size:.8rem">Written by wflow {version}.</p>
</body>
</html>
"##,
        title = esc(&run.pathspec()),
        body = fragment(run, view),
        version = env!("CARGO_PKG_VERSION"),
    )
}

/// The run's summary, graph and steps table in one `<div class="wflow-run">` whose styles apply
/// to it alone (it sits in a notebook's output as well as in [`page`]).
pub fn fragment(run: &Run, view: &RunView) -> String {
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
        let label = match r.kind {
            wflow_metadata::RunKind::StepRun => "step-run of",
            wflow_metadata::RunKind::Run => "resumes",
        };
        meta.push((label, esc(&format!("{}/{o}", r.flow))));
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
            r#"<tr><td>{}{}</td><td>{}</td><td style="color:{stroke};font-weight:600">{label}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td></tr>"#,
            "&nbsp;&nbsp;".repeat(s.depth),
            esc(&s.name),
            esc(&s.kind),
            st.tasks,
            st.succeeded,
            st.failed,
            st.caught,
            st.reused - st.cached,
            st.cached,
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
        r##"<div class="wflow-run">
<style>
.wflow-run {{ font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color: #111827; }}
.wflow-run h1 {{ font-size: 1.4rem; margin-bottom: .3rem; }}
.wflow-run table {{ border-collapse: collapse; margin: 1rem 0; }}
.wflow-run th, .wflow-run td {{ text-align: left; padding: .25rem .8rem .25rem 0; vertical-align: top; }}
.wflow-run table.steps th {{ border-bottom: 1px solid #d1d5db; }}
.wflow-run table.steps td {{ border-bottom: 1px solid #f3f4f6; }}
.wflow-run td.n {{ text-align: right; font-variant-numeric: tabular-nums; }}
.wflow-run .err {{ color: #b91c1c; white-space: pre-wrap; }}
.wflow-run .graph {{ overflow-x: auto; border: 1px solid #e5e7eb; border-radius: 8px; padding: .5rem; background: #fcfcfd; }}
.wflow-run .legend span {{ display: inline-block; margin-right: 1rem; font-size: .85rem; }}
.wflow-run .legend i {{ display: inline-block; width: .8rem; height: .8rem; border-radius: 3px; margin-right: .3rem; vertical-align: -1px; }}
.wflow-run svg text {{ font-family: system-ui, -apple-system, "Segoe UI", sans-serif; }}
</style>
<h1>{title}</h1>
<table class="meta">
{rows}</table>
<div class="legend"><span><i style="background:#e3f5ea;border:1px solid #2f9e5b"></i>succeeded</span><span><i style="background:#fde4e3;border:1px solid #d64541"></i>failed</span><span><i style="background:#fff4d1;border:1px solid #d99a00"></i>running</span><span><i style="background:#f3f4f6;border:1px dashed #9aa1a9"></i>not run</span><span>stacked box: many tasks · thick border: join · dashed arrow: foreach</span></div>
<div class="graph">
{svg}</div>
<table class="steps">
<tr><th>step</th><th>kind</th><th>status</th><th>tasks</th><th>succeeded</th><th>failed</th><th>caught</th><th>reused</th><th>cached</th><th>attempts</th><th>wall time</th><th>task time</th></tr>
{steps}</table>
</div>
"##,
        title = esc(&run.pathspec()),
        svg = svg(view, None),
    )
}
