//! The edit → run loop of a Python flow (issue 15 item 3), end to end through the `wflow` binary:
//! a one-step flow (`start → end` of `examples/python-hello`) is run once, then edited (its
//! greeting changes) and run again, `ROUNDS` times (default 3). Each round times, separately:
//!
//! - **build**: `wflow build` (componentize-py, including its pre-initialisation);
//! - **run**: `wflow run` of the built flow: loading it — a Cranelift compile of the new
//!   component, which takes the interpreter's functions from the function cache — and its tasks;
//! - and, once, **run without the function cache** (`functions.pack` removed first): what every
//!   edit cost before.
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

/// Runs `wflow ARGS` in `dir`; returns its wall time and stderr. Panics on failure.
fn wflow(bin: &Path, dir: &Path, cache: &Path, args: &[&str]) -> (Duration, String) {
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
    (took, err)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
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
    let load_before = loadavg();
    eprintln!("edit_loop: {} ({rounds} rounds)", bin.display());

    // The first run: a build and a full compile (fills the function cache).
    edit(0);
    let (first_build, _) = wflow(&bin, dir.path(), &cache, &["build", "flow.py"]);
    let (first_run, _) = wflow(&bin, dir.path(), &cache, &["run", "flow.py"]);

    let (mut builds, mut runs, mut reused) = (vec![], vec![], vec![]);
    for round in 1..=rounds {
        edit(round);
        let (b, _) = wflow(&bin, dir.path(), &cache, &["build", "flow.py"]);
        let (r, err) = wflow(&bin, dir.path(), &cache, &["run", "flow.py"]);
        let note = err
            .lines()
            .find(|l| l.starts_with("Compiled the component"))
            .unwrap_or("(no compile note)")
            .to_string();
        eprintln!("  round {round}: build {b:.2?}, run {r:.2?}: {note}");
        builds.push(b);
        runs.push(r);
        reused.push(note);
    }

    // Once without the function cache: what an edit cost before it.
    edit(rounds + 1);
    let (cold_build, _) = wflow(&bin, dir.path(), &cache, &["build", "flow.py"]);
    for version in std::fs::read_dir(cache.join("compiled")).expect("compiled cache") {
        let _ = std::fs::remove_file(version.expect("entry").path().join("functions.pack"));
    }
    let (cold_run, _) = wflow(&bin, dir.path(), &cache, &["run", "flow.py"]);

    let (b, r) = (median(builds), median(runs));
    println!(
        "Python edit → run ({rounds} rounds, medians), {}:",
        bin.display()
    );
    println!("  first run:            build {first_build:.2?} + run {first_run:.2?}");
    println!(
        "  after an edit:        build {b:.2?} + run {r:.2?} = {:.2?}",
        b + r
    );
    println!(
        "  without the function cache: build {cold_build:.2?} + run {cold_run:.2?} = {:.2?}",
        cold_build + cold_run
    );
    println!("  {}", reused.last().map(String::as_str).unwrap_or(""));
    println!("  load average before: {load_before}; after: {}", loadavg());
}
