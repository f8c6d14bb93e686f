//! Per-task limits under attack (issue 20, items 4–6): a task's memories are counted together, it
//! cannot hold thousands of open readers and writers, and everything it makes the host keep counts
//! against `max_artifact_bytes`. Each attack fails its task with a clear error naming the limit;
//! the other tasks and the store are untouched.

use crate::hostile::{assert_store_is_sound, hostile_fails};
use crate::util::{Env, guest, stderr};

/// A policy file in the env's folder with these `[limits]`.
fn policy(env: &Env, limits: &str) -> String {
    let p = env.dir.path().join("policy.toml");
    std::fs::write(&p, format!("[limits]\n{limits}\n")).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn holding_thousands_of_readers_and_writers_fails_only_that_task() {
    let env = Env::new();
    let g = guest("test-program-hostile");
    let out = env.wflow(&[
        "run",
        "--json",
        "--max-workers",
        "2",
        g.to_str().unwrap(),
        "-p",
        "mode=hold-handles",
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    for needle in [
        "limit `max_open_artifacts` of 256 exceeded",
        "256 open artifact readers and writers",
        "/work/",
    ] {
        assert!(
            err.contains(needle),
            "stderr should mention {needle:?}:\n{err}"
        );
    }
    // The three well-behaved items ran beside it and succeeded.
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let fine = summary["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["step"] == "work" && t["ok"] == true)
        .count();
    assert_eq!(fine, 3, "{summary}");
    assert_store_is_sound(&env);
}

#[test]
fn a_million_long_named_artifacts_hit_the_artifact_count() {
    // The default (100,000) takes longer than the step's 3 s timeout to reach in a debug build;
    // the policy's limit is the same check.
    let env = Env::new();
    let p = policy(&env, "max_artifacts = 5000");
    hostile_fails(
        &env,
        "many-artifacts",
        &["--policy", &p],
        &[
            "limit `max_artifacts` of 5000 exceeded",
            "more than 5000 artifacts",
            "/work/",
        ],
    );
}

#[test]
fn names_count_against_the_artifact_bytes() {
    // Empty values: only the names, codecs and manifest entries are kept, and they count.
    let env = Env::new();
    let p = policy(&env, "max_artifact_bytes = 1048576");
    hostile_fails(
        &env,
        "many-artifacts",
        &["--policy", &p],
        &[
            "limit `max_artifact_bytes` of 1048576 bytes exceeded",
            "names, codecs",
        ],
    );
}

#[test]
fn foreach_items_count_against_the_artifact_bytes() {
    let env = Env::new();
    let p = policy(&env, "max_artifact_bytes = 1048576");
    hostile_fails(
        &env,
        "fat-items",
        &["--policy", &p],
        &[
            "limit `max_artifact_bytes` of 1048576 bytes exceeded",
            "/start/",
        ],
    );
}

#[test]
fn malformed_codecs_are_refused_each_with_a_reason() {
    let err = hostile_fails(&Env::new(), "bad-codecs", &[], &["is not a valid codec"]);
    assert!(!err.contains("ACCEPTED"), "{err}");
    for codec in [
        "``", "`CBOR`", "`raw\\n`", "`x\\0y`", "`é`", "`9lives`", "`cccc",
    ] {
        assert!(err.contains(codec), "{codec} refused: {err}");
    }
    // The 1 MiB codec is not echoed whole.
    assert!(err.len() < 64 << 10, "{} bytes of stderr", err.len());
}

#[test]
fn getting_an_artifact_larger_than_the_step_memory_is_refused_before_reading_it() {
    hostile_fails(
        &Env::new(),
        "huge-get",
        &[],
        &[
            "limit `memory` of 64 MiB exceeded",
            "out of memory for artifact `big` (104857600 bytes",
            "open-reader",
        ],
    );
}

fn leb(mut n: u64, out: &mut Vec<u8>) {
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn section(id: u8, body: &[u8], out: &mut Vec<u8>) {
    out.push(id);
    leb(body.len() as u64, out);
    out.extend_from_slice(body);
}

/// How many core modules a component defines at its top level (one per section 1).
fn core_modules(component: &[u8]) -> u64 {
    let mut modules = 0u64;
    let mut pos = 8;
    while pos < component.len() {
        let id = component[pos];
        pos += 1;
        let (mut size, mut shift) = (0u64, 0);
        loop {
            let b = component[pos];
            pos += 1;
            size |= u64::from(b & 0x7f) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                break;
            }
        }
        modules += u64::from(id == 1);
        pos += size as usize;
    }
    modules
}

/// The hostile guest with `extra` more core modules, each instantiated with its own memory of
/// `pages` 64 KiB pages: appended to the component as a core module and a core instance section
/// (both may come in any order, and an instance nobody uses is still instantiated).
fn with_extra_memories(component: &[u8], extra: usize, pages: u32) -> Vec<u8> {
    let modules = core_modules(component);
    let mut out = component.to_vec();
    for i in 0..extra as u64 {
        // (module (memory PAGES))
        let mut memory = vec![1, 0];
        leb(pages.into(), &mut memory);
        let mut module = b"\0asm\x01\0\0\0".to_vec();
        section(5, &memory, &mut module);
        section(1, &module, &mut out);
        // (core instance (instantiate MODULE))
        let mut instance = vec![1, 0];
        leb(modules + i, &mut instance);
        instance.push(0);
        section(2, &instance, &mut out);
    }
    out
}

#[test]
fn extra_memories_count_against_the_step_memory() {
    let env = Env::new();
    let bytes = std::fs::read(guest("test-program-hostile")).unwrap();
    // 3 × 60 MiB: each under `work`'s 64 MiB limit, together far over it.
    let bomb = env.dir.path().join("many-memories.wasm");
    std::fs::write(&bomb, with_extra_memories(&bytes, 3, 960)).unwrap();
    let out = env.wflow(&["run", "--max-workers", "1", bomb.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("out of memory") && err.contains("64 MiB") && err.contains("/work/"),
        "{err}"
    );
    // One extra memory of 16 MiB fits beside the guest's own: the same construction runs.
    let small = env.dir.path().join("one-memory.wasm");
    std::fs::write(&small, with_extra_memories(&bytes, 1, 256)).unwrap();
    let ok = env.run_ok(&small, &[]);
    assert_eq!(ok["status"], "succeeded");
    assert_store_is_sound(&env);
}

/// A core module of `functions` functions `() -> ()`, each with `locals` i64 locals and a body
/// made by `body` (without its final `end`).
fn core_module(functions: u32, locals: u32, body: &dyn Fn() -> Vec<u8>) -> Vec<u8> {
    let mut m = b"\0asm\x01\0\0\0".to_vec();
    section(1, &[1, 0x60, 0, 0], &mut m); // one type: () -> ()
    let mut funcs = Vec::new();
    leb(functions.into(), &mut funcs);
    funcs.extend(std::iter::repeat_n(0u8, functions as usize));
    section(3, &funcs, &mut m);
    let mut code = Vec::new();
    leb(functions.into(), &mut code);
    let mut one = vec![1];
    leb(locals.into(), &mut one);
    one.push(0x7e); // i64
    one.extend(body());
    one.push(0x0b); // end
    for _ in 0..functions {
        leb(one.len() as u64, &mut code);
        code.extend_from_slice(&one);
    }
    section(10, &code, &mut m);
    m
}

/// The hello example with `module` added to it (compiled with the component, never run).
fn flow_with_module(env: &Env, name: &str, module: &[u8]) -> std::path::PathBuf {
    let mut bytes = std::fs::read(guest("example-hello")).unwrap();
    section(1, module, &mut bytes);
    let path = env.dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Issue 22's first shape: 4,000 locals live across 4,000 nested loops (90 s and 1.7 GB of
/// Cranelift before). Refused by the parse before compiling, by `check` and by `run`.
#[test]
fn a_compile_bomb_of_nested_loops_is_refused_before_compiling() {
    let env = Env::new();
    let (locals, loops) = (4_000u32, 4_000u32);
    let body = || {
        let mut b = Vec::new();
        for _ in 0..loops {
            b.extend([0x03, 0x40]); // loop
        }
        for i in 0..locals {
            // local[i+1] = local[i] + 1: every local live in the innermost loop
            b.push(0x20);
            leb(i.into(), &mut b);
            b.extend([0x42, 1, 0x7c, 0x21]);
            leb(((i + 1) % locals).into(), &mut b);
        }
        for depth in 0..loops {
            // branch back to the loop `depth` levels out while local 0 is not zero
            b.push(0x20);
            b.push(0);
            b.extend([0x50, 0x45, 0x0d]); // i64.eqz, i32.eqz, br_if
            leb(depth.into(), &mut b);
            b.push(0x0b);
        }
        b
    };
    let bomb = flow_with_module(&env, "nested-loops.wasm", &core_module(1, locals, &body));
    for cmd in ["check", "run"] {
        let out = env.wflow(&[cmd, bomb.to_str().unwrap()]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{cmd}: {err}");
        assert!(
            err.contains("over the compile limit `max_nesting` of 2000")
                && err.contains("nests blocks 4000 deep"),
            "{cmd}: {err}"
        );
    }
    assert!(env.store_files().is_empty(), "nothing was stored");
}

/// Issue 22's second shape: 20,000 functions, 27 MB. Within the structural bounds, so it is
/// compiled — in a child process whose CPU time the policy caps (2 s here): it is stopped there
/// with an error naming the limit, however long it would have taken.
#[test]
fn a_compile_bomb_of_many_functions_is_stopped_at_the_compile_time_limit() {
    let env = Env::new();
    let body = || {
        let mut b = vec![0x03, 0x40]; // loop
        for i in 0..190u8 {
            // local[(i+2)%20] = local[i%20] + local[(i+1)%20]
            b.extend([0x20, i % 20, 0x20, (i + 1) % 20, 0x7c, 0x21, (i + 2) % 20]);
        }
        b.extend([0x20, 0, 0x50, 0x0d, 0, 0x0b]); // br_if 0 (eqz local 0), end
        b
    };
    let module = core_module(20_000, 20, &body);
    assert!(module.len() > 25 << 20, "{} bytes", module.len());
    let bomb = flow_with_module(&env, "many-functions.wasm", &module);
    let p = policy(&env, "max_compile_secs = 2");
    let out = env
        .command(&["check", "--policy", &p, bomb.to_str().unwrap()])
        .env("WFLOW_CACHE_DIR", env.dir.path().join("cache"))
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("over the compile limit `max_compile_secs` of 2")
            && err.contains("many-functions.wasm"),
        "{err}"
    );
    // The same limits admit a normal flow.
    let ok = env
        .command(&[
            "check",
            "--policy",
            &p,
            guest("example-hello").to_str().unwrap(),
        ])
        .env("WFLOW_CACHE_DIR", env.dir.path().join("cache"))
        .output()
        .unwrap();
    assert!(ok.status.success(), "{}", stderr(&ok));
}

/// A flow run with its own compile cache and cache key (in the env's folder).
fn run_cached(env: &Env, flow: &std::path::Path) -> std::process::Output {
    env.command(&["run", "--json", flow.to_str().unwrap()])
        .env("WFLOW_CACHE_DIR", env.dir.path().join("cache"))
        .env("XDG_CONFIG_HOME", env.dir.path().join("config"))
        .output()
        .unwrap()
}

/// The cached compiled code of `flow` in the env's cache.
fn cached_code(env: &Env, flow: &std::path::Path) -> std::path::PathBuf {
    let digest = wflow_core::Digest::of(&std::fs::read(flow).unwrap()).to_string();
    let dir = env.dir.path().join("cache").join("compiled");
    let version = std::fs::read_dir(&dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let file = version.join(format!("{digest}.cwasm"));
    assert!(file.exists(), "{} is cached", file.display());
    file
}

/// Issue 20 item 3: a cache entry replaced by another flow's compiled code, by garbage or by a
/// crafted file with the right trailer is ignored with a warning; the victim runs its own code and
/// its entry is rewritten.
#[test]
fn a_swapped_or_crafted_compiled_cache_entry_is_not_run() {
    let env = Env::new();
    let (victim, other) = (guest("example-hello"), guest("test-program-hostile"));
    for flow in [&victim, &other] {
        let out = run_cached(&env, flow);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
    }
    let (victim_code, other_code) = (cached_code(&env, &victim), cached_code(&env, &other));
    let genuine = std::fs::read(&victim_code).unwrap();
    let mut crafted = b"not code".repeat(1000);
    crafted.extend_from_slice(&genuine[genuine.len() - 40..]);
    let attacks: [(&str, Vec<u8>); 4] = [
        ("another flow's code", std::fs::read(&other_code).unwrap()),
        ("garbage", b"\x7fELF garbage".repeat(100)),
        ("a crafted file with a copied tag", crafted),
        ("an empty file", Vec::new()),
    ];
    for (what, bytes) in attacks {
        std::fs::write(&victim_code, bytes).unwrap();
        let out = run_cached(&env, &victim);
        let err = stderr(&out);
        assert!(out.status.success(), "{what}: {err}");
        assert!(
            err.contains("warning: ignored the cached compiled code")
                && err.contains("compiling the component again"),
            "{what}: {err}"
        );
        // The victim ran its own code: hello's steps and artifacts, not Hostile's.
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(summary["flow"], "Hello", "{what}: {summary}");
        // The entry was rewritten: the next run uses it without a warning.
        let out = run_cached(&env, &victim);
        let err = stderr(&out);
        assert!(
            out.status.success() && !err.contains("warning"),
            "{what}: {err}"
        );
    }
    let key = env.dir.path().join("config/wflow/cache-key");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

/// `wflow check` with the env's own cache and key; returns stderr (which says how many functions
/// a compile reused).
fn check_cached(env: &Env, flow: &std::path::Path) -> String {
    let out = env
        .command(&["check", flow.to_str().unwrap()])
        .env("WFLOW_CACHE_DIR", env.dir.path().join("cache"))
        .env("XDG_CONFIG_HOME", env.dir.path().join("config"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    stderr(&out)
}

/// The functions a compile reused and compiled, from its note.
fn functions_of(err: &str) -> (usize, usize) {
    let line = err
        .lines()
        .find(|l| l.starts_with("Compiled the component: "))
        .unwrap_or_else(|| panic!("no compile note in:\n{err}"));
    let numbers: Vec<usize> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    (numbers[0], numbers[1])
}

/// Issue 15 item 3: a component whose code is unchanged (here: the same component with one more
/// custom section, a new digest) takes its functions from the function cache (all but a few
/// trampolines); a damaged function cache is not trusted: the next compile compiles everything
/// and writes a good one again.
#[test]
fn unchanged_functions_are_reused_across_components_and_a_damaged_function_cache_is_not() {
    let env = Env::new();
    let hello = guest("example-hello");
    // (Functions that occur twice in one component may be reused from the first.)
    let first = functions_of(&check_cached(&env, &hello));
    let all = first.0 + first.1;
    assert!(first.1 > 10 && first.1 * 2 > all, "{first:?}");
    let mostly_reused = |(reused, compiled): (usize, usize)| {
        assert_eq!(reused + compiled, all);
        assert!(
            reused > 4 * compiled,
            "{reused} reused, {compiled} compiled"
        );
    };
    // The same code under another digest: a custom section `x` appended.
    let mut bytes = std::fs::read(&hello).unwrap();
    bytes.extend_from_slice(&[0, 3, 1, b'x', b'!']);
    let variant = env.dir.path().join("variant.wasm");
    std::fs::write(&variant, &bytes).unwrap();
    mostly_reused(functions_of(&check_cached(&env, &variant)));
    // Loaded from the compiled-code cache now: no compile at all.
    assert!(!check_cached(&env, &variant).contains("Compiled the component"));

    let pack = std::fs::read_dir(env.dir.path().join("cache/compiled"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
        .join("functions.pack");
    let mut damaged = std::fs::read(&pack).unwrap();
    let at = damaged.len() / 3;
    damaged[at] ^= 1;
    std::fs::write(&pack, &damaged).unwrap();
    bytes.push(0); // one more custom section, empty: another digest, so another compile
    bytes.extend_from_slice(&[2, 1, b'y']);
    std::fs::write(&variant, &bytes).unwrap();
    let again = functions_of(&check_cached(&env, &variant));
    assert!(again.0 + again.1 == all && again.1 * 2 > all, "{again:?}");
    bytes.extend_from_slice(&[0, 2, 1, b'z']);
    std::fs::write(&variant, &bytes).unwrap();
    mostly_reused(functions_of(&check_cached(&env, &variant)));
}

/// Issue 20: after a kill -9 during a large streamed write, the writer's scratch file stayed in
/// the store's `tmp/` forever. The next run removes scratch files no live process holds (a writer
/// keeps its file locked) once they are a minute old; a live writer's file is kept.
#[test]
fn scratch_files_of_dead_writers_are_removed_by_the_next_run() {
    let env = Env::new();
    let hello = guest("example-hello");
    env.run_ok(&hello, &[]);
    let tmp = env.store().join("tmp");
    let dead = tmp.join("write-0123456789abcdef-999999-0.tmp");
    std::fs::write(&dead, vec![0u8; 1 << 20]).unwrap();
    // A writer still alive (this test process) holds its file locked.
    let live = tmp.join("write-0123456789abcdef-999998-0.tmp");
    let held = std::fs::File::create(&live).unwrap();
    held.lock().unwrap();
    let touched = std::process::Command::new("touch")
        .args(["-d", "2 minutes ago"])
        .args([&dead, &live])
        .status()
        .unwrap();
    assert!(touched.success());
    env.run_ok(&hello, &[]);
    assert!(!dead.exists(), "the dead writer's file is removed");
    assert!(live.exists(), "the live writer's file is kept");
    assert_store_is_sound(&env);
}
