//! The Python package (python/), end to end: built once per test process into the venv of
//! `scripts/install-python-test-tools` with `maturin develop` (sharing this workspace's target
//! directory and its compiled dependencies), then its pytest suite (python/tests) runs against a
//! local store, S3 on moto and a metadata service; and the notebook of docs/ runs headless.
//! (Issue 18.)

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use wflow_store_s3::testing::{Kind, TestServer};

use crate::server::Service;
use crate::util::{Env, guest, root};

/// The venv with the package installed (built once per test process).
fn venv() -> &'static Path {
    static VENV: OnceLock<PathBuf> = OnceLock::new();
    VENV.get_or_init(|| {
        let out = Command::new("bash")
            .arg(root().join("scripts/install-python-test-tools"))
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "installing the Python test tools failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let tools = std::env::var_os("WFLOW_TEST_TOOLS")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(std::env::var_os("HOME").expect("HOME is set"))
                    .join(".cache/wflow-test-tools")
            });
        let venv = tools.join("python-client");
        let mut maturin = Command::new(venv.join("bin/maturin"));
        // The variables cargo gives this test (CARGO_MANIFEST_DIR, CARGO_PKG_*…) would reach the
        // build scripts maturin's cargo runs, and some track them (ring does): the next
        // `cargo test` would then rebuild them. maturin's cargo sees a developer's environment.
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy();
            let ours = [
                "CARGO_MANIFEST_",
                "CARGO_PKG_",
                "CARGO_CRATE_",
                "CARGO_BIN_",
                "CARGO_PRIMARY_",
                "CARGO_TARGET_TMPDIR",
                "CARGO_RUSTC_CURRENT_DIR",
            ];
            if ours.iter().any(|p| k.starts_with(p)) {
                maturin.env_remove(k.as_ref());
            }
        }
        let out = maturin
            .args(["develop", "--quiet", "--manifest-path"])
            .arg(root().join("python/Cargo.toml"))
            .env("VIRTUAL_ENV", &venv)
            .env("PATH", path_with(&venv))
            .current_dir(root())
            .output()
            .expect("maturin runs");
        assert!(
            out.status.success(),
            "maturin develop failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        venv
    })
}

fn path_with(venv: &Path) -> std::ffi::OsString {
    let mut paths = vec![venv.join("bin")];
    paths.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(paths).unwrap()
}

/// `pytest python/tests` in `env`'s directory, with the examples' components and `wflow`, the
/// variables `vars` naming the store; asserts it passes.
fn pytest(env: &Env, backend: &str, vars: &[(&str, &str)]) {
    let venv = venv();
    let guests: serde_json::Map<String, serde_json::Value> = [
        "example-hello",
        "example-foreach",
        "example-branch",
        "example-bigdata",
        "test-program-faulty",
    ]
    .iter()
    .map(|p| {
        (
            p.to_string(),
            guest(p).to_string_lossy().into_owned().into(),
        )
    })
    .collect();
    let mut cmd = Command::new(venv.join("bin/python"));
    cmd.args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .arg(root().join("python/tests"))
        .current_dir(env.dir.path())
        .env("PATH", path_with(venv))
        .env("WFLOW_BIN", env!("CARGO_BIN_EXE_wflow"))
        .env(
            "WFLOW_TEST_GUESTS",
            serde_json::Value::Object(guests).to_string(),
        )
        .env("WFLOW_TEST_BACKEND", backend)
        .env("WFLOW_CACHE_DIR", env.dir.path().join("cache"))
        // No config file or store of the developer's.
        .env("XDG_CONFIG_HOME", env.dir.path())
        .env_remove("WFLOW_CONFIG")
        .env_remove("WFLOW_STORE")
        .env_remove("WFLOW_METADATA")
        .env_remove("WFLOW_TOKEN");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("pytest runs");
    // pytest's summary (`N passed, M skipped`) in the test's output, shown with --nocapture.
    println!("{}", String::from_utf8_lossy(&out.stdout));
    assert!(
        out.status.success(),
        "pytest on the {backend} store failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn python_reads_and_starts_runs_on_a_local_store() {
    let env = Env::new();
    let store = env.store();
    pytest(&env, "local", &[("WFLOW_STORE", store.to_str().unwrap())]);
}

#[test]
fn python_reads_and_starts_runs_on_s3() {
    let server = TestServer::get(Kind::Moto);
    let bucket = server.new_bucket("python");
    let env = Env::new();
    let url = format!("s3://{bucket}/team");
    let mut vars = vec![
        ("WFLOW_STORE", url.as_str()),
        ("WFLOW_S3_ENDPOINT", server.endpoint.as_str()),
        ("WFLOW_S3_PATH_STYLE", "true"),
    ];
    vars.extend(TestServer::credential_env());
    pytest(&env, "s3", &vars);
}

#[test]
fn python_reads_and_starts_runs_through_a_metadata_service() {
    let svc = Service::start("python", "30");
    let token = svc.token("ada", false);
    let env = Env::new();
    let store = env.store();
    pytest(
        &env,
        "service",
        &[
            ("WFLOW_STORE", store.to_str().unwrap()),
            ("WFLOW_METADATA", svc.url.as_str()),
            ("WFLOW_TOKEN", token.as_str()),
        ],
    );
}
