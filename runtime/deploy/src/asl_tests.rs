//! The generated ASL for every graph shape. These assert the structure; the state machines also
//! run end to end on moto in tests/all/deploy.rs (linear, branch, foreach, nested foreach, catch,
//! a foreach in chunks, switches and a loop).

use super::*;
use wflow_core::{FlowSpec, StepSpec};

fn step(name: &str, t: Transition) -> StepSpec {
    StepSpec::new(name, t)
}
fn next(name: &str, to: &[&str]) -> StepSpec {
    step(
        name,
        Transition::Next(to.iter().map(|s| s.to_string()).collect()),
    )
}
fn join(mut s: StepSpec) -> StepSpec {
    s.join = true;
    s
}
fn foreach(name: &str, body: &str) -> StepSpec {
    step(name, Transition::Foreach(body.into()))
}
fn end() -> StepSpec {
    step("end", Transition::End)
}

fn plan(steps: Vec<StepSpec>) -> Plan {
    wflow_graph::validate(&FlowSpec {
        name: "Shapes".into(),
        doc: String::new(),
        parameters: vec![],
        steps,
    })
    .expect("a valid flow")
}

fn target(plan: &Plan) -> Target {
    Target {
        queue: "q".into(),
        job_definitions: plan
            .steps_in_order()
            .iter()
            .map(|s| (s.clone(), format!("def-{s}")))
            .collect(),
        recorder_definition: "def-recorder".into(),
        bucket: "bucket".into(),
        prefix: "team/".into(),
        env: vec![("WFLOW_STORE".into(), "s3://bucket/team".into())],
    }
}

fn compiled(steps: Vec<StepSpec>) -> Value {
    let p = plan(steps);
    let asl = compile(&p, &target(&p)).unwrap();
    check(&asl).unwrap_or_else(|e| panic!("{e}\n{asl:#}"));
    asl
}

/// The flow's own scope (inside the `Run` Parallel).
fn flow(asl: &Value) -> &Value {
    &asl["States"]["Run"]["Branches"][0]
}

fn env_of(task: &Value) -> BTreeMap<String, String> {
    task["Parameters"]["ContainerOverrides"]["Environment"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let v = e.get("Value").or(e.get("Value.$")).unwrap();
            (
                e["Name"].as_str().unwrap().to_string(),
                v.as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn linear_steps_are_a_chain_of_sync_batch_jobs() {
    let asl = compiled(vec![next("start", &["a"]), next("a", &["end"]), end()]);
    assert_eq!(asl["StartAt"], "Begin");
    assert_eq!(
        asl["States"]["Begin"]["Parameters"]["run.$"],
        "$$.Execution.Name"
    );
    let f = flow(&asl);
    assert_eq!(f["StartAt"], "start");
    let s = &f["States"];
    assert_eq!(s["start"]["Next"], "a");
    assert_eq!(s["a"]["Next"], "end");
    assert_eq!(s["end"]["End"], true);
    for name in ["start", "a", "end"] {
        let t = &s[name];
        assert_eq!(t["Type"], "Task");
        assert_eq!(t["Resource"], SUBMIT_SYNC);
        assert_eq!(t["ResultPath"], Value::Null, "input passes through");
        assert!(t.get("Retry").is_none(), "retries run in the worker");
        assert_eq!(t["Parameters"]["JobQueue"], "q");
        assert_eq!(t["Parameters"]["JobDefinition"], format!("def-{name}"));
        assert_eq!(t["Parameters"]["JobName"], format!("wflow-Shapes-{name}"));
        assert!(t["Parameters"].get("ArrayProperties").is_none());
        let e = env_of(t);
        assert_eq!(e["WFLOW_STEP"], name);
        assert_eq!(e["WFLOW_RUN"], "$.run");
        assert_eq!(e["WFLOW_PATH"], "$.path");
        assert_eq!(e["WFLOW_STORE"], "s3://bucket/team");
        assert_eq!(e.contains_key("WFLOW_PARAMS"), name == "start");
        assert!(!e.contains_key("WFLOW_OFFSET"));
    }
    // A failed run is recorded, then the execution fails.
    assert_eq!(asl["States"]["Run"]["Catch"][0]["Next"], "Record failure");
    let rec = env_of(&asl["States"]["Record failure"]);
    assert_eq!(rec["WFLOW_END"], "failed");
    assert_eq!(asl["States"]["Failed"]["Error"], RUN_FAILED);
    // The deployment the jobs name is found again (for `deploy show`).
    let mut t = target(&plan(vec![next("start", &["end"]), end()]));
    t.env
        .push((env::DEPLOYMENT.into(), "deploy-v1/deployments/x/abc".into()));
    t.env.push((env::DEPLOYMENT_DIGEST.into(), "abc".into()));
    let p = plan(vec![next("start", &["end"]), end()]);
    let asl = compile(&p, &t).unwrap();
    assert_eq!(
        deployment_ref(&asl),
        Some(("deploy-v1/deployments/x/abc".into(), "abc".into()))
    );
    assert_eq!(deployment_ref(&json!({})), None);
}

#[test]
fn a_branch_is_a_parallel_state_joined_by_the_next_task() {
    let asl = compiled(vec![
        next("start", &["a", "b"]),
        next("a", &["a2"]),
        next("a2", &["join"]),
        next("b", &["join"]),
        join(next("join", &["end"])),
        end(),
    ]);
    let s = &flow(&asl)["States"];
    assert_eq!(s["start"]["Next"], "start branches");
    let p = &s["start branches"];
    assert_eq!(p["Type"], "Parallel");
    assert_eq!(p["Next"], "join");
    assert_eq!(p["ResultPath"], Value::Null);
    let b = p["Branches"].as_array().unwrap();
    assert_eq!(b.len(), 2);
    assert_eq!(b[0]["StartAt"], "a");
    assert_eq!(b[0]["States"]["a"]["Next"], "a2");
    assert_eq!(b[0]["States"]["a2"]["End"], true);
    assert_eq!(b[1]["States"]["b"]["End"], true);
    assert!(
        b[0]["States"].get("join").is_none(),
        "the join follows the Parallel"
    );
}

#[test]
fn a_foreach_is_one_array_job_per_chunk_with_its_width_read_from_s3() {
    let asl = compiled(vec![
        foreach("start", "body"),
        next("body", &["join"]),
        join(next("join", &["end"])),
        end(),
    ]);
    let s = &flow(&asl)["States"];
    let read = &s["start fanout"];
    assert_eq!(s["start"]["Next"], "start fanout");
    assert_eq!(read["Resource"], S3_GET);
    assert_eq!(read["Parameters"]["Bucket"], "bucket");
    assert_eq!(
        read["Parameters"]["Key.$"],
        "States.Format('team/deploy-v1/runs/{}/fanout/start/{}', $.run, $.path)"
    );
    assert_eq!(
        read["ResultSelector"]["fanout.$"],
        "States.StringToJson($.Body)"
    );
    let map = &s["start foreach"];
    assert_eq!(map["Type"], "Map");
    assert_eq!(map["ItemsPath"], "$.read.fanout.chunks");
    assert_eq!(map["ItemSelector"]["size.$"], "$$.Map.Item.Value.size");
    assert_eq!(map["Next"], "join");
    let body = &map["ItemProcessor"];
    assert_eq!(body["StartAt"], "body");
    let choice = &body["States"]["body"];
    assert_eq!(choice["Type"], "Choice");
    assert_eq!(choice["Choices"][0]["Next"], "body (one)");
    assert_eq!(choice["Default"], "body (array)");
    let array = &body["States"]["body (array)"];
    assert_eq!(array["Parameters"]["ArrayProperties"]["Size.$"], "$.size");
    assert_eq!(array["End"], true);
    assert!(
        body["States"]["body (one)"]["Parameters"]
            .get("ArrayProperties")
            .is_none()
    );
    assert_eq!(env_of(array)["WFLOW_OFFSET"], "$.offset");
    assert_eq!(s["join"]["Type"], "Task");
    assert!(!env_of(&s["join"]).contains_key("WFLOW_OFFSET"));
}

#[test]
fn a_branch_inside_a_foreach_runs_array_jobs_in_each_branch() {
    let asl = compiled(vec![
        foreach("start", "fan"),
        next("fan", &["x", "y"]),
        next("x", &["inner"]),
        next("y", &["inner"]),
        join(next("inner", &["join"])),
        join(next("join", &["end"])),
        end(),
    ]);
    let body = &flow(&asl)["States"]["start foreach"]["ItemProcessor"]["States"];
    let p = &body["fan branches"];
    assert_eq!(p["Type"], "Parallel");
    assert_eq!(p["Next"], "inner");
    let x = &p["Branches"][0]["States"]["x (array)"];
    assert_eq!(x["Parameters"]["ArrayProperties"]["Size.$"], "$.size");
}

#[test]
fn a_nested_foreach_maps_the_outer_items_and_runs_the_inner_as_array_jobs() {
    let asl = compiled(vec![
        foreach("start", "outer"),
        foreach("outer", "inner"),
        next("inner", &["ijoin"]),
        join(next("ijoin", &["ojoin"])),
        join(next("ojoin", &["end"])),
        end(),
    ]);
    let s = &flow(&asl)["States"];
    let map = &s["start foreach"];
    assert_eq!(map["ItemsPath"], "$.read.fanout.items");
    assert_eq!(map["ItemSelector"]["path.$"], "$$.Map.Item.Value");
    let per_item = &map["ItemProcessor"]["States"];
    // Each outer item: its own foreach task (one job), then its inner items as array jobs.
    assert_eq!(per_item["outer"]["Type"], "Task");
    assert!(
        per_item["outer"]["Parameters"]
            .get("ArrayProperties")
            .is_none()
    );
    assert_eq!(per_item["outer"]["Next"], "outer fanout");
    let inner = &per_item["outer foreach"];
    assert_eq!(inner["ItemsPath"], "$.read.fanout.chunks");
    assert_eq!(inner["Next"], "ijoin");
    assert_eq!(inner["ItemProcessor"]["States"]["inner"]["Type"], "Choice");
    assert_eq!(per_item["ijoin"]["End"], true);
    assert_eq!(s["start foreach"]["Next"], "ojoin");
}

#[test]
fn the_definition_stays_small_and_long_names_fit() {
    let long = "s".repeat(200);
    let asl = compiled(vec![
        foreach("start", &long),
        next(&long, &["join"]),
        join(next("join", &["end"])),
        end(),
    ]);
    assert!(state_names(&asl).iter().all(|n| n.chars().count() <= 80));
    // Size is independent of any width: a foreach is a few states.
    assert!(asl.to_string().len() < 10_000, "{}", asl.to_string().len());
}

#[test]
fn prefixes_are_escaped_in_format_templates() {
    assert_eq!(format_escape("a'b{c}\\"), "a\\'b\\{c\\}\\\\");
}

/// Every Task of every scope (flow, branch, foreach body) catches into its own scope's `Fail`
/// state, so only `wflow.StepFailed` leaves a `Parallel` or `Map` (moto turns a `States.*` error
/// leaving one into an uncatchable `States.Runtime`; AWS would pass it on, and this is the same).
#[test]
fn every_task_fails_its_scope_with_one_error_the_run_catches() {
    let asl = compiled(vec![
        foreach("start", "outer"),
        next("outer", &["x", "y"]),
        foreach("x", "inner"),
        next("inner", &["ijoin"]),
        join(next("ijoin", &["bjoin"])),
        next("y", &["bjoin"]),
        join(next("bjoin", &["ojoin"])),
        join(next("ojoin", &["end"])),
        end(),
    ]);
    fn walk(scope: &Value, tasks: &mut usize, scopes: &mut usize) {
        *scopes += 1;
        let states = scope["States"].as_object().unwrap();
        let fails: Vec<(&String, &Value)> =
            states.iter().filter(|(_, s)| s["Type"] == "Fail").collect();
        assert_eq!(fails.len(), 1, "one Fail per scope: {scope:#}");
        let (fail, state) = fails[0];
        assert_eq!(state["Error"], STEP_FAILED);
        for (name, s) in states {
            if s["Type"] == "Task" {
                *tasks += 1;
                let c = &s["Catch"][0];
                assert_eq!(c["ErrorEquals"], json!(["States.ALL"]), "{name}");
                assert_eq!(c["Next"], fail.as_str(), "{name}");
            }
            for b in s["Branches"].as_array().into_iter().flatten() {
                walk(b, tasks, scopes);
            }
            if s["Type"] == "Map" {
                walk(&s["ItemProcessor"], tasks, scopes);
            }
        }
    }
    let (mut tasks, mut scopes) = (0, 0);
    walk(flow(&asl), &mut tasks, &mut scopes);
    // flow, outer item, branch x, inner chunk, branch y.
    assert_eq!(scopes, 5);
    assert!(tasks >= 9, "{tasks}");
    let run = &asl["States"]["Run"];
    assert_eq!(run["Catch"][0]["ErrorEquals"], json!(["States.ALL"]));
    assert_eq!(run["Catch"][0]["Next"], "Record failure");
}

fn switch(name: &str, to: &[&str], max: Option<u32>) -> StepSpec {
    step(
        name,
        Transition::Switch {
            choices: to.iter().map(|s| s.to_string()).collect(),
            max_iterations: max,
        },
    )
}

#[test]
fn a_switch_reads_its_choice_and_its_choices_meet_again() {
    // start ?> a | b ; a, b -> m -> end
    let asl = compiled(vec![
        switch("start", &["a", "b"], None),
        next("a", &["m"]),
        next("b", &["m"]),
        next("m", &["end"]),
        end(),
    ]);
    let states = &flow(&asl)["States"];
    assert_eq!(states["start"]["Next"], "start choice");
    let read = &states["start choice"];
    assert_eq!(read["Resource"], S3_GET);
    assert_eq!(
        read["Parameters"]["Key.$"],
        "States.Format('team/deploy-v1/runs/{}/choice/start/{}', $.run, $.path)"
    );
    let rules = states["start chooses"]["Choices"].as_array().unwrap();
    let to: Vec<(&str, &str)> = rules
        .iter()
        .map(|r| {
            (
                r["StringEquals"].as_str().unwrap(),
                r["Next"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(to, [("a", "a"), ("b", "b")]);
    assert_eq!(states["a"]["Next"], "m");
    assert_eq!(states["b"]["Next"], "m");
    assert!(
        asl["States"]["Begin"]["Parameters"].get("gen").is_none(),
        "no loops"
    );
}

#[test]
fn a_loop_goes_back_counting_and_tasks_carry_the_generation() {
    // start -> body -> check ?> body (max 5) | end
    let asl = compiled(vec![
        next("start", &["body"]),
        next("body", &["check"]),
        switch("check", &["body", "end"], Some(5)),
        end(),
    ]);
    assert_eq!(asl["States"]["Begin"]["Parameters"]["gen"], 0);
    assert_eq!(
        asl["States"]["Begin"]["Parameters"]["loops"],
        json!({"check": 0})
    );
    let states = &flow(&asl)["States"];
    let rules = &states["check chooses"]["Choices"];
    assert_eq!(rules[0]["Next"], "check again");
    assert_eq!(rules[1]["Next"], "end", "the way on");
    let again = &states["check again"];
    assert_eq!(again["Next"], "body");
    assert_eq!(again["Parameters"]["gen.$"], "States.MathAdd($.gen, 1)");
    assert_eq!(
        again["Parameters"]["loops"]["check.$"],
        "States.MathAdd($.loops.check, 1)"
    );
    let vars = |s: &str| states[s]["Parameters"]["ContainerOverrides"]["Environment"].clone();
    let check = vars("check").to_string();
    assert!(
        check.contains(env::GEN) && check.contains("$.loops.check"),
        "{check}"
    );
    assert!(vars("body").to_string().contains(env::GEN));
    assert!(!vars("body").to_string().contains(env::LOOPED));
    assert_eq!(
        states["check choice"]["Parameters"]["Key.$"],
        "States.Format('team/deploy-v1/runs/{}/choice/check/{}~{}', $.run, $.path, $.gen)"
    );
}

#[test]
fn a_switch_in_a_foreach_maps_item_by_item() {
    let asl = compiled(vec![
        foreach("start", "pick"),
        switch("pick", &["even", "odd"], None),
        next("even", &["gather"]),
        next("odd", &["gather"]),
        join(next("gather", &["end"])),
        end(),
    ]);
    let map = &flow(&asl)["States"]["start foreach"];
    assert_eq!(map["ItemsPath"], "$.read.fanout.items");
    let body = &map["ItemProcessor"]["States"];
    assert_eq!(body["pick"]["Type"], "Task", "one job per item");
    // The choices end the item's iteration: they meet only at the join, outside the body.
    assert_eq!(body["even"]["End"], true);
    assert_eq!(body["odd"]["End"], true);
}

#[test]
fn a_loop_inside_a_split_is_refused_naming_the_step() {
    let p = plan(vec![
        foreach("start", "body"),
        next("body", &["check"]),
        switch("check", &["body", "gather"], Some(3)),
        join(next("gather", &["end"])),
        end(),
    ]);
    let err = compile(&p, &target(&p)).unwrap_err();
    assert!(
        err.to_string()
            .contains("step `check` loops back inside a foreach split (`start`)"),
        "{err}"
    );
}
