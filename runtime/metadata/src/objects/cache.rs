//! The task cache of object records: the entries of the tasks of pure steps, one object per
//! cache scope (component and step) per batch of records, and the lookup over them.
//!
//! ```text
//! records-v1/cache/<scope>/<ms>-<writer>-<seq>
//! ```
//!
//! `<scope>` is the [`CacheKey`]'s scope digest in hex; the rest is the batch's key, as for
//! `tasks/` (so keys sort by time). The object is JSON, `{"v": 1, "entries": [[item, entry],
//! …]}`: per task, in the order they ended, its foreach item digest (the key's `item`) and its
//! [`CacheEntry`] — what it read and put, its manifest (its bytes too when the records keep
//! them) and its foreach items — so a lookup reads nothing of the task's run but that the run
//! still exists (an entry whose run's records were removed is not used). A 1,000-item foreach
//! adds one object per batch, not one per task.
//!
//! A lookup reads a scope's objects once per handle (every task of one step of one code shares
//! the scope; entries written later by other runs are not seen by this handle), in parallel.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use wflow_core::{CacheKey, Digest, TaskReads};

use super::{ObjectMetadata, RECORDS_PREFIX, RunState};
use crate::{CacheEntry, Result, Status};

/// One object as stored.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredEntries {
    v: u32,
    entries: Vec<(Digest, CacheEntry)>,
}

/// Item → its entries, newest first, for one scope.
pub(super) type Listing = HashMap<Digest, Vec<CacheEntry>>;

/// The entries of one batch of records, grouped by scope.
#[derive(Default)]
pub(super) struct Pending(BTreeMap<Digest, Vec<(Digest, CacheEntry)>>);

impl Pending {
    /// Adds task `task_id`'s entry, if it succeeded with a manifest (the scheduler sends its
    /// reads after its end).
    pub(super) fn add(
        &mut self,
        state: &RunState,
        task_id: u64,
        key: &CacheKey,
        reads: &TaskReads,
    ) {
        let Some(task) = state.tasks.get(&task_id) else {
            return;
        };
        let Some(manifest) = task.manifest.filter(|_| task.status == Status::Succeeded) else {
            return;
        };
        self.0.entry(key.scope).or_default().push((
            key.item,
            CacheEntry {
                run_id: task.run_id.clone(),
                task_id,
                reads: reads.clone(),
                manifest,
                manifest_bytes: task.manifest_bytes.clone(),
                foreach_items: task.foreach_items,
            },
        ));
    }

    /// The objects to write: `(scope, bytes)`.
    pub(super) fn objects(self) -> impl Iterator<Item = (Digest, Vec<u8>)> {
        self.0.into_iter().map(|(scope, entries)| {
            let stored = StoredEntries { v: 1, entries };
            (scope, serde_json::to_vec(&stored).expect("serialises"))
        })
    }
}

/// The key of a scope's object of the batch `batch` (`<ms>-<writer>-<seq>`).
pub(super) fn object_key(scope: &Digest, batch: &str) -> String {
    format!("{RECORDS_PREFIX}cache/{scope}/{batch}")
}

impl ObjectMetadata {
    /// The entries of one scope, read once per handle.
    fn cache_listing(&self, scope: &Digest) -> Result<Arc<Listing>> {
        if let Some(l) = self.lock_listings().get(scope) {
            return Ok(l.clone());
        }
        let mut keys = self.list(&format!("{RECORDS_PREFIX}cache/{scope}/"))?;
        // Newest first.
        keys.sort_unstable_by(|a, b| b.cmp(a));
        let mut listing: Listing = HashMap::new();
        for (key, bytes) in keys.iter().zip(self.get_many(&keys)?) {
            let Some(bytes) = bytes else { continue };
            match serde_json::from_slice::<StoredEntries>(&bytes) {
                Ok(s) if s.v == 1 => {
                    for (item, entry) in s.entries.into_iter().rev() {
                        listing.entry(item).or_default().push(entry);
                    }
                }
                Ok(s) => self.warn(
                    key,
                    format_args!("cache entries version {} is unknown", s.v),
                ),
                Err(e) => self.warn(key, format_args!("not cache entries ({e})")),
            }
        }
        let listing = Arc::new(listing);
        self.lock_listings().insert(*scope, listing.clone());
        Ok(listing)
    }

    /// Removes the cache objects of the runs `removed` (each object holds the entries of one
    /// run's batch), so a collected run leaves no entries behind. Reads every cache object once:
    /// `wflow gc` calls it once per collection. Objects it cannot read are left alone.
    pub(super) fn forget_cache_of(&self, removed: &BTreeSet<&str>) -> Result<usize> {
        let keys = self.list(&format!("{RECORDS_PREFIX}cache/"))?;
        let mut gone = Vec::new();
        for (key, bytes) in keys.iter().zip(self.get_many(&keys)?) {
            let Some(Ok(stored)) = bytes.map(|b| serde_json::from_slice::<StoredEntries>(&b))
            else {
                continue;
            };
            if !stored.entries.is_empty()
                && stored
                    .entries
                    .iter()
                    .all(|(_, e)| removed.contains(e.run_id.as_str()))
            {
                gone.push(key.clone());
            }
        }
        self.store
            .delete(&gone)
            .map_err(|e| self.store_err("removing cache entries of removed runs".to_string(), e))?;
        self.lock_listings().clear();
        Ok(gone.len())
    }

    fn lock_listings(&self) -> std::sync::MutexGuard<'_, HashMap<Digest, Arc<Listing>>> {
        self.listings.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether run `run_id`'s records still exist (its start object), asked once per handle.
    fn run_exists(&self, run_id: &str) -> Result<bool> {
        let known = self
            .live_runs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(run_id)
            .copied();
        if let Some(known) = known {
            return Ok(known);
        }
        let exists = self.started(run_id)?.is_some();
        self.live_runs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(run_id.to_string(), exists);
        Ok(exists)
    }

    /// [`MetadataStore::cache_lookup`](crate::MetadataStore::cache_lookup) over the entries.
    pub(super) fn lookup(&self, keys: &[CacheKey], limit: usize) -> Result<Vec<Vec<CacheEntry>>> {
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            let listing = self.cache_listing(&key.scope)?;
            let mut found = Vec::new();
            for entry in listing.get(&key.item).into_iter().flatten() {
                if found.len() == limit {
                    break;
                }
                if self.run_exists(&entry.run_id)? {
                    found.push(entry.clone());
                }
            }
            out.push(found);
        }
        Ok(out)
    }
}
