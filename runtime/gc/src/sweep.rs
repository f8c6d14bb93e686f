//! The sweep: which listed objects go, removed in chunks.

use std::collections::{BTreeSet, HashMap};

use wflow_deploy::layout::DEPLOY_PREFIX;
use wflow_metadata::RECORDS_PREFIX;
use wflow_store::{BLOBS_PREFIX, Cas, ObjectInfo};

use crate::mark::Marks;
use crate::{GcError, Progress, Report};

/// Objects removed per request (S3's `DeleteObjects` takes up to 1,000 keys).
pub const CHUNK: usize = 1000;

/// The prefix of the task descriptions and reports of runs on other machines (AWS Batch).
const TASKS_PREFIX: &str = "tasks-v1/";
/// A local store's logs of running tasks and the locks of running runs.
const LIVE_PREFIX: &str = "live/";

pub(crate) struct Sweep<'a> {
    pub cas: &'a Cas,
    pub marks: &'a Marks,
    /// Runs whose records this collection removed.
    pub removed: &'a BTreeSet<String>,
    /// Runs recorded after the records were removed.
    pub recorded: &'a BTreeSet<String>,
    pub cutoff_ms: i64,
    pub records_in_store: bool,
}

/// What happens to one object.
enum Fate {
    /// Kept (marked, recent, or a file the store itself uses).
    Keep,
    /// A blob to remove if still stale.
    Blob,
    /// An object of a run no longer recorded: removed.
    OfGoneRun,
    /// An object of a run never seen: removed if still stale.
    Orphan,
    /// Not this wflow's layout: left alone and reported under this prefix.
    Foreign(String),
}

impl Sweep<'_> {
    /// The run a per-run object belongs to: `tasks-v1/<run>/…`, `live/<run>/…`,
    /// `live/<run>.lock`, `deploy-v1/runs/<run>/…`, and with records in the store
    /// `records-v1/{tasks,by-task,ends,tags}/<run>/…`.
    fn run_of<'k>(&self, key: &'k str) -> Option<&'k str> {
        if let Some(rest) = key.strip_prefix(TASKS_PREFIX) {
            return rest.split_once('/').map(|(run, _)| run);
        }
        if let Some(rest) = key.strip_prefix(DEPLOY_PREFIX) {
            return rest
                .strip_prefix("runs/")?
                .split_once('/')
                .map(|(run, _)| run);
        }
        if let Some(rest) = key.strip_prefix(LIVE_PREFIX) {
            return match rest.split_once('/') {
                Some((run, _)) => Some(run),
                None => rest.strip_suffix(".lock"),
            };
        }
        let rest = key.strip_prefix(RECORDS_PREFIX)?;
        let (kind, rest) = rest.split_once('/')?;
        ["tasks", "by-task", "ends", "tags"]
            .contains(&kind)
            .then(|| rest.split_once('/').map(|(run, _)| run))?
    }

    fn fate(&self, o: &ObjectInfo) -> Fate {
        let stale = o.modified_ms < self.cutoff_ms;
        if o.key.starts_with(BLOBS_PREFIX) {
            return match Cas::digest_of_key(&o.key) {
                Some(d) if self.marks.reached.contains(&d) || !stale => Fate::Keep,
                Some(_) => Fate::Blob,
                None => Fate::Foreign(BLOBS_PREFIX.to_string()),
            };
        }
        let top = match o.key.split_once('/') {
            Some((top, _)) => format!("{top}/"),
            None => o.key.clone(),
        };
        // The SQLite records of a local store, and the objects of the records themselves.
        if top.starts_with("metadata.sqlite") || (top == RECORDS_PREFIX && !self.records_in_store) {
            return if top == RECORDS_PREFIX {
                Fate::Foreign(top)
            } else {
                Fate::Keep
            };
        }
        if [TASKS_PREFIX, LIVE_PREFIX, RECORDS_PREFIX, DEPLOY_PREFIX].contains(&top.as_str()) {
            return match self.run_of(&o.key) {
                Some(run) if self.removed.contains(run) => Fate::OfGoneRun,
                Some(run) if !self.recorded.contains(run) && stale => Fate::Orphan,
                Some(_) => Fate::Keep,
                // `records-v1/runs/…`, deployments and the like: their owners' business.
                None if top != TASKS_PREFIX => Fate::Keep,
                None => Fate::Foreign(top),
            };
        }
        Fate::Foreign(top)
    }

    pub fn run(
        &self,
        objects: Vec<ObjectInfo>,
        dry_run: bool,
        report: &mut Report,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<(), GcError> {
        let (mut blobs, mut gone, mut orphans) = (Vec::new(), Vec::new(), Vec::new());
        let mut sizes: HashMap<String, u64> = HashMap::new();
        let mut listed_blobs = std::collections::HashSet::new();
        for o in objects {
            if let Some(d) = Cas::digest_of_key(&o.key) {
                listed_blobs.insert(d);
            }
            match self.fate(&o) {
                Fate::Keep => {
                    if let Some(d) = Cas::digest_of_key(&o.key) {
                        if self.marks.reached.contains(&d) {
                            report.blobs_kept += 1;
                            report.blob_bytes_kept += o.size;
                        } else {
                            report.blobs_recent += 1;
                        }
                    }
                    continue;
                }
                Fate::Foreign(prefix) => {
                    *report.left_alone.entry(prefix).or_default() += 1;
                    continue;
                }
                Fate::Blob => blobs.push(o.key.clone()),
                Fate::OfGoneRun => gone.push(o.key.clone()),
                Fate::Orphan => orphans.push(o.key.clone()),
            }
            sizes.insert(o.key, o.size);
        }
        for d in &self.marks.reached {
            if !listed_blobs.contains(d) && !self.marks.missing.contains(d) {
                report.missing.push(d.to_string());
            }
        }
        let total = blobs.len() + gone.len() + orphans.len();
        let backend = self.cas.backend();
        let mut done = 0;
        let tally = |keys: &[String], blob: bool, report: &mut Report| {
            let bytes: u64 = keys
                .iter()
                .map(|k| sizes.get(k).copied().unwrap_or(0))
                .sum();
            let n = keys.len() as u64;
            if blob {
                report.blobs_removed += n;
                report.blob_bytes_removed += bytes;
            } else {
                report.other_removed += n;
                report.other_bytes_removed += bytes;
            }
        };
        // Objects of removed runs first (nothing else can need them), then the rest.
        for (keys, blob, stale_only) in [
            (&gone, false, false),
            (&orphans, false, true),
            (&blobs, true, true),
        ] {
            for chunk in keys.chunks(CHUNK) {
                let went = if dry_run {
                    chunk.to_vec()
                } else if stale_only {
                    backend
                        .delete_stale(chunk, self.cutoff_ms)
                        .map_err(GcError::Store)?
                } else {
                    backend.delete(chunk).map_err(GcError::Store)?;
                    chunk.to_vec()
                };
                tally(&went, blob, report);
                done += chunk.len();
                progress(Progress::Sweeping { done, total });
            }
        }
        Ok(())
    }
}
