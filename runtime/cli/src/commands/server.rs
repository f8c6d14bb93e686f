//! `wflow server`: the team metadata service over PostgreSQL, and `wflow server token
//! create|list|revoke`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::{Context, Result};
use wflow_server::ServerConfig;

use crate::exit::BadInput;
use crate::output::Printer;
use crate::settings::Settings;

#[derive(clap::Args, Debug)]
pub struct ServerArgs {
    #[command(subcommand)]
    pub action: Option<ServerAction>,
    /// The address to listen on. TLS is left to a reverse proxy in front (docs/server.md).
    #[arg(long, default_value = "127.0.0.1:8742", value_name = "ADDR:PORT")]
    pub listen: SocketAddr,
    /// The PostgreSQL database, `postgres://USER:PASSWORD@HOST:PORT/DB`.
    #[arg(long, global = true, env = "WFLOW_DATABASE_URL", value_name = "URL")]
    pub database: Option<String>,
    /// Mark a run failed when its driver sent no heartbeat for this many seconds.
    #[arg(long, default_value_t = 60.0, value_name = "SECS")]
    pub heartbeat_timeout: f64,
    /// Connections to PostgreSQL at most.
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub pool_size: usize,
    /// Remember a checked token for this many seconds (a revoked token stops working within this
    /// time; 0 checks every request against the database).
    #[arg(long, default_value_t = 30.0, value_name = "SECS")]
    pub token_cache: f64,
    /// Serve the web UI under /ui too, for every user with a token (the pages read records
    /// through this service with the caller's token, and artifacts and logs from the store that
    /// --store or the config file names).
    #[arg(long)]
    pub ui: bool,
}

#[derive(clap::Subcommand, Debug)]
pub enum ServerAction {
    /// Manage the users' tokens.
    #[command(subcommand)]
    Token(TokenAction),
}

#[derive(clap::Subcommand, Debug)]
pub enum TokenAction {
    /// Create a token for USER and print it (it is stored hashed: it cannot be shown again).
    Create {
        /// The user: every run recorded with the token is theirs.
        user: String,
        /// An administrator's token: sees and changes every user's runs.
        #[arg(long)]
        admin: bool,
    },
    /// List the tokens: id, user, administrator or not, when created (never the tokens: only
    /// their hashes are stored).
    List,
    /// Revoke USER's tokens (every one, or the one named by --id). A running service stops
    /// accepting them within its --token-cache time.
    Revoke {
        /// The user whose tokens to revoke.
        user: String,
        /// Only the token with this id (as `token list` shows it).
        #[arg(long, value_name = "ID")]
        id: Option<String>,
    },
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")
}

pub fn execute(args: ServerArgs, settings: &Settings, printer: &Printer) -> Result<ExitCode> {
    let database = args.database.clone().ok_or_else(|| {
        BadInput("no database: give --database postgres://… or set WFLOW_DATABASE_URL".into())
    })?;
    match args.action {
        Some(ServerAction::Token(TokenAction::Create { user, admin })) => {
            if user.trim().is_empty() || user.chars().any(char::is_control) {
                return Err(BadInput(format!("`{user}` is not a user name")).into());
            }
            let token = runtime()?.block_on(wflow_server::create_token(&database, &user, admin))?;
            if printer.json() {
                printer.value(&serde_json::json!({ "user": user, "admin": admin, "token": token }));
            } else {
                printer.line(&token);
                printer.note(format!(
                    "token for {}user `{user}` (shown once; give it to them as WFLOW_TOKEN or \
                     `token` in the [metadata] table of their config file)",
                    if admin { "administrator " } else { "" }
                ));
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(ServerAction::Token(TokenAction::List)) => {
            let tokens = runtime()?.block_on(wflow_server::list_tokens(&database))?;
            if printer.json() {
                printer.value(&tokens);
            } else if tokens.is_empty() {
                printer.line("no tokens yet (`wflow server token create USER` makes one)");
            } else {
                let width = tokens
                    .iter()
                    .map(|t| t.user.len())
                    .max()
                    .unwrap_or(0)
                    .max(4);
                printer.line(format!(
                    "{:<12}  {:<width$}  {:<5}  CREATED (UTC)",
                    "ID", "USER", "ADMIN"
                ));
                for t in &tokens {
                    printer.line(format!(
                        "{:<12}  {:<width$}  {:<5}  {}",
                        t.id,
                        t.user,
                        if t.admin { "yes" } else { "no" },
                        super::inspect::time(t.created_ms)
                    ));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(ServerAction::Token(TokenAction::Revoke { user, id })) => {
            if let Some(id) = &id
                && (id.len() < 6 || !id.chars().all(|c| c.is_ascii_hexdigit()))
            {
                return Err(BadInput(format!(
                    "`{id}` is not a token id: ids are 12 hex digits (6 at least), as `wflow \
                     server token list` shows them"
                ))
                .into());
            }
            let id = id.map(|i| i.to_ascii_lowercase());
            let revoked = runtime()?.block_on(wflow_server::revoke_tokens(
                &database,
                &user,
                id.as_deref(),
            ))?;
            if revoked == 0 {
                let which = match &id {
                    Some(id) => format!("no token with id `{id}`"),
                    None => "no token".to_string(),
                };
                return Err(BadInput(format!(
                    "user `{user}` has {which}; `wflow server token list` shows the tokens"
                ))
                .into());
            }
            if printer.json() {
                printer.value(&serde_json::json!({ "user": user, "revoked": revoked }));
            } else {
                printer.line(format!(
                    "revoked {revoked} token{} of user `{user}` (a running service stops \
                     accepting {} within its --token-cache time, 30 s by default)",
                    if revoked == 1 { "" } else { "s" },
                    if revoked == 1 { "it" } else { "them" }
                ));
            }
            Ok(ExitCode::SUCCESS)
        }
        None => {
            if !(args.token_cache >= 0.0 && args.token_cache.is_finite()) {
                return Err(BadInput(
                    "--token-cache must be a number of seconds, 0 or more".into(),
                )
                .into());
            }
            if !(args.heartbeat_timeout > 0.0 && args.heartbeat_timeout.is_finite()) {
                return Err(BadInput(
                    "--heartbeat-timeout must be a positive number of seconds".into(),
                )
                .into());
            }
            let beat = wflow_server::HEARTBEAT_INTERVAL.as_secs_f64();
            if args.heartbeat_timeout < 3.0 * beat {
                // A shorter timeout reaps runs that are alive, between two heartbeats.
                eprintln!(
                    "warning: --heartbeat-timeout {} s is less than three heartbeats of a client \
                     ({beat} s apart unless WFLOW_HEARTBEAT_SECS says otherwise): runs of clients \
                     that keep the default will be marked failed while they run; set \
                     WFLOW_HEARTBEAT_SECS to at most a third of the timeout on every client, or \
                     raise the timeout",
                    args.heartbeat_timeout
                );
            }
            let config = ServerConfig {
                listen: args.listen,
                database: database.clone(),
                heartbeat_timeout: Duration::from_secs_f64(args.heartbeat_timeout),
                pool_size: args.pool_size,
                token_cache: Duration::from_secs_f64(args.token_cache),
            };
            let shutdown = async {
                #[cfg(unix)]
                {
                    let mut term =
                        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                            .expect("SIGTERM handler");
                    tokio::select! {
                        _ = tokio::signal::ctrl_c() => {}
                        _ = term.recv() => {}
                    }
                }
                #[cfg(not(unix))]
                let _ = tokio::signal::ctrl_c().await;
            };
            let url = wflow_server::redact(&database);
            // The UI reads records through this very service, with each caller's token.
            let own_url = Arc::new(OnceLock::<String>::new());
            let ui = if args.ui {
                let blobs = crate::backends::open_blobs(settings)?;
                let own = own_url.clone();
                let client_for = move |token: &str| {
                    let records = wflow_server::HttpMetadata::new(
                        own.get().map_or("http://127.0.0.1:0", String::as_str),
                        Some(token.to_string()),
                    );
                    wflow_client::Client::from_parts(
                        Arc::new(records),
                        wflow_store::Cas::new(blobs.clone()),
                        None,
                    )
                };
                Some(("/ui", wflow_ui::router_per_caller(client_for, "/ui")))
            } else {
                None
            };
            runtime()?.block_on(wflow_server::serve_with(
                config,
                ui,
                |addr, found| {
                    let loopback = match addr {
                        SocketAddr::V4(a) if a.ip().is_unspecified() => {
                            SocketAddr::from(([127, 0, 0, 1], a.port()))
                        }
                        SocketAddr::V6(a) if a.ip().is_unspecified() => {
                            SocketAddr::from(([0u16, 0, 0, 0, 0, 0, 0, 1], a.port()))
                        }
                        a => a,
                    };
                    let _ = own_url.set(format!("http://{loopback}"));
                    use std::io::Write;
                    let migrated = if found == wflow_server::schema::SCHEMA_VERSION {
                        String::new()
                    } else {
                        format!(", migrated from schema version {found}")
                    };
                    println!("wflow server listening on http://{addr}");
                    if args.ui {
                        eprintln!(
                            "web UI at http://{addr}/ui (artifacts and logs from {})",
                            settings.store_label()
                        );
                    }
                    let _ = std::io::stdout().flush();
                    eprintln!(
                        "database {url}: schema version {}{migrated}; heartbeat timeout {} s",
                        wflow_server::schema::SCHEMA_VERSION,
                        args.heartbeat_timeout
                    );
                },
                shutdown,
            ))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
