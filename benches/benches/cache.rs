//! The task cache (issue 15 item 2): the `foreach` example at `CACHE_N` items (default 10,000;
//! `CACHE_N + 3` tasks) run in process as `wflow run` runs it, three ways on one store — the
//! first run (every task runs, and is filed in the cache), the same run again (every task served
//! from the cache), and again with `--no-cache` (every task runs) — `ROUNDS` times (default 3,
//! a fresh store each round), on as many workers as cores. Prints each round, the medians and
//! the load average; asserts what each run did (all cached, none cached), not how fast.
//!
//! `cargo bench -p wflow-benches --bench cache` (release; `--profile dev` for a quick look).

use std::time::{Duration, Instant};

use wflow_benches::{Env, cores, engine, load, run_flow_cached, runtime};

fn env_num(k: &str, d: usize) -> usize {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument that is not this bench skips it.
    if std::env::args()
        .skip(1)
        .any(|a| !a.starts_with('-') && !"cache".contains(a.as_str()))
    {
        return;
    }
    let n = env_num("CACHE_N", 10_000);
    let rounds = env_num("ROUNDS", 3).max(1);
    let workers = cores();
    let rt = runtime(workers);
    let engine = engine(true);
    let foreach = load(&engine, "example-foreach");
    let params = [("n", n as i64)];
    let tasks = n + 3;
    println!("cache: foreach of {n} items ({tasks} tasks), {workers} workers, {rounds} rounds");
    println!("  load average before: {}", loadavg());
    let (mut first, mut cached, mut uncached) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=rounds {
        let env = Env::new();
        let timed = |cache: bool| {
            let t = Instant::now();
            let summary = run_flow_cached(&rt, &env, &foreach, &params, workers, cache);
            (t.elapsed(), summary)
        };
        let (a, s) = timed(true);
        assert_eq!(s.tasks.len(), tasks);
        assert!(
            s.tasks.iter().all(|t| !t.cached),
            "a fresh store has no cache"
        );
        let (b, s) = timed(true);
        let served = s.tasks.iter().filter(|t| t.cached).count();
        assert_eq!(
            served, tasks,
            "every task of the rerun is served from the cache"
        );
        let (c, s) = timed(false);
        assert!(
            s.tasks.iter().all(|t| !t.cached),
            "--no-cache runs every task"
        );
        println!(
            "  round {round}: first run {a:.2?}, cached rerun {b:.2?}, --no-cache {c:.2?} \
             (load {})",
            loadavg()
        );
        first.push(a);
        cached.push(b);
        uncached.push(c);
    }
    let (a, b, c) = (median(first), median(cached), median(uncached));
    println!(
        "  medians: first run {a:.2?}, cached rerun {b:.2?}, --no-cache {c:.2?}; \
         the cached rerun {:.1}x faster than --no-cache, {:.1}x than the first run",
        c.as_secs_f64() / b.as_secs_f64(),
        a.as_secs_f64() / b.as_secs_f64()
    );
    println!("  load average after: {}", loadavg());
}
