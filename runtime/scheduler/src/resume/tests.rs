//! Planning resumes: what runs again, per step, with and without --strict.

use std::collections::BTreeMap;
use std::sync::Arc;

use wflow_core::{
    Digest, FlowSpec, ParamError, ParamSpec, ParamType, ParamValue, StepSpec, Transition,
};
use wflow_engine::Value;
use wflow_graph::Plan;
use wflow_metadata::{Recorder, RunRecord, Status, TaskRecord};
use wflow_store::Cas;

use super::*;

fn plan() -> Plan {
    let next = |to: &[&str]| Transition::Next(to.iter().map(|s| s.to_string()).collect());
    let mut join = StepSpec::new("join", next(&["end"]));
    join.join = true;
    let spec = FlowSpec {
        name: "F".into(),
        doc: String::new(),
        parameters: vec![
            ParamSpec {
                name: "n".into(),
                ty: ParamType::Int,
                default: Some("3".into()),
                help: String::new(),
            },
            ParamSpec {
                name: "j".into(),
                ty: ParamType::Json,
                default: None,
                help: String::new(),
            },
        ],
        steps: vec![
            StepSpec::new("start", next(&["a", "b"])),
            StepSpec::new("a", next(&["join"])),
            StepSpec::new("b", next(&["join"])),
            join,
            StepSpec::new("end", Transition::End),
        ],
    };
    wflow_graph::validate(&spec).unwrap()
}

fn run(status: Status) -> RunRecord {
    RunRecord {
        run_id: "R".into(),
        flow: "F".into(),
        component: Digest::of(b"c"),
        params: serde_json::json!({ "n": 5, "j": { "k": [1] } }),
        spec: serde_json::json!({}),
        status,
        started_ms: 0,
        finished_ms: None,
        error: None,
        origin_run: None,
        user: "ada".into(),
        kind: Default::default(),
    }
}

fn task(id: u64, step: &str, status: Status) -> TaskRecord {
    TaskRecord {
        run_id: "R".into(),
        task_id: id,
        step: step.into(),
        foreach_path: vec![],
        inputs: vec![],
        status,
        started_ms: 0,
        finished_ms: None,
        manifest: (status == Status::Succeeded).then(|| Digest::of(step.as_bytes())),
        manifest_bytes: None,
        attempts: 1,
        origin_run: None,
        origin_task: None,
        foreach_items: None,
        component: None,
        cached: false,
        caught: false,
    }
}

fn steps() -> Vec<String> {
    plan().steps_in_order().to_vec()
}

fn how(from: Option<&str>, force: bool, strict: bool) -> ResumeHow {
    ResumeHow {
        from: from.map(str::to_string),
        force,
        strict,
    }
}

/// Plans a resume of `origin` (ran with component `c`) with `code`.
fn resume(
    origin: RunRecord,
    tasks: Vec<TaskRecord>,
    code: &Code,
    how: &ResumeHow,
) -> Result<Resume, ResumeError> {
    let c = Code::single(Digest::of(b"c"), &steps());
    Resume::plan(origin, tasks, plan(), code, c, how)
}

#[test]
fn what_runs_again() {
    let c = Code::single(Digest::of(b"c"), &steps());
    let tasks = vec![
        task(1, "start", Status::Succeeded),
        task(2, "a", Status::Failed),
        task(3, "b", Status::Succeeded),
    ];
    let r = resume(
        run(Status::Failed),
        tasks.clone(),
        &c,
        &how(None, false, false),
    )
    .unwrap();
    assert_eq!(r.report().failed_steps, ["a"]);
    assert_eq!(r.report().rerun_steps, ["join", "end"]);
    assert!(r.report().code_changed.is_none() && r.report().changed_steps.is_empty());
    assert_eq!(
        (
            r.report().reusing_steps.as_slice(),
            r.report().reusing_tasks
        ),
        (["start", "a", "b"].map(String::from).as_slice(), 2)
    );
    let from_b = how(Some("b"), false, false);
    let r = resume(run(Status::Succeeded), tasks.clone(), &c, &from_b).unwrap();
    assert_eq!(r.report().rerun_steps, ["b", "join", "end"]);

    // A code fix: the steps before the failed one are reused whatever the code; the failed
    // step runs whole (its code changed), and everything after it.
    let other = Code::single(Digest::of(b"other"), &steps());
    let r = resume(
        run(Status::Failed),
        tasks.clone(),
        &other,
        &how(None, false, false),
    )
    .unwrap();
    assert_eq!(r.report().rerun_steps, ["a", "join", "end"]);
    assert_eq!(r.report().changed_steps, steps());
    assert_eq!(r.report().code_changed, Some((c.digest, other.digest)));
    assert_eq!(r.report().reusing_steps, ["start", "b"]);
    assert_eq!(r.report().reusing_code, [c.digest]);
    // --strict: nothing of the changed code is reused.
    let r = resume(
        run(Status::Failed),
        tasks.clone(),
        &other,
        &how(None, false, true),
    )
    .unwrap();
    assert_eq!(
        r.report().rerun_steps,
        steps(),
        "a new component runs everything"
    );
    assert!(r.report().reusing_steps.is_empty() && r.report().strict);
}

#[test]
fn each_step_counts_its_own_component() {
    let c = Code::single(Digest::of(b"c"), &steps());
    // Only `b`'s component changed (a polyglot flow whose one language was edited).
    let mut edited = c.clone();
    edited.digest = Digest::of(b"record");
    edited.steps.insert("b".into(), Digest::of(b"python"));
    let tasks = vec![
        task(1, "start", Status::Succeeded),
        task(2, "a", Status::Succeeded),
        task(3, "b", Status::Succeeded),
        task(4, "join", Status::Failed),
    ];
    let r = resume(
        run(Status::Failed),
        tasks.clone(),
        &edited,
        &how(None, false, true),
    )
    .unwrap();
    assert_eq!(r.report().changed_steps, ["b"]);
    assert_eq!(
        r.report().rerun_steps,
        ["b", "join", "end"],
        "strict: the changed step and what follows it; `start` and `a` are reused"
    );
    assert_eq!(r.report().reusing_steps, ["start", "a"]);
    let r = resume(
        run(Status::Failed),
        tasks,
        &edited,
        &how(None, false, false),
    )
    .unwrap();
    // Without --strict: the failed join's tasks run again (its code did not change), then `end`.
    assert_eq!(r.report().rerun_steps, ["end"]);
    assert_eq!(r.report().failed_steps, ["join"]);
}

#[test]
fn bad_requests() {
    let c = Code::single(Digest::of(b"c"), &steps());
    let err = |r: Result<Resume, ResumeError>| r.unwrap_err().to_string();
    let plain = how(None, false, false);
    let e = err(resume(run(Status::Succeeded), vec![], &c, &plain));
    assert!(e.contains("succeeded") && e.contains("--from"), "{e}");
    let e = err(resume(run(Status::Running), vec![], &c, &plain));
    assert!(e.contains("still running") && e.contains("--force"), "{e}");
    assert!(resume(run(Status::Running), vec![], &c, &how(None, true, false)).is_ok());
    let e = err(resume(
        run(Status::Failed),
        vec![],
        &c,
        &how(Some("jion"), false, false),
    ));
    assert!(
        e.contains("no step `jion`") && e.contains("start, a, b, join, end"),
        "{e}"
    );
    let mut other = run(Status::Failed);
    other.flow = "G".into();
    let e = err(resume(other, vec![], &c, &plain));
    assert!(e.contains("flow `F`") && e.contains("flow `G`"), "{e}");
}

#[test]
fn parameters_are_the_origins_unless_given() {
    let spec = plan().spec().clone();
    let origin = run(Status::Failed).params;
    let p = resume_params(&spec, &origin, &[]).unwrap();
    assert_eq!(p["n"], ParamValue::Int(5));
    assert_eq!(
        p["j"],
        ParamValue::Json(serde_json::json!({ "k": [1] })),
        "typed by the spec"
    );
    let p = resume_params(&spec, &origin, &[("n".into(), "7".into())]).unwrap();
    assert_eq!(p["n"], ParamValue::Int(7));
    let e = resume_params(&spec, &origin, &[("m".into(), "7".into())]).unwrap_err();
    assert!(matches!(e, ParamError::Unknown { .. }), "{e}");
    // A parameter the origin did not have takes its default; a required one must be given.
    let p = resume_params(&spec, &serde_json::json!({ "j": 1 }), &[]).unwrap();
    assert_eq!(p["n"], ParamValue::Int(3));
    let e = resume_params(&spec, &serde_json::json!({}), &[]).unwrap_err();
    assert!(matches!(e, ParamError::Missing { .. }), "{e}");
}

#[test]
fn foreach_items_round_trip_through_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let cas = Cas::new(Arc::new(wflow_store::LocalDisk::open(dir.path()).unwrap()));
    let meta = Arc::new(wflow_metadata::Metadata::open_in_memory().unwrap());
    let recorder = Recorder::new(meta);
    let items = vec![
        Value {
            codec: "cbor".into(),
            bytes: vec![1, 2],
        },
        Value {
            codec: "raw".into(),
            bytes: vec![],
        },
    ];
    record_items(&cas, &recorder, "R", 1, Some(&items));
    let bytes = {
        let list = ciborium::Value::Array(
            items
                .iter()
                .map(|v| {
                    ciborium::Value::Array(vec![
                        v.codec.as_str().into(),
                        ciborium::Value::Bytes(v.bytes.clone()),
                    ])
                })
                .collect(),
        );
        let mut out = Vec::new();
        ciborium::into_writer(&list, &mut out).unwrap();
        out
    };
    let digest = Digest::of(&bytes);
    assert_eq!(read_items(&cas, &digest).unwrap(), items);
    // One item alone (a step-run's): the others are left empty.
    let one = items::read_items_of(&cas, &digest, Some(0)).unwrap();
    assert_eq!(one.len(), items.len());
    assert_eq!(one[0], items[0]);
    assert!(
        one[1..]
            .iter()
            .all(|v| v.codec.is_empty() && v.bytes.is_empty())
    );
    let past = items::read_items_of(&cas, &digest, Some(items.len() as u32)).unwrap_err();
    assert!(past.contains("has no item"), "{past}");
    let junk = cas.put(b"\x01").unwrap();
    assert!(
        read_items(&cas, &junk)
            .unwrap_err()
            .contains("not a list of foreach items")
    );
}

/// A blob the reused tasks share is refreshed once, not once per task; inline values never.
#[test]
fn each_blob_a_resume_relies_on_is_refreshed_once() {
    let blob = |d: &[u8]| wflow_store::ArtifactRef {
        digest: Digest::of(d),
        size: 10_000,
        codec: "cbor".into(),
        inline: None,
    };
    let shared = BTreeMap::from([
        ("nums".to_string(), blob(b"nums")),
        (
            "n".to_string(),
            wflow_store::ArtifactRef {
                inline: Some(vec![1]),
                ..blob(b"n")
            },
        ),
    ]);
    let mut own = shared.clone();
    own.insert("big".into(), blob(b"big"));
    // Their manifests are in the records (no blob of their own).
    let in_records = |id, step| TaskRecord {
        manifest_bytes: Some(vec![]),
        ..task(id, step, Status::Succeeded)
    };
    let mut items = in_records(1, "start");
    items.foreach_items = Some(Digest::of(b"items"));
    let mut refresh = reuse::Refreshed::default();
    assert_eq!(
        refresh.due(&items, &shared),
        vec![Digest::of(b"nums"), Digest::of(b"items")]
    );
    let item = in_records(2, "a");
    assert_eq!(refresh.due(&item, &own), vec![Digest::of(b"big")]);
    assert!(refresh.due(&item, &own).is_empty());
    // A manifest kept as a blob is one of them.
    let as_blob = task(4, "b", Status::Succeeded);
    assert_eq!(refresh.due(&as_blob, &shared), vec![Digest::of(b"b")]);
}

/// A reused task's artifacts over its input's are exactly the flat map it was recorded with.
#[test]
fn reused_artifacts_over_the_input_are_the_recorded_ones() {
    let a = |d: &[u8]| wflow_store::ArtifactRef {
        digest: Digest::of(d),
        size: d.len() as u64,
        codec: "cbor".into(),
        inline: Some(d.to_vec()),
    };
    let base: BTreeMap<String, _> = [("n", a(b"1")), ("nums", a(b"2")), ("x", a(b"3"))]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    let input = |m: &BTreeMap<String, wflow_store::ArtifactRef>| {
        vec![(
            1,
            wflow_engine::InputArtifacts {
                step: "start".into(),
                artifacts: m.clone().into(),
            },
        )]
    };
    let mut all = base.clone();
    all.insert("value".into(), a(b"4"));
    all.insert("x".into(), a(b"5"));
    let over = reuse::over_input(&input(&base), all.clone());
    assert_eq!(over.to_map(), all);
    assert!(over.depth() > 1, "a node over the input's");
    // A name the input has and the task does not: kept flat, still the same.
    let mut fewer = all.clone();
    fewer.remove("n");
    assert_eq!(
        reuse::over_input(&input(&base), fewer.clone()).to_map(),
        fewer
    );
    // A join's (several inputs): flat.
    let mut two = input(&base);
    two.extend(input(&base));
    assert_eq!(reuse::over_input(&two, all.clone()).to_map(), all);
}
