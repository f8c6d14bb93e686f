//! The content-addressed store on local disk, at 1 KB, 1 MB and 100 MB: writing a new blob (hash +
//! temp file + link into place), reading it back raw, reading it verified (what every read in
//! wflow does), and the BLAKE3 hash alone (the price of verification).

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use wflow_benches::Env;
use wflow_store::{Cas, Digest};

const SIZES: &[(&str, usize)] = &[("1KB", 1 << 10), ("1MB", 1 << 20), ("100MB", 100 << 20)];

fn store(c: &mut Criterion) {
    let env = Env::new();
    let mut counter = 0u64;
    for &(label, size) in SIZES {
        let mut g = c.benchmark_group(format!("store_{label}"));
        g.throughput(Throughput::Bytes(size as u64));
        if size >= 100 << 20 {
            g.sample_size(10).measurement_time(Duration::from_secs(15));
        }
        let mut bytes: Vec<u8> = (0..size)
            .map(|i| (i as u64).wrapping_mul(0x9E37_79B9) as u8)
            .collect();

        g.bench_function(BenchmarkId::new("write", label), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    // A value never stored before, so nothing is deduplicated.
                    counter += 1;
                    bytes[..8].copy_from_slice(&counter.to_le_bytes());
                    let started = Instant::now();
                    let digest = env.cas.put(&bytes).expect("put");
                    total += started.elapsed();
                    let _ = std::fs::remove_file(env.store_root().join(Cas::blob_key(&digest)));
                }
                total
            })
        });

        let digest = env.cas.put(&bytes).expect("put");
        let key = Cas::blob_key(&digest);
        g.bench_function(BenchmarkId::new("read", label), |b| {
            b.iter(|| env.cas.backend().get(&key).expect("get").expect("present"))
        });
        g.bench_function(BenchmarkId::new("read_verified", label), |b| {
            b.iter(|| env.cas.get(&digest).expect("get"))
        });
        g.bench_function(BenchmarkId::new("hash", label), |b| {
            b.iter(|| Digest::of(&bytes))
        });
        g.finish();
    }
}

criterion_group!(benches, store);
criterion_main!(benches);
