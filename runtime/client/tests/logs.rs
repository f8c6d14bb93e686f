//! Logs through the client: stored and live, and following a task while it runs, across a retry,
//! until it ends or its process is gone. The records are written as the scheduler writes them,
//! the live files where the engine writes them.

use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use wflow_client::{
    Client, FollowEnd, FollowEvent, FollowOptions, LogSource, RunLock, Status, Stream,
    live_log_path,
};
use wflow_core::Digest;
use wflow_metadata::{Event, Metadata};
use wflow_store::{Cas, LocalDisk};

const RUN: &str = "20261128T182550-k3f9a";

struct Store {
    dir: tempfile::TempDir,
    meta: Arc<Metadata>,
    cas: Cas,
}

impl Store {
    fn new() -> Store {
        let dir = tempfile::tempdir().unwrap();
        let cas = Cas::new(Arc::new(LocalDisk::open(dir.path()).unwrap()));
        let meta = Arc::new(Metadata::open(&dir.path().join("metadata.sqlite")).unwrap());
        meta.record(&[
            Event::RunStarted {
                run_id: RUN.into(),
                flow: "Logs".into(),
                component: Digest::of(b"c"),
                params: serde_json::json!({}),
                spec: serde_json::json!({}),
                started_ms: 0,
                origin_run: None,
                user: "ada".into(),
                kind: Default::default(),
            },
            Event::TaskStarted {
                run_id: RUN.into(),
                task_id: 1,
                step: "start".into(),
                foreach_path: vec![],
                inputs: vec![],
                started_ms: 0,
            },
        ])
        .unwrap();
        Store { dir, meta, cas }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn client(&self) -> Client {
        Client::open(self.root()).unwrap()
    }

    fn start_attempt(&self, attempt: u32) {
        self.meta
            .record(&[Event::AttemptStarted {
                run_id: RUN.into(),
                task_id: 1,
                attempt,
                started_ms: 1,
            }])
            .unwrap();
    }

    fn live(&self, attempt: u32, stream: Stream, text: &str) {
        use std::io::Write;
        let path = live_log_path(self.root(), RUN, 1, attempt, stream);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }

    /// Ends an attempt as the scheduler does: the final log stored, recorded, the live file
    /// removed.
    fn finish_attempt(&self, attempt: u32, status: Status, stdout: &str) {
        let digest = self.cas.put(stdout.as_bytes()).unwrap();
        self.meta
            .record(&[Event::AttemptFinished {
                run_id: RUN.into(),
                task_id: 1,
                attempt,
                status,
                started_ms: None,
                finished_ms: 2,
                error: (status == Status::Failed).then(|| "it broke".into()),
                stdout: Some(digest),
                stderr: None,
            }])
            .unwrap();
        let _ = std::fs::remove_file(live_log_path(self.root(), RUN, 1, attempt, Stream::Stdout));
    }

    fn finish_task(&self) {
        self.meta
            .record(&[
                Event::TaskFinished {
                    run_id: RUN.into(),
                    task_id: 1,
                    status: Status::Succeeded,
                    finished_ms: 3,
                    manifest: None,
                },
                Event::RunFinished {
                    run_id: RUN.into(),
                    status: Status::Succeeded,
                    finished_ms: 4,
                    error: None,
                },
            ])
            .unwrap();
    }
}

fn task_path() -> String {
    format!("Logs/{RUN}/start/1")
}

#[test]
fn logs_come_from_the_live_file_while_running_then_from_the_store() {
    let s = Store::new();
    s.start_attempt(0);
    let client = s.client();
    let task = client.task(&task_path()).unwrap();
    let logs = task.logs(None).unwrap();
    assert_eq!(
        (logs.stdout.source, logs.stdout.bytes.len()),
        (LogSource::Empty, 0),
        "nothing written yet"
    );
    s.live(0, Stream::Stdout, "half way\n");
    s.live(0, Stream::Stderr, "a warning\n");
    let logs = task.logs(Some(0)).unwrap();
    assert_eq!(logs.stdout.source, LogSource::Live);
    assert_eq!(logs.stdout.bytes, b"half way\n");
    assert_eq!(logs.get(Stream::Stderr).bytes, b"a warning\n");
    s.finish_attempt(0, Status::Succeeded, "half way\ndone\n");
    let logs = task.logs(None).unwrap();
    assert_eq!(
        (logs.stdout.source, logs.stdout.bytes.as_slice()),
        (LogSource::Stored, &b"half way\ndone\n"[..])
    );
    let err = task.logs(Some(4)).unwrap_err();
    assert!(err.to_string().contains("has no attempt 4"), "{err}");
}

#[test]
fn follow_streams_a_running_task_across_its_retry_until_it_ends() {
    let s = Arc::new(Store::new());
    let lock = RunLock::hold(s.root(), RUN).unwrap();
    s.start_attempt(0);
    s.live(0, Stream::Stdout, "a\n");
    let writer = {
        let s = s.clone();
        std::thread::spawn(move || {
            let pause = || std::thread::sleep(Duration::from_millis(60));
            pause();
            s.live(0, Stream::Stdout, "b\n");
            pause();
            s.finish_attempt(0, Status::Failed, "a\nb\n");
            pause();
            s.start_attempt(1);
            s.live(1, Stream::Stdout, "c\n");
            pause();
            // The stored log has what the live file had not yet shown.
            s.finish_attempt(1, Status::Succeeded, "c\nd\n");
            s.finish_task();
            drop(lock);
        })
    };
    let client = s.client();
    let task = client.task(&task_path()).unwrap();
    let options = FollowOptions {
        poll: Duration::from_millis(10),
        ..FollowOptions::default()
    };
    let mut seen: Vec<(u32, String)> = Vec::new();
    let mut attempts = Vec::new();
    let end = task
        .follow_logs(&options, |event| {
            match event {
                FollowEvent::Attempt(n) => attempts.push(n),
                FollowEvent::Output {
                    attempt,
                    stream,
                    bytes,
                } => {
                    assert_eq!(stream, Stream::Stdout);
                    seen.push((attempt, String::from_utf8(bytes.to_vec()).unwrap()));
                }
            }
            ControlFlow::Continue(())
        })
        .unwrap();
    writer.join().unwrap();
    assert_eq!(end, FollowEnd::Finished(Status::Succeeded));
    assert_eq!(attempts, [0, 1]);
    let text = |n: u32| {
        seen.iter()
            .filter(|(a, _)| *a == n)
            .map(|(_, t)| t.as_str())
            .collect::<String>()
    };
    assert_eq!(
        (text(0), text(1)),
        ("a\nb\n".to_string(), "c\nd\n".to_string())
    );
    assert!(
        seen.len() >= 3,
        "output came in pieces as it was written: {seen:?}"
    );
}

#[test]
fn follow_ends_when_the_process_of_the_run_is_gone() {
    let s = Store::new();
    s.start_attempt(0);
    s.live(0, Stream::Stdout, "last words\n");
    // A killed process leaves its lock file, unlocked.
    std::fs::write(wflow_client::run_lock_path(s.root(), RUN), "4242\n").unwrap();
    let client = s.client();
    let task = client.task(&task_path()).unwrap();
    let mut text = String::new();
    let end = task
        .follow_logs(&FollowOptions::default(), |event| {
            if let FollowEvent::Output { bytes, .. } = event {
                text.push_str(std::str::from_utf8(bytes).unwrap());
            }
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(end, FollowEnd::ProcessGone);
    assert_eq!(text, "last words\n");
    assert_eq!(
        client.run(&format!("Logs/{RUN}")).unwrap().liveness(),
        wflow_client::Liveness::Gone
    );
}

#[test]
fn follow_stops_when_asked() {
    let s = Store::new();
    let _lock = RunLock::hold(s.root(), RUN).unwrap();
    s.start_attempt(0);
    s.live(0, Stream::Stderr, "x\n");
    let client = s.client();
    let task = client.task(&task_path()).unwrap();
    let options = FollowOptions {
        streams: vec![Stream::Stderr],
        ..FollowOptions::default()
    };
    let end = task
        .follow_logs(&options, |event| match event {
            FollowEvent::Output { .. } => ControlFlow::Break(()),
            _ => ControlFlow::Continue(()),
        })
        .unwrap();
    assert_eq!(end, FollowEnd::Stopped);
}
