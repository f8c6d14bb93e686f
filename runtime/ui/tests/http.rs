//! The UI over HTTP, without a browser: a store written the way `wflow run` writes it (SQLite
//! records, content-addressed blobs), served on 127.0.0.1, read with a real HTTP client.

use std::path::Path;
use std::sync::Arc;

use wflow_client::Client;
use wflow_core::{Digest, FlowSpec, StepSpec, Transition};
use wflow_metadata::{Event, Metadata, Status};
use wflow_store::{Cas, LocalDisk, Manifest};

const RUN: &str = "20261128T182550-k3f9a";
const HOSTILE: &str = "<script>alert(1)</script><img src=x onerror=alert(2)>\"'&";

fn cbor(v: &impl serde::Serialize) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(v, &mut out).unwrap();
    out
}

/// A run of flow `Fan`: start → foreach over 250 items of `work` (item 7 failed) → join → end
/// (not reached). `start` has hostile artifacts and logs; one artifact blob is corrupted.
fn store(dir: &Path) {
    let cas = Cas::new(Arc::new(LocalDisk::open(dir).unwrap()));
    let meta = Metadata::open(&dir.join("metadata.sqlite")).unwrap();
    let mut start = StepSpec::new("start", Transition::Foreach("work".into()));
    start.catch = Some("oops".into());
    let mut join = StepSpec::new("join", Transition::Next(vec!["end".into()]));
    join.join = true;
    let spec = FlowSpec {
        name: "Fan".into(),
        doc: String::new(),
        parameters: vec![],
        steps: vec![
            start,
            StepSpec::new("work", Transition::Next(vec!["join".into()])),
            join,
            StepSpec::new("end", Transition::End),
        ],
    };
    let mut m = Manifest::new();
    m.artifacts.insert(
        "hostile".into(),
        cas.put_artifact(&cbor(&HOSTILE), "cbor").unwrap(),
    );
    let big: Vec<u32> = (0..1000).collect();
    m.artifacts
        .insert("big".into(), cas.put_artifact(&cbor(&big), "cbor").unwrap());
    m.artifacts.insert(
        "oops".into(),
        cas.put_artifact(&cbor(&"caught"), "cbor").unwrap(),
    );
    let text = format!("plain {HOSTILE}").into_bytes();
    let rotten = cas.put_artifact(&vec![7u8; 300_000], "raw").unwrap();
    m.artifacts
        .insert("text".into(), cas.put_artifact(&text, "raw").unwrap());
    m.artifacts.insert("rotten".into(), rotten.clone());
    for (name, bytes) in cards() {
        m.artifacts
            .insert(name.into(), cas.put_artifact(&bytes, "wflow.card").unwrap());
    }
    let manifest = cas.put_manifest(&m).unwrap();
    let log = cas
        .put(format!("line one\n{HOSTILE}\n").as_bytes())
        .unwrap();
    // The foreach items `start` declared: a CBOR list of [codec, bytes]; item 3 is hostile,
    // item 4 raw bytes.
    let items: Vec<ciborium::Value> = (0..250u32)
        .map(|i| {
            let (codec, bytes) = match i {
                3 => ("cbor", cbor(&HOSTILE)),
                4 => ("raw", vec![1, 2, 3]),
                _ => (
                    "cbor",
                    cbor(&serde_json::json!({ "n": i, "name": format!("item-{i}") })),
                ),
            };
            ciborium::Value::Array(vec![codec.into(), ciborium::Value::Bytes(bytes)])
        })
        .collect();
    let items = cas.put(&cbor(&items)).unwrap();
    let run = RUN.to_string();
    let mut events = vec![
        Event::RunStarted {
            run_id: run.clone(),
            flow: "Fan".into(),
            component: Digest::of(b"wasm"),
            params: serde_json::json!({ "label": HOSTILE }),
            spec: serde_json::to_value(&spec).unwrap(),
            started_ms: 1_000,
            origin_run: None,
            user: "ada".into(),
            kind: Default::default(),
        },
        Event::TaskStarted {
            run_id: run.clone(),
            task_id: 1,
            step: "start".into(),
            foreach_path: vec![],
            inputs: vec![],
            started_ms: 1_000,
        },
        Event::AttemptStarted {
            run_id: run.clone(),
            task_id: 1,
            attempt: 0,
            started_ms: 1_000,
        },
        Event::AttemptFinished {
            run_id: run.clone(),
            task_id: 1,
            attempt: 0,
            status: Status::Succeeded,
            started_ms: None,
            finished_ms: 1_050,
            error: None,
            stdout: Some(log),
            stderr: None,
        },
        Event::ForeachItems {
            run_id: run.clone(),
            task_id: 1,
            items,
        },
        Event::TaskFinished {
            run_id: run.clone(),
            task_id: 1,
            status: Status::Succeeded,
            finished_ms: 1_050,
            manifest: Some(manifest),
        },
    ];
    for i in 0..250u32 {
        let id = 2 + u64::from(i);
        let failed = i == 7;
        let status = if failed {
            Status::Failed
        } else {
            Status::Succeeded
        };
        events.push(Event::TaskStarted {
            run_id: run.clone(),
            task_id: id,
            step: "work".into(),
            foreach_path: vec![i],
            inputs: vec![1],
            started_ms: 1_100 + i64::from(i % 4) * 10,
        });
        events.push(Event::AttemptStarted {
            run_id: run.clone(),
            task_id: id,
            attempt: 0,
            started_ms: 1_100,
        });
        events.push(Event::AttemptFinished {
            run_id: run.clone(),
            task_id: id,
            attempt: 0,
            status,
            started_ms: None,
            finished_ms: 1_200 + i64::from(i),
            error: failed.then(|| format!("trapped: {HOSTILE}")),
            stdout: None,
            stderr: None,
        });
        events.push(Event::TaskFinished {
            run_id: run.clone(),
            task_id: id,
            status,
            finished_ms: 1_200 + i64::from(i),
            manifest: None,
        });
    }
    events.push(Event::RunFinished {
        run_id: run,
        status: Status::Failed,
        finished_ms: 2_000,
        error: Some(format!("step work failed: {HOSTILE}")),
    });
    meta.record(&events).unwrap();
    // Rot one blob on disk: its artifact shows an error, the others stay readable.
    let key = Cas::blob_key(&rotten.digest);
    let path = walk(dir)
        .into_iter()
        .find(|p| p.to_string_lossy().ends_with(&key) || p.ends_with(&key))
        .expect("the blob's file");
    std::fs::write(path, b"rotten").unwrap();
}

/// Cards of task `start/1`: a hostile one it wrote, one that is not CBOR, one with a chart that
/// does not validate, and one it inherited from another task.
fn cards() -> Vec<(&'static str, Vec<u8>)> {
    use serde_json::json;
    let svg = r#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(3)</script></svg>"#;
    let me = format!("Fan/{RUN}/start/1");
    let hostile = json!({"version": 1, "id": "default", "task": me, "title": HOSTILE, "parts": [
        {"markdown": format!("{HOSTILE}\n\n[x](javascript:alert(4))")},
        {"table": {"columns": [HOSTILE], "rows": [[HOSTILE, 1]]}},
        {"chart": {"title": HOSTILE, "mark": "bar", "data": {"values": [{"k": HOSTILE, "v": 2}]},
            "encoding": {"x": {"field": "k", "type": "nominal", "title": HOSTILE},
                         "y": {"field": "v", "type": "quantitative"}}}},
    ]});
    let mut hostile = ciborium::Value::serialized(&hostile).unwrap();
    // The SVG image, as a CBOR byte string.
    if let ciborium::Value::Map(m) = &mut hostile
        && let Some((_, ciborium::Value::Array(parts))) =
            m.iter_mut().find(|(k, _)| k.as_text() == Some("parts"))
    {
        parts.push(ciborium::Value::Map(vec![(
            ciborium::Value::Text("image".into()),
            ciborium::Value::Map(vec![(
                ciborium::Value::Text("bytes".into()),
                ciborium::Value::Bytes(svg.as_bytes().to_vec()),
            )]),
        )]));
    }
    let broken = json!({"version": 1, "id": "broken", "task": me, "parts": [
        {"markdown": "before"},
        {"chart": {"mark": "bar", "data": {"url": "https://example.com/x.csv"},
            "encoding": {"x": {"field": "a"}, "y": {"field": "b"}}}},
        {"markdown": "after"},
    ]});
    let inherited = json!({"version": 1, "id": "old", "task": format!("Fan/{RUN}/work/3"),
        "parts": [{"markdown": "from elsewhere"}]});
    vec![
        ("card:default", cbor(&hostile)),
        ("card:garbage", b"\xff\x00 not cbor".to_vec()),
        ("card:broken", cbor(&broken)),
        ("card:old", cbor(&inherited)),
    ]
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

struct Served {
    base: String,
    _dir: tempfile::TempDir,
    _runtime: tokio::runtime::Runtime,
}

fn serve() -> Served {
    let dir = tempfile::tempdir().unwrap();
    store(dir.path());
    let client = Arc::new(Client::open(dir.path()).unwrap());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(wflow_ui::bind("127.0.0.1:0".parse().unwrap()))
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    runtime.spawn(wflow_ui::serve(listener, client, std::future::pending()));
    Served {
        base,
        _dir: dir,
        _runtime: runtime,
    }
}

struct Got {
    status: u16,
    content_type: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Got {
    fn text(&self) -> String {
        String::from_utf8(self.body.clone()).unwrap()
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn get(s: &Served, path: &str) -> Got {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut r = agent.get(&format!("{}{path}", s.base)).call().unwrap();
    let headers = r
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    Got {
        status: r.status().as_u16(),
        content_type: r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default(),
        headers,
        body: r
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_vec()
            .unwrap(),
    }
}

/// Hostile text from the store shows as text, never as markup.
fn assert_escaped(html: &str) {
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(!html.contains("<img src=x"), "{html}");
}

#[test]
fn pages_answer_with_html_escaped_and_locked_down() {
    let s = serve();
    for path in [
        "/",
        "/Fan",
        &format!("/Fan/{RUN}"),
        &format!("/Fan/{RUN}/work"),
        &format!("/Fan/{RUN}/start/1"),
        &format!("/Fan/{RUN}/work/9"),
        &format!("/Fan/{RUN}/start/1/hostile"),
        &format!("/Fan/{RUN}/start/1/text"),
    ] {
        let got = get(&s, path);
        assert_eq!(got.status, 200, "{path}: {}", got.text());
        assert_eq!(got.content_type, "text/html; charset=utf-8", "{path}");
        let csp = got.header("content-security-policy").unwrap();
        assert!(csp.contains("script-src 'self'"), "{csp}");
        assert_eq!(got.header("x-content-type-options"), Some("nosniff"));
        let html = got.text();
        assert_escaped(&html);
        assert!(html.contains("/-/ui.js"), "{path}");
    }
    // The hostile values are there, as text.
    let run = get(&s, &format!("/Fan/{RUN}")).text();
    assert!(
        run.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{run}"
    );
    let log = get(&s, &format!("/Fan/{RUN}/start/1")).text();
    assert!(log.contains("line one\n&lt;script&gt;alert(1)"), "{log}");
    let value = get(&s, &format!("/Fan/{RUN}/start/1/hostile")).text();
    assert!(
        value.contains("&lt;img src=x onerror=alert(2)&gt;"),
        "{value}"
    );
}

#[test]
fn a_run_page_shows_the_graph_the_failed_task_first_and_a_timeline() {
    let s = serve();
    let html = get(&s, &format!("/Fan/{RUN}")).text();
    let failed = html.find("Failed tasks (1)").expect("failed tasks listed");
    let graph = html.find("<svg").expect("the graph");
    assert!(failed < graph);
    assert!(
        html.contains(&format!(r#"href="/Fan/{RUN}/work/9""#)),
        "{html}"
    );
    assert!(html.contains(r#"data-step="work" data-status="failed""#));
    assert!(html.contains(r#"data-step="end" data-status="not run""#));
    assert!(html.contains("251 tasks on"), "timeline");
    assert!(html.contains(r#"data-live="0""#));
}

#[test]
fn a_foreach_step_is_a_sorted_paged_table() {
    let s = serve();
    let page1 = get(&s, &format!("/Fan/{RUN}/work")).text();
    assert_eq!(page1.matches("<tr data-task=").count(), 100);
    assert!(page1.contains("page 1 of 3"));
    let page3 = get(&s, &format!("/Fan/{RUN}/work?page=3")).text();
    assert_eq!(page3.matches("<tr data-task=").count(), 50);
    // Longest first: item 248 (task 250) took 348 ms.
    let by_duration = get(&s, &format!("/Fan/{RUN}/work?sort=duration&desc=1")).text();
    let first = by_duration.find("<tr data-task=").unwrap();
    assert!(by_duration[first..].starts_with(r#"<tr data-task="250""#));
    let failed = get(&s, &format!("/Fan/{RUN}/work?status=failed")).text();
    assert_eq!(failed.matches("<tr data-task=").count(), 1);
    assert!(failed.contains(r#"<tr data-task="9""#));
    assert!(failed.contains("page 1 of 1"), "{failed}");
    // Each task's item value, read from the list its split declared, escaped.
    let row = |html: &str, task: u32| {
        let at = html.find(&format!(r#"<tr data-task="{task}""#)).unwrap();
        html[at..at + html[at..].find("</tr>").unwrap()].to_string()
    };
    assert!(
        row(&page1, 7).contains(
            r#"5 <code class="item">{&quot;n&quot;:5,&quot;name&quot;:&quot;item-5&quot;}</code>"#
        ),
        "{}",
        row(&page1, 7)
    );
    let hostile = row(&page1, 5);
    assert!(hostile.contains("&lt;script&gt;alert(1)"), "{hostile}");
    assert!(!page1.contains("<script>alert"));
    assert!(
        row(&page1, 6).contains(r#"<code class="item">(raw, 3 B)</code>"#),
        "{}",
        row(&page1, 6)
    );
    assert!(
        row(&page3, 251).contains("item-249"),
        "{}",
        row(&page3, 251)
    );
    // By item, last first: item 249 heads page 1, item 149 page 2.
    let by_item = get(&s, &format!("/Fan/{RUN}/work?sort=item&desc=1&page=2")).text();
    let first = by_item.find("<tr data-task=").unwrap();
    assert!(
        by_item[first..].starts_with(r#"<tr data-task="151""#),
        "{by_item}"
    );
    // A sort or status that does not exist is refused, naming it.
    let bad = get(&s, &format!("/Fan/{RUN}/work?sort=speed"));
    assert_eq!(bad.status, 400);
    assert!(
        bad.text().contains("`speed` is not a task order"),
        "{}",
        bad.text()
    );
    let bad = get(&s, &format!("/Fan/{RUN}/work?status=done"));
    assert_eq!(bad.status, 400);
    assert!(bad.text().contains("`done` is not a status"));
}

#[test]
fn a_task_shows_attempts_logs_artifacts_and_the_caught_error() {
    let s = serve();
    let html = get(&s, &format!("/Fan/{RUN}/start/1")).text();
    for name in ["hostile", "big", "text", "rotten", "oops"] {
        assert!(
            html.contains(&format!(r#"data-artifact="{name}""#)),
            "{name}"
        );
    }
    assert!(html.contains("caught error"));
    let failed = get(&s, &format!("/Fan/{RUN}/work/9")).text();
    assert!(failed.contains("trapped: &lt;script&gt;"), "{failed}");
    // The raw log is plain text, byte for byte.
    let log = get(
        &s,
        &format!("/-/log/Fan/{RUN}/start/1?attempt=0&stream=stdout"),
    );
    assert_eq!(log.content_type, "text/plain; charset=utf-8");
    assert_eq!(log.text(), format!("line one\n{HOSTILE}\n"));
    assert_eq!(
        get(&s, &format!("/-/log/Fan/{RUN}/start/1?stream=x")).status,
        400
    );
}

#[test]
fn values_are_paged_raw_bytes_download_and_a_corrupt_blob_spoils_only_itself() {
    let s = serve();
    let p1 = get(&s, &format!("/Fan/{RUN}/start/1/big")).text();
    assert!(p1.contains("items 1 to 100 of 1000"), "{p1}");
    let p10 = get(&s, &format!("/Fan/{RUN}/start/1/big?page=10")).text();
    assert!(p10.contains("items 901 to 1000 of 1000"));
    assert!(p10.contains("999"));
    let raw = get(&s, &format!("/-/raw/Fan/{RUN}/start/1/text"));
    assert_eq!(raw.status, 200);
    assert_eq!(raw.content_type, "application/octet-stream");
    assert_eq!(
        raw.header("content-disposition"),
        Some("attachment; filename=\"text\"")
    );
    assert_eq!(raw.body, format!("plain {HOSTILE}").into_bytes());
    let rotten = get(&s, &format!("/Fan/{RUN}/start/1/rotten"));
    assert_eq!(rotten.status, 200);
    assert!(
        rotten.text().contains(r#"<p class="error">"#),
        "{}",
        rotten.text()
    );
    assert_eq!(
        get(&s, &format!("/-/raw/Fan/{RUN}/start/1/rotten")).status,
        500
    );
    // The task page still lists it with the others.
    let task = get(&s, &format!("/Fan/{RUN}/start/1")).text();
    assert!(task.contains(r#"data-artifact="rotten""#));
}

#[test]
fn unknown_names_are_404_pages_linking_the_nearest() {
    let s = serve();
    let flow = get(&s, "/Fna");
    assert_eq!(flow.status, 404);
    assert_eq!(flow.content_type, "text/html; charset=utf-8");
    assert!(
        flow.text().contains(r#"<a href="/Fan">Fan</a>"#),
        "{}",
        flow.text()
    );
    let step = get(&s, &format!("/Fan/{RUN}/wrok"));
    assert_eq!(step.status, 404);
    assert!(step.text().contains(&format!(r#"href="/Fan/{RUN}/work""#)));
    let artifact = get(&s, &format!("/Fan/{RUN}/start/1/hostil"));
    assert_eq!(artifact.status, 404);
    assert!(
        artifact
            .text()
            .contains(&format!(r#"href="/Fan/{RUN}/start/1/hostile""#))
    );
    // A hostile name in the URL is escaped in the 404 page.
    let hostile = get(&s, "/%3Cscript%3Ealert(1)%3C%2Fscript%3E");
    assert!(
        hostile.status == 404 || hostile.status == 400,
        "{}",
        hostile.status
    );
    assert_escaped(&hostile.text());
    assert_eq!(get(&s, "/?status=bogus").status, 400);
    assert_eq!(get(&s, &format!("/-/raw/Fan/{RUN}/start/1")).status, 404);
}

#[test]
fn the_runs_list_filters_and_assets_are_served() {
    let s = serve();
    let all = get(&s, "/").text();
    assert!(all.contains(&format!(r#"data-run="{RUN}""#)));
    assert!(get(&s, "/?status=failed").text().contains(RUN));
    assert!(
        !get(&s, "/?status=running")
            .text()
            .contains(&format!("data-run=\"{RUN}\""))
    );
    assert!(
        !get(&s, "/?user=bob")
            .text()
            .contains(&format!("data-run=\"{RUN}\""))
    );
    assert!(
        get(&s, "/?user=ada&flow=Fan")
            .text()
            .contains(&format!("data-run=\"{RUN}\""))
    );
    // By start time (the run started 1 s into 1970-01-01, UTC): a day range, a time, `within`.
    let listed = |q: &str| {
        get(&s, &format!("/?{q}"))
            .text()
            .contains(&format!("data-run=\"{RUN}\""))
    };
    assert!(listed("from=1970-01-01&to=1970-01-01"));
    assert!(listed("from=1970-01-01T00:00:01Z"));
    assert!(!listed("from=1970-01-01T00:00:01.001Z"));
    assert!(!listed("from=1970-01-02"));
    assert!(!listed("to=1969-12-31"));
    assert!(!listed("within=30d"));
    let form = get(&s, "/?within=7d&from=1970-01-01").text();
    assert!(form.contains(r#"<option value="7d" selected>"#), "{form}");
    assert!(form.contains(r#"name="from" type="date" value="1970-01-01""#));
    for (q, says) in [
        (
            "from=yesterday",
            "`from` must be a date (2026-11-28, UTC) or a time",
        ),
        ("to=%3Cb%3E", "`to` must be a date"),
        ("within=2w", "`within` must be 1h, 24h, 7d or 30d, not `2w`"),
    ] {
        let bad = get(&s, &format!("/?{q}"));
        assert_eq!(bad.status, 400, "{q}");
        assert!(bad.text().contains(says), "{q}: {}", bad.text());
        assert!(!bad.text().contains("<b>"), "escaped");
    }
    let js = get(&s, "/-/ui.js");
    assert_eq!(js.content_type, "text/javascript; charset=utf-8");
    assert!(js.text().contains("data-live"));
    assert_eq!(get(&s, "/-/ui.css").content_type, "text/css; charset=utf-8");
}

#[test]
fn the_ui_writes_nothing_to_the_store() {
    let s = serve();
    let before = snapshot(s._dir.path());
    for path in [
        "/",
        &format!("/Fan/{RUN}"),
        &format!("/Fan/{RUN}/work"),
        &format!("/Fan/{RUN}/start/1/big"),
    ] {
        assert_eq!(get(&s, path).status, 200);
    }
    assert_eq!(snapshot(s._dir.path()), before);
}

fn snapshot(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut files: Vec<_> = walk(dir)
        .into_iter()
        .filter(|p| !p.to_string_lossy().contains("metadata.sqlite-"))
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    files.sort();
    files
}

#[test]
fn under_a_prefix_each_caller_reads_with_their_own_token() {
    let dir = tempfile::tempdir().unwrap();
    store(dir.path());
    let seen = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let root = dir.path().to_path_buf();
    let tokens = seen.clone();
    let ui = wflow_ui::router_per_caller(
        move |token| {
            tokens.lock().unwrap().push(token.to_string());
            Client::open(&root).unwrap()
        },
        "/ui",
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(wflow_ui::bind("127.0.0.1:0".parse().unwrap()))
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().nest("/ui", ui);
    runtime.spawn(async move { axum::serve(listener, app).await });
    let s = Served {
        base,
        _dir: dir,
        _runtime: runtime,
    };
    // No token: the sign-in form, 401; nothing read.
    let anonymous = get(&s, "/ui");
    assert_eq!(anonymous.status, 401);
    assert!(anonymous.text().contains(r#"action="/ui/-/login""#));
    assert!(seen.lock().unwrap().is_empty());
    // A bearer token: the pages, with links under /ui.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let mut r = agent
        .get(&format!("{}/ui/Fan/{RUN}", s.base))
        .header("Authorization", "Bearer wf_alice")
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let html = r.body_mut().read_to_string().unwrap();
    assert!(
        html.contains(&format!(r#"href="/ui/Fan/{RUN}/work""#)),
        "{html}"
    );
    assert!(html.contains(r#"src="/ui/-/ui.js""#));
    assert_eq!(seen.lock().unwrap().as_slice(), ["wf_alice"]);
    // Signing in sets an HttpOnly cookie for /ui that the pages then read the token from.
    let r = agent
        .post(&format!("{}/ui/-/login", s.base))
        .content_type("application/x-www-form-urlencoded")
        .send("token=wf_bob")
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let cookie = r.headers().get("set-cookie").unwrap().to_str().unwrap();
    assert_eq!(
        cookie,
        "wflow_token=wf_bob; Path=/ui; HttpOnly; SameSite=Strict"
    );
    let r = agent
        .get(&format!("{}/ui", s.base))
        .header("Cookie", "other=1; wflow_token=wf_bob")
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(seen.lock().unwrap().last().unwrap(), "wf_bob");
    // A token that could break the cookie header is refused.
    let r = agent
        .post(&format!("{}/ui/-/login", s.base))
        .content_type("application/x-www-form-urlencoded")
        .send("token=a%3B%20Path%3D%2F")
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
}

#[test]
fn cards_show_in_sandboxed_frames_with_hostile_content_inert() {
    let s = serve();
    let task = get(&s, &format!("/Fan/{RUN}/start/1")).text();
    assert_escaped(&task);
    // Its own cards in sandboxed frames (default first), the inherited one as a link.
    let frames: Vec<&str> = task
        .match_indices("<iframe")
        .map(|(i, _)| &task[i..])
        .collect();
    assert_eq!(frames.len(), 3, "{task}");
    for f in &frames {
        let tag = &f[..f.find('>').unwrap()];
        assert!(tag.contains(" sandbox "), "{tag}");
        assert!(!tag.contains("allow-"), "{tag}");
    }
    assert!(frames[0].contains("/-/card/Fan/"), "{}", frames[0]);
    assert!(frames[0].contains("card%3Adefault"), "{}", frames[0]);
    assert!(task.contains("card old inherited from"), "{task}");
    assert!(
        task.contains(&format!(r#"href="/Fan/{RUN}/work/3""#)),
        "{task}"
    );
    let csp = get(&s, &format!("/Fan/{RUN}/start/1"))
        .header("content-security-policy")
        .unwrap()
        .to_string();
    assert!(csp.contains("frame-src 'self'"), "{csp}");

    // The card's own document: sandboxed by its CSP too, every hostile string escaped.
    let card = get(&s, &format!("/-/card/Fan/{RUN}/start/1/card:default"));
    assert_eq!(card.status, 200, "{}", card.text());
    assert_eq!(card.content_type, "text/html; charset=utf-8");
    let csp = card.header("content-security-policy").unwrap();
    assert!(csp.starts_with("sandbox;"), "{csp}");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'self'"), "{csp}");
    let html = card.text();
    assert_escaped(&html);
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.to_lowercase().contains("javascript:"), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert!(html.contains("data:image/svg+xml;base64,"), "{html}");
    assert!(html.contains(r#"<rect class="mark""#), "{html}");

    // Bad cards show their problem, never a blank page.
    let garbage = get(&s, &format!("/-/card/Fan/{RUN}/start/1/card:garbage"));
    assert_eq!(garbage.status, 200);
    assert!(
        garbage.text().contains("is not valid CBOR"),
        "{}",
        garbage.text()
    );
    let broken = get(&s, &format!("/-/card/Fan/{RUN}/start/1/card:broken")).text();
    assert!(
        broken.contains("before") && broken.contains("after"),
        "{broken}"
    );
    assert!(broken.contains("`data.url` is not supported"), "{broken}");
    assert!(task.contains("card broken: 1 problem(s)"), "{task}");
    // An artifact that is not a card, and a card that does not exist.
    let not = get(&s, &format!("/-/card/Fan/{RUN}/start/1/hostile"));
    assert_eq!(not.status, 404);
    assert!(not.text().contains("not a card"), "{}", not.text());
    let missing = get(&s, &format!("/-/card/Fan/{RUN}/start/1/card:defualt"));
    assert_eq!(missing.status, 404);
    assert!(
        missing.text().contains("card:default"),
        "{}",
        missing.text()
    );
    // The card artifact's own page frames it as well.
    let page = get(&s, &format!("/Fan/{RUN}/start/1/card:default")).text();
    assert!(page.contains("<iframe class=\"card\" sandbox"), "{page}");
}
