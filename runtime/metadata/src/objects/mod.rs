//! [`ObjectMetadata`]: the records as small write-once objects in a [`BlobStore`] — how a team
//! store on S3 keeps runs that every machine pointing at the bucket can see.
//!
//! # Layout (under the store's prefix)
//!
//! ```text
//! records-v1/
//! ├── runs/<run_id>                          the run as it started (JSON): flow, component,
//! │                                          params, spec, start, origin run, user, kind
//! │                                          (absent for a run of the flow; `step_run`)
//! ├── tasks/<run_id>/<ms>-<writer>-<seq>     a batch of task and attempt events of that run
//! │                                          (JSON array), in the order they happened
//! ├── by-task/<run_id>/<task_id>/<ms>-<writer>-<seq>
//! │                                          the same, of one task only, by a writer that did
//! │                                          not start the run (a deployed job)
//! ├── ends/<run_id>/<ms>-<writer>-<seq>      how the run ended (JSON): status, end, error
//! ├── tags/<run_id>/<ms>-<writer>-<seq>      a change to the run's tags (JSON): added, removed
//! └── cache/<scope>/<ms>-<writer>-<seq>      the cache entries of a batch's tasks of one pure
//!                                            step and code: what each read and put (JSON; see
//!                                            [`cache`](self::cache))
//! ```
//!
//! Every object is written once under a key no other writer uses (`<writer>` is 64 random bits
//! per process, `<seq>` counts its writes, `<ms>` — never going backwards within a writer — makes
//! the keys of all writers sort in time order). So nothing is ever overwritten, no write needs a
//! conditional request, and S3's atomic `PUT` makes each batch appear whole or not at all. A
//! reader folds a run's batches in key order; a writer killed mid-run leaves a prefix of its
//! events, exactly like a SQLite file whose last transactions were lost.
//!
//! Costs: a run's start is one object, its end another; task events go in batches (a
//! [`Recorder`](crate::Recorder) waits up to [`BATCH_WINDOW`] to gather them), so a
//! thousand-task foreach writes tens of objects, not thousands. Listing runs is one LIST of
//! `runs/` and one of `ends/` plus one GET per run (in parallel); reading a run's tasks is one
//! LIST plus one GET per batch. A finished run's fold is cached for the life of the handle; of a
//! running run the handle keeps the batches it read, so following it GETs only new batches.
//!
//! A run's batches are those of `tasks/<run_id>/` and `by-task/<run_id>/`, folded in the order of
//! their last key component (`<ms>-<writer>-<seq>`); a run recorded before `by-task/` existed has
//! none there and reads as before.
//!
//! Validation matches the SQLite file's: a task of an unknown run, a second start of a task, or
//! the end of an attempt never started is refused with the same errors. A writer knows the runs
//! it started, and writes their batches under `tasks/`. To append to any other run it reads only
//! what the events need (see [`write`]): the run's start, the run's `tasks/` batches (in a
//! deployed run, those of its `start` job), and of each task it touches that task's `by-task/`
//! objects; it writes its events under `by-task/`, one object per task and write. So a deployed
//! job reads a few objects, however many tasks the run has (reading the whole run instead made
//! a foreach's jobs GET about n²/2 batches).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wflow_store::BlobStore;

mod cache;
mod fold;
mod stored;
mod tags;
mod write;

use fold::RunState;
use stored::{EndObjects, StoredEnd, StoredEvent, StoredRun};
use tags::tag_key_run;

use crate::{
    AttemptRecord, CacheEntry, Event, MetadataError, MetadataStore, Result, RunRecord, TaskRecord,
};

/// The prefix of every record object; the `v1` changes if the layout ever does.
pub const RECORDS_PREFIX: &str = "records-v1/";

/// How long a recorder gathers events before writing them as one object.
pub const BATCH_WINDOW: Duration = Duration::from_millis(100);

/// One object's bytes (`None`: absent) once fetched, in [`ObjectMetadata::get_many`].
type Slot = Mutex<Option<Result<Option<Vec<u8>>>>>;

/// A run's task batches already read, by object key.
type Batches = HashMap<String, Arc<Vec<Event>>>;

/// Parallel GETs when reading many records.
const READERS: usize = 16;

/// Records as objects in a store (see the [module docs](self)).
pub struct ObjectMetadata {
    store: Arc<dyn BlobStore>,
    location: PathBuf,
    writer: String,
    /// Runs this handle wrote to, folded: what validation checks events against.
    written: Mutex<Writer>,
    /// Folds of finished runs read by this handle.
    cache: Mutex<HashMap<String, Arc<RunState>>>,
    /// The task batches of unfinished runs read by this handle, by run and key: objects are
    /// written once, so following a running run GETs only the batches that are new since.
    batches: Mutex<HashMap<String, Batches>>,
    /// Record objects skipped while reading (corrupt, or a run's extra end), one line each.
    warnings: Mutex<BTreeSet<String>>,
    /// The task cache's entries of each scope this handle looked up (see [`cache`]).
    listings: Mutex<HashMap<wflow_core::Digest, Arc<cache::Listing>>>,
    /// Whether runs named by cache entries still exist.
    live_runs: Mutex<HashMap<String, bool>>,
}

#[derive(Default)]
struct Writer {
    runs: HashMap<String, write::Written>,
    seq: u64,
    last_ms: i64,
}

impl std::fmt::Debug for ObjectMetadata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectMetadata")
            .field("location", &self.location)
            .field("writer", &self.writer)
            .finish_non_exhaustive()
    }
}

impl ObjectMetadata {
    /// Records under [`RECORDS_PREFIX`] in `store`; `location` names them in messages (e.g.
    /// `s3://bucket/prefix/records-v1/`).
    pub fn new(store: Arc<dyn BlobStore>, location: impl Into<PathBuf>) -> ObjectMetadata {
        let mut salt = [0u8; 8];
        if getrandom::fill(&mut salt).is_err() {
            salt = (wflow_core::now_millis() as u64 ^ u64::from(std::process::id())).to_le_bytes();
        }
        ObjectMetadata {
            store,
            location: location.into(),
            writer: format!("{:016x}", u64::from_le_bytes(salt)),
            written: Mutex::new(Writer::default()),
            cache: Mutex::new(HashMap::new()),
            batches: Mutex::new(HashMap::new()),
            warnings: Mutex::new(BTreeSet::new()),
            listings: Mutex::new(HashMap::new()),
            live_runs: Mutex::new(HashMap::new()),
        }
    }

    fn store_err(&self, action: impl Into<String>, e: wflow_store::StoreError) -> MetadataError {
        MetadataError::Store {
            path: self.location.clone(),
            action: action.into(),
            source: e,
        }
    }

    fn corrupt(&self, key: &str, reason: impl ToString) -> MetadataError {
        MetadataError::corrupt(&self.location, format!("record object `{key}`"), reason)
    }

    /// Notes a record object skipped while reading, for [`MetadataStore::take_warnings`].
    fn warn(&self, key: &str, reason: impl std::fmt::Display) {
        let line = format!(
            "{}: skipped record object `{key}`: {reason}",
            self.location.display()
        );
        self.warnings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(line);
    }

    /// The run's end out of its end objects (`keys` in key order) read as `bytes`: the first
    /// that parses and does not end before the run started; every other one is warned about.
    fn pick_end<'a>(
        &self,
        started_ms: i64,
        ends: impl Iterator<Item = (&'a String, Option<&'a [u8]>)>,
    ) -> Option<StoredEnd> {
        let mut chosen: Option<(&String, StoredEnd)> = None;
        for (key, bytes) in ends {
            let Some(bytes) = bytes else { continue };
            let end: StoredEnd = match serde_json::from_slice(bytes) {
                Ok(e) => e,
                Err(e) => {
                    self.warn(key, format_args!("not a run end ({e})"));
                    continue;
                }
            };
            if end.finished_ms < started_ms {
                self.warn(key, "a run end before the run started");
            } else if let Some((first, _)) = &chosen {
                self.warn(
                    key,
                    format_args!("a second end of the run; the first, `{first}`, is kept"),
                );
            } else {
                chosen = Some((key, end));
            }
        }
        chosen.map(|(_, e)| e)
    }

    fn get_json<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        let Some(bytes) = self
            .store
            .get(key)
            .map_err(|e| self.store_err(format!("reading `{key}`"), e))?
        else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| self.corrupt(key, e))
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>> {
        self.store
            .list(prefix)
            .map_err(|e| self.store_err(format!("listing `{prefix}`"), e))
    }

    /// GETs `keys` in parallel; absent objects are `None`.
    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>> {
        if keys.len() <= 1 {
            return keys
                .iter()
                .map(|k| {
                    self.store
                        .get(k)
                        .map_err(|e| self.store_err(format!("reading `{k}`"), e))
                })
                .collect();
        }
        let next = AtomicUsize::new(0);
        let slots: Vec<Slot> = keys.iter().map(|_| Mutex::new(None)).collect();
        std::thread::scope(|s| {
            for _ in 0..READERS.min(keys.len()) {
                s.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(key) = keys.get(i) else { break };
                        let got = self
                            .store
                            .get(key)
                            .map_err(|e| self.store_err(format!("reading `{key}`"), e));
                        let failed = got.is_err();
                        *slots[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(got);
                        if failed {
                            next.store(keys.len(), Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        slots
            .into_iter()
            .map(|s| {
                s.into_inner()
                    .unwrap_or_else(|p| p.into_inner())
                    .unwrap_or(Ok(None))
            })
            .collect()
    }

    /// The run as it started, without its end.
    fn started(&self, run_id: &str) -> Result<Option<RunRecord>> {
        if !valid_id(run_id) {
            return Ok(None);
        }
        let key = format!("{RECORDS_PREFIX}runs/{run_id}");
        let Some(s) = self.get_json::<StoredRun>(&key)? else {
            return Ok(None);
        };
        s.into_record(run_id)
            .map(Some)
            .map_err(|e| self.corrupt(&key, e))
    }

    /// Reads and folds every record of a run (`None` if it was never started).
    fn load(&self, run_id: &str) -> Result<Option<RunState>> {
        let Some(run) = self.started(run_id)? else {
            return Ok(None);
        };
        let mut state = RunState {
            run,
            tasks: BTreeMap::new(),
            attempts: BTreeMap::new(),
        };
        let mut keys = self.list(&format!("{RECORDS_PREFIX}tasks/{run_id}/"))?;
        keys.extend(self.list(&format!("{RECORDS_PREFIX}by-task/{run_id}/"))?);
        keys.sort_by(|a, b| batch_order(a, b));
        let read = self.read_batches(run_id, &keys)?;
        for events in keys.iter().filter_map(|k| read.get(k)) {
            for ev in events.iter() {
                // Checked when written; what does not apply now came from a writer that raced
                // another, and is skipped as SQLite would have refused it.
                let _ = state.apply(&self.location, ev);
            }
        }
        if let Some(end) = self.end(run_id, state.run.started_ms)? {
            end.apply_to(&mut state.run);
        }
        Ok(Some(state))
    }

    /// The task batches of `run_id` among `keys`, GETting (in parallel) only those this handle
    /// has not read yet; it keeps them for the next call.
    fn read_batches(&self, run_id: &str, keys: &[String]) -> Result<Batches> {
        let mut read = self.lock_batches().get(run_id).cloned().unwrap_or_default();
        let new: Vec<String> = keys
            .iter()
            .filter(|k| !read.contains_key(*k))
            .cloned()
            .collect();
        for (key, bytes) in new.iter().zip(self.get_many(&new)?) {
            let Some(bytes) = bytes else { continue };
            match serde_json::from_slice::<Vec<StoredEvent>>(&bytes) {
                Ok(events) => {
                    let events = events.into_iter().map(|e| e.into_event(run_id)).collect();
                    read.insert(key.clone(), Arc::new(events));
                }
                Err(e) => self.warn(key, format_args!("not a batch of task records ({e})")),
            }
        }
        if !new.is_empty() {
            self.lock_batches().insert(run_id.to_string(), read.clone());
        }
        Ok(read)
    }

    /// The end of a run (see [`ObjectMetadata::pick_end`]).
    fn end(&self, run_id: &str, started_ms: i64) -> Result<Option<StoredEnd>> {
        let ends = self.list(&format!("{RECORDS_PREFIX}ends/{run_id}/"))?;
        let bytes = self.get_many(&ends)?;
        Ok(self.pick_end(
            started_ms,
            ends.iter().zip(bytes.iter().map(|b| b.as_deref())),
        ))
    }

    /// The folded records of a run, from the cache when it is finished.
    fn state(&self, run_id: &str) -> Result<Option<Arc<RunState>>> {
        if let Some(s) = self.lock_cache().get(run_id) {
            return Ok(Some(s.clone()));
        }
        let Some(state) = self.load(run_id)? else {
            return Ok(None);
        };
        let state = Arc::new(state);
        if state.run.status.is_finished() {
            self.lock_cache().insert(run_id.to_string(), state.clone());
            self.lock_batches().remove(run_id);
        }
        Ok(Some(state))
    }

    fn lock_batches(&self) -> std::sync::MutexGuard<'_, HashMap<String, Batches>> {
        self.batches.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<RunState>>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// `<ms>-<writer>-<seq>`: unique to this writer, sorting in time order across writers.
fn next_key(w: &mut Writer, writer: &str) -> String {
    w.seq += 1;
    w.last_ms = w.last_ms.max(wflow_core::now_millis());
    format!("{:013}-{writer}-{:08}", w.last_ms, w.seq)
}

/// The order batches were written in: by their last key component, `<ms>-<writer>-<seq>`
/// (`tasks/<run>/` and `by-task/<run>/<task>/` keys sort together).
fn batch_order(a: &str, b: &str) -> std::cmp::Ordering {
    fn last(k: &str) -> &str {
        k.rsplit('/').next().unwrap_or(k)
    }
    last(a).cmp(last(b)).then_with(|| a.cmp(b))
}

/// A run id usable as one key component.
fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 200
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

impl MetadataStore for ObjectMetadata {
    /// All or nothing for the checks; the objects of one call are written one after the other,
    /// so a crash between two leaves the earlier ones (a consistent prefix of the events).
    fn record(&self, events: &[Event]) -> Result<()> {
        self.write(events, false)
    }

    fn record_skipping_failures(&self, events: &[Event]) -> Result<()> {
        self.write(events, true)
    }

    fn runs(&self, flow: Option<&str>) -> Result<Vec<RunRecord>> {
        let started = self.list(&format!("{RECORDS_PREFIX}runs/"))?;
        let ends = self.list(&format!("{RECORDS_PREFIX}ends/"))?;
        // The end objects of each run, in key order.
        let mut ends_of: HashMap<&str, Vec<&String>> = HashMap::new();
        for key in &ends {
            let rest = &key[RECORDS_PREFIX.len() + "ends/".len()..];
            if let Some((run_id, _)) = rest.split_once('/') {
                ends_of.entry(run_id).or_default().push(key);
            }
        }
        let ids: Vec<&str> = started
            .iter()
            .map(|k| &k[RECORDS_PREFIX.len() + "runs/".len()..])
            .filter(|id| valid_id(id))
            .collect();
        let mut keys: Vec<String> = ids
            .iter()
            .map(|id| format!("{RECORDS_PREFIX}runs/{id}"))
            .collect();
        let end_keys: Vec<String> = ids
            .iter()
            .flat_map(|id| ends_of.get(id).into_iter().flatten().map(|k| (*k).clone()))
            .collect();
        keys.extend(end_keys.iter().cloned());
        let mut got = self.get_many(&keys)?.into_iter();
        let mut runs = Vec::new();
        let starts: Vec<Option<Vec<u8>>> = got.by_ref().take(ids.len()).collect();
        let mut end_bytes: HashMap<&str, EndObjects> = HashMap::new();
        for (k, bytes) in end_keys.iter().zip(got) {
            let run_id = k[RECORDS_PREFIX.len() + "ends/".len()..]
                .split_once('/')
                .map_or("", |(r, _)| r);
            end_bytes.entry(run_id).or_default().push((k, bytes));
        }
        for (id, bytes) in ids.iter().zip(starts) {
            let Some(bytes) = bytes else { continue };
            let key = format!("{RECORDS_PREFIX}runs/{id}");
            // One unreadable run does not hide the others.
            let stored: StoredRun = match serde_json::from_slice(&bytes) {
                Ok(s) => s,
                Err(e) => {
                    self.warn(&key, format_args!("not a run start ({e})"));
                    continue;
                }
            };
            if flow.is_some_and(|f| f != stored.flow) {
                continue;
            }
            let mut run = match stored.into_record(id) {
                Ok(run) => run,
                Err(e) => {
                    self.warn(&key, e);
                    continue;
                }
            };
            if let Some(found) = end_bytes.get(id) {
                let found = found.iter().map(|(k, b)| (*k, b.as_deref()));
                if let Some(end) = self.pick_end(run.started_ms, found) {
                    end.apply_to(&mut run);
                }
            }
            runs.push(run);
        }
        runs.sort_by(|a, b| (b.started_ms, &b.run_id).cmp(&(a.started_ms, &a.run_id)));
        Ok(runs)
    }

    fn run(&self, run_id: &str) -> Result<Option<RunRecord>> {
        if let Some(s) = self.lock_cache().get(run_id) {
            return Ok(Some(s.run.clone()));
        }
        let Some(mut run) = self.started(run_id)? else {
            return Ok(None);
        };
        if let Some(end) = self.end(run_id, run.started_ms)? {
            end.apply_to(&mut run);
        }
        Ok(Some(run))
    }

    fn tasks(&self, run_id: &str) -> Result<Vec<TaskRecord>> {
        Ok(self
            .state(run_id)?
            .map(|s| s.tasks.values().cloned().collect())
            .unwrap_or_default())
    }

    fn task(&self, run_id: &str, task_id: u64) -> Result<Option<TaskRecord>> {
        Ok(self
            .state(run_id)?
            .and_then(|s| s.tasks.get(&task_id).cloned()))
    }

    fn tasks_of_step(&self, run_id: &str, step: &str) -> Result<Vec<TaskRecord>> {
        Ok(self
            .state(run_id)?
            .map(|s| {
                s.tasks
                    .values()
                    .filter(|t| t.step == step)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Found in the run's fold (kept for a finished run) without copying its other tasks.
    fn task_of_item(&self, run_id: &str, step: &str, path: &[u32]) -> Result<Option<TaskRecord>> {
        Ok(self.state(run_id)?.and_then(|s| {
            s.tasks
                .values()
                .rev()
                .find(|t| t.step == step && t.foreach_path == path)
                .cloned()
        }))
    }

    /// Sorted in the run's fold (kept for a finished run); only the page's records are copied.
    fn step_tasks(
        &self,
        run_id: &str,
        step: &str,
        query: &crate::TaskQuery,
    ) -> Result<Vec<TaskRecord>> {
        Ok(self
            .state(run_id)?
            .map(|s| {
                query
                    .select(s.tasks.values().filter(|t| t.step == step))
                    .into_iter()
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }

    fn step_stats(&self, run_id: &str) -> Result<Vec<crate::StepStats>> {
        Ok(self
            .state(run_id)?
            .map(|s| {
                let shares: Vec<crate::summary::Share> =
                    s.tasks.values().map(crate::summary::Share::of).collect();
                crate::summary::stats_of(&shares)
            })
            .unwrap_or_default())
    }

    fn attempts(&self, run_id: &str, task_id: u64) -> Result<Vec<AttemptRecord>> {
        Ok(self
            .state(run_id)?
            .map(|s| {
                s.attempts
                    .range((task_id, 0)..=(task_id, u32::MAX))
                    .map(|(_, a)| a.clone())
                    .collect()
            })
            .unwrap_or_default())
    }

    fn add_tags(&self, run_id: &str, tags: &[String]) -> Result<usize> {
        self.change_tags(run_id, tags, true)
    }

    fn remove_tags(&self, run_id: &str, tags: &[String]) -> Result<usize> {
        self.change_tags(run_id, tags, false)
    }

    fn tags(&self, run_id: &str) -> Result<Vec<String>> {
        if !valid_id(run_id) {
            return Ok(Vec::new());
        }
        let keys = self.list(&format!("{RECORDS_PREFIX}tags/{run_id}/"))?;
        Ok(self
            .fold_tags(&keys)?
            .remove(run_id)
            .map(|t| t.into_iter().collect())
            .unwrap_or_default())
    }

    fn tags_of_runs(&self, run_ids: &[&str]) -> Result<BTreeMap<String, Vec<String>>> {
        let wanted: std::collections::HashSet<&str> = run_ids.iter().copied().collect();
        let keys: Vec<String> = self
            .list(&format!("{RECORDS_PREFIX}tags/"))?
            .into_iter()
            .filter(|k| tag_key_run(k).is_some_and(|r| wanted.contains(r)))
            .collect();
        Ok(self
            .fold_tags(&keys)?
            .into_iter()
            .filter(|(_, t)| !t.is_empty())
            .map(|(r, t)| (r, t.into_iter().collect()))
            .collect())
    }

    fn all_tags(&self) -> Result<Vec<(String, u64)>> {
        let keys = self.list(&format!("{RECORDS_PREFIX}tags/"))?;
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        for tags in self.fold_tags(&keys)?.into_values() {
            for t in tags {
                *counts.entry(t).or_default() += 1;
            }
        }
        Ok(counts.into_iter().collect())
    }

    /// Per run: its start object first (the run disappears at once), then its task batches,
    /// ends and tag changes; then the cache entries of all of them. A crash in between leaves objects of a run that has no start:
    /// invisible to readers, removed by the next `wflow gc`.
    fn delete_runs(&self, run_ids: &[String]) -> Result<usize> {
        let mut removed = 0;
        for run_id in run_ids.iter().filter(|id| valid_id(id)) {
            let start = format!("{RECORDS_PREFIX}runs/{run_id}");
            let err = |e| self.store_err(format!("removing the records of run `{run_id}`"), e);
            let recorded = self.store.exists(&start).map_err(err)?;
            self.store
                .delete(std::slice::from_ref(&start))
                .map_err(err)?;
            let mut rest = Vec::new();
            for kind in ["tasks", "by-task", "ends", "tags"] {
                rest.extend(self.list(&format!("{RECORDS_PREFIX}{kind}/{run_id}/"))?);
            }
            self.store.delete(&rest).map_err(err)?;
            self.lock_cache().remove(run_id);
            self.lock_batches().remove(run_id);
            let mut w = self.written.lock().unwrap_or_else(|p| p.into_inner());
            w.runs.remove(run_id);
            removed += usize::from(recorded);
        }
        let ids: std::collections::BTreeSet<&str> = run_ids.iter().map(String::as_str).collect();
        if !ids.is_empty() {
            self.forget_cache_of(&ids)?;
        }
        Ok(removed)
    }

    fn attempts_of_run(&self, run_id: &str) -> Result<Vec<AttemptRecord>> {
        Ok(self
            .state(run_id)?
            .map(|s| s.attempts.values().cloned().collect())
            .unwrap_or_default())
    }

    fn take_warnings(&self) -> Vec<String> {
        std::mem::take(&mut *self.warnings.lock().unwrap_or_else(|p| p.into_inner()))
            .into_iter()
            .collect()
    }

    fn path(&self) -> &Path {
        &self.location
    }

    fn batch_window(&self) -> Duration {
        BATCH_WINDOW
    }

    fn cache_lookup(
        &self,
        keys: &[wflow_core::CacheKey],
        limit: usize,
    ) -> Result<Vec<Vec<CacheEntry>>> {
        self.lookup(keys, limit)
    }
}
