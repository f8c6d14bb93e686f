//! The team metadata service, end to end: `wflow server` over a real PostgreSQL (a throwaway
//! cluster per test process, a database per test: see `wflow_server::testing`), and `wflow`
//! clients pointed at it with `WFLOW_METADATA` and `WFLOW_TOKEN`. (Issue 9.)

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use wflow_server::testing::TestPostgres;

use crate::util::{Env, guest, stderr, task_of, with_metadata};

/// A `wflow server` process on its own database; killed when dropped.
pub(crate) struct Service {
    pub(crate) url: String,
    database: String,
    heartbeat_timeout: String,
    child: Child,
    log_dir: tempfile::TempDir,
}

impl Service {
    pub(crate) fn start(hint: &str, heartbeat_timeout: &str) -> Service {
        Self::on(
            &TestPostgres::shared().new_database(hint),
            heartbeat_timeout,
        )
    }

    fn on(database: &str, heartbeat_timeout: &str) -> Service {
        Self::listening(database, heartbeat_timeout, "127.0.0.1:0")
    }

    fn listening(database: &str, heartbeat_timeout: &str, listen: &str) -> Service {
        Self::with_args(database, heartbeat_timeout, listen, &[])
    }

    fn with_args(database: &str, heartbeat_timeout: &str, listen: &str, extra: &[&str]) -> Service {
        let log_dir = tempfile::tempdir().unwrap();
        let log = log_dir.path().join("server.log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_wflow"))
            .args([
                "server",
                "--listen",
                listen,
                "--heartbeat-timeout",
                heartbeat_timeout,
                // Check every request's token, so a revoked token fails at once.
                "--token-cache",
                "0",
            ])
            .args(["--pool-size", "4"])
            .args(extra)
            .env("WFLOW_DATABASE_URL", database)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("wflow server starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .rsplit(' ')
            .next()
            .filter(|u| u.starts_with("http://"))
            .unwrap_or_else(|| {
                panic!(
                    "wflow server did not say where it listens: {line:?}\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            })
            .to_string();
        Service {
            url,
            database: database.to_string(),
            heartbeat_timeout: heartbeat_timeout.to_string(),
            child,
            log_dir,
        }
    }

    /// Kills the service (SIGKILL), waits `down`, and starts it again on the same address.
    fn restart_after(&mut self, down: Duration) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::thread::sleep(down);
        let listen = self.url.trim_start_matches("http://").to_string();
        *self = Service::listening(&self.database, &self.heartbeat_timeout, &listen);
    }

    /// What the service printed on stderr.
    fn log(&self) -> String {
        std::fs::read_to_string(self.log_dir.path().join("server.log")).unwrap_or_default()
    }

    /// `wflow server token create USER [--admin]`.
    pub(crate) fn token(&self, user: &str, admin: bool) -> String {
        let mut args = vec!["create", user, "--json"];
        if admin {
            args.push("--admin");
        }
        let out = self.token_command(&args);
        assert!(out.status.success(), "token create: {}", stderr(&out));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v["token"].as_str().unwrap().to_string()
    }

    /// `wflow server token ARGS...` on the service's database.
    fn token_command(&self, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_wflow"))
            .args(["server", "token"])
            .args(args)
            .env("WFLOW_DATABASE_URL", &self.database)
            .output()
            .unwrap()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client machine: its own working directory and store for artifacts (or a shared one), its
/// records on the service as `user`.
pub(crate) struct Machine {
    pub(crate) env: Env,
    url: String,
    pub(crate) token: String,
    pub(crate) store: Option<std::path::PathBuf>,
}

impl Machine {
    pub(crate) fn new(svc: &Service, token: String) -> Machine {
        Machine {
            env: Env::new(),
            url: svc.url.clone(),
            token,
            store: None,
        }
    }

    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut cmd = self.env.command(args);
        cmd.env("WFLOW_METADATA", &self.url)
            .env("WFLOW_TOKEN", &self.token)
            .env("XDG_CONFIG_HOME", self.env.dir.path())
            .env_remove("WFLOW_CONFIG");
        if let Some(store) = &self.store {
            cmd.env("WFLOW_STORE", store);
        }
        cmd
    }

    pub(crate) fn wflow(&self, args: &[&str]) -> std::process::Output {
        self.command(args).output().unwrap()
    }

    pub(crate) fn ok(&self, args: &[&str]) -> String {
        let out = self.wflow(args);
        assert!(out.status.success(), "wflow {args:?}: {}", stderr(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub(crate) fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(args)).unwrap()
    }

    pub(crate) fn run_ok(&self, flow: &str, extra: &[&str]) -> Value {
        let g = guest(flow);
        let mut args = vec!["run", "--json", g.to_str().unwrap()];
        args.extend_from_slice(extra);
        self.json(&args)
    }

    pub(crate) fn run_ids(&self, extra: &[&str]) -> Vec<String> {
        let mut args = vec!["runs", "--json"];
        args.extend_from_slice(extra);
        self.json(&args)
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["run_id"].as_str().unwrap().to_string())
            .collect()
    }
}

#[test]
fn two_machines_share_runs_and_namespaces_hide_other_users() {
    let svc = Service::start("share", "60");
    let shared_store = tempfile::tempdir().unwrap();
    let mut ada1 = Machine::new(&svc, svc.token("ada", false));
    let mut ada2 = Machine::new(&svc, ada1.token.clone());
    let mut bob = Machine::new(&svc, svc.token("bob", false));
    let mut root = Machine::new(&svc, svc.token("root", true));
    for m in [&mut ada1, &mut ada2, &mut bob, &mut root] {
        m.store = Some(shared_store.path().to_path_buf());
    }
    let s = ada1.run_ok("example-foreach", &["-p", "n=4"]);
    let run_id = s["run_id"].as_str().unwrap().to_string();
    // The other machine sees the run and reads its artifacts (shared store, shared records).
    assert_eq!(ada2.run_ids(&[]), std::slice::from_ref(&run_id));
    let total = ada2.json(&[
        "artifact",
        "get",
        "--json",
        &format!("{}/total", task_of(&s, "sum")),
    ]);
    assert_eq!(total, serde_json::json!(30));
    assert!(
        ada2.ok(&["show", &format!("Foreach/{run_id}")])
            .contains("succeeded")
    );
    assert!(
        !ada1
            .env
            .store_files()
            .iter()
            .any(|f| f.ends_with("metadata.sqlite"))
    );
    assert!(
        !shared_store.path().join("metadata.sqlite").exists(),
        "no SQLite records"
    );

    // bob's namespace does not show ada's runs; his own runs are his.
    assert!(bob.run_ids(&[]).is_empty());
    let b = bob.run_ok("example-hello", &[]);
    assert_eq!(bob.run_ids(&[]), [b["run_id"].as_str().unwrap()]);
    assert_eq!(ada1.run_ids(&[]), std::slice::from_ref(&run_id));
    let listed = bob.json(&["runs", "--json"]);
    assert_eq!(listed[0]["user"], "bob");
    // --all: refused for bob (403), every run for an administrator.
    let out = bob.wflow(&["runs", "--all"]);
    assert_eq!(out.status.code(), Some(2), "a refusal is bad input");
    assert!(stderr(&out).contains("administrator"), "{}", stderr(&out));
    assert_eq!(root.run_ids(&["--all"]).len(), 2);
    // bob cannot tag ada's run; ada can; the admin can.
    let out = bob.wflow(&["tag", "add", &format!("Foreach/{run_id}"), "bobs"]);
    assert_eq!(out.status.code(), Some(2), "a refusal is bad input");
    assert!(
        stderr(&out).contains("belongs to user `ada`"),
        "{}",
        stderr(&out)
    );
    ada2.ok(&["tag", "add", &format!("Foreach/{run_id}"), "nightly"]);
    assert_eq!(
        ada1.run_ids(&["--tag", "nightly"]),
        std::slice::from_ref(&run_id)
    );
    root.ok(&["tag", "add", &format!("Foreach/{run_id}"), "checked"]);
    assert!(ada1.ok(&["runs"]).contains("checked"));
}

#[test]
fn an_administrator_lists_and_revokes_tokens() {
    let svc = Service::start("tokens", "60");
    let first = svc.token("ada", false);
    let second = svc.token("ada", false);
    let root = svc.token("root", true);

    let out = svc.token_command(&["list", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let listed = String::from_utf8_lossy(&out.stdout).into_owned();
    for token in [&first, &second, &root] {
        assert!(
            !listed.contains(token.as_str()),
            "a token is never shown again"
        );
    }
    let listed: Value = serde_json::from_str(&listed).unwrap();
    let rows: Vec<(String, String, bool)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let id = t["id"].as_str().unwrap().to_string();
            assert!(
                id.len() == 12 && id.chars().all(|c| c.is_ascii_hexdigit()),
                "{id}"
            );
            (
                id,
                t["user"].as_str().unwrap().to_string(),
                t["admin"].as_bool().unwrap(),
            )
        })
        .collect();
    let mut users: Vec<(&str, bool)> = rows.iter().map(|(_, u, a)| (u.as_str(), *a)).collect();
    users.sort();
    assert_eq!(users, [("ada", false), ("ada", false), ("root", true)]);
    let out = svc.token_command(&["list"]);
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(table.starts_with("ID") && table.contains("root"), "{table}");

    // Revoke one token by its id: that one stops working, the other goes on.
    let ada1 = Machine::new(&svc, first.clone());
    let ada2 = Machine::new(&svc, second.clone());
    ada1.run_ok("example-hello", &[]);
    let id = blake3::hash(first.as_bytes()).to_hex()[..12].to_string();
    let out = svc.token_command(&["revoke", "ada", "--id", &id, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["revoked"], 1);
    let out = ada1.wflow(&["runs"]);
    assert!(!out.status.success(), "a revoked token is refused");
    assert!(stderr(&out).contains("token"), "{}", stderr(&out));
    assert_eq!(ada2.run_ids(&[]).len(), 1, "ada's other token still works");

    // Revoke every token of a user; then there is nothing left to revoke.
    let out = svc.token_command(&["revoke", "ada"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("revoked 1 token of user `ada`"));
    assert!(!ada2.wflow(&["runs"]).status.success());
    let out = svc.token_command(&["revoke", "ada"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("user `ada` has no token"),
        "{}",
        stderr(&out)
    );
    let out = svc.token_command(&["revoke", "root", "--id", "not-hex"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("not a token id"), "{}", stderr(&out));
    // Nothing recorded was lost with the tokens.
    let admin = Machine::new(&svc, root);
    assert_eq!(admin.run_ids(&["--all"]).len(), 1);
}

#[test]
fn a_wrong_or_missing_token_is_refused_and_nothing_is_written() {
    let svc = Service::start("auth", "60");
    let ada = Machine::new(&svc, svc.token("ada", false));
    ada.run_ok("example-hello", &[]);
    for token in ["", "wf_not_a_token"] {
        let m = Machine::new(&svc, token.to_string());
        let g = guest("example-hello");
        let out = m.wflow(&["run", g.to_str().unwrap()]);
        assert!(!out.status.success());
        let err = stderr(&out);
        assert!(err.contains("token"), "{err}");
        // Refused before anything started or was stored.
        assert!(!err.contains("Running"), "{err}");
        assert!(m.env.store_files().is_empty(), "{:?}", m.env.store_files());
        let out = m.wflow(&["runs"]);
        assert!(!out.status.success());
        assert!(stderr(&out).contains("token"), "{}", stderr(&out));
    }
    let root = Machine::new(&svc, svc.token("root", true));
    assert_eq!(
        root.run_ids(&["--all"]).len(),
        1,
        "nothing written by the refused clients"
    );
}

#[test]
fn a_killed_driver_run_turns_failed_after_the_timeout() {
    let svc = Service::start("reap", "2");
    // Shorter than three default heartbeats: the service says so (clients here beat every 0.5 s).
    assert!(
        svc.log().contains("warning: --heartbeat-timeout 2 s"),
        "{}",
        svc.log()
    );
    let ada = Machine::new(&svc, svc.token("ada", false));
    let token = ada.token.clone();
    with_metadata(&svc.url, &token, || {
        let env = &ada.env;
        let (mut child, run) = crate::inspect::start_endless_run(env);
        // Alive: its heartbeats (every 0.5 s here) keep it running past the timeout.
        std::thread::sleep(Duration::from_secs(3));
        let v: Value =
            serde_json::from_slice(&env.wflow(&["show", "--json", &run]).stdout).unwrap();
        assert_eq!(v["status"], "running", "{v}");
        child.kill().unwrap();
        child.wait().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let v: Value =
                serde_json::from_slice(&env.wflow(&["show", "--json", &run]).stdout).unwrap();
            if v["status"] == "failed" {
                let text = String::from_utf8_lossy(&env.wflow(&["show", &run]).stdout).into_owned();
                assert!(text.contains("driver of this run disappeared"), "{text}");
                break;
            }
            assert!(Instant::now() < deadline, "never marked failed: {v}");
            std::thread::sleep(Duration::from_millis(300));
        }
    });
}

#[test]
fn the_database_down_or_the_service_gone_is_a_clear_client_error() {
    let pg = TestPostgres::start();
    let svc = Service::on(&pg.new_database("down"), "60");
    let ada = Machine::new(&svc, svc.token("ada", false));
    ada.run_ok("example-hello", &[]);
    pg.stop();
    let g = guest("example-hello");
    let out = ada
        .command(&["run", g.to_str().unwrap()])
        .env("WFLOW_METADATA_RETRIES", "1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("database is unreachable"),
        "{}",
        stderr(&out)
    );
    let out = ada
        .command(&["runs"])
        .env("WFLOW_METADATA_RETRIES", "0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("unreachable"), "{}", stderr(&out));
    pg.resume();
    // Back: the run that failed to start left nothing behind.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = ada.wflow(&["runs", "--json"]);
        if out.status.success() {
            let v: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(v.as_array().unwrap().len(), 1, "{v}");
            break;
        }
        assert!(Instant::now() < deadline, "{}", stderr(&out));
        std::thread::sleep(Duration::from_millis(300));
    }
    drop(svc);
    let out = ada
        .command(&["runs"])
        .env("WFLOW_METADATA_RETRIES", "0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("cannot reach the metadata service"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_fresh_database_is_migrated_and_the_config_file_points_at_the_service() {
    let pg = TestPostgres::shared();
    let db = pg.new_database("cfg");
    let name = db.rsplit('/').next().unwrap().to_string();
    let svc = Service::on(&db, "60");
    assert_eq!(
        pg.psql(&name, "SELECT version FROM schema_version").trim(),
        wflow_server::schema::SCHEMA_VERSION.to_string()
    );
    let token = svc.token("ada", false);
    // Only a config file: [metadata] url and token.
    let env = Env::new();
    let config = env.dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!("[metadata]\nurl = \"{}\"\ntoken = \"{token}\"\n", svc.url),
    )
    .unwrap();
    let run = |args: &[&str]| {
        env.command(args)
            .env("WFLOW_CONFIG", &config)
            .env_remove("WFLOW_METADATA")
            .env_remove("WFLOW_TOKEN")
            .output()
            .unwrap()
    };
    let g = guest("example-hello");
    let out = run(&["run", g.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(pg.psql(&name, "SELECT count(*) FROM runs").trim(), "1");
    assert!(!env.store().join("metadata.sqlite").exists());
    // A database of a newer server is refused with a clear error.
    drop(svc);
    pg.psql(&name, "UPDATE schema_version SET version = 99");
    let out = Command::new(env!("CARGO_BIN_EXE_wflow"))
        .args(["server", "--listen", "127.0.0.1:0"])
        .env("WFLOW_DATABASE_URL", &db)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("newer wflow server"),
        "{}",
        stderr(&out)
    );
}

/// The inspection and resume suites, against the service instead of SQLite: each test on a
/// database of its own. The token is an administrator's because the suites use `runs --all`
/// (every run, which on a service means every user's); namespaces are tested above.
fn against_service(name: &str, test: fn()) {
    let svc = Service::start(name, "60");
    let token = svc.token("ada", true);
    with_metadata(&svc.url, &token, test);
}

#[test]
fn inspection_suite_against_the_service() {
    use crate::inspect::*;
    against_service("i1", runs_lists_filters_pages_and_tags);
    against_service("i2", show_a_run_its_steps_tasks_and_artifacts);
    against_service(
        "i3",
        logs_of_a_step_that_prints_then_traps_keep_the_printed_lines,
    );
    against_service(
        "i4",
        a_killed_run_still_shows_its_live_log_and_is_seen_as_gone,
    );
    against_service("i5", the_client_reads_every_artifact_of_every_example);
    against_service("i6", show_html_draws_the_graph_in_one_self_contained_page);
}

#[test]
fn cache_suite_against_the_service() {
    against_service(
        "c1",
        crate::cache::issue_15_pure_steps_are_cached_across_runs,
    );
}

#[test]
fn resume_suite_against_the_service() {
    use crate::resume::*;
    against_service(
        "r1",
        resume_with_the_fix_reuses_start_and_runs_only_the_failed_step_and_after,
    );
    against_service("r2", resume_a_branch_from_one_side);
    against_service(
        "r3",
        resume_of_a_killed_run_needs_no_force_but_a_live_one_is_refused,
    );
    against_service("r4", resume_refuses_bad_requests_clearly);
    against_service(
        "r5",
        resume_without_a_run_takes_the_newest_and_a_crate_directory_works,
    );
    against_service("r6", resume_a_200_item_foreach_on_the_local_store);
    // Not `resume_a_foreach_from_its_join_reuses_the_thousand_items`: it asserts a wall-time
    // budget (< 1 s to the join) that the service meets alone but not reliably under the
    // parallel load of the whole suite on two cores.
}

#[test]
fn fuzzing_the_api_against_its_openapi_spec_finds_no_server_error() {
    let svc = Service::start("fuzz", "60");
    let ada = Machine::new(&svc, svc.token("ada", false));
    ada.run_ok("example-foreach", &["-p", "n=3"]);
    let out = Command::new("bash")
        .arg(crate::util::root().join("scripts/fuzz-server-api"))
        .args([&svc.url, &ada.token, "30"])
        .output()
        .unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "schemathesis found failures:\n{text}");
    // The service is still fine afterwards.
    assert!(!ada.run_ids(&[]).is_empty(), "{text}");
}

/// The service killed 1 s into a 500-item foreach and back 3 s later: the run goes on, its events
/// wait on the client and are sent again in order, and the records end up exactly what ran — the
/// client's summary and the service's records agree. (It once exited 3 while the service showed
/// the run succeeded with tasks missing and others stuck running.)
#[test]
fn a_service_restarted_mid_run_ends_with_records_of_everything_that_ran() {
    let mut svc = Service::start("outage", "60");
    let token = svc.token("ada", false);
    let ada = Machine::new(&svc, token.clone());
    let g = guest("example-foreach");
    let child = ada
        .command(&["run", "--json", g.to_str().unwrap(), "-p", "n=500"])
        .env("WFLOW_HEARTBEAT_SECS", "0.5")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once the run is recorded, take the service away.
    let deadline = Instant::now() + Duration::from_secs(120);
    while ada.run_ids(&[]).is_empty() {
        assert!(Instant::now() < deadline, "the run was never recorded");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(1));
    svc.restart_after(Duration::from_secs(3));
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["status"], "succeeded");
    let ran = summary["tasks"].as_array().unwrap().len();
    assert_eq!(ran, 503);

    let records = wflow_server::HttpMetadata::new(&svc.url, Some(token));
    use wflow_metadata::MetadataStore;
    let run_id = summary["run_id"].as_str().unwrap();
    let run = records.run(run_id).unwrap().unwrap();
    assert_eq!(run.status, wflow_metadata::Status::Succeeded);
    let tasks = records.tasks(run_id).unwrap();
    assert_eq!(tasks.len(), ran, "every task that ran is recorded");
    assert!(
        tasks
            .iter()
            .all(|t| t.status == wflow_metadata::Status::Succeeded),
        "{:?}",
        tasks
            .iter()
            .filter(|t| t.status != wflow_metadata::Status::Succeeded)
            .map(|t| (t.task_id, t.status))
            .collect::<Vec<_>>()
    );
}

/// `GET url` with an optional bearer token: status and body.
fn http_get(url: &str, token: Option<&str>) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut req = agent.get(url);
    if let Some(t) = token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    let mut r = req.call().unwrap();
    let status = r.status().as_u16();
    (status, r.body_mut().read_to_string().unwrap_or_default())
}

#[test]
fn the_web_ui_under_ui_shows_each_user_what_their_token_may_see() {
    let store = tempfile::tempdir().unwrap();
    let store_arg = store.path().to_str().unwrap();
    let database = TestPostgres::shared().new_database("ui");
    let svc = Service::with_args(
        &database,
        "60",
        "127.0.0.1:0",
        &["--ui", "--store", store_arg],
    );
    let mut ada = Machine::new(&svc, svc.token("ada", false));
    let mut bob = Machine::new(&svc, svc.token("bob", false));
    ada.store = Some(store.path().to_path_buf());
    bob.store = Some(store.path().to_path_buf());
    let s = ada.run_ok("example-foreach", &["-p", "n=3"]);
    let run_id = s["run_id"].as_str().unwrap().to_string();
    let ui = format!("{}/ui", svc.url);
    // Without a token: the sign-in form.
    let (status, page) = http_get(&ui, None);
    assert_eq!(status, 401, "{page}");
    assert!(page.contains("/ui/-/login"), "{page}");
    // Ada sees her run, its graph, and a value read from the store.
    let (status, page) = http_get(&ui, Some(&ada.token));
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(&format!(r#"data-run="{run_id}""#)), "{page}");
    let (status, page) = http_get(&format!("{ui}/Foreach/{run_id}"), Some(&ada.token));
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains(r#"data-step="square" data-status="succeeded""#),
        "{page}"
    );
    let total = format!("{ui}/{}/total", task_of(&s, "sum"));
    let (status, page) = http_get(&total, Some(&ada.token));
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(r#"<pre class="value">14</pre>"#), "{page}");
    // The foreach step's table, ordered by the service: item 2 (the number 3) first.
    let square = format!("{ui}/Foreach/{run_id}/square?sort=item&desc=1");
    let (status, page) = http_get(&square, Some(&ada.token));
    assert_eq!(status, 200, "{page}");
    let first = page.find("<tr data-task=").expect("a task row");
    assert!(
        page[first..].contains(r#"<td>2 <code class="item">3</code></td>"#)
            && page[first..].find("<code class=\"item\">3<")
                < page[first..].find("<code class=\"item\">1<"),
        "{page}"
    );
    // Bob, another user, does not have it in his list, but reads it by its pathspec (the
    // service's rule for every client: docs/server.md, namespaces).
    let (status, page) = http_get(&ui, Some(&bob.token));
    assert_eq!(status, 200, "{page}");
    assert!(!page.contains(&run_id), "{page}");
    let (status, page) = http_get(&format!("{ui}/Foreach/{run_id}"), Some(&bob.token));
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("by ada"), "{page}");
    // A token the service does not know reads nothing: the sign-in form again.
    let (status, page) = http_get(&format!("{ui}/Foreach/{run_id}"), Some("wf_nobody"));
    assert_eq!(status, 401, "{page}");
    assert!(
        page.contains("/ui/-/login") && !page.contains("data-step="),
        "{page}"
    );
}

/// `wflow gc` with the records on the service: only an administrator's token may remove runs
/// (`POST /api/v1/admin/remove-runs`); the rule keeps the right runs, and they read back.
#[test]
fn gc_against_the_service_needs_an_administrator_and_keeps_what_the_rule_keeps() {
    let svc = Service::start("gc", "60");
    let shared = tempfile::tempdir().unwrap();
    let mut ada = Machine::new(&svc, svc.token("ada", false));
    let mut root = Machine::new(&svc, svc.token("root", true));
    for m in [&mut ada, &mut root] {
        m.store = Some(shared.path().to_path_buf());
    }
    // `--no-cache`: the third run (mb=1 again) would take the first's tasks from the cache, and
    // a cached task's origin keeps that run (tested in tests/all/gc.rs).
    let run = |mb: u32| {
        ada.run_ok(
            "example-bigdata",
            &["-p", &format!("mb={mb}"), "--no-cache"],
        )
    };
    let r1 = run(1)["run_id"].as_str().unwrap().to_string();
    let r2 = run(2)["run_id"].as_str().unwrap().to_string();
    let s3 = run(1);
    let r3 = s3["run_id"].as_str().unwrap().to_string();
    let gc = ["gc", "--json", "--keep-last", "1", "--grace", "0s"];
    let out = ada.wflow(&gc);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("administrator"), "{}", stderr(&out));
    assert_eq!(ada.run_ids(&[]).len(), 3, "a refused gc removes nothing");

    let report = root.json(&gc);
    let removed: Vec<&str> = report["runs_removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap())
        .collect();
    assert_eq!(removed, [r2.as_str(), r1.as_str()]);
    assert!(
        report["blob_bytes_removed"].as_u64().unwrap() >= 2 << 20,
        "{report}"
    );
    assert_eq!(ada.run_ids(&[]), std::slice::from_ref(&r3));
    let verified = format!("{}/verified", task_of(&s3, "consume"));
    assert_eq!(
        ada.json(&["artifact", "get", "--json", &verified]),
        serde_json::json!(true)
    );
    let again = root.json(&gc);
    assert_eq!(again["runs_removed"], serde_json::json!([]));
    assert_eq!(again["blobs_removed"], 0);
}
