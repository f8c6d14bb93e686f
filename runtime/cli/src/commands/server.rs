//! `wflow server`: the team metadata service over PostgreSQL, and `wflow server token create`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use wflow_server::ServerConfig;

use crate::exit::BadInput;
use crate::output::Printer;

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
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")
}

pub fn execute(args: ServerArgs, printer: &Printer) -> Result<ExitCode> {
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
        None => {
            if !(args.heartbeat_timeout > 0.0 && args.heartbeat_timeout.is_finite()) {
                return Err(BadInput(
                    "--heartbeat-timeout must be a positive number of seconds".into(),
                )
                .into());
            }
            let config = ServerConfig {
                listen: args.listen,
                database: database.clone(),
                heartbeat_timeout: Duration::from_secs_f64(args.heartbeat_timeout),
                pool_size: args.pool_size,
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
            runtime()?.block_on(wflow_server::serve(
                config,
                |addr, found| {
                    use std::io::Write;
                    let migrated = if found == wflow_server::schema::SCHEMA_VERSION {
                        String::new()
                    } else {
                        format!(", migrated from schema version {found}")
                    };
                    println!("wflow server listening on http://{addr}");
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
