//! The service against a real PostgreSQL (a throwaway cluster: see `wflow_server::testing`),
//! through its own client, `HttpMetadata`, and raw HTTP for what the client never sends.

use std::time::Duration;

use wflow_core::Digest;
use wflow_metadata::{Event, MetadataError, MetadataStore, RunFilter, Status};
use wflow_server::testing::TestPostgres;
use wflow_server::wire::{PROTOCOL_HEADER, PROTOCOL_VERSION};
use wflow_server::{HttpMetadata, ServerConfig};

struct Service {
    url: String,
    db: String,
    rt: tokio::runtime::Runtime,
}

impl Service {
    fn start(timeout: Duration) -> Service {
        let db = TestPostgres::shared().new_database("svc");
        Self::on(db, timeout)
    }

    fn on(db: String, timeout: Duration) -> Service {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let config = ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            database: db.clone(),
            heartbeat_timeout: timeout,
            token_cache: ServerConfig::DEFAULT_TOKEN_CACHE,
            pool_size: 8,
        };
        rt.spawn(async move {
            let r = wflow_server::serve(
                config,
                move |addr, _| tx.send(addr).unwrap(),
                std::future::pending(),
            )
            .await;
            if let Err(e) = r {
                eprintln!("server: {e}");
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("server starts");
        Service {
            url: format!("http://{addr}"),
            db,
            rt,
        }
    }

    fn token(&self, user: &str, admin: bool) -> String {
        self.rt
            .block_on(wflow_server::create_token(&self.db, user, admin))
            .unwrap()
    }

    fn client(&self, user: &str, admin: bool) -> HttpMetadata {
        HttpMetadata::new(&self.url, Some(self.token(user, admin)))
    }
}

fn run_started(run_id: &str, flow: &str, t: i64) -> Event {
    Event::RunStarted {
        run_id: run_id.into(),
        flow: flow.into(),
        component: Digest::of(b"c"),
        params: serde_json::json!({"n": 3}),
        spec: serde_json::json!({"name": flow}),
        started_ms: t,
        origin_run: None,
        user: "whoever".into(),
        kind: Default::default(),
    }
}

fn task(run_id: &str, task_id: u64, t: i64) -> Vec<Event> {
    vec![
        Event::TaskStarted {
            run_id: run_id.into(),
            task_id,
            step: "start".into(),
            foreach_path: vec![task_id as u32],
            inputs: vec![],
            started_ms: t,
        },
        Event::AttemptStarted {
            run_id: run_id.into(),
            task_id,
            attempt: 0,
            started_ms: t,
        },
        Event::AttemptFinished {
            run_id: run_id.into(),
            task_id,
            attempt: 0,
            status: Status::Succeeded,
            started_ms: None,
            finished_ms: t + 1,
            error: None,
            stdout: Some(Digest::of(b"out")),
            stderr: None,
        },
        Event::TaskFinished {
            run_id: run_id.into(),
            task_id,
            status: Status::Succeeded,
            finished_ms: t + 1,
            manifest: Some(Digest::of(b"m")),
        },
    ]
}

#[test]
fn records_round_trip_with_the_same_errors_as_sqlite() {
    let svc = Service::start(Duration::from_secs(60));
    let ada = svc.client("ada", false);
    let mut events = vec![run_started("R1", "Hello", 1000)];
    for i in 1..=2500 {
        events.extend(task("R1", i, 1000 + i as i64));
    }
    events.push(Event::RunFinished {
        run_id: "R1".into(),
        status: Status::Succeeded,
        finished_ms: 9000,
        error: None,
    });
    ada.record(&events).unwrap();

    let run = ada.run("R1").unwrap().expect("recorded");
    assert_eq!(
        (run.flow.as_str(), run.status, run.user.as_str()),
        ("Hello", Status::Succeeded, "ada")
    );
    assert_eq!(run.params, serde_json::json!({"n": 3}));
    let tasks = ada.tasks("R1").unwrap();
    assert_eq!(tasks.len(), 2500, "every page read");
    assert!(tasks.windows(2).all(|w| w[0].task_id < w[1].task_id));
    let t = ada.task("R1", 7).unwrap().unwrap();
    assert_eq!(
        (t.attempts, t.foreach_path.clone(), t.manifest),
        (1, vec![7], Some(Digest::of(b"m")))
    );
    let a = ada.attempts("R1", 7).unwrap();
    assert_eq!((a.len(), a[0].stdout), (1, Some(Digest::of(b"out"))));
    assert!(ada.task("R1", 99_999).unwrap().is_none());
    assert!(ada.run("nope").unwrap().is_none());
    assert_eq!(ada.flows().unwrap(), ["Hello"]);
    assert_eq!(ada.step_stats("R1").unwrap()[0].tasks, 2500);

    // Unknown run: 404 naming it, and nothing of the batch written.
    let err = ada
        .record(&[
            run_started("R2", "Hello", 2000),
            task("nope", 1, 1).remove(0),
        ])
        .unwrap_err();
    assert!(
        matches!(&err, MetadataError::UnknownRun { run_id, .. } if run_id == "nope"),
        "{err}"
    );
    assert!(ada.run("R2").unwrap().is_none(), "all or nothing");
    // A start recorded twice: 409.
    let err = ada.record(&[run_started("R1", "Hello", 1)]).unwrap_err();
    assert!(
        matches!(&err, MetadataError::AlreadyRecorded { what, .. } if what.contains("R1")),
        "{err}"
    );
    let err = ada.record(&task("R1", 3, 1)[..1]).unwrap_err();
    assert!(
        matches!(err, MetadataError::AlreadyRecorded { .. }),
        "{err}"
    );
    // Unknown task and attempt.
    let err = ada.record(&task("R1", 99_999, 1)[1..2]).unwrap_err();
    assert!(
        matches!(
            err,
            MetadataError::UnknownTask {
                task_id: 99_999,
                ..
            }
        ),
        "{err}"
    );
    let err = ada
        .record(&[task("R1", 5, 1)[2].clone()].map(|e| match e {
            Event::AttemptFinished {
                run_id,
                task_id,
                status,
                finished_ms,
                ..
            } => Event::AttemptFinished {
                run_id,
                task_id,
                attempt: 4,
                status,
                started_ms: None,
                finished_ms,
                error: None,
                stdout: None,
                stderr: None,
            },
            e => e,
        }))
        .unwrap_err();
    assert!(
        matches!(err, MetadataError::UnknownAttempt { attempt: 4, .. }),
        "{err}"
    );
    // Skipping failures keeps the good events of a batch.
    let err = ada
        .record_skipping_failures(&[
            run_started("R3", "Other", 3000),
            task("ghost", 1, 1).remove(0),
        ])
        .unwrap_err();
    assert!(matches!(err, MetadataError::UnknownRun { .. }), "{err}");
    assert!(ada.run("R3").unwrap().is_some());

    // Tags: all or nothing, counted, validated.
    assert_eq!(ada.add_tags("R1", &["a".into(), "b".into()]).unwrap(), 2);
    assert_eq!(ada.add_tags("R1", &["a".into()]).unwrap(), 0);
    assert_eq!(ada.tags("R1").unwrap(), ["a", "b"]);
    assert!(matches!(
        ada.add_tags("R1", &["".into()]).unwrap_err(),
        MetadataError::InvalidTag { .. }
    ));
    assert!(matches!(
        ada.add_tags("zz", &["x".into()]).unwrap_err(),
        MetadataError::UnknownRun { .. }
    ));
    assert_eq!(ada.remove_tags("R1", &["a".into(), "q".into()]).unwrap(), 1);
    assert_eq!(ada.all_tags().unwrap(), [("b".to_string(), 1)]);
    let tagged = ada
        .find_runs(&RunFilter {
            tags: vec!["b".into()],
            ..RunFilter::default()
        })
        .unwrap();
    assert_eq!(tagged.len(), 1);
    assert_eq!(ada.count_runs(&RunFilter::default()).unwrap(), 2);
    assert_eq!(ada.latest_run("Other", None).unwrap().unwrap().run_id, "R3");
}

#[test]
fn namespaces_tokens_and_admins() {
    let svc = Service::start(Duration::from_secs(60));
    let ada = svc.client("ada", false);
    let bob = svc.client("bob", false);
    let root = svc.client("root", true);
    ada.record(&[run_started("A1", "F", 1)]).unwrap();
    bob.record(&[run_started("B1", "F", 2)]).unwrap();
    let ids = |m: &HttpMetadata, f: RunFilter| -> Vec<String> {
        m.find_runs(&f)
            .unwrap()
            .into_iter()
            .map(|r| r.run_id)
            .collect()
    };
    assert_eq!(
        ids(&ada, RunFilter::default()),
        ["A1"],
        "own namespace by default"
    );
    assert_eq!(ids(&bob, RunFilter::default()), ["B1"]);
    let all = RunFilter {
        all_users: true,
        ..RunFilter::default()
    };
    assert_eq!(ids(&root, all.clone()), ["B1", "A1"]);
    // Started at or after 2; before 2.
    let since = RunFilter {
        since_ms: Some(2),
        ..all.clone()
    };
    assert_eq!(ids(&root, since), ["B1"]);
    let until = RunFilter {
        until_ms: Some(2),
        ..all.clone()
    };
    assert_eq!(ids(&root, until), ["A1"]);
    let err = ada.find_runs(&all).unwrap_err();
    assert!(
        matches!(err, MetadataError::Denied { status: 403, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("administrator"), "{err}");
    // A run is still readable by id (pathspec), but not writable by another user.
    assert!(bob.run("A1").unwrap().is_some());
    let err = bob
        .record(&[Event::RunFinished {
            run_id: "A1".into(),
            status: Status::Failed,
            finished_ms: 5,
            error: None,
        }])
        .unwrap_err();
    assert!(
        matches!(err, MetadataError::Denied { status: 403, .. }),
        "{err}"
    );
    assert_eq!(
        ada.run("A1").unwrap().unwrap().status,
        Status::Running,
        "nothing written"
    );
    assert!(matches!(
        bob.add_tags("A1", &["x".into()]).unwrap_err(),
        MetadataError::Denied { .. }
    ));
    assert_eq!(root.add_tags("A1", &["x".into()]).unwrap(), 1);

    // No token, a wrong token: 401, nothing written.
    for m in [
        HttpMetadata::new(&svc.url, None),
        HttpMetadata::new(&svc.url, Some("wf_wrong".into())),
    ] {
        let err = m.record(&[run_started("X1", "F", 3)]).unwrap_err();
        assert!(
            matches!(err, MetadataError::Denied { status: 401, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("token"), "{err}");
    }
    assert!(root.run("X1").unwrap().is_none());
}

#[test]
fn protocol_version_mismatch_is_refused_clearly() {
    let svc = Service::start(Duration::from_secs(60));
    let token = svc.token("ada", false);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut resp = agent
        .get(&format!("{}/api/v1/runs", svc.url))
        .header(PROTOCOL_HEADER, (PROTOCOL_VERSION + 1).to_string())
        .header("authorization", format!("Bearer {token}"))
        .call()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let body = resp.body_mut().read_to_string().unwrap();
    assert!(
        body.contains("protocol_version") && body.contains("upgrade the server"),
        "{body}"
    );
    let mut resp = agent
        .get(&format!("{}/api/v1/runs", svc.url))
        .call()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    assert!(
        resp.body_mut()
            .read_to_string()
            .unwrap()
            .contains("wflow-protocol")
    );
    // Malformed JSON: 400 saying so.
    let mut resp = agent
        .post(&format!("{}/api/v1/events", svc.url))
        .header(PROTOCOL_HEADER, PROTOCOL_VERSION.to_string())
        .header("authorization", format!("Bearer {token}"))
        .send("{\"events\": [")
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    assert!(
        resp.body_mut()
            .read_to_string()
            .unwrap()
            .contains("malformed JSON")
    );
    // Health, metrics, spec need no header.
    assert_eq!(
        agent
            .get(&format!("{}/healthz", svc.url))
            .call()
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    let metrics = agent
        .get(&format!("{}/metrics", svc.url))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    assert!(
        metrics.contains(
            "wflow_http_requests_total{method=\"GET\",route=\"/api/v1/runs\",status=\"400\"}"
        ),
        "{metrics}"
    );
    let spec: serde_json::Value = agent
        .get(&format!("{}/openapi.json", svc.url))
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    assert_eq!(spec["openapi"], "3.0.3");
}

#[test]
fn a_run_whose_driver_went_quiet_is_marked_failed() {
    let svc = Service::start(Duration::from_millis(1500));
    let ada = svc.client("ada", false);
    let mut events = vec![run_started("Q1", "F", 1)];
    events.extend(task("Q1", 1, 1)[..2].to_vec());
    ada.record(&events).unwrap();
    // A driver that keeps sending heartbeats keeps its run running.
    let live = HttpMetadata::new(&svc.url, Some(svc.token("bob", false)))
        .heartbeat_every(Duration::from_millis(300));
    live.record(&[run_started("L1", "F", 1)]).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let run = ada.run("Q1").unwrap().unwrap();
        // `ada` sends heartbeats every 10 s: longer than the timeout, so the run is reaped.
        if run.status == Status::Failed {
            assert!(
                run.error
                    .as_deref()
                    .unwrap()
                    .contains("driver of this run disappeared"),
                "{run:?}"
            );
            let t = ada.task("Q1", 1).unwrap().unwrap();
            assert_eq!(t.status, Status::Failed);
            assert_eq!(ada.attempts("Q1", 1).unwrap()[0].status, Status::Failed);
            std::thread::sleep(Duration::from_millis(1600));
            assert_eq!(
                live.run("L1").unwrap().unwrap().status,
                Status::Running,
                "heartbeats keep it"
            );
            live.record(&[Event::RunFinished {
                run_id: "L1".into(),
                status: Status::Succeeded,
                finished_ms: 9,
                error: None,
            }])
            .unwrap();
            assert_eq!(live.run("L1").unwrap().unwrap().status, Status::Succeeded);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never reaped: {run:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn migrates_an_empty_database_and_refuses_a_newer_one() {
    let pg = TestPostgres::shared();
    let db = pg.new_database("mig");
    let name = db.rsplit('/').next().unwrap().to_string();
    let svc = Service::on(db.clone(), Duration::from_secs(60));
    let version = pg.psql(&name, "SELECT version FROM schema_version");
    assert_eq!(
        version.trim(),
        wflow_server::schema::SCHEMA_VERSION.to_string()
    );
    // A second start migrates nothing and keeps the records.
    let ada = svc.client("ada", false);
    ada.record(&[run_started("M1", "F", 1)]).unwrap();
    drop(svc);
    let svc = Service::on(db.clone(), Duration::from_secs(60));
    assert!(svc.client("ada", false).run("M1").unwrap().is_some());
    drop(svc);
    // A database of version 7 (no status, start or attempts index) gets them, records kept.
    let v8 = "tasks_by_status, tasks_by_started, tasks_by_attempts";
    pg.psql(
        &name,
        &format!("DROP INDEX {v8}; UPDATE schema_version SET version = 7"),
    );
    let svc = Service::on(db.clone(), Duration::from_secs(60));
    assert!(svc.client("ada", false).run("M1").unwrap().is_some());
    let n = pg.psql(
        &name,
        "SELECT count(*) FROM pg_indexes WHERE indexname LIKE 'tasks_by_%'",
    );
    assert_eq!(n.trim(), "6", "{v8}, by step, item key, duration");
    drop(svc);
    // A database of a newer server is refused, untouched.
    pg.psql(&name, "UPDATE schema_version SET version = 999");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let err = rt
        .block_on(wflow_server::open_database(&db, 2))
        .map(|_| ())
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("999") && msg.contains("newer"), "{msg}");
}

#[test]
fn a_database_that_is_down_gives_a_clear_error_and_writes_nothing() {
    let pg = TestPostgres::start();
    let db = pg.new_database("down");
    let svc = Service::on(db, Duration::from_secs(60));
    let ada = svc.client("ada", false);
    ada.record(&[run_started("D1", "F", 1)]).unwrap();
    pg.stop();
    // SAFETY-free: retries are read from the environment per client; keep them few here.
    let err = ada.record(&[run_started("D2", "F", 2)]).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, MetadataError::Unavailable { .. }), "{msg}");
    assert!(
        msg.contains("database") && msg.contains("unreachable"),
        "{msg}"
    );
    pg.resume();
    // The pool reconnects; D2 was never written.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        match ada.run("D2") {
            Ok(r) => {
                assert!(r.is_none());
                break;
            }
            Err(e) => assert!(std::time::Instant::now() < deadline, "{e}"),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(ada.run("D1").unwrap().is_some());
}

#[test]
fn a_service_that_is_not_there_is_a_clear_client_error() {
    let port = wflow_server::testing::free_port();
    let m = HttpMetadata::new(&format!("http://127.0.0.1:{port}"), Some("t".into()));
    let err = m.runs(None).unwrap_err().to_string();
    assert!(err.contains("cannot reach the metadata service"), "{err}");
}

/// Two users race to start the same run id, each batch also finishing the run (the loser's with
/// `skip_failures`, so a refused start does not stop the rest): whoever wins, the run holds only
/// the winner's records.
#[test]
fn a_run_id_raced_by_two_users_keeps_only_its_owners_records() {
    let svc = Service::start(Duration::from_secs(60));
    let (ada, bob, root) = (
        svc.client("ada", false),
        svc.client("bob", false),
        svc.client("root", true),
    );
    let batch = |user: &str, run: &str| -> Vec<Event> {
        let mut events = vec![run_started(run, &format!("{user}_flow"), 1)];
        let mut t = task(run, 1, 2);
        if let Event::TaskStarted { step, .. } = &mut t[0] {
            *step = format!("{user}_step");
        }
        events.extend(t);
        events.push(Event::RunFinished {
            run_id: run.into(),
            status: if user == "ada" {
                Status::Succeeded
            } else {
                Status::Failed
            },
            finished_ms: 9,
            error: Some(format!("{user}'s own end")),
        });
        events
    };
    let mut wins = [0, 0];
    for round in 0..300 {
        let run = format!("race-{round}");
        let go = std::sync::Barrier::new(2);
        std::thread::scope(|s| {
            for (m, user) in [(&ada, "ada"), (&bob, "bob")] {
                let (events, go) = (batch(user, &run), &go);
                s.spawn(move || {
                    go.wait();
                    // The loser's batch fails (403 or 409); the winner's succeeds.
                    let _ = m.record_skipping_failures(&events);
                });
            }
        });
        let r = root.run(&run).unwrap().expect("one of them started it");
        let owner = r.user.clone();
        wins[usize::from(owner == "bob")] += 1;
        assert_eq!(
            (r.flow.clone(), r.error.clone()),
            (format!("{owner}_flow"), Some(format!("{owner}'s own end"))),
            "round {round}: {r:?}"
        );
        assert_eq!(
            r.status,
            if owner == "ada" {
                Status::Succeeded
            } else {
                Status::Failed
            },
            "round {round}: {r:?}"
        );
        let tasks = root.tasks(&run).unwrap();
        assert_eq!(tasks.len(), 1, "round {round}: {tasks:?}");
        assert_eq!(tasks[0].step, format!("{owner}_step"), "round {round}");
        assert_eq!(tasks[0].attempts, 1, "round {round}: {tasks:?}");
    }
    eprintln!("wins (ada, bob): {wins:?}");
}

/// Run ids and flow names are checked with the rule every backend uses: an empty id, a path, an
/// escape sequence or 5,000 characters are refused (400), and nothing of the batch is recorded.
#[test]
fn run_ids_and_flow_names_follow_the_shared_rule() {
    let svc = Service::start(Duration::from_secs(60));
    let ada = svc.client("ada", false);
    let long = "x".repeat(5000);
    for (run, flow) in [
        ("", "F"),
        ("../../etc", "F"),
        (long.as_str(), "F"),
        ("R1", "\u{1b}]0;owned\u{7}"),
        ("R1", "../x"),
    ] {
        let err = ada
            .record(&[run_started(run, flow, 1), task("R1", 1, 1).remove(0)])
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("is invalid") && msg.contains("event 0"),
            "{run:?} {flow:?}: {msg}"
        );
        assert!(
            !msg.contains('\u{1b}'),
            "the error escapes what it shows: {msg}"
        );
    }
    assert!(ada.run("R1").unwrap().is_none(), "nothing recorded");
    ada.record(&[run_started("R1", "F", 1)]).unwrap();
}

#[test]
fn a_steps_tasks_page_in_any_order_as_sqlite_gives_it() {
    use wflow_metadata::{Metadata, TaskQuery, TaskSort};
    let svc = Service::start(Duration::from_secs(60));
    let ada = svc.client("ada", false);
    // 40 tasks of `work` in a nested foreach (paths repeat: ties go by id) with varied starts,
    // durations, attempts and statuses (some running), and one task of another step.
    let mut events = vec![run_started("R1", "Fan", 1000)];
    events.extend(task("R1", 1, 1000));
    for i in 0..40u64 {
        let id = 2 + i;
        events.push(Event::TaskStarted {
            run_id: "R1".into(),
            task_id: id,
            step: "work".into(),
            foreach_path: vec![(i * 7 % 5) as u32, (i * 13 % 11) as u32],
            inputs: vec![1],
            started_ms: 5_000 + (i * 37 % 17) as i64,
        });
        for a in 0..(i % 3) as u32 {
            events.push(Event::AttemptStarted {
                run_id: "R1".into(),
                task_id: id,
                attempt: a,
                started_ms: 5_000,
            });
        }
        let status = match i % 6 {
            0 => continue,
            1 => Status::Failed,
            _ => Status::Succeeded,
        };
        events.push(Event::TaskFinished {
            run_id: "R1".into(),
            task_id: id,
            status,
            finished_ms: 6_000 + (i * 11 % 23) as i64,
            manifest: None,
        });
    }
    // A task's first attempt reports a later real start: the task that was the step's first to
    // start gives that up (the summary is derived again from the step's tasks).
    events.push(Event::AttemptFinished {
        run_id: "R1".into(),
        task_id: 19,
        attempt: 0,
        status: Status::Failed,
        started_ms: Some(5_300),
        finished_ms: 5_400,
        error: None,
        stdout: None,
        stderr: None,
    });
    // In batches that cut tasks apart, as a recorder does: the summaries kept by the service
    // are what SQLite keeps (and what the tasks add up to), and so are pages in the orders whose
    // keys change as tasks run (status, start, attempts), read from both ends.
    let ids =
        |t: Vec<wflow_metadata::TaskRecord>| t.into_iter().map(|t| t.task_id).collect::<Vec<_>>();
    let sqlite = Metadata::open_in_memory().unwrap();
    for batch in events.chunks(13) {
        ada.record(batch).unwrap();
        sqlite.record(batch).unwrap();
        assert_eq!(
            ada.step_stats("R1").unwrap(),
            sqlite.step_stats("R1").unwrap()
        );
        for sort in [TaskSort::Status, TaskSort::Started, TaskSort::Attempts] {
            for (desc, offset) in [(false, 3), (true, 30)] {
                let q = TaskQuery {
                    sort,
                    desc,
                    limit: Some(7),
                    offset,
                    status: None,
                };
                let want = ids(MetadataStore::step_tasks(&sqlite, "R1", "work", &q).unwrap());
                let got = ids(ada.step_tasks("R1", "work", &q).unwrap());
                assert_eq!(got, want, "{q:?}");
            }
        }
    }
    let work = ada.step_stats("R1").unwrap();
    assert_eq!(
        (work[1].step.as_str(), work[1].tasks, work[1].running),
        ("work", 40, 7)
    );
    for sort in TaskSort::ALL {
        for desc in [false, true] {
            for status in [None, Some(Status::Running), Some(Status::Succeeded)] {
                for (limit, offset) in [(None, 0), (Some(7), 5), (Some(100), 38)] {
                    let q = TaskQuery {
                        status,
                        sort,
                        desc,
                        limit,
                        offset,
                    };
                    let want = ids(MetadataStore::step_tasks(&sqlite, "R1", "work", &q).unwrap());
                    assert_eq!(
                        ids(ada.step_tasks("R1", "work", &q).unwrap()),
                        want,
                        "{q:?}"
                    );
                }
            }
        }
    }
    // The task of a foreach item: the same as SQLite's, one request.
    for path in [[0u32, 0], [1, 2], [4, 10], [9, 9]] {
        assert_eq!(
            ada.task_of_item("R1", "work", &path)
                .unwrap()
                .map(|t| t.task_id),
            sqlite
                .task_of_item("R1", "work", &path)
                .unwrap()
                .map(|t| t.task_id),
            "{path:?}"
        );
    }
    assert!(ada.task_of_item("R1", "work", &[1, 2]).unwrap().is_some());
    assert!(ada.task_of_item("nope", "work", &[1, 2]).unwrap().is_none());
    // Bad paging requests are refused, naming the problem.
    let base = format!("{}/api/v1/runs/R1/tasks", svc.url);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let token = svc.token("ada", false);
    for (q, says) in [
        ("step=work&sort=speed", "`speed` is not a task order"),
        ("sort=item", "page the tasks of one `step`"),
        ("step=work&offset=3&after=2", "not both"),
        ("step=work&item=7", "`item` must be a foreach item's path"),
        ("item=[7]", "a task of one `step`"),
        ("step=work&item=[7]&sort=item", "finds one task"),
    ] {
        let mut r = agent
            .get(&format!("{base}?{q}"))
            .header("Authorization", &format!("Bearer {token}"))
            .header(PROTOCOL_HEADER, PROTOCOL_VERSION.to_string())
            .call()
            .unwrap();
        assert_eq!(r.status().as_u16(), 400, "{q}");
        let body = r.body_mut().read_to_string().unwrap();
        assert!(body.contains(says), "{q}: {body}");
    }
}
