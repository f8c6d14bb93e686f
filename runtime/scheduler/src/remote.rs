//! Tasks that run somewhere else (a Batch container running `wflow worker`): the small
//! description a worker reads from the store, and the report it writes back.
//!
//! # Layout (under the store's prefix)
//!
//! ```text
//! tasks-v1/<run_id>/<task_id>-<attempt>           a launch (CBOR): one task, or every task of
//!                                                 one array job (index = array index)
//! tasks-v1/<run_id>/results/<task_id>-<attempt>   the attempt's report (CBOR), written by the
//!                                                 worker last
//! ```
//!
//! Both are written once, with put-if-absent. A description holds what a task needs besides the
//! component and the artifacts (which the worker fetches by digest): the step, the parameters, the
//! input manifests' artifact references, the foreach item, the resolved sandbox. So a job's own
//! spec carries only the description's key and its digest.
//!
//! Anyone who may write to the store's prefix could write under these keys too. So a key that is
//! already taken by other bytes is an error for the writer ([`RemoteError::Occupied`]), and the
//! job is bound to the digest of the bytes the driver wrote: the worker refuses a description
//! whose bytes hash to anything else ([`RemoteError::Changed`]), whatever its key.

use std::collections::BTreeMap;
use std::sync::Arc;

use wflow_core::{Digest, ParamValue, Sandbox};
use wflow_engine::{InputArtifacts, TaskInput, Value};
use wflow_store::{ArtifactRef, Cas, StoreError};

use crate::compute::{Attempt, AttemptReport};

/// A description or report that cannot be written or trusted.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The key was already taken by other bytes: someone else wrote there.
    #[error(
        "`{key}` already holds other content (digest {}, not {expected}): something else \
         writes to the store's `{TASKS_PREFIX}` prefix; refusing to use it",
        .found.map_or("unknown: it vanished".to_string(), |d| d.to_string())
    )]
    Occupied {
        /// The key.
        key: String,
        /// The digest of what is there (`None`: it was gone when read back).
        found: Option<Digest>,
        /// The digest of what was to be written.
        expected: Digest,
    },
    /// The description's bytes are not the ones the job was submitted with.
    #[error(
        "the task description `{key}` has digest {found}, but the job was submitted for {expected}: \
         it was changed after the run wrote it (something else writes to the store's \
         `{TASKS_PREFIX}` prefix); refusing to run it"
    )]
    Changed {
        /// The key.
        key: String,
        /// The digest of what is there.
        found: Digest,
        /// The digest the job names.
        expected: Digest,
    },
    /// There is nothing at the key.
    #[error("no task description at `{key}`")]
    Missing {
        /// The key.
        key: String,
    },
    /// The bytes are not a description this wflow reads.
    #[error("the task description `{key}` is not valid: {reason}")]
    Invalid {
        /// The key.
        key: String,
        /// Why.
        reason: String,
    },
}

/// Writes `bytes` at `key` unless something is there; what is there must be the same bytes.
fn put_once(cas: &Cas, key: &str, bytes: &[u8]) -> Result<Digest, RemoteError> {
    let expected = Digest::of(bytes);
    if cas.backend().put_if_absent(key, bytes)? {
        return Ok(expected);
    }
    // Taken: fine only if it is what this writer meant (a retried request that did arrive).
    let found = cas.backend().get(key)?.map(|b| Digest::of(&b));
    if found == Some(expected) {
        return Ok(expected);
    }
    Err(RemoteError::Occupied {
        key: key.to_string(),
        found,
        expected,
    })
}

/// The prefix of descriptions and reports.
pub const TASKS_PREFIX: &str = "tasks-v1/";

/// What a worker needs to run one attempt of one task (or of each task of an array job).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct TaskDescription {
    /// Format version (1).
    pub version: u32,
    /// The flow.
    pub flow: String,
    /// The run.
    pub run_id: String,
    /// The step.
    pub step: String,
    /// The component's digest in the store.
    pub component: Digest,
    /// The run's parameters.
    pub params: Vec<(String, WireParam)>,
    /// Whether the step joins.
    pub join: bool,
    /// Whether the step is a foreach split.
    pub is_foreach: bool,
    /// For a switch step, its choices (contract 0.2; absent before).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<String>,
    /// The step's sandbox, as the policy resolved it on the submitting machine.
    pub sandbox: Sandbox,
    /// The tasks: one, or one per array index.
    pub tasks: Vec<DescribedTask>,
}

/// One task of a [`TaskDescription`].
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct DescribedTask {
    /// Its id.
    pub task_id: u64,
    /// The attempt's number.
    pub attempt: u32,
    /// Its indices in enclosing foreaches.
    pub foreach_path: Vec<u32>,
    /// Its foreach item.
    pub foreach_item: Option<Value>,
    /// Its inputs: producing step and artifacts.
    pub inputs: Vec<(String, BTreeMap<String, ArtifactRef>)>,
}

/// A parameter value, tagged so that it comes back with the same type.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[allow(missing_docs)]
pub enum WireParam {
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    Json(String),
}

impl From<&ParamValue> for WireParam {
    fn from(v: &ParamValue) -> Self {
        match v {
            ParamValue::Bool(b) => WireParam::Bool(*b),
            ParamValue::Int(i) => WireParam::Int(*i),
            ParamValue::Float(f) => WireParam::Float(*f),
            ParamValue::String(s) => WireParam::String(s.clone()),
            ParamValue::Json(j) => WireParam::Json(j.to_string()),
        }
    }
}

impl WireParam {
    fn value(&self) -> ParamValue {
        match self {
            WireParam::Bool(b) => ParamValue::Bool(*b),
            WireParam::Int(i) => ParamValue::Int(*i),
            WireParam::Float(f) => ParamValue::Float(*f),
            WireParam::String(s) => ParamValue::String(s.clone()),
            WireParam::Json(j) => {
                ParamValue::Json(serde_json::from_str(j).unwrap_or(serde_json::Value::Null))
            }
        }
    }
}

impl TaskDescription {
    /// The description of attempts of one step (a group of foreach siblings, or one).
    pub fn of(attempts: &[Attempt]) -> TaskDescription {
        let first = &attempts[0];
        let i = &first.input;
        TaskDescription {
            version: 1,
            flow: i.flow.clone(),
            run_id: i.run_id.clone(),
            step: i.step.clone(),
            component: first.component.digest(),
            params: i
                .params
                .iter()
                .map(|(k, v)| (k.clone(), v.into()))
                .collect(),
            join: i.join,
            is_foreach: i.is_foreach,
            choices: i.choices.clone(),
            sandbox: (*i.sandbox).clone(),
            tasks: attempts
                .iter()
                .map(|a| DescribedTask {
                    task_id: a.input.task_id,
                    attempt: a.input.attempt,
                    foreach_path: a.input.foreach_path.clone(),
                    foreach_item: a.input.foreach_item.clone(),
                    inputs: a
                        .input
                        .inputs
                        .iter()
                        .map(|x| (x.step.to_string(), x.artifacts.to_map()))
                        .collect(),
                })
                .collect(),
        }
    }

    /// Its key in the store.
    pub fn key(&self) -> String {
        let t = &self.tasks[0];
        format!("{TASKS_PREFIX}{}/{}-{}", self.run_id, t.task_id, t.attempt)
    }

    /// Writes it (once) and returns its key and the digest of its bytes, which the job must
    /// carry. A key already holding other bytes is [`RemoteError::Occupied`].
    pub fn put(&self, cas: &Cas) -> Result<(String, Digest), RemoteError> {
        let key = self.key();
        let mut bytes = Vec::new();
        ciborium::into_writer(self, &mut bytes).expect("a description encodes as CBOR");
        let digest = put_once(cas, &key, &bytes)?;
        Ok((key, digest))
    }

    /// Reads the description at `key`, which must hash to `digest` (the one its job carries).
    pub fn get(cas: &Cas, key: &str, digest: &Digest) -> Result<TaskDescription, RemoteError> {
        let bytes = cas
            .backend()
            .get(key)?
            .ok_or_else(|| RemoteError::Missing {
                key: key.to_string(),
            })?;
        let found = Digest::of(&bytes);
        if found != *digest {
            return Err(RemoteError::Changed {
                key: key.to_string(),
                found,
                expected: *digest,
            });
        }
        let invalid = |reason: String| RemoteError::Invalid {
            key: key.to_string(),
            reason,
        };
        let d: TaskDescription =
            ciborium::from_reader(bytes.as_slice()).map_err(|e| invalid(e.to_string()))?;
        if d.version != 1 || d.tasks.is_empty() {
            return Err(invalid(format!(
                "version {} with {} tasks; this wflow reads version 1 with at least one",
                d.version,
                d.tasks.len()
            )));
        }
        Ok(d)
    }

    /// The input of task `index` (its array index; 0 for a single task).
    pub fn input(&self, index: usize) -> Option<TaskInput> {
        let t = self.tasks.get(index)?;
        Some(TaskInput {
            flow: self.flow.clone(),
            run_id: self.run_id.clone(),
            step: self.step.clone(),
            task_id: t.task_id,
            attempt: t.attempt,
            params: Arc::new(
                self.params
                    .iter()
                    .map(|(k, v)| (k.clone(), v.value()))
                    .collect(),
            ),
            foreach_path: t.foreach_path.clone(),
            foreach_item: t.foreach_item.clone(),
            inputs: t
                .inputs
                .iter()
                .map(|(step, a)| InputArtifacts {
                    step: step.as_str().into(),
                    artifacts: a.clone().into(),
                })
                .collect(),
            join: self.join,
            is_foreach: self.is_foreach,
            choices: self.choices.clone(),
            // Fetched by the worker, where the task runs: never through the store.
            secrets: Default::default(),
            sandbox: Arc::new(self.sandbox.clone()),
            live_logs: None,
        })
    }
}

/// Where the report of an attempt goes.
pub fn report_key(run_id: &str, task_id: u64, attempt: u32) -> String {
    format!("{TASKS_PREFIX}{run_id}/results/{task_id}-{attempt}")
}

/// Writes an attempt's report (once). A report already there (other bytes) is
/// [`RemoteError::Occupied`]: this attempt's report was planted by someone else.
pub fn put_report(cas: &Cas, key: &str, report: &AttemptReport) -> Result<(), RemoteError> {
    let mut bytes = Vec::new();
    ciborium::into_writer(report, &mut bytes).expect("a report encodes as CBOR");
    put_once(cas, key, &bytes)?;
    Ok(())
}

/// Reads an attempt's report; `Ok(None)` if the worker wrote none.
pub fn get_report(cas: &Cas, key: &str) -> Result<Option<AttemptReport>, String> {
    let bytes = cas
        .backend()
        .get(key)
        .map_err(|e| format!("reading the report `{key}`: {e}"))?;
    let Some(bytes) = bytes else { return Ok(None) };
    ciborium::from_reader(bytes.as_slice())
        .map(Some)
        .map_err(|e| format!("the report `{key}` is not valid: {e}"))
}
