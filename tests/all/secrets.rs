//! Secrets (contract 0.2, issue 17 item 4): the policy declares each secret's source and grants
//! it; the value is read where the task runs and reaches only the step. It is redacted in the
//! step's stdout and stderr (a value split across writes included), in its error and panic
//! messages, and never written to the store or the records, which name the secrets a task was
//! given. On AWS Batch (Secrets Manager on moto): `secrets_from_secrets_manager_locally_and_on_batch_never_through_the_store` below.

use std::path::Path;

use crate::util::{Env, files_under, guest, stderr, task_of};

/// The values: long and unlike anything else a run writes.
pub const PASSWORD: &str = "pw-Zq8xK3vT9mRw";
pub const TOKEN: &str = "tok-Hh4Lm2Nq7WcY";

/// A policy granting both secrets of `test-program-secrets`, the token read from `token_file`.
fn policy(env: &Env, token_file: &Path) -> String {
    let text = format!(
        "[grants]\nsecrets = [\"db_password\", \"api_token\"]\n\n\
         [secrets.db_password]\nenv = \"WFLOW_TEST_DB_PASSWORD\"\n\n\
         [secrets.api_token]\nfile = \"{}\"\n",
        token_file.display()
    );
    let path = env.dir.path().join("policy.toml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

fn run(env: &Env, policy: &str, mode: &str) -> std::process::Output {
    let g = guest("test-program-secrets");
    env.command(&[
        "run",
        "--json",
        g.to_str().unwrap(),
        "--policy",
        policy,
        "-p",
        &format!("mode={mode}"),
    ])
    .env("WFLOW_TEST_DB_PASSWORD", PASSWORD)
    .output()
    .unwrap()
}

/// Files under `dir` holding `needle`'s bytes.
pub fn files_holding(dir: &Path, needle: &str) -> Vec<String> {
    files_under(dir)
        .into_iter()
        .filter(|f| {
            std::fs::read(f).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
        })
        .map(|f| f.display().to_string())
        .collect()
}

/// The body of `GET url` (`http://127.0.0.1:PORT/path`).
fn http_get(url: &str) -> String {
    let rest = url.trim_start_matches("http://");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let body = raw(
        &format!("http://{host}"),
        &format!("GET {path} HTTP/1.1\r\n"),
        b"",
    );
    String::from_utf8_lossy(&body).into_owned()
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn env_and_file_secrets_reach_the_step_and_are_redacted_everywhere_else() {
    let env = Env::new();
    let outside = tempfile::tempdir().unwrap();
    let token_file = outside.path().join("token");
    std::fs::write(&token_file, TOKEN).unwrap();
    let policy = policy(&env, &token_file);

    // A run that finishes: the step had both values (their lengths are its artifact).
    let out = run(&env, &policy, "ok");
    assert!(out.status.success(), "{}", stderr(&out));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let start = task_of(&summary, "start");
    assert_eq!(
        env.artifact(&format!("{start}/lengths")),
        serde_json::json!([PASSWORD.len(), TOKEN.len()])
    );
    // A step reads only what it asked for.
    let other = task_of(&summary, "other");
    let refused = env.artifact(&format!("{other}/refused"));
    assert!(
        refused
            .as_str()
            .unwrap()
            .contains("was given no secret `db_password`"),
        "{refused}"
    );
    // Its stdout and stderr, the whole value and the one written in two halves, redacted.
    let logs = env.wflow(&["logs", &start]);
    assert!(logs.status.success(), "{}", stderr(&logs));
    let logs = text(&logs);
    assert!(
        logs.contains("connecting with password [wflow: secret db_password redacted]"),
        "{logs}"
    );
    assert!(
        logs.contains("half [wflow: secret db_password redacted] and the token [wflow: secret api_token redacted]"),
        "{logs}"
    );
    // The records name the secrets the task was given.
    let show = env.wflow(&["show", "--json", &start]);
    assert!(show.status.success(), "{}", stderr(&show));
    let task: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(
        task["secrets"],
        serde_json::json!(["db_password", "api_token"]),
        "{task}"
    );
    let shown = env.wflow(&["show", &start]);
    assert!(
        text(&shown).contains("secrets   db_password, api_token (names only)"),
        "{}",
        text(&shown)
    );
    let show = env.wflow(&["show", "--json", &other]);
    let task: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(task["secrets"], serde_json::json!([]), "{task}");
    // And the UI's task page.
    let ui = crate::ui::UiServer::start(&env);
    let page = http_get(&format!("{}/{start}", ui.url));
    assert!(
        page.contains(
            "<th>secrets</th><td><code>db_password</code>, <code>api_token</code> (names only)</td>"
        ),
        "{page}"
    );
    drop(ui);

    // A step error and a panic quoting the values: the messages are redacted wherever shown.
    for (mode, want) in [
        (
            "error",
            "could not log in as admin/[wflow: secret db_password redacted]",
        ),
        (
            "panic",
            "the token [wflow: secret api_token redacted] was refused",
        ),
    ] {
        let out = run(&env, &policy, mode);
        assert!(!out.status.success(), "{mode} fails");
        let all = text(&out);
        assert!(all.contains(want), "{mode}: {all}");
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| panic!("a summary of the failed run: {all}"));
        let show = env.wflow(&["show", &task_of(&summary, "start")]);
        assert!(text(&show).contains(want), "{mode}: {}", text(&show));
        assert!(!text(&show).contains(PASSWORD) && !text(&show).contains(TOKEN));
    }

    // Not a byte of either value under the store (artifacts, logs, records, live logs).
    for value in [PASSWORD, TOKEN] {
        let found = files_holding(env.dir.path(), value);
        assert!(found.is_empty(), "{value} found in {found:?}");
    }
}

#[test]
fn secrets_not_granted_or_without_a_source_are_refused_before_the_run() {
    let env = Env::new();
    let g = guest("test-program-secrets");
    let cases = [
        (
            "[grants]\nsecrets = [\"db_password\"]\n[secrets.db_password]\nenv = \"X\"\n[secrets.api_token]\nenv = \"Y\"\n",
            "step `start`: secret `api_token` is not allowed by the policy (allowed: db_password)",
        ),
        (
            "[grants]\nsecrets = [\"*\"]\n[secrets.db_password]\nenv = \"X\"\n",
            "step `start`: secret `api_token` has no source in the policy: declare where its value comes from under `[secrets.api_token]`",
        ),
        (
            "[grants]\nsecrets = [\"*\"]\n[secrets.db_password]\nfile = \"relative/path\"\n",
            "[secrets.db_password] file `relative/path` must be an absolute path",
        ),
        (
            "[secrets.db_password]\nenv = \"X\"\naws = \"arn:x\"\n",
            "[secrets.db_password] declares more than one source",
        ),
    ];
    for (text_of_policy, want) in cases {
        let path = env.dir.path().join("refusing.toml");
        std::fs::write(&path, text_of_policy).unwrap();
        let out = env.wflow(&[
            "run",
            g.to_str().unwrap(),
            "--policy",
            path.to_str().unwrap(),
        ]);
        assert!(!out.status.success());
        assert!(stderr(&out).contains(want), "{want}\n{}", stderr(&out));
    }
    assert!(
        files_under(&env.store())
            .iter()
            .all(|f| !f.to_string_lossy().contains("runs")),
        "nothing ran"
    );
}

#[test]
fn a_secret_whose_source_is_missing_fails_its_task_naming_secret_and_source() {
    let env = Env::new();
    let outside = tempfile::tempdir().unwrap();
    let policy = policy(&env, &outside.path().join("no-such-token"));
    let out = run(&env, &policy, "ok");
    assert!(!out.status.success());
    let all = text(&out);
    let want = format!(
        "secret `api_token` could not be read from file `{}` where the task runs",
        outside.path().join("no-such-token").display()
    );
    assert!(all.contains(&want), "{all}");
    assert!(!all.contains(PASSWORD));
    assert!(files_holding(env.dir.path(), PASSWORD).is_empty());
}

/// Calls a JSON-protocol AWS API on moto (`X-Amz-Target: TARGET`); the answer's JSON.
fn aws_json(endpoint: &str, target: &str, body: &serde_json::Value) -> serde_json::Value {
    let body = body.to_string();
    let answer = raw(
        endpoint,
        &format!(
            "POST / HTTP/1.1\r\nContent-Type: application/x-amz-json-1.1\r\nX-Amz-Target: {target}\r\n\
             Content-Length: {}\r\nAuthorization: AWS4-HMAC-SHA256 \
             Credential=wflow-test/20260101/us-east-1/secretsmanager/aws4_request, \
             SignedHeaders=host, Signature=0\r\n",
            body.len()
        ),
        body.as_bytes(),
    );
    serde_json::from_slice(&answer)
        .unwrap_or_else(|_| panic!("{target}: {}", String::from_utf8_lossy(&answer)))
}

/// One HTTP/1.1 request to `endpoint` (head lines without Host and Connection); the body of a
/// 2xx answer.
fn raw(endpoint: &str, head: &str, body: &[u8]) -> Vec<u8> {
    use std::io::{Read, Write};
    let addr = endpoint.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let mut req = format!("{head}Host: {addr}\r\nConnection: close\r\n\r\n").into_bytes();
    req.extend_from_slice(body);
    s.write_all(&req).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let split = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let status = String::from_utf8_lossy(&out[..split]).into_owned();
    assert!(status.starts_with("HTTP/1.1 20"), "{head}: {status}");
    out.split_off(split)
}

/// Every object of `bucket` on moto, key and bytes.
fn bucket_objects(endpoint: &str, bucket: &str) -> Vec<(String, Vec<u8>)> {
    let auth = "Authorization: AWS4-HMAC-SHA256 Credential=wflow-test/20260101/us-east-1/s3/\
                aws4_request, SignedHeaders=host, Signature=0\r\n";
    let list = raw(
        endpoint,
        &format!("GET /{bucket}?list-type=2&max-keys=1000 HTTP/1.1\r\n{auth}"),
        b"",
    );
    let list = String::from_utf8(list).unwrap();
    assert!(!list.contains("<IsTruncated>true"), "one page lists all");
    list.split("<Key>")
        .skip(1)
        .filter_map(|s| s.split_once("</Key>"))
        .map(|(key, _)| {
            let bytes = raw(
                endpoint,
                &format!("GET /{bucket}/{key} HTTP/1.1\r\n{auth}"),
                b"",
            );
            (key.to_string(), bytes)
        })
        .collect()
}

/// Two secrets in the Secrets Manager of moto at `endpoint` (named after `bucket`) — a JSON one
/// read by key, a plain one by its ARN — and a policy in `dir` granting both; its path.
fn secrets_manager_policy(endpoint: &str, bucket: &str, dir: &Path) -> String {
    aws_json(
        endpoint,
        "secretsmanager.CreateSecret",
        &serde_json::json!({
            "Name": format!("{bucket}/db"),
            "SecretString": serde_json::json!({"user": "admin", "password": PASSWORD}).to_string(),
        }),
    );
    let token = aws_json(
        endpoint,
        "secretsmanager.CreateSecret",
        &serde_json::json!({"Name": format!("{bucket}/token"), "SecretString": TOKEN}),
    );
    let policy = dir.join("policy.toml");
    std::fs::write(
        &policy,
        format!(
            "[grants]\nsecrets = [\"db_password\", \"api_token\"]\n\n\
             [secrets.db_password]\naws = \"{bucket}/db\"\nkey = \"password\"\n\
             region = \"us-east-1\"\nendpoint = \"{endpoint}\"\n\n\
             [secrets.api_token]\naws = \"{}\"\nregion = \"us-east-1\"\nendpoint = \"{endpoint}\"\n",
            token["ARN"].as_str().unwrap()
        ),
    )
    .unwrap();
    policy.to_str().unwrap().to_string()
}

/// The bucket of an `s3://bucket/prefix` store URL.
fn bucket_of(url: &str) -> String {
    url.trim_start_matches("s3://")
        .split('/')
        .next()
        .unwrap()
        .to_string()
}

/// Asserts that no object of `bucket` holds a byte sequence of either value.
fn assert_bucket_clean(endpoint: &str, bucket: &str) {
    let objects = bucket_objects(endpoint, bucket);
    assert!(objects.len() > 10, "{} objects", objects.len());
    for value in [PASSWORD, TOKEN] {
        let found: Vec<&String> = objects
            .iter()
            .filter(|(_, b)| b.windows(value.len()).any(|w| w == value.as_bytes()))
            .map(|(k, _)| k)
            .collect();
        assert!(found.is_empty(), "{value} in {found:?}");
    }
}

#[test]
fn secrets_from_secrets_manager_locally_and_on_batch_never_through_the_store() {
    use crate::batch_env::{BatchEnv, cloud, worker_logs};
    let m = BatchEnv::new("secrets");
    let endpoint = &cloud().endpoint;
    let bucket = bucket_of(&m.url);
    let policy = secrets_manager_policy(endpoint, &bucket, m.env.dir.path());
    let policy = policy.as_str();
    // The worker image carries the same policy: the worker checks the sandbox against its own.
    m.image_env(&[("WFLOW_POLICY", policy)]);

    for compute in ["local", "batch"] {
        let (out, summary) = m.run(
            "test-program-secrets",
            compute,
            &["--policy", policy, "-p", "mode=ok"],
        );
        assert!(
            out.status.success(),
            "{compute}: {}\n{}",
            stderr(&out),
            worker_logs()
        );
        let start = task_of(&summary, "start");
        assert_eq!(
            m.artifact(&format!("{start}/lengths")),
            serde_json::json!([PASSWORD.len(), TOKEN.len()]),
            "{compute}"
        );
        let logs = text(&m.wflow(&["logs", &start]));
        assert!(
            logs.contains("half [wflow: secret db_password redacted] and the token [wflow: secret api_token redacted]"),
            "{compute}: {logs}"
        );
        let show = m.wflow(&["show", "--json", &start]);
        let task: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
        assert_eq!(
            task["secrets"],
            serde_json::json!(["db_password", "api_token"])
        );
    }
    // An error quoting the value, on Batch: redacted in the worker's report.
    let (out, _) = m.run(
        "test-program-secrets",
        "batch",
        &["--policy", policy, "-p", "mode=error"],
    );
    assert!(!out.status.success());
    let all = text(&out);
    assert!(
        all.contains("could not log in as admin/[wflow: secret db_password redacted]"),
        "{all}\n{}",
        worker_logs()
    );

    // Not a byte of either value in the bucket (artifacts, logs, task descriptions, reports,
    // records), under the local directory, or in what the workers printed.
    assert_bucket_clean(endpoint, &bucket);
    for value in [PASSWORD, TOKEN] {
        assert!(files_holding(m.env.dir.path(), value).is_empty());
        assert!(files_holding(cloud().shim.logs.path(), value).is_empty());
    }

    // A secret Secrets Manager does not have: the task fails naming the secret and the source.
    let text_of_policy = std::fs::read_to_string(policy).unwrap();
    let missing = m.env.dir.path().join("missing.toml");
    std::fs::write(
        &missing,
        text_of_policy.replace(&format!("{bucket}/db"), &format!("{bucket}/no-such-secret")),
    )
    .unwrap();
    let (out, _) = m.run(
        "test-program-secrets",
        "local",
        &["--policy", missing.to_str().unwrap()],
    );
    assert!(!out.status.success());
    let want = format!(
        "secret `db_password` could not be read from key `password` of AWS Secrets Manager secret \
         `{bucket}/no-such-secret` where the task runs: no such secret (ResourceNotFoundException)"
    );
    assert!(text(&out).contains(&want), "{}", text(&out));
}

#[test]
fn the_secrets_example_runs_under_its_policy_as_its_readme_says() {
    let env = Env::new();
    let g = guest("example-secrets");
    let policy = crate::util::root().join("examples/secrets/policy.toml");
    let refused = env.wflow(&["run", g.to_str().unwrap()]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains(
            "step `fetch`: secret `api_token` is not allowed by the policy (allowed: none)"
        ),
        "{}",
        stderr(&refused)
    );
    let out = env
        .command(&[
            "run",
            g.to_str().unwrap(),
            "--policy",
            policy.to_str().unwrap(),
        ])
        .env("REPORT_API_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let logs = text(&env.wflow(&["logs", "Report/latest/fetch"]));
    assert!(
        logs.contains(
            "GET /reports/weekly with Authorization: Bearer [wflow: secret api_token redacted]"
        ),
        "{logs}"
    );
    assert!(files_holding(env.dir.path(), TOKEN).is_empty());
}

#[test]
fn secrets_from_secrets_manager_in_a_deployed_run() {
    use crate::deploy_env::{DeployEnv, cloud, worker_logs};
    let m = DeployEnv::new("secrets");
    let endpoint = &cloud().endpoint;
    let bucket = bucket_of(&m.url);
    let policy = secrets_manager_policy(endpoint, &bucket, m.env.dir.path());
    cloud()
        .shim
        .set_image_env(&m.url, &[("WFLOW_POLICY", policy.as_str())]);
    let name = format!("{}-secrets", m.tag);
    m.create("test-program-secrets", &name, &["--policy", &policy]);
    let run = m.trigger_wait(&name, &[]);
    let start = m.tasks(&run)[&("start".to_string(), vec![])].clone();
    let lengths = m.json_ok(&["artifact", "get", &format!("{start}/lengths")]);
    assert_eq!(lengths, serde_json::json!([PASSWORD.len(), TOKEN.len()]));
    let logs = text(&m.wflow(&["logs", &start]));
    assert!(
        logs.contains("half [wflow: secret db_password redacted] and the token [wflow: secret api_token redacted]"),
        "{logs}\n{}",
        worker_logs()
    );
    assert_eq!(
        m.json_ok(&["show", &start])["secrets"],
        serde_json::json!(["db_password", "api_token"])
    );
    assert_bucket_clean(endpoint, &bucket);
    for value in [PASSWORD, TOKEN] {
        assert!(files_holding(m.env.dir.path(), value).is_empty());
    }
}
