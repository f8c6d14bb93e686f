//! Retention and garbage collection of runs and artifacts (`wflow gc`), the same for every
//! store: a local directory with its SQLite records, S3 with its object records, or a metadata
//! service beside either.
//!
//! # How it works
//!
//! 1. **Rule** ([`Retention`]): list every run; keep the running ones, the newest `keep_last` of
//!    each flow, those younger than `older_than`, those carrying a `keep_tagged` tag.
//! 2. **Mark** ([`prepare`]): read the records of every kept run and mark every blob they reach
//!    (the run's code, each task's manifest and the artifact blobs it names, foreach items, logs
//!    kept as blobs). A run a kept run reuses tasks from (`origin_run` of a resumed run or of
//!    any task: resume and cached tasks alike) is kept too, and marked; so is the code of every
//!    deployment (`wflow deploy`), which no run may record yet.
//! 3. **Remove records** ([`Prepared::execute`]): the records of the other runs go first, all at
//!    once where the records can (one SQLite transaction).
//! 4. **Sweep**: list the store; read the records of runs that started while the collection
//!    ran, or were running, again and mark what they reach now; then remove every blob that is
//!    neither marked nor written or refreshed since `cutoff = start − grace`, and the task
//!    descriptions, live logs and record objects of runs no longer recorded.
//!
//! Why this never removes what a kept run, or a run started meanwhile, needs: `docs/store.md`
//! ("Garbage collection"). In short: what a kept run's records reach is marked; every writer
//! that comes to rely on a blob either writes it or refreshes it
//! ([`BlobStore::refresh`](wflow_store::BlobStore::refresh)) first, so the blob is newer than the
//! cutoff unless the reference takes longer than the grace period to be recorded; and the store
//! checks a blob's time again as it removes it. Records go before blobs, so a collection killed
//! at any point leaves every kept run whole, and the next one finishes the job.

#![deny(missing_docs)]

mod mark;
mod rule;
mod sweep;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use wflow_metadata::{MetadataError, MetadataStore, RunKind, RunRecord, Status};
use wflow_store::{Cas, StoreError};

pub use rule::{Keep, Retention, format_duration, parse_duration};
pub use sweep::CHUNK;

use mark::Marks;

/// What stopped a collection. Nothing it had not done yet is done.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GcError {
    /// Reading or removing records failed.
    #[error(transparent)]
    Records(MetadataError),
    /// Listing, reading or removing objects of the store failed.
    #[error(transparent)]
    Store(StoreError),
    /// A deployment (`wflow deploy`) cannot be read, so what it runs is unknown and no blob is
    /// removed.
    #[error(
        "the deployment `{key}` cannot be read ({reason}), so no blob was removed: what it runs \
         is unknown"
    )]
    Deployment {
        /// Its key in the store.
        key: String,
        /// Why.
        reason: String,
    },
    /// A kept run's manifest cannot be read (damaged), so what it references is unknown and
    /// nothing is removed.
    #[error("{what} cannot be read, so nothing was removed: {source}")]
    Unreadable {
        /// Which record's data.
        what: String,
        /// Why.
        #[source]
        source: StoreError,
    },
}

/// How to collect.
#[derive(Clone, Debug)]
pub struct Options {
    /// Which runs to keep.
    pub retention: Retention,
    /// The rules of the administrator's policy (`[retention]` in the policy files): a floor — a
    /// run any of them keeps is kept whatever `retention` says — and, when `retention` has
    /// neither `keep_last` nor `older_than`, the rule itself (within `retention.flow`).
    pub policy: Vec<Retention>,
    /// Objects written or refreshed less than this long before the collection began are never
    /// removed (see the crate docs).
    pub grace: Duration,
    /// The records are objects in the store itself (S3 without a metadata service): their
    /// leftovers (`records-v1/…` of runs no longer recorded) are swept too.
    pub records_in_store: bool,
}

/// The default [`Options::grace`]: one day.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(86_400);

/// Where a collection is, for a progress display.
#[derive(Clone, Debug)]
pub enum Progress {
    /// Marking what kept runs reach: `done` runs of `total` so far.
    Marking {
        /// Runs marked.
        done: usize,
        /// Runs to mark (grows as references are found).
        total: usize,
    },
    /// Removing the records of runs.
    RemovingRecords {
        /// How many.
        runs: usize,
    },
    /// Listing the store's objects.
    Listing,
    /// Removing objects.
    Sweeping {
        /// Objects handled.
        done: usize,
        /// Objects to remove.
        total: usize,
    },
}

/// A run a collection removes.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RemovedRun {
    /// Its id.
    pub run_id: String,
    /// Its flow.
    pub flow: String,
    /// How it ended.
    pub status: Status,
    /// When it began.
    pub started_ms: i64,
    /// A run or a step-run.
    pub kind: RunKind,
}

/// What a collection removed (or, in a dry run, would remove).
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Report {
    /// Nothing was removed: this is what would be.
    pub dry_run: bool,
    /// The rule applied.
    pub retention: Retention,
    /// The administrator's policy's rules applied with it (see [`Options::policy`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub policy: Vec<Retention>,
    /// Objects written or refreshed at or after this time were left alone (ms since the epoch).
    pub cutoff_ms: i64,
    /// The runs whose records were removed.
    pub runs_removed: Vec<RemovedRun>,
    /// How many runs are kept.
    pub runs_kept: usize,
    /// Blobs removed, and their bytes.
    pub blobs_removed: u64,
    /// Bytes of the blobs removed.
    pub blob_bytes_removed: u64,
    /// Other objects removed: task descriptions, live logs and record objects of runs no
    /// longer recorded.
    pub other_removed: u64,
    /// Their bytes.
    pub other_bytes_removed: u64,
    /// Blobs kept because a kept run reaches them.
    pub blobs_kept: u64,
    /// Their bytes.
    pub blob_bytes_kept: u64,
    /// Blobs no run reaches that are younger than the cutoff (a later collection removes them
    /// if nothing comes to use them).
    pub blobs_recent: u64,
    /// Blobs kept runs reference that were already missing from the store.
    pub missing: Vec<String>,
    /// Objects outside this wflow's layout (another version's, or not wflow's), left alone:
    /// top-level prefix → count.
    pub left_alone: BTreeMap<String, u64>,
    /// Things worth knowing (a run started during the collection that reuses a removed run).
    pub notes: Vec<String>,
}

/// A collection whose rule is applied and whose kept runs are marked; nothing removed yet.
pub struct Prepared<'a> {
    records: &'a dyn MetadataStore,
    cas: &'a Cas,
    options: Options,
    started_ms: i64,
    /// Every run listed, newest first.
    runs: Vec<RunRecord>,
    keep: BTreeMap<String, Keep>,
    marks: Marks,
}

/// Applies the rule and marks what the kept runs reach (steps 1 and 2 of the crate docs).
pub fn prepare<'a>(
    records: &'a dyn MetadataStore,
    cas: &'a Cas,
    options: Options,
    progress: &mut dyn FnMut(Progress),
) -> Result<Prepared<'a>, GcError> {
    let started_ms = wflow_core::now_millis();
    let runs = all_runs(records)?;
    let rules = std::iter::once(&options.retention).chain(&options.policy);
    let tags = if rules.clone().all(|r| r.keep_tagged.is_empty()) {
        BTreeMap::new()
    } else {
        let ids: Vec<&str> = runs.iter().map(|r| r.run_id.as_str()).collect();
        records.tags_of_runs(&ids).map_err(GcError::Records)?
    };
    let mut keep = rule::keep(
        &options.retention,
        &options.policy,
        &runs,
        &tags,
        started_ms,
    );
    let by_id: HashMap<&str, &RunRecord> = runs.iter().map(|r| (r.run_id.as_str(), r)).collect();
    let mut queue: Vec<&RunRecord> = runs
        .iter()
        .filter(|r| keep.contains_key(&r.run_id))
        .collect();
    queue.reverse(); // newest first off the end
    let mut marks = Marks::default();
    // What deployments run is kept whether or not a run records it yet.
    for key in cas
        .backend()
        .list(&mark::deployments())
        .map_err(GcError::Store)?
    {
        marks.mark_deployment(cas, &key)?;
    }
    let mut done = 0;
    while let Some(run) = queue.pop() {
        for origin in marks.mark_run(records, cas, run)? {
            if let Some(o) = by_id.get(origin.as_str())
                && !keep.contains_key(&origin)
            {
                keep.insert(origin, Keep::ReusedBy(run.run_id.clone()));
                queue.push(o);
            }
        }
        done += 1;
        progress(Progress::Marking {
            done,
            total: done + queue.len(),
        });
    }
    Ok(Prepared {
        records,
        cas,
        options,
        started_ms,
        runs,
        keep,
        marks,
    })
}

/// Every user's runs, newest first (a metadata service lists only the caller's by default).
fn all_runs(records: &dyn MetadataStore) -> Result<Vec<RunRecord>, GcError> {
    let filter = wflow_metadata::RunFilter {
        all_users: true,
        skip_spec: true,
        ..Default::default()
    };
    records.find_runs(&filter).map_err(GcError::Records)
}

impl Prepared<'_> {
    /// The runs the rule removes, newest first.
    pub fn removed(&self) -> impl Iterator<Item = &RunRecord> {
        self.runs
            .iter()
            .filter(|r| !self.keep.contains_key(&r.run_id))
    }

    /// Why each kept run is kept, by run id.
    pub fn kept(&self) -> &BTreeMap<String, Keep> {
        &self.keep
    }

    /// True when the rule removes every run there is (and there is one): a rule written by
    /// mistake, which the CLI asks to confirm.
    pub fn removes_every_run(&self) -> bool {
        !self.runs.is_empty() && self.keep.is_empty()
    }

    /// Removes the records of the runs the rule lets go, then sweeps the store (steps 3 and 4
    /// of the crate docs); with `dry_run`, removes nothing and reports what would go.
    pub fn execute(
        mut self,
        dry_run: bool,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Report, GcError> {
        let removed: Vec<RemovedRun> = self
            .removed()
            .map(|r| RemovedRun {
                run_id: r.run_id.clone(),
                flow: r.flow.clone(),
                status: r.status,
                started_ms: r.started_ms,
                kind: r.kind,
            })
            .collect();
        let removed_ids: BTreeSet<String> = removed.iter().map(|r| r.run_id.clone()).collect();
        if !dry_run && !removed.is_empty() {
            progress(Progress::RemovingRecords {
                runs: removed.len(),
            });
            let ids: Vec<String> = removed_ids.iter().cloned().collect();
            self.records.delete_runs(&ids).map_err(GcError::Records)?;
        }
        let mut report = Report {
            dry_run,
            retention: self.options.retention.clone(),
            policy: self.options.policy.clone(),
            cutoff_ms: self
                .started_ms
                .saturating_sub(self.options.grace.as_millis().min(i64::MAX as u128) as i64),
            runs_removed: removed,
            runs_kept: self.keep.len(),
            ..Report::default()
        };
        progress(Progress::Listing);
        let objects = self.cas.backend().list_info("").map_err(GcError::Store)?;
        let deployments = mark::deployments();
        for o in objects.iter().filter(|o| o.key.starts_with(&deployments)) {
            self.marks.mark_deployment(self.cas, &o.key)?;
        }
        // Runs recorded now: those that started while this collection ran, and those that
        // were running, may reach blobs they did not reach when they were marked.
        let now = all_runs(self.records)?;
        let before: HashMap<&str, Status> = self
            .runs
            .iter()
            .map(|r| (r.run_id.as_str(), r.status))
            .collect();
        let mut recorded: BTreeSet<String> = BTreeSet::new();
        for run in &now {
            recorded.insert(run.run_id.clone());
            if dry_run && removed_ids.contains(&run.run_id) {
                continue;
            }
            if before.get(run.run_id.as_str()) == Some(&Status::Running)
                || !before.contains_key(run.run_id.as_str())
            {
                for origin in self.marks.mark_run(self.records, self.cas, run)? {
                    if removed_ids.contains(&origin) {
                        report.notes.push(format!(
                            "run `{}` started during the collection and reuses tasks of \
                             removed run `{origin}`",
                            run.run_id
                        ));
                    }
                }
            }
        }
        if dry_run {
            recorded.retain(|id| !removed_ids.contains(id));
        }
        let sweep = sweep::Sweep {
            cas: self.cas,
            marks: &self.marks,
            removed: &removed_ids,
            recorded: &recorded,
            cutoff_ms: report.cutoff_ms,
            records_in_store: self.options.records_in_store,
        };
        sweep.run(objects, dry_run, &mut report, progress)?;
        report.missing = self.marks.missing.iter().map(|d| d.to_string()).collect();
        Ok(report)
    }
}

#[cfg(test)]
mod tests;
