//! What the criterion benches in `benches/benches/` share: the guest components they need (built
//! once per bench process with cargo, into `target/bench-guests`), a temporary store with its
//! metadata file, one task run through the engine as the scheduler would, and a whole run in
//! process.
//!
//! Run a bench with `cargo bench -p wflow-benches --bench NAME` (`task`, `artifacts`, `store`,
//! `graph`, `flows`, `sandbox`, `records`). The side-by-side comparison with Metaflow is `benches/compare/run.sh`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use wflow_core::{ParamValue, RunId, now_millis};
use wflow_engine::{Engine, EngineConfig, FlowComponent, InputArtifacts, TaskInput, TaskOutcome};
use wflow_metadata::{Event, Metadata, Recorder, Status};
use wflow_scheduler::{RunOptions, RunSummary};
use wflow_store::{ArtifactRef, Cas, LocalDisk, Manifest};

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Where the benches build their guests (apart from the target dir cargo bench uses).
pub fn guest_target() -> PathBuf {
    root().join("target").join("bench-guests")
}

/// Guest packages the benches use.
const GUESTS: &[&str] = &[
    "bench-guest",
    "example-hello",
    "example-foreach",
    "compare-fanout",
];

/// Path of a guest component by package name (`example-hello`); the first call builds them all
/// (`cargo build --release --target wasm32-wasip2`).
pub fn guest(package: &str) -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    assert!(GUESTS.contains(&package), "{package} is not in GUESTS");
    let dir = DIR.get_or_init(|| {
        let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        cmd.current_dir(root())
            .args(["build", "--release", "--target", "wasm32-wasip2"])
            .env("CARGO_TARGET_DIR", guest_target());
        for p in GUESTS {
            cmd.args(["-p", p]);
        }
        let out = cmd.output().expect("cargo runs");
        assert!(
            out.status.success(),
            "building the bench guests failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        guest_target().join("wasm32-wasip2").join("release")
    });
    dir.join(package.replace('-', "_") + ".wasm")
}

/// An engine as `wflow run` builds it (pooling on or off), without a compile cache.
pub fn engine(pooling: bool) -> Engine {
    Engine::new(EngineConfig {
        pooling,
        cache_dir: None,
        ..EngineConfig::default()
    })
    .expect("engine")
}

/// Loads a guest component (compiling it) into `engine`.
pub fn load(engine: &Engine, package: &str) -> FlowComponent {
    engine.load_file(&guest(package)).expect("the guest loads")
}

/// A temporary store (`LocalDisk`) with its metadata file and a recorder, as `wflow run` opens them.
pub struct Env {
    /// The temporary directory holding both.
    pub dir: tempfile::TempDir,
    /// The content-addressed store.
    pub cas: Arc<Cas>,
    /// The records.
    pub recorder: Arc<Recorder>,
}

impl Env {
    /// A fresh store and metadata file under the system's temporary directory.
    pub fn new() -> Env {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = dir.path().join("store");
        let cas = Arc::new(Cas::new(Arc::new(LocalDisk::open(&store).expect("store"))));
        let meta = Arc::new(Metadata::open(&store.join("metadata.sqlite")).expect("metadata"));
        Env {
            dir,
            cas,
            recorder: Arc::new(Recorder::new(meta)),
        }
    }

    /// The store's root directory.
    pub fn store_root(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    /// Deletes a blob file (to write the same size again without deduplication or a full disk).
    pub fn remove_blob(&self, r: &ArtifactRef) {
        if r.inline.is_none() {
            let _ = std::fs::remove_file(self.store_root().join(Cas::blob_key(&r.digest)));
        }
    }

    /// Records a run as started, so tasks can be recorded under it.
    pub fn start_run(&self, component: &FlowComponent, run_id: &str) {
        self.recorder.send(Event::RunStarted {
            run_id: run_id.into(),
            flow: component.spec().name.clone(),
            component: component.digest(),
            params: serde_json::Value::Null,
            spec: serde_json::Value::Null,
            started_ms: now_millis(),
            origin_run: None,
            user: "bench".into(),
            kind: Default::default(),
        });
    }
}

impl Default for Env {
    fn default() -> Self {
        Env::new()
    }
}

/// A task input for `step` of `component` with integer parameters and the given inputs.
pub fn task_input(
    component: &FlowComponent,
    run_id: &str,
    step: &str,
    task_id: u64,
    params: &[(&str, i64)],
    inputs: Vec<InputArtifacts>,
) -> TaskInput {
    let params: BTreeMap<String, ParamValue> = params
        .iter()
        .map(|(k, v)| (k.to_string(), ParamValue::Int(*v)))
        .collect();
    TaskInput {
        task_id,
        params: Arc::new(params),
        inputs,
        ..TaskInput::new(component.spec().name.clone(), run_id, step)
    }
}

/// One input carrying `artifacts`, as if produced by step `step`.
pub fn input(step: &str, artifacts: BTreeMap<String, ArtifactRef>) -> InputArtifacts {
    InputArtifacts {
        step: step.into(),
        artifacts: artifacts.into(),
    }
}

/// Runs one task and panics unless it succeeded.
pub fn run_ok(component: &FlowComponent, input: TaskInput, cas: &Arc<Cas>) -> TaskOutcome {
    let out = component.run_task(input, cas.clone());
    if let Err(e) = &out.result {
        panic!(
            "the task failed: {e}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

/// One task the way the scheduler executes it: records, a fresh instance, the run, its logs and
/// manifest persisted, records again. Returns the manifest's digest.
pub fn run_and_persist(
    env: &Env,
    component: &FlowComponent,
    input: TaskInput,
) -> wflow_store::Digest {
    let (run_id, task_id) = (input.run_id.clone(), input.task_id);
    let r = &env.recorder;
    r.send(Event::TaskStarted {
        run_id: run_id.clone(),
        task_id,
        step: input.step.clone(),
        foreach_path: input.foreach_path.clone(),
        inputs: vec![],
        started_ms: now_millis(),
    });
    r.send(Event::AttemptStarted {
        run_id: run_id.clone(),
        task_id,
        attempt: 0,
        started_ms: now_millis(),
    });
    let out = run_ok(component, input, &env.cas);
    let log = |b: &[u8]| {
        if b.is_empty() {
            None
        } else {
            env.cas.put(b).ok()
        }
    };
    r.send(Event::AttemptFinished {
        run_id: run_id.clone(),
        task_id,
        attempt: 0,
        status: Status::Succeeded,
        started_ms: None,
        finished_ms: now_millis(),
        error: None,
        stdout: log(&out.stdout),
        stderr: log(&out.stderr),
    });
    let manifest = Manifest {
        version: wflow_store::MANIFEST_VERSION,
        artifacts: out.artifacts.to_map(),
    };
    let digest = env.cas.put_manifest(&manifest).expect("manifest");
    r.send(Event::TaskFinished {
        run_id,
        task_id,
        status: Status::Succeeded,
        finished_ms: now_millis(),
        manifest: Some(digest),
    });
    digest
}

/// A run id unique within this process.
pub fn run_id() -> RunId {
    static N: AtomicU64 = AtomicU64::new(0);
    RunId(format!(
        "bench-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

/// A whole run of `component` in process, as `wflow run` does it (minus the CLI): validate,
/// resolve the parameters (integers given, defaults for the rest), run every task on `workers` blocking threads, record everything. Panics unless it succeeds.
pub fn run_flow(
    rt: &tokio::runtime::Runtime,
    env: &Env,
    component: &FlowComponent,
    params: &[(&str, i64)],
    workers: usize,
) -> RunSummary {
    run_flow_cached(rt, env, component, params, workers, false)
}

/// [`run_flow`] with the task cache on or off (`wflow run` and `wflow run --no-cache`): every
/// step in a sandbox that grants nothing, as the default policy gives, so pure steps may be
/// served from the cache when `cache` is on.
pub fn run_flow_cached(
    rt: &tokio::runtime::Runtime,
    env: &Env,
    component: &FlowComponent,
    params: &[(&str, i64)],
    workers: usize,
    cache: bool,
) -> RunSummary {
    let plan = wflow_graph::validate(component.spec()).expect("a valid graph");
    let given: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let params =
        wflow_core::resolve_params(&plan.spec().parameters, &given).expect("valid parameters");
    let sandboxes = plan
        .spec()
        .steps
        .iter()
        .map(|s| (s.name.clone(), Arc::new(wflow_core::Sandbox::default())))
        .collect();
    let summary = rt
        .block_on(wflow_scheduler::run_flow(RunOptions {
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
            max_workers: workers,
            observer: Arc::new(|_| {}),
            user: "bench".into(),
            run_id: run_id(),
            sandboxes,
            max_tasks: u64::MAX,
            live_logs: None,
            compute: Default::default(),
            cache,
        }))
        .expect("the run is carried out");
    assert_eq!(
        summary.status,
        Status::Succeeded,
        "the run failed: {:?}",
        summary.failure
    );
    summary
}

/// A tokio runtime like the CLI's: one async thread, `workers` blocking threads.
pub fn runtime(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(workers)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Number of CPU cores (the CLI's default `--max-workers`).
pub fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
}
