//! The quick form of Python flows (issue 15 item 3): a flow's sources written into a base
//! component built once, its compiled code derived from the base's rather than compiled — and
//! byte for byte what compiling it gives; a flow file named like a standard-library module is
//! refused with what to do, in both forms.

use std::path::{Path, PathBuf};

use crate::util::{Env, guest_tools, root, stderr};

fn source(greeting: &str) -> String {
    format!(
        "from wflow import FlowSpec, step\n\n\nclass QuickEdit(FlowSpec):\n    @step(next=\"end\")\n    \
         def start(self):\n        self.greeting = \"{greeting}\"\n\n    \
         @step\n    def end(self):\n        print(self.greeting)\n"
    )
}

/// The compiled-code file of `component` under the cache folder `cache`.
fn compiled(cache: &Path, component: &Path) -> PathBuf {
    let digest = wflow_core::Digest::of(&std::fs::read(component).unwrap()).to_string();
    let dirs: Vec<PathBuf> = std::fs::read_dir(cache.join("compiled"))
        .unwrap()
        .map(|e| e.unwrap().path().join(format!("{digest}.cwasm")))
        .filter(|p| p.is_file())
        .collect();
    assert_eq!(dirs.len(), 1, "one compiled file for {digest} in {cache:?}");
    dirs.into_iter().next().unwrap()
}

#[test]
fn an_edited_flow_runs_with_code_derived_from_the_base_identical_to_a_compile() {
    guest_tools();
    let env = Env::new();
    let flow = env.dir.path().join("quick_edit.py");
    std::fs::write(&flow, source("first-9e2")).unwrap();
    let first = env.run_ok(&flow, &[]);
    let component = |run: &str| {
        let out = env.wflow(&["show", "--json", &format!("QuickEdit/{run}")]);
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["component"].clone()
    };
    let first_component = component(first["run_id"].as_str().unwrap());

    // Edited: a new component (the sources are in its bytes), whose code is not compiled.
    let marker = format!("edited-9e2-{}", std::process::id());
    std::fs::write(&flow, source(&marker)).unwrap();
    let out = env.wflow(&["run", flow.to_str().unwrap()]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("quick form"), "{err}");
    assert!(
        !err.contains("Compiled the component"),
        "the code is derived, not compiled: {err}"
    );
    assert_ne!(
        component("latest"),
        first_component,
        "the sources are the component's"
    );
    let out = env.wflow(&[
        "artifact",
        "get",
        "--json",
        "QuickEdit/latest/start/1/greeting",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap(),
        serde_json::json!(marker)
    );

    // The derived code is what compiling the component gives, byte for byte (the cache files
    // carry the same tag: the same key, the same digest, the same code).
    let built = env.wflow(&["build", flow.to_str().unwrap()]);
    assert!(built.status.success(), "{}", stderr(&built));
    let wasm = PathBuf::from(String::from_utf8_lossy(&built.stdout).trim());
    let derived = compiled(&root().join("target").join("test-cache"), &wasm);
    let copy = env.dir.path().join("copy.wasm");
    std::fs::copy(&wasm, &copy).unwrap();
    let own_cache = env.dir.path().join("own-cache");
    let out = env
        .command(&["run", copy.to_str().unwrap()])
        .env("WFLOW_CACHE_DIR", &own_cache)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("Compiled the component"), "{err}");
    let from_scratch = compiled(&own_cache, &copy);
    assert!(
        std::fs::read(&derived).unwrap() == std::fs::read(&from_scratch).unwrap(),
        "derived {} and compiled {} differ",
        derived.display(),
        from_scratch.display()
    );
}

#[test]
fn a_flow_file_named_like_a_stdlib_module_is_refused_saying_what_to_do() {
    guest_tools();
    let env = Env::new();
    let flow = env.dir.path().join("secrets.py");
    std::fs::write(&flow, source("hi")).unwrap();
    for args in [&["build"][..], &["build", "--full"][..], &["run"][..]] {
        let mut args = args.to_vec();
        args.push(flow.to_str().unwrap());
        let out = env.wflow(&args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("a flow file cannot be named `secrets.py`")
                && err.contains("module of Python's standard library")
                && err.contains("Rename the file"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("found: none"), "{args:?}: {err}");
        assert!(!err.contains("/1/wflow/"), "no frames of the SDK: {err}");
    }
}

/// The quick form builds a flow's spec when the host asks for it (loading the component), not in
/// each task's import: a malformed flow class still fails `wflow build` and `wflow run`, with the
/// message a full build gives, before any task runs.
#[test]
fn a_malformed_flow_class_fails_the_quick_build_and_run() {
    guest_tools();
    let env = Env::new();
    let flow = env.dir.path().join("no_items.py");
    std::fs::write(
        &flow,
        "from wflow import FlowSpec, step\n\n\nclass NoItems(FlowSpec):\n    \
         @step(foreach=\"end\")\n    def start(self):\n        self.nums = [1]\n\n    \
         @step\n    def end(self):\n        pass\n",
    )
    .unwrap();
    for args in [&["build"][..], &["run"][..], &["build", "--full"][..]] {
        let mut args = args.to_vec();
        args.push(flow.to_str().unwrap());
        let out = env.wflow(&args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("a foreach step names its items"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("Running NoItems"), "{args:?}: {err}");
    }
}

/// `wflow build` compiles the flow's sources once, with the component's own Python, and writes
/// the code into the slot beside them: a task loads the module's code instead of compiling it,
/// and its tracebacks still name the author's file and line.
#[test]
fn a_quick_form_task_loads_the_code_compiled_at_build_time() {
    guest_tools();
    let env = Env::new();
    let flow = env.dir.path().join("precompiled.py");
    std::fs::write(
        &flow,
        "from wflow import FlowSpec, step\n\n\nclass Precompiled(FlowSpec):\n    \
         @step(next=\"end\")\n    def start(self):\n        \
         self.precompiled = __name__ in __spec__.loader.code\n\n    \
         @step\n    def end(self):\n        raise ValueError(\"from the end step\")\n",
    )
    .unwrap();
    let out = env.wflow(&["run", flow.to_str().unwrap()]);
    let err = stderr(&out);
    assert!(!out.status.success(), "the end step fails: {err}");
    assert!(
        err.contains(&format!("{}:11, in end", flow.display())),
        "the traceback names the file and line: {err}"
    );
    let out = env.wflow(&[
        "artifact",
        "get",
        "--json",
        "Precompiled/latest/start/1/precompiled",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap(),
        serde_json::json!(true),
        "the module's code came from the slot"
    );
}
