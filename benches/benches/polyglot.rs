//! Per-task cost of a trivial step in each guest language (issue 7): a fresh instance of the
//! compiled component and one `run-step` of `start` (reads the `name` parameter, puts one small
//! artifact), for the Rust `examples/hello`, `examples/python-hello` (componentize-py) and
//! `examples/js-hello` (componentize-js); and loading each component from the compiled-code cache
//! (what a second `wflow run` of an unchanged flow pays before its first task).
//!
//! The Python and JavaScript components are built by the `wflow` binary (`wflow build --json`),
//! found in `$WFLOW_BIN`, else `target/release/wflow`, else `target/debug/wflow`; the tools it
//! drives are installed by `scripts/install-guest-tools`. A language whose component cannot be
//! built (no `wflow` binary, tool not installed) is not benched: a `SKIPPING <lang>: <why>` line
//! goes to stderr at once, and the summary printed at the end lists what ran and what did not.
//!
//! The first load of a Python or JavaScript component compiles 12–19 MB of wasm with Cranelift
//! (10–20 s); it is cached in `target/bench-cache/compiled`, so later runs of this bench start at
//! once.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wflow_benches::{Env, guest, root};
use wflow_core::ParamValue;
use wflow_engine::{Engine, EngineConfig, FlowComponent, TaskInput};

/// The `wflow` binary that builds the Python and JavaScript components, if there is one.
fn wflow_bin() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("WFLOW_BIN") {
        let p = PathBuf::from(p);
        return if p.exists() {
            Ok(p)
        } else {
            Err(format!("WFLOW_BIN={} does not exist", p.display()))
        };
    }
    for profile in ["release", "debug"] {
        let p = root().join("target").join(profile).join("wflow");
        if p.exists() {
            return Ok(p);
        }
    }
    Err("no wflow binary (set WFLOW_BIN, or `cargo build --release -p wflow-cli`)".into())
}

/// Builds a Python or JavaScript flow with `wflow build --json`; returns its component's path.
fn build(flow: &str) -> Result<PathBuf, String> {
    let bin = wflow_bin()?;
    let out = Command::new(&bin)
        .current_dir(root())
        .args(["build", "--json", flow])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let first = err.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        return Err(format!(
            "`wflow build {flow}` failed (exit {}): {first}{}",
            out.status.code().unwrap_or(-1),
            if out.status.code() == Some(3) {
                " — run scripts/install-guest-tools"
            } else {
                ""
            }
        ));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("`wflow build --json {flow}` printed no JSON: {e}"))?;
    v["component"]
        .as_str()
        .map(PathBuf::from)
        .ok_or_else(|| format!("`wflow build --json {flow}` named no component: {v}"))
}

fn input(flow: &FlowComponent, params: &Arc<BTreeMap<String, ParamValue>>, id: u64) -> TaskInput {
    TaskInput {
        task_id: id,
        params: params.clone(),
        ..TaskInput::new(flow.spec().name.clone(), "polyglot-bench", "start")
    }
}

fn polyglot(c: &mut Criterion) {
    let cache = root().join("target").join("bench-cache").join("compiled");
    let engine = Engine::new(EngineConfig {
        cache_dir: Some(cache.clone()),
        ..EngineConfig::default()
    })
    .expect("engine");
    let env = Env::new();
    let mut params = BTreeMap::new();
    params.insert("name".to_string(), ParamValue::String("Ada".into()));
    let params = Arc::new(params);

    type Build = Box<dyn Fn() -> Result<PathBuf, String>>;
    let langs: [(&str, Build); 3] = [
        ("rust", Box::new(|| Ok(guest("example-hello")))),
        ("python", Box::new(|| build("examples/python-hello"))),
        ("js", Box::new(|| build("examples/js-hello"))),
    ];
    let mut summary = Vec::new();
    let mut g = c.benchmark_group("polyglot");
    g.throughput(Throughput::Elements(1));
    for (lang, component) in langs {
        let wasm = match component() {
            Ok(w) => w,
            Err(why) => {
                eprintln!("polyglot: SKIPPING {lang}: {why}");
                summary.push(format!("{lang}: SKIPPED ({why})"));
                continue;
            }
        };
        // The first load compiles (or finds the cached code); time it once, outside criterion.
        let t = Instant::now();
        let flow = match engine.load_file(&wasm) {
            Ok(f) => f,
            Err(e) => {
                eprintln!(
                    "polyglot: SKIPPING {lang}: {} does not load: {e}",
                    wasm.display()
                );
                summary.push(format!("{lang}: SKIPPED (does not load: {e})"));
                continue;
            }
        };
        let size = std::fs::metadata(&wasm).map(|m| m.len()).unwrap_or(0);
        summary.push(format!(
            "{lang}: {:.1} MB component, first load in this process {:.2?} (compile, or the cached code)",
            size as f64 / 1e6,
            t.elapsed()
        ));

        let mut id = 0u64;
        g.bench_function(format!("instantiate_run/{lang}"), |b| {
            b.iter(|| {
                id += 1;
                let out = flow.run_task(input(&flow, &params, id), env.cas.clone());
                if let Err(e) = &out.result {
                    panic!(
                        "{lang}: the task failed: {e}\n{}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
                out
            })
        });
        g.bench_function(format!("load_cached/{lang}"), |b| {
            b.iter(|| engine.load_file(&wasm).expect("loads from the cache"))
        });
    }
    g.finish();
    eprintln!("\npolyglot summary:");
    for line in &summary {
        eprintln!("  {line}");
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(2));
    targets = polyglot
}
criterion_main!(benches);
