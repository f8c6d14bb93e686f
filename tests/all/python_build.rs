//! Building Python flows: modules that the bundled modules (or the flow's steps) import lazily are
//! in the component, a step's traceback names the author's file and line, and the build cache
//! picks up an edit, reuses an unchanged build and rebuilds a damaged entry instead of trusting it.

use std::path::{Path, PathBuf};

use crate::util::{Env, guest_tools, stderr, task_of};

/// A flow whose `start` uses standard-library modules that are imported only inside functions:
/// `Counter.most_common` imports `heapq`, `datetime.strptime` imports `_strptime`, and the step
/// itself imports `statistics` and `fractions`. With `-p mode=fail` it divides by zero in `fail`.
const LAZY: &str = r#"from collections import Counter
from datetime import datetime

from wflow import FlowSpec, Parameter, step


class LazyImports(FlowSpec):
    mode = Parameter(default="ok")

    @step(next="end")
    def start(self):
        self.top = Counter("a b a c b a".split()).most_common(2)
        self.day = datetime.strptime("2024-03-05", "%Y-%m-%d").day
        import statistics
        from fractions import Fraction

        self.mean = statistics.mean([1, 2, 3, 4])
        self.third = str(Fraction(1, 3))
        if self.mode == "fail":
            self.fail()

    def fail(self):
        return 1 / 0

    @step
    def end(self):
        print("lazy imports ok")
"#;

/// The line of `return 1 / 0` in [`LAZY`].
fn failing_line() -> usize {
    LAZY.lines()
        .position(|l| l.contains("return 1 / 0"))
        .unwrap()
        + 1
}

#[test]
fn lazily_imported_stdlib_modules_work_and_tracebacks_name_the_authors_file() {
    guest_tools();
    let env = Env::new();
    let dir = env.dir.path().join("lazy");
    std::fs::create_dir(&dir).unwrap();
    let flow = dir.join("flow.py");
    std::fs::write(&flow, LAZY).unwrap();

    let s = env.run_ok(&dir, &[]);
    let start = task_of(&s, "start");
    assert_eq!(
        env.artifact(&format!("{start}/top")),
        serde_json::json!([["a", 3], ["b", 2]])
    );
    assert_eq!(env.artifact(&format!("{start}/day")), serde_json::json!(5));
    assert_eq!(
        env.artifact(&format!("{start}/mean")),
        serde_json::json!(2.5)
    );
    assert_eq!(
        env.artifact(&format!("{start}/third")),
        serde_json::json!("1/3")
    );

    // The error names the author's file and line; the traceback in the logs too, with the line's
    // text, and never the build's staging folder (`/0/`).
    let out = env.wflow(&["run", "--json", dir.to_str().unwrap(), "-p", "mode=fail"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    let abs = std::path::absolute(&flow).unwrap();
    let place = format!("{}:{}, in fail", abs.display(), failing_line());
    assert!(err.contains("ZeroDivisionError: division by zero"), "{err}");
    assert!(err.contains(&place), "wanted {place} in:\n{err}");
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let task = s["failure"]["pathspec"].as_str().unwrap();
    let out = env.wflow(&["logs", "--stderr", task]);
    let log = String::from_utf8_lossy(&out.stdout);
    let frame = format!(
        "File \"{}\", line {}, in fail\n    return 1 / 0",
        abs.display(),
        failing_line()
    );
    assert!(log.contains(&frame), "wanted {frame:?} in:\n{log}");
    assert!(!log.contains("\"/0/"), "{log}");
}

/// `wflow build` with a cache folder of this test's own; returns the component and stderr (which
/// says `Building …` when the tool ran).
fn build(env: &Env, cache: &Path, flow: &Path) -> (PathBuf, String) {
    let out = env
        .command(&["build", flow.to_str().unwrap()])
        .env("WFLOW_CACHE_DIR", cache)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (PathBuf::from(path), stderr(&out))
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn python_build_cache_picks_up_edits_reuses_and_rebuilds_damaged_entries() {
    guest_tools();
    let env = Env::new();
    let cache = env.dir.path().join("cache");
    let flow = env.dir.path().join("edited.py");
    let source = |marker: &str| {
        format!(
            "from wflow import FlowSpec, step\n\n\nclass Edited(FlowSpec):\n    @step\n    def end(self):\n        print(\"{marker}\")\n"
        )
    };
    std::fs::write(&flow, source("first-version-7d1")).unwrap();
    let (first, err) = build(&env, &cache, &flow);
    assert!(err.contains("Building"), "{err}");

    // Unchanged: the same component, not built again.
    let (again, err) = build(&env, &cache, &flow);
    assert_eq!(again, first);
    assert!(!err.contains("Building"), "{err}");

    // Edited: built again, and the component has the new code, not the old.
    std::fs::write(&flow, source("second-version-7d1")).unwrap();
    let (second, err) = build(&env, &cache, &flow);
    assert!(err.contains("Building"), "{err}");
    assert_ne!(second, first);
    let bytes = std::fs::read(&second).unwrap();
    assert!(contains(&bytes, "second-version-7d1"));
    assert!(!contains(&bytes, "first-version-7d1"));

    // A damaged entry (a byte changed) is not used: a warning, a new build, a whole component.
    let mut damaged = bytes.clone();
    let at = damaged.len() / 2;
    damaged[at] ^= 0xff;
    std::fs::write(&second, &damaged).unwrap();
    let (rebuilt, err) = build(&env, &cache, &flow);
    assert!(err.contains("ignored the cached build"), "{err}");
    assert!(err.contains("does not match the digest"), "{err}");
    assert!(err.contains("Building"), "{err}");
    assert_eq!(rebuilt, second);
    let rebuilt = std::fs::read(&rebuilt).unwrap();
    assert_ne!(rebuilt, damaged);
    assert!(contains(&rebuilt, "second-version-7d1"));
    // …and the rebuilt entry is trusted again.
    let (_, err) = build(&env, &cache, &flow);
    assert!(
        !err.contains("Building") && !err.contains("ignored"),
        "{err}"
    );
}
