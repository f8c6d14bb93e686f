//! Compiling a component with bounded time and memory.
//!
//! Cranelift's cost can grow much faster than a component's size (a 115 KB file took 90 s and
//! 1.7 GB), so a component from anyone is compiled in a **child process** whose address space and
//! CPU time are capped with `setrlimit` (`RLIMIT_AS`, `RLIMIT_CPU`), with a wall-clock deadline on
//! top: the child reads the component on stdin and writes the serialized code on stdout; the
//! parent kills it if it overstays and reports which limit was hit. The child is the same binary
//! (the CLI re-executes itself with a hidden subcommand that calls [`compile_main`]) and builds
//! its engine with the parent's settings, so the code it returns is what the parent would have
//! compiled.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::engine::{Engine, EngineConfig, wasmtime_config};
use crate::error::{EngineError, Result};
use crate::functions::Functions;
use crate::precheck::CompileLimits;

/// Where components are compiled.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Compiler {
    /// In this process, unbounded: for tests and tools that compile only their own components.
    #[default]
    InProcess,
    /// In a child process with the time and memory of [`CompileLimits`]: `program` run with
    /// `args`, then the engine settings, must call [`compile_main`] with those settings.
    Subprocess {
        /// The program (the `wflow` binary).
        program: PathBuf,
        /// Arguments before the settings (the hidden subcommand).
        args: Vec<String>,
    },
}

/// Most bytes of compiled code a child may return.
const MAX_CODE: u64 = 4 << 30;

/// What a compile with the function cache took from it: functions reused and compiled, and the
/// pack to keep.
pub(crate) struct Reused {
    pub(crate) reused: usize,
    pub(crate) compiled: usize,
    pub(crate) pack: Vec<u8>,
}

/// Compiles `bytes` in this process with the function cache `functions` (an engine of `config`'s
/// settings without pooling, whose code any engine of those settings loads); returns the
/// serialized code.
pub(crate) fn with_functions(
    config: &EngineConfig,
    bytes: &[u8],
    functions: &Arc<Functions>,
) -> std::result::Result<Vec<u8>, String> {
    let mut wcfg = wasmtime_config(&EngineConfig {
        pooling: false,
        ..config.clone()
    });
    wcfg.enable_incremental_compilation(functions.clone())
        .map_err(|e| format!("cannot configure wasmtime: {e:#}"))?;
    let engine =
        wasmtime::Engine::new(&wcfg).map_err(|e| format!("cannot configure wasmtime: {e:#}"))?;
    engine
        .precompile_component(bytes)
        .map_err(|e| format!("{e:#}"))
}

/// Compiles `bytes` in a bounded child process, with the function cache when given; returns the
/// serialized code and the function cache to keep.
pub(crate) fn in_child(
    engine: &Engine,
    program: &PathBuf,
    args: &[String],
    bytes: &[u8],
    origin: &str,
    functions: Option<&Arc<Functions>>,
) -> Result<(Vec<u8>, Option<Reused>)> {
    let config = engine.config();
    let limits = &config.compile_limits;
    let failed = |reason: String| EngineError::Compile {
        origin: origin.into(),
        reason,
    };
    // With a function cache, the child reads `[pack length: u64 LE][pack][component]` and writes
    // `[code length: u64 LE][code][functions reused: u64 LE][functions compiled: u64 LE][pack]`.
    let pack = functions.map(|f| f.pack());
    let mut input = Vec::new();
    if let Some(pack) = &pack {
        input.extend_from_slice(&(pack.len() as u64).to_le_bytes());
        input.extend_from_slice(pack);
    }
    drop(pack);
    let input: &[u8] = if input.is_empty() {
        bytes
    } else {
        input.extend_from_slice(bytes);
        &input
    };
    let mut child = Command::new(program)
        .args(args)
        .args(settings_args(config))
        .args(functions.map(|_| "--functions=1"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed(format!("cannot start {}: {e}", program.display())))?;
    let (mut stdin, stdout, stderr) = (
        child.stdin.take().expect("piped"),
        child.stdout.take().expect("piped"),
        child.stderr.take().expect("piped"),
    );
    // CPU time is capped by the child's rlimit; the wall clock allows for a busy machine.
    let deadline = Duration::from_secs(limits.max_cpu_secs.saturating_mul(4).saturating_add(60));
    let started = Instant::now();
    let (code, message, status, killed) = std::thread::scope(|s| {
        s.spawn(move || {
            // The child may die before reading everything: its status says why.
            let _ = stdin.write_all(input);
        });
        let code = s.spawn(move || {
            let mut code = Vec::new();
            stdout.take(MAX_CODE).read_to_end(&mut code).map(|_| code)
        });
        let message = s.spawn(move || {
            let mut text = Vec::new();
            let _ = stderr.take(64 << 10).read_to_end(&mut text);
            String::from_utf8_lossy(&text).trim().to_string()
        });
        let mut killed = false;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Ok(status),
                Ok(None) if started.elapsed() > deadline && !killed => {
                    let _ = child.kill();
                    killed = true;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => break Err(e),
            }
        };
        (
            code.join().expect("reader thread"),
            message.join().expect("reader thread"),
            status,
            killed,
        )
    });
    let status = status.map_err(|e| failed(format!("waiting for the compiler: {e}")))?;
    let over = |limit: &'static str, value: u64, detail: String| EngineError::TooComplex {
        origin: origin.into(),
        limit,
        value,
        detail,
    };
    if killed {
        return Err(over(
            "max_compile_secs",
            limits.max_cpu_secs,
            format!(
                "compiling took longer than {} s of wall-clock time and was stopped",
                deadline.as_secs()
            ),
        ));
    }
    if status.success() {
        let out = code.map_err(|e| failed(format!("reading the compiled code: {e}")))?;
        if functions.is_none() {
            return Ok((out, None));
        }
        let word = |at: usize| {
            out.get(at..at + 8)
                .map(|n| u64::from_le_bytes(n.try_into().expect("8 bytes")))
        };
        let framed = word(0)
            .map(|n| n as usize)
            .filter(|&n| n <= out.len().saturating_sub(24));
        let (Some(n), Some(reused), Some(compiled)) = (
            framed,
            framed.and_then(|n| word(8 + n)),
            framed.and_then(|n| word(16 + n)),
        ) else {
            return Err(failed("the compiler's output is cut short".into()));
        };
        let reused = Reused {
            reused: reused as usize,
            compiled: compiled as usize,
            pack: out[24 + n..].to_vec(),
        };
        let mut code = out;
        code.truncate(8 + n);
        code.drain(..8);
        return Ok((code, Some(reused)));
    }
    use std::os::unix::process::ExitStatusExt;
    let out_of_memory = message.contains("memory allocation of")
        || message.contains("out of memory")
        || message.contains("Cannot allocate memory");
    match status.signal() {
        Some(libc::SIGXCPU) | Some(libc::SIGKILL) => Err(over(
            "max_compile_secs",
            limits.max_cpu_secs,
            format!(
                "compiling used all {} s of CPU time it may use and was stopped",
                limits.max_cpu_secs
            ),
        )),
        _ if out_of_memory => Err(over(
            "max_compile_memory_mb",
            limits.max_memory_mb,
            format!(
                "compiling needed more than {} MiB of memory and was stopped",
                limits.max_memory_mb
            ),
        )),
        Some(sig) => Err(failed(format!(
            "the compiler died of signal {sig}: {message}"
        ))),
        None => Err(EngineError::Invalid {
            origin: origin.into(),
            reason: message,
        }),
    }
}

/// The settings a child needs to build the parent's engine, as arguments.
fn settings_args(c: &EngineConfig) -> Vec<String> {
    vec![
        format!("--fuel={}", c.fuel),
        format!("--epochs={}", c.epoch_interruption),
        format!("--max-wasm-stack={}", c.max_wasm_stack),
        format!("--cpu-secs={}", c.compile_limits.max_cpu_secs),
        format!("--memory-mb={}", c.compile_limits.max_memory_mb),
    ]
}

/// The child's side: `args` are the settings [`in_child`] passed; reads a component on stdin,
/// caps its own CPU time and address space, compiles and writes the serialized code on stdout.
/// Errors go to stderr with a non-zero exit.
pub fn compile_main(args: &[String]) -> ExitCode {
    match child(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}

fn child(args: &[String]) -> std::result::Result<(), String> {
    let mut config = EngineConfig {
        pooling: false,
        compile_limits: CompileLimits::default(),
        ..EngineConfig::default()
    };
    let mut with_cache = false;
    fn parse<T: std::str::FromStr>(a: &str, value: &str) -> std::result::Result<T, String> {
        value.parse().map_err(|_| format!("bad value in `{a}`"))
    }
    for a in args {
        let (key, value) = a
            .split_once('=')
            .ok_or_else(|| format!("unexpected argument `{a}`"))?;
        match key {
            "--fuel" => config.fuel = parse(a, value)?,
            "--epochs" => config.epoch_interruption = parse(a, value)?,
            "--max-wasm-stack" => config.max_wasm_stack = parse(a, value)?,
            "--cpu-secs" => config.compile_limits.max_cpu_secs = parse(a, value)?,
            "--memory-mb" => config.compile_limits.max_memory_mb = parse(a, value)?,
            "--functions" => with_cache = value == "1",
            _ => return Err(format!("unexpected argument `{a}`")),
        }
    }
    limit_self(&config.compile_limits)?;
    let mut bytes = Vec::new();
    std::io::stdin()
        .read_to_end(&mut bytes)
        .map_err(|e| format!("reading the component: {e}"))?;
    let mut out = std::io::stdout().lock();
    let written = if with_cache {
        let n = bytes
            .get(..8)
            .map(|n| u64::from_le_bytes(n.try_into().expect("8 bytes")) as usize)
            .filter(|&n| n <= bytes.len() - 8)
            .ok_or("the function cache's length is missing")?;
        // A pack that does not parse is an empty cache: it only costs time.
        let functions = Arc::new(Functions::from_pack(&bytes[8..8 + n]).unwrap_or_default());
        let code = with_functions(&config, &bytes[8 + n..], &functions)?;
        let (reused, compiled) = functions.counts();
        out.write_all(&(code.len() as u64).to_le_bytes())
            .and_then(|()| out.write_all(&code))
            .and_then(|()| out.write_all(&(reused as u64).to_le_bytes()))
            .and_then(|()| out.write_all(&(compiled as u64).to_le_bytes()))
            .and_then(|()| out.write_all(&functions.pack()))
    } else {
        let engine = wasmtime::Engine::new(&wasmtime_config(&config))
            .map_err(|e| format!("cannot configure wasmtime: {e:#}"))?;
        let code = engine
            .precompile_component(&bytes)
            .map_err(|e| format!("{e:#}"))?;
        out.write_all(&code)
    };
    written.map_err(|e| format!("writing the compiled code: {e}"))
}

/// Caps this process's CPU time and address space, and turns off core dumps.
fn limit_self(limits: &CompileLimits) -> std::result::Result<(), String> {
    let set = |resource, soft: u64, hard: u64, what: &str| {
        let lim = libc::rlimit {
            rlim_cur: soft as libc::rlim_t,
            rlim_max: hard as libc::rlim_t,
        };
        // SAFETY: setrlimit reads a valid, initialised struct; it touches no Rust-managed memory.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::setrlimit(resource, &lim) };
        if rc == 0 {
            Ok(())
        } else {
            Err(format!(
                "cannot limit the compiler's {what}: {}",
                std::io::Error::last_os_error()
            ))
        }
    };
    let cpu = limits.max_cpu_secs.max(1);
    set(libc::RLIMIT_CPU, cpu, cpu + 5, "CPU time")?;
    let bytes = limits.max_memory_mb.saturating_mul(1 << 20);
    set(libc::RLIMIT_AS, bytes, bytes, "address space")?;
    set(libc::RLIMIT_CORE, 0, 0, "core dumps")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_compiled_without_pooling_loads_in_a_pooling_engine() {
        for (fuel, epochs) in [(false, true), (true, true), (false, false)] {
            let base = EngineConfig {
                fuel,
                epoch_interruption: epochs,
                ..EngineConfig::default()
            };
            let child = wasmtime::Engine::new(&wasmtime_config(&EngineConfig {
                pooling: false,
                ..base.clone()
            }))
            .unwrap();
            // The smallest component: the header alone.
            let code = child
                .precompile_component(b"\0asm\x0d\x00\x01\x00")
                .unwrap();
            let parent = Engine::new(base).unwrap();
            // SAFETY: code compiled just above by wasmtime itself.
            #[allow(unsafe_code)]
            let loaded =
                unsafe { wasmtime::component::Component::deserialize(parent.wasmtime(), &code) };
            assert!(
                loaded.is_ok(),
                "fuel {fuel} epochs {epochs}: {:?}",
                loaded.err()
            );
        }
    }
}
