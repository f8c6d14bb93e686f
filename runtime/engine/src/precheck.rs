//! What is checked before a component reaches Cranelift: that it is a flow (its exports and
//! imports against `wflow:flow@0.1.0`), and that compiling it stays within bounds — its size, its
//! number of functions and, per function, its code size, its locals, how deeply its blocks nest
//! and how many locals may be live across its loops (what makes a register allocator's work grow
//! with the product of the two). Only a parse: nothing is compiled or validated here, so a
//! 100 KB file cannot cost minutes before it is refused.

use wasmparser::{Encoding, Operator, Parser, Payload};

#[cfg(test)]
use crate::component::FLOW_EXPORT;
use crate::component::{CONTRACT_VERSIONS, FLOW_EXPORTS, unknown_contract};
use crate::error::{EngineError, Result};

/// Bounds on what a component may ask of the compiler.
#[derive(Clone, Debug, PartialEq)]
pub struct CompileLimits {
    /// Largest component file, in bytes.
    pub max_component_bytes: u64,
    /// Most functions with code, in all core modules together.
    pub max_functions: u64,
    /// Largest function body, in bytes.
    pub max_function_bytes: u64,
    /// Most locals (parameters excluded) in one function.
    pub max_locals: u64,
    /// Deepest nesting of blocks, loops and ifs in one function.
    pub max_nesting: u64,
    /// Most (locals × loops) in one function.
    pub max_locals_times_loops: u64,
    /// CPU seconds the compiler may use (enforced where it runs: a child process's rlimit).
    pub max_cpu_secs: u64,
    /// Address space of the compiler process, in MiB.
    pub max_memory_mb: u64,
}

impl Default for CompileLimits {
    /// Limits that admit the Python (CPython, 19 MB: 13,398 functions, bodies up to 427 KB, up to
    /// 271 locals, nesting 781 deep, locals × loops up to 8,401) and JavaScript (StarlingMonkey,
    /// 12 MB: 12,751 functions, up to 118 locals, nesting 456, locals × loops up to 46,256)
    /// components with a wide margin.
    fn default() -> Self {
        CompileLimits {
            max_component_bytes: 128 << 20,
            max_functions: 200_000,
            max_function_bytes: 4 << 20,
            max_locals: 50_000,
            max_nesting: 2_000,
            max_locals_times_loops: 1_000_000,
            max_cpu_secs: 120,
            max_memory_mb: 2048,
        }
    }
}

/// Checks `bytes` (already known to start like a component) before any compilation.
pub(crate) fn check(bytes: &[u8], origin: &str, limits: &CompileLimits) -> Result<()> {
    let too_big = |limit: &'static str, value: u64, detail: String| EngineError::TooComplex {
        origin: origin.into(),
        limit,
        value,
        detail,
    };
    if bytes.len() as u64 > limits.max_component_bytes {
        return Err(too_big(
            "max_component_bytes",
            limits.max_component_bytes,
            format!("the file is {} bytes", bytes.len()),
        ));
    }
    let invalid = |e: wasmparser::BinaryReaderError| EngineError::Invalid {
        origin: origin.into(),
        reason: e.to_string(),
    };
    // Encodings of the enclosing modules and components; the flow's own is the first.
    let mut stack: Vec<Encoding> = Vec::new();
    let mut exports: Vec<String> = Vec::new();
    let mut imports: Vec<String> = Vec::new();
    let mut functions = 0u64;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(invalid)? {
            Payload::Version { encoding, .. } => stack.push(encoding),
            Payload::End(_) => {
                stack.pop();
            }
            Payload::ComponentImportSection(s) if stack.len() == 1 => {
                for i in s {
                    imports.push(i.map_err(invalid)?.name.name.to_string());
                }
            }
            Payload::ComponentExportSection(s) if stack.len() == 1 => {
                for e in s {
                    exports.push(e.map_err(invalid)?.name.name.to_string());
                }
            }
            Payload::CodeSectionEntry(body) => {
                functions += 1;
                if functions > limits.max_functions {
                    return Err(too_big(
                        "max_functions",
                        limits.max_functions,
                        format!("it has more than {} functions", limits.max_functions),
                    ));
                }
                let (start, end) = (body.range().start, body.range().end);
                let size = (end - start) as u64;
                if size > limits.max_function_bytes {
                    return Err(too_big(
                        "max_function_bytes",
                        limits.max_function_bytes,
                        format!("function {functions} is {size} bytes"),
                    ));
                }
                let f = function_shape(&body).map_err(invalid)?;
                let name = |what: String| format!("function {functions} {what}");
                if f.locals > limits.max_locals {
                    return Err(too_big(
                        "max_locals",
                        limits.max_locals,
                        name(format!("has {} locals", f.locals)),
                    ));
                }
                if f.nesting > limits.max_nesting {
                    return Err(too_big(
                        "max_nesting",
                        limits.max_nesting,
                        name(format!("nests blocks {} deep", f.nesting)),
                    ));
                }
                if f.locals.saturating_mul(f.loops) > limits.max_locals_times_loops {
                    return Err(too_big(
                        "max_locals_times_loops",
                        limits.max_locals_times_loops,
                        name(format!("has {} locals and {} loops", f.locals, f.loops)),
                    ));
                }
            }
            _ => {}
        }
    }
    check_contract(&exports, &imports, origin)
}

/// A function's locals, deepest nesting and loops.
#[derive(Debug, Default, PartialEq)]
struct Shape {
    locals: u64,
    nesting: u64,
    loops: u64,
}

fn function_shape(body: &wasmparser::FunctionBody<'_>) -> wasmparser::Result<Shape> {
    let mut shape = Shape::default();
    let mut locals = body.get_locals_reader()?;
    for _ in 0..locals.get_count() {
        let (n, _) = locals.read()?;
        shape.locals += u64::from(n);
    }
    let mut ops = body.get_operators_reader()?;
    let mut depth = 0u64;
    while !ops.eof() {
        match ops.read()? {
            Operator::Loop { .. } => {
                shape.loops += 1;
                depth += 1;
            }
            Operator::Block { .. }
            | Operator::If { .. }
            | Operator::Try { .. }
            | Operator::TryTable { .. } => depth += 1,
            Operator::End | Operator::Delegate { .. } => depth = depth.saturating_sub(1),
            _ => continue,
        }
        shape.nesting = shape.nesting.max(depth);
    }
    Ok(shape)
}

/// A flow exports `wflow:flow/flow@0.1.0` and imports only the wflow contract and WASI 0.2. A
/// component of a contract version this host does not run is told so first, whatever else is
/// wrong with it.
fn check_contract(exports: &[String], imports: &[String], origin: &str) -> Result<()> {
    if let Some(name) = unknown_contract(exports.iter().chain(imports)) {
        return Err(EngineError::unknown_contract(origin, name));
    }
    if !exports.iter().any(|n| FLOW_EXPORTS.contains(&n.as_str())) {
        let reason = if exports.is_empty() {
            "it exports nothing".to_string()
        } else {
            format!(
                "it exports {} instead",
                exports
                    .iter()
                    .take(8)
                    .map(|n| format!("`{}`", n.escape_debug()))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        return Err(EngineError::WrongWorld {
            origin: origin.into(),
            reason,
        });
    }
    let known = |name: &str| {
        let (interface, version) = name.split_once('@').unwrap_or((name, ""));
        (interface.starts_with("wflow:flow/") && CONTRACT_VERSIONS.contains(&version))
            || (interface.starts_with("wasi:") && version.starts_with("0.2."))
    };
    if let Some(bad) = imports.iter().find(|n| !known(n)) {
        let shown: String = bad.chars().take(128).collect();
        return Err(EngineError::MissingImport {
            origin: origin.into(),
            reason: format!("it imports `{}`", shown.escape_debug()),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_contract_is_checked_from_the_names() {
        let ok = names(&[FLOW_EXPORT]);
        let wasi = names(&["wasi:io/streams@0.2.6", "wflow:flow/artifacts@0.1.0"]);
        assert!(check_contract(&ok, &wasi, "f").is_ok());
        // A contract version this host does not run: named, with the versions it does run, in
        // an export, an import (even beside a known export), or a name without a version.
        for (exports, imports) in [
            (
                names(&["wflow:flow/flow@0.9.0"]),
                names(&["wflow:flow/context@0.9.0"]),
            ),
            (ok.clone(), names(&["wflow:flow/context@0.9.0"])),
            (names(&["wflow:flow/flow"]), vec![]),
        ] {
            let e = check_contract(&exports, &imports, "f.wasm").unwrap_err();
            assert!(matches!(e, EngineError::UnknownContract { .. }), "{e}");
            let text = e.to_string();
            assert!(
                text.contains("f.wasm") && text.contains("`wflow:flow@0.1.0`"),
                "{text}"
            );
        }
        let e = check_contract(&names(&["wflow:flow/flow@0.9.0"]), &[], "f").unwrap_err();
        assert!(e.to_string().contains("`wflow:flow@0.9.0`"), "{e}");
        let e = check_contract(&[], &[], "f").unwrap_err();
        assert!(e.to_string().contains("exports nothing"), "{e}");
        let e = check_contract(&ok, &names(&["test:missing/secrets@1.0.0"]), "f").unwrap_err();
        assert!(e.to_string().contains("test:missing/secrets"), "{e}");
        let e = check_contract(&ok, &names(&["wasi:http/types@0.3.0"]), "f").unwrap_err();
        assert!(matches!(e, EngineError::MissingImport { .. }), "{e}");
    }
}
