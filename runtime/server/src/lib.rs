//! `wflow server`: the team metadata service over PostgreSQL, and [`HttpMetadata`], the
//! [`MetadataStore`](wflow_metadata::MetadataStore) that talks to it.
//!
//! # The service
//!
//! One small process in front of one PostgreSQL database holds the records of every run of a
//! team — runs, tasks, attempts, their status, timings, parameters, tags, manifest and log
//! digests — the same model as the embedded SQLite file, plus who started each run. Artifact
//! data never goes through it: it stays in the store (a shared directory or S3).
//!
//! - The schema is versioned (`schema_version`) and migrated when the service starts; a database
//!   of a newer service is refused ([`schema::SchemaError::TooNew`]).
//! - Every request carries the protocol version ([`wire::PROTOCOL_HEADER`]); a mismatch is a
//!   clear error on both sides.
//! - Users hold bearer tokens, stored hashed (BLAKE3); every run is recorded under its token's
//!   user; listings show the caller's own runs unless an administrator asks for all of them.
//! - Drivers send heartbeats; a run whose driver stopped sending them for
//!   [`ServerConfig::heartbeat_timeout`] is marked failed.
//!
//! The API is described in `runtime/server/openapi.json` (served at `/openapi.json`); the
//! administrator's guide is `docs/server.md`.
#![deny(missing_docs)]

pub mod api;
mod client;
pub mod db;
pub mod error;
pub mod schema;
pub mod testing;
pub mod wire;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

pub use client::{HEARTBEAT_INTERVAL, HttpMetadata};

/// How the service runs.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Where to listen (loopback by default; TLS is left to a proxy in front).
    pub listen: SocketAddr,
    /// The PostgreSQL URL, `postgres://user:password@host:port/database`.
    pub database: String,
    /// A run whose driver sent no heartbeat (nor any event) for this long is marked failed.
    pub heartbeat_timeout: Duration,
    /// Connections to PostgreSQL at most.
    pub pool_size: usize,
    /// How long a checked token is remembered: a revoked token stops working within this time.
    pub token_cache: Duration,
}

impl ServerConfig {
    /// The default heartbeat timeout: six missed heartbeats.
    pub const DEFAULT_HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(60);
    /// The default for [`ServerConfig::token_cache`].
    pub const DEFAULT_TOKEN_CACHE: Duration = Duration::from_secs(30);
}

/// A failure starting the service or an administrator's command.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The database URL does not parse.
    #[error("`{url}` is not a PostgreSQL URL: {source}")]
    BadUrl {
        /// The URL, password hidden.
        url: String,
        /// Why.
        #[source]
        source: tokio_postgres::Error,
    },
    /// The database cannot be reached or refused the connection.
    #[error("cannot connect to the database {url}: {source}")]
    Connect {
        /// The URL, password hidden.
        url: String,
        /// Why.
        #[source]
        source: tokio_postgres::Error,
    },
    /// The schema could not be brought up to date (or is newer than this service).
    #[error("database {url}: {source}")]
    Schema {
        /// The URL, password hidden.
        url: String,
        /// Why.
        #[source]
        source: schema::SchemaError,
    },
    /// The pool could not be built.
    #[error("database {url}: {message}")]
    Pool {
        /// The URL, password hidden.
        url: String,
        /// Why.
        message: String,
    },
    /// The address to listen on cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A statement of an administrator's command failed.
    #[error("database {url}: {action}: {source}")]
    Db {
        /// The URL, password hidden.
        url: String,
        /// What was being done.
        action: String,
        /// Why.
        #[source]
        source: tokio_postgres::Error,
    },
}

/// `url` with its password replaced by `***`, for messages.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.split_once('@') {
        Some((creds, host)) => match creds.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

async fn connect(database: &str) -> Result<tokio_postgres::Client, ServerError> {
    let url = redact(database);
    let config: tokio_postgres::Config =
        database.parse().map_err(|source| ServerError::BadUrl {
            url: url.clone(),
            source,
        })?;
    let (client, conn) = config
        .connect(tokio_postgres::NoTls)
        .await
        .map_err(|source| ServerError::Connect { url, source })?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

/// Connects, applies the migrations and returns the connection pool; returns the schema
/// version found before.
pub async fn open_database(
    database: &str,
    pool_size: usize,
) -> Result<(deadpool_postgres::Pool, i32), ServerError> {
    let url = redact(database);
    let mut client = connect(database).await?;
    let found = schema::migrate(&mut client)
        .await
        .map_err(|source| ServerError::Schema {
            url: url.clone(),
            source,
        })?;
    let config: tokio_postgres::Config =
        database.parse().map_err(|source| ServerError::BadUrl {
            url: url.clone(),
            source,
        })?;
    let manager = deadpool_postgres::Manager::from_config(
        config,
        tokio_postgres::NoTls,
        deadpool_postgres::ManagerConfig {
            recycling_method: deadpool_postgres::RecyclingMethod::Fast,
        },
    );
    let pool = deadpool_postgres::Pool::builder(manager)
        .max_size(pool_size.max(1))
        .wait_timeout(Some(Duration::from_secs(10)))
        .create_timeout(Some(Duration::from_secs(5)))
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .map_err(|e| ServerError::Pool {
            url,
            message: e.to_string(),
        })?;
    Ok((pool, found))
}

/// Runs the service until `shutdown` completes: migrates the database, listens, and marks
/// abandoned runs failed every few seconds. `ready` is called with the bound address.
pub async fn serve(
    config: ServerConfig,
    ready: impl FnOnce(SocketAddr, i32),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    serve_with(config, None, ready, shutdown).await
}

/// [`serve`], with more routes nested under a path prefix beside the API (`wflow server --ui`
/// mounts the web UI at `/ui`). They do their own authentication.
pub async fn serve_with(
    config: ServerConfig,
    nested: Option<(&str, axum::Router)>,
    ready: impl FnOnce(SocketAddr, i32),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let (pool, found) = open_database(&config.database, config.pool_size).await?;
    let state = Arc::new(api::AppState::new(pool).with_token_cache(config.token_cache));
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServerError::Listen {
            addr: config.listen,
            source,
        })?;
    let addr = listener
        .local_addr()
        .map_err(|source| ServerError::Listen {
            addr: config.listen,
            source,
        })?;
    ready(addr, found);
    let reaper = tokio::spawn(reap_loop(state.clone(), config.heartbeat_timeout));
    let mut app = api::router(state);
    if let Some((prefix, routes)) = nested {
        app = app.nest(prefix, routes);
    }
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|source| ServerError::Listen { addr, source });
    reaper.abort();
    result
}

/// Every few seconds (a quarter of the timeout, at most 5 s), marks failed the runs whose driver
/// went quiet.
async fn reap_loop(state: Arc<api::AppState>, timeout: Duration) {
    let every = (timeout / 4).clamp(Duration::from_millis(100), Duration::from_secs(5));
    let timeout_ms = timeout.as_millis() as i64;
    loop {
        tokio::time::sleep(every).await;
        match db::reap(&state.pool, timeout_ms).await {
            Ok(ids) if !ids.is_empty() => {
                state
                    .metrics
                    .reaped
                    .fetch_add(ids.len() as u64, Ordering::Relaxed);
                eprintln!(
                    "wflow server: marked failed (driver disappeared): {}",
                    ids.join(", ")
                );
            }
            Ok(_) => {}
            Err(e) => eprintln!("wflow server: checking heartbeats: {}", e.body.message),
        }
    }
}

/// Connects to `database` for an administrator's command, migrating it first.
async fn admin_connection(database: &str) -> Result<tokio_postgres::Client, ServerError> {
    let mut client = connect(database).await?;
    schema::migrate(&mut client)
        .await
        .map_err(|source| ServerError::Schema {
            url: redact(database),
            source,
        })?;
    Ok(client)
}

fn db_error(database: &str, action: &str) -> impl FnOnce(tokio_postgres::Error) -> ServerError {
    let (url, action) = (redact(database), action.to_string());
    move |source| ServerError::Db {
        url,
        action,
        source,
    }
}

/// Creates a token for `user` (an administrator's with `admin`) in the database at `database`
/// (migrating it first); returns the token, which is shown once and stored only hashed.
pub async fn create_token(database: &str, user: &str, admin: bool) -> Result<String, ServerError> {
    let client = admin_connection(database).await?;
    db::create_token(&client, user, admin)
        .await
        .map_err(db_error(database, "creating a token"))
}

/// The tokens in the database at `database`, oldest first (never the tokens themselves: only
/// their hashes are stored).
pub async fn list_tokens(database: &str) -> Result<Vec<db::TokenInfo>, ServerError> {
    let client = admin_connection(database).await?;
    db::list_tokens(&client)
        .await
        .map_err(db_error(database, "listing tokens"))
}

/// Deletes `user`'s tokens (only the one whose id starts with `id`, if given); returns how many
/// were deleted. A running service stops accepting them within its token cache time.
pub async fn revoke_tokens(
    database: &str,
    user: &str,
    id: Option<&str>,
) -> Result<u64, ServerError> {
    let client = admin_connection(database).await?;
    db::revoke_tokens(&client, user, id)
        .await
        .map_err(db_error(database, "revoking tokens"))
}
