//! What a deployed run's states and workers agree on: the environment a job gets, the keys of
//! the small objects workers leave for each other in the store, and task ids.
//!
//! ```text
//! deploy-v1/deployments/<name>/<digest>       a deployment (JSON): the flow's spec, component,
//!                                             sandboxes, default parameters — the job names
//!                                             its key and the digest of its bytes
//! deploy-v1/runs/<run>/params                 the run's resolved parameters (JSON), by `start`
//! deploy-v1/runs/<run>/out/<step>/<path>      a task's outputs (JSON): its id and artifacts
//! deploy-v1/runs/<run>/fanout/<step>/<path>   a foreach's width as the state machine reads it
//! ```
//!
//! A task's place is its step and its *path*: `r` at the top, `r.3` for item 3 of a foreach,
//! `r.3.1` for item 1 of a foreach nested in it. Its task id follows from both (no driver hands
//! ids out): see [`task_id`].

use serde::{Deserialize, Serialize};

/// The prefix of every deployment object.
pub const DEPLOY_PREFIX: &str = "deploy-v1/";
/// The path of the top level.
pub const ROOT_PATH: &str = "r";

/// Environment of a deployed job (besides the store's `WFLOW_STORE`, `WFLOW_S3_*`).
pub mod env {
    /// The deployment's key in the store.
    pub const DEPLOYMENT: &str = "WFLOW_DEPLOYMENT";
    /// The digest of the deployment's bytes (hex).
    pub const DEPLOYMENT_DIGEST: &str = "WFLOW_DEPLOYMENT_DIGEST";
    /// The run id (the execution's name).
    pub const RUN: &str = "WFLOW_RUN";
    /// The step.
    pub const STEP: &str = "WFLOW_STEP";
    /// The path of the task (of an array job: of its parent foreach item).
    pub const PATH: &str = "WFLOW_PATH";
    /// For a job of a foreach body: the index of its first item (the array index is added).
    pub const OFFSET: &str = "WFLOW_OFFSET";
    /// For `start`: the parameters given to the execution (a JSON object of strings).
    pub const PARAMS: &str = "WFLOW_PARAMS";
    /// For `start`: the execution's ARN (recorded as a tag of the run).
    pub const EXECUTION: &str = "WFLOW_EXECUTION";
    /// For `start`: the pathspec of the run whose success triggered this one (may be empty).
    pub const TRIGGER: &str = "WFLOW_TRIGGER";
    /// The job records the run's end instead of running a task: `failed` (the state machine's
    /// last state after a step failed) or `ended` (the deployment's EventBridge rule, after the
    /// execution ended without success, [`EXECUTION_STATUS`] saying how).
    pub const END: &str = "WFLOW_END";
    /// With `WFLOW_END=ended`: the execution's status (`FAILED`, `TIMED_OUT`, `ABORTED`).
    pub const EXECUTION_STATUS: &str = "WFLOW_EXECUTION_STATUS";
}

/// Items of one array job at most (AWS Batch's limit); a wider foreach is split into chunks.
pub const MAX_ARRAY: usize = 10_000;
/// Items of a foreach whose body holds another foreach (one inline `Map` iteration each) at most.
pub const MAX_ITEM_MAP: usize = 1_000;
/// Indices per foreach level in a task id.
const LEVEL: u64 = 1 << 20;

/// The deployment's key.
pub fn deployment_key(name: &str, digest_hex: &str) -> String {
    format!("{DEPLOY_PREFIX}deployments/{name}/{digest_hex}")
}

/// Where the run's resolved parameters are.
pub fn params_key(run: &str) -> String {
    format!("{DEPLOY_PREFIX}runs/{run}/params")
}

/// Where a task's outputs are.
pub fn output_key(run: &str, step: &str, path: &str) -> String {
    format!("{DEPLOY_PREFIX}runs/{run}/out/{step}/{path}")
}

/// Where a foreach's [`Fanout`] is.
pub fn fanout_key(run: &str, step: &str, path: &str) -> String {
    format!("{DEPLOY_PREFIX}runs/{run}/fanout/{step}/{path}")
}

/// A path as text: `r`, then `.i` per foreach level.
pub fn path_text(indices: &[u32]) -> String {
    let mut s = ROOT_PATH.to_string();
    for i in indices {
        s.push('.');
        s.push_str(&i.to_string());
    }
    s
}

/// The indices of a path; `None` if it is not one.
pub fn parse_path(text: &str) -> Option<Vec<u32>> {
    let mut parts = text.split('.');
    if parts.next() != Some(ROOT_PATH) {
        return None;
    }
    parts.map(|p| p.parse().ok()).collect()
}

/// The task id of step number `ordinal` (in the plan's order, of `steps` steps) at foreach
/// indices `path`: `1 + ordinal + steps × code(path)`, where each level holds an index below
/// 2²⁰ − 1. `None` past what a `u64` holds.
pub fn task_id(ordinal: usize, steps: usize, path: &[u32]) -> Option<u64> {
    let mut code: u64 = 0;
    for &i in path {
        if u64::from(i) + 1 >= LEVEL {
            return None;
        }
        code = code.checked_mul(LEVEL)?.checked_add(u64::from(i) + 1)?;
    }
    code.checked_mul(steps as u64)?
        .checked_add(ordinal as u64 + 1)
}

/// One array job's share of a foreach.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    /// The path of the foreach's task (the items' parent).
    pub path: String,
    /// The first item's index (text: it becomes an environment variable).
    pub offset: String,
    /// Items.
    pub size: usize,
}

/// What a foreach task leaves for the state machine: its width, as array-job chunks (a body
/// with no foreach in it) or as one path per item (a body that holds one: a `Map` iteration
/// each).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fanout {
    /// Items.
    pub width: usize,
    /// Chunks of at most [`MAX_ARRAY`] items.
    #[serde(default)]
    pub chunks: Vec<Chunk>,
    /// Each item's path.
    #[serde(default)]
    pub items: Vec<String>,
}

impl Fanout {
    /// The fanout of `width` items of the foreach task at `path`; `per_item` for a body holding
    /// a foreach.
    pub fn new(path: &[u32], width: usize, per_item: bool) -> Fanout {
        let parent = path_text(path);
        if per_item {
            let items = (0..width)
                .map(|i| {
                    let mut p = path.to_vec();
                    p.push(i as u32);
                    path_text(&p)
                })
                .collect();
            return Fanout {
                width,
                chunks: Vec::new(),
                items,
            };
        }
        let chunks = (0..width)
            .step_by(MAX_ARRAY)
            .map(|offset| Chunk {
                path: parent.clone(),
                offset: offset.to_string(),
                size: MAX_ARRAY.min(width - offset),
            })
            .collect();
        Fanout {
            width,
            chunks,
            items: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_ids() {
        assert_eq!(path_text(&[]), "r");
        assert_eq!(path_text(&[3, 1]), "r.3.1");
        assert_eq!(parse_path("r.3.1"), Some(vec![3, 1]));
        assert_eq!(parse_path("r"), Some(vec![]));
        assert_eq!(parse_path("x.1"), None);
        assert_eq!(parse_path("r.-1"), None);
        assert_eq!(task_id(0, 5, &[]), Some(1));
        assert_eq!(task_id(4, 5, &[]), Some(5));
        assert_eq!(task_id(1, 5, &[0]), Some(7));
        // Distinct for every step and path of a small flow.
        let mut seen = std::collections::BTreeSet::new();
        for s in 0..4 {
            for p in [vec![], vec![0], vec![1], vec![0, 0], vec![1, 0], vec![0, 1]] {
                assert!(seen.insert(task_id(s, 4, &p).unwrap()), "{s} {p:?}");
            }
        }
        assert!(task_id(0, 4, &[1 << 20, 0]).is_none());
        assert!(
            task_id(0, 4, &[1 << 19; 4]).is_none(),
            "four wide levels do not fit"
        );
        assert!(task_id(0, 4, &[1, 1, 1, 1]).is_some());
    }

    #[test]
    fn fanouts() {
        let f = Fanout::new(&[], 25_001, false);
        let sizes: Vec<_> = f
            .chunks
            .iter()
            .map(|c| (c.offset.as_str(), c.size))
            .collect();
        assert_eq!(sizes, [("0", 10_000), ("10000", 10_000), ("20000", 5_001)]);
        assert!(f.items.is_empty());
        let f = Fanout::new(&[2], 3, true);
        assert_eq!(f.items, ["r.2.0", "r.2.1", "r.2.2"]);
    }
}
