//! The web UI of wflow: server-rendered pages over [`wflow_client`], served by `wflow ui` on
//! 127.0.0.1 and under `/ui` of `wflow server`.
//!
//! Every page has a stable URL built from the pathspec of what it shows:
//!
//! | URL                                  | page                                                 |
//! |--------------------------------------|------------------------------------------------------|
//! | `/`                                  | runs, newest first (`?flow=&status=&tag=&user=&page=`) |
//! | `/Flow`                              | the flow's runs                                      |
//! | `/Flow/run`                          | graph, timeline, parameters, tags, failed tasks      |
//! | `/Flow/run/step`                     | its tasks as a table, sortable and paged             |
//! | `/Flow/run/step/task`                | attempts, errors, logs, artifacts                    |
//! | `/Flow/run/step/task/artifact`       | its value as JSON, paged                             |
//! | `/-/raw/Flow/run/step/task/artifact` | its bytes, as a download                             |
//! | `/-/log/Flow/run/step/task?attempt=N&stream=stdout` | a log as plain text           |
//! | `/-/card/Flow/run/step/task/card:ID` | a card (see [`card`]), sandboxed, for an `<iframe>`  |
//!
//! The UI only reads: nothing it does writes to the store or the records. Every value from the
//! store is escaped; pages carry a Content-Security-Policy that allows only the UI's own script
//! (`/-/ui.js`, embedded in the binary), which refreshes a page in place while what it shows
//! is running.
#![deny(missing_docs)]
// Pages return wflow-client's own error (it is what a failed page shows); boxing it gains nothing.
#![allow(clippy::result_large_err)]

pub mod card;
mod cards;
pub mod graph;
mod pages;
pub mod report;
mod shell;
mod task;
pub mod text;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use wflow_client::Client;

/// What a handler renders.
pub(crate) enum Reply {
    /// An HTML page.
    Html(StatusCode, String),
    /// Bytes to download or show as plain text.
    Bytes {
        content_type: &'static str,
        /// `Some(name)`: sent as an attachment named so.
        download: Option<String>,
        bytes: Vec<u8>,
    },
    /// A card's document: served with a Content-Security-Policy that sandboxes it (no script,
    /// an opaque origin), to be framed by the UI's own pages only.
    Card(String),
}

/// What a page is rendered with: the client (of the caller, under `wflow server`) and where the
/// pages are mounted.
pub(crate) struct Ui {
    pub client: Arc<Client>,
    /// The URL path the UI is mounted at: empty for `wflow ui`, `/ui` under `wflow server`.
    pub base: String,
}

/// Where the pages' client comes from.
enum Source {
    /// One client for every request (`wflow ui`).
    Fixed(Arc<Client>),
    /// A client per caller, from the caller's token (`/ui` of `wflow server`).
    PerCaller(ClientFor),
}

type ClientFor = Arc<dyn Fn(&str) -> Client + Send + Sync>;

struct Shared {
    source: Source,
    base: String,
}

/// The cookie that carries a caller's token (set by `/-/login`).
const TOKEN_COOKIE: &str = "wflow_token";

impl Shared {
    /// The page context of a request; a login page when a token is needed and none was sent.
    fn ui(&self, headers: &HeaderMap) -> Result<Ui, Reply> {
        let client = match &self.source {
            Source::Fixed(c) => c.clone(),
            Source::PerCaller(client_for) => match token(headers) {
                Some(t) => Arc::new(client_for(&t)),
                None => return Err(shell::login(&self.base, StatusCode::UNAUTHORIZED)),
            },
        };
        Ok(Ui {
            client,
            base: self.base.clone(),
        })
    }
}

/// The caller's token: `Authorization: Bearer TOKEN`, else the `wflow_token` cookie.
fn token(headers: &HeaderMap) -> Option<String> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let cookie = || {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|c| c.trim().strip_prefix(TOKEN_COOKIE)?.strip_prefix('='))
    };
    bearer
        .or_else(cookie)
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

/// Query parameters of a request.
pub(crate) type Params = HashMap<String, String>;

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                   img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; \
                   frame-src 'self'; frame-ancestors 'none'";

/// The policy of a card's document: sandboxed (no script, no forms, an opaque origin), nothing
/// loaded but its own inline style and `data:` images, framed only by the UI.
const CARD_CSP: &str = "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'; \
                        base-uri 'none'; form-action 'none'; frame-ancestors 'self'";

/// The UI's routes over `client`, for mounting at `base` (`""` at the root, or `"/ui"` when
/// nested with [`Router::nest`]).
pub fn router(client: Arc<Client>, base: &str) -> Router {
    routes(Source::Fixed(client), base)
}

/// The UI's routes for the users of a metadata service: each request reads through
/// `client_for(token)` with the caller's own token — `Authorization: Bearer TOKEN`, or the
/// `wflow_token` cookie that the form at `/-/login` sets — so a user sees what their token may
/// see. A request without a token gets the login form (401).
pub fn router_per_caller(
    client_for: impl Fn(&str) -> Client + Send + Sync + 'static,
    base: &str,
) -> Router {
    routes(Source::PerCaller(Arc::new(client_for)), base)
}

fn routes(source: Source, base: &str) -> Router {
    let shared = Arc::new(Shared {
        source,
        base: base.trim_end_matches('/').to_string(),
    });
    Router::new()
        .route("/", get(runs))
        .route("/-/ui.js", get(script))
        .route("/-/ui.css", get(style))
        .route("/-/login", get(login_form).post(login))
        .route("/-/raw/{*path}", get(raw))
        .route("/-/log/{*path}", get(log))
        .route("/-/card/{*path}", get(card_document))
        .route("/{*path}", get(object))
        .with_state(shared)
}

/// Serves the UI over `client` on `addr` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    client: Arc<Client>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(client, ""))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Binds `addr` (a port of 127.0.0.1 for `wflow ui`).
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await
}

async fn blocking(
    shared: Arc<Shared>,
    headers: HeaderMap,
    render: impl FnOnce(&Ui) -> Reply + Send + 'static,
) -> Response {
    let page = tokio::task::spawn_blocking(move || match shared.ui(&headers) {
        Ok(ui) => render(&ui),
        Err(reply) => reply,
    });
    match page.await {
        Ok(reply) => respond(reply),
        Err(e) => respond(Reply::Html(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the page failed: {}", text::esc(&e.to_string())),
        )),
    }
}

fn respond(reply: Reply) -> Response {
    let mut csp = CSP;
    let mut response = match reply {
        Reply::Card(body) => {
            csp = CARD_CSP;
            let mut r = (StatusCode::OK, body).into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            r
        }
        Reply::Html(status, body) => {
            let mut r = (status, body).into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            r
        }
        Reply::Bytes {
            content_type,
            download,
            bytes,
        } => {
            let mut r = bytes.into_response();
            let h = r.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            if let Some(name) = download {
                let safe: String = name
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect();
                if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{safe}\"")) {
                    h.insert(header::CONTENT_DISPOSITION, v);
                }
            }
            r
        }
    };
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

async fn runs(State(s): State<Arc<Shared>>, h: HeaderMap, Query(q): Query<Params>) -> Response {
    blocking(s, h, move |ui| pages::runs(ui, None, &q)).await
}

async fn object(
    State(s): State<Arc<Shared>>,
    h: HeaderMap,
    Path(path): Path<String>,
    Query(q): Query<Params>,
) -> Response {
    blocking(s, h, move |ui| pages::object(ui, &path, &q)).await
}

async fn raw(State(s): State<Arc<Shared>>, h: HeaderMap, Path(path): Path<String>) -> Response {
    blocking(s, h, move |ui| task::raw(ui, &path)).await
}

async fn log(
    State(s): State<Arc<Shared>>,
    h: HeaderMap,
    Path(path): Path<String>,
    Query(q): Query<Params>,
) -> Response {
    blocking(s, h, move |ui| task::raw_log(ui, &path, &q)).await
}

async fn card_document(
    State(s): State<Arc<Shared>>,
    h: HeaderMap,
    Path(path): Path<String>,
) -> Response {
    blocking(s, h, move |ui| cards::document(ui, &path)).await
}

async fn login_form(State(s): State<Arc<Shared>>) -> Response {
    respond(shell::login(&s.base, StatusCode::OK))
}

/// `POST /-/login` with `token=…`: keeps the token in an HttpOnly cookie for the UI's paths.
async fn login(State(s): State<Arc<Shared>>, Form(form): Form<Params>) -> Response {
    let token = form.get("token").map(|t| t.trim()).unwrap_or_default();
    if token.is_empty()
        || !token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.~".contains(c))
    {
        return respond(shell::login(&s.base, StatusCode::BAD_REQUEST));
    }
    let path = if s.base.is_empty() { "/" } else { &s.base };
    let mut r = respond(Reply::Html(StatusCode::SEE_OTHER, String::new()));
    let h = r.headers_mut();
    if let (Ok(cookie), Ok(home)) = (
        HeaderValue::from_str(&format!(
            "{TOKEN_COOKIE}={token}; Path={path}; HttpOnly; SameSite=Strict"
        )),
        HeaderValue::from_str(path),
    ) {
        h.insert(header::SET_COOKIE, cookie);
        h.insert(header::LOCATION, home);
    }
    r
}

async fn script() -> Response {
    respond(Reply::Bytes {
        content_type: "text/javascript; charset=utf-8",
        download: None,
        bytes: include_bytes!("../assets/ui.js").to_vec(),
    })
}

async fn style() -> Response {
    respond(Reply::Bytes {
        content_type: "text/css; charset=utf-8",
        download: None,
        bytes: include_bytes!("../assets/ui.css").to_vec(),
    })
}
