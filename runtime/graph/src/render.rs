//! Drawings of a plan: plain text for `wflow check` and Graphviz DOT.

use std::fmt::Write;

use wflow_core::{StepSpec, Transition};

use crate::Plan;

/// The kind of a step: `linear`, `branch`, `foreach`, `switch`, `loop` (a switch that may go
/// back) or `end`, prefixed with `join+` for a join (a plain join that goes on to one step is just
/// `join`).
fn kind(plan: &Plan, step: &StepSpec) -> String {
    let base = match &step.transition {
        Transition::End => "end",
        Transition::Next(t) if t.len() >= 2 => "branch",
        Transition::Next(_) => "linear",
        Transition::Foreach(_) => "foreach",
        Transition::Switch { .. } if plan.loop_of(&step.name).is_some() => "loop",
        Transition::Switch { .. } => "switch",
    };
    match (step.join, base) {
        (false, _) => base.to_string(),
        (true, "linear") => "join".to_string(),
        (true, _) => format!("join+{base}"),
    }
}

/// The settings of a step that differ from the defaults, as `key=value` words.
fn settings(step: &StepSpec) -> Vec<String> {
    let mut out = Vec::new();
    if step.retries > 0 {
        out.push(format!("retries={}", step.retries));
    }
    if let Some(t) = step.timeout_secs {
        out.push(format!("timeout={t}s"));
    }
    if let Some(m) = step.memory_mb {
        out.push(format!("memory={m}MiB"));
    }
    if let Some(c) = step.cpu {
        out.push(format!("cpu={c}"));
    }
    if let Some(c) = &step.catch {
        out.push(format!("catch={c}"));
    }
    if let Some(c) = &step.compute {
        out.push(format!("compute={c}"));
    }
    let caps = &step.capabilities;
    if !caps.env.is_empty() {
        out.push(format!("env={}", caps.env.join(",")));
    }
    for d in &caps.dirs {
        let mode = if d.writable { "rw" } else { "ro" };
        out.push(format!("dir={}:{}:{mode}", d.host_path, d.guest_path));
    }
    if !caps.network.is_empty() {
        out.push(format!("network={}", caps.network.join(",")));
    }
    if caps.clock {
        out.push("clock".to_string());
    }
    if caps.random {
        out.push("random".to_string());
    }
    if !caps.secrets.is_empty() {
        out.push(format!("secrets={}", caps.secrets.join(",")));
    }
    out
}

/// Quotes a DOT identifier or label.
fn dot_quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl Plan {
    /// A text drawing of the graph for `wflow check`: one line per step in topological order,
    /// indented two spaces per open split, with its kind (see below), its transition, the split it
    /// closes if it is a join, and the settings that differ from the defaults.
    ///
    /// Kinds: `linear`, `branch`, `foreach`, `switch`, `loop`, `end`; a join is `join`, or
    /// `join+branch`, `join+foreach`, `join+end` when it does more than go on to one step. A
    /// switch's transition reads `-> a | b` (one of them runs); a loop's adds
    /// `(loops back to `a`, at most N iterations)`.
    ///
    /// ```text
    /// start   foreach  -> work
    ///   work  linear   -> gather  memory=256MiB
    /// gather  join     -> end     (joins foreach at `start`)  retries=2
    /// end     end
    /// ```
    pub fn render_text(&self) -> String {
        let rows: Vec<[String; 4]> = self
            .steps_in_order()
            .iter()
            .map(|name| {
                let step = self.step(name);
                let label = format!("{}{name}", "  ".repeat(self.depth(name)));
                let transition = match &step.transition {
                    Transition::End => String::new(),
                    Transition::Switch { choices, .. } => format!("-> {}", choices.join(" | ")),
                    t => format!("-> {}", t.targets().join(", ")),
                };
                let mut notes = Vec::new();
                if let (Some((target, _)), Transition::Switch { max_iterations, .. }) =
                    (self.loop_of(name), &step.transition)
                {
                    let n = max_iterations.unwrap_or(0);
                    notes.push(format!(
                        "(loops back to `{target}`, at most {n} iterations)"
                    ));
                }
                if let Some((split, kind)) = self.closes(name) {
                    notes.push(format!("(joins {kind} at `{split}`)"));
                }
                notes.extend(settings(step));
                [label, kind(self, step), transition, notes.join("  ")]
            })
            .collect();
        let width = |c: usize| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0);
        let widths = [width(0), width(1), width(2)];
        let mut out = String::new();
        for row in &rows {
            let mut line = String::new();
            for (c, w) in widths.iter().enumerate() {
                let _ = write!(line, "{:<w$}  ", row[c]);
            }
            line.push_str(&row[3]);
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    /// The graph in Graphviz DOT. Steps are boxes labelled with their name and (unless linear)
    /// their kind; `start` and `end` are ellipses and joins have a double border. Foreach edges
    /// are dashed and labelled `foreach`; a switch's edges are dotted and labelled `switch`, and a
    /// loop's way back is labelled with its bound.
    pub fn to_dot(&self) -> String {
        let mut out = format!("digraph {} {{\n", dot_quote(&self.spec().name));
        out.push_str("  node [shape=box, style=rounded];\n");
        for name in self.steps_in_order() {
            let step = self.step(name);
            let kind = kind(self, step);
            let label = match kind.as_str() {
                "linear" | "end" => name.clone(),
                _ => format!("{name}\n{kind}"),
            };
            let mut attrs = vec![format!("label={}", dot_quote(&label))];
            if name == "start" || name == "end" {
                attrs.push("shape=ellipse".to_string());
            }
            if step.join {
                attrs.push("peripheries=2".to_string());
            }
            let _ = writeln!(out, "  {} [{}];", dot_quote(name), attrs.join(", "));
        }
        for name in self.steps_in_order() {
            let step = self.step(name);
            let style = match &step.transition {
                Transition::Foreach(_) => " [style=dashed, label=\"foreach\"]".to_string(),
                Transition::Switch { .. } => " [style=dotted, label=\"switch\"]".to_string(),
                _ => String::new(),
            };
            for target in step.transition.targets() {
                let (from, to) = (dot_quote(name), dot_quote(target));
                let style = match &step.transition {
                    Transition::Switch { max_iterations, .. } if self.loops_back(name, target) => {
                        let n = max_iterations.unwrap_or(0);
                        format!(" [style=dotted, label=\"loop ≤ {n}\", constraint=false]")
                    }
                    _ => style.clone(),
                };
                let _ = writeln!(out, "  {from} -> {to}{style};");
            }
        }
        out.push_str("}\n");
        out
    }
}
