//! The metadata service (`wflow server`) under load, on loopback, against a throwaway PostgreSQL
//! cluster. Not criterion: it prints figures.
//!
//! 1. Write: one driver records a run of `WRITE_TASKS` tasks (4 events each) through a
//!    `Recorder` over `HttpMetadata` (batched): task records per second.
//! 2. Fill: the database is brought to `TOTAL_TASKS` task records (1,000 runs of 1,000 tasks,
//!    inserted with SQL).
//! 3. Read: `CLIENTS` concurrent clients for `READ_SECS` seconds, each alternating "list one page
//!    of a run's tasks" (`GET /api/v1/runs/R/tasks?limit=100`) and "fetch one task": p50/p99.
//! 4. The service's RSS at rest (before and after the load).
//!
//! `cargo bench -p wflow-benches --bench server` (env: WRITE_TASKS, TOTAL_TASKS, CLIENTS,
//! READ_SECS, PAGE). The service runs in a child process (this binary re-executed), so its RSS is
//! its own.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wflow_core::Digest;
use wflow_metadata::{Event, Recorder, Status};
use wflow_server::testing::TestPostgres;
use wflow_server::wire::{PROTOCOL_HEADER, PROTOCOL_VERSION};
use wflow_server::{HttpMetadata, ServerConfig};

fn env_num(k: &str, d: u64) -> u64 {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn serve(db: String) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(wflow_server::serve(
        ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            database: db,
            heartbeat_timeout: Duration::from_secs(600),
            token_cache: ServerConfig::DEFAULT_TOKEN_CACHE,
            pool_size: 16,
        },
        |addr, _| {
            use std::io::Write;
            println!("http://{addr}");
            std::io::stdout().flush().unwrap();
        },
        std::future::pending(),
    ))
    .unwrap();
}

fn main() {
    if let Ok(db) = std::env::var("WFLOW_BENCH_SERVE") {
        return serve(db);
    }
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let write_tasks = env_num("WRITE_TASKS", 100_000);
    let total_tasks = env_num("TOTAL_TASKS", 1_000_000);
    let clients = env_num("CLIENTS", 50) as usize;
    let read_secs = env_num("READ_SECS", 20);
    let page = env_num("PAGE", 100);

    let pg = TestPostgres::start();
    let db = pg.new_database("bench");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env("WFLOW_BENCH_SERVE", &db)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut url = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut url)
        .unwrap();
    let url = url.trim().to_string();
    let pid = child.id();
    std::thread::sleep(Duration::from_secs(1));
    println!(
        "service {url} (pid {pid}); RSS at rest after start: {} KiB",
        rss_kb(pid)
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let token = rt
        .block_on(wflow_server::create_token(&db, "bench", false))
        .unwrap();

    // 1. Write throughput through the Recorder (batched), one driver.
    let meta = Arc::new(HttpMetadata::new(&url, Some(token.clone())));
    let recorder = Recorder::new(meta.clone());
    let t0 = Instant::now();
    recorder.send(Event::RunStarted {
        run_id: "W".into(),
        flow: "Write".into(),
        component: Digest::of(b"c"),
        params: serde_json::json!({}),
        spec: serde_json::json!({}),
        started_ms: 0,
        origin_run: None,
        user: "bench".into(),
        kind: Default::default(),
    });
    let manifest = Some(Digest::of(b"m"));
    for i in 0..write_tasks {
        let run_id = || "W".to_string();
        recorder.send(Event::TaskStarted {
            run_id: run_id(),
            task_id: i,
            step: "work".into(),
            foreach_path: vec![i as u32],
            inputs: vec![0],
            started_ms: 1,
        });
        recorder.send(Event::AttemptStarted {
            run_id: run_id(),
            task_id: i,
            attempt: 0,
            started_ms: 1,
        });
        recorder.send(Event::AttemptFinished {
            run_id: run_id(),
            task_id: i,
            attempt: 0,
            status: Status::Succeeded,
            started_ms: None,
            finished_ms: 2,
            error: None,
            stdout: manifest,
            stderr: None,
        });
        recorder.send(Event::TaskFinished {
            run_id: run_id(),
            task_id: i,
            status: Status::Succeeded,
            finished_ms: 2,
            manifest,
        });
    }
    let batches_before = recorder.batches();
    recorder.close().unwrap();
    let took = t0.elapsed();
    println!(
        "write: {write_tasks} tasks ({} events) in {:.2} s = {:.0} task records/s, {:.0} events/s ({}+ batches)",
        write_tasks * 4 + 1,
        took.as_secs_f64(),
        write_tasks as f64 / took.as_secs_f64(),
        (write_tasks * 4 + 1) as f64 / took.as_secs_f64(),
        batches_before
    );

    // 2. Fill to TOTAL_TASKS with SQL.
    let name = db.rsplit('/').next().unwrap();
    let rest = total_tasks.saturating_sub(write_tasks);
    let runs = rest.div_ceil(1000).max(1);
    let t0 = Instant::now();
    pg.psql(
        name,
        &format!(
            "INSERT INTO runs (run_id, flow, component, params, spec, status, started_ms, finished_ms, user_name, heartbeat_ms)
             SELECT 'R' || r, 'Fill', repeat('ab', 32), '{{}}', '{{}}', 'succeeded', r, r + 1, 'bench', 0
             FROM generate_series(1, {runs}) r;
             INSERT INTO tasks (run_id, task_id, step, foreach_path, inputs, status, started_ms, finished_ms, manifest, attempts, item_key)
             SELECT 'R' || r, t, 'work', '[' || t || ']', '[0]', 'succeeded', 1, 2, repeat('cd', 32), 1, lpad(to_hex(t), 8, '0')
             FROM generate_series(1, {runs}) r, generate_series(1, 1000) t;
             INSERT INTO step_summary (run_id, step, tasks, succeeded, failed, running, reused, cached, caught, attempts, first_started_ms, last_finished_ms, task_ms, max_task_ms)
             SELECT 'R' || r, 'work', 1000, 1000, 0, 0, 0, 0, 0, 1000, 1, 2, 1000, 1
             FROM generate_series(1, {runs}) r;
             ANALYZE;"
        ),
    );
    let count = pg.psql(name, "SELECT count(*) FROM tasks");
    println!(
        "fill: {} task records in the database ({:.1} s)",
        count.trim(),
        t0.elapsed().as_secs_f64()
    );
    std::thread::sleep(Duration::from_secs(2));
    println!("RSS at rest before the read load: {} KiB", rss_kb(pid));

    // 3. Read latency under CLIENTS concurrent clients.
    let deadline = Instant::now() + Duration::from_secs(read_secs);
    let handles: Vec<_> = (0..clients)
        .map(|c| {
            let (url, token) = (url.clone(), token.clone());
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(true)
                    .build()
                    .into();
                let mut list = Vec::new();
                let mut one = Vec::new();
                let mut x: u64 = 0x9E3779B97F4A7C15 ^ (c as u64 + 1);
                let mut rnd = move || {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x
                };
                while Instant::now() < deadline {
                    let run = 1 + rnd() % runs;
                    let t = Instant::now();
                    let mut r = agent
                        .get(&format!(
                            "{url}/api/v1/runs/R{run}/tasks?limit={page}&after={}",
                            rnd() % 900
                        ))
                        .header(PROTOCOL_HEADER, PROTOCOL_VERSION.to_string())
                        .header("authorization", format!("Bearer {token}"))
                        .call()
                        .unwrap();
                    let _ = r.body_mut().read_to_vec().unwrap();
                    list.push(t.elapsed());
                    let t = Instant::now();
                    let mut r = agent
                        .get(&format!(
                            "{url}/api/v1/runs/R{run}/tasks/{}",
                            1 + rnd() % 1000
                        ))
                        .header(PROTOCOL_HEADER, PROTOCOL_VERSION.to_string())
                        .header("authorization", format!("Bearer {token}"))
                        .call()
                        .unwrap();
                    let _ = r.body_mut().read_to_vec().unwrap();
                    one.push(t.elapsed());
                }
                (list, one)
            })
        })
        .collect();
    let (mut list, mut one) = (Vec::new(), Vec::new());
    for h in handles {
        let (l, o) = h.join().unwrap();
        list.extend(l);
        one.extend(o);
    }
    let pct = |v: &mut Vec<Duration>, p: f64| -> f64 {
        v.sort_unstable();
        v[((v.len() as f64 * p) as usize).min(v.len() - 1)].as_secs_f64() * 1000.0
    };
    println!(
        "read, {clients} clients, {read_secs} s: list a page of {page} tasks: n={} p50={:.2} ms p99={:.2} ms; \
         fetch one task: n={} p50={:.2} ms p99={:.2} ms; {:.0} requests/s",
        list.len(),
        pct(&mut list, 0.50),
        pct(&mut list, 0.99),
        one.len(),
        pct(&mut one, 0.50),
        pct(&mut one, 0.99),
        (list.len() + one.len()) as f64 / read_secs as f64
    );
    std::thread::sleep(Duration::from_secs(3));
    println!("RSS at rest after the load: {} KiB", rss_kb(pid));
    let _ = child.kill();
    let _ = child.wait();
}
