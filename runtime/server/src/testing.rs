//! Throwaway PostgreSQL clusters for tests (Debian's `postgresql` package, version 15).
//!
//! What works on the test machines (CI runs as root):
//! - `initdb` and `postgres` refuse to run as root, so as root both run as the `postgres` user
//!   (created by the Debian package) through `runuser -u postgres --`, in a temp directory
//!   owned by that user;
//! - the cluster listens on 127.0.0.1 only, on a free port picked by binding port 0, with its
//!   Unix socket in its own directory (`-k DIR`, not /var/run/postgresql), `trust` auth for the
//!   superuser `wflow`, and `fsync=off` (a test cluster needs no durability);
//! - a shared cluster ([`TestPostgres::shared`]) lives as long as the test process: a watcher
//!   shell stops it (`pg_ctl stop -m immediate`) and removes its directory once the process is
//!   gone, since statics are never dropped.
//!
//! The binaries are looked for in `$WFLOW_PG_BIN`, else `/usr/lib/postgresql/15/bin`, else on
//! `PATH`. `scripts/install-test-tools` installs the package when it is missing.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// A PostgreSQL cluster of a test, on 127.0.0.1.
#[derive(Debug)]
pub struct TestPostgres {
    dir: PathBuf,
    port: u16,
    bin: PathBuf,
    stop_on_drop: bool,
}

fn pg_bin() -> PathBuf {
    if let Some(dir) = std::env::var_os("WFLOW_PG_BIN") {
        return PathBuf::from(dir);
    }
    let debian = Path::new("/usr/lib/postgresql/15/bin");
    if debian.join("initdb").exists() {
        return debian.to_path_buf();
    }
    PathBuf::new()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A port free right now on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("cannot bind a port on 127.0.0.1")
}

/// `program args` as the `postgres` user when running as root.
fn as_pg_user(program: &Path, root: bool) -> Command {
    if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

impl TestPostgres {
    /// A new cluster of this test alone, stopped and removed when dropped.
    pub fn start() -> TestPostgres {
        let mut pg = Self::init();
        pg.stop_on_drop = true;
        pg.pg_ctl_start();
        pg
    }

    /// One cluster for the whole test process (each test makes its own database in it).
    pub fn shared() -> &'static TestPostgres {
        static SHARED: OnceLock<TestPostgres> = OnceLock::new();
        SHARED.get_or_init(|| {
            let mut pg = Self::init();
            pg.pg_ctl_start();
            // Stop the cluster once this process is gone.
            let script = format!(
                "while [ -d /proc/{pid} ]; do sleep 1; done; {pg_ctl} -D {data} -m immediate stop \
                 >/dev/null 2>&1; rm -rf {dir}",
                pid = std::process::id(),
                pg_ctl = pg.bin.join("pg_ctl").display(),
                data = pg.dir.join("data").display(),
                dir = pg.dir.display(),
            );
            let mut watcher = as_pg_user(Path::new("sh"), is_root());
            #[allow(
                clippy::zombie_processes,
                reason = "the watcher outlives this process on purpose: it stops the cluster"
            )]
            watcher
                .args(["-c", &script])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("cannot start the cluster's watcher");
            pg
        })
    }

    fn init() -> TestPostgres {
        let bin = pg_bin();
        let root = is_root();
        let mut rnd = [0u8; 6];
        getrandom::fill(&mut rnd).expect("random");
        let name: String = rnd.iter().map(|b| format!("{b:02x}")).collect();
        let dir = std::env::temp_dir().join(format!("wflow-pg-{name}"));
        std::fs::create_dir_all(&dir).expect("cannot create the cluster's directory");
        if root {
            let ok = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&dir)
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "cannot give {} to the postgres user", dir.display());
        }
        let out = as_pg_user(&bin.join("initdb"), root)
            .arg("-D")
            .arg(dir.join("data"))
            .args(["-U", "wflow", "--auth=trust", "-E", "UTF8", "--no-sync"])
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run initdb ({e}): install PostgreSQL (`bash scripts/install-test-tools`) \
                     or set WFLOW_PG_BIN"
                )
            });
        assert!(
            out.status.success(),
            "initdb failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        TestPostgres {
            dir,
            port: 0,
            bin,
            stop_on_drop: false,
        }
    }

    fn pg_ctl_start(&mut self) {
        // A free port may be taken between the check and the start: try a few.
        for _ in 0..5 {
            let port = free_port();
            let out = as_pg_user(&self.bin.join("pg_ctl"), is_root())
                .arg("-D")
                .arg(self.dir.join("data"))
                .arg("-o")
                .arg(format!(
                    "-k {} -p {port} -h 127.0.0.1 -F -c max_connections=200",
                    self.dir.display()
                ))
                .arg("-l")
                .arg(self.dir.join("log"))
                .args(["-w", "start"])
                .output()
                .expect("pg_ctl runs");
            if out.status.success() {
                self.port = port;
                return;
            }
        }
        panic!(
            "PostgreSQL did not start:\n{}",
            std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
        );
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of database `db`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://wflow@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates a new empty database with a unique name; returns its URL.
    pub fn new_database(&self, hint: &str) -> String {
        let mut rnd = [0u8; 4];
        getrandom::fill(&mut rnd).expect("random");
        let suffix: String = rnd.iter().map(|b| format!("{b:02x}")).collect();
        let clean: String = hint
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .take(30)
            .collect();
        let name = format!("t_{clean}_{suffix}");
        self.psql("postgres", &format!("CREATE DATABASE {name}"));
        self.url(&name)
    }

    /// Runs `sql` in database `db` with psql; panics on failure; returns its output.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let psql = if self.bin.join("psql").exists() {
            self.bin.join("psql")
        } else {
            PathBuf::from("psql")
        };
        let out = Command::new(psql)
            .args([
                "-h",
                "127.0.0.1",
                "-U",
                "wflow",
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
            ])
            .arg("-p")
            .arg(self.port.to_string())
            .args(["-d", db, "-c", sql])
            .output()
            .expect("psql runs");
        assert!(
            out.status.success(),
            "psql `{sql}` failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Stops the cluster (to test a database that is down); [`resume`](Self::resume) starts it
    /// again on the same port.
    pub fn stop(&self) {
        let _ = as_pg_user(&self.bin.join("pg_ctl"), is_root())
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }

    /// Starts a stopped cluster again on its port.
    pub fn resume(&self) {
        let out = as_pg_user(&self.bin.join("pg_ctl"), is_root())
            .arg("-D")
            .arg(self.dir.join("data"))
            .arg("-o")
            .arg(format!(
                "-k {} -p {} -h 127.0.0.1 -F",
                self.dir.display(),
                self.port
            ))
            .arg("-l")
            .arg(self.dir.join("log"))
            .args(["-w", "start"])
            .output()
            .expect("pg_ctl runs");
        assert!(out.status.success(), "restarting PostgreSQL failed");
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        if self.stop_on_drop {
            self.stop();
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
