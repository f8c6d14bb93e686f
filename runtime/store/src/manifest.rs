//! [`Manifest`] and [`ArtifactRef`]: what a task produced and where the bytes live.
//!
//! A manifest is encoded as CBOR (a map with the keys `version` and `artifacts`) and stored as a
//! blob, so its digest names a task's whole output. An artifact reference records the digest,
//! size and codec of a value; values of at most [`INLINE_MAX`] bytes are kept inside the reference
//! (a CBOR byte string) instead of costing a blob, a file and a lookup each.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use wflow_core::Digest;

use crate::{Result, StoreError};

/// Values of at most this many bytes are stored inline in their manifest.
pub const INLINE_MAX: usize = 4096;

/// The manifest version this crate writes and reads.
pub const MANIFEST_VERSION: u32 = 1;

/// Where an artifact's bytes live.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactRef {
    /// BLAKE3 of the (uncompressed) bytes.
    pub digest: Digest,
    /// Length of the bytes.
    pub size: u64,
    /// How the bytes encode the value: "cbor", "raw", ...
    pub codec: String,
    /// Small values (<= INLINE_MAX bytes) live inside the manifest instead of a blob of their own.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "inline_bytes"
    )]
    pub inline: Option<Vec<u8>>,
}

impl ArtifactRef {
    /// True when the value is stored in the reference itself rather than as a blob.
    pub fn is_inline(&self) -> bool {
        self.inline.is_some()
    }
}

/// Per task: artifact name → where it lives. Encoded as CBOR (ciborium), stored as a blob.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The format version, [`MANIFEST_VERSION`].
    pub version: u32,
    /// The task's artifacts by name.
    pub artifacts: BTreeMap<String, ArtifactRef>,
}

impl Default for Manifest {
    /// An empty manifest of the current version (not version 0).
    fn default() -> Manifest {
        Manifest {
            version: MANIFEST_VERSION,
            artifacts: BTreeMap::new(),
        }
    }
}

impl Manifest {
    /// An empty manifest of the current version.
    pub fn new() -> Manifest {
        Manifest::default()
    }

    /// The CBOR encoding, as stored. Fails for a version other than [`MANIFEST_VERSION`].
    pub fn to_cbor(&self) -> Result<Vec<u8>> {
        if self.version != MANIFEST_VERSION {
            return Err(StoreError::InvalidManifest {
                reason: format!(
                    "version {} is not supported (this wflow writes version {MANIFEST_VERSION})",
                    self.version
                ),
            });
        }
        let mut out = Vec::with_capacity(64 + 128 * self.artifacts.len());
        ciborium::into_writer(self, &mut out).map_err(|e| StoreError::InvalidManifest {
            reason: e.to_string(),
        })?;
        Ok(out)
    }

    /// Decodes a manifest stored with digest `digest`, checking its version and that nothing
    /// follows it.
    pub fn from_cbor(digest: &Digest, mut bytes: &[u8]) -> Result<Manifest> {
        let bad = |reason: String| StoreError::BadManifest {
            digest: *digest,
            reason,
        };
        let manifest: Manifest = ciborium::from_reader(&mut bytes)
            .map_err(|e| bad(format!("it is not a valid CBOR manifest ({e})")))?;
        if !bytes.is_empty() {
            return Err(bad(format!(
                "{} stray bytes follow the manifest",
                bytes.len()
            )));
        }
        if manifest.version != MANIFEST_VERSION {
            return Err(bad(format!(
                "version {} is not supported (this wflow reads version {MANIFEST_VERSION})",
                manifest.version
            )));
        }
        Ok(manifest)
    }
}

/// Serde helper for `Option<Vec<u8>>` as a byte string (CBOR major type 2) instead of a list of
/// numbers: half the size and far faster to decode. Also accepts a list of numbers, which is what
/// formats without byte strings (JSON) produce.
mod inline_bytes {
    use std::fmt;

    use serde::de::{self, Deserializer, SeqAccess, Visitor};
    use serde::{Serialize, Serializer};

    pub fn serialize<S: Serializer>(value: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(bytes) => s.serialize_some(&Bytes(bytes)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        d.deserialize_option(OptionVisitor)
    }

    struct Bytes<'a>(&'a [u8]);

    impl Serialize for Bytes<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(self.0)
        }
    }

    struct OptionVisitor;

    impl<'de> Visitor<'de> for OptionVisitor {
        type Value = Option<Vec<u8>>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("optional bytes")
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_byte_buf(BytesVisitor).map(Some)
        }
    }

    struct BytesVisitor;

    impl<'de> Visitor<'de> for BytesVisitor {
        type Value = Vec<u8>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("bytes")
        }
        fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }
        fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(v)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(super::INLINE_MAX));
            while let Some(b) = seq.next_element::<u8>()? {
                out.push(b);
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        let mut m = Manifest::new();
        let small = b"hello".to_vec();
        let r = ArtifactRef {
            digest: Digest::of(&small),
            size: 5,
            codec: "raw".into(),
            inline: Some(small),
        };
        m.artifacts.insert("greeting".into(), r);
        let big = ArtifactRef {
            digest: Digest::of(b"big"),
            size: 1 << 20,
            codec: "cbor".into(),
            inline: None,
        };
        m.artifacts.insert("data".into(), big);
        m
    }

    #[test]
    fn default_is_current_version() {
        assert_eq!(Manifest::default().version, MANIFEST_VERSION);
        assert!(Manifest::new().artifacts.is_empty());
    }

    #[test]
    fn cbor_round_trip() {
        let m = sample();
        let bytes = m.to_cbor().unwrap();
        assert_eq!(Manifest::from_cbor(&Digest::of(&bytes), &bytes).unwrap(), m);
        assert!(m.artifacts["greeting"].is_inline() && !m.artifacts["data"].is_inline());
    }

    #[test]
    fn inline_values_are_byte_strings() {
        let value = vec![0xAB; INLINE_MAX];
        let r = ArtifactRef {
            digest: Digest::of(&value),
            size: INLINE_MAX as u64,
            codec: "raw".into(),
            inline: Some(value),
        };
        let mut bytes = Vec::new();
        ciborium::into_writer(&r, &mut bytes).unwrap();
        // A list of numbers >= 24 would take two bytes per element.
        assert!(bytes.len() < INLINE_MAX + 200, "{} bytes", bytes.len());
        let back: ArtifactRef = ciborium::from_reader(&bytes[..]).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn json_round_trip_and_absent_inline() {
        let m = sample();
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(serde_json::from_str::<Manifest>(&json).unwrap(), m);
        // `inline` is left out when absent, and absent means None.
        let r: ArtifactRef = serde_json::from_str(&format!(
            r#"{{"digest":"{}","size":3,"codec":"raw"}}"#,
            Digest::of(b"abc")
        ))
        .unwrap();
        assert_eq!(r.inline, None);
        assert!(!serde_json::to_string(&r).unwrap().contains("inline"));
    }

    #[test]
    fn bad_bytes_and_versions_are_rejected() {
        let d = Digest::of(b"whatever");
        for junk in [&b""[..], b"\xff\x00garbage", b"\x01"] {
            let err = Manifest::from_cbor(&d, junk).unwrap_err();
            assert!(
                matches!(err, StoreError::BadManifest { digest, .. } if digest == d),
                "{err}"
            );
            assert!(
                err.to_string()
                    .starts_with(&format!("manifest {d} cannot be read: "))
            );
        }
        let mut bytes = sample().to_cbor().unwrap();
        bytes.push(0);
        let err = Manifest::from_cbor(&d, &bytes).unwrap_err();
        assert!(err.to_string().contains("1 stray bytes"), "{err}");

        let future = Manifest {
            version: 2,
            ..Manifest::new()
        };
        assert!(matches!(
            future.to_cbor(),
            Err(StoreError::InvalidManifest { .. })
        ));
        let mut encoded = Vec::new();
        ciborium::into_writer(&future, &mut encoded).unwrap();
        let err = Manifest::from_cbor(&d, &encoded).unwrap_err();
        assert!(
            err.to_string().contains("version 2 is not supported"),
            "{err}"
        );
    }
}
