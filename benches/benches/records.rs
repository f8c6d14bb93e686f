//! Looking into a big store, and resuming a big run.
//!
//! - `inspect`: `wflow runs` and `wflow show RUN` on a store holding 1,000 runs and 1,000,000
//!   task records (and as many attempt records). The records are written straight through
//!   `wflow-metadata` (one transaction per run), not by running a million tasks, into
//!   `target/bench-data/` and kept there for the next bench run. Each command is timed twice:
//!   through `wflow-client` as the CLI calls it (opening the store included), and end to end
//!   through the release `wflow` binary (process start included) — build it first with
//!   `cargo build --release -p wflow-cli` (or point `WFLOW_BENCH_BIN` at one); without it those
//!   two are skipped. Target: < 100 ms each.
//! - `resume`: a 1,000-item foreach whose join failed, resumed with the fix (`-p fail=false`):
//!   the time from the start of the resume (reading the origin's records included) to the join
//!   task starting, in process and end to end through the release binary. Target: < 1 s.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use wflow_benches::{Env, cores, engine, guest, load, root, runtime};
use wflow_client::{Client, RunFilter};
use wflow_core::{Digest, RunId, now_millis};
use wflow_engine::FlowComponent;
use wflow_metadata::{Event, Metadata, SCHEMA_VERSION, Status};
use wflow_scheduler::{
    Code, Resume, ResumeHow, RunEvent, RunOptions, RunSummary, resume_flow, resume_params,
};
use wflow_store::LocalDisk;

const RUNS: u64 = 1_000;
const TASKS_PER_RUN: u64 = 1_000;
/// Every this many runs, one failed at its join (with a multi-line error).
const FAILED_EVERY: u64 = 7;
/// The run `show` is timed on (neither the newest nor the oldest).
const SHOWN_RUN: u64 = 500;

fn run_id(r: u64) -> String {
    format!("20260101T000000-b{r:04}")
}

/// A store with [`RUNS`] runs of the `Foreach` example's graph, each of [`TASKS_PER_RUN`] tasks
/// (start, 997 foreach items, sum, end; a failed run has one more item and no end), built once.
fn big_store(foreach: &FlowComponent) -> PathBuf {
    let dir = root()
        .join("target")
        .join("bench-data")
        .join(format!("records-{RUNS}x{TASKS_PER_RUN}-v{SCHEMA_VERSION}"));
    let store = dir.join("store");
    if dir.join("complete").exists() {
        return store;
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&store).unwrap();
    LocalDisk::open(&store).expect("store");
    let meta = Metadata::open(&store.join(wflow_client::METADATA_FILE)).expect("metadata");
    let spec = serde_json::to_value(foreach.spec()).unwrap();
    let started = Instant::now();
    let base_ms: i64 = 1_767_225_600_000; // 2026-01-01
    for r in 0..RUNS {
        let id = run_id(r);
        let failed = r % FAILED_EVERY == FAILED_EVERY - 1;
        let t0 = base_ms + r as i64 * 600_000;
        let mut events = Vec::with_capacity(4 * TASKS_PER_RUN as usize + 2);
        events.push(Event::RunStarted {
            run_id: id.clone(),
            flow: "Foreach".into(),
            component: foreach.digest(),
            params: serde_json::json!({ "n": TASKS_PER_RUN - 3 }),
            spec: spec.clone(),
            started_ms: t0,
            origin_run: None,
            user: "bench".into(),
            kind: Default::default(),
        });
        let items = if failed {
            TASKS_PER_RUN - 2
        } else {
            TASKS_PER_RUN - 3
        };
        let task = |events: &mut Vec<Event>,
                    task_id: u64,
                    step: &str,
                    path: Vec<u32>,
                    inputs: Vec<u64>,
                    ok: bool| {
            let start = t0 + task_id as i64 * 3;
            let end = start + 2 + (task_id % 5) as i64;
            events.push(Event::TaskStarted {
                run_id: id.clone(),
                task_id,
                step: step.into(),
                foreach_path: path,
                inputs,
                started_ms: start,
            });
            events.push(Event::AttemptStarted {
                run_id: id.clone(),
                task_id,
                attempt: 0,
                started_ms: start,
            });
            let status = if ok {
                Status::Succeeded
            } else {
                Status::Failed
            };
            events.push(Event::AttemptFinished {
                run_id: id.clone(),
                task_id,
                attempt: 0,
                status,
                started_ms: None,
                finished_ms: end,
                error: (!ok).then(|| {
                    "the step trapped: wasm trap: wasm `unreachable` instruction executed\n\
                     error while executing at wasm backtrace:\n    0: 0x19cd - sum"
                        .to_string()
                }),
                stdout: task_id
                    .is_multiple_of(3)
                    .then(|| Digest::of(&task_id.to_le_bytes())),
                stderr: None,
            });
            events.push(Event::TaskFinished {
                run_id: id.clone(),
                task_id,
                status,
                finished_ms: end,
                manifest: ok.then(|| Digest::of(format!("{id}/{task_id}").as_bytes())),
            });
        };
        task(&mut events, 1, "start", vec![], vec![], true);
        for i in 0..items {
            task(&mut events, 2 + i, "square", vec![i as u32], vec![1], true);
        }
        let sum = 2 + items;
        task(&mut events, sum, "sum", vec![], (2..sum).collect(), !failed);
        if !failed {
            task(&mut events, sum + 1, "end", vec![], vec![sum], true);
        }
        let end_ms = t0 + TASKS_PER_RUN as i64 * 3 + 10;
        events.push(Event::RunFinished {
            run_id: id.clone(),
            status: if failed {
                Status::Failed
            } else {
                Status::Succeeded
            },
            finished_ms: end_ms,
            error: failed.then(|| format!("Foreach/{id}/sum/{sum}: the step trapped")),
        });
        meta.record(&events).expect("recording a run");
        if r % 10 == 0 {
            meta.add_tags(&id, &["nightly".to_string()]).unwrap();
        }
    }
    let tasks = count_tasks(&meta);
    assert!(
        tasks >= (RUNS * TASKS_PER_RUN) as i64,
        "{tasks} task records"
    );
    drop(meta);
    std::fs::write(dir.join("complete"), format!("{tasks} tasks\n")).unwrap();
    eprintln!(
        "wrote {RUNS} runs and {tasks} task records to {} in {:.1} s",
        store.display(),
        started.elapsed().as_secs_f64()
    );
    store
}

/// How many task records there are (through the API: one run's step stats at a time).
fn count_tasks(meta: &Metadata) -> i64 {
    (0..RUNS)
        .map(|r| {
            meta.step_stats(&run_id(r))
                .unwrap()
                .iter()
                .map(|s| s.tasks as i64)
                .sum::<i64>()
        })
        .sum()
}

/// The release `wflow` binary, if built.
fn release_wflow() -> Option<PathBuf> {
    let bin = std::env::var_os("WFLOW_BENCH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target").join("release").join("wflow"));
    if bin.is_file() {
        Some(bin)
    } else {
        eprintln!(
            "{} is not built: the end-to-end CLI benches are skipped \
             (cargo build --release -p wflow-cli)",
            bin.display()
        );
        None
    }
}

/// `wflow ARGS` on `store`; panics unless it succeeds.
fn wflow(bin: &Path, store: &Path, cache: &Path, args: &[&str]) {
    let out = Command::new(bin)
        .args(args)
        .env("WFLOW_STORE", store)
        .env("WFLOW_CACHE_DIR", cache)
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("wflow runs");
    assert!(
        out.status.success(),
        "wflow {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn inspect(c: &mut Criterion) {
    let engine = engine(false);
    let foreach = load(&engine, "example-foreach");
    let store = big_store(&foreach);
    let shown = format!("Foreach/{}", run_id(SHOWN_RUN));
    let mut g = c.benchmark_group("inspect_1000_runs_1m_tasks");

    // What `wflow runs` does: open the store, the newest 50 runs (without their specs) with
    // their tags, and how many there are in all.
    g.bench_function("client_runs", |b| {
        b.iter(|| {
            let client = Client::open(&store).unwrap();
            let filter = RunFilter {
                limit: Some(50),
                skip_spec: true,
                ..RunFilter::default()
            };
            let runs = client.runs(&filter).unwrap();
            assert_eq!(runs.len(), 50);
            let total = client
                .metadata()
                .count_runs(&RunFilter {
                    limit: None,
                    ..filter
                })
                .unwrap();
            assert_eq!(total, RUNS);
        })
    });
    // What `wflow show Flow/run` does: open the store, resolve the pathspec, the run's steps in
    // graph order with what their tasks add up to.
    let show = |pathspec: &str| {
        let client = Client::open(&store).unwrap();
        let run = client.run(pathspec).unwrap();
        let steps = run.steps().unwrap();
        let plan = run.plan().unwrap();
        assert_eq!(steps.len(), plan.steps_in_order().len());
        assert_eq!(
            steps.iter().map(|s| s.stats().tasks).sum::<u64>(),
            TASKS_PER_RUN
        );
    };
    g.bench_function("client_show_run", |b| b.iter(|| show(&shown)));
    g.bench_function("client_show_latest", |b| b.iter(|| show("Foreach/latest")));
    // `wflow show Flow/run/square`: a step of 997 tasks (the first 100 listed).
    g.bench_function("client_show_step_997_tasks", |b| {
        b.iter(|| {
            let client = Client::open(&store).unwrap();
            let step = client.step(&format!("{shown}/square")).unwrap();
            assert_eq!(step.tasks().unwrap().len(), 997);
        })
    });

    if let Some(bin) = release_wflow() {
        let cache = tempfile::tempdir().unwrap();
        g.bench_function("cli_runs", |b| {
            b.iter(|| wflow(&bin, &store, cache.path(), &["runs"]))
        });
        g.bench_function("cli_show_run", |b| {
            b.iter(|| wflow(&bin, &store, cache.path(), &["show", &shown]))
        });
        g.bench_function("cli_show_run_json", |b| {
            b.iter(|| wflow(&bin, &store, cache.path(), &["show", "--json", &shown]))
        });
    }
    g.finish();
}

/// A run of `component` in process (as `wflow run` does it), with parameters as text; the
/// run may fail.
fn run_any(
    rt: &tokio::runtime::Runtime,
    env: &Env,
    component: &FlowComponent,
    params: &[(&str, &str)],
    resume: Option<&mut Resume>,
    observer: wflow_scheduler::Observer,
) -> RunSummary {
    let plan = wflow_graph::validate(component.spec()).expect("a valid graph");
    let given: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let params = match &resume {
        Some(r) => resume_params(plan.spec(), &r.origin().params, &given),
        None => wflow_core::resolve_params(&plan.spec().parameters, &given),
    }
    .expect("valid parameters");
    let opts = RunOptions {
        tags: Vec::new(),
        components: plan
            .spec()
            .steps
            .iter()
            .map(|s| (s.name.clone(), component.clone()))
            .collect(),
        code_digest: component.digest(),
        plan,
        params,
        cas: env.cas.clone(),
        recorder: env.recorder.clone(),
        max_workers: cores(),
        observer,
        user: "bench".into(),
        run_id: RunId::generate(),
        sandboxes: Default::default(),
        max_tasks: u64::MAX,
        compute: Default::default(),
        live_logs: None,
        cache: false,
    };
    let summary = match resume {
        Some(r) => rt.block_on(resume_flow(opts, r)),
        None => rt.block_on(wflow_scheduler::run_flow(opts)),
    }
    .expect("the run is carried out");
    env.recorder.flush().unwrap();
    summary
}

fn resume(c: &mut Criterion) {
    let rt = runtime(cores());
    let engine = engine(true);
    let env = Env::new();
    let fanout = load(&engine, "compare-fanout");
    // The origin: 1,000 items squared, then the join fails on purpose.
    let origin = run_any(
        &rt,
        &env,
        &fanout,
        &[("n", "1000"), ("fail", "true")],
        None,
        Arc::new(|_| {}),
    );
    assert_eq!(origin.status, Status::Failed);
    assert!(origin.failure.as_ref().unwrap().pathspec.contains("/join/"));
    let meta = env.recorder.metadata().clone();
    let mut g = c.benchmark_group("resume");
    g.sample_size(10).measurement_time(Duration::from_secs(20));

    // In process, as `wflow resume` does it after loading the component: read the origin's
    // records, plan what to reuse, run; stop the clock when the join starts.
    g.bench_function("foreach_1000_join_failed_to_join_start", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t0 = Instant::now();
                let record = meta.run(&origin.run_id).unwrap().unwrap();
                let tasks = meta.tasks(&origin.run_id).unwrap();
                let plan = wflow_graph::validate(fanout.spec()).unwrap();
                let code = Code::single(fanout.digest(), plan.steps_in_order());
                let how = ResumeHow::default();
                let mut resume =
                    Resume::plan(record, tasks, plan, &code, code.clone(), &how).unwrap();
                let join_at: Arc<Mutex<Option<Instant>>> = Arc::default();
                let seen = join_at.clone();
                let observer = Arc::new(move |e: RunEvent| {
                    if let RunEvent::TaskStarted { step: "join", .. } = e {
                        seen.lock().unwrap().get_or_insert_with(Instant::now);
                    }
                });
                let s = run_any(
                    &rt,
                    &env,
                    &fanout,
                    &[("fail", "false")],
                    Some(&mut resume),
                    observer,
                );
                assert_eq!(s.status, Status::Succeeded, "{:?}", s.failure);
                assert_eq!(resume.report().reused.len(), 1001, "start and the items");
                total += join_at.lock().unwrap().expect("the join ran") - t0;
            }
            total
        })
    });

    // End to end: `wflow resume RUN -p fail=false` through the release binary (process start,
    // opening the store, the component from the compile cache). The join's start is read from
    // its record (millisecond resolution).
    if let Some(bin) = release_wflow() {
        env.cas
            .put(&std::fs::read(guest("compare-fanout")).unwrap())
            .unwrap();
        let store = env.store_root();
        let cache = tempfile::tempdir().unwrap();
        let origin_path = format!("Fanout/{}", origin.run_id);
        let args = ["resume", origin_path.as_str(), "-p", "fail=false"];
        // Compiles the component into the cache once.
        wflow(&bin, &store, cache.path(), &args);
        g.bench_function("cli_foreach_1000_join_failed_to_join_start", |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let t0 = now_millis();
                    wflow(&bin, &store, cache.path(), &args);
                    let client = Client::open(&store).unwrap();
                    let run = client.run("Fanout/latest").unwrap();
                    assert_eq!(run.origin_run(), Some(origin.run_id.as_str()));
                    let join = client
                        .step(&format!("{}/join", run.pathspec()))
                        .unwrap()
                        .task()
                        .unwrap();
                    total += Duration::from_millis((join.record().started_ms - t0) as u64);
                }
                total
            })
        });
    }
    g.finish();
}

criterion_group!(benches, inspect, resume);
criterion_main!(benches);
