//! Target `manifest`: the store's manifest decoding.
//!
//! Invariants, for any bytes:
//! - [`Manifest::from_cbor`] returns a manifest or [`StoreError::BadManifest`] naming the digest
//!   it was given, with a reason; it never panics (nor allocates far more than it was given, which
//!   libFuzzer's `-malloc_limit_mb` catches);
//! - what decodes encodes again, and decodes back to the same manifest;
//! - [`Cas::get_manifest`] on the same bytes, stored as a blob, says the same;
//! - reading any artifact a decoded manifest names, whole or streamed, gives bytes or a
//!   [`StoreError`], never a panic, and never unverified bytes.

use std::io::Read;
use std::sync::Arc;

use wflow_core::Digest;
use wflow_store::{ArtifactRef, Cas, LocalDisk, Manifest, StoreError};

/// A store in a temporary directory, for the blobs the target writes.
pub struct Target {
    cas: Cas,
    _dir: tempfile::TempDir,
}

impl Default for Target {
    fn default() -> Self {
        Self::new()
    }
}

impl Target {
    /// A fresh store; it is removed when the target is dropped.
    pub fn new() -> Target {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let disk = LocalDisk::open(&dir.path().join("store")).expect("a store");
        Target {
            cas: Cas::new(Arc::new(disk)),
            _dir: dir,
        }
    }

    /// Checks one input.
    pub fn check(&self, data: &[u8]) {
        let digest = Digest::of(data);
        let direct = Manifest::from_cbor(&digest, data);
        let stored = self.cas.put(data).expect("the store takes the bytes");
        assert_eq!(stored, digest);
        let through_cas = self.cas.get_manifest(&digest);
        match (&direct, &through_cas) {
            (Ok(a), Ok(b)) => assert_eq!(a, b),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
            _ => panic!("from_cbor and get_manifest disagree: {direct:?} / {through_cas:?}"),
        }
        match direct {
            Ok(m) => self.check_decoded(&m),
            Err(StoreError::BadManifest { digest: d, reason }) => {
                assert_eq!(d, digest, "the error names the manifest");
                assert!(!reason.is_empty());
            }
            Err(e) => panic!("a bad manifest gave another kind of error: {e:?}"),
        }
    }

    fn check_decoded(&self, m: &Manifest) {
        let encoded = m.to_cbor().expect("a manifest that decoded encodes");
        let back = Manifest::from_cbor(&Digest::of(&encoded), &encoded)
            .expect("a re-encoded manifest decodes");
        assert_eq!(&back, m, "decode(encode(m)) == m");
        for r in m.artifacts.values() {
            self.check_artifact(r);
        }
    }

    fn check_artifact(&self, r: &ArtifactRef) {
        let whole = self.cas.get_artifact(r);
        if let Ok(bytes) = &whole {
            assert_eq!(
                Digest::of(bytes),
                r.digest,
                "get_artifact verified the digest"
            );
            assert_eq!(bytes.len() as u64, r.size, "get_artifact verified the size");
        }
        let streamed = self
            .cas
            .reader(r)
            .map_err(|e| e.to_string())
            .and_then(|mut reader| {
                let mut buf = Vec::new();
                // Bounded: a reference may claim any size, the reader yields only what is stored.
                reader
                    .by_ref()
                    .take(64 << 20)
                    .read_to_end(&mut buf)
                    .map_err(|e| e.to_string())?;
                Ok(buf)
            });
        match (whole, streamed) {
            (Ok(a), Ok(b)) => assert_eq!(a, b),
            (Err(_), Err(_)) => {}
            (a, b) => panic!("get_artifact and reader disagree on {r:?}: {a:?} / {b:?}"),
        }
    }
}

/// Seed inputs: real manifests of several shapes, encoded as the store writes them.
pub fn seeds() -> Vec<Vec<u8>> {
    let small = |v: &[u8], codec: &str| ArtifactRef {
        digest: Digest::of(v),
        size: v.len() as u64,
        codec: codec.into(),
        inline: Some(v.to_vec()),
    };
    let blob = ArtifactRef {
        digest: Digest::of(b"a big value"),
        size: 1 << 20,
        codec: "raw".into(),
        inline: None,
    };
    let mut manifests = vec![Manifest::new()];
    let mut m = Manifest::new();
    m.artifacts.insert("x".into(), small(b"\x18\x2a", "cbor"));
    manifests.push(m.clone());
    m.artifacts.insert("big".into(), blob);
    m.artifacts
        .insert("name with space".into(), small(b"", "raw"));
    manifests.push(m.clone());
    m.artifacts.insert("bad".into(), small(b"xyz", "raw"));
    m.artifacts.get_mut("bad").unwrap().size = 99;
    manifests.push(m);
    manifests.iter().map(|m| m.to_cbor().unwrap()).collect()
}

/// CBOR fragments worth splicing in: huge lengths, indefinite lengths, tags, deep nesting.
pub const DICT: &[&[u8]] = &[
    b"\x9f",                                 // indefinite array
    b"\xbf",                                 // indefinite map
    b"\x5f",                                 // indefinite byte string
    b"\xff",                                 // break
    b"\x5b\xff\xff\xff\xff\xff\xff\xff\xff", // byte string of 2^64-1 bytes
    b"\x7b\x00\x00\x00\x01\x00\x00\x00\x00", // text string of 2^32 bytes
    b"\x9b\xff\xff\xff\xff\xff\xff\xff\xff", // array of 2^64-1 items
    b"\xbb\x00\x00\x00\x00\xff\xff\xff\xff", // map of 2^32-1 pairs
    b"\x58\x20",                             // 32-byte byte string header
    b"\xc6",                                 // tag 6
    b"\xd9\xd9\xf7",                         // self-describe tag
    b"\x81\x81\x81\x81\x81\x81\x81\x81",     // nesting
    b"gversion",
    b"iartifacts",
    b"fdigest",
    b"dsize",
    b"ecodec",
    b"finline",
    b"\xf6",
    b"\xfb\x7f\xf8\x00\x00\x00\x00\x00\x00", // NaN
];
