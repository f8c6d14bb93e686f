//! Target `policy`: the administrator's policy file.
//!
//! Invariants, for any text:
//! - [`Policy::parse`] returns a policy or [`PolicyError::Invalid`] naming the origin it was
//!   given, with a reason; never a panic;
//! - a policy that parsed resolves a flow asking for every kind of capability and limit either to
//!   one sandbox per step, each the policy's numbers exactly (no overflow or truncation on the
//!   way), or to violations that each name a step of the flow and say something.

use std::path::Path;

use wflow_core::{Capabilities, DirGrant, FlowSpec, StepSpec, Transition};
use wflow_policy::{Policy, PolicyError};

/// Where the flow's relative directories are taken from (any existing directory will do).
fn project_dir() -> &'static Path {
    Path::new("/")
}

/// A flow asking for a bit of everything, and one asking for nothing.
fn flows() -> Vec<FlowSpec> {
    let next = |to: &str| Transition::Next(vec![to.into()]);
    let mut greedy = StepSpec::new("start", next("middle"));
    greedy.memory_mb = Some(8192);
    greedy.timeout_secs = Some(u32::MAX);
    greedy.cpu = Some(4);
    greedy.capabilities = Capabilities {
        env: vec!["HOME".into(), "AWS_KEY".into(), "".into()],
        dirs: vec![
            DirGrant {
                host_path: "tmp".into(),
                guest_path: "/tmp".into(),
                writable: true,
            },
            DirGrant {
                host_path: "/does/not/exist".into(),
                guest_path: "/x".into(),
                writable: false,
            },
        ],
        network: vec!["db.example.com:5432".into(), "no-port".into()],
        clock: true,
        random: true,
        secrets: vec!["db_password".into()],
    };
    let mut modest = StepSpec::new("middle", next("end"));
    modest.memory_mb = Some(1);
    modest.timeout_secs = Some(1);
    let plain = StepSpec::new("end", Transition::End);
    let mut empty = FlowSpec {
        name: "Training".into(),
        doc: String::new(),
        parameters: vec![],
        steps: vec![greedy, modest, plain],
    };
    let bare = FlowSpec {
        name: "Bare".into(),
        steps: vec![
            StepSpec::new("start", next("end")),
            StepSpec::new("end", Transition::End),
        ],
        ..empty.clone()
    };
    empty.steps[2].capabilities.env = vec!["LANG".into()];
    vec![empty, bare]
}

/// Checks one input.
pub fn check(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let policy = match Policy::parse(&text, "fuzz.toml") {
        Ok(p) => p,
        Err(PolicyError::Invalid { origin, reason }) => {
            assert_eq!(origin, "fuzz.toml");
            assert!(!reason.is_empty());
            return;
        }
        Err(e) => panic!("parse gave an error other than Invalid: {e:?}"),
    };
    assert_eq!(policy.origin, "fuzz.toml");
    for flow in flows() {
        let _ = policy.grants_for(&flow.name, Some("aa"));
        match policy.resolve(&flow, project_dir()) {
            Ok(sandboxes) => {
                assert_eq!(sandboxes.len(), flow.steps.len());
                for step in &flow.steps {
                    check_sandbox(&policy, step, &sandboxes[&step.name]);
                }
            }
            Err(v) => {
                assert!(!v.list.is_empty());
                assert!(!v.to_string().is_empty());
                for violation in &v.list {
                    assert!(flow.step(&violation.step).is_some(), "{violation}");
                    assert!(!violation.message.is_empty());
                }
            }
        }
    }
}

/// The sandbox carries the numbers the step and the policy gave, unchanged.
fn check_sandbox(policy: &Policy, step: &StepSpec, sb: &wflow_core::Sandbox) {
    let l = &policy.limits;
    let memory_mb = step
        .memory_mb
        .map(u64::from)
        .unwrap_or(policy.defaults.memory_mb.min(l.max_memory_mb));
    assert_eq!(
        sb.memory_bytes,
        memory_mb.saturating_mul(1 << 20),
        "memory of `{}`: {memory_mb} MiB",
        step.name
    );
    let attempts = u64::from(step.retries.min(l.max_retries)) + 1;
    let timeout = step
        .timeout_secs
        .map(u64::from)
        .or(policy.defaults.timeout_secs)
        .or(l.max_timeout_secs)
        .or(l.max_task_secs.map(|total| (total / attempts).max(1)));
    assert_eq!(sb.timeout.map(|t| t.as_secs()), timeout);
    assert_eq!(sb.fuel, l.fuel);
    assert_eq!(sb.max_log_bytes, l.max_log_bytes);
    assert_eq!(sb.max_artifact_bytes, l.max_artifact_bytes);
    assert_eq!(sb.max_foreach_items, l.max_foreach_items);
}

/// Seed inputs: the documented example and small variations.
pub fn seeds() -> Vec<Vec<u8>> {
    [
        "",
        "[limits]\nmax_memory_mb = 512\n",
        "[defaults]\nmemory_mb = 2048\ntimeout_secs = 3600\n\n[limits]\nmax_memory_mb = 4096\n\
         max_timeout_secs = 86400\nmax_cpu = 64\nmax_foreach_items = 100000\n\
         max_log_bytes = 16777216\nmax_artifact_bytes = 68719476736\nfuel = 10000000000\n\
         max_wasm_stack = 1048576\n\n[grants]\nenv = [\"LANG\", \"AWS_*\"]\n\
         dirs = [{ path = \"/data/shared\" }, { path = \"tmp\", writable = true }]\n\
         network = [\"*.example.com:443\", \"10.0.0.5:5432\", \"db.internal:*\"]\n\
         clock = true\nrandom = true\n\n[flows.Training]\ndigests = [\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"]\n\
         [flows.Training.grants]\nnetwork = [\"gpu-broker.internal:8443\"]\n",
        "[grants]\nenv = [\"*\"]\ndirs = [{ path = \"/\", writable = true }]\nnetwork = [\"*:*\"]\nclock = true\nrandom = true\n[limits]\nmax_memory_mb = 9000\nmax_cpu = 8\n",
        "[defaults]\nmemory_mb = 18446744073709551615\n[limits]\nmax_memory_mb = 18446744073709551615\n",
        "[limits]\nmax_timeout_secs = 18446744073709551615\n",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

/// TOML fragments worth splicing in.
pub const DICT: &[&[u8]] = &[
    b"[defaults]\n",
    b"[limits]\n",
    b"[grants]\n",
    b"[flows.Training.grants]\n",
    b"[[x]]\n",
    b"memory_mb = ",
    b"timeout_secs = ",
    b"max_memory_mb = ",
    b"max_timeout_secs = ",
    b"max_cpu = ",
    b"fuel = ",
    b"max_log_bytes = ",
    b"max_artifact_bytes = ",
    b"max_foreach_items = ",
    b"max_wasm_stack = ",
    b"max_retries = ",
    b"max_task_secs = ",
    b"digests = [\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"]\n",
    b"[flows.Training]\n",
    b"env = ",
    b"dirs = ",
    b"network = ",
    b"clock = true\n",
    b"random = false\n",
    b"{ path = \"/\" }",
    b"writable = true",
    b"18446744073709551615",
    b"9223372036854775807",
    b"-1",
    b"0",
    b"1e400",
    b"0x7fffffffffffffff",
    b"\"\"\"",
    b"'''",
    b"\\u0000",
    b"1979-05-27T07:32:00Z",
    b"inf",
    b"nan",
];
