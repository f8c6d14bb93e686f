//! The harness: guest components built once per test process, and a temp store per test.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, OnceLock};

thread_local! {
    /// The metadata service (URL, token) the `Env`s of this thread record to, if any (set by
    /// [`with_metadata`]: the inspection and resume suites run against `wflow server` too).
    static METADATA: RefCell<Option<(String, String)>> = const { RefCell::new(None) };
}

/// Runs `f` with every `Env` of this thread pointed at the metadata service `url` with `token`.
pub fn with_metadata<R>(url: &str, token: &str, f: impl FnOnce() -> R) -> R {
    METADATA.with(|m| *m.borrow_mut() = Some((url.to_string(), token.to_string())));
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            METADATA.with(|m| *m.borrow_mut() = None);
        }
    }
    let _reset = Reset;
    f()
}

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Target directory for guests built by the tests (apart from the one `cargo test` is using).
pub fn guest_target() -> PathBuf {
    root().join("target").join("test-guests")
}

/// Builds every test guest once (one cargo invocation) and returns the folder of the `.wasm` files.
fn guests_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        cmd.current_dir(root())
            .args(["build", "--release", "--target", "wasm32-wasip2"])
            .env("CARGO_TARGET_DIR", guest_target());
        for p in GUESTS {
            cmd.args(["-p", p]);
        }
        let out = cmd.output().expect("cargo runs");
        assert!(
            out.status.success(),
            "building the test guests failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        guest_target().join("wasm32-wasip2").join("release")
    })
}

const GUESTS: &[&str] = &[
    "example-hello",
    "example-branch",
    "example-foreach",
    "example-bigdata",
    "test-program-faulty",
    "test-program-handmade",
    "test-program-wasi-command",
    "test-program-hostile",
    "test-program-extra-import",
    "test-program-capable",
    "test-program-nested",
    "test-program-cards",
    "test-program-control",
    "test-program-secrets",
    "example-secrets",
    "test-program-cache",
    "test-program-isolation",
    "example-polyglot",
];

/// Path of a built guest component, by package name (`example-hello`).
pub fn guest(package: &str) -> PathBuf {
    assert!(GUESTS.contains(&package), "{package} is not in GUESTS");
    // Libraries (cdylib) get underscores in their file name, binaries keep the package name.
    let lib = guests_dir().join(package.replace('-', "_") + ".wasm");
    let path = if lib.exists() {
        lib
    } else {
        guests_dir().join(format!("{package}.wasm"))
    };
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// Installs the Python and JavaScript build tools (componentize-py, componentize-js) once per test
/// process with `scripts/install-guest-tools`, the script CI runs too; a no-op when they are there.
pub fn guest_tools() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let out = Command::new("bash")
            .arg(root().join("scripts/install-guest-tools"))
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "installing componentize-py and componentize-js failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
}

/// A temporary working directory with its own store and compile cache.
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn store(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    /// `wflow ARGS` with this env's store and cache; cwd is the temp dir.
    pub fn wflow(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("wflow runs")
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wflow"));
        cmd.current_dir(self.dir.path())
            .args(args)
            .env("WFLOW_STORE", self.store())
            .env("WFLOW_CACHE_DIR", root().join("target").join("test-cache"))
            .env("CARGO_TARGET_DIR", guest_target())
            .env_remove("WFLOW_MAX_WORKERS")
            .env("NO_COLOR", "1");
        match METADATA.with(|m| m.borrow().clone()) {
            Some((url, token)) => {
                cmd.env("WFLOW_METADATA", url)
                    .env("WFLOW_TOKEN", token)
                    .env("WFLOW_HEARTBEAT_SECS", "0.5");
            }
            None => {
                cmd.env_remove("WFLOW_METADATA").env_remove("WFLOW_TOKEN");
            }
        }
        cmd
    }

    /// The client library over this env's store and records (the metadata service's, when
    /// [`with_metadata`] set one).
    pub fn client(&self) -> wflow_client::Client {
        match METADATA.with(|m| m.borrow().clone()) {
            Some((url, token)) => {
                let disk = wflow_store::LocalDisk::open(&self.store()).unwrap();
                wflow_client::Client::from_parts(
                    Arc::new(wflow_server::HttpMetadata::new(&url, Some(token))),
                    wflow_store::Cas::new(Arc::new(disk)),
                    Some(self.store()),
                )
            }
            None => wflow_client::Client::open(&self.store()).unwrap(),
        }
    }

    /// Runs a flow with `--json` and returns the run summary; panics with stderr on failure.
    pub fn run_ok(&self, flow: &Path, extra: &[&str]) -> serde_json::Value {
        let mut args = vec!["run", "--json", flow.to_str().unwrap()];
        args.extend_from_slice(extra);
        let out = self.wflow(&args);
        assert!(out.status.success(), "wflow run failed: {}", stderr(&out));
        serde_json::from_slice(&out.stdout).expect("run --json prints JSON")
    }

    /// The value of an artifact as JSON, read through `wflow artifact get`.
    pub fn artifact(&self, pathspec: &str) -> serde_json::Value {
        let out = self.wflow(&["artifact", "get", "--json", pathspec]);
        assert!(
            out.status.success(),
            "artifact get {pathspec}: {}",
            stderr(&out)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Every file under the store (to check that nothing was written).
    pub fn store_files(&self) -> Vec<PathBuf> {
        files_under(&self.store())
    }
}

/// Every file under `dir` (recursively), sorted; none if it does not exist.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, out)
                } else {
                    out.push(p)
                }
            }
        }
    }
    let mut out = vec![];
    walk(dir, &mut out);
    out.sort();
    out
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `wflow ARGS` fails with `code` and a message containing every needle.
pub fn fails(env: &Env, args: &[&str], code: i32, needles: &[&str]) -> String {
    let out = env.wflow(args);
    let err = stderr(&out);
    assert_eq!(
        out.status.code(),
        Some(code),
        "exit code of {args:?}; stderr:\n{err}"
    );
    for n in needles {
        assert!(
            err.contains(n),
            "stderr of {args:?} should mention {n:?}:\n{err}"
        );
    }
    err
}

/// The steps of a `run --json` summary's tasks, in task order.
pub fn task_steps(summary: &serde_json::Value) -> Vec<String> {
    summary["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["step"].as_str().unwrap().to_string())
        .collect()
}

/// The pathspec of the (first) task of `step` in a run summary.
pub fn task_of(summary: &serde_json::Value, step: &str) -> String {
    summary["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["step"] == step)
        .unwrap_or_else(|| panic!("no task of step {step} in {summary}"))["pathspec"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Runs `cmd` to its end, or kills it after `limit` and panics naming what hung: a hang fails the
/// test instead of stalling the suite. (Not a timing assertion: `limit` is many times what the
/// command needs on a loaded machine.)
pub fn output_within(mut cmd: Command, limit: std::time::Duration, what: &str) -> Output {
    use std::process::Stdio;
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the command starts");
    // Drain both pipes as it runs, so a chatty command never blocks on a full pipe.
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let out = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let err = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let deadline = std::time::Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{what} did not end within {limit:?} (hung); stderr:\n{}",
                String::from_utf8_lossy(&err.join().unwrap())
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}
