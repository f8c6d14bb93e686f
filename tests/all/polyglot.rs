//! Python and JavaScript steps, and polyglot flows: the SDKs' codecs agree byte for byte, the
//! examples build and run (the second time from the caches), exceptions become step errors with
//! their traceback in the logs, and bad input is refused with a clear message.
//!
//! Each Python or JavaScript component costs a build (componentize-py/-js, 10–30 s) and a
//! Cranelift compile (12–20 s) the first time, so the tests share six: the two hello examples, the
//! polyglot example's two, and the two `test-programs/{python,js}/features` flows. Each is built
//! and compiled once per test process ([`prepared`]); every run after that hits both caches.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::util::{Env, guest, guest_tools, root, stderr, task_of};

/// Builds and compiles a flow once per test process (`wflow check`), so tests that run it in
/// parallel do not build or compile it side by side.
pub(crate) fn prepared(rel: &str) -> PathBuf {
    static DONE: OnceLock<Mutex<HashMap<String, ()>>> = OnceLock::new();
    static LOCKS: OnceLock<Mutex<HashMap<String, std::sync::Arc<Mutex<()>>>>> = OnceLock::new();
    guest_tools();
    let path = root().join(rel);
    let lock = LOCKS
        .get_or_init(Default::default)
        .lock()
        .unwrap()
        .entry(rel.to_string())
        .or_default()
        .clone();
    let _held = lock.lock().unwrap();
    let done = DONE.get_or_init(Default::default);
    if !done.lock().unwrap().contains_key(rel) {
        if rel.starts_with("examples/polyglot") {
            guest("example-polyglot"); // the Rust part, built with the other test guests
        }
        let out = Env::new().wflow(&["check", path.to_str().unwrap()]);
        assert!(out.status.success(), "check {rel}: {}", stderr(&out));
        done.lock().unwrap().insert(rel.to_string(), ());
    }
    path
}

fn logs(env: &Env, task: &str) -> String {
    let out = env.wflow(&["logs", task]);
    assert!(out.status.success(), "logs {task}: {}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a flow that must fail; returns (summary, stderr).
fn run_fails(env: &Env, flow: &Path, extra: &[&str]) -> (serde_json::Value, String) {
    let mut args = vec!["run", "--json", flow.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = env.wflow(&args);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    (serde_json::from_slice(&out.stdout).unwrap(), stderr(&out))
}

// ---------------------------------------------------------------------------------------------
// The codec

/// A typed vector value (see guest-sdk/testdata/cbor-vectors.json) as a ciborium value.
fn vector_value(t: &serde_json::Value) -> ciborium::Value {
    use ciborium::Value as V;
    let (kind, v) = t.as_object().unwrap().iter().next().unwrap();
    match kind.as_str() {
        "int" => {
            let n: i128 = v.as_str().unwrap().parse().unwrap();
            V::Integer(n.try_into().unwrap())
        }
        "float" => V::Float(match v {
            serde_json::Value::String(s) => s.parse::<f64>().unwrap(),
            n => n.as_f64().unwrap(),
        }),
        "bool" => V::Bool(v.as_bool().unwrap()),
        "null" => V::Null,
        "text" => V::Text(v.as_str().unwrap().into()),
        "bytes" => V::Bytes(hex_decode(v.as_str().unwrap())),
        "list" => V::Array(v.as_array().unwrap().iter().map(vector_value).collect()),
        "map" => V::Map(
            v.as_array()
                .unwrap()
                .iter()
                .map(|kv| (vector_value(&kv[0]), vector_value(&kv[1])))
                .collect(),
        ),
        other => panic!("unknown vector kind {other}"),
    }
}

fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn cbor_vectors_agree_in_rust_python_and_js() {
    let path = root().join("guest-sdk/testdata/cbor-vectors.json");
    let vectors: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert!(vectors.len() > 30);
    // Rust: ciborium, which the Rust SDK's serde codec is, writes exactly the vectors' bytes.
    for v in &vectors {
        let mut bytes = Vec::new();
        ciborium::into_writer(&vector_value(&v["value"]), &mut bytes).unwrap();
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, v["cbor"].as_str().unwrap(), "vector {}", v["name"]);
    }
    // Python and JavaScript: their own tests check the same vectors (and the card documents the
    // SDKs write), on the host's interpreters.
    for test in ["test_cbor.py", "test_card.py"] {
        let py = std::process::Command::new("python3")
            .arg(root().join("guest-sdk/python/tests").join(test))
            .output()
            .expect("python3 runs");
        assert!(py.status.success(), "{test}: {}", stderr(&py));
    }
    let js = std::process::Command::new("node")
        .arg("--test")
        .arg(root().join("guest-sdk/js/tests/"))
        .output()
        .expect("node runs");
    assert!(
        js.status.success(),
        "{}{}",
        String::from_utf8_lossy(&js.stdout),
        stderr(&js)
    );
}

// ---------------------------------------------------------------------------------------------
// Examples

/// Runs a hello example twice: the second run must neither build nor compile (both cached).
fn hello_twice(rel: &str, flow: &str, expected_end: &str) {
    let path = prepared(rel);
    let env = Env::new();
    let s = env.run_ok(&path, &["-p", "name=Ada"]);
    assert_eq!(s["flow"], flow);
    assert!(logs(&env, &task_of(&s, "hello")).contains("Hello, Ada!"));
    assert!(logs(&env, &task_of(&s, "end")).contains(expected_end));
    assert_eq!(
        env.artifact(&format!("{}/stats", task_of(&s, "hello"))),
        serde_json::json!({"chars": 11, "words": 2})
    );
    assert_eq!(
        env.artifact(&format!("{}/name", task_of(&s, "start"))),
        serde_json::json!("Ada")
    );
    // The client library reads every artifact of the run's 3 tasks.
    let read = crate::inspect::read_every_artifact(&env);
    assert!(read >= 8, "{read} artifacts read");
    // Again with the same parameters: neither built nor compiled again, and the pure steps
    // are served from the task cache; `end` asks for the run id, so it runs.
    let out = env.wflow(&["run", "--json", path.to_str().unwrap(), "-p", "name=Ada"]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("Building"), "{err}");
    assert!(!err.contains("Compiled the component"), "{err}");
    let again: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let by_step = |step: &str| {
        again["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["step"] == step)
            .unwrap_or_else(|| panic!("no {step} in {again}"))["cached"]
            .clone()
    };
    assert_eq!(
        [by_step("start"), by_step("hello"), by_step("end")],
        [true, true, false],
        "{again}"
    );
}

#[test]
fn python_hello_runs_and_reruns_from_the_caches() {
    hello_twice(
        "examples/python-hello",
        "HelloPython",
        "'Hello, Ada!' has 11 characters in 2 words",
    );
}

#[test]
fn js_hello_runs_and_reruns_from_the_caches() {
    hello_twice(
        "examples/js-hello",
        "HelloJs",
        "\"Hello, Ada!\" has 11 characters in 2 words",
    );
}

#[test]
fn polyglot_flow_passes_a_record_through_three_languages() {
    let path = prepared("examples/polyglot");
    let env = Env::new();
    let s = env.run_ok(&path, &["-p", "n=4"]);
    assert_eq!(s["flow"], "Polyglot");
    let squares = s["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["step"] == "square")
        .count();
    assert_eq!(squares, 4);
    assert_eq!(
        env.artifact(&format!("{}/total", task_of(&s, "sum"))),
        serde_json::json!(30)
    );
    // `end` (Rust) checked the record from JavaScript equal to its own, value and bytes.
    assert!(logs(&env, &task_of(&s, "end")).contains("the record came back unchanged"));
    let record = env.artifact(&format!("{}/record_js", task_of(&s, "sum")));
    assert_eq!(record["big"], serde_json::json!(i64::MAX));
    assert_eq!(record["inner"]["child"]["child"]["label"], "inner");
    // The client library reads every artifact of every task, whichever language wrote it.
    let read = crate::inspect::read_every_artifact(&env);
    assert!(read >= 20, "{read} artifacts read");

    // `check` shows which component provides which step.
    let out = env.wflow(&["check", "--json", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["components"]["rust"]["steps"],
        serde_json::json!(["end", "start"])
    );
    assert_eq!(
        v["components"]["python"]["steps"],
        serde_json::json!(["square"])
    );
    assert_eq!(v["components"]["js"]["steps"], serde_json::json!(["sum"]));
    let text = env.wflow(&["check", path.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("Components:") && text.contains("square"),
        "{text}"
    );
}

// ---------------------------------------------------------------------------------------------
// The SDKs' features and failures

#[test]
fn python_sdk_features_and_errors() {
    let path = prepared("test-programs/python/features.py");
    let env = Env::new();
    let s = env.run_ok(&path, &[]);
    assert!(logs(&env, &task_of(&s, "end")).contains("python features ok"));
    assert_eq!(
        env.artifact(&format!("{}/shouted", task_of(&s, "join"))),
        serde_json::json!(["A", "BB", "CCC"])
    );
    assert_eq!(
        env.artifact(&format!("{}/sides", task_of(&s, "join"))),
        serde_json::json!(["left", "right"])
    );
    card_of_end(&env, &task_of(&s, "end"), "Python card");

    // An exception is the step's error; its traceback, with the file and line, is in the logs.
    let (s, err) = run_fails(&env, &path, &["-p", "mode=raise"]);
    assert!(
        err.contains("ValueError: failed on purpose in end"),
        "{err}"
    );
    let task = s["failure"]["pathspec"].as_str().unwrap();
    assert!(task.contains("/end/"), "{task}");
    let out = env.wflow(&["logs", "--stderr", task]);
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(log.contains("Traceback (most recent call last)"), "{log}");
    assert!(log.contains("features.py\", line"), "{log}");

    let (_, err) = run_fails(&env, &path, &["-p", "mode=missing"]);
    assert!(
        err.contains("ArtifactNotFound") && err.contains("nope"),
        "{err}"
    );
    let (_, err) = run_fails(&env, &path, &["-p", "mode=codec"]);
    assert!(
        err.contains("cannot encode a value of type object"),
        "{err}"
    );
}

/// The cards the features flow's `end` writes: a titled default card (markdown and a table) and
/// a card `chart` of three bars, in the format the Rust SDK writes.
fn card_of_end(env: &Env, end: &str, title: &str) {
    let out = env.wflow(&["card", "get", end]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).is_empty(), "no problems: {}", stderr(&out));
    let html = String::from_utf8(out.stdout).unwrap();
    assert!(html.contains(&format!("<h1>{title}</h1>")), "{html}");
    assert!(
        html.contains("<h1>Sides</h1>") && html.contains("left, right"),
        "{html}"
    );
    assert!(html.contains(r#"<td class="n">3</td>"#), "{html}");
    let chart = html.find(r#"data-card="chart""#).expect("the chart card");
    assert!(html.find(r#"data-card="default""#).unwrap() < chart);
    assert_eq!(
        html[chart..].matches(r#"<rect class="mark""#).count(),
        3,
        "{html}"
    );
}

#[test]
fn js_sdk_features_and_errors() {
    let path = prepared("test-programs/js/features.js");
    let env = Env::new();
    let s = env.run_ok(&path, &[]);
    assert!(logs(&env, &task_of(&s, "end")).contains("js features ok"));
    assert_eq!(
        env.artifact(&format!("{}/shouted", task_of(&s, "join"))),
        serde_json::json!(["A", "BB", "CCC"])
    );
    card_of_end(&env, &task_of(&s, "end"), "JavaScript card");

    // A thrown Error is the step's error; its stack is in the logs.
    let (s, err) = run_fails(&env, &path, &["-p", "mode=raise"]);
    assert!(
        err.contains("RangeError: failed on purpose in end"),
        "{err}"
    );
    let task = s["failure"]["pathspec"].as_str().unwrap();
    let out = env.wflow(&["logs", "--stderr", task]);
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(log.contains("features.js:"), "{log}");

    let (_, err) = run_fails(&env, &path, &["-p", "mode=missing"]);
    assert!(err.contains("not found") && err.contains("nope"), "{err}");
    let (_, err) = run_fails(&env, &path, &["-p", "mode=string"]);
    assert!(err.contains("thrown: a thrown string"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Bad input

#[test]
fn python_syntax_error_fails_the_build_with_file_and_line() {
    guest_tools();
    let env = Env::new();
    let file = env.dir.path().join("broken.py");
    std::fs::write(
        &file,
        "import wflow\n\nclass Broken(wflow.FlowSpec):\n    @wflow.step\n    def end(self)\n        pass\n",
    )
    .unwrap();
    let out = env.wflow(&["build", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("SyntaxError"), "{err}");
    assert!(err.contains("broken.py\", line 5"), "{err}");
    assert!(!err.contains("Stack backtrace"), "{err}");
}

#[test]
fn js_that_throws_at_import_fails_the_build() {
    guest_tools();
    let env = Env::new();
    let file = env.dir.path().join("throws.js");
    std::fs::write(
        &file,
        "import { FlowSpec } from \"wflow\";\nthrow new Error(\"no flow today\");\nexport class X extends FlowSpec {}\n",
    )
    .unwrap();
    let out = env.wflow(&["build", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("no flow today"), "{err}");
    assert!(err.contains("building the JavaScript flow"), "{err}");
}

/// Writes a manifest in the env's folder naming the polyglot example's components.
fn manifest(env: &Env, components: &str) -> PathBuf {
    let ex = root().join("examples/polyglot");
    let text = format!(
        "[flow]\nname = \"Mixed\"\n\n[components]\n{}",
        components.replace("EX", ex.to_str().unwrap())
    );
    let path = env.dir.path().join("wflow.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn manifest_errors_name_the_step_and_the_components() {
    prepared("examples/polyglot");
    let env = Env::new();

    // `sum` is provided by no component.
    let m = manifest(&env, "rust = \"EX/rust\"\npy = \"EX/square.py\"\n");
    let out = env.wflow(&["check", m.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(
            "step `sum` (after `square`, from component `py`) is provided by no component"
        ),
        "{err}"
    );
    assert!(err.contains("rust: end, start"), "{err}");

    // `square` provided twice.
    let m = manifest(
        &env,
        "rust = \"EX/rust\"\npy = \"EX/square.py\"\nagain = \"EX/square.py\"\njs = \"EX/sum.js\"\n",
    );
    let out = env.wflow(&["run", m.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("step `square` is provided by two components, `again` and `py`"),
        "{}",
        stderr(&out)
    );
    // …unless the manifest says which one.
    let m = manifest(
        &env,
        "rust = \"EX/rust\"\npy = \"EX/square.py\"\nagain = { path = \"EX/square.py\", steps = [] }\njs = \"EX/sum.js\"\n",
    );
    let out = env.wflow(&["check", m.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));

    // A component of another world.
    let cmd = guest("test-program-wasi-command");
    let m = manifest(
        &env,
        &format!(
            "rust = \"EX/rust\"\npy = \"EX/square.py\"\njs = \"EX/sum.js\"\ncli = \"{}\"\n",
            cmd.display()
        ),
    );
    let out = env.wflow(&["check", m.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("component `cli`"), "{err}");
    assert!(err.contains("is not a wflow flow"), "{err}");

    // A component that does not exist.
    let m = manifest(&env, "rust = \"EX/rust\"\nghost = \"nowhere.py\"\n");
    let out = env.wflow(&["check", m.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("component `ghost`") && err.contains("does not exist"),
        "{err}"
    );
    assert!(env.store_files().is_empty(), "nothing was run");
}

#[test]
fn missing_tool_says_how_to_install_it() {
    let env = Env::new();
    let file = env.dir.path().join("flow.py");
    std::fs::write(&file, "import wflow\n").unwrap();
    let empty = env.dir.path().join("no-tools");
    std::fs::create_dir(&empty).unwrap();
    let out = env
        .command(&["build", file.to_str().unwrap()])
        .env("WFLOW_TOOLS_DIR", &empty)
        .env("PATH", &empty)
        .env_remove("WFLOW_COMPONENTIZE_PY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("componentize-py is needed"), "{err}");
    assert!(err.contains("scripts/install-guest-tools"), "{err}");
    assert!(err.contains("pip install componentize-py==0.25.1"), "{err}");

    let js = env.dir.path().join("flow.js");
    std::fs::write(&js, "").unwrap();
    let out = env
        .command(&["build", js.to_str().unwrap()])
        .env("WFLOW_TOOLS_DIR", &empty)
        .env("PATH", &empty)
        .env_remove("WFLOW_COMPONENTIZE_JS")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("@bytecodealliance/componentize-js@0.23.0"),
        "{}",
        stderr(&out)
    );
}

// ---------------------------------------------------------------------------------------------
// Measurement (not a check): `cargo test -p wflow-cli --test all -- --ignored --nocapture
// instantiate_times`

/// Per-task cost of each language on this machine: a fresh instance from the compiled component
/// and one call of a step that puts one small artifact, and of a step name the flow does not have
/// (instantiate + one call that returns an error at once).
#[test]
#[ignore = "a measurement; run it by name"]
fn instantiate_times_per_language() {
    use std::collections::BTreeMap;
    use std::sync::Arc;
    use wflow_core::ParamValue;
    use wflow_engine::{Engine, EngineConfig, TaskInput};

    let engine = Engine::new(EngineConfig {
        cache_dir: Some(root().join("target/test-cache/compiled")),
        ..EngineConfig::default()
    })
    .unwrap();
    let env = Env::new();
    let cas = Arc::new(wflow_store::Cas::new(Arc::new(
        wflow_store::LocalDisk::open(&env.store()).unwrap(),
    )));
    let built = |rel: &str| -> PathBuf {
        let out = env.wflow(&["build", "--json", prepared(rel).to_str().unwrap()]);
        assert!(out.status.success(), "{}", stderr(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        PathBuf::from(v["component"].as_str().unwrap())
    };
    let cases = [
        ("Rust", guest("example-hello"), "start"),
        ("Python", built("examples/python-hello"), "start"),
        ("JavaScript", built("examples/js-hello"), "start"),
    ];
    for (lang, wasm, step) in cases {
        let started = Instant::now();
        let flow = engine.load_file(&wasm).unwrap();
        let load = started.elapsed();
        let mut params = BTreeMap::new();
        params.insert("name".to_string(), ParamValue::String("Ada".into()));
        let params = Arc::new(params);
        let time = |step: &str, n: usize| {
            let mut d: Vec<Duration> = (0..n)
                .map(|i| {
                    let out = flow.run_task(
                        TaskInput {
                            task_id: i as u64 + 1,
                            params: params.clone(),
                            ..TaskInput::new(flow.spec().name.clone(), "measure", step)
                        },
                        cas.clone(),
                    );
                    assert_eq!(out.result.is_ok(), step != "nope", "{:?}", out.result);
                    out.duration
                })
                .collect();
            d.sort();
            d[n / 2]
        };
        time(step, 5);
        let real = time(step, 101);
        let empty = time("nope", 101);
        let size = std::fs::metadata(&wasm).unwrap().len() as f64 / 1e6;
        println!(
            "{lang:<10} {size:>5.1} MB  load (cached code) {load:>9.2?}  per task: trivial step {real:>9.2?}, instantiate + failing call {empty:>9.2?}"
        );
    }
}

/// Resume after a fix in a polyglot flow: only the Rust component changed, so the Python and
/// JavaScript tasks are reused with it, each recorded with the component that computed it, and
/// the plan names the steps whose code changed (Rust's), not every step.
#[test]
fn resume_after_a_fix_to_the_rust_component_reuses_the_python_tasks() {
    let ex = prepared("examples/polyglot");
    guest("example-polyglot");
    let env = Env::new();
    for f in ["wflow.toml", "square.py", "sum.js"] {
        std::fs::copy(ex.join(f), env.dir.path().join(f)).unwrap();
    }
    let good = std::fs::read_to_string(ex.join("rust/src/lib.rs")).unwrap();
    let broken = good.replace(
        "    fn end(&mut self) -> Result<()> {",
        "    fn end(&mut self) -> Result<()> {\n        wflow::ensure!(self.n.get()? < 0, \"end is broken\");",
    );
    assert_ne!(good, broken);
    let rust = env.dir.path().join("rust");
    crate::resume::own_crate(&rust, "edited-polyglot", &broken);
    let flow = env.dir.path().join("wflow.toml");
    let (origin, err) = run_fails(&env, &flow, &["-p", "n=4"]);
    assert!(err.contains("end is broken"), "{err}");

    crate::resume::own_crate(&rust, "edited-polyglot", &good);
    let pathspec = format!("Polyglot/{}", origin["run_id"].as_str().unwrap());
    let out = env.wflow(&["resume", &pathspec, flow.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let notes = stderr(&out);
    assert!(
        notes.contains("reusing 6 tasks of steps start, square, sum, computed by components")
            && notes.contains("(the code of start has changed since)"),
        "{notes}"
    );
    // `--no-cache`: `end` ran in the resume above and would come from the cache.
    let out = env.wflow(&[
        "resume",
        "--json",
        "--no-cache",
        &pathspec,
        flow.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rep = &s["resume"];
    assert_eq!(
        rep["changed_steps"],
        serde_json::json!(["start", "end"]),
        "{rep}"
    );
    assert_eq!(
        rep["reused"].as_array().unwrap().len(),
        6,
        "start, 4 squares, sum: {rep}"
    );
    let client = env.client();
    let run = client
        .run(&format!("Polyglot/{}", s["run_id"].as_str().unwrap()))
        .unwrap();
    let component = |step: &str| {
        let tasks = run.step(step).unwrap().tasks().unwrap();
        assert!(
            tasks.iter().all(|t| t.record().attempts == 0),
            "{step} reused"
        );
        tasks[0].record().component.expect("recorded")
    };
    let (start, square, sum) = (component("start"), component("square"), component("sum"));
    assert!(
        start != square && square != sum && start != sum,
        "one per language"
    );
    let end = run.step("end").unwrap().task().unwrap();
    assert_eq!(
        (end.record().attempts, end.record().component),
        (1, None),
        "end ran"
    );
}
