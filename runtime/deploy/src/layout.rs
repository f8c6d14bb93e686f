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
//! deploy-v1/runs/<run>/choice/<step>/<path>   a switch's choice (`{"next": STEP}`), read the same
//! ```
//!
//! A task's place is its step and its *path*: `r` at the top, `r.3` for item 3 of a foreach,
//! `r.3.1` for item 1 of a foreach nested in it; in a flow with loops the top level's
//! generation follows the root (`r~2.3`: the loops went back twice before the foreach task).
//! Its task id follows from both (no driver hands ids out): see [`task_id`].

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
    /// In a flow with loops, a top-level task's generation: the loops gone round before it.
    pub const GEN: &str = "WFLOW_GEN";
    /// For a loop's switch: how many times its loop went back so far.
    pub const LOOPED: &str = "WFLOW_LOOPED";
    /// Tests only: items per array job of a foreach (below [`MAX_ARRAY`]), so that the `Map`
    /// over chunks of a foreach wider than one array job runs with a few items. Set on `deploy
    /// create`'s environment, it is passed to every job.
    pub const CHUNK: &str = "WFLOW_DEPLOY_CHUNK";
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

/// Where a switch's [`Choice`] is.
pub fn choice_key(run: &str, step: &str, path: &str) -> String {
    format!("{DEPLOY_PREFIX}runs/{run}/choice/{step}/{path}")
}

/// What a switch task leaves for the state machine: the successor it chose.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Choice {
    /// The chosen step.
    pub next: String,
}

/// Where a foreach's [`Fanout`] is.
pub fn fanout_key(run: &str, step: &str, path: &str) -> String {
    format!("{DEPLOY_PREFIX}runs/{run}/fanout/{step}/{path}")
}

/// Where a task is: its foreach indices and, in a flow with loops, the generation of the top
/// level it belongs to (the loops gone round before it; every task of a flow with loops has
/// one, the tasks of a foreach the one of their foreach task).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Place {
    /// The top level's generation (flows with loops only).
    pub generation: Option<u32>,
    /// Foreach indices, outermost first.
    pub path: Vec<u32>,
}

impl Place {
    /// As text: `r`, `~g` for the generation, then `.i` per foreach level (`r~2.3.1`).
    pub fn text(&self) -> String {
        let mut s = ROOT_PATH.to_string();
        if let Some(g) = self.generation {
            s.push('~');
            s.push_str(&g.to_string());
        }
        for i in &self.path {
            s.push('.');
            s.push_str(&i.to_string());
        }
        s
    }

    /// Reads [`Place::text`]; `None` if it is not one.
    pub fn parse(text: &str) -> Option<Place> {
        let mut parts = text.split('.');
        let root = parts.next()?;
        let generation = match root.strip_prefix(ROOT_PATH)? {
            "" => None,
            g => Some(g.strip_prefix('~')?.parse().ok()?),
        };
        let path = parts.map(|p| p.parse().ok()).collect::<Option<_>>()?;
        Some(Place { generation, path })
    }

    /// The place of item `i` of the foreach whose task is here.
    pub fn item(&self, i: u32) -> Place {
        let mut p = self.clone();
        p.path.push(i);
        p
    }
}

/// A path without generation as text: `r`, then `.i` per foreach level.
pub fn path_text(indices: &[u32]) -> String {
    Place {
        generation: None,
        path: indices.to_vec(),
    }
    .text()
}

/// The task id of step number `ordinal` (in the plan's order, of `steps` steps) at `place`:
/// `1 + ordinal + steps × code`, where the code has one digit (base 2²⁰) for the generation,
/// if any, then one per foreach index (the index + 1), each below 2²⁰ − 1. Every step of a
/// flow has places of one shape, so the code is unique per step. `None` past what a `u64`
/// holds.
pub fn task_id(ordinal: usize, steps: usize, place: &Place) -> Option<u64> {
    let mut code: u64 = 0;
    for &i in place.generation.iter().chain(&place.path) {
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
    /// The place of the foreach's task (the items' parent), as text.
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
    /// Each item's place, as text.
    #[serde(default)]
    pub items: Vec<String>,
}

impl Fanout {
    /// The fanout of `width` items of the foreach task at `place`, in array jobs of at most
    /// `chunk` items (at most [`MAX_ARRAY`]); `per_item` for a body running one `Map` iteration
    /// per item.
    pub fn new(place: &Place, width: usize, per_item: bool, chunk: usize) -> Fanout {
        let chunk = chunk.clamp(1, MAX_ARRAY);
        let parent = place.text();
        if per_item {
            let items = (0..width).map(|i| place.item(i as u32).text()).collect();
            return Fanout {
                width,
                chunks: Vec::new(),
                items,
            };
        }
        let chunks = (0..width)
            .step_by(chunk)
            .map(|offset| Chunk {
                path: parent.clone(),
                offset: offset.to_string(),
                size: chunk.min(width - offset),
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
        let at = |generation: Option<u32>, path: &[u32]| Place {
            generation,
            path: path.to_vec(),
        };
        assert_eq!(Place::parse("r.3.1"), Some(at(None, &[3, 1])));
        assert_eq!(Place::parse("r"), Some(at(None, &[])));
        assert_eq!(Place::parse("r~2.3"), Some(at(Some(2), &[3])));
        assert_eq!(at(Some(2), &[3]).text(), "r~2.3");
        for bad in ["x.1", "r.-1", "r~", "r~x", "rr", "r2"] {
            assert_eq!(Place::parse(bad), None, "{bad}");
        }
        assert_eq!(task_id(0, 5, &at(None, &[])), Some(1));
        assert_eq!(task_id(4, 5, &at(None, &[])), Some(5));
        assert_eq!(task_id(1, 5, &at(None, &[0])), Some(7));
        // Distinct for every step and place of a small flow (one shape per step).
        let mut seen = std::collections::BTreeSet::new();
        for s in 0..4 {
            for p in [vec![], vec![0], vec![1], vec![0, 0], vec![1, 0], vec![0, 1]] {
                assert!(
                    seen.insert(task_id(s, 4, &at(None, &p)).unwrap()),
                    "{s} {p:?}"
                );
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for s in 0..4 {
            for g in 0..3 {
                for p in [vec![0], vec![1], vec![7]] {
                    let id = task_id(s, 4, &at(Some(g), &p)).unwrap();
                    assert!(seen.insert(id), "{s} {g} {p:?}");
                }
            }
        }
        assert!(task_id(0, 4, &at(None, &[1 << 20, 0])).is_none());
        assert!(
            task_id(0, 4, &at(None, &[1 << 19; 4])).is_none(),
            "four wide levels do not fit"
        );
        assert!(task_id(0, 4, &at(None, &[1, 1, 1, 1])).is_some());
    }

    #[test]
    fn fanouts() {
        let f = Fanout::new(&Place::default(), 25_001, false, MAX_ARRAY);
        let sizes: Vec<_> = f
            .chunks
            .iter()
            .map(|c| (c.offset.as_str(), c.size))
            .collect();
        assert_eq!(sizes, [("0", 10_000), ("10000", 10_000), ("20000", 5_001)]);
        assert!(f.items.is_empty());
        let f = Fanout::new(
            &Place {
                generation: Some(1),
                path: vec![2],
            },
            3,
            true,
            MAX_ARRAY,
        );
        assert_eq!(f.items, ["r~1.2.0", "r~1.2.1", "r~1.2.2"]);
        let f = Fanout::new(&Place::default(), 21, false, 10);
        let sizes: Vec<_> = f.chunks.iter().map(|c| c.size).collect();
        assert_eq!(sizes, [10, 10, 1]);
    }
}
