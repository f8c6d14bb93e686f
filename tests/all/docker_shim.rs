//! A Docker Engine API shim for moto's Batch: moto 5.2.5 runs each Batch job through a Docker
//! Engine API at `DOCKER_HOST`; [`DockerShim`] is a small HTTP/1.1 server that runs the job's
//! command (`wflow worker`, mapped to the binary under test) as a local process with the job's
//! environment and reports its exit code.
//!
//! What moto 5.2.5's Batch calls (docker-py 7): `GET /version` (API version negotiation), `POST
//! /containers/create`, `GET /containers/{id}/json` (state, `Config.Tty`), `POST …/start`, `GET
//! …/logs`, `POST …/wait`, `POST …/kill`, `DELETE /containers/{id}`; paths carry a `/v1.NN`
//! prefix. The shim plays the part of the container agent: it sets `AWS_BATCH_JOB_ARRAY_INDEX`
//! for array children (moto does not) and gives the worker credentials (the job role's, on AWS).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use wflow_store_s3::testing::TestServer;

use crate::util::root;

/// Worker processes the shim runs at once (the rest wait as "running" containers).
pub(crate) const SHIM_SLOTS: usize = 4;

// ---------------------------------------------------------------------------------------------
// The Docker Engine API shim.

#[derive(Default)]
pub(crate) struct Container {
    cmd: Vec<String>,
    pub(crate) env: Vec<(String, String)>,
    /// `created`, `running` or `exited`.
    pub(crate) state: String,
    exit_code: i32,
    killed: bool,
    pub(crate) child: Option<Child>,
}

/// Runs "containers" as local processes.
pub struct DockerShim {
    pub port: u16,
    pub(crate) containers: Mutex<HashMap<String, Container>>,
    changed: Condvar,
    slots: Mutex<usize>,
    slot_free: Condvar,
    next: AtomicU64,
    /// Where workers' stdout and stderr go (`<id>.out`, `<id>.err`), for debugging.
    pub logs: tempfile::TempDir,
    /// Containers killed while running (by TerminateJob), as `<store> <description key>`.
    pub kills: Mutex<Vec<String>>,
    /// Containers started, as `<store> <description key>` (array children repeat it).
    pub started: Mutex<Vec<String>>,
    /// Called with the description key when a container of that store is created, before it
    /// starts (to play someone else writing to the store's prefix).
    pub(crate) hooks: Mutex<HashMap<String, Hook>>,
    /// What the worker image of a store's jobs has in its environment besides the job's (its
    /// policy file, as a real image would bake in).
    image_env: Mutex<HashMap<String, Vec<(String, String)>>>,
}

/// See [`DockerShim::hooks`].
pub type Hook = Arc<dyn Fn(&str) + Send + Sync>;

impl DockerShim {
    pub(crate) fn start() -> Arc<DockerShim> {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let shim = Arc::new(DockerShim {
            port: listener.local_addr().unwrap().port(),
            containers: Mutex::new(HashMap::new()),
            changed: Condvar::new(),
            slots: Mutex::new(SHIM_SLOTS),
            slot_free: Condvar::new(),
            next: AtomicU64::new(1),
            logs: tempfile::tempdir().unwrap(),
            kills: Mutex::new(Vec::new()),
            started: Mutex::new(Vec::new()),
            hooks: Mutex::new(HashMap::new()),
            image_env: Mutex::new(HashMap::new()),
        });
        let s = shim.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let s = s.clone();
                std::thread::spawn(move || s.serve(conn));
            }
        });
        shim
    }

    /// Sets variables of the worker image's environment for the jobs of the store `url`.
    pub fn set_image_env(&self, url: &str, vars: &[(&str, &str)]) {
        let vars = vars.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        self.image_env
            .lock()
            .unwrap()
            .insert(url.to_string(), vars.collect());
    }

    fn serve(self: &Arc<Self>, conn: TcpStream) {
        let mut reader = BufReader::new(conn.try_clone().unwrap());
        let mut out = conn;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let mut parts = line.split_whitespace();
            let (method, target) = (
                parts.next().unwrap_or("").to_string(),
                parts.next().unwrap_or("").to_string(),
            );
            let mut length = 0;
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 {
                    return;
                }
                let h = h.trim_end();
                if h.is_empty() {
                    break;
                }
                if let Some((k, v)) = h.split_once(':')
                    && k.eq_ignore_ascii_case("content-length")
                {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                return;
            }
            let (status, body) = self.route(&method, &target, &body);
            let reason = match status {
                200 => "OK",
                201 => "Created",
                204 => "No Content",
                _ => "Not Found",
            };
            let head = format!(
                "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                if status == 204 { 0 } else { body.len() }
            );
            let mut bytes = head.into_bytes();
            if status != 204 {
                bytes.extend_from_slice(body.as_bytes());
            }
            if out.write_all(&bytes).is_err() {
                return;
            }
        }
    }

    fn route(self: &Arc<Self>, method: &str, target: &str, body: &[u8]) -> (u16, String) {
        let path = target.split('?').next().unwrap_or("");
        // Strip the API version prefix (`/v1.41`).
        let path = match path.strip_prefix("/v1.") {
            Some(rest) => rest.find('/').map_or("/", |i| &rest[i..]),
            None => path,
        };
        let seg: Vec<&str> = path.trim_matches('/').split('/').collect();
        match (method, seg.as_slice()) {
            ("GET", ["version"]) => (
                200,
                r#"{"ApiVersion":"1.41","MinAPIVersion":"1.12","Version":"20.10.0","Os":"linux","Arch":"amd64"}"#.into(),
            ),
            ("GET" | "HEAD", ["_ping"]) => (200, "OK".into()),
            ("POST", ["containers", "create"]) => self.create(body),
            ("GET", ["containers", id, "json"]) => self.inspect(id),
            ("POST", ["containers", id, "start"]) => self.start_container(id),
            ("GET", ["containers", _, "logs"]) => (200, String::new()),
            ("POST", ["containers", id, "wait"]) => self.wait(id),
            ("POST", ["containers", id, "kill"]) => self.kill(id),
            ("DELETE", ["containers", id]) => {
                self.kill(id);
                self.containers.lock().unwrap().remove(*id);
                (204, String::new())
            }
            _ => (404, format!(r#"{{"message":"the test shim has no {method} {path}"}}"#)),
        }
    }

    fn create(&self, body: &[u8]) -> (u16, String) {
        let spec: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        let cmd = spec["Cmd"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let env: Vec<(String, String)> = spec["Env"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str()?.split_once('='))
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let hook = env_of(&env, "WFLOW_STORE")
            .and_then(|store| self.hooks.lock().unwrap().get(&store).cloned());
        if let Some(hook) = hook {
            hook(&env_of(&env, "WFLOW_TASK").unwrap_or_default());
        }
        let id = format!("{:064x}", self.next.fetch_add(1, Ordering::Relaxed));
        self.containers.lock().unwrap().insert(
            id.clone(),
            Container {
                cmd,
                env,
                state: "created".into(),
                ..Container::default()
            },
        );
        (201, format!(r#"{{"Id":"{id}","Warnings":[]}}"#))
    }

    fn inspect(&self, id: &str) -> (u16, String) {
        let mut c = self.containers.lock().unwrap();
        // moto polls every "running" container twice a second; one still waiting for a slot is
        // answered only when it starts or after a while, so a thousand queued children do not
        // flood moto with requests (docker-py waits 60 s for an answer).
        let deadline = Instant::now() + Duration::from_secs(15);
        while c
            .get(id)
            .is_some_and(|x| x.state == "running" && x.child.is_none() && !x.killed)
        {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            c = self.changed.wait_timeout(c, left).unwrap().0;
        }
        let Some(c) = c.get(id) else {
            return (404, r#"{"message":"no such container"}"#.into());
        };
        let v = serde_json::json!({
            "Id": id,
            "Name": format!("/{id}"),
            "State": {"Status": c.state, "Running": c.state == "running", "ExitCode": c.exit_code},
            "Config": {"Tty": true, "Cmd": c.cmd},
            "NetworkSettings": {"IPAddress": "127.0.0.1", "Networks": {}},
            "HostConfig": {},
        });
        (200, v.to_string())
    }

    fn start_container(self: &Arc<Self>, id: &str) -> (u16, String) {
        {
            let mut c = self.containers.lock().unwrap();
            let Some(c) = c.get_mut(id) else {
                return (404, r#"{"message":"no such container"}"#.into());
            };
            c.state = "running".into();
        }
        let (s, id) = (self.clone(), id.to_string());
        std::thread::spawn(move || s.run(&id));
        (204, String::new())
    }

    /// Runs a container's command once a slot is free; records its exit code.
    fn run(self: &Arc<Self>, id: &str) {
        {
            let mut free = self.slots.lock().unwrap();
            while *free == 0 {
                free = self.slot_free.wait(free).unwrap();
            }
            *free -= 1;
        }
        let spawned = {
            let mut map = self.containers.lock().unwrap();
            match map.get_mut(id) {
                Some(c) if !c.killed => {
                    self.started.lock().unwrap().push(job_of(&c.env));
                    match self.command(id, c).spawn() {
                        Ok(child) => {
                            c.child = Some(child);
                            self.changed.notify_all();
                            true
                        }
                        Err(_) => {
                            c.exit_code = 127;
                            false
                        }
                    }
                }
                _ => false,
            }
        };
        let code = loop {
            if !spawned {
                break None;
            }
            let mut map = self.containers.lock().unwrap();
            let Some(c) = map.get_mut(id) else { break None };
            match c.child.as_mut().map(|ch| ch.try_wait()) {
                Some(Ok(Some(status))) => break Some(status.code().unwrap_or(137)),
                Some(Ok(None)) => {}
                _ => break Some(137),
            }
            drop(map);
            std::thread::sleep(Duration::from_millis(20));
        };
        {
            let mut map = self.containers.lock().unwrap();
            if let Some(c) = map.get_mut(id) {
                if let Some(code) = code {
                    c.exit_code = code;
                } else if c.killed {
                    c.exit_code = 137;
                }
                c.state = "exited".into();
                c.child = None;
            }
        }
        *self.slots.lock().unwrap() += 1;
        self.slot_free.notify_one();
        self.changed.notify_all();
    }

    /// The job's command as a local process: `wflow` is the binary under test; the environment
    /// is the job's, plus what the container agent gives on AWS (array index, credentials).
    fn command(&self, id: &str, c: &Container) -> Command {
        let program = match c.cmd.first().map(String::as_str) {
            Some("wflow") | None => PathBuf::from(env!("CARGO_BIN_EXE_wflow")),
            Some(other) => PathBuf::from(other),
        };
        let mut cmd = Command::new(program);
        cmd.args(c.cmd.iter().skip(1))
            .env_clear()
            .envs(c.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", std::env::var_os("HOME").unwrap_or_default())
            .env("WFLOW_CACHE_DIR", root().join("target").join("test-cache"))
            .env("XDG_CONFIG_HOME", self.logs.path())
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(self.logs.path().join(format!("{id}.out"))).unwrap())
            .stderr(std::fs::File::create(self.logs.path().join(format!("{id}.err"))).unwrap());
        for (k, v) in TestServer::credential_env() {
            cmd.env(k, v);
        }
        let store = env_of(&c.env, "WFLOW_STORE").unwrap_or_default();
        if let Some(image) = self.image_env.lock().unwrap().get(&store) {
            cmd.envs(image.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        }
        if let Some(index) = env_of(&c.env, "AWS_BATCH_JOB_ID")
            .and_then(|j| j.rsplit_once(':').map(|(_, i)| i.to_string()))
        {
            cmd.env("AWS_BATCH_JOB_ARRAY_INDEX", index);
        }
        cmd
    }

    fn wait(&self, id: &str) -> (u16, String) {
        let mut map = self.containers.lock().unwrap();
        loop {
            match map.get(id) {
                None => return (404, r#"{"message":"no such container"}"#.into()),
                Some(c) if c.state != "running" => {
                    return (
                        200,
                        format!(r#"{{"StatusCode":{},"Error":null}}"#, c.exit_code),
                    );
                }
                _ => map = self.changed.wait(map).unwrap(),
            }
        }
    }

    fn kill(&self, id: &str) -> (u16, String) {
        let mut map = self.containers.lock().unwrap();
        if let Some(c) = map.get_mut(id) {
            if c.state == "running" && !c.killed {
                self.kills.lock().unwrap().push(job_of(&c.env));
            }
            c.killed = true;
            if let Some(child) = c.child.as_mut() {
                let _ = child.kill();
            }
        }
        self.changed.notify_all();
        (204, String::new())
    }
}

/// `<store> <description key>`: which run's which task a container is.
pub(crate) fn job_of(env: &[(String, String)]) -> String {
    format!(
        "{} {}",
        env_of(env, "WFLOW_STORE").unwrap_or_default(),
        env_of(env, "WFLOW_TASK").unwrap_or_default()
    )
}

fn env_of(env: &[(String, String)], key: &str) -> Option<String> {
    env.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
}
