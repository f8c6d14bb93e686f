//! The test bed of tests/all/deploy.rs: a private moto 5.2.5 with its Step Functions interpreter
//! on (started through tests/all/moto_sfn.py), Batch set up to run jobs through the Docker-API
//! shim of tests/all/docker_shim.rs, and a machine deploying there with an S3 store on it.

use std::collections::BTreeMap;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use serde_json::Value;
use wflow_store_s3::testing;

use crate::batch_env::{aws, logs_tail, new_bucket, on_moto, set_up_batch};
use crate::docker_shim::DockerShim;
use crate::util::{Env, guest, root, stderr};

pub struct DeployCloud {
    pub endpoint: String,
    pub shim: Arc<DockerShim>,
    role: String,
}

const QUEUE: &str = "wflow-deploy-queue";

/// moto with the interpreter on, Batch set up (service role, compute environment, queue).
pub fn cloud() -> &'static DeployCloud {
    static CLOUD: OnceLock<DeployCloud> = OnceLock::new();
    CLOUD.get_or_init(|| {
        let shim = DockerShim::start();
        let docker = format!("tcp://127.0.0.1:{}", shim.port);
        let script = root().join("tests").join("all").join("moto_sfn.py");
        let endpoint =
            testing::start_private_moto_script(&script, &[("DOCKER_HOST", docker.as_str())]);
        // Before anything is created.
        aws(
            &endpoint,
            "s3",
            "POST",
            "/moto-api/config",
            "application/json",
            r#"{"stepfunctions": {"execute_state_machine": true}}"#,
        );
        let role = set_up_batch(&endpoint, "wflow-deploy", "wflow-deploy-ce", QUEUE);
        DeployCloud {
            endpoint,
            shim,
            role,
        }
    })
}

/// A machine using an S3 store on the deploy moto, deploying there.
pub struct DeployEnv {
    pub env: Env,
    pub url: String,
    /// A prefix for this test's deployment names (they share one moto).
    pub tag: String,
}

impl DeployEnv {
    pub fn new(tag: &str) -> DeployEnv {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        DeployEnv {
            env: Env::new(),
            url: new_bucket(&cloud().endpoint, tag),
            tag: format!("{tag}{n}"),
        }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let c = cloud();
        let mut cmd = self.env.command(args);
        on_moto(&mut cmd, &self.url, &c.endpoint, QUEUE, self.env.dir.path());
        cmd.env("WFLOW_DEPLOY_ROLE", &c.role)
            .env("WFLOW_DEPLOY_EVENTS_ROLE", &c.role)
            .env("WFLOW_DEPLOY_ENDPOINT", &c.endpoint)
            .env("WFLOW_DEPLOY_REGION", "us-east-1");
        cmd
    }

    pub fn wflow(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("wflow runs")
    }

    /// `ARGS… --json`, expecting success; its JSON.
    pub fn json_ok(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        let out = self.wflow(&all);
        assert!(
            out.status.success(),
            "wflow {}: {}\n{}",
            args.join(" "),
            stderr(&out),
            worker_logs()
        );
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("wflow {}: {e}: {}", args.join(" "), stderr(&out)))
    }

    /// `deploy create GUEST --name NAME EXTRA…`.
    pub fn create(&self, package: &str, name: &str, extra: &[&str]) -> Value {
        self.create_with(package, name, extra, &[])
    }

    /// `deploy create GUEST --name NAME EXTRA…` with variables `vars` set.
    pub fn create_with(
        &self,
        package: &str,
        name: &str,
        extra: &[&str],
        vars: &[(&str, &str)],
    ) -> Value {
        let g = guest(package);
        let mut args = vec!["deploy", "create", g.to_str().unwrap(), "--name", name];
        args.extend_from_slice(extra);
        args.push("--json");
        let out = self
            .command(&args)
            .envs(vars.iter().copied())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "wflow {}: {}\n{}",
            args.join(" "),
            stderr(&out),
            worker_logs()
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// `deploy trigger NAME --wait EXTRA…`; the run's pathspec.
    pub fn trigger_wait(&self, name: &str, extra: &[&str]) -> String {
        let mut args = vec!["deploy", "trigger", name, "--wait"];
        args.extend_from_slice(extra);
        let v = self.json_ok(&args);
        assert_eq!(v["status"], "SUCCEEDED", "{v}");
        // The execution's history, counted: one Batch job per step (an array job per foreach).
        let h = &v["history"];
        assert!(h["state_transitions"].as_u64() > Some(0), "{v}");
        assert!(h["batch_jobs"].as_u64() > Some(0), "{v}");
        v["pathspec"].as_str().unwrap().to_string()
    }

    /// `deploy trigger NAME --wait --json`, expecting success; its JSON.
    pub fn trigger_wait_json(&self, name: &str) -> Value {
        let v = self.json_ok(&["deploy", "trigger", name, "--wait"]);
        assert_eq!(v["status"], "SUCCEEDED", "{v}");
        v
    }

    /// `wflow run --json GUEST` locally in the same store; its summary.
    pub fn run_local(&self, package: &str, extra: &[&str]) -> Value {
        let g = guest(package);
        let mut args = vec!["run", g.to_str().unwrap()];
        args.extend_from_slice(extra);
        self.json_ok(&args)
    }

    /// Every task of a run: (step, foreach path) → pathspec.
    pub fn tasks(&self, run: &str) -> BTreeMap<(String, Vec<u64>), String> {
        let v = self.json_ok(&["show", run]);
        let mut out = BTreeMap::new();
        for s in v["steps"]
            .as_array()
            .unwrap_or_else(|| panic!("no steps in {v}"))
        {
            if s["tasks"] == 0 {
                continue;
            }
            let step = s["step"].as_str().unwrap();
            let t = self.json_ok(&["show", "--all", &format!("{run}/{step}")]);
            for task in t["tasks"].as_array().unwrap() {
                let path: Vec<u64> = task["foreach_path"]
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_u64).collect())
                    .unwrap_or_default();
                out.insert(
                    (step.to_string(), path),
                    task["pathspec"].as_str().unwrap().to_string(),
                );
            }
        }
        out
    }

    /// A task's artifacts: name → digest.
    pub fn artifacts(&self, pathspec: &str) -> BTreeMap<String, String> {
        let v = self.json_ok(&["show", pathspec]);
        v["artifacts"]
            .as_array()
            .unwrap_or_else(|| panic!("no artifacts in {v}"))
            .iter()
            .map(|a| {
                (
                    a["name"].as_str().unwrap().to_string(),
                    a["digest"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }
}

/// The last lines of every worker's stderr (for failure messages).
pub fn worker_logs() -> String {
    logs_tail(cloud().shim.logs.path())
}

pub fn same_tasks(m: &DeployEnv, local: &str, deployed: &str, steps: &[&str]) {
    let (l, d) = (m.tasks(local), m.tasks(deployed));
    assert_eq!(
        l.keys().collect::<Vec<_>>(),
        d.keys().collect::<Vec<_>>(),
        "the same tasks (step, foreach path)"
    );
    for ((step, path), pathspec) in &l {
        if steps.contains(&step.as_str()) {
            assert_eq!(
                m.artifacts(pathspec),
                m.artifacts(&d[&(step.clone(), path.clone())]),
                "step {step} at {path:?}"
            );
        }
    }
}

/// One Step Functions call to the test moto; its JSON answer.
pub fn states(target: &str, body: Value) -> Value {
    let out = aws(
        &cloud().endpoint,
        "states",
        "POST",
        "/",
        &format!("application/x-amz-json-1.0\r\nX-Amz-Target: AWSStepFunctions.{target}"),
        &body.to_string(),
    );
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{target}: {e}: {out}"))
}
