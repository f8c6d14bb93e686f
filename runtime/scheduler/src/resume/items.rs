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

/// Reads the items [`record_items`] kept.
pub fn read_items(cas: &Cas, digest: &Digest) -> Result<Vec<Value>, String> {
    let bytes = cas.get(digest).map_err(|e| e.to_string())?;
    let value: ciborium::Value =
        ciborium::from_reader(bytes.as_slice()).map_err(|e| e.to_string())?;
    let bad = || format!("blob {digest} is not a list of foreach items");
    let ciborium::Value::Array(list) = value else {
        return Err(bad());
    };
    list.into_iter()
        .map(|item| match item {
            ciborium::Value::Array(pair) => match <[ciborium::Value; 2]>::try_from(pair) {
                Ok([ciborium::Value::Text(codec), ciborium::Value::Bytes(bytes)]) => {
                    Ok(Value { codec, bytes })
                }
                _ => Err(bad()),
            },
            _ => Err(bad()),
        })
        .collect()
}
