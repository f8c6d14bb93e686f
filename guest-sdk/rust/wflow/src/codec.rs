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
