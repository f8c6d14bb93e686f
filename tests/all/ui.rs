//! `wflow ui` in a real browser: Debian's headless `chromium` driven through `chromedriver`
//! (installed by scripts/install-test-tools). The tests check what the pages show: text, element
//! states, links followed by clicking; one saves screenshots to `target/ui-screenshots/`.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use crate::util::{Env, guest, root, stderr};
use crate::webdriver::Browser;

/// Installs chromium and chromedriver once per test process (a no-op when they are there).
fn browser_tools() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let out = Command::new("bash")
            .arg(root().join("scripts/install-browser-test-tools"))
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "installing chromium and chromedriver failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
}

/// A `wflow ui` on a free port over an env's store; stopped when dropped.
pub(crate) struct UiServer {
    child: Child,
    pub(crate) url: String,
}

impl UiServer {
    pub(crate) fn start(env: &Env) -> UiServer {
        let child = env
            .command(&["ui", "--port", "0", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("wflow ui starts");
        // Owned from here: a failed start below still stops the process.
        let mut server = UiServer {
            child,
            url: String::new(),
        };
        // `--json` prints one JSON object (pretty, over several lines), then serves.
        let mut out = BufReader::new(server.child.stdout.take().unwrap());
        let mut text = String::new();
        let v: serde_json::Value = loop {
            let n = out.read_line(&mut text).unwrap();
            assert!(n > 0, "wflow ui ended without printing its URL: {text}");
            if let Ok(v) = serde_json::from_str(&text) {
                break v;
            }
        };
        server.url = v["url"].as_str().unwrap().trim_end_matches('/').to_string();
        assert!(
            server.url.starts_with("http://127.0.0.1:"),
            "{}",
            server.url
        );
        server
    }
}

impl Drop for UiServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A child process killed when dropped (even while stopped), so a failed test leaves none.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn runs_json(env: &Env) -> Vec<serde_json::Value> {
    let out = env.wflow(&["runs", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice::<serde_json::Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn screenshots() -> PathBuf {
    let dir = root().join("target").join("ui-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn browser_shows_runs_a_100_item_foreach_and_a_failed_tasks_logs() {
    browser_tools();
    let env = Env::new();
    let foreach = env.run_ok(&guest("example-foreach"), &["-p", "n=100"]);
    let foreach_id = foreach["run_id"].as_str().unwrap().to_string();
    let faulty = guest("test-program-faulty");
    let out = env.wflow(&["run", faulty.to_str().unwrap(), "-p", "mode=print-trap"]);
    assert!(!out.status.success(), "the faulty run fails");
    let faulty_id = runs_json(&env)
        .into_iter()
        .find(|r| r["flow"] == "Faulty")
        .expect("the faulty run is recorded")["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    let ui = UiServer::start(&env);
    let b = Browser::start();
    let shots = screenshots();

    // The runs list: both runs, newest first, with their status.
    b.open(&format!("{}/", ui.url));
    let rows = b.all("tr[data-run]");
    assert_eq!(rows.len(), 2);
    assert_eq!(
        b.attr(&rows[0], "data-run").as_deref(),
        Some(faulty_id.as_str())
    );
    let faulty_status = b.find(&format!(r#"tr[data-run="{faulty_id}"] .st"#));
    assert_eq!(b.text(&faulty_status), "failed");
    let foreach_status = b.find(&format!(r#"tr[data-run="{foreach_id}"] .st"#));
    assert_eq!(b.text(&foreach_status), "succeeded");
    b.screenshot(&shots.join("runs.png"));

    // The foreach run: click through from the list to its graph.
    let link = b.find(&format!(r#"tr[data-run="{foreach_id}"] td a"#));
    b.click(&link);
    let square = b.find(r#"g.step[data-step="square"]"#);
    assert_eq!(b.attr(&square, "data-status").as_deref(), Some("succeeded"));
    assert!(b.text(&square).contains("100 tasks"), "{}", b.text(&square));
    let steps = b.find("table.steps");
    assert!(b.text(&steps).contains("100 tasks"));
    assert_eq!(b.all("div.timeline rect.bar").len(), 103);
    b.screenshot(&shots.join("run-foreach-100.png"));

    // The foreach step: its 100 tasks on one page, sortable.
    b.click(&square);
    b.wait_for("the step page", || {
        b.url()
            .ends_with(&format!("/Foreach/{foreach_id}/square"))
            .then_some(())
    });
    assert_eq!(b.all("tr[data-task]").len(), 100);
    assert!(b.text(&b.find("p.pager")).contains("page 1 of 1"));
    // Each task's item: its index and its value (the numbers 1..=100).
    let items = b.all("tr[data-task] code.item");
    assert_eq!(items.len(), 100);
    assert_eq!(b.text(&items[0]), "1");
    assert_eq!(b.text(&items[99]), "100");
    b.click(&b.find(r#"thead a[href*="sort=duration"]"#));
    b.wait_for("the table sorted by duration", || {
        b.url().contains("sort=duration").then_some(())
    });
    assert_eq!(b.all("tr[data-task]").len(), 100);
    b.screenshot(&shots.join("step-foreach-100.png"));

    // The failed run: its failed task comes first; its logs show what it printed.
    b.open(&format!("{}/Faulty/{faulty_id}", ui.url));
    let work = b.find(r#"g.step[data-step="work"]"#);
    assert_eq!(b.attr(&work, "data-status").as_deref(), Some("failed"));
    b.click(&b.find("ul.failed a"));
    let stdout = b.find(r#"pre.log[data-stream="stdout"]"#);
    let text = b.text(&stdout);
    assert!(
        text.contains("progress 0") && text.contains("progress 2"),
        "{text}"
    );
    let stderr_log = b.find(r#"pre.log[data-stream="stderr"]"#);
    assert!(b.text(&stderr_log).contains("about to trap"));
    assert!(!b.all("table.attempts pre.error").is_empty());
    b.screenshot(&shots.join("task-failed-logs.png"));

    // A name that does not exist: a 404 page linking the nearest one.
    b.open(&format!("{}/Faulty/{faulty_id}/wrok", ui.url));
    let nearest = b.find("ul.nearest a");
    assert_eq!(b.text(&nearest), format!("Faulty/{faulty_id}/work"));
    b.screenshot(&shots.join("not-found.png"));
    println!("screenshots: {}", shots.display());
    eprintln!("screenshots: {}", shots.display());
}

#[test]
fn browser_page_follows_a_live_run_without_reloading() {
    browser_tools();
    let env = Env::new();
    let faulty = guest("test-program-faulty");
    let faulty = faulty.to_str().unwrap();
    env.run_ok(std::path::Path::new(faulty), &["-p", "mode=ok"]);
    let ui = UiServer::start(&env);
    let b = Browser::start();
    // A run that prints for a while; held still (SIGSTOP) while the page is opened, so the page
    // sees it running however fast or slow the machine is.
    let mut run = Killed(
        env.command(&["run", faulty, "-p", "mode=drip"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let live_id = b.wait_for("the live run to be recorded", || {
        runs_json(&env)
            .into_iter()
            .find(|r| r["status"] == "running")
            .map(|r| r["run_id"].as_str().unwrap().to_string())
    });
    let signal = |sig: &str| {
        let ok = Command::new("kill")
            .args([sig, &run.0.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig}");
    };
    signal("-STOP");
    b.open(&format!("{}/Faulty/{live_id}", ui.url));
    // The page swaps its content in place while the run is live: read it in one script call
    // each time (an element found by one WebDriver call can be stale by the next).
    let live = || b.script("return document.querySelector('main')?.dataset.live ?? null;");
    let status =
        || b.script("return document.querySelector('table.meta .st')?.textContent.trim() ?? null;");
    b.find("main");
    assert_eq!(live(), "1");
    assert_eq!(status(), "running");
    // A mark in the page: still there after the status changed means nothing reloaded it.
    b.script("window.wflowMark = 'kept'; return null;");
    signal("-CONT");
    b.wait_for("the page to show the run succeeded", || {
        (status() == "succeeded").then_some(())
    });
    assert_eq!(b.script("return window.wflowMark;"), "kept");
    b.wait_for("the page to stop following the run", || {
        (live() == "0").then_some(())
    });
    let end = b.find(r#"g.step[data-step="end"]"#);
    assert_eq!(b.attr(&end, "data-status").as_deref(), Some("succeeded"));
    assert!(run.0.wait().unwrap().success());
}

#[test]
fn browser_shows_a_tasks_cards_with_a_chart_and_runs_none_of_their_script() {
    browser_tools();
    let env = Env::new();
    let run = env.run_ok(&guest("test-program-cards"), &[]);
    let run = run["run_id"].as_str().unwrap().to_string();
    let ui = UiServer::start(&env);
    let b = Browser::start();
    let shots = screenshots();
    b.open(&format!("{}/Cards/{run}/start/1", ui.url));
    let title = b.script("return document.title;");
    // Three cards of its own, each in a sandboxed frame, the default one first.
    let frames = b.all("iframe.card");
    assert_eq!(frames.len(), 3);
    for f in &frames {
        assert_eq!(b.attr(f, "sandbox").as_deref(), Some(""));
    }
    b.script("document.querySelector('iframe.card').scrollIntoView(); return null;");
    b.enter_frame(&frames[0]);
    // The chart: five bars and its title, drawn as SVG in the card.
    b.wait_for("the chart's bars", || {
        (b.all("svg rect.mark").len() == 5).then_some(())
    });
    assert_eq!(b.text(&b.find("svg text.title")), "Squares");
    assert_eq!(b.all("table.card-table tbody tr").len(), 5);
    assert_eq!(b.all("img[src^='data:image/png']").len(), 1);
    b.leave_frames();
    b.screenshot(&shots.join("task-card-chart.png"));
    // The hostile card: its markup is text, its script never ran (the page's title is intact).
    b.enter_frame(&frames[2]);
    let md = b.find("div.md");
    assert!(
        b.text(&md).contains("<script>window.parent"),
        "{}",
        b.text(&md)
    );
    assert!(b.all("script").is_empty());
    assert!(b.all("img[onerror]").is_empty());
    b.leave_frames();
    assert_eq!(b.script("return document.title;"), title);
    // The broken card names its problem; the card alone is a page of its own.
    b.enter_frame(&frames[1]);
    assert!(
        b.text(&b.find("p.problem"))
            .contains("mark `pie` is not supported")
    );
    b.leave_frames();
    b.open(&format!(
        "{}/-/card/Cards/{run}/start/1/card:default",
        ui.url
    ));
    b.wait_for("the chart's bars", || {
        (b.all("svg rect.mark").len() == 5).then_some(())
    });
    b.screenshot(&shots.join("card-chart.png"));
    eprintln!("screenshots: {}", shots.display());
}
