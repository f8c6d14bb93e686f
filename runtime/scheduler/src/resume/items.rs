//! A foreach split's items, kept in the store so a resumed run fans out without the split.

use wflow_core::Digest;
use wflow_engine::Value;
use wflow_metadata::{Event, Recorder};
use wflow_store::Cas;

/// Keeps a foreach split's items in the store and records their digest on the task, so a resumed
/// run can fan out again without running the split. Best effort: a failure only means a later
/// resume runs the split again.
pub(crate) fn record_items(
    cas: &Cas,
    recorder: &Recorder,
    run_id: &str,
    task_id: u64,
    items: Option<&[Value]>,
) -> Option<Digest> {
    let items = items?;
    let list = ciborium::Value::Array(
        items
            .iter()
            .map(|v| {
                ciborium::Value::Array(vec![
                    v.codec.as_str().into(),
                    ciborium::Value::Bytes(v.bytes.clone()),
                ])
            })
            .collect(),
    );
    let mut bytes = Vec::new();
    if ciborium::into_writer(&list, &mut bytes).is_err() {
        return None;
    }
    let digest = cas.put(&bytes).ok()?;
    recorder.send(Event::ForeachItems {
        run_id: run_id.to_string(),
        task_id,
        items: digest,
    });
    Some(digest)
}

/// Reads the items [`record_items`] kept. Decoded straight into values (a million-item list
/// through a generic CBOR tree cost half a second and a few hundred megabytes).
pub fn read_items(cas: &Cas, digest: &Digest) -> Result<Vec<Value>, String> {
    let bytes = cas.get(digest).map_err(|e| e.to_string())?;
    let items: Vec<Item> = ciborium::from_reader(bytes.as_slice())
        .map_err(|e| format!("blob {digest} is not a list of foreach items ({e})"))?;
    Ok(items.into_iter().map(|i| i.0).collect())
}

/// One item as stored: `[codec, bytes]`.
struct Item(Value);

impl<'de> serde::Deserialize<'de> for Item {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Item, D::Error> {
        let (codec, Bytes(bytes)) = <(String, Bytes)>::deserialize(d)?;
        Ok(Item(Value { codec, bytes }))
    }
}

/// A CBOR byte string.
struct Bytes(Vec<u8>);

impl<'de> serde::Deserialize<'de> for Bytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
        struct Visit;
        impl serde::de::Visitor<'_> for Visit {
            type Value = Bytes;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a byte string")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Bytes, E> {
                Ok(Bytes(v.to_vec()))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Bytes, E> {
                Ok(Bytes(v))
            }
        }
        d.deserialize_bytes(Visit)
    }
}
