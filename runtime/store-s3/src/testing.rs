//! Real S3-compatible servers for tests, on 127.0.0.1 (feature `testing`).
//!
//! [`TestServer::get`] returns one server of each kind per test process, started on first use on a
//! free port: **moto** in server mode (`moto_server`, Python; objects in RAM) and **s3s-fs** (Rust;
//! objects as real files, in a temporary directory). Nothing here reaches the internet.
//!
//! Where the binaries come from, in order:
//! - `WFLOW_TEST_MOTO_URL` / `WFLOW_TEST_S3S_URL`: a server already running (moto is reset);
//! - `$WFLOW_TEST_TOOLS/moto-5.2.5/bin/moto_server` (default `~/.cache/wflow-test-tools`, where
//!   `.ci/run` installs the pinned moto), then `moto_server` on `PATH`;
//! - `s3s-fs` on `PATH` or in `~/.cargo/bin` (`cargo install s3s-fs@0.14.1 --locked --features
//!   binary`).
//!
//! A server that cannot be found makes [`TestServer::get`] panic with the command that installs
//! it (`scripts/install-test-tools`): tests never pass by skipping. A watchdog shell stops each
//! server when the test process exits.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::{S3Config, S3Store};

mod framing;
pub use framing::FramingProxy;

/// The access key the test servers accept (moto accepts any; s3s-fs is started with this one).
pub const ACCESS_KEY: &str = "wflow-test";
/// The matching secret key.
pub const SECRET_KEY: &str = "wflow-test-secret";

/// Which implementation of S3.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// moto 5.2.5 in server mode.
    Moto,
    /// s3s-fs 0.14.1.
    S3sFs,
}

impl Kind {
    /// Both kinds.
    pub const ALL: [Kind; 2] = [Kind::Moto, Kind::S3sFs];

    /// A short name (`moto`, `s3s-fs`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Moto => "moto",
            Kind::S3sFs => "s3s-fs",
        }
    }
}

/// A running test server.
#[derive(Debug)]
pub struct TestServer {
    /// Which one.
    pub kind: Kind,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// For s3s-fs: the directory holding the buckets (`<root>/<bucket>/<key>`).
    pub root: Option<PathBuf>,
    _root: Option<tempfile::TempDir>,
}

impl TestServer {
    /// The server of this kind for this test process, started on first use. Panics, saying how to
    /// install it, if its binary is not installed: a test never passes by skipping.
    pub fn get(kind: Kind) -> &'static TestServer {
        static MOTO: OnceLock<Option<TestServer>> = OnceLock::new();
        static S3S: OnceLock<Option<TestServer>> = OnceLock::new();
        let cell = match kind {
            Kind::Moto => &MOTO,
            Kind::S3sFs => &S3S,
        };
        match cell.get_or_init(|| TestServer::start(kind)) {
            Some(server) => server,
            None => not_installed(kind),
        }
    }

    fn start(kind: Kind) -> Option<TestServer> {
        let env = match kind {
            Kind::Moto => "WFLOW_TEST_MOTO_URL",
            Kind::S3sFs => "WFLOW_TEST_S3S_URL",
        };
        if let Some(url) = std::env::var(env).ok().filter(|u| !u.is_empty()) {
            if kind == Kind::Moto {
                reset_moto(&url);
            }
            return Some(TestServer {
                kind,
                endpoint: url,
                root: None,
                _root: None,
            });
        }
        let port = free_port();
        let (program, root) = match kind {
            Kind::Moto => (find_moto()?, None),
            Kind::S3sFs => (find_s3s()?, Some(tempfile::tempdir().expect("a temp dir"))),
        };
        let mut args: Vec<String> = match kind {
            Kind::Moto => vec![
                "-H".into(),
                "127.0.0.1".into(),
                "-p".into(),
                port.to_string(),
            ],
            Kind::S3sFs => vec![
                "--host".into(),
                "127.0.0.1".into(),
                "--port".into(),
                port.to_string(),
                "--access-key".into(),
                ACCESS_KEY.into(),
                "--secret-key".into(),
                SECRET_KEY.into(),
            ],
        };
        if let Some(root) = &root {
            args.push(root.path().display().to_string());
        }
        spawn_watched(&program, &args);
        let endpoint = format!("http://127.0.0.1:{port}");
        wait_for_port(port, kind);
        Some(TestServer {
            kind,
            endpoint,
            root: root.as_ref().map(|r| r.path().to_path_buf()),
            _root: root,
        })
    }

    /// A configuration for `s3://bucket/prefix` on this server (path-style addressing).
    pub fn config(&self, bucket: &str, prefix: &str) -> S3Config {
        let mut c = S3Config::new(format!("s3://{bucket}/{prefix}"));
        c.endpoint = Some(self.endpoint.clone());
        c.region = Some("us-east-1".into());
        c.path_style = true;
        c
    }

    /// A store on this server with the test credentials (in-process tests cannot set the
    /// environment, so these bypass the credential chain).
    pub fn store(&self, config: &S3Config) -> wflow_store::Result<S3Store> {
        let store = S3Store::connect_with(config, Some(credentials()))?;
        store.check()?;
        Ok(store)
    }

    /// Creates a new, empty bucket with a name no other test of this process uses.
    pub fn new_bucket(&self, tag: &str) -> String {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        )
        .to_lowercase();
        self.create_bucket(&name);
        name
    }

    /// Creates `bucket` (an error if it cannot be).
    pub fn create_bucket(&self, bucket: &str) {
        let store =
            S3Store::connect_with(&self.config(bucket, ""), Some(credentials())).expect("a client");
        let client = store.inner.client.clone();
        let b = bucket.to_string();
        store
            .bridge
            .block_on(async move { client.create_bucket().bucket(b).send().await })
            .unwrap_or_else(|e| {
                panic!(
                    "creating bucket {bucket} on {}: {}",
                    self.endpoint,
                    aws_sdk_s3::error::DisplayErrorContext(e)
                )
            });
    }

    /// Environment variables that give a `wflow` process the test credentials.
    pub fn credential_env() -> [(&'static str, &'static str); 4] {
        [
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
            ("AWS_REGION", "us-east-1"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ]
    }
}

/// A store with the given static credentials, checked (for tests of refused credentials).
pub fn store_with_credentials(
    config: &S3Config,
    access: &str,
    secret: &str,
) -> wflow_store::Result<S3Store> {
    let creds = aws_sdk_s3::config::Credentials::new(access, secret, None, None, "wflow-test");
    let store = S3Store::connect_with(config, Some(creds))?;
    store.check()?;
    Ok(store)
}

/// The test credentials as the SDK takes them.
pub fn credentials() -> aws_sdk_s3::config::Credentials {
    aws_sdk_s3::config::Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "wflow-test")
}

/// Overwrites an object behind the store's back, through a plain PUT (for corruption tests).
pub fn overwrite(store: &S3Store, key: &str, bytes: Vec<u8>) {
    let (client, bucket, full) = (
        store.inner.client.clone(),
        store.inner.bucket.clone(),
        store.inner.full(key),
    );
    store
        .bridge
        .block_on(async move {
            client
                .put_object()
                .bucket(bucket)
                .key(full)
                .body(bytes.into())
                .send()
                .await
        })
        .expect("overwrite");
}

/// Deletes an object behind the store's back.
pub fn delete(store: &S3Store, key: &str) {
    let (client, bucket, full) = (
        store.inner.client.clone(),
        store.inner.bucket.clone(),
        store.inner.full(key),
    );
    store
        .bridge
        .block_on(async move { client.delete_object().bucket(bucket).key(full).send().await })
        .expect("delete");
}

/// Multipart uploads still open under the store's prefix (to check that failures abort theirs).
pub fn open_uploads(store: &S3Store) -> usize {
    let (client, bucket, prefix) = (
        store.inner.client.clone(),
        store.inner.bucket.clone(),
        store.inner.prefix.clone(),
    );
    store
        .bridge
        .block_on(async move {
            client
                .list_multipart_uploads()
                .bucket(bucket)
                .prefix(prefix)
                .send()
                .await
        })
        .map(|o| o.uploads().len())
        .unwrap_or(0)
}

/// Where the test tools are installed.
pub fn tools_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("WFLOW_TEST_TOOLS").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    home.join(".cache").join("wflow-test-tools")
}

fn find_moto() -> Option<PathBuf> {
    let pinned = tools_dir()
        .join("moto-5.2.5")
        .join("bin")
        .join("moto_server");
    if pinned.is_file() {
        return Some(pinned);
    }
    on_path("moto_server")
}

fn find_s3s() -> Option<PathBuf> {
    on_path("s3s-fs").or_else(|| {
        let home = PathBuf::from(std::env::var_os("HOME")?);
        let p = home.join(".cargo").join("bin").join("s3s-fs");
        p.is_file().then_some(p)
    })
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port on 127.0.0.1")
        .port()
}

/// A moto server of its own for this test process, started with extra environment — for moto's
/// Batch, `DOCKER_HOST` pointing at a test's Docker Engine API shim — and stopped when the process
/// exits. Returns its endpoint. Panics, saying how to install it, if moto is not installed.
pub fn start_private_moto(env: &[(&str, &str)]) -> String {
    let Some(program) = find_moto() else {
        not_installed(Kind::Moto)
    };
    let port = free_port();
    spawn_watched_with(
        &program,
        &[
            "-H".into(),
            "127.0.0.1".into(),
            "-p".into(),
            port.to_string(),
        ],
        env,
    );
    wait_for_port(port, Kind::Moto);
    format!("http://127.0.0.1:{port}")
}

/// [`start_private_moto`] through a launcher script run by the Python of moto's own venv
/// (`python SCRIPT -H 127.0.0.1 -p PORT`), with `MOTO_PORT` set to the server's port (moto's Step
/// Functions interpreter calls the other services there). Returns its endpoint.
pub fn start_private_moto_script(script: &Path, env: &[(&str, &str)]) -> String {
    let Some(moto) = find_moto() else {
        not_installed(Kind::Moto)
    };
    let python = moto.with_file_name("python");
    let port = free_port();
    let port_text = port.to_string();
    let mut env = env.to_vec();
    env.push(("MOTO_PORT", &port_text));
    spawn_watched_with(
        &python,
        &[
            script.display().to_string(),
            "-H".into(),
            "127.0.0.1".into(),
            "-p".into(),
            port.to_string(),
        ],
        &env,
    );
    wait_for_port(port, Kind::Moto);
    format!("http://127.0.0.1:{port}")
}

/// Starts `program args…` under a watchdog shell that stops it when this process exits.
fn spawn_watched(program: &Path, args: &[String]) {
    spawn_watched_with(program, args, &[]);
}

/// [`spawn_watched`] with extra environment variables.
fn spawn_watched_with(program: &Path, args: &[String], env: &[(&str, &str)]) {
    let quoted: Vec<String> = std::iter::once(program.display().to_string())
        .chain(args.iter().cloned())
        .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
        .collect();
    let script = format!(
        "{} >/dev/null 2>&1 & s=$!; while kill -0 {} 2>/dev/null && kill -0 $s 2>/dev/null; do \
         sleep 0.5; done; kill $s 2>/dev/null",
        quoted.join(" "),
        std::process::id()
    );
    let mut watchdog = Command::new("sh")
        .args(["-c", &script])
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sh starts");
    // Reaped when it ends (with this process, or when the server dies).
    std::thread::spawn(move || watchdog.wait());
}

fn wait_for_port(port: u16, kind: Kind) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{} did not start listening on port {port} within 60 s",
            kind.name()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `POST /moto-api/reset`: empties a moto server that was already running.
pub fn reset_moto(endpoint: &str) {
    use std::io::{Read, Write};
    let addr = endpoint.trim_start_matches("http://").trim_end_matches('/');
    if let Ok(mut s) = TcpStream::connect(addr) {
        let _ = write!(
            s,
            "POST /moto-api/reset HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink);
    }
}

fn not_installed(kind: Kind) -> ! {
    panic!(
        "the {} test server is not installed: run `scripts/install-test-tools` (it installs \
         every tool the tests need, pinned), or see runtime/store-s3/src/testing.rs",
        kind.name()
    )
}

/// An s3s-fs server of one test's own, which the test may stop and start again (same port, same
/// files): for faults such as a server dying mid-upload. Stopped when dropped.
#[derive(Debug)]
pub struct PrivateServer {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// The directory holding the buckets.
    pub root: tempfile::TempDir,
    port: u16,
    child: Option<std::process::Child>,
}

impl PrivateServer {
    /// Starts one; panics if s3s-fs is not installed (see [`TestServer::get`]).
    pub fn start() -> PrivateServer {
        if find_s3s().is_none() {
            not_installed(Kind::S3sFs);
        }
        let port = free_port();
        let mut server = PrivateServer {
            endpoint: format!("http://127.0.0.1:{port}"),
            root: tempfile::tempdir().expect("a temp dir"),
            port,
            child: None,
        };
        server.resume();
        server
    }

    /// Kills the server at once (SIGKILL).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and files.
    pub fn resume(&mut self) {
        self.kill();
        let child = Command::new(find_s3s().expect("s3s-fs is installed"))
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(self.root.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("s3s-fs starts");
        self.child = Some(child);
        wait_for_port(self.port, Kind::S3sFs);
    }

    /// A configuration for `s3://bucket/prefix` on this server.
    pub fn config(&self, bucket: &str, prefix: &str) -> S3Config {
        let mut c = S3Config::new(format!("s3://{bucket}/{prefix}"));
        c.endpoint = Some(self.endpoint.clone());
        c.region = Some("us-east-1".into());
        c.path_style = true;
        c
    }

    /// Creates a bucket (a directory, for s3s-fs).
    pub fn create_bucket(&self, bucket: &str) {
        std::fs::create_dir_all(self.root.path().join(bucket)).expect("bucket directory");
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        self.kill();
    }
}
