//! `Cas` over a backend written outside this crate: an in-memory map, as a test double or an
//! object-store backend would be. Checks that the trait can be implemented with the public API
//! alone, that `Cas` relies only on the trait (including its provided `get_with`), and how a
//! writer fails when its scratch directory is unusable.

use std::collections::BTreeMap;
use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use wflow_store::{
    BlobStore, Cas, INLINE_MAX, Manifest, Result, StoreError, validate_key, validate_prefix,
};

struct Memory {
    objects: Mutex<BTreeMap<String, Vec<u8>>>,
    scratch: PathBuf,
}

impl BlobStore for Memory {
    fn put_if_absent(&self, key: &str, bytes: &[u8]) -> Result<bool> {
        validate_key(key)?;
        let mut objects = self.objects.lock().unwrap();
        if objects.contains_key(key) {
            return Ok(false);
        }
        objects.insert(key.to_string(), bytes.to_vec());
        Ok(true)
    }

    fn put_file_if_absent(&self, key: &str, file: &Path) -> Result<bool> {
        let bytes = std::fs::read(file).map_err(|e| StoreError::io(file.display(), e))?;
        std::fs::remove_file(file).map_err(|e| StoreError::io(file.display(), e))?;
        self.put_if_absent(key, &bytes)
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        validate_key(key)?;
        Ok(self.objects.lock().unwrap().get(key).cloned())
    }

    fn open(&self, key: &str) -> Result<Option<Box<dyn Read + Send>>> {
        Ok(self
            .get(key)?
            .map(|b| Box::new(Cursor::new(b)) as Box<dyn Read + Send>))
    }

    fn exists(&self, key: &str) -> Result<bool> {
        validate_key(key)?;
        Ok(self.objects.lock().unwrap().contains_key(key))
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>> {
        validate_prefix(prefix)?;
        let objects = self.objects.lock().unwrap();
        Ok(objects
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect())
    }

    fn scratch_dir(&self) -> &Path {
        &self.scratch
    }

    fn summary(&self) -> String {
        "memory".into()
    }
}

fn memory(scratch: &Path) -> (Arc<Memory>, Cas) {
    let mem = Arc::new(Memory {
        objects: Mutex::default(),
        scratch: scratch.to_path_buf(),
    });
    let cas = Cas::new(mem.clone());
    (mem, cas)
}

#[test]
fn cas_works_over_any_backend() {
    let dir = tempfile::tempdir().unwrap();
    let (mem, cas) = memory(dir.path());
    assert_eq!(format!("{cas:?}"), r#"Cas { backend: "memory" }"#);

    let big: Vec<u8> = (0..INLINE_MAX * 3).map(|i| i as u8).collect();
    let r = cas.put_artifact(&big, "raw").unwrap();
    assert_eq!(cas.get_artifact(&r).unwrap(), big);

    let mut w = cas.writer().unwrap();
    w.write_all(&big).unwrap();
    w.write_all(b"more").unwrap();
    let streamed = w.finish("raw").unwrap();
    let mut back = Vec::new();
    cas.reader(&streamed)
        .unwrap()
        .read_to_end(&mut back)
        .unwrap();
    assert_eq!(back.len(), big.len() + 4);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "scratch file handed over"
    );

    let mut m = Manifest::new();
    m.artifacts.insert("big".into(), r.clone());
    let d = cas.put_manifest(&m).unwrap();
    assert_eq!(cas.get_manifest(&d).unwrap(), m);
    assert_eq!(cas.list_blobs().unwrap().len(), 3);

    // Corruption behind the store's back is caught through the provided `get_with` too.
    let key = Cas::blob_key(&r.digest);
    mem.objects.lock().unwrap().get_mut(&key).unwrap()[7] ^= 0xff;
    let err = cas.get_artifact(&r).unwrap_err();
    assert!(
        matches!(err, StoreError::Corrupt { digest, .. } if digest == r.digest),
        "{err}"
    );
}

#[test]
fn writer_without_a_usable_scratch_dir_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir");
    let (_mem, cas) = memory(&missing);

    // Small values never touch the scratch directory.
    let mut w = cas.writer().unwrap();
    w.write_all(b"small").unwrap();
    assert!(w.finish("raw").unwrap().inline.is_some());

    let mut w = cas.writer().unwrap();
    w.write_all(&[1; INLINE_MAX]).unwrap();
    let err = w.write_all(&[2; 10]).unwrap_err();
    assert!(err.to_string().contains("no-such-dir"), "{err}");
    assert!(w.write_all(b"x").is_err(), "a failed writer stays failed");
    let err = w.finish("raw").unwrap_err();
    assert!(
        err.to_string()
            .contains("an earlier write to this value failed"),
        "{err}"
    );
    assert!(cas.list_blobs().unwrap().is_empty());
}
