//! `logs`: stored and live logs, `--follow`, a task killed mid-way, a killed run's live log.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{fails, json_of, text_of};
use crate::util::{Env, guest, stderr};

#[test]
pub(crate) fn logs_of_a_step_that_prints_then_traps_keep_the_printed_lines() {
    let env = Env::new();
    let g = guest("test-program-faulty");
    let out = env.wflow(&[
        "run",
        "--json",
        g.to_str().unwrap(),
        "-p",
        "mode=print-trap",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    let work = s["failure"]["pathspec"].as_str().unwrap().to_string();
    let stdout = text_of(&env, &["logs", "--stdout", &work]);
    assert_eq!(stdout, "progress 0\nprogress 1\nprogress 2\n");
    assert!(text_of(&env, &["logs", "--stderr", &work]).contains("about to trap"));
    let v = json_of(&env, &["logs", "--json", &work]);
    assert_eq!(
        (v["status"].as_str(), v["source"]["stdout"].as_str()),
        (Some("failed"), Some("stored"))
    );
    // A step with one task stands for it; --follow on a finished task prints it all and ends.
    let step = work.rsplit_once('/').unwrap().0.to_string();
    let out = env
        .command(&["logs", "--follow", "--stdout", &step])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "progress 0\nprogress 1\nprogress 2\n"
    );
    assert!(stderr(&out).contains("failed"), "{}", stderr(&out));
    fails(
        &env,
        &["logs", &work, "--attempt", "3"],
        2,
        &["no attempt 3", "one attempt"],
    );
}

/// Starts `Faulty` with `mode=loop` in the background and waits until `work` is recorded as
/// running; returns the child and the run's pathspec.
pub fn start_endless_run(env: &Env) -> (std::process::Child, String) {
    start_faulty_until_work_runs(env, "loop")
}

/// Starts `Faulty` with `mode` in the background and waits until `work` is recorded as running;
/// returns the child and the run's pathspec.
#[allow(clippy::zombie_processes)]
fn start_faulty_until_work_runs(env: &Env, mode: &str) -> (std::process::Child, String) {
    let g = guest("test-program-faulty");
    let child = env
        .command(&["run", g.to_str().unwrap(), "-p", &format!("mode={mode}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "the endless run did not start");
        let out = env.wflow(&["show", "--json", "Faulty/latest/work"]);
        if out.status.success() {
            let v: Value = serde_json::from_slice(&out.stdout).unwrap();
            if v["stats"]["running"] == 1 {
                let run = v["pathspec"]
                    .as_str()
                    .unwrap()
                    .rsplit_once('/')
                    .unwrap()
                    .0
                    .to_string();
                return (child, run);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn logs_follow_streams_a_live_task_and_ends_when_it_ends() {
    use std::io::BufRead;
    let env = Env::new();
    let (mut run_child, run) = start_faulty_until_work_runs(&env, "drip");
    let work = format!("{run}/work");
    let mut follow = env
        .command(&["logs", "--follow", "--stdout", &work])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(follow.stdout.take().unwrap()).lines();
    let first = lines.next().expect("a line").unwrap();
    assert_eq!(first, "drip 0");
    // The line came while the task was still running: it was followed, not read afterwards.
    let step = json_of(&env, &["show", "--json", &work]);
    assert_eq!(
        (
            step["stats"]["running"].as_u64(),
            step["stats"]["succeeded"].as_u64()
        ),
        (Some(1), Some(0)),
        "the task still runs after its first line was followed: {step}"
    );
    let logs = json_of(&env, &["logs", "--json", &format!("{work}/2")]);
    assert_eq!(
        (logs["status"].as_str(), logs["source"]["stdout"].as_str()),
        (Some("running"), Some("live"))
    );
    // The rest arrives as it is written; following ends by itself when the task ends.
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    let status = follow.wait().unwrap();
    assert!(status.success());
    let mut err = String::new();
    std::io::Read::read_to_string(&mut follow.stderr.take().unwrap(), &mut err).unwrap();
    assert!(err.contains("succeeded"), "{err}");
    let expected: Vec<String> = (1..20).map(|i| format!("drip {i}")).collect();
    assert_eq!(rest, expected);
    assert!(run_child.wait().unwrap().success());
    // Afterwards the same log comes from the store.
    let logs = json_of(&env, &["logs", "--json", &format!("{work}/2")]);
    assert_eq!(logs["source"]["stdout"], "stored");
    assert_eq!(
        logs["stdout"].as_str().unwrap().lines().count(),
        20,
        "{logs}"
    );
}

#[test]
fn a_task_killed_mid_way_keeps_the_lines_it_printed() {
    let env = Env::new();
    let (mut child, run) = start_faulty_until_work_runs(&env, "drip");
    let work = format!("{run}/work/2");
    // Wait for a few lines to be written, then kill the run's process (SIGKILL).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let v = json_of(&env, &["logs", "--json", "--stdout", &work]);
        if v["stdout"].as_str().unwrap().lines().count() >= 3 {
            break;
        }
        assert!(Instant::now() < deadline, "no output from the task: {v}");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let v = json_of(&env, &["logs", "--json", &work]);
    assert_eq!(
        (v["status"].as_str(), v["source"]["stdout"].as_str()),
        (Some("running"), Some("live")),
        "the attempt never ended; its live log is what is left: {v}"
    );
    let text = v["stdout"].as_str().unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() >= 3 && lines.len() < 20, "{text}");
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(*l, format!("drip {i}"), "lines in order, none lost: {text}");
    }
    let out = env.wflow(&["logs", &work]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("drip 0\ndrip 1\ndrip 2\n"));
    assert!(stderr(&out).contains("process is gone"), "{}", stderr(&out));
}

#[test]
pub(crate) fn a_killed_run_still_shows_its_live_log_and_is_seen_as_gone() {
    let env = Env::new();
    let (mut child, run) = start_endless_run(&env);
    let run_id = run.split_once('/').unwrap().1.to_string();
    let listed = json_of(&env, &["runs", "--json"]);
    assert_eq!(
        (listed[0]["status"].as_str(), listed[0]["process"].as_str()),
        (Some("running"), Some("alive"))
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let listed = json_of(&env, &["runs", "--json"]);
    assert_eq!(
        (listed[0]["status"].as_str(), listed[0]["process"].as_str()),
        (Some("running"), Some("gone"))
    );
    assert!(text_of(&env, &["runs"]).contains("process is gone"));

    // What the engine leaves for an attempt that printed before its process was killed.
    let live: PathBuf =
        wflow_client::live_log_path(&env.store(), &run_id, 2, 0, wflow_client::Stream::Stdout);
    std::fs::create_dir_all(live.parent().unwrap()).unwrap();
    std::fs::write(&live, "last words\n").unwrap();
    let work = format!("{run}/work/2");
    let out = env.wflow(&["logs", &work]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "last words\n");
    assert!(stderr(&out).contains("process is gone"), "{}", stderr(&out));
    assert_eq!(
        json_of(&env, &["logs", "--json", &work])["source"]["stdout"],
        "live"
    );
    // --follow ends by itself: the run's process is gone.
    let out = env.command(&["logs", "--follow", &work]).output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "last words\n");
    assert!(stderr(&out).contains("is gone"), "{}", stderr(&out));
}
