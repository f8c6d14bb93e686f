//! What one task costs: a fresh instance of a trivial step and its run, with the pooling
//! allocator and without it (on one thread and on every core), and the per-task overhead the
//! scheduler pays (instantiate + run + persist: logs, manifest and records).

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wflow_benches::{Env, cores, engine, load, run_and_persist, run_ok, task_input};

fn instantiate_run(c: &mut Criterion) {
    let mut g = c.benchmark_group("instantiate_run");
    g.throughput(Throughput::Elements(1));
    for (name, pooling) in [("pooling", true), ("on_demand", false)] {
        let engine = engine(pooling);
        let flow = load(&engine, "bench-guest");
        let env = Env::new();
        let input = task_input(&flow, "r", "start", 1, &[("bytes", 0)], vec![]);
        g.bench_function(name, |b| b.iter(|| run_ok(&flow, input.clone(), &env.cas)));

        // The same on every core at once: time per task of the whole machine.
        let threads = cores();
        g.bench_function(format!("{name}_{threads}_threads"), |b| {
            b.iter_custom(|iters| {
                let per_thread = iters.div_ceil(threads as u64);
                let started = Instant::now();
                std::thread::scope(|s| {
                    for _ in 0..threads {
                        s.spawn(|| {
                            for _ in 0..per_thread {
                                run_ok(&flow, input.clone(), &env.cas);
                            }
                        });
                    }
                });
                started
                    .elapsed()
                    .mul_f64(iters as f64 / (per_thread * threads as u64) as f64)
            })
        });
    }
    g.finish();
}

fn per_task(c: &mut Criterion) {
    let mut g = c.benchmark_group("per_task");
    g.throughput(Throughput::Elements(1));
    let engine = engine(true);
    let flow = load(&engine, "bench-guest");
    let env = Env::new();
    let run_id = "per-task";
    env.start_run(&flow, run_id);
    let mut task_id = 0u64;
    // `start` puts nothing; `put` with 8 bytes keeps one small (inline) artifact that differs from
    // task to task, so every task writes a manifest of its own, like the tasks of a foreach.
    for (name, step, bytes) in [("trivial", "start", 0), ("small_artifact", "put", 8)] {
        g.bench_function(format!("instantiate_run_persist/{name}"), |b| {
            b.iter_custom(|iters| {
                let started = Instant::now();
                for _ in 0..iters {
                    task_id += 1;
                    let input =
                        task_input(&flow, run_id, step, task_id, &[("bytes", bytes)], vec![]);
                    run_and_persist(&env, &flow, input);
                }
                // The records are written in batches by a background thread: count that too.
                env.recorder.flush().expect("records written");
                started.elapsed()
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5));
    targets = instantiate_run, per_task
}
criterion_main!(benches);
