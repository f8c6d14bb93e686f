//! `wflow ui`: the web UI over the store and records the other commands read, on 127.0.0.1.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};

use super::inspect::open_client;
use crate::output::Printer;
use crate::settings::Settings;

#[derive(clap::Args, Debug)]
pub struct UiArgs {
    /// The port to listen on, on 127.0.0.1 only (0: any free port; the URL is printed).
    #[arg(long, default_value_t = 8743)]
    pub port: u16,
    /// Open the UI in the default browser.
    #[arg(long)]
    pub open: bool,
}

pub fn execute(args: UiArgs, settings: &Settings, printer: &Printer) -> Result<ExitCode> {
    let client = Arc::new(open_client(settings)?);
    super::inspect::warn_skipped(&client, printer);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    runtime.block_on(async {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, args.port));
        let listener = wflow_ui::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr} (is another `wflow ui` there?)"))?;
        let url = format!("http://{}/", listener.local_addr()?);
        if printer.json() {
            printer.value(&serde_json::json!({ "url": url, "store": settings.store_label() }));
        } else {
            printer.line(format!("wflow ui: {url}"));
            printer.note(format!(
                "showing {} (read only); Ctrl-C stops it",
                settings.store_label()
            ));
        }
        if args.open {
            open_browser(&url, printer);
        }
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        wflow_ui::serve(listener, client, shutdown)
            .await
            .context("the UI server failed")
    })?;
    Ok(ExitCode::SUCCESS)
}

fn open_browser(url: &str, printer: &Printer) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(windows) {
        "explorer"
    } else {
        "xdg-open"
    };
    if let Err(e) = std::process::Command::new(opener)
        .arg(url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    {
        printer.warning(format!(
            "cannot open a browser with {opener} ({e}); open {url}"
        ));
    }
}
