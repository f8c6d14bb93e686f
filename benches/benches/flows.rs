//! Whole runs in process, as `wflow run` does them minus the CLI and the process start: the
//! `hello` example (3 tasks), and the `foreach` example at N = 1000 (1,003 tasks), on as many
//! workers as cores, into one store that grows from run to run.

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wflow_benches::{Env, cores, engine, load, run_flow, runtime};

fn flows(c: &mut Criterion) {
    let workers = cores();
    let rt = runtime(workers);
    let engine = engine(true);
    let env = Env::new();
    let mut g = c.benchmark_group("run");

    let hello = load(&engine, "example-hello");
    g.bench_function("hello", |b| {
        b.iter(|| run_flow(&rt, &env, &hello, &[], workers))
    });

    let foreach = load(&engine, "example-foreach");
    let summary = run_flow(&rt, &env, &foreach, &[("n", 1000)], workers);
    g.throughput(Throughput::Elements(summary.tasks.len() as u64));
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("foreach_1000", |b| {
        b.iter(|| run_flow(&rt, &env, &foreach, &[("n", 1000)], workers))
    });
    g.finish();
}

criterion_group!(benches, flows);
criterion_main!(benches);
