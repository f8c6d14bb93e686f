//! `wflow deploy`'s EventBridge side on moto (issue 13): the schedule and trigger rules a
//! deployment makes, and its ended rule, which records the run of an execution that failed, timed
//! out or was stopped. moto stores schedules and rules but never fires them: they are read back,
//! and the ended rule's target is run as EventBridge would run it.

use serde_json::{Value, json};

use crate::batch_env::aws;
use crate::deploy_env::{DeployEnv, cloud, states, worker_logs};
use crate::util::{guest, stderr};

#[test]
fn schedules_and_triggers_are_created_read_back_and_removed() {
    let m = DeployEnv::new("deploy-sched");
    let (first, second) = (format!("{}-up", m.tag), format!("{}-down", m.tag));
    m.create("example-hello", &first, &["--schedule", "rate(1 hour)"]);
    let show = m.json_ok(&["deploy", "show", &first]);
    assert_eq!(show["schedule"], "rate(1 hour)", "{show}");
    m.create(
        "example-hello",
        &first,
        &["--schedule", "cron(0 6 * * ? *)"],
    );
    assert_eq!(
        m.json_ok(&["deploy", "show", &first])["schedule"],
        "cron(0 6 * * ? *)"
    );
    m.create("example-branch", &second, &["--trigger-on-finish", &first]);
    let show = m.json_ok(&["deploy", "show", &second]);
    assert_eq!(
        show["trigger_on_finish"],
        serde_json::json!([first.clone()]),
        "{show}"
    );
    // The rule matches the first deployment's successful executions and starts the second with
    // the triggering run's pathspec (moto stores rules, never fires them: read back).
    let rule = format!("wflow-{second}-after-{first}");
    let described = events("DescribeRule", serde_json::json!({"Name": rule}));
    let pattern: Value = serde_json::from_str(described["EventPattern"].as_str().unwrap()).unwrap();
    assert_eq!(
        pattern["detail"]["status"],
        serde_json::json!(["SUCCEEDED"])
    );
    assert!(
        pattern["detail"]["stateMachineArn"][0]
            .as_str()
            .unwrap()
            .ends_with(&format!(":wflow-{first}")),
        "{pattern}"
    );
    let targets = events("ListTargetsByRule", serde_json::json!({"Rule": rule}));
    let t = &targets["Targets"][0];
    assert!(
        t["Arn"]
            .as_str()
            .unwrap()
            .ends_with(&format!(":wflow-{second}")),
        "{targets}"
    );
    assert_eq!(
        t["InputTransformer"]["InputPathsMap"]["run"], "$.detail.name",
        "{targets}"
    );
    assert!(
        t["InputTransformer"]["InputTemplate"]
            .as_str()
            .unwrap()
            .contains("\"trigger\": \"Hello/<run>\""),
        "{targets}"
    );
    // Redeployed without --schedule: the schedule is gone.
    m.create("example-hello", &first, &[]);
    assert_eq!(
        m.json_ok(&["deploy", "show", &first])["schedule"],
        Value::Null
    );
    m.create("example-branch", &second, &[]);
    assert_eq!(
        m.json_ok(&["deploy", "show", &second])["trigger_on_finish"],
        serde_json::json!([])
    );
    // Another component under the same name updates the state machine, and the deployment
    // `show` reads is the new one (each version stays in the store under its digest).
    let before = m.json_ok(&["deploy", "show", &first]);
    let updated = m.create("example-branch", &first, &[]);
    assert_eq!(updated["changed"], true, "{updated}");
    assert_eq!(
        updated["state_machine"], before["state_machine"],
        "{updated}"
    );
    let after = m.json_ok(&["deploy", "show", &first]);
    assert_ne!(after["code"], before["code"], "{after}");
    assert_eq!(after["code"], updated["code"], "{after}");
    m.json_ok(&["deploy", "delete", &first]);
    m.json_ok(&["deploy", "delete", &second]);
}

/// A stopped execution never reaches its last state: the deployment's ended rule records its run
/// as failed with nobody looking. moto stores the rule but never fires it, so the test reads the
/// rule and its target back, checks them against the design, and then does what EventBridge
/// would do on the execution's "Execution Status Change" event: applies the target's input
/// transformer to that event and submits the resulting Batch job (queue, job definition,
/// container overrides) to moto, whose job runs `wflow worker` through the shim. No `deploy`
/// command looks at the execution before the run is checked.
/// (moto does not terminate the stopped execution's Batch job: the looping step ends at its own
/// 3 s timeout, twice, and its job fails on its own.)
#[test]
fn a_stopped_execution_is_recorded_as_a_failed_run_by_the_ended_rule() {
    let m = DeployEnv::new("deploy-stop");
    let name = format!("{}-stop", m.tag);
    let created = m.create("test-program-hostile", &name, &["-p", "mode=loop"]);
    assert_eq!(created["records_ended"], true, "{created}");
    let machine = created["state_machine"].as_str().unwrap().to_string();

    // The rule, read back: the machine's executions ending without success.
    let rule = format!("wflow-{name}.ended");
    let described = events("DescribeRule", json!({"Name": rule}));
    let pattern: Value = serde_json::from_str(described["EventPattern"].as_str().unwrap()).unwrap();
    assert_eq!(
        pattern,
        json!({
            "source": ["aws.states"],
            "detail-type": ["Step Functions Execution Status Change"],
            "detail": {"status": ["FAILED", "TIMED_OUT", "ABORTED"], "stateMachineArn": [machine]},
        })
    );
    assert_eq!(described["State"], "ENABLED", "{described}");
    // Its one target: a job of the worker image on the deployment's queue, as the events role.
    let targets = events("ListTargetsByRule", json!({"Rule": rule}));
    let targets = targets["Targets"].as_array().unwrap();
    assert_eq!(targets.len(), 1, "{targets:?}");
    let t = &targets[0];
    assert!(
        t["Arn"]
            .as_str()
            .unwrap()
            .ends_with(":job-queue/wflow-deploy-queue"),
        "{t}"
    );
    assert!(t["RoleArn"].as_str().unwrap().contains(":role/"), "{t}");
    let definition = t["BatchParameters"]["JobDefinition"].as_str().unwrap();
    assert!(definition.contains(":job-definition/"), "{t}");
    let transformer = &t["InputTransformer"];
    assert_eq!(
        transformer["InputPathsMap"],
        json!({"run": "$.detail.name", "status": "$.detail.status", "execution": "$.detail.executionArn"}),
        "{t}"
    );
    let template = transformer["InputTemplate"].as_str().unwrap().to_string();

    let (run, execution, described) = trigger_and_stop(&m, &name);
    assert_eq!(
        m.json_ok(&["show", &run])["status"],
        "running",
        "nothing has recorded the stop yet"
    );

    // What EventBridge does with the event: the transformer's variables from the event's
    // detail, put into the template, handed to SubmitJob with the target's queue and definition.
    let event = json!({
        "source": "aws.states",
        "detail-type": "Step Functions Execution Status Change",
        "detail": {
            "name": described["name"],
            "status": described["status"],
            "executionArn": described["executionArn"],
            "stateMachineArn": machine,
        },
    });
    let mut input = template.clone();
    for (var, path) in transformer["InputPathsMap"].as_object().unwrap() {
        let field = path.as_str().unwrap().trim_start_matches("$.detail.");
        let value = event["detail"][field].as_str().unwrap();
        input = input.replace(&format!("<{var}>"), value);
    }
    let input: Value = serde_json::from_str(&input).unwrap_or_else(|e| panic!("{e}: {input}"));
    let environment: Vec<Value> = input["ContainerOverrides"]["Environment"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| json!({"name": e["Name"], "value": e["Value"]}))
        .collect();
    let submitted = aws(
        &cloud().endpoint,
        "batch",
        "POST",
        "/v1/submitjob",
        "application/json",
        &json!({
            "jobName": t["BatchParameters"]["JobName"],
            "jobQueue": t["Arn"],
            "jobDefinition": definition,
            "containerOverrides": {"environment": environment},
        })
        .to_string(),
    );
    let job: Value = serde_json::from_str(&submitted).unwrap();
    let mut status = Value::Null;
    for _ in 0..600 {
        let d = aws(
            &cloud().endpoint,
            "batch",
            "POST",
            "/v1/describejobs",
            "application/json",
            &json!({"jobs": [job["jobId"]]}).to_string(),
        );
        status = serde_json::from_str::<Value>(&d).unwrap()["jobs"][0]["status"].clone();
        if status == "SUCCEEDED" || status == "FAILED" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(status, "SUCCEEDED", "the ended job\n{}", worker_logs());
    let shown = m.json_ok(&["show", &run]);
    assert_eq!(shown["status"], "failed", "{shown}");
    assert!(shown.to_string().contains("was stopped"), "{shown}");
    assert!(shown.to_string().contains(&execution), "{shown}");

    // The deployment without an events role has no ended rule; delete removes it.
    let out = m
        .command(&[
            "deploy",
            "create",
            guest("test-program-hostile").to_str().unwrap(),
            "--name",
            &name,
            "-p",
            "mode=loop",
            "--json",
        ])
        .env_remove("WFLOW_DEPLOY_EVENTS_ROLE")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let again: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(again["records_ended"], false, "{again}");
    assert_eq!(
        m.json_ok(&["deploy", "show", &name])["records_ended"],
        false
    );
    // Without the rule, `deploy show` records a stopped execution's run when it lists it.
    let (run, _, _) = trigger_and_stop(&m, &name);
    assert_eq!(m.json_ok(&["show", &run])["status"], "running");
    let show = m.json_ok(&["deploy", "show", &name]);
    assert_eq!(show["executions"][0]["status"], "ABORTED", "{show}");
    let shown = m.json_ok(&["show", &run]);
    assert_eq!(shown["status"], "failed", "{shown}");
    assert!(shown.to_string().contains("was stopped"), "{shown}");
    m.create("test-program-hostile", &name, &["-p", "mode=loop"]);
    assert_eq!(m.json_ok(&["deploy", "show", &name])["records_ended"], true);
    m.json_ok(&["deploy", "delete", &name]);
    let rules = events("ListRules", json!({"NamePrefix": format!("wflow-{name}")}));
    assert_eq!(rules["Rules"], json!([]), "{rules}");
}

/// Triggers `name`, stops its execution once `start` recorded the run, and waits (bounded) for
/// moto to report it ABORTED. The run's pathspec, the execution's ARN and its description.
fn trigger_and_stop(m: &DeployEnv, name: &str) -> (String, String, Value) {
    let v = m.json_ok(&["deploy", "trigger", name]);
    let (run, execution) = (
        v["pathspec"].as_str().unwrap().to_string(),
        v["execution"].as_str().unwrap().to_string(),
    );
    // Once `start` has recorded the run, stop the execution.
    let mut recorded = false;
    for _ in 0..600 {
        let out = m.wflow(&["show", "--json", &run]);
        if out.status.success() {
            recorded = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(recorded, "the run was never recorded\n{}", worker_logs());
    states("StopExecution", json!({"executionArn": execution}));
    // moto's interpreter may still be inside a state when the stop arrives and report the
    // execution as running a moment longer: wait (bounded) for the status AWS gives at once.
    let mut described = states("DescribeExecution", json!({"executionArn": execution}));
    for _ in 0..300 {
        if described["status"] != "RUNNING" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
        described = states("DescribeExecution", json!({"executionArn": execution}));
    }
    assert_eq!(described["status"], "ABORTED", "{described}");
    (run, execution, described)
}

/// One EventBridge call to the test moto; its JSON answer.
fn events(target: &str, body: Value) -> Value {
    let out = aws(
        &cloud().endpoint,
        "events",
        "POST",
        "/",
        &format!("application/x-amz-json-1.1\r\nX-Amz-Target: AWSEvents.{target}"),
        &body.to_string(),
    );
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{target}: {e}: {out}"))
}
