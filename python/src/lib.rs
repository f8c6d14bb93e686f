//! `wflow._native`: the Rust half of the Python package `wflow`. It opens the store the CLI
//! would open (`wflow-config`: flags given as arguments, `WFLOW_*` variables, the config file)
//! and reads it through `wflow-client`, handing plain Python values (dicts, lists, bytes) to the
//! Python half (`python/wflow/`), which gives them Metaflow's shape.
//!
//! Every call names its object by pathspec, exactly as the CLI does, so errors carry the CLI's
//! messages and nearest-name hints.

// Closures return wflow-client's own error, converted once into a Python exception.
#![allow(clippy::result_large_err)]

use std::io::Read;
use std::sync::{Arc, Mutex};

use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use wflow_client::{Client, ClientError, Object, RunFilter, Status, Stream, TaskQuery};
use wflow_metadata::{AttemptRecord, RunRecord, TaskRecord};

mod convert;

use convert::{cbor_to_py, json_to_py};

pyo3::create_exception!(
    _native,
    WflowError,
    PyException,
    "Base of every error of wflow."
);
pyo3::create_exception!(
    _native,
    NotFoundError,
    WflowError,
    "A pathspec names nothing: the message says which part and lists the nearest names."
);
pyo3::create_exception!(
    _native,
    StoreError,
    WflowError,
    "The store or the metadata service cannot be used (settings, access, no records there)."
);
pyo3::create_exception!(
    _native,
    ArtifactError,
    WflowError,
    "An artifact cannot be read or decoded (its hash check failed, not CBOR, no artifacts)."
);

fn client_err(e: ClientError) -> PyErr {
    let text = e.to_string();
    match e {
        ClientError::BadPathspec { .. }
        | ClientError::WrongKind { .. }
        | ClientError::NotFound { .. }
        | ClientError::AmbiguousRun { .. }
        | ClientError::NoSuchAttempt { .. } => NotFoundError::new_err(text),
        ClientError::NoArtifacts { .. }
        | ClientError::Artifact { .. }
        | ClientError::Manifest { .. }
        | ClientError::Decode { .. }
        | ClientError::Log { .. } => ArtifactError::new_err(text),
        _ => StoreError::new_err(text),
    }
}

/// An error with its causes, as the CLI prints them (`a: b: c`).
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The records and artifacts of one store, as the CLI would open it.
#[pyclass(module = "wflow._native", frozen)]
struct Store {
    client: Arc<Client>,
    label: String,
}

fn status_of(text: &str) -> PyResult<Status> {
    match text {
        "succeeded" => Ok(Status::Succeeded),
        "failed" => Ok(Status::Failed),
        "running" => Ok(Status::Running),
        other => Err(pyo3::exceptions::PyValueError::new_err(format!(
            "status `{other}` is not one of succeeded, failed, running"
        ))),
    }
}

fn run_dict<'py>(py: Python<'py>, r: &RunRecord, tags: &[String]) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("flow", &r.flow)?;
    d.set_item("id", &r.run_id)?;
    d.set_item("status", r.status.as_str())?;
    d.set_item("started_ms", r.started_ms)?;
    d.set_item("finished_ms", r.finished_ms)?;
    d.set_item("error", &r.error)?;
    d.set_item("origin_run", &r.origin_run)?;
    d.set_item("user", &r.user)?;
    d.set_item(
        "kind",
        serde_json::to_value(r.kind)
            .ok()
            .and_then(|v| v.as_str().map(String::from)),
    )?;
    d.set_item("component", r.component.to_string())?;
    d.set_item("parameters", json_to_py(py, &r.params)?)?;
    d.set_item("tags", PyList::new(py, tags)?)?;
    Ok(d)
}

fn task_dict<'py>(py: Python<'py>, flow: &str, t: &TaskRecord) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item(
        "pathspec",
        format!("{flow}/{}/{}/{}", t.run_id, t.step, t.task_id),
    )?;
    d.set_item("id", t.task_id)?;
    d.set_item("step", &t.step)?;
    d.set_item("status", t.status.as_str())?;
    d.set_item("started_ms", t.started_ms)?;
    d.set_item("finished_ms", t.finished_ms)?;
    d.set_item("foreach_path", PyList::new(py, &t.foreach_path)?)?;
    d.set_item("inputs", PyList::new(py, &t.inputs)?)?;
    d.set_item("attempts", t.attempts)?;
    let origin = match (&t.origin_run, t.origin_task) {
        (Some(run), Some(task)) => Some(format!("{flow}/{run}/{}/{task}", t.step)),
        _ => None,
    };
    d.set_item("origin", origin)?;
    d.set_item("cached", t.is_cached())?;
    d.set_item("caught", t.caught)?;
    Ok(d)
}

fn step_dict<'py>(py: Python<'py>, s: &wflow_client::Step<'_>) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let st = s.stats();
    d.set_item("name", s.name())?;
    d.set_item("pathspec", s.pathspec())?;
    d.set_item("status", s.status().map(|s| s.as_str()))?;
    d.set_item("tasks", st.tasks)?;
    d.set_item("succeeded", st.succeeded)?;
    d.set_item("failed", st.failed)?;
    d.set_item("running", st.running)?;
    // By a resume; `cached`: taken from the cache.
    d.set_item("reused", st.reused - st.cached)?;
    d.set_item("cached", st.cached)?;
    d.set_item("caught", st.caught)?;
    d.set_item("attempts", st.attempts)?;
    d.set_item("started_ms", st.first_started_ms)?;
    d.set_item("finished_ms", st.last_finished_ms)?;
    Ok(d)
}

fn info_dict<'py>(py: Python<'py>, i: &wflow_client::ArtifactInfo) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("name", &i.name)?;
    d.set_item("size", i.size)?;
    d.set_item("codec", &i.codec)?;
    d.set_item("digest", i.digest.to_string())?;
    d.set_item("inline", i.inline)?;
    Ok(d)
}

fn attempt_dict<'py>(py: Python<'py>, a: &AttemptRecord) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("attempt", a.attempt)?;
    d.set_item("status", a.status.as_str())?;
    d.set_item("started_ms", a.started_ms)?;
    d.set_item("finished_ms", a.finished_ms)?;
    d.set_item("error", &a.error)?;
    Ok(d)
}

impl Store {
    fn run_of<'c>(&'c self, pathspec: &str) -> PyResult<wflow_client::Run<'c>> {
        self.client.run(pathspec).map_err(client_err)
    }
}

#[pymethods]
impl Store {
    /// Opens the store the CLI would: `store` (a directory or `s3://BUCKET/PREFIX`), the
    /// `s3_*` settings and `metadata` (a `wflow server` URL) and `token` override `WFLOW_*`
    /// variables, which override the config file.
    #[new]
    #[pyo3(signature = (store=None, *, metadata=None, token=None, s3_endpoint=None, s3_region=None, s3_path_style=None, s3_profile=None, s3_checksums=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        store: Option<String>,
        metadata: Option<String>,
        token: Option<String>,
        s3_endpoint: Option<String>,
        s3_region: Option<String>,
        s3_path_style: Option<bool>,
        s3_profile: Option<String>,
        s3_checksums: Option<String>,
    ) -> PyResult<Store> {
        let env =
            wflow_config::StoreArgs::from_env().map_err(|e| StoreError::new_err(e.to_string()))?;
        let args = wflow_config::StoreArgs {
            store: store.or(env.store),
            s3_endpoint: s3_endpoint.or(env.s3_endpoint),
            s3_region: s3_region.or(env.s3_region),
            s3_path_style: s3_path_style.or(env.s3_path_style),
            s3_checksums: s3_checksums.or(env.s3_checksums),
            s3_profile: s3_profile.or(env.s3_profile),
            metadata: metadata.or(env.metadata),
        };
        let mut settings = wflow_config::StoreSettings::resolve(&args);
        if let (Some(token), Ok(Some(m))) = (token, settings.metadata.as_mut()) {
            m.token = Some(token);
        }
        let label = match &settings.metadata {
            Ok(Some(m)) => format!("{} (records on {})", settings.label(), m.url),
            _ => settings.label(),
        };
        let backend = py
            .detach(|| wflow_config::open(&settings, true))
            .map_err(|e| StoreError::new_err(chain(&e)))?;
        let Some(backend) = backend else {
            return Err(StoreError::new_err(format!(
                "no runs in store {label}: nothing has run there yet (pass store=… or set WFLOW_STORE)"
            )));
        };
        let client = Client::from_parts(
            backend.records,
            wflow_store::Cas::new(backend.blobs),
            Some(settings.store.clone()),
        );
        Ok(Store {
            client: Arc::new(client),
            label,
        })
    }

    /// Where the store is (its directory or URL, and the metadata service if any).
    #[getter]
    fn label(&self) -> &str {
        &self.label
    }

    /// The names of the flows with runs, sorted.
    fn flows(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        py.detach(|| self.client.flows()).map_err(client_err)
    }

    /// Checks that flow `name` has runs (NotFoundError with the nearest names otherwise).
    fn flow(&self, py: Python<'_>, name: &str) -> PyResult<()> {
        py.detach(|| self.client.flow(name).map(|_| ()))
            .map_err(client_err)
    }

    /// Runs, newest first: of `flow`, carrying every tag of `tags`, with `status`; a page of
    /// at most `limit` after skipping `offset`.
    #[pyo3(signature = (flow=None, tags=Vec::new(), status=None, limit=None, offset=0))]
    fn runs<'py>(
        &self,
        py: Python<'py>,
        flow: Option<String>,
        tags: Vec<String>,
        status: Option<&str>,
        limit: Option<usize>,
        offset: usize,
    ) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let filter = RunFilter {
            flow,
            tags,
            status: status.map(status_of).transpose()?,
            limit,
            offset,
            skip_spec: true,
            ..RunFilter::default()
        };
        let runs = py
            .detach(|| self.client.runs(&filter))
            .map_err(client_err)?;
        runs.iter()
            .map(|r| run_dict(py, r.record(), r.tags()))
            .collect()
    }

    /// The newest run of `flow` (with `status`, if given), or None.
    #[pyo3(signature = (flow, status=None))]
    fn latest_run<'py>(
        &self,
        py: Python<'py>,
        flow: &str,
        status: Option<&str>,
    ) -> PyResult<Option<Bound<'py, PyDict>>> {
        let status = status.map(status_of).transpose()?;
        let run = py
            .detach(|| {
                let flow = self.client.flow(flow)?;
                match status {
                    Some(Status::Succeeded) => flow.latest_successful_run(),
                    Some(_) => Ok(flow
                        .runs(None)?
                        .into_iter()
                        .find(|r| Some(r.status()) == status)),
                    None => flow.latest_run(),
                }
            })
            .map_err(client_err)?;
        run.map(|r| run_dict(py, r.record(), r.tags())).transpose()
    }

    /// What `pathspec` names, in one look-up: `(kind, pathspec, record)` with kind one of
    /// `flow`, `run`, `step`, `task`, `artifact`; the pathspec written out in full (`latest` and
    /// run-id prefixes resolved, `step[7]` made a task id); the record the matching method gives
    /// (None for a flow; an artifact's has its `task` pathspec too).
    fn resolve<'py>(
        &self,
        py: Python<'py>,
        pathspec: &str,
    ) -> PyResult<(&'static str, String, Option<Bound<'py, PyDict>>)> {
        let object = py
            .detach(|| self.client.get(pathspec))
            .map_err(client_err)?;
        Ok(match object {
            Object::Flow(f) => ("flow", f.name().to_string(), None),
            Object::Run(r) => (
                "run",
                r.pathspec(),
                Some(run_dict(py, r.record(), r.tags())?),
            ),
            Object::Step(s) => ("step", s.pathspec(), Some(step_dict(py, &s)?)),
            Object::Task(t) => (
                "task",
                t.pathspec(),
                Some(task_dict(py, t.flow(), t.record())?),
            ),
            Object::Artifact(a) => {
                let d = info_dict(py, &a.info())?;
                d.set_item("task", a.task_pathspec())?;
                ("artifact", a.pathspec(), Some(d))
            }
        })
    }

    /// The run `pathspec` names.
    fn run<'py>(&self, py: Python<'py>, pathspec: &str) -> PyResult<Bound<'py, PyDict>> {
        let run = py.detach(|| self.run_of(pathspec))?;
        run_dict(py, run.record(), run.tags())
    }

    /// The steps of a run in graph order: name, status, task counts and times.
    fn steps<'py>(&self, py: Python<'py>, run: &str) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let steps = py.detach(|| self.run_of(run)?.steps().map_err(client_err))?;
        steps.iter().map(|s| step_dict(py, s)).collect()
    }

    /// A page of a step's (`Flow/run/step`) tasks, by id: those with `status`, at most
    /// `limit` after skipping `offset` (SQLite and the metadata service read just that page).
    #[pyo3(signature = (step, status=None, limit=None, offset=0))]
    fn tasks<'py>(
        &self,
        py: Python<'py>,
        step: &str,
        status: Option<&str>,
        limit: Option<usize>,
        offset: usize,
    ) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let query = TaskQuery {
            status: status.map(status_of).transpose()?,
            limit,
            offset,
            ..TaskQuery::default()
        };
        let tasks = py
            .detach(|| self.client.step(step)?.tasks_page(&query))
            .map_err(client_err)?;
        tasks
            .iter()
            .map(|t| task_dict(py, t.flow(), t.record()))
            .collect()
    }

    /// The task `pathspec` names (`Flow/run/step/12` or `Flow/run/step[7]`).
    fn task<'py>(&self, py: Python<'py>, pathspec: &str) -> PyResult<Bound<'py, PyDict>> {
        let task = py
            .detach(|| self.client.task(pathspec))
            .map_err(client_err)?;
        task_dict(py, task.flow(), task.record())
    }

    /// The one task of a step outside any foreach or branch (an error listing them otherwise).
    fn step_task<'py>(&self, py: Python<'py>, step: &str) -> PyResult<Bound<'py, PyDict>> {
        let task = py
            .detach(|| self.client.step(step)?.task())
            .map_err(client_err)?;
        task_dict(py, task.flow(), task.record())
    }

    /// The attempts of a task, in order.
    fn attempts<'py>(&self, py: Python<'py>, task: &str) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let attempts = py
            .detach(|| self.client.task(task)?.attempts())
            .map_err(client_err)?;
        attempts.iter().map(|a| attempt_dict(py, a)).collect()
    }

    /// The artifacts of a task: name, size, codec, digest, inline.
    fn artifacts<'py>(&self, py: Python<'py>, task: &str) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let infos: Vec<_> = py
            .detach(|| {
                self.client
                    .task(task)?
                    .artifacts()
                    .map(|a| a.iter().map(|a| a.info()).collect())
            })
            .map_err(client_err)?;
        infos.iter().map(|i| info_dict(py, i)).collect()
    }

    /// The value of a `cbor` artifact as Python objects (byte strings as `bytes`); the bytes of
    /// any other codec.
    fn value<'py>(&self, py: Python<'py>, artifact: &str) -> PyResult<Bound<'py, PyAny>> {
        let (codec, bytes, pathspec) = py
            .detach(|| {
                let a = self.client.artifact(artifact)?;
                Ok::<_, ClientError>((a.codec().to_string(), a.bytes()?, a.pathspec()))
            })
            .map_err(client_err)?;
        if codec != "cbor" {
            return Ok(PyBytes::new(py, &bytes).into_any());
        }
        let mut rest = bytes.as_slice();
        let value: ciborium::Value = ciborium::from_reader(&mut rest).map_err(|e| {
            ArtifactError::new_err(format!(
                "artifact {pathspec} cannot be decoded: it is not valid CBOR ({e})"
            ))
        })?;
        cbor_to_py(py, value)
    }

    /// The encoded bytes of an artifact, verified against its digest.
    fn bytes<'py>(&self, py: Python<'py>, artifact: &str) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = py
            .detach(|| self.client.artifact(artifact)?.bytes())
            .map_err(client_err)?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// A reader streaming an artifact's bytes (verified at the end).
    fn open(&self, py: Python<'_>, artifact: &str) -> PyResult<Reader> {
        let (reader, size, pathspec) = py
            .detach(|| {
                let a = self.client.artifact(artifact)?;
                Ok::<_, ClientError>((a.reader()?, a.size(), a.pathspec()))
            })
            .map_err(client_err)?;
        Ok(Reader {
            inner: Mutex::new(Some(Box::new(reader))),
            size,
            pathspec,
        })
    }

    /// The `stream` (`stdout` or `stderr`) of a task's attempt (default: the latest), as text.
    #[pyo3(signature = (task, stream, attempt=None))]
    fn log(
        &self,
        py: Python<'_>,
        task: &str,
        stream: &str,
        attempt: Option<u32>,
    ) -> PyResult<String> {
        let stream = match stream {
            "stdout" => Stream::Stdout,
            "stderr" => Stream::Stderr,
            other => {
                return Err(pyo3::exceptions::PyValueError::new_err(format!(
                    "stream `{other}` is not stdout or stderr"
                )));
            }
        };
        let logs = py
            .detach(|| self.client.task(task)?.logs(attempt))
            .map_err(client_err)?;
        Ok(String::from_utf8_lossy(&logs.get(stream).bytes).into_owned())
    }

    /// An HTML summary of a run for notebooks: the graph `wflow show --html` draws, with its
    /// steps table.
    fn run_html(&self, py: Python<'_>, run: &str) -> PyResult<String> {
        py.detach(|| {
            let run = self.run_of(run)?;
            let view = wflow_ui::graph::RunView::of(&run).map_err(client_err)?;
            Ok(wflow_ui::report::fragment(&run, &view))
        })
    }
}

/// A binary stream over one artifact's bytes; the digest is checked when the end is reached.
#[pyclass(module = "wflow._native")]
struct Reader {
    inner: Mutex<Option<Box<dyn Read + Send>>>,
    size: u64,
    pathspec: String,
}

#[pymethods]
impl Reader {
    /// The artifact's size in bytes.
    #[getter]
    fn size(&self) -> u64 {
        self.size
    }

    /// Up to `n` bytes (all the rest if `n` is negative); empty at the end.
    #[pyo3(signature = (n=-1))]
    fn read<'py>(&self, py: Python<'py>, n: i64) -> PyResult<Bound<'py, PyBytes>> {
        let pathspec = &self.pathspec;
        let out = py.detach(|| {
            let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            let Some(reader) = guard.as_mut() else {
                return Err(format!("artifact {pathspec}: the reader is closed"));
            };
            let mut out = Vec::new();
            let r = if n < 0 {
                reader.read_to_end(&mut out)
            } else {
                reader.by_ref().take(n as u64).read_to_end(&mut out)
            };
            r.map_err(|e| format!("cannot read artifact {pathspec}: {e}"))?;
            Ok(out)
        });
        match out {
            Ok(bytes) => Ok(PyBytes::new(py, &bytes)),
            Err(e) => Err(ArtifactError::new_err(e)),
        }
    }

    /// Drops the underlying stream.
    fn close(&self) {
        *self.inner.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Whether `close` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_none()
    }
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<Store>()?;
    m.add_class::<Reader>()?;
    m.add("WflowError", py.get_type::<WflowError>())?;
    m.add("NotFoundError", py.get_type::<NotFoundError>())?;
    m.add("StoreError", py.get_type::<StoreError>())?;
    m.add("ArtifactError", py.get_type::<ArtifactError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
