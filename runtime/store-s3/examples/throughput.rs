//! Upload and download throughput of one large artifact through the `Cas` on an S3 store, against
//! the test servers (moto, s3s-fs) on 127.0.0.1, and the same file through `aws s3 cp` when the AWS
//! CLI is installed (a plain parallel client, for comparison).
//!
//! ```sh
//! cargo run --release -p wflow-store-s3 --example throughput -- [MiB, default 100]
//! ```

use std::io::{Read, Write};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use wflow_store::{BlobStore, Cas};
use wflow_store_s3::testing::{self, Kind, TestServer};

fn main() {
    let mib: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100);
    let size = mib << 20;
    let mut value = vec![0u8; size];
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for chunk in value.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    let mb = size as f64 / 1e6;
    println!("{mib} MiB artifact, loopback; MB/s (10^6 bytes per second)");
    println!(
        "{:<8} {:<26} {:>10} {:>10}",
        "server", "client", "upload", "download"
    );
    for kind in Kind::ALL {
        let server = TestServer::get(kind);
        let bucket = server.new_bucket("throughput");
        let store = Arc::new(server.store(&server.config(&bucket, "wflow")).unwrap());
        let cas = Cas::new(store.clone());

        // Upload: streamed into a temporary file (as a step's big artifact is), then a
        // multipart upload with parallel parts.
        let t = Instant::now();
        let mut w = cas.writer().unwrap();
        for chunk in value.chunks(1 << 20) {
            w.write_all(chunk).unwrap();
        }
        let r = w.finish("raw").unwrap();
        let up = mb / t.elapsed().as_secs_f64();

        // Download: parallel ranged GETs into memory, verified.
        let t = Instant::now();
        let back = cas.get_artifact(&r).unwrap();
        let down = mb / t.elapsed().as_secs_f64();
        assert!(back == value);
        drop(back);

        // Streaming download: read-ahead reader, verified at the end.
        let t = Instant::now();
        let mut n = 0;
        let mut reader = cas.reader(&r).unwrap();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let k = reader.read(&mut buf).unwrap();
            if k == 0 {
                break;
            }
            n += k;
        }
        assert_eq!(n, size);
        let stream = mb / t.elapsed().as_secs_f64();
        println!(
            "{:<8} {:<26} {up:>10.0} {down:>10.0}",
            kind.name(),
            "wflow (Cas get)"
        );
        println!(
            "{:<8} {:<26} {:>10} {stream:>10.0}",
            kind.name(),
            "wflow (streaming reader)",
            ""
        );

        // Requests a second identical upload costs: one HEAD, nothing sent.
        let t = Instant::now();
        assert!(
            !store
                .put_if_absent(&Cas::blob_key(&r.digest), &value)
                .unwrap()
        );
        println!(
            "{:<8} {:<26} {:>10} (dedup: {:.1} ms)",
            kind.name(),
            "wflow, same value again",
            "",
            t.elapsed().as_secs_f64() * 1e3
        );
        awscli(server, &bucket, &value, mb);
        testing::delete(&store, &Cas::blob_key(&r.digest));
    }
}

/// `aws s3 cp` up and down, when the AWS CLI is installed.
fn awscli(server: &TestServer, bucket: &str, value: &[u8], mb: f64) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("value.bin");
    std::fs::write(&file, value).unwrap();
    let url = format!("s3://{bucket}/awscli/value.bin");
    let cp = |from: &str, to: &str| {
        let mut cmd = Command::new("aws");
        cmd.args([
            "s3",
            "cp",
            "--quiet",
            "--endpoint-url",
            &server.endpoint,
            from,
            to,
        ]);
        for (k, v) in TestServer::credential_env() {
            cmd.env(k, v);
        }
        let t = Instant::now();
        let ok = cmd.status().is_ok_and(|s| s.success());
        ok.then(|| mb / t.elapsed().as_secs_f64())
    };
    let Some(up) = cp(file.to_str().unwrap(), &url) else {
        println!(
            "{:<8} {:<26} (not installed or failed)",
            server.kind.name(),
            "aws s3 cp"
        );
        return;
    };
    let back = dir.path().join("back.bin");
    let down = cp(&url, back.to_str().unwrap()).unwrap_or(f64::NAN);
    println!(
        "{:<8} {:<26} {up:>10.0} {down:>10.0}",
        server.kind.name(),
        "aws s3 cp (awscli)"
    );
}
