//! Fills a store with synthetic runs, recorded through `wflow-metadata`'s `Recorder` exactly as
//! the scheduler records them, for measuring `wflow runs` and `wflow show` at scale.
//!
//! ```sh
//! cargo run --release -p wflow-client --example gen_store -- DIR [RUNS] [TASKS_PER_RUN]
//! ```
//!
//! Each run is a `Foreach` (start → square × N → sum → end) of `TASKS_PER_RUN` tasks in all,
//! every task with one attempt and a real manifest in the store; every tenth run is tagged
//! `nightly` and every hundredth failed in `sum`. The defaults, 1,000 runs of 1,000 tasks, make
//! 1,000,000 task records (and as many attempts).

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use wflow_core::{Digest, FlowSpec, StepSpec, Transition};
use wflow_metadata::{Event, Metadata, Recorder, Status};
use wflow_store::{Cas, LocalDisk, Manifest};

fn spec() -> FlowSpec {
    let next = |to: &str| Transition::Next(vec![to.to_string()]);
    let mut sum = StepSpec::new("sum", next("end"));
    sum.join = true;
    FlowSpec {
        name: "Foreach".into(),
        doc: "Squares numbers in parallel and adds them up.".into(),
        parameters: vec![wflow_core::ParamSpec {
            name: "n".into(),
            ty: wflow_core::ParamType::Int,
            default: Some("10".into()),
            help: "How many numbers.".into(),
        }],
        steps: vec![
            StepSpec::new("start", Transition::Foreach("square".into())),
            StepSpec::new("square", next("sum")),
            sum,
            StepSpec::new("end", Transition::End),
        ],
    }
}

/// Records `runs` runs of `tasks` tasks each into the store at `dir`; returns the ids.
pub fn generate(dir: &Path, runs: usize, tasks: u64) -> Vec<String> {
    let cas = Cas::new(Arc::new(LocalDisk::open(dir).expect("store")));
    let meta = Arc::new(Metadata::open(&dir.join("metadata.sqlite")).expect("metadata"));
    let mut m = Manifest::new();
    let mut v = Vec::new();
    ciborium::into_writer(&333_833_500i64, &mut v).unwrap();
    m.artifacts
        .insert("total".into(), cas.put_artifact(&v, "cbor").unwrap());
    let manifest = cas.put_manifest(&m).unwrap();
    let stdout = cas.put(b"item 1: 1^2 = 1\n").unwrap();
    let spec = serde_json::to_value(spec()).unwrap();
    let recorder = Recorder::new(meta.clone());
    let fan = tasks.saturating_sub(3).max(1);
    let mut ids = Vec::new();
    for r in 0..runs {
        let run_id = format!("20261128T{:06}-{:05}", r / 60 * 100 + r % 60, r);
        let t0 = 1_800_000_000_000 + r as i64 * 10_000;
        let failed = r % 100 == 99;
        recorder.send(Event::RunStarted {
            run_id: run_id.clone(),
            flow: "Foreach".into(),
            component: Digest::of(b"component"),
            params: serde_json::json!({ "n": fan }),
            spec: spec.clone(),
            started_ms: t0,
            origin_run: None,
            user: "bench".into(),
            kind: Default::default(),
        });
        let task = |id: u64, step: &str, path: Vec<u32>, inputs: Vec<u64>, ok: bool| {
            let t = t0 + id as i64;
            recorder.send(Event::TaskStarted {
                run_id: run_id.clone(),
                task_id: id,
                step: step.into(),
                foreach_path: path,
                inputs,
                started_ms: t,
            });
            recorder.send(Event::AttemptStarted {
                run_id: run_id.clone(),
                task_id: id,
                attempt: 0,
                started_ms: t,
            });
            let status = if ok {
                Status::Succeeded
            } else {
                Status::Failed
            };
            recorder.send(Event::AttemptFinished {
                run_id: run_id.clone(),
                task_id: id,
                attempt: 0,
                status,
                started_ms: None,
                finished_ms: t + 3,
                error: (!ok).then(|| "the step returned an error: synthetic".into()),
                stdout: Some(stdout),
                stderr: None,
            });
            recorder.send(Event::TaskFinished {
                run_id: run_id.clone(),
                task_id: id,
                status,
                finished_ms: t + 3,
                manifest: ok.then_some(manifest),
            });
        };
        task(1, "start", vec![], vec![], true);
        for i in 0..fan {
            task(2 + i, "square", vec![i as u32], vec![1], true);
        }
        task(2 + fan, "sum", vec![], (2..2 + fan).collect(), !failed);
        if !failed {
            task(3 + fan, "end", vec![], vec![2 + fan], true);
        }
        recorder.send(Event::RunFinished {
            run_id: run_id.clone(),
            status: if failed {
                Status::Failed
            } else {
                Status::Succeeded
            },
            finished_ms: t0 + tasks as i64 + 10,
            error: failed.then(|| format!("Foreach/{run_id}/sum/{}: synthetic", 2 + fan)),
        });
        ids.push(run_id);
    }
    recorder.close().expect("recorded");
    for id in ids.iter().step_by(10) {
        meta.add_tags(id, &["nightly".to_string()]).unwrap();
    }
    ids
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .expect("usage: gen_store DIR [RUNS] [TASKS_PER_RUN]");
    let runs = args
        .next()
        .map_or(1_000, |a| a.parse().expect("RUNS is a number"));
    let tasks = args
        .next()
        .map_or(1_000, |a| a.parse().expect("TASKS_PER_RUN is a number"));
    let started = Instant::now();
    let ids = generate(Path::new(&dir), runs, tasks);
    eprintln!(
        "recorded {} runs, {} tasks in {:.1} s; newest: Foreach/{}",
        ids.len(),
        ids.len() as u64 * tasks,
        started.elapsed().as_secs_f64(),
        ids.last().unwrap()
    );
}
