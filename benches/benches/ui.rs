//! `wflow ui` against a big store (the Measure section of the UI's issue): time to first byte
//! and full load of its pages, and their weight, served on 127.0.0.1 and read with an HTTP
//! client, median of `ROUNDS` (default 11) after one warm-up.
//!
//! The store (built once into target/bench-data, ~1.1 M task records): 1,000 runs of a foreach
//! flow of 1,000 tasks each (start, 997 items, sum, end), one run of 10,000 tasks and one of
//! 100,000 whose foreach items are recorded. Pages: the runs list, filtered runs, a 10,000-task
//! run (graph, steps, timeline), the 100,000-task step (first page, last page, sorted by
//! duration, by item descending; by status, attempts and start time, a first and a deep page in
//! either direction), a task.
//!
//! Last, what the step table's status, start and attempts indexes cost per task record written
//! (`WRITE_ROUNDS`, default 3).
//!
//! `cargo bench -p wflow-benches --bench ui` (release; `--profile dev` for a quick look).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use wflow_core::{Digest, FlowSpec, StepSpec, Transition};
use wflow_metadata::{Event, Metadata, SCHEMA_VERSION, Status};
use wflow_store::{Cas, LocalDisk};

const RUNS: u64 = 1_000;
const TASKS_PER_RUN: u64 = 1_000;
/// The runs with a bigger foreach: 10,000 and 100,000 tasks.
const BIG: [u64; 2] = [10_000, 100_000];

fn env_num(k: &str, d: u64) -> u64 {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn spec() -> FlowSpec {
    let mut sum = StepSpec::new("sum", Transition::Next(vec!["end".into()]));
    sum.join = true;
    FlowSpec {
        name: "Foreach".into(),
        doc: String::new(),
        parameters: vec![],
        steps: vec![
            StepSpec::new("start", Transition::Foreach("square".into())),
            StepSpec::new("square", Transition::Next(vec!["sum".into()])),
            sum,
            StepSpec::new("end", Transition::End),
        ],
    }
}

fn run_id(r: u64) -> String {
    format!("20260101T000000-u{r:05}")
}

/// The events of one run of `items` foreach items (its items list kept in `cas`).
fn run_events(cas: &Cas, r: u64, items: u64) -> Vec<Event> {
    let id = run_id(r);
    let t0: i64 = 1_767_225_600_000 + r as i64 * 600_000;
    let mut ev = Vec::with_capacity(4 * items as usize + 20);
    ev.push(Event::RunStarted {
        run_id: id.clone(),
        flow: "Foreach".into(),
        component: Digest::of(b"the bench's component"),
        params: serde_json::json!({ "n": items }),
        spec: serde_json::to_value(spec()).unwrap(),
        started_ms: t0,
        origin_run: None,
        user: if r.is_multiple_of(3) { "ada" } else { "bob" }.into(),
        kind: Default::default(),
    });
    let task = |ev: &mut Vec<Event>, t: u64, step: &str, path: Vec<u32>, inputs: Vec<u64>| {
        let start = t0 + t as i64 * 3;
        let end = start + 2 + (t * 7919 % 97) as i64;
        ev.push(Event::TaskStarted {
            run_id: id.clone(),
            task_id: t,
            step: step.into(),
            foreach_path: path,
            inputs,
            started_ms: start,
        });
        ev.push(Event::AttemptStarted {
            run_id: id.clone(),
            task_id: t,
            attempt: 0,
            started_ms: start,
        });
        ev.push(Event::AttemptFinished {
            run_id: id.clone(),
            task_id: t,
            attempt: 0,
            status: Status::Succeeded,
            started_ms: None,
            finished_ms: end,
            error: None,
            stdout: None,
            stderr: None,
        });
        ev.push(Event::TaskFinished {
            run_id: id.clone(),
            task_id: t,
            status: Status::Succeeded,
            finished_ms: end,
            manifest: Some(Digest::of(format!("{id}/{t}").as_bytes())),
        });
    };
    task(&mut ev, 1, "start", vec![], vec![]);
    let list = ciborium::Value::Array(
        (0..items)
            .map(|i| {
                let mut b = Vec::new();
                ciborium::into_writer(
                    &serde_json::json!({ "n": i, "file": format!("part-{i:06}.csv") }),
                    &mut b,
                )
                .unwrap();
                ciborium::Value::Array(vec!["cbor".into(), ciborium::Value::Bytes(b)])
            })
            .collect(),
    );
    let mut bytes = Vec::new();
    ciborium::into_writer(&list, &mut bytes).unwrap();
    ev.push(Event::ForeachItems {
        run_id: id.clone(),
        task_id: 1,
        items: cas.put(&bytes).unwrap(),
    });
    for i in 0..items {
        task(&mut ev, 2 + i, "square", vec![i as u32], vec![1]);
    }
    let sum = 2 + items;
    task(&mut ev, sum, "sum", vec![], (2..sum).collect());
    task(&mut ev, sum + 1, "end", vec![], vec![sum]);
    ev.push(Event::RunFinished {
        run_id: id,
        status: Status::Succeeded,
        finished_ms: t0 + (items as i64 + 4) * 3 + 100,
        error: None,
    });
    ev
}

/// The store, built once.
fn store() -> PathBuf {
    let dir = root()
        .join("target")
        .join("bench-data")
        .join(format!("ui-{RUNS}x{TASKS_PER_RUN}-v{SCHEMA_VERSION}"));
    let store = dir.join("store");
    if dir.join("complete").exists() {
        return store;
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&store).unwrap();
    let cas = Cas::new(Arc::new(LocalDisk::open(&store).unwrap()));
    let meta = Metadata::open(&store.join(wflow_client::METADATA_FILE)).unwrap();
    let started = Instant::now();
    for r in 0..RUNS {
        meta.record(&run_events(&cas, r, TASKS_PER_RUN - 3))
            .unwrap();
    }
    for (i, n) in BIG.into_iter().enumerate() {
        meta.record(&run_events(&cas, RUNS + i as u64, n - 3))
            .unwrap();
    }
    drop(meta);
    std::fs::write(dir.join("complete"), "").unwrap();
    eprintln!(
        "wrote the store in {:.0} s: {}",
        started.elapsed().as_secs_f64(),
        store.display()
    );
    store
}

/// What the step table's status, start and attempts indexes (schema 10) cost per task written:
/// 10 runs of 10,000 tasks (one transaction each, as the store above is written) into a new
/// file with every index, and into one without those three (as schema 9 had), alternately,
/// `rounds` times each; the medians in µs per task.
fn write_cost(cas: &Cas, rounds: usize) -> (f64, f64) {
    let runs: Vec<Vec<Event>> = (0..10)
        .map(|r| run_events(cas, 5_000 + r, 10_000))
        .collect();
    let tasks = 10.0 * 10_003.0;
    let (mut with, mut without) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        for drop_new in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("m.sqlite");
            drop(Metadata::open(&path).unwrap());
            if drop_new {
                rusqlite::Connection::open(&path)
                    .unwrap()
                    .execute_batch(
                        "DROP INDEX tasks_by_status; DROP INDEX tasks_by_started;
                         DROP INDEX tasks_by_attempts;",
                    )
                    .unwrap();
            }
            let meta = Metadata::open(&path).unwrap();
            let t = Instant::now();
            for ev in &runs {
                meta.record(ev).unwrap();
            }
            let us = t.elapsed().as_secs_f64() * 1e6 / tasks;
            if drop_new { &mut without } else { &mut with }.push(us);
        }
    }
    (median(with), median(without))
}

/// Median of `xs`.
fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    let store = store();
    let rounds = env_num("ROUNDS", 11) as usize;
    let client = Arc::new(wflow_client::Client::open(&store).unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            wflow_ui::serve(listener, client, std::future::pending())
                .await
                .unwrap();
        });
    });
    let base = format!("http://{}", rx.recv().unwrap());
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let (r10k, r100k) = (run_id(RUNS), run_id(RUNS + 1));
    let last = BIG[1].div_ceil(100);
    let pages = [
        ("runs list".to_string(), "/".to_string()),
        (
            "runs, filtered".into(),
            "/?flow=Foreach&user=ada&from=2026-01-02&to=2026-01-04".into(),
        ),
        ("runs, page 10".into(), "/?page=10".into()),
        (
            "run of 1,000 tasks".into(),
            format!("/Foreach/{}", run_id(500)),
        ),
        ("run of 10,000 tasks".into(), format!("/Foreach/{r10k}")),
        (
            "step of 100,000 tasks".into(),
            format!("/Foreach/{r100k}/square"),
        ),
        (
            format!("  its last page ({last})"),
            format!("/Foreach/{r100k}/square?page={last}"),
        ),
        (
            "  by duration, longest first".into(),
            format!("/Foreach/{r100k}/square?sort=duration&desc=1"),
        ),
        (
            "  by item, page 500".into(),
            format!("/Foreach/{r100k}/square?sort=item&desc=1&page=500"),
        ),
        (
            "  by status".into(),
            format!("/Foreach/{r100k}/square?sort=status"),
        ),
        (
            "  by status, page 500, desc".into(),
            format!("/Foreach/{r100k}/square?sort=status&desc=1&page=500"),
        ),
        (
            "  by attempts, page 700".into(),
            format!("/Foreach/{r100k}/square?sort=attempts&page=700"),
        ),
        (
            "  by attempts, desc".into(),
            format!("/Foreach/{r100k}/square?sort=attempts&desc=1"),
        ),
        (
            "  by started, page 300".into(),
            format!("/Foreach/{r100k}/square?sort=started&page=300"),
        ),
        (
            "  by started, page 800, desc".into(),
            format!("/Foreach/{r100k}/square?sort=started&desc=1&page=800"),
        ),
        ("a task".into(), format!("/Foreach/{r100k}/square/50000")),
    ];
    println!(
        "{:<32} {:>10} {:>10} {:>10}   (median of {rounds}, ms; 1,000 runs + 110,000-task runs, {} task records)",
        "page",
        "first byte",
        "full load",
        "bytes",
        RUNS * TASKS_PER_RUN + BIG.iter().sum::<u64>()
    );
    for (name, path) in pages {
        let url = format!("{base}{path}");
        let (mut ttfb, mut full, mut size) = (Vec::new(), Vec::new(), 0);
        for round in 0..=rounds {
            let t = Instant::now();
            let mut resp = agent.get(&url).call().unwrap();
            let first = t.elapsed().as_secs_f64() * 1e3;
            let body = resp
                .body_mut()
                .with_config()
                .limit(u64::MAX)
                .read_to_vec()
                .unwrap();
            let all = t.elapsed().as_secs_f64() * 1e3;
            assert_eq!(resp.status().as_u16(), 200, "{url}");
            if round > 0 {
                ttfb.push(first);
                full.push(all);
            }
            size = body.len();
        }
        println!(
            "{name:<32} {:>10.1} {:>10.1} {size:>10}",
            median(ttfb),
            median(full)
        );
    }
    let scratch = tempfile::tempdir().unwrap();
    let cas = Cas::new(Arc::new(LocalDisk::open(scratch.path()).unwrap()));
    let (with, without) = write_cost(&cas, env_num("WRITE_ROUNDS", 3) as usize);
    println!(
        "writing 100,000 task records (10 runs): {with:.1} µs per task with every index, \
         {without:.1} without the status, start and attempts ones (medians)"
    );
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        println!("load average: {}", load.trim());
    }
}
