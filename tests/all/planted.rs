//! What someone who may write to a shared store's prefix can plant there (issue 22): task
//! descriptions and reports of Batch jobs. Each planted object is refused with an error naming
//! it; nothing planted is run or recorded as a result.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::batch_env::{BatchEnv, cloud, store_object, worker_logs};
use crate::util::stderr;

/// The stderr of every worker whose log mentions `text`.
fn worker_logs_with(text: &str) -> Vec<String> {
    let dir = cloud().shim.logs.path();
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .filter(|t| t.contains(text))
        .collect()
}

#[test]
fn a_description_planted_at_a_key_the_run_will_use_is_refused_not_run() {
    let m = BatchEnv::new("planted-next");
    let planted = Arc::new(Mutex::new(Vec::<String>::new()));
    let (p, store) = (planted.clone(), m.url.clone());
    let url = store.clone();
    m.on_job(move |key| {
        let mut p = p.lock().unwrap();
        if !p.is_empty() {
            return;
        }
        // The first job's own description, copied to every key a later task may use.
        let real = store_object(&url, key, None).expect("the run wrote the description first");
        let run = key.split('/').nth(1).unwrap();
        for task in 0..=12 {
            for attempt in 0..=2 {
                let k = format!("tasks-v1/{run}/{task}-{attempt}");
                if k != key {
                    store_object(&url, &k, Some(&real));
                    p.push(k);
                }
            }
        }
    });
    let (out, _) = m.run("example-hello", "batch", &["-p", "name=batch"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("already holds other content") && err.contains("tasks-v1/"),
        "the error names the planted key: {err}"
    );
    let planted = planted.lock().unwrap();
    assert!(!planted.is_empty(), "the first job was seen");
    let started = cloud().shim.started.lock().unwrap().clone();
    for k in planted.iter() {
        assert!(
            !started.contains(&format!("{store} {k}")),
            "a job ran the planted description {k}"
        );
    }
}

#[test]
fn a_description_changed_after_the_run_wrote_it_is_refused_by_the_worker() {
    let m = BatchEnv::new("planted-swap");
    let swapped = Arc::new(AtomicBool::new(false));
    let (s, url) = (swapped.clone(), m.url.clone());
    m.on_job(move |key| {
        if s.swap(true, Ordering::SeqCst) {
            return;
        }
        // Same length, so the CBOR stays valid: a description of the same task, another value.
        let real = store_object(&url, key, None).expect("the run wrote the description first");
        let at = real
            .windows(5)
            .position(|w| w == b"batch")
            .expect("the parameter's value is in the description");
        let mut forged = real.clone();
        forged[at..at + 5].copy_from_slice(b"pwned");
        store_object(&url, key, Some(&forged));
    });
    let (out, summary) = m.run("example-hello", "batch", &["-p", "name=batch"]);
    let err = stderr(&out);
    assert!(swapped.load(Ordering::SeqCst));
    assert_eq!(out.status.code(), Some(1), "{err}\n{summary}");
    let run = summary["run_id"].as_str().unwrap();
    let refusals = worker_logs_with("was changed after the run wrote it");
    assert!(
        refusals.iter().any(|t| t.contains(run)),
        "the worker names the refusal:\n{}",
        worker_logs()
    );
    // Nothing of the forged description was stored as the run's result.
    let flow = summary["flow"].as_str().unwrap();
    let show = m.wflow(&["show", "--json", &format!("{flow}/{run}")]);
    assert!(
        !String::from_utf8_lossy(&show.stdout).contains("pwned"),
        "{}",
        String::from_utf8_lossy(&show.stdout)
    );
}
