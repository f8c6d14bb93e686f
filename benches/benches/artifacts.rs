//! Artifacts through the host functions, at 1 KB, 1 MB and 100 MB: a step that puts a value
//! (`artifacts.put`, the whole value crossing the canonical ABI at once) and one that gets it
//! (`artifacts.get`), and the same through the streaming writer and reader (1 MiB pieces). Each
//! figure is a whole task (a fresh instance included; see the `task` bench for that alone), with
//! the bytes hashed and written to or read from a store on local disk.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use wflow_benches::{Env, engine, input, load, run_ok, task_input};

const SIZES: &[(&str, i64)] = &[("1KB", 1 << 10), ("1MB", 1 << 20), ("100MB", 100 << 20)];

fn artifacts(c: &mut Criterion) {
    let engine = engine(true);
    let flow = load(&engine, "bench-guest");
    let env = Env::new();
    let mut task_id = 1u64;
    for &(label, bytes) in SIZES {
        let mut g = c.benchmark_group(format!("artifact_{label}"));
        g.throughput(Throughput::Bytes(bytes as u64));
        if bytes >= 100 << 20 {
            g.sample_size(10).measurement_time(Duration::from_secs(20));
        }
        for (put, get) in [("put", "get"), ("stream_put", "stream_get")] {
            // Writing: every task writes a new value (its task id is in it), removed afterwards.
            g.bench_function(BenchmarkId::new(put, label), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        task_id += 1;
                        let i = task_input(&flow, "r", put, task_id, &[("bytes", bytes)], vec![]);
                        let started = Instant::now();
                        let out = run_ok(&flow, i, &env.cas);
                        total += started.elapsed();
                        env.remove_blob(&out.artifacts["blob"]);
                    }
                    total
                })
            });
            // Reading: one stored value, read by every task.
            task_id += 1;
            let i = task_input(&flow, "r", put, task_id, &[("bytes", bytes)], vec![]);
            let blob = run_ok(&flow, i, &env.cas).artifacts["blob"].clone();
            assert_eq!(blob.size, bytes as u64);
            let inputs = vec![input(
                put,
                BTreeMap::from([("blob".to_string(), blob.clone())]),
            )];
            let i = task_input(&flow, "r", get, task_id + 1, &[("bytes", bytes)], inputs);
            g.bench_function(BenchmarkId::new(get, label), |b| {
                b.iter(|| run_ok(&flow, i.clone(), &env.cas))
            });
            env.remove_blob(&blob);
        }
        g.finish();
    }
}

criterion_group!(benches, artifacts);
criterion_main!(benches);
