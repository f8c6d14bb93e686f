//! Building a guest crate into a component with `cargo build --target wasm32-wasip2 --release`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::exit::BadInput;

/// The target guests are built for.
pub const TARGET: &str = "wasm32-wasip2";

/// Builds the crate in `dir` and returns the path of its component.
pub fn build_crate(dir: &Path, quiet: bool) -> Result<PathBuf> {
    let manifest = dir.join("Cargo.toml");
    if !manifest.is_file() {
        return Err(BadInput(format!(
            "{} is not a guest crate: it has no Cargo.toml",
            dir.display()
        ))
        .into());
    }
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.args([
        "build",
        "--release",
        "--target",
        TARGET,
        "--message-format=json-render-diagnostics",
    ])
    .arg("--manifest-path")
    .arg(&manifest)
    .stdout(Stdio::piped())
    .stderr(if quiet {
        Stdio::piped()
    } else {
        Stdio::inherit()
    });
    let out = cmd
        .output()
        .with_context(|| "cannot start `cargo`; install Rust from https://rustup.rs".to_string())?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let hint = if stderr.contains("may not be installed") || stderr.contains("target may not") {
            format!("\nhint: run `rustup target add {TARGET}`")
        } else {
            String::new()
        };
        return Err(BadInput(format!(
            "building the guest crate {} failed{}{hint}",
            dir.display(),
            if quiet {
                format!(":\n{}", stderr.trim_end())
            } else {
                " (compiler output above)".into()
            }
        ))
        .into());
    }
    // The last artifact whose file is a .wasm is the crate's component.
    let wasm = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .filter_map(|m| {
            m["filenames"]
                .as_array()?
                .iter()
                .filter_map(|f| f.as_str())
                .find(|f| f.ends_with(".wasm"))
                .map(PathBuf::from)
        })
        .next_back();
    match wasm {
        Some(p) => Ok(p),
        None => bail!(BadInput(format!(
            "building {} produced no .wasm component; a flow crate needs `crate-type = [\"cdylib\"]` in its [lib] section",
            dir.display()
        ))),
    }
}
