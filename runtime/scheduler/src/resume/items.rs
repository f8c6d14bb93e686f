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
    read_items_of(cas, digest, None)
}

/// Like [`read_items`], but with `only: Some(i)` only item `i` is decoded: every other is
/// checked and left empty (an empty codec and no bytes, which allocate nothing). For a step-run,
/// which makes only the item on its target's path.
pub(crate) fn read_items_of(
    cas: &Cas,
    digest: &Digest,
    only: Option<u32>,
) -> Result<Vec<Value>, String> {
    let bytes = cas.get(digest).map_err(|e| e.to_string())?;
    let bad =
        |e: &dyn std::fmt::Display| format!("blob {digest} is not a list of foreach items ({e})");
    // ciborium decodes only `DeserializeOwned` types: the index rides along in a thread-local,
    // set for this one call.
    ONLY.set(only);
    let items = ciborium::from_reader::<Items, _>(bytes.as_slice());
    ONLY.set(None);
    let items = items.map_err(|e| bad(&e))?.0;
    match only {
        Some(i) if i as usize >= items.len() => Err(bad(&format!("it has no item {i}"))),
        _ => Ok(items),
    }
}

thread_local! {
    /// The one item [`Items`] decodes, if only one.
    static ONLY: std::cell::Cell<Option<u32>> = const { std::cell::Cell::new(None) };
}

/// The list, only item [`ONLY`] decoded when it is set.
struct Items(Vec<Value>);

impl<'de> serde::Deserialize<'de> for Items {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Items, D::Error> {
        d.deserialize_seq(ItemsVisitor { only: ONLY.get() })
            .map(Items)
    }
}

struct ItemsVisitor {
    only: Option<u32>,
}

impl<'de> serde::de::Visitor<'de> for ItemsVisitor {
    type Value = Vec<Value>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list of foreach items")
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Value>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 20));
        loop {
            let wanted = self.only.is_none_or(|i| i as usize == items.len());
            let item = if wanted {
                seq.next_element::<Item>()?.map(|i| i.0)
            } else {
                seq.next_element::<serde::de::IgnoredAny>()?.map(|_| Value {
                    codec: String::new(),
                    bytes: Vec::new(),
                })
            };
            match item {
                Some(v) => items.push(v),
                None => return Ok(items),
            }
        }
    }
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
