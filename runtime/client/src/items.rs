//! The foreach item each task ran on, read back from the items its split task declared: one
//! CBOR list of `[codec, bytes]` pairs in the store (the list `wflow resume` fans out from
//! again), whose digest is in the split task's record.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use wflow_graph::SplitKind;

use crate::preview::array_items;
use crate::{ClientError, Result, Task};

/// A foreach item: its codec and encoded bytes, as the split step declared it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// `cbor`, `raw`, …
    pub codec: String,
    /// The encoded value.
    pub bytes: Vec<u8>,
}

/// The items that `tasks` (tasks of one step of one run) ran on, by task id. Each split task's
/// list is read once, and only the items asked for are decoded, so a page of a 100,000-item
/// foreach costs one read of its list. Tasks outside a foreach, or whose split recorded no items
/// (a run of an older wflow), are absent. An error: a run, plan or list that cannot be read.
pub fn items_of(tasks: &[Task<'_>]) -> Result<BTreeMap<u64, Item>> {
    let mut out = BTreeMap::new();
    let Some(first) = tasks.iter().find(|t| !t.record().foreach_path.is_empty()) else {
        return Ok(out);
    };
    let client = first.client();
    let run_id = &first.record().run_id;
    let run = client.run(&format!("{}/{run_id}", first.flow()))?;
    let plan = run.plan()?;
    if !plan.spec().steps.iter().any(|s| s.name == first.step()) {
        return Ok(out);
    }
    let Some(split) = plan
        .stack(first.step())
        .iter()
        .rev()
        .find(|f| f.kind == SplitKind::Foreach)
    else {
        return Ok(out);
    };
    // The split task of each enclosing item path (the newest that recorded its items).
    let mut lists = HashMap::new();
    for t in client.metadata().tasks_of_step(run_id, &split.split)? {
        if let Some(d) = t.foreach_items {
            lists.insert(t.foreach_path.clone(), (t.task_id, d));
        }
    }
    // The items wanted of each list: index → task ids.
    let mut wanted: HashMap<&[u32], BTreeMap<u64, Vec<u64>>> = HashMap::new();
    for t in tasks {
        if let Some((last, outer)) = t.record().foreach_path.split_last() {
            wanted
                .entry(outer)
                .or_default()
                .entry(u64::from(*last))
                .or_default()
                .push(t.id());
        }
    }
    for (outer, want) in wanted {
        let Some((split_task, digest)) = lists.get(outer) else {
            continue;
        };
        let err = |reason: String| ClientError::Items {
            task: format!("{}/{run_id}/{}/{split_task}", first.flow(), split.split),
            digest: *digest,
            reason,
        };
        let bytes = client.cas().get(digest).map_err(|e| err(e.to_string()))?;
        let keys: BTreeSet<u64> = want.keys().copied().collect();
        for (i, item) in array_items(&bytes, |i| keys.contains(&i)).map_err(err)? {
            let item = pair(item).map_err(|e| err(format!("item {i}: {e}")))?;
            for id in &want[&i] {
                out.insert(*id, item.clone());
            }
        }
    }
    Ok(out)
}

/// One `[codec, bytes]` pair of an items list.
fn pair(bytes: &[u8]) -> std::result::Result<Item, String> {
    use ciborium::Value as V;
    let v: V = ciborium::from_reader(bytes).map_err(|e| e.to_string())?;
    match v {
        V::Array(p) => match <[V; 2]>::try_from(p) {
            Ok([V::Text(codec), V::Bytes(bytes)]) => Ok(Item { codec, bytes }),
            _ => Err("not a [codec, bytes] pair".into()),
        },
        _ => Err("not a [codec, bytes] pair".into()),
    }
}
