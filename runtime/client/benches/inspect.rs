//! `wflow runs` and `wflow show` at scale, through the client library: a store of 1,000 runs and
//! 1,000,000 task records (and as many attempts), made once by `examples/gen_store.rs` in
//! `target/bench-stores/` and kept for later runs.
//!
//! ```sh
//! cargo bench -p wflow-client --bench inspect
//! ```
//! The whole commands, process start included, are timed by `benches/cli.sh`.

use std::path::PathBuf;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use wflow_client::{Client, RunFilter};

#[path = "../examples/gen_store.rs"]
#[allow(dead_code)]
mod gen_store;

const RUNS: usize = 1_000;
const TASKS: u64 = 1_000;

fn store() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/bench-stores")
        .join(format!("runs{RUNS}-tasks{TASKS}"));
    if !dir.join("done").exists() {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        eprintln!(
            "recording {RUNS} runs of {TASKS} tasks into {} (once)…",
            dir.display()
        );
        gen_store::generate(&dir, RUNS, TASKS);
        std::fs::write(dir.join("done"), "").unwrap();
    }
    dir
}

fn bench(c: &mut Criterion) {
    let dir = store();
    let mut g = c.benchmark_group("inspect-1k-runs-1m-tasks");
    g.measurement_time(Duration::from_secs(5));
    g.bench_function("open", |b| b.iter(|| Client::open(&dir).unwrap()));
    let client = Client::open(&dir).unwrap();
    let newest = client
        .runs(&RunFilter {
            limit: Some(1),
            ..RunFilter::default()
        })
        .unwrap()[0]
        .pathspec();
    g.bench_function("runs (newest 50, as `wflow runs`)", |b| {
        b.iter(|| {
            client
                .runs(&RunFilter {
                    limit: Some(50),
                    skip_spec: true,
                    ..RunFilter::default()
                })
                .unwrap()
        })
    });
    g.bench_function("runs --all (1,000)", |b| {
        b.iter(|| {
            client
                .runs(&RunFilter {
                    skip_spec: true,
                    ..RunFilter::default()
                })
                .unwrap()
        })
    });
    g.bench_function("runs --all (1,000) with their specs", |b| {
        b.iter(|| client.runs(&RunFilter::default()).unwrap())
    });
    g.bench_function("runs --tag nightly", |b| {
        b.iter(|| {
            client
                .runs(&RunFilter {
                    tags: vec!["nightly".into()],
                    skip_spec: true,
                    ..RunFilter::default()
                })
                .unwrap()
        })
    });
    g.bench_function("count runs", |b| {
        b.iter(|| client.metadata().count_runs(&RunFilter::default()).unwrap())
    });
    g.bench_function("show run (graph + per-step stats)", |b| {
        b.iter(|| {
            let run = client.run(&newest).unwrap();
            run.steps().unwrap()
        })
    });
    g.bench_function("show step (997 tasks)", |b| {
        b.iter(|| {
            client
                .step(&format!("{newest}/square"))
                .unwrap()
                .tasks()
                .unwrap()
        })
    });
    g.bench_function("show task (attempts + artifacts)", |b| {
        b.iter(|| {
            let t = client.task(&format!("{newest}/square/500")).unwrap();
            (t.attempts().unwrap(), t.artifacts().unwrap().len())
        })
    });
    g.bench_function("unknown run (nearest of 1,000)", |b| {
        b.iter(|| client.run("Foreach/20261128T999999-zzzzz").unwrap_err())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
