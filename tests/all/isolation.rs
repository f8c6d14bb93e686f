//! A task never sees another task's memory, although wasmtime's pooling allocator hands every
//! new instance a memory slot an earlier task used (runtime/engine/src/engine.rs: its reset,
//! 64 MiB kept resident and restored from the image, the rest returned to the kernel).
//!
//! `test-programs/isolation` runs eight items one at a time (`--max-workers 1`, so each task
//! gets a slot the task before it just gave back). Each first scans all of its linear memory for
//! any other item's residue, then writes its own into the heap, `.bss`, `.data`, a page at
//! 96 MiB (above what the pool keeps resident), and — by item — 48 scattered pages (more dirty
//! regions than one PAGEMAP_SCAN call reports) or 65 MiB (more than the pool keeps resident), and leaves it there; so each reset path
//! of the pool is followed by a scan.
//!
//! How we know the test can fail: every task scans again after writing and must find all of its
//! own residue in each place (the scanner finds residue where it is); and
//! [`a_planted_residue_is_reported`] has each task leave the next item's residue in its own
//! memory before scanning, as a leak would, and the reports must name it (a leak reaches the
//! assertions). Both hold on every run. And once by hand (2026-12-08), with wasmtime's reset
//! broken on purpose — a patched copy of wasmtime 48.0.8 whose PAGEMAP_SCAN reset skipped
//! restoring the pages the scan found, through `[patch.crates-io]`, not committed — the first test
//! failed: item 1 found item 0's 2,048 words (heap, `.bss`, `.data`, the page at 24 MiB, then the top of memory), and every
//! later item those of all the items before it.
//!
//! What this cannot show: a written page swapped out, or being migrated by the kernel, when the
//! slot is reset — which wasmtime 48's PAGEMAP_SCAN reset skips, the reason the engine keeps that
//! reset off (the reset in use rewrites the first 64 MiB whatever their pages' state). With the
//! scan on (as it was when the check above was made), every path this test drives passes.

use serde_json::Value;

use crate::util::{Env, guest, task_of};

const KEEP_RESIDENT: u64 = 64 << 20;

/// Runs the isolation flow one task at a time with `extra` arguments; the items' reports.
fn reports(env: &Env, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["--max-workers", "1"];
    args.extend_from_slice(extra);
    let summary = env.run_ok(&guest("test-program-isolation"), &args);
    let join = task_of(&summary, "join");
    let reports = env.artifact(&format!("{join}/reports"));
    reports.as_array().expect("reports is a list").clone()
}

/// The report's places by name: (address, written, found).
fn places(report: &Value) -> Vec<(String, u64, u64, u64)> {
    report["places"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                p["address"].as_u64().unwrap(),
                p["written"].as_u64().unwrap(),
                p["found"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Every item found all of its own residue after writing it (so the scanner works), in places
/// that cover each way the pool resets memory.
fn assert_self_check(r: &Value) {
    let places = places(r);
    let mut names: Vec<&str> = places.iter().map(|p| p.0.as_str()).collect();
    names.sort();
    let expected: &[&str] = match r["kind"].as_str().unwrap() {
        "small" => &["bss", "data", "heap", "high"],
        "scattered" => &["bss", "data", "heap", "high", "scattered"],
        "big" => &["big", "bss", "data", "heap", "high"],
        other => panic!("unknown kind {other}"),
    };
    assert_eq!(names, expected, "{r}");
    for (name, address, written, found) in &places {
        assert!(*written >= 512, "{name}: {r}");
        assert!(
            found >= written,
            "item {} found {found} of the {written} words it wrote to {name}: {r}",
            r["item"]
        );
        // Each way the pool resets memory is covered: the high page is memory it returns to the
        // kernel, the big run more dirty memory than it rewrites in place.
        if name == "high" {
            assert!(*address >= KEEP_RESIDENT, "{name} is above 64 MiB: {r}");
        }
        if name == "big" {
            assert!(
                address + written * 8 > KEEP_RESIDENT,
                "{name} crosses 64 MiB: {r}"
            );
        }
    }
    assert!(
        r["scanned_bytes"].as_u64().unwrap() >= 96 << 20,
        "the scan covered the high places: {r}"
    );
    assert_eq!(
        r["own_before"], 0,
        "no residue of its own before it wrote: {r}"
    );
}

#[test]
fn a_task_never_sees_another_tasks_memory() {
    let env = Env::new();
    let reports = reports(&env, &[]);
    assert_eq!(reports.len(), 8);
    for (i, r) in reports.iter().enumerate() {
        assert_eq!(r["item"], i as u64);
        assert_eq!(
            r["foreign"],
            serde_json::json!([]),
            "item {i} found other items' residue in its fresh memory: {r}"
        );
        assert_self_check(r);
    }
    let kinds: Vec<&str> = reports
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"scattered") && kinds.contains(&"big"),
        "{kinds:?}"
    );
}

/// The positive control: each task writes the next item's residue into its own memory before
/// scanning, as a leaked slot would show it; the report must name that item, and nothing else.
#[test]
fn a_planted_residue_is_reported() {
    let env = Env::new();
    let reports = reports(&env, &["-p", "plant=true", "-p", "n=3"]);
    assert_eq!(reports.len(), 3);
    for (i, r) in reports.iter().enumerate() {
        let foreign = r["foreign"].as_array().unwrap();
        assert_eq!(
            foreign.len(),
            1,
            "item {i} reports only the planted item: {r}"
        );
        assert_eq!(foreign[0]["item"], (i as u64 + 1) % 3, "{r}");
        assert!(foreign[0]["words"].as_u64().unwrap() >= 512, "{r}");
        assert_self_check(r);
    }
}
