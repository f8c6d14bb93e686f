//! `wflow gc` on a big store (issue 16). Not criterion: it prints figures.
//!
//! 1. **Local** (a store directory with SQLite records): `GC_RUNS` runs (1,000) of `GC_TASKS`
//!    tasks (1,000) each, every task's manifest in the records naming two blobs — one of
//!    [`SHARED`] blobs every run shares (deduplicated values) and one of [`PER_RUN`] blobs of
//!    its own run. Written straight through `wflow-metadata` into `target/bench-data/` (kept for
//!    the next time), copied, then collected with `--keep-last GC_KEEP` (100) in a child process
//!    (this binary re-executed, so its peak RSS is gc's own): a dry run, the collection, and a
//!    second collection that finds nothing to do (what a nightly cron job costs).
//! 2. **S3** (object records, on a moto server of its own that records every request):
//!    `GC_S3_RUNS` runs (100) of `GC_S3_TASKS` tasks (100), kept `GC_S3_KEEP` (10): the requests
//!    gc makes, by kind, per object removed. Skipped, saying why, without moto
//!    (`scripts/install-test-tools`).
//!
//! `cargo bench -p wflow-benches --bench gc`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wflow_benches::root;
use wflow_core::Digest;
use wflow_gc::{Options, Report, Retention};
use wflow_metadata::{Event, Metadata, MetadataStore, ObjectMetadata, RunKind, Status};
use wflow_store::{ArtifactRef, BlobStore, Cas, LocalDisk, Manifest};

/// Blobs every run's tasks share.
const SHARED: u64 = 1_000;
/// Blobs of each run's own.
const PER_RUN: u64 = 20;
const CHILD: &str = "WFLOW_GC_BENCH_CHILD";

fn env_num(k: &str, d: u64) -> u64 {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

/// A blob artifact holding `text`.
fn blob(cas: &Cas, text: String) -> ArtifactRef {
    let bytes = text.into_bytes();
    ArtifactRef {
        digest: cas.put(&bytes).unwrap(),
        size: bytes.len() as u64,
        codec: "raw".into(),
        inline: None,
    }
}

/// Records `runs` runs of `tasks` tasks into `meta` and their blobs into `cas`.
fn fill(meta: &dyn MetadataStore, cas: &Cas, runs: u64, tasks: u64) {
    let component = cas.put(b"\0asm the bench's component").unwrap();
    let shared: Vec<ArtifactRef> = (0..SHARED)
        .map(|i| blob(cas, format!("a value every run computes: {i}")))
        .collect();
    let base_ms = wflow_core::now_millis() - 30 * 86_400_000;
    for r in 0..runs {
        let id = format!("20260101T000000-g{r:05}");
        let own: Vec<ArtifactRef> = (0..PER_RUN)
            .map(|i| blob(cas, format!("run {r}'s value {i}")))
            .collect();
        let t0 = base_ms + r as i64 * 60_000;
        let mut events = Vec::with_capacity(5 * tasks as usize + 2);
        events.push(Event::RunStarted {
            run_id: id.clone(),
            flow: "Big".into(),
            component,
            params: serde_json::json!({}),
            spec: serde_json::json!({}),
            started_ms: t0,
            origin_run: None,
            user: "bench".into(),
            kind: RunKind::Run,
        });
        for t in 1..=tasks {
            let mut m = Manifest::new();
            m.artifacts
                .insert("shared".into(), shared[(t % SHARED) as usize].clone());
            m.artifacts
                .insert("own".into(), own[(t % PER_RUN) as usize].clone());
            let bytes = m.to_cbor().unwrap();
            let manifest = Digest::of(&bytes);
            let (run_id, at) = (id.clone(), t0 + t as i64);
            events.extend([
                Event::TaskStarted {
                    run_id: run_id.clone(),
                    task_id: t,
                    step: if t == 1 { "start" } else { "each" }.into(),
                    foreach_path: if t == 1 { vec![] } else { vec![t as u32] },
                    inputs: if t == 1 { vec![] } else { vec![1] },
                    started_ms: at,
                },
                Event::AttemptStarted {
                    run_id: run_id.clone(),
                    task_id: t,
                    attempt: 0,
                    started_ms: at,
                },
                Event::TaskManifest {
                    run_id: run_id.clone(),
                    task_id: t,
                    manifest: bytes,
                },
                Event::AttemptFinished {
                    run_id: run_id.clone(),
                    task_id: t,
                    attempt: 0,
                    status: Status::Succeeded,
                    started_ms: None,
                    finished_ms: at + 1,
                    error: None,
                    stdout: None,
                    stderr: None,
                },
                Event::TaskFinished {
                    run_id,
                    task_id: t,
                    status: Status::Succeeded,
                    finished_ms: at + 1,
                    manifest: Some(manifest),
                },
            ]);
        }
        events.push(Event::RunFinished {
            run_id: id,
            status: Status::Succeeded,
            finished_ms: t0 + tasks as i64 + 2,
            error: None,
        });
        meta.record(&events).expect("recording a run");
    }
}

fn keep_last(n: u64) -> Options {
    Options {
        retention: Retention {
            keep_last: Some(n as usize),
            ..Default::default()
        },
        grace: Duration::ZERO,
        records_in_store: false,
        policy: vec![],
    }
}

/// CPU seconds (user + system) this process has used: on a shared machine, steadier than wall
/// time.
fn cpu_secs() -> f64 {
    let mut u = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given.
    let u = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, u.as_mut_ptr());
        u.assume_init()
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(u.ru_utime) + secs(u.ru_stime)
}

/// One collection: (wall seconds, CPU seconds, report); prints the wall time of each phase to
/// stderr.
fn collect(meta: &dyn MetadataStore, cas: &Cas, options: Options, dry: bool) -> (f64, f64, Report) {
    let (t, cpu) = (Instant::now(), cpu_secs());
    let mut phases: Vec<(&str, f64)> = Vec::new();
    let mut progress = |p: wflow_gc::Progress| {
        let name = match p {
            wflow_gc::Progress::RemovingRecords { .. } => "mark",
            // No records to remove (a dry run, or nothing to do): marking came just before.
            wflow_gc::Progress::Listing if phases.is_empty() => "mark",
            wflow_gc::Progress::Listing => "remove records",
            _ => return,
        };
        phases.push((name, t.elapsed().as_secs_f64()));
    };
    let prepared = wflow_gc::prepare(meta, cas, options, &mut progress).expect("mark");
    let report = prepared.execute(dry, &mut progress).expect("sweep");
    let wall = t.elapsed().as_secs_f64();
    phases.push(("list and sweep", wall));
    let mut last = 0.0;
    let shown: Vec<String> = phases
        .iter()
        .map(|(name, at)| {
            let took = at - last;
            last = *at;
            format!("{name} {took:.2} s")
        })
        .collect();
    let what = if dry { " (dry run)" } else { "" };
    eprintln!("gc{what}: {}", shown.join(", "));
    (wall, cpu_secs() - cpu, report)
}

fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The child: collects the store at `dir` and prints one JSON line of figures.
fn child(dir: &Path) {
    let keep = env_num("GC_KEEP", 100);
    let cas = Cas::new(Arc::new(LocalDisk::open(dir).unwrap()));
    let meta = Metadata::open(&dir.join("metadata.sqlite")).unwrap();
    let (dry_s, dry_cpu, dry) = collect(&meta, &cas, keep_last(keep), true);
    let (real_s, real_cpu, real) = collect(&meta, &cas, keep_last(keep), false);
    let (again_s, again_cpu, again) = collect(&meta, &cas, keep_last(keep), false);
    assert_eq!(dry.runs_removed.len(), real.runs_removed.len());
    assert_eq!(dry.blobs_removed, real.blobs_removed);
    assert!(again.runs_removed.is_empty() && again.blobs_removed == 0);
    let figures = serde_json::json!({
        "dry_s": dry_s, "real_s": real_s, "again_s": again_s,
        "dry_cpu": dry_cpu, "real_cpu": real_cpu, "again_cpu": again_cpu,
        "runs_removed": real.runs_removed.len(), "runs_kept": real.runs_kept,
        "blobs_removed": real.blobs_removed, "blobs_kept": real.blobs_kept,
        "peak_rss_kb": peak_rss_kb(),
    });
    println!("{figures}");
}

fn local() {
    let (runs, tasks) = (env_num("GC_RUNS", 1_000), env_num("GC_TASKS", 1_000));
    let data = root().join("target").join("bench-data");
    let template = data.join(format!(
        "gc-{runs}x{tasks}-v{}",
        wflow_metadata::SCHEMA_VERSION
    ));
    if !template.join("complete").exists() {
        let _ = std::fs::remove_dir_all(&template);
        let store = template.join("store");
        let t = Instant::now();
        let cas = Cas::new(Arc::new(LocalDisk::open(&store).unwrap()));
        let meta = Metadata::open(&store.join("metadata.sqlite")).unwrap();
        fill(&meta, &cas, runs, tasks);
        drop(meta);
        std::fs::write(template.join("complete"), "").unwrap();
        eprintln!(
            "wrote {runs} runs of {tasks} tasks to {} in {:.0} s",
            store.display(),
            t.elapsed().as_secs_f64()
        );
    }
    let scratch = data.join("gc-scratch");
    let _ = std::fs::remove_dir_all(&scratch);
    let copied = Command::new("cp")
        .arg("-a")
        .arg(template.join("store"))
        .arg(&scratch)
        .status()
        .unwrap();
    assert!(copied.success(), "copying the store");
    let out = Command::new(std::env::current_exe().unwrap())
        .env(CHILD, &scratch)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&scratch);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    let f: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    println!(
        "gc local, {runs} runs x {tasks} tasks, keep-last {}: dry run {:.2} s ({:.2} CPU-s); \
         gc {:.2} s ({:.2} CPU-s; removed {} runs, {} blobs; kept {} runs, {} blobs); \
         a second gc {:.2} s ({:.2} CPU-s); peak RSS {:.0} MB; load {}",
        env_num("GC_KEEP", 100),
        f["dry_s"].as_f64().unwrap(),
        f["dry_cpu"].as_f64().unwrap(),
        f["real_s"].as_f64().unwrap(),
        f["real_cpu"].as_f64().unwrap(),
        f["runs_removed"],
        f["blobs_removed"],
        f["runs_kept"],
        f["blobs_kept"],
        f["again_s"].as_f64().unwrap(),
        f["again_cpu"].as_f64().unwrap(),
        f["peak_rss_kb"].as_f64().unwrap() / 1024.0,
        load()
    );
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn s3() {
    use wflow_store_s3::testing;
    let pinned = testing::tools_dir().join("moto-5.2.5/bin/moto_server");
    if !pinned.is_file() && !which_moto() {
        println!("SKIPPING gc s3: moto is not installed (scripts/install-test-tools)");
        return;
    }
    let (runs, tasks, keep) = (
        env_num("GC_S3_RUNS", 100),
        env_num("GC_S3_TASKS", 100),
        env_num("GC_S3_KEEP", 10),
    );
    let recording = tempfile::NamedTempFile::new().unwrap();
    let path = recording.path().to_str().unwrap().to_string();
    let endpoint = testing::start_private_moto(&[
        ("MOTO_ENABLE_RECORDING", "True"),
        ("MOTO_RECORDER_FILEPATH", &path),
    ]);
    let bucket = "gc-bench";
    ureq::put(&format!("{endpoint}/{bucket}"))
        .send_empty()
        .expect("creating the bucket");
    let mut config = wflow_store_s3::S3Config::new(format!("s3://{bucket}/wflow"));
    config.endpoint = Some(endpoint.clone());
    config.region = Some("us-east-1".into());
    config.path_style = true;
    let store: Arc<dyn BlobStore> = Arc::new(
        testing::store_with_credentials(&config, testing::ACCESS_KEY, testing::SECRET_KEY).unwrap(),
    );
    let cas = Cas::new(store.clone());
    let meta = ObjectMetadata::new(store.clone(), "s3://gc-bench/wflow/records-v1/");
    fill(&meta, &cas, runs, tasks);
    drop(meta);
    let before = store.list("").unwrap().len();
    let meta = ObjectMetadata::new(store.clone(), "s3://gc-bench/wflow/records-v1/");
    ureq::post(&format!("{endpoint}/moto-api/recorder/reset-recording"))
        .send_empty()
        .unwrap();
    ureq::post(&format!("{endpoint}/moto-api/recorder/start-recording"))
        .send_empty()
        .unwrap();
    let mut options = keep_last(keep);
    options.records_in_store = true;
    let (secs, _, report) = collect(&meta, &cas, options, false);
    ureq::post(&format!("{endpoint}/moto-api/recorder/stop-recording"))
        .send_empty()
        .unwrap();
    let after = store.list("").unwrap().len();
    let mut kinds: BTreeMap<&str, u64> = BTreeMap::new();
    let text = std::fs::read_to_string(&path).unwrap();
    for line in text.lines() {
        let r: serde_json::Value = serde_json::from_str(line).unwrap();
        let (method, url) = (r["method"].as_str().unwrap(), r["url"].as_str().unwrap());
        let kind = match method {
            "GET" if url.contains("list-type=2") => "ListObjectsV2",
            "GET" => "GetObject",
            "POST" if url.contains("delete") => "DeleteObjects",
            "HEAD" => "HeadObject",
            "PUT" => "PutObject/CopyObject",
            "DELETE" => "DeleteObject",
            _ => "other",
        };
        *kinds.entry(kind).or_default() += 1;
    }
    let total: u64 = kinds.values().sum();
    let removed = before - after;
    println!(
        "gc s3 (moto, object records), {runs} runs x {tasks} tasks, keep-last {keep}: {:.2} s; \
         removed {} runs, {removed} objects ({} blobs) of {before}; {total} requests = {:.3} \
         per object removed: {kinds:?}; load {}",
        secs,
        report.runs_removed.len(),
        report.blobs_removed,
        total as f64 / removed.max(1) as f64,
        load()
    );
}

fn which_moto() -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("moto_server").is_file()))
}

fn main() {
    if let Some(dir) = std::env::var_os(CHILD) {
        return child(&PathBuf::from(dir));
    }
    local();
    s3();
}
