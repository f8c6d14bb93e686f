//! The drawing of a run's graph, shared by `wflow show --html` and the web UI: one box per step,
//! laid out by longest path from `start`, coloured by status, with task counts and durations;
//! foreach edges dashed, joins drawn thick, steps with many tasks as a stack.

use std::fmt::Write;

use wflow_client::{Run, Status, StepStats};
use wflow_core::Transition;

use crate::text::{clip, duration, esc};

const NODE_W: f64 = 250.0;
const NODE_H: f64 = 74.0;
const GAP_X: f64 = 40.0;
const GAP_Y: f64 = 64.0;
const MARGIN: f64 = 28.0;

/// One step of a run as shown: where it sits in the graph and what its tasks add up to.
pub struct StepView {
    /// Its name.
    pub name: String,
    /// Splits open around it (indentation).
    pub depth: usize,
    /// Longest path from `start` (row of the drawing).
    pub layer: usize,
    /// `linear`, `branch`, `foreach`, `join`, `end`…
    pub kind: String,
    /// The steps it goes to.
    pub targets: Vec<String>,
    /// Whether it opens a foreach.
    pub foreach: bool,
    /// Whether it joins.
    pub join: bool,
    /// How it stands (`None`: not reached).
    pub status: Option<Status>,
    /// What its tasks add up to.
    pub stats: StepStats,
}

impl StepView {
    /// Wall time from the first task's start to the last one's end.
    pub fn wall_ms(&self) -> Option<i64> {
        Some(self.stats.last_finished_ms? - self.stats.first_started_ms?)
    }

    /// `1000 tasks (998 ok, 2 failed, 1000 reused)`, or `not run`.
    pub fn tasks_text(&self) -> String {
        let s = &self.stats;
        if s.tasks == 0 {
            return "not run".into();
        }
        let mut parts = Vec::new();
        if s.failed > 0 {
            parts.push(format!("{} failed", s.failed));
        }
        if s.running > 0 {
            parts.push(format!("{} running", s.running));
        }
        if s.caught > 0 {
            parts.push(format!("{} caught", s.caught));
        }
        parts.extend(reuse_parts(s, true));
        if s.attempts > s.tasks - s.reused {
            parts.push(format!("{} attempts", s.attempts));
        }
        let n = if s.tasks == 1 {
            "1 task".to_string()
        } else {
            format!("{} tasks", s.tasks)
        };
        if parts.is_empty() {
            n
        } else {
            format!("{n} ({})", parts.join(", "))
        }
    }
}

/// A run's steps in graph order, with their place in the graph.
pub struct RunView {
    /// The steps, `start` first.
    pub steps: Vec<StepView>,
}

impl RunView {
    /// The view of `run`: its steps with their stats and places.
    pub fn of(run: &Run) -> wflow_client::Result<RunView> {
        let steps = run.steps()?;
        let plan = run.plan().ok();
        let mut views: Vec<StepView> = Vec::with_capacity(steps.len());
        for step in &steps {
            let name = step.name().to_string();
            let (depth, kind, targets, foreach, join, layer) = match &plan {
                Some(plan) if plan.spec().step(&name).is_some() => {
                    let spec = plan.step(&name);
                    let layer = plan
                        .predecessors(&name)
                        .iter()
                        .filter_map(|p| views.iter().find(|v| &v.name == p).map(|v| v.layer + 1))
                        .max()
                        .unwrap_or(0);
                    (
                        plan.depth(&name),
                        kind_of(&spec.transition, spec.join),
                        spec.transition
                            .targets()
                            .iter()
                            .map(|t| t.to_string())
                            .collect(),
                        matches!(spec.transition, Transition::Foreach(_)),
                        spec.join,
                        layer,
                    )
                }
                _ => (0, "?".to_string(), Vec::new(), false, false, views.len()),
            };
            views.push(StepView {
                name,
                depth,
                layer,
                kind,
                targets,
                foreach,
                join,
                status: step.status(),
                stats: step.stats().clone(),
            });
        }
        Ok(RunView { steps: views })
    }
}

fn kind_of(t: &Transition, join: bool) -> String {
    let base = match t {
        Transition::End => "end",
        Transition::Next(v) if v.len() >= 2 => "branch",
        Transition::Next(_) => "linear",
        Transition::Foreach(_) => "foreach",
        Transition::Switch { .. } => "switch",
    };
    match (join, base) {
        (false, _) => base.to_string(),
        (true, "linear") => "join".to_string(),
        (true, _) => format!("join+{base}"),
    }
}

/// Fill, stroke and label of a step's status.
pub fn colours(status: Option<Status>) -> (&'static str, &'static str, &'static str) {
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

/// The SVG drawing of the run's graph. With `link`, each step's box links to `link(step)` (an
/// already escaped URL).
pub fn svg(view: &RunView, link: Option<&dyn Fn(&str) -> String>) -> String {
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
        if let Some(link) = link {
            let _ = write!(out, r#"<a href="{}">"#, link(&s.name));
        }
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
            let reused = reuse_parts(st, st.reused == st.tasks).join(", ");
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
        if link.is_some() {
            out.push_str("</a>\n");
        }
    }
    out.push_str("</svg>\n");
    out
}

/// How a step's tasks that did not run came about: `3 reused` (from a resumed run's origin),
/// `7 cached` (from the cache); with `whole`, a kind that is every task is the bare word.
pub fn reuse_parts(s: &StepStats, whole: bool) -> Vec<String> {
    let resumed = s.reused.saturating_sub(s.cached);
    let mut parts = Vec::new();
    for (n, word) in [(resumed, "reused"), (s.cached, "cached")] {
        if n == 0 {
            continue;
        }
        parts.push(if whole && n == s.tasks {
            word.to_string()
        } else {
            format!("{n} {word}")
        });
    }
    parts
}

fn tooltip(s: &StepView) -> String {
    let st = &s.stats;
    let mut t = format!(
        "{} ({}): {}\n{} succeeded, {} failed, {} running, {} reused, {} cached; {} attempts",
        s.name,
        s.kind,
        s.tasks_text(),
        st.succeeded,
        st.failed,
        st.running,
        st.reused - st.cached,
        st.cached,
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
