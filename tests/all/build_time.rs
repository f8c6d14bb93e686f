//! What a Python or JavaScript flow's top-level code can do while `wflow build` runs it (issue
//! 22): it reaches only a staging copy of its sources, may not write files, use the network or
//! start processes, and a denial fails the build with a clear error.

use std::path::PathBuf;
use std::process::Command;

use crate::util::{Env, guest_tools, stderr};

/// The site-packages folders of the `python3` on `PATH` (what componentize-py would add to the
/// module's Python path), and the user's home.
fn host_folders() -> Vec<PathBuf> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import site; print('\\n'.join(site.getsitepackages() + [site.getusersitepackages()]))",
        ])
        .output()
        .expect("python3 runs");
    let mut dirs: Vec<PathBuf> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(PathBuf::from)
        .filter(|p| p.is_dir())
        .collect();
    dirs.extend(std::env::var_os("HOME").map(PathBuf::from));
    assert!(!dirs.is_empty(), "python3 has site-packages");
    dirs
}

/// Builds `source` as `flow.py` in a fresh folder, in the quick form (the module runs when the
/// component is loaded, in a task's sandbox) and in full (componentize-py runs it); returns both
/// builds' stderr, failing unless each fails with bad input (exit 2).
fn build_fails(env: &Env, source: &str) -> Vec<String> {
    let dir = env.dir.path().join("flow");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("flow.py"), source).unwrap();
    let mut both = Vec::new();
    for full in [false, true] {
        let mut args = vec!["build", dir.to_str().unwrap()];
        if full {
            args.push("--full");
        }
        let out = env.wflow(&args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        both.push(err);
    }
    both
}

/// Whether `name` exists in any of `dirs`; removes it (the test must not leave it behind).
fn planted(dirs: &[PathBuf], name: &str) -> Vec<PathBuf> {
    let found: Vec<PathBuf> = dirs
        .iter()
        .map(|d| d.join(name))
        .filter(|p| p.exists())
        .collect();
    for p in &found {
        let _ = std::fs::remove_file(p);
    }
    found
}

const FLOW: &str = "\nfrom wflow import FlowSpec, step\n\nclass Quiet(FlowSpec):\n    @step\n    \
                    def start(self):\n        pass\n\n    @step\n    def end(self):\n        pass\n";

#[test]
fn python_top_level_code_cannot_write_to_the_host_at_build_time() {
    guest_tools();
    let env = Env::new();
    let dirs = host_folders();
    let name = format!("wflow_evil_{}.py", std::process::id());
    // Every folder the module can name, by its mount (`/0`, `/1`, …) and by its host path.
    let targets: Vec<String> = (0..6)
        .map(|i| format!("/{i}"))
        .chain(dirs.iter().map(|d| d.display().to_string()))
        .collect();
    // (The guard refuses the open before the file system is asked: a folder that is not there,
    // as none is in the quick form's sandbox, is refused the same way.)
    let source = format!(
        "import os\nfor d in {targets:?}:\n    \
         open(os.path.join(d, {name:?}), 'w').write('print(\"owned\")')\n{FLOW}"
    );
    for err in build_fails(&env, &source) {
        assert!(
            err.contains("PermissionError")
                && err.contains("writing the file")
                && err.contains("denied while the flow is built"),
            "the build names the denial: {err}"
        );
        assert_eq!(planted(&dirs, &name), Vec::<PathBuf>::new(), "{err}");
    }

    // Past the guard (it is only the clear error): the module still reaches only the stage.
    let source = format!(
        "import os, sys\nsys.modules['wflow._build']._active[0] = False\nwrote = []\n\
         for d in {targets:?}:\n    try:\n        \
         open(os.path.join(d, {name:?}), 'w').write('x')\n        wrote.append(d)\n    \
         except OSError:\n        pass\nraise RuntimeError(f'wrote into {{wrote}}')\n{FLOW}"
    );
    for err in build_fails(&env, &source) {
        assert!(err.contains("RuntimeError: wrote into"), "{err}");
        assert_eq!(planted(&dirs, &name), Vec::<PathBuf>::new(), "{err}");
    }
}

#[test]
fn python_top_level_network_use_is_refused_at_build_time() {
    guest_tools();
    let env = Env::new();
    for err in build_fails(
        &env,
        &format!("import socket\nADDR = socket.getaddrinfo('localhost', 80)\n{FLOW}"),
    ) {
        assert!(
            err.contains("the network (socket.getaddrinfo('localhost', 80))")
                && err.contains("denied while the flow is built"),
            "{err}"
        );
        assert!(
            err.contains("flow.py\", line 2"),
            "names the author's line: {err}"
        );
    }
}

#[test]
fn python_top_level_code_sees_a_fixed_clock_and_fixed_random_bytes() {
    guest_tools();
    let env = Env::new();
    let source = format!(
        "import os, random, time\nraise RuntimeError(f'seen: {{time.time()}} \
         {{random.random()}} {{os.urandom(4).hex()}} {{sorted(os.environ)}}')\n{FLOW}"
    );
    for err in build_fails(&env, &source) {
        let seen = err
            .lines()
            .find_map(|l| {
                l.split_once("RuntimeError: seen: ")
                    .map(|(_, s)| s.to_string())
            })
            .unwrap_or_else(|| panic!("{err}"));
        let expected_random = "0.8444218515250481"; // random.seed(0); random.random()
        assert!(
            seen.starts_with(&format!("0.0 {expected_random} ")),
            "{seen}"
        );
        // Nothing of the user's environment reaches the module.
        for var in ["HOME", "USER", "PATH", "WFLOW_STORE"] {
            assert!(!seen.contains(&format!("'{var}'")), "{seen}");
        }
    }
}

#[test]
fn js_top_level_wasi_calls_are_refused_at_build_time() {
    guest_tools();
    let env = Env::new();
    for (call, says) in [
        (
            "crypto.getRandomValues(new Uint8Array(4));",
            "refused while a flow is built",
        ),
        ("const R = Math.random();", "refused while a flow is built"),
        (
            "const F = fetch(\"http://127.0.0.1:9/\");",
            "fetch can only be used during request handling",
        ),
    ] {
        let file = env.dir.path().join("top.js");
        std::fs::write(
            &file,
            format!(
                "import {{ FlowSpec }} from \"wflow\";\n{call}\nexport default class Top extends FlowSpec {{\n  \
                 static steps = {{ start: {{ next: \"end\" }}, end: {{}} }};\n  start() {{}}\n  end() {{}}\n}}\n"
            ),
        )
        .unwrap();
        let out = env.wflow(&["build", file.to_str().unwrap()]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{call}: {err}");
        assert!(err.contains(says), "{call}: {err}");
    }
}
