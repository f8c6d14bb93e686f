//! Contract 0.2's control flow on `test-program-control`: a switch taken each way, a switch in a
//! foreach, a loop that ends after its iterations or passes its bound, resume of a failed
//! iteration, the errors of a missing or undeclared choice, and what `check` and `show` draw.

use serde_json::Value;

use crate::util::{Env, guest, stderr, task_steps as steps};

fn control() -> String {
    guest("test-program-control").to_str().unwrap().to_string()
}

/// Runs the flow with `args`; returns its summary and stderr, and whether it succeeded.
fn run(env: &Env, args: &[&str]) -> (Value, String, bool) {
    let g = control();
    let mut all = vec!["run", "--json", g.as_str()];
    all.extend_from_slice(args);
    let out = env.wflow(&all);
    let summary = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (summary, stderr(&out), out.status.success())
}

fn show(env: &Env, summary: &Value) -> Value {
    let run = format!("Control/{}", summary["run_id"].as_str().unwrap());
    let out = env.wflow(&["show", "--json", &run]);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn step<'a>(shown: &'a Value, name: &str) -> &'a Value {
    shown["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == name)
        .unwrap()
}

#[test]
fn a_switch_is_taken_each_way_and_show_marks_the_branch_not_taken() {
    let env = Env::new();
    for (choice, not_taken) in [("train", "skip"), ("skip", "train")] {
        let (summary, err, ok) = run(&env, &["-p", &format!("choice={choice}")]);
        assert!(ok, "{err}");
        let s = steps(&summary);
        assert!(s.contains(&choice.to_string()), "{s:?}");
        assert!(!s.contains(&not_taken.to_string()), "{s:?}");
        // The branches rejoin at `body`; the loop then runs its 3 iterations.
        assert_eq!(s.iter().filter(|x| *x == "body").count(), 3, "{s:?}");
        let end = crate::util::task_of(&summary, "end");
        let path = env.artifact(&format!("{end}/path"));
        assert_eq!(path, Value::String(choice.into()));
        let shown = show(&env, &summary);
        let start = step(&shown, "start");
        assert_eq!(start["taken"][choice], 1, "{start}");
        assert_eq!(start["taken"][not_taken], 0, "{start}");
        assert_eq!(step(&shown, not_taken)["tasks"], 0);
        // In text: the branch taken and the ones not taken, by name.
        let run = format!("Control/{}", summary["run_id"].as_str().unwrap());
        let text = String::from_utf8(env.wflow(&["show", &run]).stdout).unwrap();
        assert!(
            text.contains(&format!("(took {choice}; not taken: ")),
            "{text}"
        );
    }
}

#[test]
fn a_switch_in_a_foreach_sends_each_item_its_own_way() {
    let env = Env::new();
    let (summary, err, ok) = run(&env, &["-p", "choice=fan"]);
    assert!(ok, "{err}");
    let s = steps(&summary);
    assert_eq!(s.iter().filter(|x| *x == "pick").count(), 3, "{s:?}");
    assert_eq!(s.iter().filter(|x| *x == "odd").count(), 2, "{s:?}");
    assert_eq!(s.iter().filter(|x| *x == "even").count(), 1, "{s:?}");
    let gather = crate::util::task_of(&summary, "gather");
    assert_eq!(
        env.artifact(&format!("{gather}/tags")),
        serde_json::json!(["1:odd", "2:even", "3:odd"])
    );
    let shown = show(&env, &summary);
    let pick = step(&shown, "pick");
    assert_eq!(pick["taken"]["odd"], 2, "{pick}");
    assert_eq!(pick["taken"]["even"], 1, "{pick}");
}

#[test]
fn a_loop_ends_after_its_iterations_each_a_task_of_its_own() {
    let env = Env::new();
    let (summary, err, ok) = run(&env, &["-p", "until=3"]);
    assert!(ok, "{err}");
    let tasks = summary["tasks"].as_array().unwrap();
    let bodies: Vec<&str> = tasks
        .iter()
        .filter(|t| t["step"] == "body")
        .map(|t| t["pathspec"].as_str().unwrap())
        .collect();
    assert_eq!(bodies.len(), 3, "{summary}");
    let mut unique = bodies.clone();
    unique.dedup();
    assert_eq!(unique.len(), 3, "pathspecs are unique: {bodies:?}");
    for (i, body) in bodies.iter().enumerate() {
        assert_eq!(env.artifact(&format!("{body}/count")), i as i64 + 1);
    }
    let shown = show(&env, &summary);
    let check = step(&shown, "check");
    assert_eq!(check["taken"]["body"], 2, "{check}");
    assert_eq!(check["taken"]["end"], 1, "{check}");
}

#[test]
fn a_loop_past_its_bound_fails_the_run_naming_the_loop() {
    let env = Env::new();
    let (summary, err, ok) = run(&env, &["-p", "until=9"]);
    assert!(!ok);
    assert!(
        err.contains("the loop from `check` back to `body` went past its bound")
            && err.contains("`max_iterations` is 5"),
        "{err}"
    );
    let s = steps(&summary);
    assert_eq!(s.iter().filter(|x| *x == "body").count(), 5, "{s:?}");
    assert!(!s.contains(&"end".to_string()), "{s:?}");
}

#[test]
fn resume_re_enters_a_loop_at_the_failed_iteration() {
    let env = Env::new();
    let (failed, err, ok) = run(&env, &["-p", "fail_at=2"]);
    assert!(!ok);
    assert!(err.contains("failing at iteration 2"), "{err}");
    let run_path = format!("Control/{}", failed["run_id"].as_str().unwrap());
    let g = control();
    let out = env.wflow(&["resume", "--json", &run_path, &g, "-p", "fail_at=0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let resumed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let shown = show(&env, &resumed);
    // Iteration 1 (body and check) is reused; iteration 2 runs again, then 3, then end.
    let body = step(&shown, "body");
    assert_eq!(
        (body["tasks"].as_u64(), body["reused"].as_u64()),
        (Some(3), Some(1))
    );
    let check = step(&shown, "check");
    assert_eq!(
        (check["tasks"].as_u64(), check["reused"].as_u64()),
        (Some(3), Some(1))
    );
    assert_eq!(step(&shown, "start")["reused"], 1);
    let end = crate::util::task_of(&resumed, "end");
    assert_eq!(env.artifact(&format!("{end}/count")), 3);
}

#[test]
fn a_missing_or_undeclared_choice_fails_the_task_with_a_clear_error() {
    let env = Env::new();
    let (_, err, ok) = run(&env, &["-p", "choice=nowhere"]);
    assert!(!ok);
    assert!(
        err.contains("switch step `start` finished without choosing its successor")
            && err.contains("`train`, `skip` or `fan`"),
        "{err}"
    );
    let (_, err, ok) = run(&env, &["-p", "choice=bogus"]);
    assert!(!ok);
    assert!(
        err.contains(
            "`bogus` is not a choice of switch step `start`: it may choose `train`, `skip` or `fan`"
        ),
        "{err}"
    );
}

#[test]
fn check_draws_switches_and_loops_and_names_the_contract() {
    let env = Env::new();
    let g = control();
    let out = env.wflow(&["check", &g]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("switch   -> train | skip | fan"), "{text}");
    assert!(
        text.contains("loop     -> body | end")
            && text.contains("(loops back to `body`, at most 5 iterations)"),
        "{text}"
    );
    assert!(text.contains("contract wflow:flow@0.2.0"), "{text}");
    let out = env.wflow(&["check", "--dot", &g]);
    let dot = String::from_utf8(out.stdout).unwrap();
    assert!(
        dot.contains("\"check\" -> \"body\" [style=dotted, label=\"loop ≤ 5\""),
        "{dot}"
    );
    let out = env.wflow(&["check", "--json", &g]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["contract"], "0.2.0");
    // A component the 0.1.0 SDK built runs by its own contract.
    let old = crate::util::root().join("tests/compat/0.1.0/components/rust/example_hello.wasm");
    let out = env.wflow(&["check", "--json", old.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["contract"], "0.1.0");
}
