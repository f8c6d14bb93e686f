//! Small manifests and logs kept in the records (store layout 2).
//!
//! A task's manifest and an attempt's logs of at most [`RECORD_INLINE_MAX`] bytes are not written
//! as blobs: their bytes travel in [`Event::TaskManifest`](crate::Event::TaskManifest) and
//! [`Event::AttemptLogs`](crate::Event::AttemptLogs), sent just before the event that names them
//! by digest, so a trivial task creates no file of its own and a batch that records a task's end
//! always holds its manifest. The records still name each by digest, and every read checks the
//! bytes against it. Records of older runs (layout 1) hold digests only: the bytes are blobs, and
//! [`TaskRecord::read_manifest`] and [`AttemptRecord::read_log`] read them there — one place for
//! every backend.

use wflow_core::Digest;
use wflow_store::{Cas, Manifest, StoreError};

use crate::{AttemptRecord, CacheEntry, TaskRecord};

/// Manifests and logs of at most this many bytes are kept in the records instead of as blobs.
pub const RECORD_INLINE_MAX: usize = 16 * 1024;

impl TaskRecord {
    /// The task's manifest, from the records when they hold its bytes, else from the store;
    /// `None` when no manifest is recorded (a running or failed task). Verified either way.
    pub fn read_manifest(&self, cas: &Cas) -> Option<wflow_store::Result<Manifest>> {
        let digest = self.manifest?;
        Some(match &self.manifest_bytes {
            Some(bytes) => verified(&digest, bytes).and_then(|b| Manifest::from_cbor(&digest, b)),
            None => cas.get_manifest(&digest),
        })
    }
}

impl CacheEntry {
    /// The cached task's manifest, from the entry when it holds its bytes, else from the store.
    /// Verified either way.
    pub fn read_manifest(&self, cas: &Cas) -> wflow_store::Result<Manifest> {
        match &self.manifest_bytes {
            Some(bytes) => {
                verified(&self.manifest, bytes).and_then(|b| Manifest::from_cbor(&self.manifest, b))
            }
            None => cas.get_manifest(&self.manifest),
        }
    }
}

impl AttemptRecord {
    /// One of the attempt's logs (`stderr` or stdout), from the records when they hold it, else
    /// from the store; `None` when it wrote nothing there (or has not ended). Verified either way.
    pub fn read_log(&self, cas: &Cas, stderr: bool) -> Option<wflow_store::Result<Vec<u8>>> {
        let (digest, bytes) = if stderr {
            (self.stderr?, &self.stderr_bytes)
        } else {
            (self.stdout?, &self.stdout_bytes)
        };
        Some(match bytes {
            Some(bytes) => verified(&digest, bytes).map(<[u8]>::to_vec),
            None => cas.get(&digest),
        })
    }
}

fn verified<'a>(digest: &Digest, bytes: &'a [u8]) -> wflow_store::Result<&'a [u8]> {
    if Digest::of(bytes) == *digest {
        Ok(bytes)
    } else {
        Err(StoreError::InlineCorrupt { digest: *digest })
    }
}

/// Serde for bytes as a base64 string (JSON: the S3 records and the service's protocol).
pub(crate) mod base64_bytes {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD
            .decode(text.as_bytes())
            .map_err(|e| serde::de::Error::custom(format!("not base64: {e}")))
    }

    /// The same for `Option<Vec<u8>>` (`null` or absent: `None`).
    pub mod opt {
        use super::*;

        pub fn serialize<S: Serializer>(bytes: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
            match bytes {
                Some(b) => super::serialize(b, s),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
            match Option::<String>::deserialize(d)? {
                Some(text) => STANDARD
                    .decode(text.as_bytes())
                    .map(Some)
                    .map_err(|e| serde::de::Error::custom(format!("not base64: {e}"))),
                None => Ok(None),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::Status;

    fn task(manifest: Option<Digest>, bytes: Option<Vec<u8>>) -> TaskRecord {
        TaskRecord {
            run_id: "r".into(),
            task_id: 1,
            step: "s".into(),
            foreach_path: vec![],
            inputs: vec![],
            status: Status::Succeeded,
            started_ms: 0,
            finished_ms: Some(1),
            manifest,
            manifest_bytes: bytes,
            attempts: 1,
            origin_run: None,
            origin_task: None,
            foreach_items: None,
            component: None,
            cached: false,
            caught: false,
        }
    }

    #[test]
    fn manifests_read_from_the_records_or_the_store_and_are_verified() {
        let dir = tempfile::tempdir().unwrap();
        let cas = Cas::new(Arc::new(wflow_store::LocalDisk::open(dir.path()).unwrap()));
        let mut m = Manifest::new();
        m.artifacts
            .insert("x".into(), cas.put_artifact(b"1", "raw").unwrap());
        let bytes = m.to_cbor().unwrap();
        let digest = Digest::of(&bytes);
        // In the records: no blob needed.
        let inline = task(Some(digest), Some(bytes.clone()));
        assert_eq!(inline.read_manifest(&cas).unwrap().unwrap(), m);
        assert!(!cas.contains(&digest).unwrap());
        // A layout-1 record: the blob.
        let old = task(Some(digest), None);
        assert!(old.read_manifest(&cas).unwrap().unwrap_err().is_not_found());
        cas.put(&bytes).unwrap();
        assert_eq!(old.read_manifest(&cas).unwrap().unwrap(), m);
        // Bytes that do not match the digest are refused.
        let mut bad = bytes.clone();
        bad[0] ^= 1;
        let err = task(Some(digest), Some(bad)).read_manifest(&cas).unwrap();
        assert!(err.unwrap_err().is_corrupt());
        assert!(task(None, None).read_manifest(&cas).is_none());
    }

    #[test]
    fn bytes_are_base64_in_json() {
        #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
        struct T {
            #[serde(with = "base64_bytes")]
            b: Vec<u8>,
            #[serde(default, with = "base64_bytes::opt")]
            o: Option<Vec<u8>>,
        }
        let t = T {
            b: b"hi\0".to_vec(),
            o: None,
        };
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, r#"{"b":"aGkA","o":null}"#);
        assert_eq!(serde_json::from_str::<T>(&json).unwrap(), t);
        assert_eq!(
            serde_json::from_str::<T>(r#"{"b":"aGkA"}"#).unwrap(),
            t,
            "absent is None"
        );
        let err = serde_json::from_str::<T>(r#"{"b":"**"}"#).unwrap_err();
        assert!(err.to_string().contains("not base64"), "{err}");
    }
}
