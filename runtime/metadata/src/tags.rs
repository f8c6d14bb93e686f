//! Run tags: free-form labels people put on runs (`wflow tag add`), and find runs by.

use std::collections::BTreeMap;

use rusqlite::{TransactionBehavior, params};

use crate::query::col;
use crate::{Metadata, MetadataError, Result};

/// The longest tag accepted, in bytes.
pub const MAX_TAG_LEN: usize = 256;

/// Checks that `tag` is a tag: non-empty, at most [`MAX_TAG_LEN`] bytes, no control character,
/// and not only whitespace.
pub fn validate_tag(tag: &str) -> std::result::Result<(), String> {
    if tag.trim().is_empty() {
        return Err("a tag cannot be empty or only whitespace".into());
    }
    if tag.len() > MAX_TAG_LEN {
        return Err(format!(
            "a tag is at most {MAX_TAG_LEN} bytes; this one has {}",
            tag.len()
        ));
    }
    if tag.chars().any(char::is_control) {
        return Err("a tag cannot contain control characters (newlines, tabs…)".into());
    }
    Ok(())
}

impl Metadata {
    /// Adds `tags` to run `run_id`; returns how many it did not have yet. All or nothing: an
    /// invalid tag ([`MetadataError::InvalidTag`]) or an unknown run
    /// ([`MetadataError::UnknownRun`]) adds none.
    pub fn add_tags(&self, run_id: &str, tags: &[String]) -> Result<usize> {
        self.change_tags(
            run_id,
            tags,
            "INSERT OR IGNORE INTO tags (run_id, tag) VALUES (?1, ?2)",
        )
    }

    /// Removes `tags` from run `run_id`; returns how many it had. A tag the run does not have is
    /// not an error.
    pub fn remove_tags(&self, run_id: &str, tags: &[String]) -> Result<usize> {
        self.change_tags(
            run_id,
            tags,
            "DELETE FROM tags WHERE run_id = ?1 AND tag = ?2",
        )
    }

    fn change_tags(&self, run_id: &str, tags: &[String], sql: &str) -> Result<usize> {
        for tag in tags {
            validate_tag(tag).map_err(|reason| MetadataError::InvalidTag {
                path: self.path.clone(),
                tag: tag.clone(),
                reason,
            })?;
        }
        let mut conn = self.lock();
        let err = |e| MetadataError::sqlite(&self.path, format!("tagging run `{run_id}`"), e);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let known: bool = tx
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM runs WHERE run_id = ?1)",
                params![run_id],
                |r| r.get(0),
            )
            .map_err(err)?;
        if !known {
            return Err(MetadataError::UnknownRun {
                path: self.path.clone(),
                run_id: run_id.to_string(),
            });
        }
        let mut changed = 0;
        {
            let mut st = tx.prepare_cached(sql).map_err(err)?;
            for tag in tags {
                changed += st.execute(params![run_id, tag]).map_err(err)?;
            }
        }
        tx.commit().map_err(err)?;
        Ok(changed)
    }

    /// The tags of run `run_id`, sorted (empty for a run without tags or not recorded).
    pub fn tags(&self, run_id: &str) -> Result<Vec<String>> {
        self.select(
            "SELECT tag FROM tags WHERE run_id = ?1 ORDER BY tag",
            params![run_id],
            || format!("reading the tags of run `{run_id}`"),
            |path, row| col(path, row, 0, "tag"),
        )
    }

    /// The tags of several runs at once: run id → sorted tags (runs without tags are absent).
    pub fn tags_of_runs(&self, run_ids: &[&str]) -> Result<BTreeMap<String, Vec<String>>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        // SQLite allows 32,766 parameters per statement; stay far below.
        for chunk in run_ids.chunks(500) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let sql = format!(
                "SELECT run_id, tag FROM tags WHERE run_id IN ({marks}) ORDER BY run_id, tag"
            );
            let rows = self.select(
                &sql,
                rusqlite::params_from_iter(chunk.iter()),
                || "reading the tags of runs".to_string(),
                |path, row| {
                    Ok((
                        col::<String>(path, row, 0, "run_id")?,
                        col(path, row, 1, "tag")?,
                    ))
                },
            )?;
            for (run, tag) in rows {
                out.entry(run).or_default().push(tag);
            }
        }
        Ok(out)
    }

    /// Every tag in use and how many runs carry it, sorted by tag.
    pub fn all_tags(&self) -> Result<Vec<(String, u64)>> {
        self.select(
            "SELECT tag, COUNT(*) FROM tags GROUP BY tag ORDER BY tag",
            [],
            || "listing tags".to_string(),
            |path, row| {
                Ok((
                    col(path, row, 0, "tag")?,
                    col::<i64>(path, row, 1, "count")? as u64,
                ))
            },
        )
    }
}
