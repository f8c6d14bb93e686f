//! Throughput of a 100 MB artifact through the public API, on a local disk store.
//!
//! Timing depends on the machine and on what else runs, so this is not part of the normal test
//! run. On a quiet machine:
//!
//! ```text
//! cargo test --release -p wflow-store --test throughput -- --ignored --nocapture
//! ```
//!
//! It fails if the best of five rounds is below `WFLOW_STORE_MIN_GBPS` (default 1.0) GB/s.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wflow_store::{Cas, LocalDisk};

const SIZE: usize = 100 << 20;

/// Best GB/s of `rounds` runs of `f`; `prepare` runs untimed before each.
fn best(rounds: usize, mut prepare: impl FnMut(), mut f: impl FnMut()) -> f64 {
    (0..rounds)
        .map(|_| {
            prepare();
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .map_or(0.0, |t: Duration| SIZE as f64 / t.as_secs_f64() / 1e9)
}

#[test]
#[ignore = "timing: run in release mode on a quiet machine"]
fn hundred_megabytes() {
    let min: f64 = std::env::var("WFLOW_STORE_MIN_GBPS").map_or(1.0, |v| v.parse().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let cas = Cas::new(Arc::new(
        LocalDisk::open(&dir.path().join("store")).unwrap(),
    ));
    let value: Vec<u8> = (0..SIZE)
        .map(|i| (i.wrapping_mul(31) ^ (i >> 8)) as u8)
        .collect();
    let digest = wflow_store::Digest::of(&value);
    let blob = dir.path().join("store").join(Cas::blob_key(&digest));
    let remove = || {
        let _ = std::fs::remove_file(&blob);
    };

    let put = best(5, remove, || {
        cas.put(&value).unwrap();
    });
    let get = best(
        5,
        || {},
        || assert_eq!(cas.get(&digest).unwrap().len(), SIZE),
    );
    let write = best(5, remove, || {
        let mut w = cas.writer().unwrap();
        for piece in value.chunks(1 << 20) {
            w.write_all(piece).unwrap();
        }
        w.finish("raw").unwrap();
    });
    let r = cas.put_artifact(&value, "raw").unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let read = best(
        5,
        || {},
        || {
            let mut reader = cas.reader(&r).unwrap();
            while reader.read(&mut buf).unwrap() > 0 {}
        },
    );

    println!("put {put:.2} GB/s, get {get:.2} GB/s, writer {write:.2} GB/s, reader {read:.2} GB/s");
    for (what, gbps) in [
        ("put", put),
        ("get", get),
        ("writer", write),
        ("reader", read),
    ] {
        assert!(gbps >= min, "{what}: {gbps:.2} GB/s is below {min} GB/s");
    }
}
