//! The guest of the contract fuzzer (`runtime/fuzz`, target `contract`).
//!
//! Every step runs the op program in its foreach item (see `ops.rs`): host calls with names and
//! values the fuzzer chose, straight through the raw WIT bindings (the SDK's own checks would hide
//! the host's). It prints one line per op to stdout, which the harness compares with what its
//! model of the contract predicts. Not a real flow.

#![allow(unsafe_code)] // one deliberate call with a name that is not UTF-8

pub mod ops;

use std::io::Write;

use ops::{Op, Val, WriterEnd, show_value};
use wflow::wit::wflow::flow::{artifacts, context, foreach, types};
use wflow::{Flow, FlowSpec, Result, StepSpec};

/// Most `read` calls one `Read` op makes before giving up on a value.
pub const MAX_READS: usize = 4096;

/// The flow type.
pub struct FuzzGuest;

impl Flow for FuzzGuest {
    fn spec() -> FlowSpec {
        FlowSpec::new("FuzzGuest")
            .doc("Runs the op program of its foreach item (a fuzzing harness, not a real flow).")
            .step(StepSpec::new("start").next("end"))
            .step(StepSpec::new("end"))
    }

    fn run_step(_step: &str) -> Result<()> {
        let Some(program) = context::foreach_item() else {
            return Ok(());
        };
        let mut out = std::io::stdout().lock();
        for op in ops::decode(&program.bytes) {
            let line = run(op);
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
        Ok(())
    }
}

wflow::export_flow!(FuzzGuest);

fn wit_value(v: &Val) -> types::Value {
    types::Value {
        codec: v.codec.clone(),
        bytes: v.bytes.materialize(),
    }
}

/// How an error is shown in a line.
pub fn show_error(e: &types::Error) -> String {
    match e {
        types::Error::NotFound(n) => format!("err not-found {n:?}"),
        types::Error::Invalid(_) => "err invalid".into(),
        types::Error::Store(_) => "err store".into(),
    }
}

fn show_infos(infos: &[types::ArtifactInfo]) -> String {
    let items: Vec<String> = infos
        .iter()
        .map(|i| format!("{:?}:{}:{:?}", i.name, i.size, i.codec))
        .collect();
    format!("[{}]", items.join(","))
}

fn show_result<T>(
    what: &str,
    r: std::result::Result<T, types::Error>,
    ok: impl Fn(T) -> String,
) -> String {
    match r {
        Ok(v) => format!("{what} ok {}", ok(v)),
        Err(e) => format!("{what} {}", show_error(&e)),
    }
}

/// Runs one op and returns its line.
fn run(op: Op) -> String {
    match op {
        Op::Put { name, value } => {
            show_result("put", artifacts::put(&name, &wit_value(&value)), |()| {
                String::new()
            })
        }
        Op::PutRawName { name } => {
            let value = types::Value {
                codec: "raw".into(),
                bytes: vec![],
            };
            // SAFETY: deliberately not UTF-8 when the fuzzer says so: the string is only handed
            // to the host, which must refuse it; the guest never reads it as text.
            let name = unsafe { std::str::from_utf8_unchecked(&name) };
            show_result("put", artifacts::put(name, &value), |()| String::new())
        }
        Op::Get { name } => show_result("get", artifacts::get(&name), |v| {
            show_value(&v.codec, &v.bytes)
        }),
        Op::List => format!("list {}", show_infos(&artifacts::list())),
        Op::InputStep { index } => {
            let count = artifacts::input_count();
            show_result(
                &format!("input-step {count}"),
                artifacts::input_step(index),
                |s| format!("{s:?}"),
            )
        }
        Op::ListInput { index } => show_result("list-input", artifacts::list_input(index), |l| {
            show_infos(&l)
        }),
        Op::GetInput { index, name } => {
            show_result("get-input", artifacts::get_input(index, &name), |v| {
                show_value(&v.codec, &v.bytes)
            })
        }
        Op::Read { name, input, max } => {
            let reader = match artifacts::open_reader(&name, input) {
                Ok(r) => r,
                Err(e) => return format!("read {}", show_error(&e)),
            };
            let (size, codec) = (reader.size(), reader.codec());
            let mut all = Vec::new();
            for _ in 0..MAX_READS {
                match reader.read(max) {
                    Ok(chunk) if chunk.is_empty() => {
                        return format!("read ok {size} {}", show_value(&codec, &all));
                    }
                    Ok(chunk) => all.extend_from_slice(&chunk),
                    Err(e) => return format!("read {}", show_error(&e)),
                }
            }
            format!("read stopped {size} {}", show_value(&codec, &all))
        }
        Op::Write {
            name,
            codec,
            chunks,
            end,
        } => {
            let writer = match artifacts::open_writer(&name, &codec) {
                Ok(w) => w,
                Err(e) => return format!("write {}", show_error(&e)),
            };
            for chunk in &chunks {
                if let Err(e) = writer.write(&chunk.materialize()) {
                    return format!("write {}", show_error(&e));
                }
            }
            match end {
                WriterEnd::Drop => "write dropped".into(),
                WriterEnd::Finish => show_result("write", writer.finish(), |n| n.to_string()),
                WriterEnd::FinishTwice => {
                    let first = show_result("write", writer.finish(), |n| n.to_string());
                    let second = show_result("again", writer.finish(), |n| n.to_string());
                    let third = show_result("then", writer.write(&[]), |()| String::new());
                    format!("{first} {second} {third}")
                }
            }
        }
        Op::Declare { items } => {
            let items: Vec<types::Value> = items.iter().map(wit_value).collect();
            show_result("declare", foreach::declare_items(&items), |()| {
                String::new()
            })
        }
        Op::Param { name } => {
            let shown = match context::parameter(&name) {
                None => "none".to_string(),
                Some(types::ParamValue::String(s)) => format!("string {s:?}"),
                Some(types::ParamValue::Int(i)) => format!("int {i}"),
                Some(types::ParamValue::Float(f)) => format!("float {f:?}"),
                Some(types::ParamValue::Bool(b)) => format!("bool {b}"),
                Some(types::ParamValue::Json(j)) => format!("json {j:?}"),
            };
            format!("param {shown}")
        }
        Op::Foreach => format!(
            "foreach {:?} {:?}",
            context::foreach_index(),
            context::foreach_path()
        ),
        Op::Log { len } => {
            let _ = std::io::stderr().write_all(&vec![b'x'; len as usize]);
            "log".into()
        }
    }
}
