//! The test bed of the Batch tests: a private moto server (S3 and Batch) with Batch set up, whose
//! jobs run through the [`DockerShim`], and a machine using an S3 store on it.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use wflow_store_s3::testing::{self, TestServer};

use crate::docker_shim::DockerShim;
use crate::util::{Env, guest, stderr};

pub struct Cloud {
    pub endpoint: String,
    pub shim: Arc<DockerShim>,
    queue: String,
}

const QUEUE: &str = "wflow-test-queue";

pub fn cloud() -> &'static Cloud {
    static CLOUD: OnceLock<Cloud> = OnceLock::new();
    CLOUD.get_or_init(|| {
        let shim = DockerShim::start();
        let docker = format!("tcp://127.0.0.1:{}", shim.port);
        let endpoint = testing::start_private_moto(&[("DOCKER_HOST", docker.as_str())]);
        set_up_batch(&endpoint, "wflow-batch-service", "wflow-test-ce", QUEUE);
        Cloud {
            endpoint,
            shim,
            queue: QUEUE.into(),
        }
    })
}

/// Batch on a fresh moto as the tests use it: an IAM role `role` (moto wants a compute
/// environment's service role to exist), an unmanaged compute environment `ce` and the job queue
/// `queue`. Returns the role's ARN.
pub(crate) fn set_up_batch(endpoint: &str, role: &str, ce: &str, queue: &str) -> String {
    let created = aws(
        endpoint,
        "iam",
        "POST",
        "/",
        "application/x-www-form-urlencoded",
        &format!(
            "Action=CreateRole&Version=2010-05-08&RoleName={role}&AssumeRolePolicyDocument=%7B%7D"
        ),
    );
    let arn = between(&created, "<Arn>", "</Arn>")
        .expect("CreateRole returns the role's ARN")
        .to_string();
    let made = aws(
        endpoint,
        "batch",
        "POST",
        "/v1/createcomputeenvironment",
        "application/json",
        &serde_json::json!({
            "computeEnvironmentName": ce,
            "type": "UNMANAGED",
            "state": "ENABLED",
            "serviceRole": arn,
        })
        .to_string(),
    );
    let made: serde_json::Value = serde_json::from_str(&made).expect("JSON");
    let ce_arn = made["computeEnvironmentArn"]
        .as_str()
        .expect("a compute environment");
    aws(
        endpoint,
        "batch",
        "POST",
        "/v1/createjobqueue",
        "application/json",
        &serde_json::json!({
            "jobQueueName": queue,
            "state": "ENABLED",
            "priority": 1,
            "computeEnvironmentOrder": [{"order": 1, "computeEnvironment": ce_arn}],
        })
        .to_string(),
    );
    arn
}

/// A fresh bucket on the moto at `endpoint`; the `s3://` URL of a store in it.
pub(crate) fn new_bucket(endpoint: &str, tag: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let bucket = format!(
        "{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    aws(
        endpoint,
        "s3",
        "PUT",
        &format!("/{bucket}"),
        "text/plain",
        "",
    );
    format!("s3://{bucket}/wflow")
}

/// `cmd` set to use the S3 store `url` on the moto at `endpoint` and its Batch queue `queue`,
/// with nothing from the caller's configuration (`dir`: the machine's config home).
pub(crate) fn on_moto(
    cmd: &mut Command,
    url: &str,
    endpoint: &str,
    queue: &str,
    dir: &std::path::Path,
) {
    cmd.env("WFLOW_STORE", url)
        .env("WFLOW_S3_ENDPOINT", endpoint)
        .env("WFLOW_S3_PATH_STYLE", "true")
        .env("WFLOW_BATCH_QUEUE", queue)
        .env("WFLOW_BATCH_IMAGE", "wflow-worker:test")
        .env("WFLOW_BATCH_ENDPOINT", endpoint)
        .env("WFLOW_BATCH_REGION", "us-east-1")
        .env("XDG_CONFIG_HOME", dir)
        .env_remove("WFLOW_CONFIG")
        .env_remove("WFLOW_COMPUTE")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL");
    for (k, v) in TestServer::credential_env() {
        cmd.env(k, v);
    }
}

pub(crate) fn between<'a>(text: &'a str, a: &str, b: &str) -> Option<&'a str> {
    let start = text.find(a)? + a.len();
    let end = text[start..].find(b)? + start;
    Some(&text[start..end])
}

/// One unsigned request to moto (it reads the service from the credential scope and checks no
/// signature); panics unless it succeeds (2xx).
pub(crate) fn aws(
    endpoint: &str,
    service: &str,
    method: &str,
    path: &str,
    ctype: &str,
    body: &str,
) -> String {
    let addr = endpoint.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=wflow-test/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, rest) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    assert!(
        head.starts_with("HTTP/1.1 20") || head.starts_with("HTTP/1.0 20"),
        "{service} {path}: {out}"
    );
    rest.to_string()
}

/// The object at `key` under the prefix of `store` (an `s3://` URL on the test moto), straight
/// to moto as anyone with write access could: `GET` when `body` is `None`, else `PUT`.
pub fn store_object(store: &str, key: &str, body: Option<&[u8]>) -> Option<Vec<u8>> {
    let path = format!("/{}/{key}", store.trim_start_matches("s3://"));
    let (method, body) = body.map_or(("GET", &[][..]), |b| ("PUT", b));
    let addr = cloud().endpoint.trim_start_matches("http://").to_string();
    let mut s = TcpStream::connect(&addr).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=wflow-test/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0\r\n\
         Connection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let end = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&out[..end]).to_string();
    match head.split_whitespace().nth(1) {
        Some("200") => Some(out[end..].to_vec()),
        Some("404") => None,
        _ => panic!("{method} {path}: {head}"),
    }
}

// ---------------------------------------------------------------------------------------------
// A machine using an S3 store on the same moto, and tasks on its Batch.

pub struct BatchEnv {
    pub env: Env,
    pub url: String,
}

impl BatchEnv {
    pub fn new(tag: &str) -> BatchEnv {
        BatchEnv {
            env: Env::new(),
            url: new_bucket(&cloud().endpoint, tag),
        }
    }

    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let c = cloud();
        let mut cmd = self.env.command(args);
        on_moto(
            &mut cmd,
            &self.url,
            &c.endpoint,
            &c.queue,
            self.env.dir.path(),
        );
        cmd.env("WFLOW_BATCH_POLL_MIN_MS", "300")
            .env("WFLOW_BATCH_POLL_MAX_MS", "2000");
        cmd
    }

    pub fn wflow(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("wflow runs")
    }

    /// Calls `hook` with the description key of each job of this store, before it starts.
    pub fn on_job(&self, hook: impl Fn(&str) + Send + Sync + 'static) {
        let hooks = &cloud().shim.hooks;
        hooks
            .lock()
            .unwrap()
            .insert(self.url.clone(), Arc::new(hook));
    }

    /// Sets variables of the worker image's environment for this store's jobs.
    pub fn image_env(&self, vars: &[(&str, &str)]) {
        cloud().shim.set_image_env(&self.url, vars);
    }

    /// `wflow run --json FLOW --compute C EXTRA…`; the summary and stderr.
    pub fn run(&self, flow: &str, compute: &str, extra: &[&str]) -> (Output, serde_json::Value) {
        let g = guest(flow);
        let mut args = vec!["run", "--json", g.to_str().unwrap(), "--compute", compute];
        args.extend_from_slice(extra);
        let out = self.wflow(&args);
        let summary = serde_json::from_slice(&out.stdout).unwrap_or_default();
        (out, summary)
    }

    pub(crate) fn run_ok(
        &self,
        flow: &str,
        compute: &str,
        extra: &[&str],
    ) -> (serde_json::Value, String) {
        let (out, summary) = self.run(flow, compute, extra);
        assert!(
            out.status.success(),
            "wflow run {flow} --compute {compute}: {}\n{}",
            stderr(&out),
            worker_logs()
        );
        (summary, stderr(&out))
    }

    /// A task's artifacts: name → digest.
    pub(crate) fn artifacts(&self, pathspec: &str) -> BTreeMap<String, String> {
        let out = self.wflow(&["show", "--json", pathspec]);
        assert!(out.status.success(), "show {pathspec}: {}", stderr(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["artifacts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["name"].as_str().unwrap().to_string(),
                    a["digest"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    pub fn artifact(&self, pathspec: &str) -> serde_json::Value {
        let out = self.wflow(&["artifact", "get", "--json", pathspec]);
        assert!(
            out.status.success(),
            "artifact get {pathspec}: {}",
            stderr(&out)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

/// The last lines of every worker's stderr (for failure messages).
pub fn worker_logs() -> String {
    logs_tail(cloud().shim.logs.path())
}

/// The last lines of each worker's stderr in the shim's log directory `dir`.
pub(crate) fn logs_tail(dir: &std::path::Path) -> String {
    let mut out = String::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.path().extension().is_some_and(|x| x == "err") {
                let text = std::fs::read_to_string(e.path()).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(5).collect();
                out.push_str(&format!(
                    "--- {}\n{}\n",
                    e.path().display(),
                    tail.join("\n")
                ));
            }
        }
    }
    out
}
