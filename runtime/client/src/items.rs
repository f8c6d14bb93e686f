//! The foreach item each task ran on, read back from the items its split task declared: one
//! CBOR list of `[codec, bytes]` pairs in the store (the list `wflow resume` fans out from
//! again), whose digest is in the split task's record.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use wflow_core::Digest;

use wflow_graph::SplitKind;

use crate::preview::array_items;
use crate::{Client, ClientError, Result, Task};

/// A foreach item: its codec and encoded bytes, as the split step declared it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// `cbor`, `raw`, …
    pub codec: String,
    /// The encoded value.
    pub bytes: Vec<u8>,
}

/// The items that `tasks` (tasks of one step of one run) ran on, by task id. Each split task's
/// list is read and indexed once per process (see [`list`]), and only the items asked for are
/// decoded, so a page of a 100,000-item foreach costs a lookup of 100 items. Tasks outside a foreach, or whose split recorded no items
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
        let list = list(client, digest).map_err(err)?;
        for (i, ids) in want {
            let Some(item) = list.get(i) else {
                continue;
            };
            let item = pair(item).map_err(|e| err(format!("item {i}: {e}")))?;
            for id in ids {
                out.insert(id, item.clone());
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

/// An items list with where each item starts: any item found without walking the list again.
struct List {
    bytes: Vec<u8>,
    /// Item `i` is `bytes[starts[i]..starts[i + 1]]`.
    starts: Vec<usize>,
}

impl List {
    fn get(&self, i: u64) -> Option<&[u8]> {
        let i = usize::try_from(i).ok()?;
        Some(&self.bytes[*self.starts.get(i)?..*self.starts.get(i + 1)?])
    }
}

/// How many bytes of indexed lists a process keeps (the newest used first). Lists are
/// content-addressed, so a kept one is never stale; a list larger than this is indexed for the
/// one call.
const KEPT_BYTES: usize = 64 << 20;

static KEPT: Mutex<VecDeque<(Digest, Arc<List>)>> = Mutex::new(VecDeque::new());

/// The items list `digest`, read from the store and indexed, or kept from an earlier call.
fn list(client: &Client, digest: &Digest) -> std::result::Result<Arc<List>, String> {
    let mut kept = KEPT.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(at) = kept.iter().position(|(d, _)| d == digest) {
        let entry = kept.remove(at).expect("found");
        let list = entry.1.clone();
        kept.push_front(entry);
        return Ok(list);
    }
    drop(kept);
    let bytes = client.cas().get(digest).map_err(|e| e.to_string())?;
    let mut starts: Vec<usize> = Vec::new();
    let mut end = 0;
    for (_, item) in array_items(&bytes, |_| true)? {
        let start = item.as_ptr() as usize - bytes.as_ptr() as usize;
        starts.push(start);
        end = start + item.len();
    }
    starts.push(end);
    let list = Arc::new(List { bytes, starts });
    let mut kept = KEPT.lock().unwrap_or_else(|p| p.into_inner());
    kept.push_front((*digest, list.clone()));
    let mut total = 0;
    kept.retain(|(_, l)| {
        total += l.bytes.len() + 8 * l.starts.len();
        total <= KEPT_BYTES
    });
    Ok(list)
}
