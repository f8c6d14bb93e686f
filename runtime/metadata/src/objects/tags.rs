//! Tags as objects: each change is one `tags/<run_id>/<key>` object (added, removed), folded in
//! key order.

use std::collections::BTreeMap;

use super::stored::StoredTags;
use super::{ObjectMetadata, RECORDS_PREFIX, next_key};
use crate::{MetadataError, MetadataStore, Result};

impl ObjectMetadata {
    /// Adds or removes tags by writing one `tags/<run_id>/<key>` object with the change.
    pub(super) fn change_tags(&self, run_id: &str, tags: &[String], add: bool) -> Result<usize> {
        for tag in tags {
            crate::validate_tag(tag).map_err(|reason| MetadataError::InvalidTag {
                path: self.location.clone(),
                tag: tag.clone(),
                reason,
            })?;
        }
        if self.run(run_id)?.is_none() {
            return Err(MetadataError::UnknownRun {
                path: self.location.clone(),
                run_id: run_id.to_string(),
            });
        }
        let have: std::collections::BTreeSet<String> =
            MetadataStore::tags(self, run_id)?.into_iter().collect();
        let changed: Vec<String> = {
            let mut seen = std::collections::BTreeSet::new();
            tags.iter()
                .filter(|t| have.contains(*t) != add && seen.insert((*t).clone()))
                .cloned()
                .collect()
        };
        if changed.is_empty() {
            return Ok(0);
        }
        let change = StoredTags {
            v: 1,
            add: if add { changed.clone() } else { Vec::new() },
            remove: if add { Vec::new() } else { changed.clone() },
        };
        let key = {
            let mut w = self.written.lock().unwrap_or_else(|p| p.into_inner());
            format!(
                "{RECORDS_PREFIX}tags/{run_id}/{}",
                next_key(&mut w, &self.writer)
            )
        };
        self.put(&key, &serde_json::to_vec(&change).expect("serialises"))?;
        Ok(changed.len())
    }

    /// Folds tag changes (keys in time order) into run id → tags.
    pub(super) fn fold_tags(
        &self,
        keys: &[String],
    ) -> Result<BTreeMap<String, std::collections::BTreeSet<String>>> {
        let mut out: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
        for (key, bytes) in keys.iter().zip(self.get_many(keys)?) {
            let (Some(run_id), Some(bytes)) = (tag_key_run(key), bytes) else {
                continue;
            };
            let change: StoredTags = match serde_json::from_slice(&bytes) {
                Ok(c) => c,
                Err(e) => {
                    self.warn(key, format_args!("not a tag change ({e})"));
                    continue;
                }
            };
            if change.v != 1 {
                return Err(self.corrupt(
                    key,
                    format!("version {} is newer than this wflow reads (1)", change.v),
                ));
            }
            let set = out.entry(run_id.to_string()).or_default();
            for t in change.add {
                set.insert(t);
            }
            for t in &change.remove {
                set.remove(t);
            }
        }
        Ok(out)
    }
}

/// The run id in a `records-v1/tags/<run_id>/<key>` key.
pub(super) fn tag_key_run(key: &str) -> Option<&str> {
    key.strip_prefix(RECORDS_PREFIX)?
        .strip_prefix("tags/")?
        .split_once('/')
        .map(|(run, _)| run)
}
