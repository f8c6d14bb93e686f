//! Every bad input ends with a clear message naming the problem, a non-zero exit, and nothing
//! written to the store.

use crate::util::{Env, guest, stderr};

fn refused(env: &Env, args: &[&str], code: i32, needles: &[&str]) {
    let out = env.wflow(args);
    let err = stderr(&out);
    assert_eq!(
        out.status.code(),
        Some(code),
        "exit code for {args:?}; stderr:\n{err}"
    );
    for n in needles {
        assert!(
            err.contains(n),
            "stderr of {args:?} should mention {n:?}:\n{err}"
        );
    }
    assert!(
        env.store_files().is_empty(),
        "nothing is stored on bad input: {:?}",
        env.store_files()
    );
}

fn file(env: &Env, name: &str, bytes: &[u8]) -> String {
    let p = env.dir.path().join(name);
    std::fs::write(&p, bytes).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn random_bytes() {
    let env = Env::new();
    let f = file(
        &env,
        "random.wasm",
        &[0x13, 0x37, 0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3],
    );
    refused(
        &env,
        &["run", &f],
        2,
        &["random.wasm", "not a WebAssembly file"],
    );
}

#[test]
fn empty_file() {
    let env = Env::new();
    let f = file(&env, "empty.wasm", b"");
    refused(&env, &["run", &f], 2, &["empty.wasm", "empty"]);
}

#[test]
fn core_module_instead_of_component() {
    let env = Env::new();
    let f = file(&env, "core.wasm", b"\0asm\x01\0\0\0");
    refused(
        &env,
        &["run", &f],
        2,
        &["core WebAssembly module", "wasm32-wasip2"],
    );
}

#[test]
fn truncated_component() {
    let env = Env::new();
    let bytes = std::fs::read(guest("example-hello")).unwrap();
    let f = file(&env, "cut.wasm", &bytes[..bytes.len() / 2]);
    refused(
        &env,
        &["run", &f],
        2,
        &["cut.wasm", "not a valid component"],
    );
}

#[test]
fn component_of_another_world() {
    let env = Env::new();
    let g = guest("test-program-wasi-command");
    refused(
        &env,
        &["run", g.to_str().unwrap()],
        2,
        &["not a wflow flow", "wasi:cli/run"],
    );
}

#[test]
fn invalid_graph() {
    let env = Env::new();
    let g = guest("test-program-handmade");
    refused(
        &env,
        &["run", g.to_str().unwrap()],
        2,
        &["Handmade", "invalid"],
    );
}

#[test]
fn unknown_parameter() {
    let env = Env::new();
    let g = guest("example-foreach");
    refused(
        &env,
        &["run", g.to_str().unwrap(), "-p", "m=3"],
        2,
        &["unknown parameter `m`", "n"],
    );
}

#[test]
fn unparsable_parameter() {
    let env = Env::new();
    let g = guest("example-foreach");
    refused(
        &env,
        &["run", g.to_str().unwrap(), "-p", "n=ten"],
        2,
        &["parameter `n`", "`ten`", "int"],
    );
}

#[test]
fn parameter_without_value() {
    let env = Env::new();
    let g = guest("example-foreach");
    refused(
        &env,
        &["run", g.to_str().unwrap(), "-p", "n"],
        2,
        &["NAME=VALUE"],
    );
}

#[test]
fn missing_file() {
    let env = Env::new();
    refused(
        &env,
        &["run", "nope.wasm"],
        2,
        &["nope.wasm", "does not exist"],
    );
}

#[test]
fn guest_crate_that_does_not_compile() {
    let env = Env::new();
    let dir = env.dir.path().join("broken");
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        "[package]\nname = \"broken-flow\"\nversion = \"0.1.0\"\nedition = \"2024\"\n[lib]\ncrate-type = [\"cdylib\"]\n[workspace]\n",
    )
    .unwrap();
    std::fs::write(dir.join("src/lib.rs"), "pub fn oops( {").unwrap();
    refused(
        &env,
        &["run", dir.to_str().unwrap()],
        2,
        &["building the guest crate", "broken"],
    );
}

#[test]
fn store_path_is_a_file() {
    let env = Env::new();
    let f = file(&env, "not-a-dir", b"x");
    let g = guest("example-hello");
    let out = env.wflow(&["--store", &f, "run", g.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("not-a-dir"), "{}", stderr(&out));
    assert_eq!(std::fs::read(&f).unwrap(), b"x", "the file is left alone");
}

#[test]
fn store_path_not_writable() {
    let env = Env::new();
    let g = guest("example-hello");
    // /proc refuses new directories even to root, unlike a chmod'ed directory.
    let out = env.wflow(&["--store", "/proc/wflow-store", "run", g.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("/proc/wflow-store"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn store_directory_that_does_not_exist_is_created() {
    let env = Env::new();
    let g = guest("example-hello");
    let deep = env.dir.path().join("a/b/c");
    let out = env.wflow(&[
        "--store",
        deep.to_str().unwrap(),
        "run",
        g.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(deep.join("metadata.sqlite").exists());
}

/// `bytes` with every `wflow:flow/…@0.1.0` or `@0.2.0` name (imports, exports, the embedded
/// types) turned into `@0.9.0`: the component as an SDK of a future contract would build it. Names are
/// length-prefixed and keep their length, so the component stays well-formed.
fn of_a_future_contract(bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let pkg = b"wflow:flow/";
    let mut changed = 0;
    let mut i = 0;
    while let Some(at) = out[i..].windows(pkg.len()).position(|w| w == pkg) {
        let mut j = i + at + pkg.len();
        while j < out.len() && (out[j].is_ascii_lowercase() || out[j] == b'-') {
            j += 1;
        }
        if [b"@0.1.0", b"@0.2.0"]
            .iter()
            .any(|v| out[j..].starts_with(*v))
        {
            out[j + 3] = b'9';
            changed += 1;
        }
        i = j;
    }
    assert!(changed > 0, "no wflow:flow name found");
    out
}

#[test]
fn component_of_an_unknown_future_contract_version() {
    let env = Env::new();
    let bytes = std::fs::read(guest("example-hello")).unwrap();
    let f = file(&env, "future.wasm", &of_a_future_contract(&bytes));
    for cmd in ["run", "check"] {
        refused(
            &env,
            &[cmd, &f],
            2,
            &[
                "future.wasm",
                "was built for the contract `wflow:flow@0.9.0`",
                "this host runs flows built for `wflow:flow@0.1.0`",
            ],
        );
    }
}
