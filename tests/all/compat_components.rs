//! The component corpus of released versions (`tests/compat/VERSION/components/`, written once
//! by `scripts/compat-corpus`): every example and the test programs of failures, limits and
//! capabilities, as that release's SDKs built them, must run on this host as they ran on the
//! release's — same exit code, same words in the error, same statuses, artifact digests and logs.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Mutex;

use serde_json::Value;

use crate::util::{Env, root, stderr};

/// The released versions whose corpus every host must run.
const VERSIONS: &[&str] = &["0.1.0", "0.2.0"];

/// The corpus of `version` in a temporary directory: the Rust components and `polyglot/` as
/// committed, the Python and JavaScript ones out of their archives (each checked by size and
/// BLAKE3 digest).
fn unpack(version: &str, expect: &Value) -> tempfile::TempDir {
    let src = root().join("tests/compat").join(version).join("components");
    let dir = tempfile::tempdir().unwrap();
    for sub in ["rust", "polyglot"] {
        if !src.join(sub).is_dir() {
            continue; // a corpus without a polyglot flow (0.2.0 on)
        }
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        for e in std::fs::read_dir(src.join(sub)).unwrap().flatten() {
            std::fs::copy(e.path(), dir.path().join(sub).join(e.file_name())).unwrap();
        }
    }
    for (archive, members) in expect["archives"].as_object().unwrap() {
        let file = std::fs::File::open(src.join(archive)).unwrap();
        let mut decoder = ruzstd::decoding::StreamingDecoder::new(std::io::BufReader::new(file))
            .unwrap_or_else(|e| panic!("{archive}: {e}"));
        for m in members.as_array().unwrap() {
            let name = m["name"].as_str().unwrap();
            let mut bytes = vec![0; m["size"].as_u64().unwrap() as usize];
            decoder
                .read_exact(&mut bytes)
                .unwrap_or_else(|e| panic!("{archive}: {name}: {e}"));
            let digest = wflow_core::Digest::of(&bytes).to_string();
            assert_eq!(digest, m["blake3"].as_str().unwrap(), "{archive}: {name}");
            let to = dir.path().join(name);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::write(to, bytes).unwrap();
        }
        let mut rest = Vec::new();
        decoder.read_to_end(&mut rest).unwrap();
        assert!(
            rest.is_empty(),
            "{archive} holds more than expect.json lists"
        );
    }
    dir
}

/// Runs one case in `env` with the components in `comps`; checks it against what it produced
/// on the release's host.
fn check_case(env: &Env, comps: &Path, case: &Value) {
    let name = case["name"].as_str().unwrap();
    for (file, text) in case["files"].as_object().into_iter().flatten() {
        let to = env.dir.path().join(file);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::write(to, text.as_str().unwrap()).unwrap();
    }
    let flow = comps.join(case["flow"].as_str().unwrap());
    // Cases share one store: without `--no-cache`, a task of one case could come from the
    // cache of another's and not run.
    let mut args = vec!["run", "--json", "--no-cache", flow.to_str().unwrap()];
    for a in case["args"].as_array().into_iter().flatten() {
        args.push(a.as_str().unwrap());
    }
    let mut cmd = env.command(&args);
    for (k, v) in case["env"].as_object().into_iter().flatten() {
        cmd.env(k, v.as_str().unwrap());
    }
    let out: Output = cmd.output().unwrap();
    let err = stderr(&out);
    let want_exit = case["exit"].as_i64().unwrap_or(0) as i32;
    assert_eq!(out.status.code(), Some(want_exit), "case {name}: {err}");
    for needle in case["error"].as_array().into_iter().flatten() {
        let needle = needle.as_str().unwrap();
        assert!(
            err.contains(needle),
            "case {name}: stderr lacks {needle:?}:\n{err}"
        );
    }
    if case["status"].is_null() {
        return;
    }
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["status"], case["status"], "case {name}");
    let pathspec = format!(
        "{}/{}",
        summary["flow"].as_str().unwrap(),
        summary["run_id"].as_str().unwrap()
    );
    let client = env.client();
    let run = client.run(&pathspec).unwrap();
    let mut tasks = run.tasks().unwrap();
    tasks.sort_by_key(|t| t.record().task_id);
    let want_tasks = case["tasks"].as_object().unwrap();
    assert_eq!(
        tasks.len(),
        want_tasks.len(),
        "case {name}: tasks of {pathspec}"
    );
    // A task's key: its step and foreach path, and for the second and later iterations of a
    // loop `#2`, `#3`… (in task id order, as `scripts/compat-corpus` keys them).
    let mut seen = std::collections::HashMap::new();
    for task in &tasks {
        let r = task.record();
        let base = std::iter::once(r.step.clone())
            .chain(r.foreach_path.iter().map(|i| i.to_string()))
            .collect::<Vec<_>>()
            .join("/");
        let n = seen.entry(base.clone()).or_insert(0);
        *n += 1;
        let key = if *n == 1 { base } else { format!("{base}#{n}") };
        let what = format!("case {name}: task {key} ({})", task.pathspec());
        let want = want_tasks
            .get(&key)
            .unwrap_or_else(|| panic!("{what}: not in the corpus's expectations"));
        if let Some(status) = want.get("status") {
            assert_eq!(&serde_json::to_value(r.status).unwrap(), status, "{what}");
        }
        if let Some(attempts) = want.get("attempts") {
            assert_eq!(r.attempts, attempts.as_u64().unwrap() as u32, "{what}");
        }
        let artifacts = match task.artifacts() {
            Ok(a) => a,
            Err(wflow_client::ClientError::NoArtifacts { .. }) => Vec::new(),
            Err(e) => panic!("{what}: {e}"),
        };
        for (artifact, digest) in want["artifacts"].as_object().unwrap() {
            let got = artifacts
                .iter()
                .find(|a| a.name() == artifact)
                .unwrap_or_else(|| panic!("{what}: no artifact {artifact}"));
            assert_eq!(
                got.digest().to_string(),
                digest.as_str().unwrap(),
                "{what}: {artifact}"
            );
        }
        if want.get("stdout").is_some() || want.get("stderr").is_some() {
            let logs = task.logs(None).unwrap();
            for (stream, log) in [("stdout", &logs.stdout), ("stderr", &logs.stderr)] {
                if let Some(text) = want.get(stream) {
                    let got = String::from_utf8_lossy(&log.bytes);
                    assert_eq!(got, text.as_str().unwrap(), "{what}: {stream}");
                }
            }
        }
    }
}

/// Runs `f` over `items` on two threads.
fn two_at_a_time<T: Sync>(items: &[T], f: impl Fn(&T) + Sync) {
    let next = Mutex::new(items.iter());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                loop {
                    let item = next.lock().unwrap().next();
                    match item {
                        Some(item) => f(item),
                        None => break,
                    }
                }
            });
        }
    });
}

#[test]
fn the_components_of_a_release_run_as_they_did() {
    for version in VERSIONS {
        let src = root().join("tests/compat").join(version).join("components");
        let expect: Value =
            serde_json::from_str(&std::fs::read_to_string(src.join("expect.json")).unwrap())
                .unwrap();
        let comps = unpack(version, &expect);
        // One store for every case. The Python, JavaScript and polyglot flows are compiled
        // first (`wflow check`), two at a time, so that cases sharing one do not compile it side
        // by side.
        let env = Env::new();
        let mut interpreted: Vec<PathBuf> = expect["cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["flow"].as_str().unwrap())
            .filter(|f| !f.starts_with("rust/"))
            .map(|f| comps.path().join(f))
            .collect();
        interpreted.sort();
        interpreted.dedup();
        two_at_a_time(&interpreted, |c| {
            let out = env.wflow(&["check", c.to_str().unwrap()]);
            // A flow asking for secrets is refused by the default policy (its cases give one).
            assert!(
                out.status.success() || stderr(&out).contains("is refused by the policy"),
                "check {}: {}",
                c.display(),
                stderr(&out)
            );
        });
        let cases = expect["cases"].as_array().unwrap();
        two_at_a_time(cases, |case| check_case(&env, comps.path(), case));
    }
}
