//! What every page shares: the frame (header, breadcrumbs, script), links built from pathspecs,
//! status badges, pagers and the error pages.

use axum::http::StatusCode;
use wflow_client::{ClientError, Part, Status, parse_pathspec};
use wflow_metadata::MetadataError;

use crate::text::{esc, seg};
use crate::{Params, Reply, Ui};

/// The URL of the page of what `parts` (flow, run, step, task, artifact) name, escaped for an
/// attribute.
pub fn href(ui: &Ui, parts: &[&str]) -> String {
    href_at(&ui.base, parts)
}

fn href_at(base: &str, parts: &[&str]) -> String {
    let mut url = base.to_string();
    for p in parts {
        url.push('/');
        url.push_str(&seg(p));
    }
    if url.is_empty() {
        url.push('/');
    }
    esc(&url)
}

/// A URL under the UI's reserved `/-/` prefix, escaped for an attribute.
pub fn asset(ui: &Ui, rest: &str) -> String {
    asset_at(&ui.base, rest)
}

fn asset_at(base: &str, rest: &str) -> String {
    esc(&format!("{base}/-/{rest}"))
}

/// `<a href=…>label</a>` to what `parts` name.
pub fn link(ui: &Ui, parts: &[&str], label: &str) -> String {
    format!(r#"<a href="{}">{}</a>"#, href(ui, parts), esc(label))
}

/// The CSS class and label of a status (`None`: not run).
pub fn status_class(status: Option<Status>) -> (&'static str, &'static str) {
    match status {
        Some(Status::Succeeded) => ("st-ok", "succeeded"),
        Some(Status::Failed) => ("st-failed", "failed"),
        Some(Status::Running) => ("st-running", "running"),
        None => ("st-none", "not run"),
    }
}

/// A status as a coloured badge.
pub fn badge(status: Option<Status>) -> String {
    let (class, label) = status_class(status);
    format!(r#"<span class="st {class}" data-status="{label}">{label}</span>"#)
}

/// A whole page: `crumbs` are the pathspec parts shown as links above the title; `live` makes
/// the script refresh the page's `<main>` in place until it is no longer live.
pub fn page(ui: &Ui, title: &str, crumbs: &[&str], live: bool, body: &str) -> String {
    page_at(&ui.base, title, crumbs, live, body)
}

fn page_at(base: &str, title: &str, crumbs: &[&str], live: bool, body: &str) -> String {
    let mut nav = format!(r#"<a href="{}">runs</a>"#, href_at(base, &[]));
    for i in 0..crumbs.len() {
        nav.push_str(" / ");
        nav.push_str(&format!(
            r#"<a href="{}">{}</a>"#,
            href_at(base, &crumbs[..=i]),
            esc(crumbs[i])
        ));
    }
    format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · wflow</title>
<link rel="stylesheet" href="{css}">
<script src="{js}" defer></script>
</head>
<body>
<header><a class="brand" href="{home}">wflow</a> <nav>{nav}</nav></header>
<main data-live="{live}">
<h1>{title}</h1>
{body}
</main>
</body>
</html>
"#,
        title = esc(title),
        css = asset_at(base, "ui.css"),
        js = asset_at(base, "ui.js"),
        home = href_at(base, &[]),
        live = if live { "1" } else { "0" },
    )
}

/// The page for a request that failed: 404 naming the nearest names (as links) when something
/// was not found, 400 for a malformed request, 500 when the store could not be read.
pub fn error(ui: &Ui, path: &str, err: &ClientError) -> Reply {
    let status = match err {
        ClientError::NotFound { .. } | ClientError::NoStore { .. } => StatusCode::NOT_FOUND,
        // The metadata service refused the caller's token: ask for another one.
        ClientError::Metadata(MetadataError::Denied { status: 401, .. }) => {
            return login(&ui.base, StatusCode::UNAUTHORIZED);
        }
        e if e.is_bad_input() => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let mut body = format!(r#"<p class="error">{}</p>"#, esc(&err.to_string()));
    if let ClientError::NotFound { part, choices, .. } = err
        && !choices.is_empty()
        && let Ok(p) = parse_pathspec(path)
    {
        let mut parents: Vec<&str> = vec![&p.flow];
        parents.extend(
            [&p.run, &p.step, &p.task, &p.artifact]
                .into_iter()
                .map_while(|x| x.as_deref()),
        );
        let depth = match part {
            Part::Flow => 0,
            Part::Run => 1,
            Part::Step => 2,
            Part::Task => 3,
            Part::Artifact => 4,
        };
        let parents = &parents[..depth.min(parents.len())];
        body.push_str(r#"<p>Did you mean:</p><ul class="nearest">"#);
        for c in choices {
            let mut parts = parents.to_vec();
            parts.push(c);
            body.push_str(&format!("<li>{}</li>", link(ui, &parts, &parts.join("/"))));
        }
        body.push_str("</ul>");
    }
    let title = match status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::BAD_REQUEST => "Bad request",
        _ => "Could not read the store",
    };
    Reply::Html(status, page(ui, title, &[], false, &body))
}

/// The form that asks for a token (under `wflow server`), with `status`.
pub fn login(base: &str, status: StatusCode) -> Reply {
    let body = format!(
        r#"<p>This UI shows the runs your token may see: give the token `wflow server token create` made for you (it is kept in a cookie for this site).</p><form class="login" method="post" action="{}"><label>token <input name="token" type="password" size="40" autocomplete="off"></label> <button type="submit">sign in</button></form>"#,
        esc(&format!("{base}/-/login"))
    );
    Reply::Html(status, page_at(base, "Sign in", &[], false, &body))
}

/// A plain error page with `status` and `message`.
pub fn message(ui: &Ui, status: StatusCode, title: &str, message: &str) -> Reply {
    let body = format!(r#"<p class="error">{}</p>"#, esc(message));
    Reply::Html(status, page(ui, title, &[], false, &body))
}

/// A query parameter as a number (`default` when absent or not a number).
pub fn number(q: &Params, key: &str, default: usize) -> usize {
    q.get(key).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A query string of `q` with `key` set to `value` (keys sorted, values encoded), for links that
/// change one parameter of the current page.
pub fn with(q: &Params, key: &str, value: &str) -> String {
    let mut pairs: Vec<(&str, &str)> = q
        .iter()
        .filter(|(k, _)| k.as_str() != key)
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    if !value.is_empty() {
        pairs.push((key, value));
    }
    pairs.sort();
    let query: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", seg(k), seg(v)))
        .collect();
    esc(&format!("?{}", query.join("&")))
}

/// `← newer · page N · older →` links for a list of `page_size` items per page.
pub fn pager(q: &Params, page: usize, has_more: bool, total: Option<usize>) -> String {
    let mut out = String::from(r#"<p class="pager">"#);
    if page > 1 {
        out.push_str(&format!(
            r#"<a rel="prev" href="{}">← previous</a> "#,
            with(q, "page", &(page - 1).to_string())
        ));
    }
    out.push_str(&format!("page {page}"));
    if let Some(t) = total {
        out.push_str(&format!(" of {t}"));
    }
    if has_more {
        out.push_str(&format!(
            r#" <a rel="next" href="{}">next →</a>"#,
            with(q, "page", &(page + 1).to_string())
        ));
    }
    out.push_str("</p>");
    out
}
