//! The edit → run loop of a Python flow (issue 15 item 3), end to end through the `wflow` binary:
//! a small flow (`start → hello → end` of `examples/python-hello`) is run once, then edited (its
//! greeting changes) and run again, `ROUNDS` times (default 5). Each round times `wflow run
//! flow.py` after the edit: the quick form's build (the sources written into the base component,
//! docs/polyglot.md), the load (a compile that takes every function from the function cache) and
//! the three tasks. Then, once each:
//!
//! - **build, then run**: `wflow build flow.py` (which also loads the component, to check it) and
//!   `wflow run` of the result, timed apart;
//! - **full build**: `wflow build --full flow.py` (componentize-py with the module imported at
//!   build time, what `--compute batch` and `deploy` use, and what every edit cost before) and a
//!   run of that component;
//! - **without the function cache** (`functions.pack` removed first): the quick form's run after
//!   an edit when the interpreter's functions must be compiled again.
//!
//! Prints medians, the functions reused, and the load average before and after (the machine is
//! shared: only figures from one session compare). Needs the `wflow` binary (`$WFLOW_BIN`, else
//! `target/release/wflow`, else `target/debug/wflow`, whose dependencies are built with
//! `opt-level = 1`: use a release build for figures worth keeping) and `scripts/install-guest-tools`.
//! `cargo bench -p wflow-benches --bench edit_loop`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use wflow_benches::root;

fn wflow_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("WFLOW_BIN") {
        return PathBuf::from(p);
    }
    ["release", "debug"]
        .iter()
        .map(|p| root().join("target").join(p).join("wflow"))
        .find(|p| p.exists())
        .expect("no wflow binary: set WFLOW_BIN or `cargo build --release -p wflow-cli`")
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// Runs `wflow ARGS` in `dir`; returns its wall time, stdout and stderr. Panics on failure.
fn wflow(bin: &Path, dir: &Path, cache: &Path, args: &[&str]) -> (Duration, String, String) {
    let started = Instant::now();
    let out = Command::new(bin)
        .current_dir(dir)
        .args(args)
        .env("WFLOW_CACHE_DIR", cache)
        .env("WFLOW_STORE", dir.join("store"))
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env_remove("WFLOW_METADATA")
        .output()
        .expect("wflow runs");
    let took = started.elapsed();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "wflow {args:?} failed:\n{err}");
    (took, String::from_utf8_lossy(&out.stdout).into_owned(), err)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// The compile note of a load (`Compiled the component: N functions reused…`).
fn compile_note(err: &str) -> String {
    err.lines()
        .find(|l| l.contains("Compiled the component"))
        .unwrap_or("(no compile note: loaded from the compiled-code cache)")
        .trim()
        .to_string()
}

fn main() {
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let bin = wflow_bin();
    let ok = Command::new("bash")
        .arg(root().join("scripts/install-guest-tools"))
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "scripts/install-guest-tools failed");
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = dir.path().join("cache");
    let flow = dir.path().join("flow.py");
    let original =
        std::fs::read_to_string(root().join("examples/python-hello/flow.py")).expect("example");
    let edit = |round: usize| {
        let text = original.replace(
            "Hello, {self.name}!",
            &format!("Hello #{round}, {{self.name}}!"),
        );
        assert_ne!(text, original, "the example's greeting moved");
        std::fs::write(&flow, text).expect("write the flow");
    };
    let run = |args: &[&str]| wflow(&bin, dir.path(), &cache, args);
    let load_before = loadavg();
    eprintln!("edit_loop: {} ({rounds} rounds)", bin.display());

    // The first run: the base component, a full compile (fills the function cache).
    edit(0);
    let (first, _, _) = run(&["run", "flow.py"]);

    let (mut runs, mut notes) = (vec![], vec![]);
    for round in 1..=rounds {
        edit(round);
        let (r, _, err) = run(&["run", "flow.py"]);
        let note = compile_note(&err);
        eprintln!("  round {round}: edit → run {r:.2?}: {note}");
        runs.push(r);
        notes.push(note);
    }

    // Build, then run, timed apart.
    edit(rounds + 1);
    let (build, _, _) = run(&["build", "flow.py"]);
    let (build_run, _, _) = run(&["run", "flow.py"]);

    // The full build, and a run of its component.
    edit(rounds + 2);
    let (full_build, wasm, _) = run(&["build", "--full", "flow.py"]);
    let (full_run, _, full_err) = run(&["run", wasm.trim()]);

    // Without the function cache.
    edit(rounds + 3);
    for version in std::fs::read_dir(cache.join("compiled")).expect("compiled cache") {
        let _ = std::fs::remove_file(version.expect("entry").path().join("functions.pack"));
    }
    let (cold, _, _) = run(&["run", "flow.py"]);

    println!(
        "Python edit → run ({rounds} rounds, medians), {}:",
        bin.display()
    );
    println!("  first run (builds the base component, compiles it all): {first:.2?}");
    println!(
        "  edit → `wflow run flow.py` (quick form): {:.2?}",
        median(runs)
    );
    println!("    {}", notes.last().map(String::as_str).unwrap_or(""));
    println!(
        "  edit → `wflow build` {build:.2?} + `wflow run` {build_run:.2?} = {:.2?}",
        build + build_run
    );
    println!(
        "  edit → `wflow build --full` {full_build:.2?} + run {full_run:.2?} = {:.2?} ({})",
        full_build + full_run,
        compile_note(&full_err)
    );
    println!("  edit → run without the function cache: {cold:.2?}");
    println!("  load average before: {load_before}; after: {}", loadavg());
}
