//! What the inspection commands share: opening the store through `wflow-client`, and the
//! formatting of times, durations, statuses and values.

use std::io::Write;

use anyhow::Result;
use wflow_client::{Artifact, Client, Run, Status};

use crate::output::Printer;
use crate::settings::Settings;

/// Text for people, shared with the web UI.
pub use wflow_ui::text::{clip, duration, size, time};

/// This machine's directory for the store of `settings`: the store itself when it is local, a
/// working directory (live logs, run locks) for an S3 store.
pub fn store_dir(settings: &Settings) -> &std::path::Path {
    &settings.store
}

/// The client over the store of `settings` (local directory or S3); `None` when a local store
/// has no records yet (nothing is created). A store that cannot be reached is an error.
pub fn open_existing(settings: &Settings) -> Result<Option<Client>> {
    Ok(crate::backends::open(settings, true)?.map(|backend| {
        Client::from_parts(
            backend.records,
            wflow_store::Cas::new(backend.blobs),
            Some(store_dir(settings).to_path_buf()),
        )
    }))
}

/// The client over the store of `settings` (local directory or S3).
/// Warns about record objects the store skipped while reading (corrupt or planted ones).
pub fn warn_skipped(client: &Client, printer: &Printer) {
    for w in client.metadata().take_warnings() {
        printer.warning(crate::output::shown(&w));
    }
}

pub fn open_client(settings: &Settings) -> Result<Client> {
    open_existing(settings)?.ok_or_else(|| {
        wflow_client::ClientError::NoStore {
            store: store_dir(settings).to_path_buf(),
            metadata: store_dir(settings).join(wflow_client::METADATA_FILE),
        }
        .into()
    })
}

/// A status, coloured when colours are on.
pub fn status(printer: &Printer, status: Status) -> String {
    match status {
        Status::Succeeded => printer.green("succeeded"),
        Status::Failed => printer.red("failed"),
        Status::Running => printer.bold("running"),
    }
}

/// A status padded to `width` columns, coloured when colours are on.
pub fn status_cell(printer: &Printer, s: Status, width: usize) -> String {
    let pad = width.saturating_sub(s.as_str().len());
    format!("{}{}", status(printer, s), " ".repeat(pad))
}

/// Values of CBOR artifacts up to this size are shown by `show` and `step-run`.
pub const PREVIEW_MAX_BYTES: u64 = 4096;

/// The value of a small CBOR artifact as JSON (`None` for other codecs, large values, or a
/// value that cannot be read — `show` lists the artifact anyway).
pub fn preview(artifact: &Artifact) -> Option<serde_json::Value> {
    (artifact.codec() == "cbor" && artifact.size() <= PREVIEW_MAX_BYTES)
        .then(|| artifact.value().ok())
        .flatten()
}

/// The first line of `text` (for a table cell), and whether there is more to it (more lines).
pub fn first_line(text: &str) -> (&str, bool) {
    let trimmed = text.trim();
    match trimmed.split_once('\n') {
        Some((first, _)) => (first.trim_end(), true),
        None => (trimmed, false),
    }
}

/// `text` indented by `indent` spaces on every line (for an error's full text under a table).
pub fn indented(text: &str, indent: usize) -> String {
    let pad = " ".repeat(indent);
    text.trim_end()
        .lines()
        .map(|l| format!("{pad}{l}").trim_end().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A run as JSON for listings (everything but the flow spec).
pub fn run_json(run: &Run) -> serde_json::Value {
    let r = run.record();
    serde_json::json!({
        "pathspec": run.pathspec(),
        "flow": r.flow,
        "run_id": r.run_id,
        "status": r.status,
        "user": r.user,
        "started_ms": r.started_ms,
        "finished_ms": r.finished_ms,
        "duration_ms": run.duration_ms(),
        "params": r.params,
        "tags": run.tags(),
        "origin_run": r.origin_run,
        "kind": r.kind,
        "error": r.error,
        "component": r.component,
        "process": (r.status == Status::Running).then(|| run.liveness()),
    })
}

/// For a run recorded as running whose process is gone: a note saying so.
pub fn gone_note(run: &Run) -> Option<&'static str> {
    (run.status() == Status::Running && run.liveness() == wflow_client::Liveness::Gone)
        .then_some("its process is gone (killed?): `wflow resume` it")
}

/// Writes bytes to stdout; a closed pipe (`| head`) is not an error.
pub fn write_stdout(bytes: &[u8]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes_read_well() {
        assert_eq!(duration(850), "850 ms");
        assert_eq!(duration(2_310), "2.31 s");
        assert_eq!(duration(192_000), "3 min 12 s");
        assert_eq!(duration(3_720_000), "1 h 02 min");
        assert_eq!(size(512), "512 B");
        assert_eq!(size(24 << 20), "24.0 MiB");
        assert_eq!(time(0), "1970-01-01 00:00:00");
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(first_line("one\n  two\n"), ("one", true));
        assert_eq!(first_line("  one  "), ("one", false));
        assert_eq!(indented("a\n\nb\n", 2), "  a\n\n  b");
    }
}
