//! `wflow gc` with the records on the metadata service (a real `wflow server` over PostgreSQL)
//! and the blobs in a shared local store: runs started while collections run lose nothing, and a
//! collection killed with SIGKILL at random points leaves every recorded run whole.

use serde_json::Value;

use crate::gc::{age_files, kill_at_random_points, reads_back};
use crate::server::{Machine, Service};
use crate::util::{files_under, stderr, task_of};

/// Every run of the token's user the service records reads back whole from the
/// shared store. Returns how many runs there are.
fn every_run_reads_back(svc: &Service, token: &str, store: &std::path::Path) -> usize {
    let records = wflow_server::HttpMetadata::new(&svc.url, Some(token.to_string()));
    let disk = wflow_store::LocalDisk::open(store).unwrap();
    reads_back(&records, &wflow_store::Cas::new(std::sync::Arc::new(disk)))
}

/// Runs the bigdata example as `m`; returns its run id and its `verified` artifact's pathspec.
/// `--no-cache`: a cached task's origin would keep the earlier run alive.
fn bigdata(m: &Machine, mb: u32, extra: &[&str]) -> (String, String) {
    let mb = format!("mb={mb}");
    let mut args = vec!["-p", mb.as_str(), "--no-cache"];
    args.extend_from_slice(extra);
    let s = m.run_ok("example-bigdata", &args);
    let run = s["run_id"].as_str().unwrap().to_string();
    (run, format!("{}/verified", task_of(&s, "consume")))
}

fn machines(svc: &Service, store: &std::path::Path) -> (Machine, Machine) {
    let mut ada = Machine::new(svc, svc.token("ada", false));
    let mut root = Machine::new(svc, svc.token("root", true));
    for m in [&mut ada, &mut root] {
        m.store = Some(store.to_path_buf());
    }
    (ada, root)
}

#[test]
fn runs_started_while_gc_runs_against_the_service_succeed_and_stay_readable() {
    let svc = Service::start("gc_during", "60");
    let shared = tempfile::tempdir().unwrap();
    let (ada, root) = machines(&svc, shared.path());
    // Old runs whose blobs the new runs write again: the collections remove the old runs and
    // must not take the blobs the new runs deduplicate against.
    let old = [bigdata(&ada, 1, &[]).0, bigdata(&ada, 2, &[]).0];
    age_files(files_under(shared.path()), 2);

    let gc = [
        "gc",
        "--json",
        "--keep-last",
        "0",
        "--keep-tagged",
        "during",
        "--yes",
    ];
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let collector = {
        let stop = stop.clone();
        let cmd = std::sync::Mutex::new(root.command(&gc));
        std::thread::spawn(move || {
            let mut rounds = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) || rounds == 0 {
                let out = cmd.lock().unwrap().output().unwrap();
                assert!(out.status.success(), "gc: {}", stderr(&out));
                rounds += 1;
            }
            rounds
        })
    };
    let mut during = Vec::new();
    for mb in [1, 2, 1, 3] {
        during.push(bigdata(&ada, mb, &["--tag", "during"]));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(collector.join().unwrap() >= 1);

    let last = root.json(&gc);
    assert_eq!(last["runs_removed"], serde_json::json!([]), "{last}");
    let mut left = ada.run_ids(&[]);
    left.sort();
    let mut expected: Vec<String> = during.iter().map(|(run, _)| run.clone()).collect();
    expected.sort();
    assert_eq!(left, expected, "the old runs {old:?} go, the new ones stay");
    assert_eq!(
        every_run_reads_back(&svc, &ada.token, shared.path()),
        during.len()
    );
    for (_, verified) in &during {
        assert_eq!(
            ada.json(&["artifact", "get", "--json", verified]),
            Value::Bool(true)
        );
    }
}

#[test]
fn gc_against_the_service_killed_at_random_points_leaves_every_run_whole_and_a_rerun_finishes() {
    let svc = Service::start("gc_kill", "60");
    let shared = tempfile::tempdir().unwrap();
    let (ada, root) = machines(&svc, shared.path());
    for mb in [1, 2, 3] {
        bigdata(&ada, mb, &[]);
    }
    let (newest, verified) = bigdata(&ada, 4, &[]);
    age_files(files_under(shared.path()), 2);

    let gc = ["gc", "--json", "--keep-last", "1"];
    // A dry run reads and lists as much as a whole collection.
    let took = {
        let started = std::time::Instant::now();
        root.json(&[&gc[..], &["--dry-run"]].concat());
        started.elapsed().as_millis() as u64 + 1
    };
    kill_at_random_points(
        8,
        took * 2,
        || root.command(&gc),
        || {
            // Whatever it did, every run still recorded reads back whole.
            let runs = every_run_reads_back(&svc, &ada.token, shared.path());
            assert!(runs >= 1, "{runs} runs");
        },
    );
    root.json(&gc);
    assert_eq!(ada.run_ids(&[]), [newest]);
    assert_eq!(every_run_reads_back(&svc, &ada.token, shared.path()), 1);
    assert_eq!(
        ada.json(&["artifact", "get", "--json", &verified]),
        Value::Bool(true)
    );
    let again = root.json(&gc);
    assert_eq!(again["runs_removed"], serde_json::json!([]), "{again}");
    assert_eq!(again["blobs_removed"], 0, "{again}");
}
