//! The pages of runs, a run and a step.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::fmt::Write;

use axum::http::StatusCode;
use wflow_client::{Item, Object, Run, RunFilter, Status, Step, Task, TaskQuery, TaskSort};

use crate::graph::{RunView, svg};
use crate::shell::{self, badge, href, link, number, page, pager, with};
use crate::text::{clip, duration, esc, params, time};
use crate::{Params, Reply, Ui};

/// Runs listed per page.
const RUNS_PER_PAGE: usize = 50;
/// Tasks listed per page of a step.
const TASKS_PER_PAGE: usize = 100;
/// Bytes of JSON previewed of a foreach item, and characters of it shown in the step table.
const ITEM_BUDGET: usize = 400;
const ITEM_CHARS: usize = 60;
/// Tasks drawn on a run's timeline at most (the earliest ones).
const TIMELINE_MAX: usize = 2_000;
/// Failed tasks listed at the top of a run's page at most.
const FAILED_SHOWN: usize = 20;

/// Whatever the path names.
pub fn object(ui: &Ui, path: &str, q: &Params) -> Reply {
    let path = path.trim_end_matches('/');
    let result = match ui.client.get(path) {
        Ok(Object::Flow(f)) => return runs(ui, Some(f.name()), q),
        Ok(Object::Run(r)) => run_page(ui, &r),
        Ok(Object::Step(s)) => step_page(ui, &s, q),
        Ok(Object::Task(t)) => crate::task::task_page(ui, &t, q),
        Ok(Object::Artifact(a)) => crate::task::artifact_page(ui, &a, q),
        Err(e) => Err(e),
    };
    result.unwrap_or_else(|e| shell::error(ui, path, &e))
}

/// The runs, newest first, filtered by the query (`flow`, `status`, `tag`, `user`, and the start
/// time: `within`, `from`, `to`) and paged.
pub fn runs(ui: &Ui, flow: Option<&str>, q: &Params) -> Reply {
    let filled = |k: &str| q.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let status = match filled("status").map(str::parse::<Status>) {
        Some(Ok(s)) => Some(s),
        Some(Err(_)) => {
            return shell::message(
                ui,
                StatusCode::BAD_REQUEST,
                "Bad request",
                "status must be running, succeeded or failed",
            );
        }
        None => None,
    };
    let (since_ms, until_ms) = match time_range(q) {
        Ok(r) => r,
        Err(text) => return shell::message(ui, StatusCode::BAD_REQUEST, "Bad request", &text),
    };
    let flow = flow.or(filled("flow"));
    let page_no = number(q, "page", 1).max(1);
    let filter = RunFilter {
        flow: flow.map(str::to_string),
        tags: filled("tag")
            .map(|t| vec![t.to_string()])
            .unwrap_or_default(),
        status,
        limit: Some(RUNS_PER_PAGE + 1),
        offset: (page_no - 1) * RUNS_PER_PAGE,
        user: filled("user").map(str::to_string),
        since_ms,
        until_ms,
        skip_spec: true,
        ..RunFilter::default()
    };
    let (flows, mut runs) = match ui
        .client
        .flows()
        .and_then(|f| Ok((f, ui.client.runs(&filter)?)))
    {
        Ok(x) => x,
        Err(e) => return shell::error(ui, "", &e),
    };
    let more = runs.len() > RUNS_PER_PAGE;
    runs.truncate(RUNS_PER_PAGE);
    let mut body = String::from(r#"<form class="filters" method="get">"#);
    let _ = write!(
        body,
        r#"<label>flow <select name="flow"><option value="">any</option>"#
    );
    for f in &flows {
        let sel = if Some(f.as_str()) == flow {
            " selected"
        } else {
            ""
        };
        let _ = write!(body, r#"<option{sel}>{}</option>"#, esc(f));
    }
    body.push_str(
        r#"</select></label> <label>status <select name="status"><option value="">any</option>"#,
    );
    for s in ["running", "succeeded", "failed"] {
        let sel = if status.map(|x| x.as_str()) == Some(s) {
            " selected"
        } else {
            ""
        };
        let _ = write!(body, "<option{sel}>{s}</option>");
    }
    for (key, label) in [("tag", "tag"), ("user", "user")] {
        let _ = write!(
            body,
            r#"</select></label> <label>{label} <input name="{key}" value="{}" size="12">"#,
            esc(filled(key).unwrap_or(""))
        );
    }
    body.push_str(
        r#"</label> <label>started <select name="within"><option value="">any time</option>"#,
    );
    for (value, label) in WITHIN {
        let sel = if filled("within") == Some(value) {
            " selected"
        } else {
            ""
        };
        let _ = write!(body, r#"<option value="{value}"{sel}>{label}</option>"#);
    }
    body.push_str("</select></label>");
    for key in ["from", "to"] {
        let _ = write!(
            body,
            r#" <label>{key} <input name="{key}" type="date" value="{}"></label>"#,
            esc(filled(key).unwrap_or(""))
        );
    }
    body.push_str(r#" <button type="submit">filter</button></form>"#);
    if runs.is_empty() {
        body.push_str(r#"<p class="empty">No runs match.</p>"#);
    } else {
        body.push_str(
            r#"<table class="runs"><thead><tr><th>run</th><th>flow</th><th>status</th><th>started (UTC)</th><th>duration</th><th>user</th><th>tags</th></tr></thead><tbody>"#,
        );
        for r in &runs {
            let rec = r.record();
            let _ = write!(
                body,
                r#"<tr data-run="{id}"><td>{run}</td><td>{flow}</td><td>{st}</td><td>{started}</td><td class="n">{dur}</td><td>{user}</td><td>{tags}</td></tr>"#,
                id = esc(&rec.run_id),
                run = link(ui, &[&rec.flow, &rec.run_id], &rec.run_id),
                flow = link(ui, &[&rec.flow], &rec.flow),
                st = badge(Some(rec.status)),
                started = time(rec.started_ms),
                dur = r.duration_ms().map(duration).unwrap_or_default(),
                user = esc(&rec.user),
                tags = esc(&r.tags().join(", ")),
            );
        }
        body.push_str("</tbody></table>");
    }
    body.push_str(&pager(q, page_no, more, None));
    let live = runs.iter().any(|r| r.status() == Status::Running);
    let title = match flow {
        Some(f) => format!("Runs of {f}"),
        None => "Runs".to_string(),
    };
    let crumbs: Vec<&str> = flow.into_iter().collect();
    Reply::Html(StatusCode::OK, page(ui, &title, &crumbs, live, &body))
}

/// The runs page's quick time ranges: `within=` value and label.
const WITHIN: [(&str, &str); 4] = [
    ("1h", "in the last hour"),
    ("24h", "in the last 24 hours"),
    ("7d", "in the last 7 days"),
    ("30d", "in the last 30 days"),
];

/// The start-time range the runs query asks for: `within` (`1h`, `24h`, `7d`, `30d`: up to
/// now), `from` and `to` (a UTC date, `to` taking in the whole day, or an RFC 3339 time). An
/// error names the parameter and what it must be.
fn time_range(q: &Params) -> Result<(Option<i64>, Option<i64>), String> {
    const HOUR: i64 = 3_600_000;
    let filled = |k: &str| q.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let mut since = match filled("within") {
        None => None,
        Some(w) => {
            let span = match w {
                "1h" => HOUR,
                "24h" => 24 * HOUR,
                "7d" => 7 * 24 * HOUR,
                "30d" => 30 * 24 * HOUR,
                other => {
                    return Err(format!(
                        "`within` must be 1h, 24h, 7d or 30d, not `{}`",
                        clip(other, 40)
                    ));
                }
            };
            Some(jiff::Timestamp::now().as_millisecond() - span)
        }
    };
    let at = |key: &str, end_of_day: bool| -> Result<Option<i64>, String> {
        let Some(text) = filled(key) else {
            return Ok(None);
        };
        if let Ok(t) = text.parse::<jiff::Timestamp>() {
            return Ok(Some(t.as_millisecond()));
        }
        let day = text
            .parse::<jiff::civil::Date>()
            .ok()
            .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok());
        match day {
            Some(d) => Ok(Some(
                d.timestamp().as_millisecond() + if end_of_day { 24 * HOUR } else { 0 },
            )),
            None => Err(format!(
                "`{key}` must be a date (2026-11-28, UTC) or a time (2026-11-28T18:25:50Z), not \
                 `{}`",
                clip(text, 40)
            )),
        }
    };
    if let Some(from) = at("from", false)? {
        since = Some(since.map_or(from, |s| s.max(from)));
    }
    Ok((since, at("to", true)?))
}

fn run_page(ui: &Ui, run: &Run) -> wflow_client::Result<Reply> {
    let r = run.record();
    let view = RunView::of(run)?;
    // Only what the page shows is read: the failed tasks listed, the earliest on the timeline.
    let steps = run.steps()?;
    let some = |status, sort, limit| -> wflow_client::Result<Vec<Task>> {
        let mut out = Vec::new();
        for step in &steps {
            let has = match status {
                Some(Status::Failed) => step.stats().failed,
                _ => step.stats().tasks,
            };
            if has > 0 {
                out.extend(step.tasks_page(&TaskQuery {
                    status,
                    sort,
                    desc: false,
                    limit: Some(limit),
                    offset: 0,
                })?);
            }
        }
        Ok(out)
    };
    let failed_total: u64 = steps.iter().map(|s| s.stats().failed).sum();
    let mut failed = some(Some(Status::Failed), TaskSort::Task, FAILED_SHOWN)?;
    failed.sort_by_key(|t| t.id());
    let total: u64 = steps.iter().map(|s| s.stats().tasks).sum();
    let mut earliest = some(None, TaskSort::Started, TIMELINE_MAX)?;
    earliest.sort_by_key(|t| (t.record().started_ms, t.id()));
    earliest.truncate(TIMELINE_MAX);
    let mut body = String::from(r#"<table class="meta">"#);
    let mut row = |k: &str, v: String| {
        let _ = write!(body, "<tr><th>{k}</th><td>{v}</td></tr>");
    };
    row("status", badge(Some(r.status)));
    row(
        "started",
        format!("{} UTC by {}", time(r.started_ms), esc(&r.user)),
    );
    row(
        "duration",
        run.duration_ms()
            .map(duration)
            .unwrap_or_else(|| "still running".into()),
    );
    row("parameters", esc(&params(&r.params)));
    if !run.tags().is_empty() {
        row("tags", esc(&run.tags().join(", ")));
    }
    if let Some(o) = &r.origin_run {
        let label = match r.kind {
            wflow_client::RunKind::StepRun => "step-run of",
            wflow_client::RunKind::Run => "resumes",
        };
        row(label, link(ui, &[&r.flow, o], &format!("{}/{o}", r.flow)));
    }
    row("component", format!("<code>{}</code>", r.component));
    if let Some(e) = &r.error {
        row("error", format!(r#"<pre class="error">{}</pre>"#, esc(e)));
    }
    body.push_str("</table>");
    if !failed.is_empty() {
        let _ = write!(
            body,
            r#"<h2>Failed tasks ({failed_total})</h2><ul class="failed">"#
        );
        for t in failed.iter().take(FAILED_SHOWN) {
            let error = t
                .attempts()
                .ok()
                .and_then(|a| a.into_iter().rev().find_map(|a| a.error))
                .unwrap_or_default();
            let first = error.lines().next().unwrap_or("");
            let _ = write!(
                body,
                r#"<li>{} <span class="error">{}</span></li>"#,
                link(
                    ui,
                    &[t.flow(), &t.record().run_id, t.step(), &t.id().to_string()],
                    &format!("{}/{}", t.step(), t.id())
                ),
                esc(&clip(first, 200))
            );
        }
        body.push_str("</ul>");
    }
    body.push_str(r#"<h2>Graph</h2><div class="graph">"#);
    let to_step = |step: &str| href(ui, &[&r.flow, &r.run_id, step]);
    body.push_str(&svg(&view, Some(&to_step)));
    body.push_str("</div>");
    body.push_str(
        r#"<table class="steps"><thead><tr><th>step</th><th>kind</th><th>status</th><th>tasks</th><th>wall time</th><th>task time</th><th>longest task</th></tr></thead><tbody>"#,
    );
    for s in &view.steps {
        let _ = write!(
            body,
            r#"<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td></tr>"#,
            link(ui, &[&r.flow, &r.run_id, &s.name], &s.name),
            esc(&s.kind),
            badge(s.status),
            esc(&s.tasks_text()),
            s.wall_ms().map(duration).unwrap_or_default(),
            if s.stats.tasks > 0 {
                duration(s.stats.task_ms)
            } else {
                String::new()
            },
            s.stats.max_task_ms.map(duration).unwrap_or_default(),
        );
    }
    body.push_str("</tbody></table>");
    body.push_str(&timeline(ui, &earliest, total as usize));
    let live = r.status == Status::Running;
    let title = format!("{}/{}", r.flow, r.run_id);
    Ok(Reply::Html(
        StatusCode::OK,
        page(ui, &title, &[&r.flow, &r.run_id], live, &body),
    ))
}

/// One bar per task on the lane of a worker slot (tasks packed onto the fewest lanes that never
/// overlap), so a slow item or an idle stretch shows at once. `tasks`: the earliest (at most
/// [`TIMELINE_MAX`]) of the run's `total`.
fn timeline(ui: &Ui, tasks: &[Task], total: usize) -> String {
    if tasks.is_empty() {
        return String::new();
    }
    let now = jiff::Timestamp::now().as_millisecond();
    let mut spans: Vec<(i64, i64, &Task)> = tasks
        .iter()
        .map(|t| {
            (
                t.record().started_ms,
                t.record().finished_ms.unwrap_or(now),
                t,
            )
        })
        .collect();
    spans.sort_by_key(|s| (s.0, s.2.id()));
    let cut = total > spans.len();
    let t0 = spans.iter().map(|s| s.0).min().unwrap_or(0);
    let t1 = spans.iter().map(|s| s.1).max().unwrap_or(t0).max(t0 + 1);
    // Lanes by their end time: a task goes on the lane that freed up first, if it has.
    let mut free: BinaryHeap<Reverse<(i64, usize)>> = BinaryHeap::new();
    let mut lanes = 0usize;
    let mut placed = Vec::with_capacity(spans.len());
    for (start, end, t) in &spans {
        let lane = match free.peek() {
            Some(Reverse((e, l))) if *e <= *start => {
                let l = *l;
                free.pop();
                l
            }
            _ => {
                lanes += 1;
                lanes - 1
            }
        };
        free.push(Reverse((*end, lane)));
        placed.push((lane, *start, *end, *t));
    }
    const W: f64 = 1000.0;
    const LANE: f64 = 14.0;
    let scale = W / (t1 - t0) as f64;
    let height = lanes as f64 * LANE + 20.0;
    let mut out = format!(
        r#"<h2>Timeline</h2><p class="note">{} tasks on {lanes} lanes over {}{}</p><div class="timeline"><svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" viewBox="0 0 {W} {height}">"#,
        spans.len(),
        duration(t1 - t0),
        if cut {
            format!(" (the first {} of {total} tasks)", spans.len())
        } else {
            String::new()
        }
    );
    for (lane, start, end, t) in placed {
        let x = (start - t0) as f64 * scale;
        let w = ((end - start) as f64 * scale).max(1.0);
        let y = lane as f64 * LANE;
        let (class, label) = shell::status_class(Some(t.status()));
        let _ = write!(
            out,
            r#"<a href="{}"><rect class="bar {class}" x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h}"><title>{} · {label} · {}</title></rect></a>"#,
            href(
                ui,
                &[t.flow(), &t.record().run_id, t.step(), &t.id().to_string()]
            ),
            esc(&format!("{}/{}", t.step(), t.id())),
            duration(end - start),
            h = LANE - 3.0,
        );
    }
    let _ = write!(
        out,
        r##"<text x="0" y="{:.1}" font-size="11" fill="#6b7280">{}</text><text x="{W}" y="{:.1}" font-size="11" fill="#6b7280" text-anchor="end">+{}</text></svg></div>"##,
        height - 4.0,
        time(t0),
        height - 4.0,
        duration(t1 - t0)
    );
    out
}

/// The item column of a task: its foreach indices (`3`, or `1.3` when nested) and, when its
/// split recorded the items, the start of its value.
fn item(t: &Task, items: &BTreeMap<u64, Item>) -> String {
    let path = t
        .record()
        .foreach_path
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(".");
    let Some(item) = items.get(&t.id()) else {
        return path;
    };
    let value = match item.codec.as_str() {
        "cbor" => match wflow_client::preview_cbor(&item.bytes, ITEM_BUDGET) {
            Ok(p) => clip(&p.value.to_string(), ITEM_CHARS),
            Err(e) => format!("(not CBOR: {})", clip(&e, 60)),
        },
        codec => format!("({codec}, {})", crate::text::size(item.bytes.len() as u64)),
    };
    format!(r#"{path} <code class="item">{}</code>"#, esc(&value))
}

fn step_page(ui: &Ui, step: &Step, q: &Params) -> wflow_client::Result<Reply> {
    let bad = |text: String| {
        Ok(shell::message(
            ui,
            StatusCode::BAD_REQUEST,
            "Bad request",
            &text,
        ))
    };
    let filled = |k: &str| q.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let status = match filled("status").map(str::parse::<Status>) {
        Some(Ok(s)) => Some(s),
        Some(Err(e)) => return bad(e.to_string()),
        None => None,
    };
    let sort = match filled("sort").map(str::parse::<TaskSort>) {
        Some(Ok(s)) => s,
        Some(Err(e)) => return bad(e.to_string()),
        None => TaskSort::Task,
    };
    let desc = q.get("desc").is_some_and(|d| d == "1");
    let st = step.stats();
    let total = match status {
        None => st.tasks,
        Some(Status::Succeeded) => st.succeeded,
        Some(Status::Failed) => st.failed,
        Some(Status::Running) => st.running,
    } as usize;
    let pages = total.div_ceil(TASKS_PER_PAGE).max(1);
    let page_no = number(q, "page", 1).clamp(1, pages);
    let shown = step.tasks_page(&TaskQuery {
        status,
        sort,
        desc,
        limit: Some(TASKS_PER_PAGE),
        offset: (page_no - 1) * TASKS_PER_PAGE,
    })?;
    let (items, items_error) = match wflow_client::items_of(&shown) {
        Ok(items) => (items, None),
        Err(e) => (BTreeMap::new(), Some(e)),
    };
    let mut body = format!(
        r#"<p>{} · {} tasks: {} succeeded ({} caught), {} failed, {} running, {} reused, {} cached</p>"#,
        badge(step.status()),
        st.tasks,
        st.succeeded,
        st.caught,
        st.failed,
        st.running,
        st.reused - st.cached,
        st.cached
    );
    body.push_str(r#"<p class="filters">show: "#);
    for (label, value) in [
        ("all", ""),
        ("failed", "failed"),
        ("running", "running"),
        ("succeeded", "succeeded"),
    ] {
        let _ = write!(
            body,
            r#"<a href="{}">{label}</a> "#,
            with(&without_page(q), "status", value)
        );
    }
    body.push_str("</p>");
    if let Some(e) = items_error {
        let _ = write!(
            body,
            r#"<p class="error">The items cannot be shown: {}</p>"#,
            esc(&e.to_string())
        );
    }
    let head = |key: TaskSort, label: &str| {
        let key = key.as_str();
        let q2 = without_page(q);
        let mut url = with(&q2, "sort", key);
        if sort.as_str() == key && !desc {
            let mut q3 = q2.clone();
            q3.insert("sort".into(), key.into());
            url = with(&q3, "desc", "1");
        }
        let mark = if sort.as_str() == key {
            if desc { " ▼" } else { " ▲" }
        } else {
            ""
        };
        format!(r#"<th><a href="{url}">{label}{mark}</a></th>"#)
    };
    body.push_str(r#"<table class="tasks"><thead><tr>"#);
    for (k, l) in [
        (TaskSort::Task, "task"),
        (TaskSort::Item, "item"),
        (TaskSort::Status, "status"),
        (TaskSort::Started, "started (UTC)"),
        (TaskSort::Duration, "duration"),
        (TaskSort::Attempts, "attempts"),
    ] {
        body.push_str(&head(k, l));
    }
    body.push_str("</tr></thead><tbody>");
    for t in &shown {
        let id = t.id().to_string();
        let _ = write!(
            body,
            r#"<tr data-task="{id}"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class="n">{}</td><td class="n">{}</td></tr>"#,
            link(ui, &[t.flow(), step.run_id(), step.name(), &id], &id),
            item(t, &items),
            badge(Some(t.status())),
            time(t.record().started_ms),
            t.duration_ms().map(duration).unwrap_or_default(),
            t.record().attempts,
        );
    }
    body.push_str("</tbody></table>");
    body.push_str(&pager(q, page_no, page_no < pages, Some(pages)));
    let flow = flow_of(&step.pathspec());
    let live = step.status() == Some(Status::Running);
    Ok(Reply::Html(
        StatusCode::OK,
        page(
            ui,
            &step.pathspec(),
            &[&flow, step.run_id(), step.name()],
            live,
            &body,
        ),
    ))
}

fn without_page(q: &Params) -> Params {
    let mut q = q.clone();
    q.remove("page");
    q
}

fn flow_of(pathspec: &str) -> String {
    pathspec.split('/').next().unwrap_or("").to_string()
}
