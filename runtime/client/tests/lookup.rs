//! Finding things by pathspec: every part not found is named with the nearest choices; `latest`
//! and unique prefixes of run ids; what a task or run refers to.

use std::sync::Arc;

use wflow_client::{Client, ClientError, Object, Part, RunFilter, Status};
use wflow_core::Digest;
use wflow_metadata::{Event, Metadata};
use wflow_store::{Cas, LocalDisk, Manifest};

fn run(meta: &Metadata, cas: &Cas, flow: &str, run_id: &str, at: i64) {
    let spec = serde_json::json!({
        "name": flow, "doc": "", "parameters": [],
        "steps": [
            { "name": "start", "doc": "", "transition": { "next": ["square"] }, "join": false, "retries": 0,
              "timeout_secs": null, "memory_mb": null, "cpu": null, "catch": null, "compute": null,
              "capabilities": { "env": [], "dirs": [], "network": [], "clock": false, "random": false } },
            { "name": "square", "doc": "", "transition": { "next": ["end"] }, "join": false, "retries": 0,
              "timeout_secs": null, "memory_mb": null, "cpu": null, "catch": null, "compute": null,
              "capabilities": { "env": [], "dirs": [], "network": [], "clock": false, "random": false } },
            { "name": "end", "doc": "", "transition": "end", "join": false, "retries": 0,
              "timeout_secs": null, "memory_mb": null, "cpu": null, "catch": null, "compute": null,
              "capabilities": { "env": [], "dirs": [], "network": [], "clock": false, "random": false } }
        ]
    });
    let mut m = Manifest::new();
    let mut total = Vec::new();
    ciborium::into_writer(&55, &mut total).unwrap();
    m.artifacts
        .insert("total".into(), cas.put_artifact(&total, "cbor").unwrap());
    m.artifacts.insert(
        "totals".into(),
        cas.put_artifact(b"raw bytes", "raw").unwrap(),
    );
    let manifest = cas.put_manifest(&m).unwrap();
    let mut events = vec![Event::RunStarted {
        run_id: run_id.into(),
        flow: flow.into(),
        component: Digest::of(b"c"),
        params: serde_json::json!({}),
        spec,
        started_ms: at,
        origin_run: None,
        user: "ada".into(),
        kind: Default::default(),
    }];
    for (id, step) in [(1, "start"), (2, "square")] {
        events.push(Event::TaskStarted {
            run_id: run_id.into(),
            task_id: id,
            step: step.into(),
            foreach_path: vec![],
            inputs: vec![],
            started_ms: at,
        });
        events.push(Event::TaskFinished {
            run_id: run_id.into(),
            task_id: id,
            status: Status::Succeeded,
            finished_ms: at + 1,
            manifest: Some(manifest),
        });
    }
    events.push(Event::RunFinished {
        run_id: run_id.into(),
        status: Status::Succeeded,
        finished_ms: at + 2,
        error: None,
    });
    meta.record(&events).unwrap();
}

fn setup() -> (tempfile::TempDir, Client) {
    let dir = tempfile::tempdir().unwrap();
    let cas = Cas::new(Arc::new(LocalDisk::open(dir.path()).unwrap()));
    let meta = Metadata::open(&dir.path().join("metadata.sqlite")).unwrap();
    run(&meta, &cas, "Squares", "20261128T100000-aaaaa", 1);
    run(&meta, &cas, "Squares", "20261128T100000-bbbbb", 2);
    run(&meta, &cas, "Squares", "20261129T100000-ccccc", 3);
    run(&meta, &cas, "Other", "20261130T100000-ddddd", 4);
    let client = Client::open(dir.path()).unwrap();
    (dir, client)
}

fn not_found(err: ClientError) -> (Part, String, Vec<String>) {
    match err {
        ClientError::NotFound {
            part,
            name,
            choices,
            ..
        } => (part, name, choices),
        other => panic!("expected NotFound, got {other}"),
    }
}

#[test]
fn each_part_not_found_is_named_with_the_nearest_choices() {
    let (_dir, c) = setup();
    let (part, name, choices) = not_found(c.flow("Sqares").unwrap_err());
    assert_eq!(
        (part, name.as_str(), choices[0].as_str()),
        (Part::Flow, "Sqares", "Squares")
    );
    let (part, _, choices) = not_found(c.run("Squares/20261128T100000-aaaab").unwrap_err());
    assert_eq!(
        (part, choices[0].as_str()),
        (Part::Run, "20261128T100000-aaaaa")
    );
    let (part, _, choices) = not_found(c.step("Squares/latest/sqare").unwrap_err());
    assert_eq!((part, choices[0].as_str()), (Part::Step, "square"));
    let (part, _, choices) = not_found(c.task("Squares/latest/square/9").unwrap_err());
    assert_eq!((part, choices), (Part::Task, vec!["2".to_string()]));
    let (part, _, choices) = not_found(c.artifact("Squares/latest/square/2/totl").unwrap_err());
    assert_eq!(
        (part, choices),
        (
            Part::Artifact,
            vec!["total".to_string(), "totals".to_string()]
        )
    );
    // A task of another step is pointed to.
    let err = c.task("Squares/latest/square/1").unwrap_err().to_string();
    assert!(err.contains("task 1 is in step `start`"), "{err}");
    // A run of another flow is pointed to.
    let err = c
        .run("Squares/20261130T100000-ddddd")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("it is a run of flow `Other`: Other/20261130T100000-ddddd"),
        "{err}"
    );
}

#[test]
fn latest_and_unique_prefixes_name_runs() {
    let (_dir, c) = setup();
    assert_eq!(
        c.run("Squares/latest").unwrap().id(),
        "20261129T100000-ccccc"
    );
    // A bare run id, unique across flows.
    assert_eq!(c.run("20261130T100000-ddddd").unwrap().flow(), "Other");
    assert!(matches!(
        c.get("20261128T100000-aaaaa").unwrap(),
        Object::Run(_)
    ));
    assert!(matches!(
        c.run("2026").unwrap_err(),
        ClientError::WrongKind { .. }
    ));
    assert_eq!(
        c.run("Squares/20261129").unwrap().id(),
        "20261129T100000-ccccc"
    );
    let err = c.run("Squares/20261128").unwrap_err();
    assert!(
        matches!(&err, ClientError::AmbiguousRun { total: 2, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("20261128T100000-aaaaa"), "{err}");
    let flow = c.flow("Squares").unwrap();
    assert_eq!(flow.run_count().unwrap(), 3);
    assert_eq!(
        flow.latest_successful_run().unwrap().unwrap().id(),
        "20261129T100000-ccccc"
    );
    let page = c
        .runs(&RunFilter {
            limit: Some(2),
            offset: 1,
            ..RunFilter::default()
        })
        .unwrap();
    let ids: Vec<&str> = page.iter().map(|r| r.id()).collect();
    assert_eq!(ids, ["20261129T100000-ccccc", "20261128T100000-bbbbb"]);
}

#[test]
fn objects_by_kind_and_their_contents() {
    let (_dir, c) = setup();
    assert!(matches!(c.get("Squares").unwrap(), Object::Flow(_)));
    assert!(matches!(
        c.get("Squares/latest/end").unwrap(),
        Object::Step(_)
    ));
    let run = c.run("Squares/latest").unwrap();
    let steps: Vec<(String, Option<Status>, u64)> = run
        .steps()
        .unwrap()
        .iter()
        .map(|s| (s.name().to_string(), s.status(), s.stats().tasks))
        .collect();
    assert_eq!(
        steps,
        [
            ("start".to_string(), Some(Status::Succeeded), 1),
            ("square".to_string(), Some(Status::Succeeded), 1),
            ("end".to_string(), None, 0)
        ]
    );
    let end = c.step("Squares/latest/end").unwrap();
    let err = end.task().unwrap_err().to_string();
    assert!(err.contains("has no tasks"), "{err}");
    let task = c.task("Squares/latest/square/2").unwrap();
    let names: Vec<String> = task
        .artifacts()
        .unwrap()
        .iter()
        .map(|a| a.name().to_string())
        .collect();
    assert_eq!(names, ["total", "totals"]);
    let total = task.artifact("total").unwrap();
    assert_eq!(
        (total.value().unwrap(), total.info().inline),
        (serde_json::json!(55), true)
    );
    assert_eq!(
        task.artifact("totals").unwrap().bytes().unwrap(),
        b"raw bytes"
    );
    let err = c.task("Squares/latest/square").unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::WrongKind {
                found: Part::Step,
                expected: Part::Task,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.is_bad_input());
}
