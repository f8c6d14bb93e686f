//! Uploads are verified before they count as stored, and deduplication never trusts an object
//! that does not check out: against a server that says 200 to an upload it stored wrongly
//! ([`FramingProxy`], playing s3rver 3.7.1 in front of moto) and objects corrupted in the bucket.

use wflow_store::BlobStore;
use wflow_store_s3::testing::{self, FramingProxy, Kind, TestServer};

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| {
            (i as u32)
                .wrapping_mul(2_654_435_761)
                .wrapping_add(seed as u32) as u8
        })
        .collect()
}

/// What s3rver left for an upload of `bytes`: the chunk framing around them.
fn framed(bytes: &[u8]) -> Vec<u8> {
    let mut out = format!("{:x};chunk-signature=0\r\n", bytes.len()).into_bytes();
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n");
    out
}

#[test]
fn a_streamed_upload_the_server_stored_wrongly_is_caught_and_stored_again_plainly() {
    let server = TestServer::get(Kind::Moto);
    let proxy = FramingProxy::start(&server.endpoint);
    let bucket = server.new_bucket("framing");
    let mut c = server.config(&bucket, "p");
    c.endpoint = Some(proxy.endpoint.clone());
    c.part_size_mib = 5;
    let store = server.store(&c).unwrap();
    let direct = server.store(&server.config(&bucket, "p")).unwrap();

    // One whole streamed PUT (1 MiB), then a multipart one (12 MiB in 5 MiB parts).
    for (key, len) in [("blobs/one", 1 << 20), ("blobs/parts", 12 << 20)] {
        let bytes = pattern(len, len as u8);
        let file = store.scratch_dir().join(format!("upload-{}", len));
        std::fs::write(&file, &bytes).unwrap();
        assert!(store.put_file_if_absent(key, &file).unwrap(), "{key}");
        assert_eq!(
            direct.get(key).unwrap().as_deref(),
            Some(bytes.as_slice()),
            "{key}: the bucket holds the bytes, not their framing"
        );
    }
    assert!(
        proxy.mangled() >= 1,
        "the proxy stored at least one upload with its framing"
    );
    // A new store on the same server starts trusting again, and again catches it.
    let again = server.store(&c).unwrap();
    let bytes = pattern(300_000, 9);
    let file = again.scratch_dir().join("upload-again");
    std::fs::write(&file, &bytes).unwrap();
    let before = proxy.mangled();
    assert!(again.put_file_if_absent("blobs/again", &file).unwrap());
    assert!(proxy.mangled() > before);
    assert_eq!(direct.get("blobs/again").unwrap().unwrap(), bytes);
}

#[test]
fn a_corrupt_object_is_replaced_never_deduplicated_against() {
    for kind in Kind::ALL {
        let server = TestServer::get(kind);
        let bucket = server.new_bucket("heal");
        let store = server.store(&server.config(&bucket, "p")).unwrap();
        // Small (conditional PUT, then 412) and big (HEAD first) objects.
        for (key, len) in [("blobs-v1/ab/small", 10_000), ("blobs-v1/ab/big", 600_000)] {
            let bytes = pattern(len, 1);
            testing::overwrite(&store, key, framed(&bytes));
            assert!(
                store.put_if_absent(key, &bytes).unwrap(),
                "{kind:?} {key}: the corrupt object is written over"
            );
            assert_eq!(store.get(key).unwrap().unwrap(), bytes, "{kind:?} {key}");
            // Now it checks out: deduplicated.
            assert!(!store.put_if_absent(key, &bytes).unwrap(), "{kind:?} {key}");
        }
        // A key that does not name its content (a task description, a record) is written once:
        // another writer's object there is never replaced; the caller sees it as taken.
        for (key, len) in [("tasks-v1/r/1-0", 10_000), ("records-v1/big", 600_000)] {
            let theirs = pattern(len, 2);
            testing::overwrite(&store, key, theirs.clone());
            assert!(
                !store.put_if_absent(key, &pattern(len, 1)).unwrap(),
                "{kind:?} {key}"
            );
            assert_eq!(store.get(key).unwrap().unwrap(), theirs, "{kind:?} {key}");
        }
    }
}
