//! The S3 store against real S3-compatible servers (moto and s3s-fs on 127.0.0.1): the
//! `BlobStore` contract, the `Cas` above it, big transfers, concurrency and faults.

use std::io::{Read, Write};
use std::sync::Arc;

use wflow_store::{BlobStore, Cas, StoreError};
use wflow_store_s3::S3Store;
use wflow_store_s3::testing::{self, Kind, TestServer};

/// Runs `check` once per server kind (moto, s3s-fs).
fn each_server(tag: &str, check: impl Fn(&TestServer, &str)) {
    for kind in Kind::ALL {
        let server = TestServer::get(kind);
        let bucket = server.new_bucket(tag);
        check(server, &bucket);
    }
}

/// A store with 5 MiB parts, so that multipart paths run on modest values.
fn small_parts(server: &TestServer, bucket: &str, prefix: &str) -> S3Store {
    let mut c = server.config(bucket, prefix);
    c.part_size_mib = 5;
    c.max_concurrency = 4;
    server.store(&c).unwrap()
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| {
            (i as u32)
                .wrapping_mul(2_654_435_761)
                .wrapping_add(seed as u32) as u8
                ^ (i >> 13) as u8
        })
        .collect()
}

#[test]
fn blob_store_contract() {
    each_server("contract", |server, bucket| {
        let store = server.store(&server.config(bucket, "team/wflow")).unwrap();
        assert!(store.summary().contains(bucket), "{}", store.summary());
        assert!(store.summary().contains("team/wflow/"));

        assert!(!store.exists("a/b").unwrap());
        assert_eq!(store.get("a/b").unwrap(), None);
        assert!(store.open("a/b").unwrap().is_none());
        assert!(store.put_if_absent("a/b", b"hello").unwrap());
        // Write once: the second writer of a key writes nothing.
        assert!(!store.put_if_absent("a/b", b"hello").unwrap());
        assert_eq!(store.get("a/b").unwrap().unwrap(), b"hello");
        assert!(store.exists("a/b").unwrap());
        let mut text = String::new();
        store
            .open("a/b")
            .unwrap()
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "hello");

        assert!(store.put_if_absent("empty", b"").unwrap());
        assert_eq!(store.get("empty").unwrap().unwrap(), b"");
        let mut none = Vec::new();
        store
            .open("empty")
            .unwrap()
            .unwrap()
            .read_to_end(&mut none)
            .unwrap();
        assert!(none.is_empty());

        store.put_if_absent("a/c", b"1").unwrap();
        store.put_if_absent("ab", b"2").unwrap();
        assert_eq!(store.list("a/").unwrap(), ["a/b", "a/c"]);
        assert_eq!(store.list("a").unwrap(), ["a/b", "a/c", "ab"]);
        assert_eq!(store.list("").unwrap(), ["a/b", "a/c", "ab", "empty"]);
        assert!(store.list("zz").unwrap().is_empty());

        // A file is uploaded, then removed whether or not it was needed.
        let file = store.scratch_dir().join(format!("upload-{bucket}"));
        std::fs::write(&file, b"from a file").unwrap();
        assert!(store.put_file_if_absent("f", &file).unwrap());
        assert!(!file.exists());
        std::fs::write(&file, b"from a file").unwrap();
        assert!(!store.put_file_if_absent("f", &file).unwrap());
        assert!(!file.exists());
        assert_eq!(store.get("f").unwrap().unwrap(), b"from a file");

        // Keys are checked as on local disk.
        assert!(matches!(
            store.put_if_absent("../x", b""),
            Err(StoreError::InvalidKey { .. })
        ));
        // Another prefix of the same bucket is another store.
        let other = server.store(&server.config(bucket, "elsewhere")).unwrap();
        assert!(other.list("").unwrap().is_empty());
    });
}

#[test]
fn big_values_go_up_in_parts_and_come_back_in_ranges() {
    each_server("big", |server, bucket| {
        let store = small_parts(server, bucket, "p");
        let value = pattern(23 * (1 << 20) + 12345, 7); // 5 parts, the last one short

        // From memory (multipart from the slice) ...
        assert!(store.put_if_absent("big/slice", &value).unwrap());
        assert!(!store.put_if_absent("big/slice", &value).unwrap());
        // ... and from a file (multipart, streamed from the file).
        let file = store.scratch_dir().join(format!("big-{bucket}"));
        std::fs::write(&file, &value).unwrap();
        assert!(store.put_file_if_absent("big/file", &file).unwrap());
        assert!(!file.exists());
        assert_eq!(
            testing::open_uploads(&store),
            0,
            "no multipart upload left open"
        );

        for key in ["big/slice", "big/file"] {
            let mut pieces = 0;
            let got = store.get_with(key, &mut |_| pieces += 1).unwrap().unwrap();
            assert!(got == value, "{key}: bytes differ");
            assert_eq!(pieces, 5, "{key}: one piece per range");
            let mut streamed = Vec::new();
            let mut reader = store.open(key).unwrap().unwrap();
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = reader.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                streamed.extend_from_slice(&buf[..n]);
            }
            assert!(streamed == value, "{key}: streamed bytes differ");
        }
    });
}

#[test]
fn cas_over_s3_verifies_and_names_corrupt_blobs() {
    each_server("cas", |server, bucket| {
        let store = Arc::new(small_parts(server, bucket, "wflow"));
        let cas = Cas::new(store.clone());
        let small = cas.put_artifact(b"42", "cbor").unwrap();
        assert!(small.inline.is_some());
        let value = pattern(9 << 20, 3);
        let big = cas.put_artifact(&value, "raw").unwrap();
        assert!(cas.contains(&big.digest).unwrap());
        assert!(cas.get_artifact(&big).unwrap() == value);

        // Streamed in through a temporary file, streamed out through the read-ahead reader.
        let mut w = cas.writer().unwrap();
        for chunk in value.chunks(777_777) {
            w.write_all(chunk).unwrap();
        }
        let streamed = w.finish("raw").unwrap();
        assert_eq!(streamed.digest, big.digest, "same bytes, same blob");
        let mut back = Vec::new();
        cas.reader(&streamed)
            .unwrap()
            .read_to_end(&mut back)
            .unwrap();
        assert!(back == value);
        assert_eq!(cas.list_blobs().unwrap(), vec![big.digest]);

        // A blob altered behind the store's back: an error naming it and its key.
        let other = cas.put(&pattern(10_000, 9)).unwrap();
        let mut bad = value.clone();
        bad[4_000_000] ^= 1;
        testing::overwrite(&store, &Cas::blob_key(&big.digest), bad);
        let err = cas.get(&big.digest).unwrap_err();
        assert!(err.is_corrupt(), "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains(&big.digest.to_string()) && msg.contains(&Cas::blob_key(&big.digest)),
            "{msg}"
        );
        let err = cas
            .reader(&big)
            .unwrap()
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert!(
            StoreError::from_io(&err).is_some_and(StoreError::is_corrupt),
            "{err}"
        );
        // The others are still readable.
        assert_eq!(cas.get(&other).unwrap(), pattern(10_000, 9));

        // A blob deleted behind its back: not found, naming it.
        testing::delete(&store, &Cas::blob_key(&other));
        let err = cas.get(&other).unwrap_err();
        assert!(
            err.is_not_found() && err.to_string().contains(&other.to_string()),
            "{err}"
        );
    });
}

#[test]
fn racing_writers_leave_one_complete_object() {
    each_server("race", |server, bucket| {
        let store = Arc::new(small_parts(server, bucket, ""));
        let value = pattern(6 << 20, 1); // above the part size: multipart
        let wins: Vec<(bool, bool)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..6)
                .map(|i| {
                    let (store, value) = (store.clone(), &value);
                    s.spawn(move || {
                        if i % 2 == 0 {
                            (true, store.put_if_absent("same", value).unwrap())
                        } else {
                            (false, store.put_if_absent("small", b"tiny").unwrap())
                        }
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let count = |big: bool| wins.iter().filter(|w| w.0 == big && w.1).count();
        assert!(
            count(true) >= 1 && count(false) >= 1,
            "each key was written"
        );
        if server.kind == Kind::Moto {
            // moto honours `If-None-Match: *` on PutObject (one winner) but not on
            // CompleteMultipartUpload; s3s-fs checks it, but not atomically. Either way the
            // object is complete, and under a content-addressed key the same.
            assert_eq!(count(false), 1);
        }
        assert!(store.get("same").unwrap().unwrap() == value);
        assert_eq!(store.get("small").unwrap().unwrap(), b"tiny");
        assert_eq!(testing::open_uploads(&store), 0);
    });
}

#[test]
fn callable_from_inside_an_async_runtime() {
    each_server("async", |server, bucket| {
        let store = Arc::new(server.store(&server.config(bucket, "x")).unwrap());
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let s = store.clone();
        let got = rt.block_on(async move {
            // As the scheduler does when it stores a run's parameters.
            s.put_if_absent("k", b"v").unwrap();
            s.get("k").unwrap()
        });
        assert_eq!(got.unwrap(), b"v");
        // And dropping the last handle inside async code does not panic.
        rt.block_on(async move { drop(store) });
    });
}

#[test]
fn unreachable_endpoint_is_named() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut c = wflow_store_s3::S3Config::new("s3://nowhere/x");
    c.endpoint = Some(format!("http://127.0.0.1:{port}"));
    c.region = Some("us-east-1".into());
    c.path_style = true;
    c.max_attempts = 2;
    let err = testing_store(&c).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("127.0.0.1:{port}")) && msg.contains("cannot reach"),
        "{msg}"
    );
}

#[test]
fn missing_bucket_and_refused_credentials() {
    for kind in Kind::ALL {
        let server = TestServer::get(kind);
        let err = server
            .store(&server.config("no-such-bucket-here", "p"))
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("no-such-bucket-here") && msg.contains("does not exist"),
            "{kind:?}: {msg}"
        );
    }
    // moto accepts any key; s3s-fs checks them.
    {
        let server = TestServer::get(Kind::S3sFs);
        let bucket = server.new_bucket("creds");
        let c = server.config(&bucket, "p");
        let err = wflow_store_s3::testing::store_with_credentials(&c, "wflow-test", "wrong-secret")
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("refused the credentials") || msg.contains("access denied"),
            "{msg}"
        );
        let io = match &err {
            StoreError::Io { source, .. } => source.kind(),
            other => panic!("{other}"),
        };
        assert_eq!(io, std::io::ErrorKind::PermissionDenied);
    }
}

fn testing_store(c: &wflow_store_s3::S3Config) -> Result<S3Store, StoreError> {
    wflow_store_s3::testing::store_with_credentials(c, testing::ACCESS_KEY, testing::SECRET_KEY)
}

/// gc's removal of stale objects lists each batch's range of keys again just before deleting:
/// an object written after gc listed it stays, one already gone is not reported, and a range
/// longer than one listing page (1,000 keys) is read to its end.
#[test]
fn delete_stale_spares_what_was_written_after_the_listing() {
    each_server("stale", |server, bucket| {
        let store = server.store(&server.config(bucket, "gc")).unwrap();
        let key = |i: usize| format!("o/{i:05}");
        let n = 1_100;
        std::thread::scope(|s| {
            for t in 0..8 {
                let store = &store;
                s.spawn(move || {
                    for i in (t..n).step_by(8) {
                        store.put_if_absent(&key(i), b"x").unwrap();
                    }
                });
            }
        });
        let listed = store.list_info("o/").unwrap();
        assert_eq!(listed.len(), n);
        // Every object so far is older than the cutoff; one is written again after it.
        let cutoff = wflow_core::now_millis();
        std::thread::sleep(std::time::Duration::from_millis(1_100));
        testing::overwrite(&store, &key(1_050), b"y".to_vec());
        testing::delete(&store, &key(500));
        let candidates = [key(0), key(500), key(1_050), key(1_099)];
        let deleted = store.delete_stale(&candidates, cutoff).unwrap();
        assert_eq!(deleted, [key(0), key(1_099)]);
        let left = store.list("o/").unwrap();
        assert_eq!(left.len(), n - 3);
        assert_eq!(store.get(&key(1_050)).unwrap().unwrap(), b"y");
        assert!(!store.exists(&key(0)).unwrap());
        assert!(store.exists(&key(1)).unwrap());
    });
}
