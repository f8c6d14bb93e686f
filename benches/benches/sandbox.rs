//! What the sandbox's instrumentation costs on compute-bound steps: epoch interruption (how
//! timeouts are enforced; always on in `wflow run`) and fuel metering (on when the policy sets a
//! CPU budget), each against an engine with neither.
//!
//! The guest is `test-programs/compute`: `loops` (a tight loop over a small table: a check on
//! every back edge) and `calls` (naive recursive Fibonacci: a check on every call), each sized to
//! run for tens of milliseconds so the task's fixed cost does not matter, and `start`, a trivial
//! step, for the per-task cost under each setting.
//!
//! Times are the CPU time of the thread that runs the task (the guest runs on it), not wall time:
//! on a shared machine other processes' load would otherwise swamp differences of a few percent.
//! Criterion measures each (kernel, setting) on its own; because load still drifts between those
//! measurements, the bench then runs the settings round-robin (one task of each per round) and
//! prints, per kernel, each setting's median, the median of its per-round ratio to `none` (the
//! figure to quote) and the median wall time. `cargo bench -p wflow-benches --bench sandbox`.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use wflow_benches::{Env, guest_target, root, run_ok, task_input};
use wflow_engine::{Engine, EngineConfig, FlowComponent};

/// The engine settings compared: (name, epoch interruption, fuel).
const SETTINGS: [(&str, bool, bool); 4] = [
    ("none", false, false),
    ("epoch", true, false),
    ("fuel", false, true),
    ("epoch+fuel", true, true),
];

/// The steps measured: (step, value of `n`).
const KERNELS: [(&str, i64); 3] = [("loops", 20_000_000), ("calls", 30), ("start", 0)];

/// Rounds of the round-robin comparison.
const ROUNDS: usize = 25;

/// The compute guest, built once per process (release, wasm32-wasip2, next to the other bench
/// guests).
fn guest() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let out = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .current_dir(root())
            .args([
                "build",
                "--release",
                "--target",
                "wasm32-wasip2",
                "-p",
                "test-program-compute",
            ])
            .env("CARGO_TARGET_DIR", guest_target())
            .output()
            .expect("cargo runs");
        assert!(
            out.status.success(),
            "building test-program-compute failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        guest_target().join("wasm32-wasip2/release/test_program_compute.wasm")
    })
    .clone()
}

/// The guest loaded into an engine with the given setting.
fn flow(epoch_interruption: bool, fuel: bool) -> FlowComponent {
    let engine = Engine::new(EngineConfig {
        epoch_interruption,
        fuel,
        ..EngineConfig::default()
    })
    .expect("engine");
    engine.load_file(&guest()).expect("the compute guest loads")
}

/// CPU time of the calling thread, which runs the guest: unlike wall time, it does not count the
/// time other processes of a busy machine hold the core.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant the kernel knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// One task of `step` with `n`; returns its (thread CPU, wall) time.
fn run(flow: &FlowComponent, env: &Env, step: &str, n: i64) -> (Duration, Duration) {
    let input = task_input(flow, "sandbox", step, 1, &[("n", n)], vec![]);
    let (cpu, wall) = (thread_cpu(), Instant::now());
    run_ok(flow, input, &env.cas);
    (thread_cpu() - cpu, wall.elapsed())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

fn sandbox(c: &mut Criterion) {
    let env = Env::new();
    let flows: Vec<(&str, FlowComponent)> = SETTINGS
        .iter()
        .map(|&(name, epoch, fuel)| (name, flow(epoch, fuel)))
        .collect();

    for (step, n) in KERNELS {
        let mut g = c.benchmark_group(format!("sandbox/{step}"));
        if step != "start" {
            g.sample_size(10).measurement_time(Duration::from_secs(8));
        }
        for (name, flow) in &flows {
            g.bench_function(*name, |b| {
                b.iter_custom(|iters| (0..iters).map(|_| run(flow, &env, step, n).0).sum())
            });
        }
        g.finish();
    }

    // Round-robin: one task per setting per round, in a rotating order.
    println!(
        "\nsandbox overhead, {ROUNDS} rounds round-robin: median thread CPU time per task, the median of \
         its per-round ratio to `none`, and the median wall time"
    );
    for (step, n) in KERNELS {
        let reps = if step == "start" { 2000 } else { 1 };
        let mut cpu = vec![Vec::new(); flows.len()];
        let mut wall = vec![Vec::new(); flows.len()];
        for round in 0..ROUNDS {
            for k in 0..flows.len() {
                let i = (round + k) % flows.len();
                let (c, w) = (0..reps)
                    .map(|_| run(&flows[i].1, &env, step, n))
                    .fold((Duration::ZERO, Duration::ZERO), |(a, b), (c, w)| {
                        (a + c, b + w)
                    });
                cpu[i].push(c.as_secs_f64() / reps as f64);
                wall[i].push(w.as_secs_f64() / reps as f64);
            }
        }
        for (i, (name, _)) in flows.iter().enumerate() {
            let mut ratios: Vec<f64> = cpu[i]
                .iter()
                .zip(&cpu[0])
                .map(|(t, base)| t / base)
                .collect();
            let ratio = median(&mut ratios);
            println!(
                "  {step:<6} n={n:<9} {name:<11} cpu {:>10}  x{ratio:.3} ({:+5.1}%)  wall {:>10}",
                shown(median(&mut cpu[i].clone())),
                (ratio - 1.0) * 100.0,
                shown(median(&mut wall[i].clone())),
            );
        }
    }
}

fn shown(secs: f64) -> String {
    if secs < 1e-3 {
        format!("{:.1} µs", secs * 1e6)
    } else {
        format!("{:.2} ms", secs * 1e3)
    }
}

criterion_group!(benches, sandbox);
criterion_main!(benches);
