//! Habits Metaflow users bring: tags at launch, the logs of a whole step, a task named by its
//! foreach index (`Flow/run/step[7]`).

use serde_json::{Value, json};

use crate::util::{Env, guest, stderr};

fn text_of(env: &Env, args: &[&str]) -> String {
    let out = env.wflow(args);
    assert!(out.status.success(), "wflow {args:?}: {}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn run_path(summary: &Value) -> String {
    format!(
        "{}/{}",
        summary["flow"].as_str().unwrap(),
        summary["run_id"].as_str().unwrap()
    )
}

#[test]
fn run_and_resume_tag_at_launch() {
    let env = Env::new();
    let g = guest("example-foreach");
    let s = env.run_ok(&g, &["-p", "n=3", "--tag", "nightly", "--tag", "team a"]);
    let run = run_path(&s);
    let listed: Value =
        serde_json::from_slice(&env.wflow(&["runs", "--json", "--tag", "nightly"]).stdout).unwrap();
    assert_eq!(listed[0]["pathspec"], run.as_str(), "{listed}");
    assert_eq!(listed[0]["tags"], json!(["nightly", "team a"]));

    let out = env.wflow(&["resume", "--json", &run, "--from", "sum", "--tag", "fixed"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        env.client().run(&run_path(&r)).unwrap().tags(),
        ["fixed".to_string()]
    );

    // A bad tag is refused before anything runs or is recorded.
    let out = env.wflow(&["run", g.to_str().unwrap(), "--tag", " "]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--tag \" \" is not a tag"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        env.client().flow("Foreach").unwrap().run_count().unwrap(),
        2
    );
}

#[test]
fn a_step_logs_every_task_and_step_index_names_a_task() {
    let env = Env::new();
    let s = env.run_ok(&guest("example-foreach"), &["-p", "n=10"]);
    let step = format!("{}/square", run_path(&s));

    // Every task of the step, each headed by its pathspec and foreach index.
    let text = text_of(&env, &["logs", &step]);
    for i in 0..10u32 {
        let x = i as i64 + 1;
        let head = text
            .lines()
            .position(|l| {
                l.starts_with("=== ") && l.contains(&format!(" [{i}] (attempt 0, succeeded)"))
            })
            .unwrap_or_else(|| panic!("no heading for item {i}:\n{text}"));
        assert_eq!(
            text.lines().nth(head + 1),
            Some(format!("item {i}: {x}^2 = {}", x * x).as_str()),
            "{text}"
        );
    }
    let all: Value = serde_json::from_slice(&env.wflow(&["logs", "--json", &step]).stdout).unwrap();
    assert_eq!(all.as_array().unwrap().len(), 10);
    assert_eq!(all[7]["foreach_path"], json!([7]));

    // `step[7]` is the task of foreach item 7, wherever a task is named.
    let item = format!("{step}[7]");
    assert_eq!(text_of(&env, &["logs", &item]), "item 7: 8^2 = 64\n");
    assert_eq!(env.artifact(&format!("{item}/square")), json!(64));
    let shown: Value =
        serde_json::from_slice(&env.wflow(&["show", "--json", &item]).stdout).unwrap();
    assert_eq!(shown["foreach_path"], json!([7]));
    let out = env.wflow(&["step-run", "--json", &item]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["origin_task"], shown["pathspec"]);

    // An index the step does not have, or a malformed one, is a clear error.
    let out = env.wflow(&["logs", &format!("{step}[10]")]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("[10]") && stderr(&out).contains("[9]"),
        "{}",
        stderr(&out)
    );
    let out = env.wflow(&["logs", &format!("{step}[x]")]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not a step and foreach index"),
        "{}",
        stderr(&out)
    );
}
