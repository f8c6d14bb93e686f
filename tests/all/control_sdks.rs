//! Contract 0.2 from the Python and JavaScript SDKs, on `test-programs/{python,js}/control`
//! (the flow of `test-programs/control`, written in each): `@step(switch=[…])` / `{ switch: […] }`
//! chosen with `self.next` / `this.next` each way and in a foreach, a loop bounded by
//! `max_iterations` / `maxIterations`, resume of a failed iteration, a missing or undeclared
//! choice, a secret the step did not ask for, and `next` as an ordinary artifact outside a switch
//! (as flows written for 0.1 use it); the `examples/{python,js}-loop` examples; and, on
//! `test-programs/{python,js}/read_secret`, a secret refused by the policy or given from the
//! environment, read as text and bytes, redacted in the logs.

use serde_json::Value;

use crate::polyglot::prepared;
use crate::util::{Env, stderr, task_of, task_steps as steps};

/// The two flows: (language, source, flow name).
const FLOWS: [(&str, &str, &str); 2] = [
    ("Python", "test-programs/python/control.py", "PyControl"),
    ("JavaScript", "test-programs/js/control.js", "JsControl"),
];

/// Runs `flow` with `args`: its summary (or null), stderr, and whether it succeeded.
fn run(env: &Env, flow: &str, args: &[&str]) -> (Value, String, bool) {
    let path = prepared(flow);
    let mut all = vec!["run", "--json", path.to_str().unwrap()];
    all.extend_from_slice(args);
    let out = env.wflow(&all);
    let summary = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (summary, stderr(&out), out.status.success())
}

fn count(steps: &[String], name: &str) -> usize {
    steps.iter().filter(|s| *s == name).count()
}

fn shown_step(env: &Env, summary: &Value, name: &str, step: &str) -> Value {
    let run = format!("{name}/{}", summary["run_id"].as_str().unwrap());
    let out = env.wflow(&["show", "--json", &run]);
    assert!(out.status.success(), "{}", stderr(&out));
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    shown["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == step)
        .unwrap()
        .clone()
}

#[test]
fn python_and_js_switches_are_taken_each_way_and_loops_end() {
    for (lang, flow, name) in FLOWS {
        let env = Env::new();
        for (choice, not_taken) in [("train", "skip"), ("skip", "train")] {
            let (s, err, ok) = run(&env, flow, &["-p", &format!("choice={choice}")]);
            assert!(ok, "{lang} {choice}: {err}");
            let st = steps(&s);
            assert_eq!(count(&st, choice), 1, "{lang}: {st:?}");
            assert_eq!(count(&st, not_taken), 0, "{lang}: {st:?}");
            // The loop runs its 3 iterations, each a task of its own.
            assert_eq!(count(&st, "body"), 3, "{lang}: {st:?}");
            let end = task_of(&s, "end");
            assert_eq!(env.artifact(&format!("{end}/path")), choice, "{lang}");
            assert_eq!(env.artifact(&format!("{end}/count")), 3, "{lang}");
            // Outside a switch step, `self.next = …` / `this.next = …` is an artifact.
            assert_eq!(
                env.artifact(&format!("{end}/next")),
                "not a choice",
                "{lang}"
            );
            let start = shown_step(&env, &s, name, "start");
            assert_eq!(start["taken"][choice], 1, "{lang}: {start}");
            assert_eq!(start["taken"][not_taken], 0, "{lang}: {start}");
            let check = shown_step(&env, &s, name, "check");
            assert_eq!(check["taken"]["body"], 2, "{lang}: {check}");
            assert_eq!(check["taken"]["end"], 1, "{lang}: {check}");
        }

        // A switch in a foreach: each item its own way.
        let (s, err, ok) = run(&env, flow, &["-p", "choice=fan"]);
        assert!(ok, "{lang} fan: {err}");
        let st = steps(&s);
        assert_eq!((count(&st, "odd"), count(&st, "even")), (2, 1), "{lang}");
        assert_eq!(
            env.artifact(&format!("{}/tags", task_of(&s, "gather"))),
            serde_json::json!(["1:odd", "2:even", "3:odd"]),
            "{lang}"
        );
    }
}

#[test]
fn python_and_js_loops_are_bounded_and_resume_at_the_failed_iteration() {
    for (lang, flow, name) in FLOWS {
        let env = Env::new();
        let (s, err, ok) = run(&env, flow, &["-p", "until=9"]);
        assert!(!ok, "{lang}");
        assert!(
            err.contains("the loop from `check` back to `body` went past its bound")
                && err.contains("`max_iterations` is 5"),
            "{lang}: {err}"
        );
        assert_eq!(count(&steps(&s), "body"), 5, "{lang}");

        let (failed, err, ok) = run(&env, flow, &["-p", "fail_at=2"]);
        assert!(!ok, "{lang}");
        assert!(err.contains("failing at iteration 2"), "{lang}: {err}");
        let run_path = format!("{name}/{}", failed["run_id"].as_str().unwrap());
        let path = prepared(flow);
        let out = env.wflow(&[
            "resume",
            "--json",
            &run_path,
            path.to_str().unwrap(),
            "-p",
            "fail_at=0",
        ]);
        assert!(out.status.success(), "{lang}: {}", stderr(&out));
        let resumed: Value = serde_json::from_slice(&out.stdout).unwrap();
        let body = shown_step(&env, &resumed, name, "body");
        assert_eq!(
            (body["tasks"].as_u64(), body["reused"].as_u64()),
            (Some(3), Some(1)),
            "{lang}: {body}"
        );
        let end = task_of(&resumed, "end");
        assert_eq!(env.artifact(&format!("{end}/count")), 3, "{lang}");
    }
}

#[test]
fn python_and_js_missing_or_undeclared_choices_and_secrets_fail_clearly() {
    for (lang, flow, _) in FLOWS {
        let this = if lang == "Python" { "self" } else { "this" };
        let env = Env::new();
        let (_, err, ok) = run(&env, flow, &["-p", "choice=nowhere"]);
        assert!(!ok, "{lang}");
        assert!(
            err.contains(&format!(
                "switch step `start` finished without choosing its successor: set `{this}.next` \
                 to `train`, `skip` or `fan`"
            )),
            "{lang}: {err}"
        );
        let (_, err, ok) = run(&env, flow, &["-p", "choice=bogus"]);
        assert!(!ok, "{lang}");
        assert!(
            err.contains(
                "choosing the next step: invalid error: `bogus` is not a choice of switch step \
                 `start`: it may choose `train`, `skip` or `fan`"
            ),
            "{lang}: {err}"
        );
        let (_, err, ok) = run(&env, flow, &["-p", "secret=db_password"]);
        assert!(!ok, "{lang}");
        assert!(
            err.contains("SecretNotFound: step `end` was given no secret `db_password`"),
            "{lang}: {err}"
        );
        // The hint is in the step's language, not in Rust's.
        let ask = if lang == "Python" {
            "(`@step(secrets=[\"db_password\"])`)"
        } else {
            "(`{ secrets: [\"db_password\"] }`)"
        };
        assert!(err.contains(ask), "{lang}: {err}");
        assert!(!err.contains("secrets = ["), "{lang}: {err}");
    }
}

#[test]
fn the_python_and_js_loop_examples_publish_or_discard() {
    for example in ["examples/python-loop", "examples/js-loop"] {
        let env = Env::new();
        for (args, rounds, verdict) in [
            (&[][..], 3, "published after 3 rounds"),
            (&["-p", "target=0.99"][..], 5, "discarded after 5 rounds"),
        ] {
            let (s, err, ok) = run(&env, example, args);
            assert!(ok, "{example}: {err}");
            assert_eq!(count(&steps(&s), "train"), rounds, "{example}");
            let end = task_of(&s, "end");
            assert_eq!(
                env.artifact(&format!("{end}/verdict")),
                verdict,
                "{example}"
            );
        }
    }
}

#[test]
fn python_and_js_steps_read_the_secrets_the_policy_gives_them() {
    use crate::secrets::PASSWORD;
    for flow in [
        "test-programs/python/read_secret.py",
        "test-programs/js/read_secret.js",
    ] {
        let env = Env::new();
        // Not through `prepared`: its `wflow check` is refused by the default policy.
        crate::util::guest_tools();
        let path = crate::util::root().join(flow);
        let run = |extra: &[&str]| {
            let mut args = vec!["run", "--json", path.to_str().unwrap()];
            args.extend_from_slice(extra);
            env.command(&args)
                .env("WFLOW_TEST_DB_PASSWORD", PASSWORD)
                .output()
                .unwrap()
        };
        // Not granted: refused before the run.
        let out = run(&[]);
        assert!(!out.status.success(), "{flow}");
        assert!(
            stderr(&out)
                .contains("step `start`: secret `db_password` is not allowed by the policy"),
            "{flow}: {}",
            stderr(&out)
        );
        // Granted from an environment variable: read as text and bytes, redacted in the logs.
        let policy = env.dir.path().join("policy.toml");
        std::fs::write(
            &policy,
            "[grants]\nsecrets = [\"db_password\"]\n\n\
             [secrets.db_password]\nenv = \"WFLOW_TEST_DB_PASSWORD\"\n",
        )
        .unwrap();
        let out = run(&["--policy", policy.to_str().unwrap()]);
        assert!(out.status.success(), "{flow}: {}", stderr(&out));
        let s: Value = serde_json::from_slice(&out.stdout).unwrap();
        let start = task_of(&s, "start");
        assert_eq!(
            env.artifact(&format!("{start}/length")),
            PASSWORD.len(),
            "{flow}"
        );
        let logs = env.wflow(&["logs", &start]);
        let logs = String::from_utf8_lossy(&logs.stdout);
        assert!(
            logs.contains("connecting with password [wflow: secret db_password redacted]"),
            "{flow}: {logs}"
        );
        // A step that did not ask for it gets `SecretNotFound`.
        let refused = env.artifact(&format!("{}/refused", task_of(&s, "end")));
        assert!(
            refused
                .as_str()
                .unwrap()
                .contains("step `end` was given no secret `db_password`"),
            "{flow}: {refused}"
        );
    }
}
