//! Target `contract`: the host side of `wflow:flow@0.1.0`, through a real guest.
//!
//! One input is one task. Its first bytes choose the task's inputs (artifacts with any name and
//! value, some of them corrupt: a wrong digest, a missing blob, a wrong size), whether it joins or
//! declares items, its artifact and foreach caps and its foreach path; the rest is an op program
//! (`test-programs/fuzz-guest/src/ops.rs`) that the guest `test-program-fuzz-guest` runs through
//! the raw WIT bindings: puts and gets with any name, codec and size, streaming readers and writers
//! (dropped, finished twice), reads of every input, item declarations, parameters.
//!
//! The harness runs the same program against a model of the contract (`docs/contract.md`) and
//! checks, for every input:
//! - [`inherited`] keeps exactly the artifacts all inputs agree on;
//! - [`FlowComponent::run_task`] returns (no panic in the host, whatever the guest does);
//! - every op answered what the model predicts: the same value (codec, size, fingerprint), or the
//!   same kind of error (`not-found`, `invalid` for a bad name or index, `store` for corrupt data);
//! - the attempt ended as predicted: success, the artifact or foreach cap (a limit naming its
//!   value), a trap for a name that is not UTF-8, or no foreach items;
//! - after a success, the task's artifacts are the model's view, each readable and verified.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use wflow_core::{Digest, ParamValue, Sandbox};
use wflow_engine::{
    Engine, EngineConfig, FlowComponent, InputArtifacts, TaskFailure, TaskInput, Value, inherited,
};
use wflow_store::{ArtifactRef, Cas, LocalDisk};

use crate::ops::{self, Bytes, Op, Reader, Val, WriterEnd, show_value};

/// Longest artifact name the host accepts, in bytes (`docs/contract.md`).
const MAX_NAME: usize = 256;
/// Most bytes one `read` returns.
const MAX_READ: u64 = 16 << 20;
/// Most `read` calls the guest makes per op (`MAX_READS` of the guest).
const MAX_READS: usize = 4096;

/// The contract's rule for artifact names, written from the documentation (not from the host's
/// code): non-empty, at most 256 bytes, no `/`, `\`, NUL or other control character, not `.` or
/// `..`, and not starting with `_`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && !name.starts_with('_')
        && name != "."
        && name != ".."
        && !name
            .chars()
            .any(|c| c == '/' || c == '\\' || c.is_control())
}

/// Longest codec the host accepts, in bytes (`docs/contract.md`).
const MAX_CODEC: usize = 64;
/// What each manifest entry costs against `max_artifact_bytes` besides its name, codec and value
/// (`docs/policy.md`).
const ENTRY_BYTES: u64 = 64;

/// The contract's rule for codecs, from the documentation: 1 to 64 bytes, a lowercase ASCII letter
/// first, then lowercase letters, digits and `.`, `_`, `+`, `-`, `/`.
pub fn valid_codec(codec: &str) -> bool {
    let b = codec.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_CODEC
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"._+-/".contains(c))
}

/// What the host keeps for one artifact entry besides its value.
fn entry_cost(name: &str, codec: &str) -> u64 {
    (name.len() + codec.len()) as u64 + ENTRY_BYTES
}

/// Path of the guest component, building it if needed (`cargo build --release --target
/// wasm32-wasip2 -p test-program-fuzz-guest` into `target/test-guests`, where the end-to-end
/// tests build theirs). `WFLOW_FUZZ_GUEST` names a prebuilt component instead.
pub fn guest_wasm() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        if let Some(p) = std::env::var_os("WFLOW_FUZZ_GUEST") {
            return PathBuf::from(p);
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let target = root.join("target").join("test-guests");
        let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        cmd.current_dir(&root)
            .args(["build", "--release", "--target", "wasm32-wasip2"])
            .args(["-p", "test-program-fuzz-guest"])
            .env("CARGO_TARGET_DIR", &target);
        // A fuzz build's instrumentation flags are not for the guest.
        for var in [
            "RUSTFLAGS",
            "CARGO_ENCODED_RUSTFLAGS",
            "CARGO_BUILD_RUSTFLAGS",
        ] {
            cmd.env_remove(var);
        }
        let out = cmd.output().expect("cargo runs");
        assert!(
            out.status.success(),
            "building the fuzz guest failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        target.join("wasm32-wasip2/release/test_program_fuzz_guest.wasm")
    })
    .clone()
}

/// The engine, the loaded guest and a store in a temporary directory.
pub struct Target {
    flow: FlowComponent,
    cas: Arc<Cas>,
    _dir: tempfile::TempDir,
}

impl Target {
    /// Loads the guest at `wasm` into a fresh engine and store.
    pub fn new(wasm: &Path) -> Target {
        let engine = Engine::new(EngineConfig {
            max_concurrent_tasks: 1,
            ..EngineConfig::default()
        })
        .expect("an engine");
        let flow = engine.load_file(wasm).expect("the fuzz guest loads");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let disk = LocalDisk::open(&dir.path().join("store")).expect("a store");
        Target {
            flow,
            cas: Arc::new(Cas::new(Arc::new(disk))),
            _dir: dir,
        }
    }

    /// Checks one input.
    pub fn check(&self, data: &[u8]) {
        let mut r = Reader::new(data);
        let setup = Setup::decode(&mut r, &self.cas);
        let program = r.take(usize::MAX).to_vec();
        let ops = ops::decode(&program);

        let expected_view = model_inherited(&setup.inputs, setup.join);
        let refs: BTreeMap<String, ArtifactRef> = expected_view
            .iter()
            .map(|(n, e)| (n.clone(), e.r.clone()))
            .collect();
        let inputs: Vec<InputArtifacts> = setup
            .inputs
            .iter()
            .map(|i| InputArtifacts {
                step: i.step.as_str().into(),
                artifacts: i
                    .artifacts
                    .iter()
                    .map(|(n, e)| (n.clone(), e.r.clone()))
                    .collect(),
            })
            .collect();
        assert_eq!(inherited(&inputs, setup.join), refs, "inherited()");

        let mut model = Model {
            setup: &setup,
            view: expected_view,
            put_bytes: 0,
            items: None,
            lines: Vec::new(),
        };
        let end = model.run(&ops);

        let sandbox = Sandbox {
            memory_bytes: 256 << 20,
            timeout: Some(Duration::from_secs(120)),
            max_log_bytes: 4 << 20,
            max_artifact_bytes: setup.cap,
            max_foreach_items: setup.max_items,
            ..Sandbox::default()
        };
        let input = TaskInput {
            flow: "FuzzGuest".into(),
            run_id: "fuzz".into(),
            step: "start".into(),
            task_id: 1,
            attempt: 0,
            params: Arc::new(params()),
            foreach_path: setup.foreach_path.clone(),
            foreach_item: Some(Value {
                codec: "raw".into(),
                bytes: program,
            }),
            inputs,
            join: setup.join,
            is_foreach: setup.is_foreach,
            choices: vec![],
            secrets: Default::default(),
            sandbox: Arc::new(sandbox),
            live_logs: None,
        };
        let out = self.flow.run_task(input, self.cas.clone());

        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = stdout.lines().collect();
        let context = || {
            format!(
                "ops: {ops:?}\nresult: {:?}\nstdout:\n{stdout}\nstderr (first 2000 bytes):\n{}",
                out.result,
                &stderr.chars().take(2000).collect::<String>()
            )
        };
        let expected: Vec<&str> = model.lines.iter().map(String::as_str).collect();
        assert_eq!(
            lines,
            expected,
            "the guest's answers differ from the model's\n{}",
            context()
        );
        match (&end, &out.result) {
            (End::Ok, Ok(())) => {}
            (End::NoItems, Err(TaskFailure::NoForeachItems)) => {}
            (End::Limit(name, value), Err(TaskFailure::Limit(l)))
                if l.limit == *name && l.value == *value => {}
            (End::Trap, Err(TaskFailure::Trap(_))) => {}
            _ => panic!("the attempt should end as {end:?}\n{}", context()),
        }
        if end != End::Ok {
            return;
        }
        assert_eq!(
            out.artifacts.keys().collect::<Vec<_>>(),
            model.view.keys().collect::<Vec<_>>(),
            "the task's artifacts\n{}",
            context()
        );
        for (name, r) in &out.artifacts {
            let e = &model.view[name];
            assert_eq!(r.digest, e.r.digest, "digest of `{name}`");
            assert_eq!(r.size, e.r.size, "size of `{name}`");
            assert_eq!(r.codec, e.r.codec, "codec of `{name}`");
            if e.corrupt.is_none() {
                let bytes = self
                    .cas
                    .get_artifact(r)
                    .expect("a kept artifact reads back");
                assert_eq!(Some(&bytes), e.bytes.as_ref(), "bytes of `{name}`");
            }
        }
        let items = out.foreach_items.map(|v| {
            v.into_iter()
                .map(|v| (v.codec, v.bytes))
                .collect::<Vec<_>>()
        });
        assert_eq!(items, model.items, "declared items");
    }
}

/// The run's parameters, as every task sees them.
fn params() -> BTreeMap<String, ParamValue> {
    BTreeMap::from([
        ("n".to_string(), ParamValue::Int(3)),
        ("s".to_string(), ParamValue::String("é\0".into())),
    ])
}

/// How an input artifact is broken.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Corrupt {
    /// Inline bytes that do not hash to the digest.
    InlineDigest,
    /// A blob that is not in the store.
    MissingBlob,
    /// The right bytes, the wrong size.
    Size,
}

/// An artifact as the model knows it: its reference, its bytes when it has them, how it is broken.
#[derive(Clone, Debug)]
struct Entry {
    r: ArtifactRef,
    /// The bytes the reference reads (what is stored), when there are any.
    bytes: Option<Vec<u8>>,
    corrupt: Option<Corrupt>,
}

#[derive(Clone, Debug)]
struct Input {
    step: String,
    artifacts: BTreeMap<String, Entry>,
}

/// The task around the program.
struct Setup {
    inputs: Vec<Input>,
    join: bool,
    is_foreach: bool,
    cap: u64,
    max_items: u32,
    foreach_path: Vec<u32>,
}

impl Setup {
    fn decode(r: &mut Reader<'_>, cas: &Cas) -> Setup {
        let flags = r.u8();
        let cap = if flags & 4 != 0 {
            u64::from(r.u16()) * 64
        } else {
            64 << 30
        };
        let max_items = match r.u8() % 8 {
            7 => 100_000,
            k => u32::from(k),
        };
        let foreach_path = (0..r.u8() % 3).map(|_| u32::from(r.u8())).collect();
        let n_inputs = (flags >> 4) % 4;
        let mut inputs: Vec<Input> = Vec::new();
        for _ in 0..n_inputs {
            let step = r.string(&["a", "b", "start", "_parameters", ""]);
            // Often a copy of the previous input with a few changes, so a join has agreement
            // to find.
            let mut artifacts = match inputs.last() {
                Some(prev) if r.u8().is_multiple_of(2) => prev.artifacts.clone(),
                _ => BTreeMap::new(),
            };
            for _ in 0..r.u8() % 4 {
                let name = r.name();
                let val = r.val();
                let bytes = val.bytes.materialize();
                let good = cas
                    .put_artifact(&bytes, &val.codec)
                    .expect("the store takes it");
                let entry = match r.u8() % 8 {
                    5 => {
                        let mut bad = good;
                        bad.inline = Some([&bytes[..], b"!"].concat());
                        let stored = bad.inline.clone();
                        Entry {
                            r: bad,
                            bytes: stored,
                            corrupt: Some(Corrupt::InlineDigest),
                        }
                    }
                    6 => {
                        let missing = [&bytes[..], b"never stored"].concat();
                        Entry {
                            r: ArtifactRef {
                                digest: Digest::of(&missing),
                                size: missing.len() as u64,
                                codec: val.codec.clone(),
                                inline: None,
                            },
                            bytes: None,
                            corrupt: Some(Corrupt::MissingBlob),
                        }
                    }
                    7 => {
                        let mut bad = good;
                        bad.size += 1 + u64::from(bad.size.is_multiple_of(3)) * 1000;
                        Entry {
                            r: bad,
                            bytes: Some(bytes),
                            corrupt: Some(Corrupt::Size),
                        }
                    }
                    _ => Entry {
                        r: good,
                        bytes: Some(bytes),
                        corrupt: None,
                    },
                };
                artifacts.insert(name, entry);
            }
            inputs.push(Input { step, artifacts });
        }
        Setup {
            inputs,
            join: flags & 1 != 0,
            is_foreach: flags & 2 != 0,
            cap,
            max_items,
            foreach_path,
        }
    }
}

/// The contract's inheritance rule: a single input's artifacts, or those on which all inputs agree
/// (same name, same content: digest and codec).
fn model_inherited(inputs: &[Input], _join: bool) -> BTreeMap<String, Entry> {
    let Some((first, rest)) = inputs.split_first() else {
        return BTreeMap::new();
    };
    first
        .artifacts
        .iter()
        .filter(|(name, e)| {
            rest.iter().all(|i| {
                i.artifacts
                    .get(*name)
                    .is_some_and(|o| o.r.digest == e.r.digest && o.r.codec == e.r.codec)
            })
        })
        .map(|(n, e)| (n.clone(), e.clone()))
        .collect()
}

/// How the attempt must end.
#[derive(Clone, Debug, PartialEq)]
enum End {
    Ok,
    /// A limit, by name and shown value.
    Limit(&'static str, String),
    /// The guest broke the canonical ABI (a string that is not UTF-8).
    Trap,
    NoItems,
}

/// The model: what each op must answer, and the task's state.
struct Model<'s> {
    setup: &'s Setup,
    view: BTreeMap<String, Entry>,
    put_bytes: u64,
    items: Option<Vec<(String, Vec<u8>)>>,
    lines: Vec<String>,
}

/// The answer to one op: a line, or the end of the attempt.
enum Step {
    Line(String),
    Stop(End),
}

fn err_invalid(what: &str) -> String {
    format!("{what} err invalid")
}

impl Model<'_> {
    /// Runs the program; returns how the attempt ends.
    fn run(&mut self, ops: &[Op]) -> End {
        for op in ops {
            match self.op(op) {
                Step::Line(l) => self.lines.push(l),
                Step::Stop(end) => return end,
            }
        }
        if self.setup.is_foreach && self.items.is_none() {
            return End::NoItems;
        }
        End::Ok
    }

    /// Counts bytes against the artifact cap.
    fn charge(&mut self, n: u64) -> Option<End> {
        self.put_bytes = self.put_bytes.saturating_add(n);
        (self.put_bytes > self.setup.cap)
            .then(|| End::Limit("max_artifact_bytes", format!("{} bytes", self.setup.cap)))
    }

    fn keep(&mut self, name: &str, codec: &str, bytes: Vec<u8>) {
        let r = ArtifactRef {
            digest: Digest::of(&bytes),
            size: bytes.len() as u64,
            codec: codec.to_string(),
            inline: None,
        };
        self.view.insert(
            name.to_string(),
            Entry {
                r,
                bytes: Some(bytes),
                corrupt: None,
            },
        );
    }

    fn input(&self, index: u32) -> Option<&Input> {
        self.setup.inputs.get(index as usize)
    }

    fn lookup(&self, name: &str, input: Option<u32>) -> Result<&Entry, String> {
        let view = match input {
            None => &self.view,
            Some(i) => match self.input(i) {
                Some(input) => &input.artifacts,
                None => return Err("err invalid".into()),
            },
        };
        view.get(name)
            .ok_or_else(|| format!("err not-found {name:?}"))
    }

    fn op(&mut self, op: &Op) -> Step {
        use Step::{Line, Stop};
        match op {
            Op::Put { name, value } => {
                if !valid_name(name) || !valid_codec(&value.codec) {
                    return Line(err_invalid("put"));
                }
                let bytes = value.bytes.materialize();
                let cost = entry_cost(name, &value.codec) + bytes.len() as u64;
                if let Some(end) = self.charge(cost) {
                    return Stop(end);
                }
                self.keep(name, &value.codec, bytes);
                Line("put ok ".into())
            }
            Op::PutRawName { name } => match std::str::from_utf8(name) {
                Err(_) => Stop(End::Trap),
                Ok(name) => self.op(&Op::Put {
                    name: name.to_string(),
                    value: Val {
                        codec: "raw".into(),
                        bytes: Bytes::Literal(vec![]),
                    },
                }),
            },
            Op::Get { name } => Line(match self.lookup(name, None) {
                Ok(e) => read_whole("get", e),
                Err(e) => format!("get {e}"),
            }),
            Op::List => Line(format!("list {}", show_infos(&self.view))),
            Op::InputStep { index } => {
                let count = self.setup.inputs.len();
                Line(match self.input(*index) {
                    Some(i) => format!("input-step {count} ok {:?}", i.step),
                    None => format!("input-step {count} err invalid"),
                })
            }
            Op::ListInput { index } => Line(match self.input(*index) {
                Some(i) => format!("list-input ok {}", show_infos(&i.artifacts)),
                None => err_invalid("list-input"),
            }),
            Op::GetInput { index, name } => Line(match self.lookup(name, Some(*index)) {
                Ok(e) => read_whole("get-input", e),
                Err(e) => format!("get-input {e}"),
            }),
            Op::Read { name, input, max } => Line(match self.lookup(name, *input) {
                Ok(e) => read_stream(e, *max),
                Err(e) => format!("read {e}"),
            }),
            Op::Write {
                name,
                codec,
                chunks,
                end,
            } => {
                if !valid_name(name) || !valid_codec(codec) {
                    return Line(err_invalid("write"));
                }
                if let Some(end) = self.charge(entry_cost(name, codec)) {
                    return Stop(end);
                }
                let mut all = Vec::new();
                for chunk in chunks {
                    let bytes = chunk.materialize();
                    if let Some(end) = self.charge(bytes.len() as u64) {
                        return Stop(end);
                    }
                    all.extend_from_slice(&bytes);
                }
                let size = all.len();
                match end {
                    WriterEnd::Drop => Line("write dropped".into()),
                    WriterEnd::Finish => {
                        self.keep(name, codec, all);
                        Line(format!("write ok {size}"))
                    }
                    WriterEnd::FinishTwice => {
                        self.keep(name, codec, all);
                        Line(format!(
                            "write ok {size} again err invalid then err invalid"
                        ))
                    }
                }
            }
            Op::Declare { items } => {
                if !self.setup.is_foreach {
                    return Line(err_invalid("declare"));
                }
                if items.len() > self.setup.max_items as usize {
                    return Stop(End::Limit(
                        "max_foreach_items",
                        self.setup.max_items.to_string(),
                    ));
                }
                if !items.iter().all(|v| valid_codec(&v.codec)) {
                    return Line(err_invalid("declare"));
                }
                let items: Vec<(String, Vec<u8>)> = items
                    .iter()
                    .map(|v| (v.codec.clone(), v.bytes.materialize()))
                    .collect();
                let kept = items
                    .iter()
                    .map(|(c, b)| (c.len() + b.len()) as u64 + ENTRY_BYTES)
                    .sum();
                if let Some(end) = self.charge(kept) {
                    return Stop(end);
                }
                self.items = Some(items);
                Line("declare ok ".into())
            }
            Op::Param { name } => Line(format!(
                "param {}",
                match params().get(name) {
                    None => "none".to_string(),
                    Some(ParamValue::Int(i)) => format!("int {i}"),
                    Some(ParamValue::String(s)) => format!("string {s:?}"),
                    Some(other) => panic!("no such parameter in the harness: {other:?}"),
                }
            )),
            Op::Foreach => Line(format!(
                "foreach {:?} {:?}",
                self.setup.foreach_path.last(),
                self.setup.foreach_path
            )),
            Op::Log { .. } => Line("log".into()),
        }
    }
}

fn show_infos(view: &BTreeMap<String, Entry>) -> String {
    let items: Vec<String> = view
        .iter()
        .map(|(n, e)| format!("{n:?}:{}:{:?}", e.r.size, e.r.codec))
        .collect();
    format!("[{}]", items.join(","))
}

/// `get` or `get-input` of an entry: the value, or `store` for anything corrupt.
fn read_whole(what: &str, e: &Entry) -> String {
    match (&e.corrupt, &e.bytes) {
        (None, Some(bytes)) => format!("{what} ok {}", show_value(&e.r.codec, bytes)),
        _ => format!("{what} err store"),
    }
}

/// A streaming read with `max` bytes per call, as the guest does it (at most `MAX_READS` calls).
///
/// The host fills each chunk (`min(max, 16 MiB)` bytes) unless the value ends first; the call
/// that meets the end of a corrupt value fails with `store`; an empty chunk is the end.
fn read_stream(e: &Entry, max: u64) -> String {
    let Some(stored) = &e.bytes else {
        // The blob is missing: opening the reader fails.
        return "read err store".into();
    };
    let chunk = max.min(MAX_READ) as usize;
    let mut pos = 0usize;
    let mut ended = false; // the reader has met the end (and verified)
    let ok = |pos: usize| {
        format!(
            "read ok {} {}",
            e.r.size,
            show_value(&e.r.codec, &stored[..pos])
        )
    };
    for _ in 0..MAX_READS {
        if chunk == 0 || ended {
            return ok(pos);
        }
        let n = chunk.min(stored.len() - pos);
        if n < chunk {
            // This call meets the end, and the reader checks what it read.
            if e.corrupt.is_some() {
                return "read err store".into();
            }
            if n == 0 {
                return ok(pos);
            }
            ended = true;
        }
        pos += n;
    }
    format!(
        "read stopped {} {}",
        e.r.size,
        show_value(&e.r.codec, &stored[..pos])
    )
}

/// Seed programs: each kind of op, with valid and invalid names.
pub fn seeds() -> Vec<Vec<u8>> {
    // Setup: flags (join, foreach, small cap, two inputs), cap, max items, path, inputs.
    let setups: [&[u8]; 3] = [
        &[0x00, 0x03, 0x00],
        &[
            0x23, 0x04, 0x00, 0x03, 0x01, 0x07, 0x02, 0x00, 0x01, 0x00, 0x03, 0x01, 0x41, 0x00,
            0x01, 0x02, 0x00, 0x01, 0x01, 0x00,
        ],
        &[
            0x16, 0x10, 0x00, 0x05, 0x01, 0x02, 0x00, 0x02, 0x00, 0x01, 0x04, 0x61, 0x62, 0x63,
            0x64, 0x06,
        ],
    ];
    let programs: [&[u8]; 8] = [
        &[0x00, 0x00, 0x00, 0x03, b'a', b'b', b'c', 0x05, 0x00, 0x07],
        &[0x00, 0x24, 0x00, 0x02, 0x00, 0x0b, 0x00, 0x00, 0x03],
        &[0x04, 0x03, 0xff, 0xfe, 0x80],
        &[
            0x0c, 0x01, 0x01, 0x02, 0x04, 0x10, 0x20, 0x30, 0x40, 0xf3, 0x09, 0x03,
        ],
        &[
            0x0d, 0x03, 0x00, 0x01, 0x05, 0x01, 0x02, 0x00, 0x00, 0x0d, 0xff,
        ],
        &[
            0x08, 0x00, 0x08, 0xff, 0x09, 0x01, 0x0a, 0x00, 0x01, 0x0b, 0x00, 0x01, 0x01, 0x01,
        ],
        &[0x0e, 0x00, 0x00, 0x0e, 0x01, 0x0f, 0x10, 0x00],
        &[
            0x01, 0x02, 0x00, 0xf1, 0x07, 0x06, 0x02, 0x0b, 0x02, 0x00, 0x0c,
        ],
    ];
    let mut out = Vec::new();
    for s in setups {
        for p in programs {
            out.push([s, p].concat());
        }
    }
    out
}
