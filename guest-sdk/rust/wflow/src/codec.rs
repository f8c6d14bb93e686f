//! Codecs: how artifact values and foreach items are turned into bytes.
//!
//! The default codec is [`CBOR`]: self-describing CBOR (RFC 8949) written with serde, readable from
//! every SDK and printable as JSON by the host. [`RAW`] stores bytes as they are; see
//! [`RawArtifact`](crate::RawArtifact).

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Error, ErrorKind, Result};

/// Name of the CBOR codec, the default.
pub const CBOR: &str = "cbor";

/// Name of the raw codec: bytes as they are.
pub const RAW: &str = "raw";

/// Encodes a value as CBOR.
///
/// ```
/// let bytes = wflow::encode(&vec![1, 2, 3]).unwrap();
/// let back: Vec<i32> = wflow::decode(&bytes).unwrap();
/// assert_eq!(back, [1, 2, 3]);
/// ```
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    ciborium::into_writer(value, &mut bytes)?;
    Ok(bytes)
}

/// Decodes a CBOR value.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    Ok(ciborium::from_reader(bytes)?)
}

/// An encoded value: bytes and the name of the codec that reads them (the WIT `value` record).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Value {
    /// The codec name, [`CBOR`] or [`RAW`].
    pub codec: String,
    /// The encoded bytes.
    pub bytes: Vec<u8>,
}

impl Value {
    /// Encodes `value` with the CBOR codec.
    pub fn cbor<T: Serialize + ?Sized>(value: &T) -> Result<Value> {
        Ok(Value {
            codec: CBOR.to_string(),
            bytes: encode(value)?,
        })
    }

    /// Wraps bytes with the raw codec.
    pub fn raw(bytes: Vec<u8>) -> Value {
        Value {
            codec: RAW.to_string(),
            bytes,
        }
    }

    /// Decodes a CBOR value; an error if the codec is not [`CBOR`].
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T> {
        if self.codec != CBOR {
            return Err(Error::new(
                ErrorKind::Codec,
                format_args!("value has codec `{}`, expected `{CBOR}`", self.codec),
            ));
        }
        decode(&self.bytes)
    }
}

/// Bytes stored as a CBOR byte string, the way the Python SDK stores `bytes` and the JavaScript SDK
/// a `Uint8Array` (a plain `Vec<u8>` is a CBOR array of integers with serde).
///
/// ```
/// let b = wflow::Bytes(vec![0, 1, 255]);
/// let cbor = wflow::encode(&b).unwrap();
/// assert_eq!(cbor, [0x43, 0, 1, 255]);
/// assert_eq!(wflow::decode::<wflow::Bytes>(&cbor).unwrap(), b);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Bytes(pub Vec<u8>);

impl Serialize for Bytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Bytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Bytes, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Bytes;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a byte string")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> std::result::Result<Bytes, E> {
                Ok(Bytes(v.to_vec()))
            }
            fn visit_byte_buf<E: serde::de::Error>(
                self,
                v: Vec<u8>,
            ) -> std::result::Result<Bytes, E> {
                Ok(Bytes(v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Bytes, A::Error> {
                let mut out = Vec::new();
                while let Some(b) = seq.next_element::<u8>()? {
                    out.push(b);
                }
                Ok(Bytes(out))
            }
        }
        d.deserialize_byte_buf(Visit)
    }
}
