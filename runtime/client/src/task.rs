//! [`Task`] and [`Artifact`]: one execution of a step and the values it wrote.

use wflow_core::Digest;
use wflow_metadata::{AttemptRecord, Status, TaskRecord};
use wflow_store::{ArtifactRef, BlobReader, Manifest};

use crate::nearest::{CHOICES, nearest};
use crate::{Client, ClientError, Part, Result};

/// A task: one execution (or reuse) of a step.
#[derive(Clone, Debug)]
pub struct Task<'c> {
    pub(crate) client: &'c Client,
    pub(crate) flow: String,
    pub(crate) record: TaskRecord,
}

impl<'c> Task<'c> {
    /// The client it came from.
    pub fn client(&self) -> &'c Client {
        self.client
    }

    /// Its record, as stored.
    pub fn record(&self) -> &TaskRecord {
        &self.record
    }

    /// Its id.
    pub fn id(&self) -> u64 {
        self.record.task_id
    }

    /// Its step.
    pub fn step(&self) -> &str {
        &self.record.step
    }

    /// Its flow.
    pub fn flow(&self) -> &str {
        &self.flow
    }

    /// `Flow/run/step/task`.
    pub fn pathspec(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.flow, self.record.run_id, self.record.step, self.record.task_id
        )
    }

    /// Where it stands.
    pub fn status(&self) -> Status {
        self.record.status
    }

    /// Milliseconds from start to end (`None` while running).
    pub fn duration_ms(&self) -> Option<i64> {
        self.record.finished_ms.map(|f| f - self.record.started_ms)
    }

    /// For a task a resumed run reused: the pathspec of the task it took its outputs from.
    pub fn origin(&self) -> Option<String> {
        match (&self.record.origin_run, self.record.origin_task) {
            (Some(run), Some(task)) => {
                Some(format!("{}/{run}/{}/{task}", self.flow, self.record.step))
            }
            _ => None,
        }
    }

    /// Its attempts, in order.
    pub fn attempts(&self) -> Result<Vec<AttemptRecord>> {
        Ok(self
            .client
            .meta
            .attempts(&self.record.run_id, self.record.task_id)?)
    }

    /// The names of the secrets it was given (contract 0.2): its step's, as recorded in its
    /// run's flow spec (a run starts only when the policy grants every one, and an attempt runs
    /// only once every value is read), or none when it did not run (reused or cached). Names
    /// only: no value is ever recorded.
    pub fn secrets(&self) -> Result<Vec<String>> {
        if self.record.attempts == 0 || self.record.origin_run.is_some() {
            return Ok(Vec::new());
        }
        let run = self.client.meta.run(&self.record.run_id)?;
        let spec = run.map(|r| r.spec).unwrap_or_default();
        let secrets = spec["steps"]
            .as_array()
            .and_then(|steps| {
                steps
                    .iter()
                    .find(|s| s["name"] == self.record.step.as_str())
            })
            .and_then(|s| s["capabilities"]["secrets"].as_array())
            .map(|names| {
                names
                    .iter()
                    .filter_map(|n| n.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        Ok(secrets)
    }

    /// Its manifest: where each of its artifacts is stored.
    pub fn manifest(&self) -> Result<Manifest> {
        let (Some(digest), Some(read)) = (
            self.record.manifest,
            self.record.read_manifest(&self.client.cas),
        ) else {
            return Err(ClientError::NoArtifacts {
                task: self.pathspec(),
                reason: self.why_no_artifacts(),
            });
        };
        read.map_err(|source| ClientError::Manifest {
            task: self.pathspec(),
            digest,
            source,
        })
    }

    fn why_no_artifacts(&self) -> String {
        match self.record.status {
            Status::Running => "it is still running (or its run was killed)".into(),
            Status::Succeeded => "none were recorded".into(),
            Status::Failed => {
                let last = self.attempts().ok().and_then(|a| a.into_iter().last());
                match last.and_then(|a| a.error.map(|e| (a.attempt, e))) {
                    Some((n, e)) => format!("it failed (attempt {n}: {e})"),
                    None => "it failed".into(),
                }
            }
        }
    }

    /// Its artifacts, by name.
    pub fn artifacts(&self) -> Result<Vec<Artifact<'c>>> {
        let task = self.pathspec();
        Ok(self
            .manifest()?
            .artifacts
            .into_iter()
            .map(|(name, r)| Artifact {
                client: self.client,
                task: task.clone(),
                name,
                r,
            })
            .collect())
    }

    /// Its artifact `name`; [`ClientError::NotFound`] listing the nearest names if it has none
    /// of that name.
    pub fn artifact(&self, name: &str) -> Result<Artifact<'c>> {
        let mut manifest = self.manifest()?;
        match manifest.artifacts.remove(name) {
            Some(r) => Ok(Artifact {
                client: self.client,
                task: self.pathspec(),
                name: name.to_string(),
                r,
            }),
            None => Err(ClientError::NotFound {
                part: Part::Artifact,
                name: name.to_string(),
                parent: format!("task {}", self.pathspec()),
                note: String::new(),
                choices: nearest(name, manifest.artifacts.keys().map(String::as_str), CHOICES),
                total: manifest.artifacts.len(),
            }),
        }
    }
}

/// One artifact of a task: a name and where its value is stored.
#[derive(Clone, Debug)]
pub struct Artifact<'c> {
    pub(crate) client: &'c Client,
    pub(crate) task: String,
    pub(crate) name: String,
    pub(crate) r: ArtifactRef,
}

/// What an artifact is, without its value (for listings and JSON).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ArtifactInfo {
    /// Its name.
    pub name: String,
    /// Its size in bytes, encoded.
    pub size: u64,
    /// Its codec: `cbor`, `raw`…
    pub codec: String,
    /// The digest of its bytes.
    pub digest: Digest,
    /// Whether the value is kept inside the manifest rather than as a blob of its own.
    pub inline: bool,
}

impl Artifact<'_> {
    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `Flow/run/step/task/name`.
    pub fn pathspec(&self) -> String {
        format!("{}/{}", self.task, self.name)
    }

    /// The pathspec of its task.
    pub fn task_pathspec(&self) -> &str {
        &self.task
    }

    /// Its size in bytes, encoded.
    pub fn size(&self) -> u64 {
        self.r.size
    }

    /// Its codec: `cbor` (self-describing, decodable by [`value`](Self::value)) or `raw`.
    pub fn codec(&self) -> &str {
        &self.r.codec
    }

    /// The digest of its bytes.
    pub fn digest(&self) -> Digest {
        self.r.digest
    }

    /// Where its bytes live.
    pub fn reference(&self) -> &ArtifactRef {
        &self.r
    }

    /// Its description.
    pub fn info(&self) -> ArtifactInfo {
        ArtifactInfo {
            name: self.name.clone(),
            size: self.r.size,
            codec: self.r.codec.clone(),
            digest: self.r.digest,
            inline: self.r.is_inline(),
        }
    }

    /// Its encoded bytes, verified against its digest.
    pub fn bytes(&self) -> Result<Vec<u8>> {
        self.client
            .cas
            .get_artifact(&self.r)
            .map_err(|source| ClientError::Artifact {
                pathspec: self.pathspec(),
                source,
            })
    }

    /// A streaming reader over its bytes (verified at the end), for values too large to hold.
    pub fn reader(&self) -> Result<BlobReader> {
        self.client
            .cas
            .reader(&self.r)
            .map_err(|source| ClientError::Artifact {
                pathspec: self.pathspec(),
                source,
            })
    }

    /// Its value as JSON cut to about `budget` bytes of output (see [`preview_cbor`]
    /// (crate::preview_cbor)), for the `cbor` codec: what to show of a value that may be huge.
    pub fn preview(&self, budget: usize) -> Result<crate::Preview> {
        if self.r.codec != "cbor" {
            return self.value().map(|value| crate::Preview {
                value,
                truncated: false,
            });
        }
        crate::preview_cbor(&self.bytes()?, budget).map_err(|reason| ClientError::Decode {
            pathspec: self.pathspec(),
            reason,
        })
    }

    /// Its value as JSON, for the `cbor` codec (see [`cbor_to_json`](crate::cbor_to_json));
    /// [`ClientError::Decode`] for other codecs (read them with [`bytes`](Self::bytes)).
    pub fn value(&self) -> Result<serde_json::Value> {
        if self.r.codec != "cbor" {
            return Err(ClientError::Decode {
                pathspec: self.pathspec(),
                reason: format!(
                    "its codec is `{}`, not `cbor`: read its bytes instead",
                    self.r.codec
                ),
            });
        }
        crate::value::decode_cbor(&self.bytes()?).map_err(|reason| ClientError::Decode {
            pathspec: self.pathspec(),
            reason,
        })
    }
}
