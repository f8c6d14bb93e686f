use std::fs;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Barrier;

use super::*;
use crate::LocalDisk;

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    cas: Cas,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let disk = LocalDisk::open(&dir.path().join(".wflow")).unwrap();
    let root = disk.root().to_path_buf();
    Fixture {
        _dir: dir,
        root,
        cas: Cas::new(Arc::new(disk)),
    }
}

impl Fixture {
    fn blob_path(&self, d: &Digest) -> PathBuf {
        self.root.join(Cas::blob_key(d))
    }
    fn blob_files(&self) -> usize {
        self.cas.backend().list(BLOBS_PREFIX).unwrap().len()
    }
    fn scratch_files(&self) -> usize {
        fs::read_dir(self.root.join("tmp")).unwrap().count()
    }
}

/// Bytes that are not all alike, so a flipped byte or a misplaced piece changes the hash.
fn value(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(31) ^ (i >> 8)) as u8)
        .collect()
}

const SIZES: [usize; 5] = [0, 1, INLINE_MAX, INLINE_MAX + 1, 10 << 20];

#[test]
fn blob_keys() {
    let d = Digest::of(b"abc");
    let hex = d.to_string();
    let key = Cas::blob_key(&d);
    assert_eq!(key, format!("blobs-v1/{}/{hex}", &hex[..2]));
    assert_eq!(Cas::digest_of_key(&key), Some(d));
    for bad in [
        "blobs-v1/xx/00",
        "tmp/ab/abc",
        &format!("blobs-v1/zz/{hex}"),
        &hex,
    ] {
        assert_eq!(Cas::digest_of_key(bad), None, "{bad}");
    }
}

#[test]
fn put_get_round_trips() {
    let f = fixture();
    for len in SIZES {
        let v = value(len);
        let d = f.cas.put(&v).unwrap();
        assert_eq!(d, Digest::of(&v));
        assert!(f.cas.contains(&d).unwrap());
        assert_eq!(f.cas.get(&d).unwrap(), v, "{len} bytes");
    }
    assert_eq!(f.blob_files(), SIZES.len());
    assert_eq!(f.scratch_files(), 0);
}

#[test]
fn artifact_round_trips_inline_or_blob() {
    let f = fixture();
    for len in SIZES {
        let v = value(len);
        let r = f.cas.put_artifact(&v, "raw").unwrap();
        assert_eq!(
            (r.digest, r.size, r.codec.as_str()),
            (Digest::of(&v), len as u64, "raw")
        );
        assert_eq!(r.is_inline(), len <= INLINE_MAX, "{len} bytes");
        assert_eq!(
            f.cas.contains(&r.digest).unwrap(),
            len > INLINE_MAX,
            "no blob for inline"
        );
        assert_eq!(f.cas.get_artifact(&r).unwrap(), v);
        let mut streamed = Vec::new();
        let mut reader = f.cas.reader(&r).unwrap();
        assert_eq!(reader.size(), len as u64);
        reader.read_to_end(&mut streamed).unwrap();
        assert_eq!(streamed, v);
    }
    assert_eq!(f.blob_files(), 2);
}

#[test]
fn writer_round_trips_in_any_piece_size() {
    let f = fixture();
    for len in SIZES {
        let v = value(len);
        for piece in [1, 1000, INLINE_MAX + 1, 1 << 20] {
            if len > 1 << 20 && piece < 1000 {
                continue; // ten million one-byte writes prove nothing more
            }
            let mut w = f.cas.writer().unwrap();
            assert!(w.is_empty());
            for chunk in v.chunks(piece) {
                w.write_all(chunk).unwrap();
            }
            w.flush().unwrap();
            assert_eq!(w.len(), len as u64);
            let r = w.finish("cbor").unwrap();
            assert_eq!(
                r,
                f.cas.put_artifact(&v, "cbor").unwrap(),
                "{len} bytes by {piece}"
            );
            assert_eq!(f.cas.get_artifact(&r).unwrap(), v);
        }
    }
    assert_eq!(
        f.blob_files(),
        2,
        "one blob per large value, however often written"
    );
    assert_eq!(f.scratch_files(), 0);
}

#[test]
fn dropped_writer_leaves_nothing() {
    let f = fixture();
    let mut w = f.cas.writer().unwrap();
    w.write_all(&value(INLINE_MAX * 3)).unwrap();
    assert_eq!(f.scratch_files(), 1);
    drop(w);
    assert_eq!(f.scratch_files(), 0);
    assert_eq!(f.blob_files(), 0);
}

#[test]
fn puts_are_deduplicated() {
    let f = fixture();
    let v = value(100_000);
    let key = Cas::blob_key(&Digest::of(&v));
    let d1 = f.cas.put(&v).unwrap();
    // Not written again: the same file (a deduplicated write only refreshes its time, for
    // garbage collection).
    let inode = |d| std::os::unix::fs::MetadataExt::ino(&fs::metadata(f.blob_path(d)).unwrap());
    let first = inode(&d1);
    let d2 = f.cas.put(&v).unwrap();
    assert_eq!(d1, d2);
    assert!(
        !f.cas.backend().put_if_absent(&key, &v).unwrap(),
        "already there"
    );
    assert_eq!(f.blob_files(), 1);
    assert_eq!(inode(&d1), first);
    f.cas.put_artifact(&v, "raw").unwrap();
    let mut w = f.cas.writer().unwrap();
    w.write_all(&v).unwrap();
    w.finish("raw").unwrap();
    assert_eq!(f.blob_files(), 1);
    assert_eq!(f.scratch_files(), 0);
    assert_eq!(f.cas.list_blobs().unwrap(), [d1]);
}

/// Flips one byte in the middle of a stored blob.
fn corrupt(path: &std::path::Path) {
    let mut bytes = fs::read(path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    fs::write(path, bytes).unwrap();
}

#[test]
fn corruption_is_detected() {
    let f = fixture();
    let v = value(INLINE_MAX * 10);
    let r = f.cas.put_artifact(&v, "raw").unwrap();
    corrupt(&f.blob_path(&r.digest));
    let key = Cas::blob_key(&r.digest);
    let is_ours = |e: &StoreError| match e {
        StoreError::Corrupt { digest, key: k } => *digest == r.digest && *k == key,
        _ => false,
    };

    let err = f.cas.get(&r.digest).unwrap_err();
    assert!(is_ours(&err), "{err}");
    assert!(err.is_corrupt());
    assert_eq!(
        err.to_string(),
        format!(
            "blob {} is corrupt: its content no longer matches its hash (key {key})",
            r.digest
        )
    );
    // The damaged file was moved aside: the blob is now missing, not silently deduplicated
    // against, and the next writer of the same bytes stores them afresh.
    let quarantined = fs::read_dir(f.root.join(crate::QUARANTINE_DIR))
        .unwrap()
        .count();
    assert_eq!(quarantined, 1);
    assert!(matches!(
        f.cas.get(&r.digest),
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(f.cas.put_artifact(&v, "raw").unwrap(), r);
    assert_eq!(f.cas.get_artifact(&r).unwrap(), v);

    // The streaming reader detects it too, and quarantines it the same way.
    corrupt(&f.blob_path(&r.digest));
    let mut reader = f.cas.reader(&r).unwrap();
    let err = reader.read_to_end(&mut Vec::new()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    assert!(is_ours(StoreError::from_io(&err).unwrap()), "{err}");
    assert!(err.to_string().contains(&r.digest.to_string()));
    // It stays failed.
    assert!(reader.read(&mut [0; 16]).is_err());
    assert!(!f.blob_path(&r.digest).exists(), "quarantined");
    assert_eq!(f.cas.put_artifact(&v, "raw").unwrap(), r);
    assert_eq!(f.cas.get_artifact(&r).unwrap(), v);

    // A truncated blob is corrupt too.
    let d = f.cas.put(b"some bytes").unwrap();
    fs::write(f.blob_path(&d), b"some").unwrap();
    assert!(matches!(f.cas.get(&d), Err(StoreError::Corrupt { digest, .. }) if digest == d));
}

#[test]
fn bad_inline_values_and_sizes_are_detected() {
    let f = fixture();
    let mut r = f.cas.put_artifact(b"small value", "raw").unwrap();
    r.inline = Some(b"small valuE".to_vec());
    let err = f.cas.get_artifact(&r).unwrap_err();
    assert!(
        matches!(err, StoreError::InlineCorrupt { digest } if digest == r.digest),
        "{err}"
    );
    assert!(err.is_corrupt() && err.to_string().contains(&r.digest.to_string()));
    let err = f
        .cas
        .reader(&r)
        .unwrap()
        .read_to_end(&mut Vec::new())
        .unwrap_err();
    let inner = StoreError::from_io(&err).unwrap();
    assert!(matches!(inner, StoreError::InlineCorrupt { digest } if *digest == r.digest));

    // The right bytes with the wrong recorded size: the reference is at fault.
    for (bytes, inline) in [(value(10), true), (value(INLINE_MAX + 10), false)] {
        let mut r = f.cas.put_artifact(&bytes, "raw").unwrap();
        assert_eq!(r.is_inline(), inline);
        r.size += 1;
        let err = f.cas.get_artifact(&r).unwrap_err();
        assert!(
            matches!(err, StoreError::SizeMismatch { expected, actual, .. }
                if expected == bytes.len() as u64 + 1 && actual == bytes.len() as u64),
            "{err}"
        );
        let err = f
            .cas
            .reader(&r)
            .unwrap()
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert!(matches!(
            StoreError::from_io(&err),
            Some(StoreError::SizeMismatch { .. })
        ));
    }
}

#[test]
fn missing_blobs_are_not_found() {
    let f = fixture();
    let d = Digest::of(b"never stored");
    assert!(!f.cas.contains(&d).unwrap());
    let is_missing = |e: StoreError| matches!(e, StoreError::NotFound { digest } if digest == d);
    assert!(is_missing(f.cas.get(&d).unwrap_err()));
    assert!(is_missing(f.cas.get_manifest(&d).unwrap_err()));
    let r = ArtifactRef {
        digest: d,
        size: 1 << 20,
        codec: "raw".into(),
        inline: None,
    };
    assert!(is_missing(f.cas.get_artifact(&r).unwrap_err()));
    assert!(is_missing(f.cas.reader(&r).unwrap_err()));
    let msg = f.cas.get(&d).unwrap_err().to_string();
    assert!(
        msg.contains(&d.to_string()) && msg.contains("not in the store"),
        "{msg}"
    );
}

#[test]
fn manifests_round_trip_as_blobs() {
    let f = fixture();
    let mut m = Manifest::new();
    m.artifacts
        .insert("x".into(), f.cas.put_artifact(b"1", "cbor").unwrap());
    m.artifacts.insert(
        "big".into(),
        f.cas.put_artifact(&value(50_000), "raw").unwrap(),
    );
    let d = f.cas.put_manifest(&m).unwrap();
    assert!(
        f.cas.contains(&d).unwrap(),
        "always a blob, even a tiny one"
    );
    assert_eq!(f.cas.get_manifest(&d).unwrap(), m);
    assert_eq!(
        f.cas.put_manifest(&m).unwrap(),
        d,
        "same manifest, same digest"
    );

    let empty = f.cas.put_manifest(&Manifest::default()).unwrap();
    assert_eq!(f.cas.get_manifest(&empty).unwrap(), Manifest::default());
}

#[test]
fn bad_manifests_are_reported() {
    let f = fixture();
    let d = f.cas.put(b"this is not CBOR \xff\xff").unwrap();
    let err = f.cas.get_manifest(&d).unwrap_err();
    assert!(
        matches!(err, StoreError::BadManifest { digest, .. } if digest == d),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with(&format!("manifest {d} cannot be read"))
    );

    // Valid CBOR of the wrong shape.
    let mut other = Vec::new();
    ciborium::into_writer(&vec![1, 2, 3], &mut other).unwrap();
    let d = f.cas.put(&other).unwrap();
    assert!(matches!(
        f.cas.get_manifest(&d),
        Err(StoreError::BadManifest { .. })
    ));

    // A corrupt manifest blob is reported as corrupt, before any decoding.
    let d = f.cas.put_manifest(&Manifest::new()).unwrap();
    corrupt(&f.blob_path(&d));
    assert!(matches!(
        f.cas.get_manifest(&d),
        Err(StoreError::Corrupt { .. })
    ));
}

#[test]
fn concurrent_puts_from_eight_threads() {
    let f = fixture();
    let shared = value(3 << 20);
    let barrier = Barrier::new(8);
    let digests: Vec<Vec<Digest>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8u8)
            .map(|t| {
                let (cas, shared, barrier) = (&f.cas, &shared, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    let mut out = vec![cas.put(shared).unwrap()];
                    for i in 0..10u8 {
                        let mut own = value(INLINE_MAX * 2);
                        own[0] = t;
                        own[1] = i;
                        out.push(cas.put(&own).unwrap());
                        let mut w = cas.writer().unwrap();
                        w.write_all(shared).unwrap();
                        out.push(w.finish("raw").unwrap().digest);
                    }
                    out
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let shared_digest = Digest::of(&shared);
    for (t, ds) in digests.iter().enumerate() {
        assert_eq!(ds[0], shared_digest, "thread {t}");
        for d in ds {
            f.cas.get(d).unwrap();
        }
    }
    assert_eq!(f.blob_files(), 1 + 8 * 10);
    assert_eq!(f.cas.get(&shared_digest).unwrap(), shared);
    assert_eq!(f.scratch_files(), 0);
}

#[test]
fn read_into_appends_pieces_and_verifies_at_the_end() {
    let f = fixture();
    let v = value(INLINE_MAX * 10 + 7);
    let r = f.cas.put_artifact(&v, "raw").unwrap();
    // Pieces of 1000 bytes: the last one is short, and is the one that checks the digest.
    let mut reader = f.cas.reader(&r).unwrap();
    let mut back = Vec::new();
    loop {
        let mut piece = Vec::new();
        let n = reader.read_into(&mut piece, 1000).unwrap();
        assert_eq!(n, piece.len());
        back.extend_from_slice(&piece);
        if n < 1000 {
            break;
        }
    }
    assert_eq!(back, v);
    assert_eq!(reader.read_into(&mut Vec::new(), 1000).unwrap(), 0, "done");
    // A size that is a multiple of the piece: the call after the last piece checks.
    let w = value(4000);
    let r4 = f.cas.put_artifact(&w, "raw").unwrap();
    let mut reader = f.cas.reader(&r4).unwrap();
    let mut all = Vec::new();
    while reader.read_into(&mut all, 1000).unwrap() > 0 {}
    assert_eq!(all, w);

    // A corrupt blob fails on the piece that reaches the end, and stays failed.
    corrupt(&f.blob_path(&r.digest));
    let mut reader = f.cas.reader(&r).unwrap();
    let mut sink = Vec::new();
    let err = reader.read_into(&mut sink, v.len() + 1).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    assert!(matches!(
        StoreError::from_io(&err),
        Some(StoreError::Corrupt { digest, .. }) if *digest == r.digest
    ));
    assert!(reader.read_into(&mut sink, 10).is_err());
    assert!(!f.blob_path(&r.digest).exists(), "quarantined");
}
