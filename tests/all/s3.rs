//! The team store on S3, end to end: the examples run and read back against real S3-compatible
//! servers (moto, s3s-fs); two machines on one bucket see each other's runs; faults give clear
//! errors; an interrupted upload leaves nothing visible. (Issue 5.)

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use wflow_store::{BlobStore, Cas};
use wflow_store_s3::S3Store;
use wflow_store_s3::testing::{self, Kind, PrivateServer, TestServer};

use crate::util::{Env, guest, stderr, task_of};

/// A working directory of its own (one "machine") using an S3 store.
pub(crate) struct S3Env {
    env: Env,
    url: String,
    endpoint: String,
}

impl S3Env {
    pub(crate) fn new(endpoint: &str, bucket: &str, prefix: &str) -> S3Env {
        S3Env {
            env: Env::new(),
            url: format!("s3://{bucket}/{prefix}"),
            endpoint: endpoint.to_string(),
        }
    }

    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut cmd = self.env.command(args);
        cmd.env("WFLOW_STORE", &self.url)
            .env("WFLOW_S3_ENDPOINT", &self.endpoint)
            .env("WFLOW_S3_PATH_STYLE", "true")
            // No config file of the developer's.
            .env("XDG_CONFIG_HOME", self.env.dir.path())
            .env_remove("WFLOW_CONFIG")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_ENDPOINT_URL");
        for (k, v) in TestServer::credential_env() {
            cmd.env(k, v);
        }
        cmd
    }

    pub(crate) fn wflow(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("wflow runs")
    }

    pub(crate) fn run_ok(&self, flow: &Path, extra: &[&str]) -> serde_json::Value {
        let mut args = vec!["run", "--json", flow.to_str().unwrap()];
        args.extend_from_slice(extra);
        let out = self.wflow(&args);
        assert!(
            out.status.success(),
            "wflow run on {}: {}",
            self.url,
            stderr(&out)
        );
        serde_json::from_slice(&out.stdout).expect("run --json prints JSON")
    }

    pub(crate) fn artifact(&self, pathspec: &str) -> serde_json::Value {
        let out = self.wflow(&["artifact", "get", "--json", pathspec]);
        assert!(
            out.status.success(),
            "artifact get {pathspec}: {}",
            stderr(&out)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn runs(&self) -> Vec<serde_json::Value> {
        let out = self.wflow(&["runs", "--json"]);
        assert!(out.status.success(), "runs: {}", stderr(&out));
        serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }
}

/// Runs `check` against each server (moto, s3s-fs), each time on a new bucket.
pub(crate) fn each_server(tag: &str, check: impl Fn(&TestServer, &str)) {
    for kind in Kind::ALL {
        let server = TestServer::get(kind);
        check(server, &server.new_bucket(tag));
    }
}

/// Every blob under the prefix hashes to its name; returns how many there are.
fn assert_blobs_verify(store: &Arc<S3Store>) -> usize {
    let cas = Cas::new(store.clone());
    let blobs = cas.list_blobs().unwrap();
    for d in &blobs {
        cas.get(d)
            .unwrap_or_else(|e| panic!("blob {d} does not verify: {e}"));
    }
    blobs.len()
}

#[test]
fn examples_run_and_read_back_on_s3() {
    each_server("examples", |server, bucket| {
        let m = S3Env::new(&server.endpoint, bucket, "team/wflow");
        let s = m.run_ok(&guest("example-foreach"), &["-p", "n=10"]);
        assert_eq!(s["tasks"].as_array().unwrap().len(), 13);
        let total = m.artifact(&format!("{}/total", task_of(&s, "sum")));
        assert_eq!(total, serde_json::json!(385));

        let s = m.run_ok(&guest("example-hello"), &["-p", "name=bucket"]);
        let logs = m.wflow(&["logs", &task_of(&s, "hello")]);
        assert!(logs.status.success(), "{}", stderr(&logs));
        assert!(String::from_utf8_lossy(&logs.stdout).contains("bucket"));

        let s = m.run_ok(&guest("example-branch"), &[]);
        let end = task_of(&s, "end");
        assert_eq!(
            m.artifact(&format!("{end}/label")),
            serde_json::json!("some digits of pi")
        );

        let s = m.run_ok(&guest("example-bigdata"), &["-p", "mb=24"]);
        let consume = task_of(&s, "consume");
        assert_eq!(
            m.artifact(&format!("{consume}/verified")),
            serde_json::json!(true)
        );
        let out = m.env.dir.path().join("blob.bin");
        let got = m.wflow(&[
            "artifact",
            "get",
            &format!("{}/blob", task_of(&s, "start")),
            "--output",
            out.to_str().unwrap(),
        ]);
        assert!(got.status.success(), "{}", stderr(&got));
        assert_eq!(std::fs::metadata(&out).unwrap().len(), 24 << 20);

        let runs = m.runs();
        assert_eq!(runs.len(), 4);
        assert!(runs.iter().all(|r| r["status"] == "succeeded"), "{runs:?}");
        // Nothing was written to the local store directory of this "machine".
        assert!(m.env.store_files().is_empty());
        // The text output says where the data went.
        let out = m.wflow(&["run", guest("example-hello").to_str().unwrap()]);
        assert!(
            stderr(&out).contains(&format!("S3 bucket `{bucket}`, prefix `team/wflow/`")),
            "{}",
            stderr(&out)
        );
    });
}

/// Store layout 2 on S3: a trivial task writes no object of its own — its manifest and log
/// travel in the records' batch objects — and `show`, `logs` and `artifact get` read it back.
#[test]
fn trivial_tasks_write_no_object_of_their_own_on_s3() {
    each_server("layout2", |server, bucket| {
        let m = S3Env::new(&server.endpoint, bucket, "l2");
        let s = m.run_ok(&guest("example-foreach"), &["-p", "n=40"]);
        let store = Arc::new(server.store(&server.config(bucket, "l2")).unwrap());
        let blobs = assert_blobs_verify(&store);
        assert!(blobs < 8, "{blobs} blobs for 43 tasks");
        let square = s["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["step"] == "square" && t["task_id"] == 12)
            .unwrap()["pathspec"]
            .as_str()
            .unwrap()
            .to_string();
        let shown = m.wflow(&["show", "--json", &square]);
        assert!(shown.status.success(), "{}", stderr(&shown));
        let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
        let i = shown["foreach_path"][0]
            .as_i64()
            .or_else(|| shown["task"]["foreach_path"][0].as_i64())
            .unwrap_or_else(|| panic!("a foreach index in {shown}"));
        let x = i + 1;
        assert_eq!(
            m.artifact(&format!("{square}/square")),
            serde_json::json!(x * x)
        );
        let logs = m.wflow(&["logs", &square]);
        assert!(logs.status.success(), "{}", stderr(&logs));
        assert_eq!(
            String::from_utf8_lossy(&logs.stdout),
            format!("item {i}: {x}^2 = {}\n", x * x)
        );
        let total = m.artifact(&format!("{}/total", task_of(&s, "sum")));
        assert_eq!(
            total,
            serde_json::json!((1..=40i64).map(|i| i * i).sum::<i64>())
        );
    });
}

#[test]
fn two_machines_on_one_bucket_see_each_others_runs() {
    each_server("shared", |server, bucket| {
        let a = S3Env::new(&server.endpoint, bucket, "wflow");
        let b = S3Env::new(&server.endpoint, bucket, "wflow");
        let s = a.run_ok(&guest("example-foreach"), &["-p", "n=20"]);
        let run_id = s["run_id"].as_str().unwrap().to_string();

        // b sees a's run, its artifacts and its logs.
        let runs = b.runs();
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0]["run_id"], run_id.as_str());
        assert_eq!(runs[0]["status"], "succeeded");
        let total = b.artifact(&format!("{}/total", task_of(&s, "sum")));
        assert_eq!(
            total,
            serde_json::json!((1..=20).map(|i: i64| i * i).sum::<i64>())
        );
        let logs = b.wflow(&["logs", &task_of(&s, "end")]);
        assert!(logs.status.success(), "{}", stderr(&logs));

        // Content-addressed across machines: b's identical run uploads no new blob.
        let store = Arc::new(server.store(&server.config(bucket, "wflow")).unwrap());
        let before = store.list("blobs-v1/").unwrap();
        b.run_ok(&guest("example-foreach"), &["-p", "n=20"]);
        assert_eq!(store.list("blobs-v1/").unwrap(), before, "no new blob");
        // And a sees both runs, newest first.
        let runs = a.runs();
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[1]["run_id"], run_id.as_str());
        // The records are small objects under records-v1/: a handful per run, not one per task.
        let records = store.list("records-v1/").unwrap();
        assert!(
            records.len() <= 2 * 8,
            "{} record objects for 2 runs: {records:?}",
            records.len()
        );
        assert_blobs_verify(&store);
    });
}

#[test]
fn a_corrupt_blob_is_named_and_the_rest_stays_readable() {
    each_server("corrupt", |server, bucket| {
        let m = S3Env::new(&server.endpoint, bucket, "p");
        let s = m.run_ok(&guest("example-bigdata"), &["-p", "mb=6"]);
        let start = task_of(&s, "start");
        let store = server.store(&server.config(bucket, "p")).unwrap();
        let keys = store.list("blobs-v1/").unwrap();
        // The 6 MiB blob is the largest object.
        let key = keys
            .iter()
            .max_by_key(|k| store.get(k).unwrap().unwrap().len())
            .unwrap()
            .clone();
        let mut bytes = store.get(&key).unwrap().unwrap();
        bytes[1234] ^= 0xff;
        testing::overwrite(&store, &key, bytes);

        let out = m.env.dir.path().join("blob.bin");
        let got = m.wflow(&[
            "artifact",
            "get",
            &format!("{start}/blob"),
            "-o",
            out.to_str().unwrap(),
        ]);
        assert_eq!(got.status.code(), Some(3), "{}", stderr(&got));
        let err = stderr(&got);
        assert!(
            err.contains("corrupt") && err.contains(&key) && err.contains("blob"),
            "{err}"
        );
        // Other artifacts of the same task and run are still readable.
        let consume = task_of(&s, "consume");
        assert_eq!(
            m.artifact(&format!("{consume}/size")),
            serde_json::json!(6u64 << 20)
        );
    });
}

#[test]
fn unreachable_endpoint_missing_bucket_and_refused_credentials() {
    // Unreachable: a port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let m = S3Env::new(&format!("http://127.0.0.1:{port}"), "some-bucket", "p");
    let out = m.wflow(&["runs"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("http://127.0.0.1:{port}")) && err.contains("cannot reach"),
        "{err}"
    );
    // A run is refused before anything runs.
    let out = m.wflow(&["run", guest("example-hello").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));

    each_server("faults", |server, _| {
        let m = S3Env::new(&server.endpoint, "no-such-bucket-at-all", "p");
        let out = m.wflow(&["runs"]);
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("bucket `no-such-bucket-at-all` does not exist"),
            "{}",
            stderr(&out)
        );
    });

    // s3s-fs checks credentials (moto takes any).
    {
        let server = TestServer::get(Kind::S3sFs);
        let bucket = server.new_bucket("creds");
        let m = S3Env::new(&server.endpoint, &bucket, "p");
        let out = m
            .command(&["runs"])
            .env("AWS_SECRET_ACCESS_KEY", "not-the-secret")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("refused the credentials") || err.contains("access denied"),
            "{err}"
        );
    }

    // A bad URL is bad input.
    let m = S3Env::new("http://127.0.0.1:1", "x", "p");
    let out = m
        .command(&["runs"])
        .env("WFLOW_STORE", "s3://a b/c")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not a bucket name"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_killed_upload_leaves_nothing_visible_and_the_next_run_succeeds() {
    each_server("killed", |server, bucket| {
        let m = S3Env::new(&server.endpoint, bucket, "p");
        let g = guest("example-bigdata");
        for delay_ms in [700u64, 1500] {
            let mut child = m
                .command(&["run", g.to_str().unwrap(), "-p", "mb=64"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(Duration::from_millis(delay_ms));
            child.kill().unwrap(); // SIGKILL, mid-run (often mid-upload)
            child.wait().unwrap();
            let store = Arc::new(server.store(&server.config(bucket, "p")).unwrap());
            assert_blobs_verify(&store);
            let runs = m.wflow(&["runs", "--json"]);
            assert!(
                runs.status.success(),
                "records readable after a kill: {}",
                stderr(&runs)
            );
        }
        let s = m.run_ok(&g, &["-p", "mb=64"]);
        let consume = task_of(&s, "consume");
        assert_eq!(
            m.artifact(&format!("{consume}/verified")),
            serde_json::json!(true)
        );
    });
}

#[test]
fn a_server_dying_mid_upload_fails_the_run_cleanly_and_a_rerun_succeeds() {
    let mut server = PrivateServer::start();
    server.create_bucket("dying");
    let m = S3Env::new(&server.endpoint, "dying", "p");
    let g = guest("example-bigdata");
    let child = m
        .command(&["run", g.to_str().unwrap(), "-p", "mb=96"])
        .env("WFLOW_MAX_WORKERS", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    server.kill();
    std::thread::sleep(Duration::from_millis(1500));
    server.resume();
    let out = child.wait_with_output().unwrap();
    // Either the run failed with an error naming the endpoint, or (if the kill fell between
    // requests, and retries bridged the gap) it succeeded; both leave only complete objects.
    if !out.status.success() {
        assert!(
            matches!(out.status.code(), Some(1) | Some(3)),
            "{}",
            stderr(&out)
        );
    }
    let store = Arc::new(
        wflow_store_s3::testing::store_with_credentials(
            &server.config("dying", "p"),
            testing::ACCESS_KEY,
            testing::SECRET_KEY,
        )
        .unwrap(),
    );
    assert_blobs_verify(&store);
    let s = m.run_ok(&g, &["-p", "mb=96"]);
    let consume = task_of(&s, "consume");
    assert_eq!(
        m.artifact(&format!("{consume}/verified")),
        serde_json::json!(true)
    );
}

#[test]
fn resume_tags_show_and_step_run_work_on_s3_from_another_machine() {
    each_server("resume", |server, bucket| {
        let a = S3Env::new(&server.endpoint, bucket, "wflow");
        let b = S3Env::new(&server.endpoint, bucket, "wflow");
        let g = guest("test-program-faulty");
        let out = a.wflow(&["run", "--json", g.to_str().unwrap(), "-p", "mode=error"]);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        let origin: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let origin_id = origin["run_id"].as_str().unwrap();

        // Another machine resumes it with the fix: start is reused, not run again.
        let out = b.wflow(&["resume", "--json", origin_id, "-p", "mode=ok"]);
        assert!(out.status.success(), "resume on S3: {}", stderr(&out));
        let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(s["status"], "succeeded");
        assert_eq!(s["resume"]["origin_run"], origin["run_id"]);
        assert_eq!(s["resume"]["reused"].as_array().unwrap().len(), 1);
        let run = format!(
            "{}/{}",
            s["flow"].as_str().unwrap(),
            s["run_id"].as_str().unwrap()
        );

        // `show` on the first machine: the reused task points at the origin's.
        let out = a.wflow(&["show", "--json", &format!("{run}/start/1")]);
        assert!(out.status.success(), "{}", stderr(&out));
        let start: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(
            start.to_string().contains(origin_id),
            "the reused task names its origin: {start}"
        );
        let out = a.wflow(&["show", &run]);
        assert!(out.status.success(), "{}", stderr(&out));

        // Tags written by one machine are seen (and filtered on) by the other.
        let out = a.wflow(&["tag", "add", &run, "fixed", "nightly"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let out = b.wflow(&["tag", "remove", &run, "nightly"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let out = a.wflow(&["runs", "--json", "--tag", "fixed"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let tagged: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(tagged.len(), 1, "{tagged:?}");
        assert_eq!(tagged[0]["tags"], serde_json::json!(["fixed"]));

        // step-run re-runs one task of the S3 run on its recorded inputs.
        let out = b.wflow(&["step-run", "--json", &task_of(&s, "work")]);
        assert!(out.status.success(), "step-run on S3: {}", stderr(&out));
    });
}

#[test]
fn the_config_file_selects_the_s3_store_and_bad_settings_are_named() {
    let server = TestServer::get(Kind::Moto);
    let bucket = server.new_bucket("config");
    let m = S3Env::new(&server.endpoint, &bucket, "cfg");
    let config = m.env.dir.path().join("wflow-config.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\ntype = \"s3\"\nurl = \"s3://{bucket}/cfg\"\nendpoint = \"{}\"\npath_style = true\n",
            server.endpoint
        ),
    )
    .unwrap();
    let with_config = |args: &[&str]| {
        m.command(args)
            .env_remove("WFLOW_STORE")
            .env_remove("WFLOW_S3_ENDPOINT")
            .env_remove("WFLOW_S3_PATH_STYLE")
            .env("WFLOW_CONFIG", &config)
            .output()
            .unwrap()
    };
    let out = with_config(&["run", "--json", guest("example-hello").to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    // The run went to the bucket named in the file: the flag-configured client sees it.
    assert_eq!(m.runs().len(), 1);
    assert!(m.env.store_files().is_empty(), "nothing in a local store");

    // A setting the S3 store does not have is named, as bad input.
    std::fs::write(
        &config,
        format!("[store]\ntype = \"s3\"\nurl = \"s3://{bucket}/cfg\"\nendpiont = \"x\"\n"),
    )
    .unwrap();
    let out = with_config(&["runs"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("endpiont"), "{}", stderr(&out));
    // So is a store type there is none of.
    std::fs::write(&config, "[store]\ntype = \"ftp\"\n").unwrap();
    let out = with_config(&["runs"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("unknown store type `ftp`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn resume_of_a_200_item_foreach_on_s3() {
    each_server("resume200", |server, bucket| {
        let m = S3Env::new(&server.endpoint, bucket, "wflow");
        crate::resume::resume_a_200_item_foreach_from_its_join(&|args| m.command(args), &[]);
    });
}

/// docs/s3.md's own example: `--s3-path-style` is a plain flag that does not take the next word
/// (it once swallowed `runs` as its value); `--s3-path-style=BOOL` still works.
#[test]
fn the_path_style_flag_does_not_swallow_the_command() {
    let server = TestServer::get(Kind::Moto);
    let bucket = server.new_bucket("flag");
    let m = S3Env::new(&server.endpoint, &bucket, "wflow");
    let hello = guest("example-hello");
    for args in [
        vec!["--s3-path-style", "run", hello.to_str().unwrap()],
        vec!["--s3-path-style", "runs", "--json"],
        vec!["--s3-path-style=true", "runs", "--json"],
    ] {
        let out = m
            .command(&args)
            .env_remove("WFLOW_S3_PATH_STYLE")
            .output()
            .unwrap();
        assert!(out.status.success(), "wflow {args:?}: {}", stderr(&out));
    }
    let out = m
        .command(&["--s3-path-style", "runs", "--json"])
        .env_remove("WFLOW_S3_PATH_STYLE")
        .output()
        .unwrap();
    let runs: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(runs.len(), 1, "the run went to the bucket");
}

/// A server that says 200 to uploads it stores wrongly (s3rver's way with `aws-chunked`, played by
/// a proxy in front of moto): the run's uploads are caught, stored again plainly, and every blob
/// in the bucket verifies; a blob an older wflow left corrupt is replaced by the next run that
/// makes it, not deduplicated against.
#[test]
fn uploads_a_server_stored_wrongly_are_caught_and_a_rerun_heals_the_bucket() {
    let server = TestServer::get(Kind::Moto);
    let proxy = testing::FramingProxy::start(&server.endpoint);
    let bucket = server.new_bucket("framing");
    let through_proxy = S3Env::new(&proxy.endpoint, &bucket, "wflow");
    let bigdata = guest("example-bigdata");
    // 20 MiB: a multipart upload streamed from the step's temporary file.
    let args = ["run", "--json", bigdata.to_str().unwrap(), "-p", "mb=20"];
    let out = through_proxy.wflow(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(proxy.mangled() > 0, "the proxy stored framing");
    assert!(
        stderr(&out).contains("stored an upload wrongly"),
        "the user is told: {}",
        stderr(&out)
    );
    let direct = Arc::new(server.store(&server.config(&bucket, "wflow")).unwrap());
    assert_blobs_verify(&direct);

    // The big blob as s3rver left it with an older wflow: framing around the bytes.
    let cas = Cas::new(direct.clone());
    let (key, bytes) = cas
        .list_blobs()
        .unwrap()
        .into_iter()
        .map(|d| (Cas::blob_key(&d), cas.get(&d).unwrap()))
        .max_by_key(|(_, b)| b.len())
        .unwrap();
    assert_eq!(bytes.len(), 20 << 20);
    let mut framed = b"10000;chunk-signature=0\r\n".to_vec();
    framed.extend_from_slice(&bytes);
    testing::overwrite(&direct, &key, framed);
    // A rerun on a server that stores uploads correctly heals it (with `--no-cache`: the task
    // runs and stores its outputs again rather than taking the earlier ones).
    let fixed = S3Env::new(&server.endpoint, &bucket, "wflow");
    fixed.run_ok(&bigdata, &["-p", "mb=20", "--no-cache"]);
    assert_eq!(direct.get(&key).unwrap().unwrap(), bytes, "healed");
    assert_blobs_verify(&direct);
}

/// A finished run of example-hello on `bucket`: the machine, the store, the run id, the run's
/// pathspec and its `hello` task's.
type HelloRun = (S3Env, S3Store, String, String, String);

fn hello_run(server: &TestServer, bucket: &str) -> HelloRun {
    let m = S3Env::new(&server.endpoint, bucket, "p");
    let s = m.run_ok(&guest("example-hello"), &["-p", "name=x"]);
    let run_id = s["run_id"].as_str().unwrap().to_string();
    let run = format!("{}/{run_id}", s["flow"].as_str().unwrap());
    let store = server.store(&server.config(bucket, "p")).unwrap();
    let task = task_of(&s, "hello");
    (m, store, run_id, run, task)
}

/// Issue 22: someone who may write to the records prefix plants a second end for a run, one
/// that says it failed far in the future. `runs` and `show` keep the run's true end and warn
/// naming the planted object.
#[test]
fn a_planted_second_end_of_a_run_is_skipped_with_a_warning() {
    each_server("planted-end", |server, bucket| {
        let (m, store, run_id, run, _) = hello_run(server, bucket);
        let ends = store.list(&format!("records-v1/ends/{run_id}/")).unwrap();
        assert_eq!(ends.len(), 1, "{ends:?}");
        let end = format!("records-v1/ends/{run_id}/9999999999999-planted-00000001");
        let planted = serde_json::json!({
            "v": 1, "status": "failed", "finished_ms": 9_999_999_999_999i64, "error": "planted",
        });
        testing::overwrite(&store, &end, planted.to_string().into_bytes());

        let out = m.wflow(&["runs", "--json"]);
        assert!(out.status.success(), "runs: {}", stderr(&out));
        let runs: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(runs.len(), 1, "{runs:?}");
        assert_eq!(runs[0]["status"], "succeeded", "{runs:?}");
        let err = stderr(&out);
        assert!(err.contains("warning:") && err.contains(&end), "{err}");

        let out = m.wflow(&["show", "--json", &run]);
        assert!(out.status.success(), "show: {}", stderr(&out));
        let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(shown["status"], "succeeded", "{shown}");
        assert_eq!(shown["error"], serde_json::Value::Null, "{shown}");
        let err = stderr(&out);
        assert!(err.contains("warning:") && err.contains(&end), "{err}");
    });
}

/// Issue 22: a batch of task records that is not JSON, planted beside the real ones, no longer
/// makes `show` fail for everyone: it is skipped with a warning naming it.
#[test]
fn a_corrupt_task_batch_is_skipped_with_a_warning() {
    each_server("planted-batch", |server, bucket| {
        let (m, store, run_id, run, task) = hello_run(server, bucket);
        let batch = format!("records-v1/tasks/{run_id}/9999999999999-planted-00000001");
        testing::overwrite(&store, &batch, b"not json".to_vec());

        for args in [vec!["show", "--json", &run], vec!["show", &run]] {
            let out = m.wflow(&args);
            assert!(out.status.success(), "{args:?}: {}", stderr(&out));
            let err = stderr(&out);
            assert!(err.contains("warning:") && err.contains(&batch), "{err}");
        }
        let out = m.wflow(&["show", "--json", &run]);
        let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(shown["status"], "succeeded", "{shown}");
        // A run start that is not JSON does not hide the other runs from `runs`.
        let start = "records-v1/runs/20991231T000000-zzzzz";
        testing::overwrite(&store, start, b"{".to_vec());
        let out = m.wflow(&["runs", "--json"]);
        assert!(out.status.success(), "runs: {}", stderr(&out));
        let runs: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(runs.len(), 1, "{runs:?}");
        assert_eq!(runs[0]["run_id"], run_id.as_str(), "{runs:?}");
        let err = stderr(&out);
        assert!(err.contains("warning:") && err.contains(start), "{err}");
        // The real task records are still read.
        let out = m.wflow(&["show", "--json", &task]);
        assert!(out.status.success(), "show task: {}", stderr(&out));
        let task: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(task["status"], "succeeded", "{task}");
    });
}

/// Issue 15: pure steps are cached across runs with object records too (`cache.rs` has the
/// checks); the cache's entries are a few objects per run, not one per task.
#[test]
fn pure_steps_are_cached_across_runs_on_s3() {
    let server = TestServer::get(Kind::S3sFs);
    let bucket = server.new_bucket("cache");
    let m = S3Env::new(&server.endpoint, &bucket, "wflow");
    crate::cache::pure_flow_checks(&|args| m.wflow(args));
    let store = server.store(&server.config(&bucket, "wflow")).unwrap();
    let entries = store.list("records-v1/cache/").unwrap();
    // 5 runs; each filed at most one object per pure step that ran, per batch of records.
    assert!(
        !entries.is_empty() && entries.len() <= 5 * 8,
        "{} cache objects: {entries:?}",
        entries.len()
    );
}
