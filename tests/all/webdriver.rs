//! Just enough of a W3C WebDriver client (over HTTP with ureq) to drive Debian's headless
//! `chromium` through its `chromedriver`: open a URL, find elements, read their text and
//! attributes, click, run a line of script, take a screenshot.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// How long a wait for something on a page lasts at most (a loaded machine is slow; the tests
/// assert what the page shows, never how fast).
pub const PATIENCE: Duration = Duration::from_secs(120);

/// A running chromedriver with one headless chromium session.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    agent: ureq::Agent,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Browser {
    /// Starts chromedriver and a headless chromium.
    pub fn start() -> Browser {
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs (scripts/install-test-tools installs it)");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(300)))
            .build()
            .into();
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while agent.get(&format!("{base}/status")).call().is_err() {
            assert!(started.elapsed() < PATIENCE, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let mut b = Browser {
            driver,
            base,
            session: String::new(),
            agent,
        };
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1400,1000"]
            }
        }}});
        let v = b.call("POST", "/session", Some(caps));
        b.session = v["sessionId"].as_str().expect("a session id").to_string();
        b
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base);
        let response = match (method, body) {
            ("GET", _) => self.agent.get(&url).call(),
            ("DELETE", _) => self.agent.delete(&url).call(),
            (_, body) => self
                .agent
                .post(&url)
                .send_json(body.unwrap_or_else(|| json!({}))),
        };
        let mut r = response.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = r.status().as_u16();
        let v: Value = r.body_mut().read_json().unwrap_or(Value::Null);
        assert!(status < 300, "{method} {path}: {status} {v}");
        v["value"].clone()
    }

    fn s(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    /// Opens `url` (and waits for it to load).
    pub fn open(&self, url: &str) {
        self.call("POST", &self.s("/url"), Some(json!({ "url": url })));
    }

    /// The elements `css` selects now.
    pub fn all(&self, css: &str) -> Vec<String> {
        let v = self.call(
            "POST",
            &self.s("/elements"),
            Some(json!({"using": "css selector", "value": css})),
        );
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e.as_object()?.values().next()?.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The first element `css` selects, waiting for one to appear.
    pub fn find(&self, css: &str) -> String {
        self.wait_for(&format!("an element `{css}`"), || {
            self.all(css).into_iter().next()
        })
    }

    /// The visible text of an element.
    pub fn text(&self, element: &str) -> String {
        let v = self.call("GET", &self.s(&format!("/element/{element}/text")), None);
        v.as_str().unwrap_or_default().to_string()
    }

    /// An attribute of an element.
    pub fn attr(&self, element: &str, name: &str) -> Option<String> {
        let v = self.call(
            "GET",
            &self.s(&format!("/element/{element}/attribute/{name}")),
            None,
        );
        v.as_str().map(String::from)
    }

    /// Clicks an element.
    pub fn click(&self, element: &str) {
        self.call("POST", &self.s(&format!("/element/{element}/click")), None);
    }

    /// Runs `script` in the page and returns its result.
    pub fn script(&self, script: &str) -> Value {
        self.call(
            "POST",
            &self.s("/execute/sync"),
            Some(json!({"script": script, "args": []})),
        )
    }

    /// Moves into the `<iframe>` `element` (what `find` and `text` see from then on).
    pub fn enter_frame(&self, element: &str) {
        let reference = json!({ "element-6066-11e4-a52e-4f735466cecf": element });
        self.call("POST", &self.s("/frame"), Some(json!({ "id": reference })));
    }

    /// Back to the top-level page from a frame.
    pub fn leave_frames(&self) {
        self.call("POST", &self.s("/frame"), Some(json!({ "id": null })));
    }

    /// The page's URL.
    pub fn url(&self) -> String {
        self.call("GET", &self.s("/url"), None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Saves a PNG screenshot of the window to `file`.
    pub fn screenshot(&self, file: &Path) {
        use base64::Engine;
        let v = self.call("GET", &self.s("/screenshot"), None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().expect("base64 PNG"))
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"));
        std::fs::write(file, png).unwrap();
    }

    /// Polls `check` until it gives something, for up to [`PATIENCE`].
    pub fn wait_for<T>(&self, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
        let started = Instant::now();
        loop {
            if let Some(v) = check() {
                return v;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "waited for {what} in vain on {}",
                self.url()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self
                .agent
                .delete(&format!("{}/session/{}", self.base, self.session))
                .call();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
