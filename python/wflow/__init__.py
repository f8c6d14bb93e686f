"""Read wflow runs, steps, tasks and artifacts, and start runs, from Python and notebooks.

In Metaflow's words::

    from wflow import Flow, Run
    run = Flow("Foreach").latest_successful_run
    run["sum"].task.data.total
    Run("Foreach/latest")["square"].tasks()

The store is the one the ``wflow`` CLI uses from the same directory: ``WFLOW_STORE``, the
``WFLOW_S3_*`` variables, ``WFLOW_METADATA``/``WFLOW_TOKEN`` and the config file's ``[store]`` and
``[metadata]`` tables, else ``.wflow``. ``wflow.use(store=…, metadata=…, …)`` picks another for the
whole session; every class also takes ``store=`` (a path, an ``s3://`` URL or a :class:`Store`).
"""

from __future__ import annotations

import datetime as _dt
import html as _html
import io as _io
from typing import Any, Dict, Iterator, List, Optional, Union

from ._native import (
    ArtifactError,
    NotFoundError,
    Reader,
    Store,
    StoreError,
    WflowError,
    __version__,
)
from ._running import RunFailed, RunHandle, resume, run

__all__ = [
    "ArtifactError",
    "DataArtifact",
    "Flow",
    "NotFoundError",
    "Run",
    "RunFailed",
    "RunHandle",
    "Step",
    "Store",
    "StoreError",
    "Task",
    "WflowError",
    "__version__",
    "flows",
    "get",
    "resume",
    "run",
    "use",
]

_default: Optional[Store] = None

#: Runs are read from the store this many at a time.
PAGE = 100
#: A step's tasks are read from the store this many at a time.
TASK_PAGE = 10_000


def use(store: Optional[str] = None, **settings: Any) -> Store:
    """Opens a store (as ``Store(store, **settings)``) and makes it the default of the session."""
    global _default
    _default = Store(store, **settings)
    return _default


def _store(store: Union[None, str, Store]) -> Store:
    global _default
    if isinstance(store, Store):
        return store
    if store is not None:
        return Store(store)
    if _default is None:
        _default = Store()
    return _default


def flows(store: Union[None, str, Store] = None) -> List["Flow"]:
    """Every flow with runs in the store, by name."""
    s = _store(store)
    return [Flow(name, store=s, _checked=True) for name in s.flows()]


def get(pathspec: str, store: Union[None, str, Store] = None):
    """Whatever a pathspec names: a Flow, Run, Step, Task or DataArtifact."""
    s = _store(store)
    kind, full, record = s.resolve(pathspec)
    if kind == "flow":
        return Flow(full, store=s, _checked=True)
    if kind == "artifact":
        return DataArtifact._of(s, record["task"], record)
    return {"run": Run, "step": Step, "task": Task}[kind]._of(s, record)


def _time(ms: Optional[int]) -> Optional[_dt.datetime]:
    if ms is None:
        return None
    return _dt.datetime.fromtimestamp(ms / 1000, tz=_dt.timezone.utc)


def _seconds(start: Optional[int], end: Optional[int]) -> Optional[float]:
    if start is None or end is None:
        return None
    return (end - start) / 1000


class _Object:
    _store: Store
    pathspec: str

    def __repr__(self) -> str:
        return f"{type(self).__name__}('{self.pathspec}')"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.pathspec == self.pathspec  # type: ignore

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.pathspec))


class _Timed:
    """Status and times of a run or a task, read from its record."""

    _record: dict

    @property
    def status(self) -> str:
        """``succeeded``, ``failed`` or ``running``."""
        return self._record["status"]

    @property
    def successful(self) -> bool:
        return self.status == "succeeded"

    @property
    def finished(self) -> bool:
        return self.status != "running"

    @property
    def created_at(self) -> _dt.datetime:
        return _time(self._record["started_ms"])  # type: ignore[return-value]

    @property
    def finished_at(self) -> Optional[_dt.datetime]:
        return _time(self._record["finished_ms"])

    @property
    def duration(self) -> Optional[float]:
        """Seconds from start to end (None while running)."""
        return _seconds(self._record["started_ms"], self._record["finished_ms"])


class Flow(_Object):
    """A flow: the name its runs share."""

    def __init__(self, name: str, *, store: Union[None, str, Store] = None, _checked=False):
        self._store = _store(store)
        if not _checked:
            self._store.flow(name)
        self.name = name
        self.pathspec = name

    @property
    def id(self) -> str:
        return self.name

    def runs(
        self, *tags: str, status: Optional[str] = None, limit: Optional[int] = None
    ) -> Iterator["Run"]:
        """Its runs carrying every tag of ``tags`` (with ``status``: succeeded, failed,
        running), newest first, read lazily a page at a time."""
        offset, left = 0, limit
        while left is None or left > 0:
            page = PAGE if left is None else min(PAGE, left)
            records = self._store.runs(self.name, list(tags), status, page, offset)
            for r in records:
                yield Run._of(self._store, r)
            if len(records) < page:
                return
            offset += len(records)
            if left is not None:
                left -= len(records)

    def __iter__(self) -> Iterator["Run"]:
        return self.runs()

    def __getitem__(self, run_id: str) -> "Run":
        return Run(f"{self.name}/{run_id}", store=self._store)

    @property
    def latest_run(self) -> Optional["Run"]:
        """Its newest run, or None."""
        r = self._store.latest_run(self.name)
        return None if r is None else Run._of(self._store, r)

    @property
    def latest_successful_run(self) -> Optional["Run"]:
        """Its newest run that succeeded, or None."""
        r = self._store.latest_run(self.name, "succeeded")
        return None if r is None else Run._of(self._store, r)


class Run(_Timed, _Object):
    """A run of a flow: ``Run("Foreach/20261128T182550-k3f9a")``, ``Run("Foreach/latest")``, a
    unique start of a run id, or a bare run id."""

    def __init__(self, pathspec: str, *, store: Union[None, str, Store] = None):
        self._store = _store(store)
        self._set(self._store.run(pathspec))

    @classmethod
    def _of(cls, store: Store, record: Dict[str, Any]) -> "Run":
        run = cls.__new__(cls)
        run._store = store
        run._set(record)
        return run

    def _set(self, r: Dict[str, Any]) -> None:
        self._record = r
        self.id: str = r["id"]
        self.pathspec = f"{r['flow']}/{r['id']}"

    def refresh(self) -> "Run":
        """Reads its record again (a running run moves on)."""
        self._set(self._store.run(self.pathspec))
        return self

    @property
    def flow(self) -> Flow:
        return Flow(self._record["flow"], store=self._store, _checked=True)

    @property
    def tags(self) -> List[str]:
        return list(self._record["tags"])

    @property
    def parameters(self) -> Dict[str, Any]:
        return dict(self._record["parameters"])

    @property
    def user(self) -> str:
        return self._record["user"]

    @property
    def error(self) -> Optional[str]:
        """Why it failed, if it did."""
        return self._record["error"]

    @property
    def origin(self) -> Optional["Run"]:
        """The run it resumes, if any."""
        o = self._record["origin_run"]
        return None if o is None else Run(f"{self._record['flow']}/{o}", store=self._store)

    def steps(self) -> List["Step"]:
        """Every step of the flow in graph order (steps the run did not reach have no tasks)."""
        return [Step._of(self._store, s) for s in self._store.steps(self.pathspec)]

    def __iter__(self) -> Iterator["Step"]:
        return iter(self.steps())

    def __getitem__(self, step: str) -> "Step":
        return Step(f"{self.pathspec}/{step}", store=self._store)

    def __contains__(self, step: str) -> bool:
        return any(s.name == step for s in self.steps())

    @property
    def end_task(self) -> Optional["Task"]:
        """The task of ``end``, once the run reached it."""
        end = self._store.tasks(f"{self.pathspec}/end", limit=1)
        return Task._of(self._store, end[0]) if end else None

    @property
    def data(self) -> Optional["_Data"]:
        """The artifacts of its ``end`` task (None before the run reaches it)."""
        end = self.end_task
        return None if end is None else end.data

    def _repr_html_(self) -> str:
        return self._store.run_html(self.pathspec)


class Step(_Object):
    """A step of a run: ``Step("Foreach/latest/square")``."""

    def __init__(self, pathspec: str, *, store: Union[None, str, Store] = None):
        self._store = _store(store)
        kind, _, record = self._store.resolve(pathspec)
        if kind != "step":
            raise NotFoundError(f"`{pathspec}` names a {kind}, not a step")
        self._set(record)

    @classmethod
    def _of(cls, store: Store, record: Dict[str, Any]) -> "Step":
        step = cls.__new__(cls)
        step._store = store
        step._set(record)
        return step

    def _set(self, s: Dict[str, Any]) -> None:
        self._record = s
        self.name: str = s["name"]
        self.id = self.name
        self.pathspec = s["pathspec"]

    @property
    def status(self) -> Optional[str]:
        """``succeeded``, ``failed``, ``running``, or None if the run did not reach it."""
        return self._record["status"]

    @property
    def counts(self) -> Dict[str, int]:
        """Its tasks by outcome, and attempts."""
        keys = ("tasks", "succeeded", "failed", "running", "reused", "cached", "caught", "attempts")
        return {k: self._record[k] for k in keys}

    @property
    def created_at(self) -> Optional[_dt.datetime]:
        return _time(self._record["started_ms"])

    @property
    def finished_at(self) -> Optional[_dt.datetime]:
        return _time(self._record["finished_ms"])

    def tasks(self, status: Optional[str] = None) -> Iterator["Task"]:
        """Its tasks (with ``status``: succeeded, failed, running), by id, read lazily
        ``TASK_PAGE`` at a time."""
        offset = 0
        while True:
            page = self._store.tasks(self.pathspec, status, TASK_PAGE, offset)
            for t in page:
                yield Task._of(self._store, t)
            if len(page) < TASK_PAGE:
                return
            offset += len(page)

    def __iter__(self) -> Iterator["Task"]:
        return self.tasks()

    def __getitem__(self, task: Union[int, str]) -> "Task":
        return Task(f"{self.pathspec}/{task}", store=self._store)

    @property
    def task(self) -> "Task":
        """Its one task (an error listing them if it has several)."""
        return Task(self.pathspec, store=self._store, _step=True)

    def task_of_item(self, *index: int) -> "Task":
        """The task of foreach item ``index`` (``step[7]``; ``step[2][7]`` nested)."""
        return Task(self.pathspec + "".join(f"[{i}]" for i in index), store=self._store)

    @property
    def data(self) -> "_Data":
        """The artifacts of its one task."""
        return self.task.data


class Task(_Timed, _Object):
    """A task: ``Task("Foreach/latest/sum/12")``, or ``Task("Foreach/latest/square[7]")``."""

    def __init__(self, pathspec: str, *, store: Union[None, str, Store] = None, _step=False):
        self._store = _store(store)
        self._set(self._store.step_task(pathspec) if _step else self._store.task(pathspec))

    @classmethod
    def _of(cls, store: Store, record: Dict[str, Any]) -> "Task":
        task = cls.__new__(cls)
        task._store = store
        task._set(record)
        return task

    def _set(self, t: Dict[str, Any]) -> None:
        self._record = t
        self.id: int = t["id"]
        self.pathspec = t["pathspec"]

    @property
    def step(self) -> str:
        return self._record["step"]

    @property
    def index(self) -> Optional[int]:
        """Its foreach item (the innermost), or None outside a foreach."""
        path = self._record["foreach_path"]
        return path[-1] if path else None

    @property
    def foreach_path(self) -> List[int]:
        return list(self._record["foreach_path"])

    @property
    def origin(self) -> Optional["Task"]:
        """For a task a resumed run reused, or a cached one: the task it took its outputs from."""
        o = self._record["origin"]
        return None if o is None else Task(o, store=self._store)

    @property
    def cached(self) -> bool:
        """True when the task did not run: a pure step's task whose reads matched an earlier
        task's, whose outputs it took (``origin``)."""
        return bool(self._record["cached"])

    @property
    def caught(self) -> bool:
        """True when its step failed and ``catch`` kept the error (the task counts as
        succeeded)."""
        return bool(self._record["caught"])

    @property
    def attempts(self) -> List[Dict[str, Any]]:
        """Its attempts in order: attempt, status, started_at, finished_at, error."""
        out = []
        for a in self._store.attempts(self.pathspec):
            a["started_at"] = _time(a.pop("started_ms"))
            a["finished_at"] = _time(a.pop("finished_ms"))
            out.append(a)
        return out

    @property
    def exception(self) -> Optional[str]:
        """The error of its last attempt, if it failed."""
        attempts = self._store.attempts(self.pathspec)
        return attempts[-1]["error"] if attempts else None

    @property
    def stdout(self) -> str:
        """What its latest attempt wrote to stdout (for a task that did not run — reused or
        cached — what the task that computed its outputs wrote)."""
        return self.log("stdout")

    @property
    def stderr(self) -> str:
        """What its latest attempt wrote to stderr (as ``stdout`` for a task that did not run)."""
        return self.log("stderr")

    def log(self, stream: str = "stdout", attempt: Optional[int] = None) -> str:
        """The ``stream`` (stdout or stderr) of ``attempt`` (default: the latest). A task that
        did not run (reused by a resume, or cached) has no attempt: its origin's logs, the task
        that computed its outputs, are read instead."""
        task: "Task" = self
        # Origins form a chain back in time; a bound keeps a planted loop from spinning.
        for _ in range(64):
            if task._record["attempts"] or task._record["origin"] is None:
                break
            task = Task(task._record["origin"], store=self._store)
        return self._store.log(task.pathspec, stream, attempt)

    @property
    def artifacts(self) -> List["DataArtifact"]:
        """Its artifacts, by name."""
        return [DataArtifact._of(self._store, self.pathspec, a) for a in self._store.artifacts(self.pathspec)]

    def __getitem__(self, name: str) -> "DataArtifact":
        return DataArtifact(f"{self.pathspec}/{name}", store=self._store)

    def __contains__(self, name: str) -> bool:
        return any(a["name"] == name for a in self._store.artifacts(self.pathspec))

    def __iter__(self) -> Iterator["DataArtifact"]:
        return iter(self.artifacts)

    @property
    def data(self) -> "_Data":
        """Its artifacts' values as attributes: ``task.data.total``."""
        return _Data(self)

    def _repr_html_(self) -> str:
        e = _html.escape
        rows = "".join(
            f"<tr><td><code>{e(a.name)}</code></td><td>{e(a.codec)}</td>"
            f'<td style="text-align:right">{a.size:,}</td><td>{e(a._preview())}</td></tr>'
            for a in self.artifacts
        ) if self.status == "succeeded" else ""
        head = (
            f"<b>{e(self.pathspec)}</b> · {e(self.status)}"
            + (f" · {self.duration:.3f} s" if self.duration is not None else "")
            + (f" · {len(self.attempts)} attempts" if self._record["attempts"] > 1 else "")
        )
        err = self.exception
        err_html = f'<pre style="color:#b91c1c">{e(err)}</pre>' if err else ""
        table = (
            "<table><tr><th>artifact</th><th>codec</th><th>bytes</th><th>value</th></tr>"
            f"{rows}</table>"
            if rows
            else ""
        )
        return f'<div class="wflow-task">{head}{err_html}{table}</div>'


class _Data:
    """A task's artifact values as attributes (``task.data.total``); ``dir()`` lists them."""

    def __init__(self, task: Task):
        self._task = task

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return self._task._store.value(f"{self._task.pathspec}/{name}")
        except NotFoundError as e:
            raise AttributeError(str(e)) from None

    def __dir__(self) -> List[str]:
        return [a["name"] for a in self._task._store.artifacts(self._task.pathspec)]

    def __contains__(self, name: str) -> bool:
        return name in self._task

    def __repr__(self) -> str:
        return f"<data of {self._task.pathspec}: {', '.join(self.__dir__())}>"


class DataArtifact(_Object):
    """One artifact of a task: ``task["total"]``; ``.data`` is its value."""

    def __init__(self, pathspec: str, *, store: Union[None, str, Store] = None):
        self._store = _store(store)
        kind, _, record = self._store.resolve(pathspec)
        if kind != "artifact":
            raise NotFoundError(f"`{pathspec}` names a {kind}, not an artifact")
        self._set(record["task"], record)

    @classmethod
    def _of(cls, store: Store, task: str, info: Dict[str, Any]) -> "DataArtifact":
        a = cls.__new__(cls)
        a._store = store
        a._set(task, info)
        return a

    def _set(self, task: str, info: Dict[str, Any]) -> None:
        self._info = info
        self.name: str = info["name"]
        self.id = self.name
        self.pathspec = f"{task}/{self.name}"

    @property
    def size(self) -> int:
        """Its size in bytes, encoded."""
        return self._info["size"]

    @property
    def codec(self) -> str:
        """``cbor`` (a value) or ``raw`` (bytes)."""
        return self._info["codec"]

    @property
    def sha(self) -> str:
        """The digest of its bytes."""
        return self._info["digest"]

    @property
    def data(self) -> Any:
        """Its value: a ``cbor`` artifact decoded to Python objects, the bytes of a raw one.
        Stream a large raw artifact with :meth:`open` instead."""
        return self._store.value(self.pathspec)

    def bytes(self) -> bytes:
        """Its encoded bytes, verified against its digest."""
        return self._store.bytes(self.pathspec)

    def open(self) -> _io.BufferedReader:
        """A binary file object streaming its bytes without holding them all (the digest is
        checked at the end: a mismatch raises ArtifactError)."""
        return _io.BufferedReader(_RawReader(self._store.open(self.pathspec)), 1 << 20)

    def to_pandas(self):
        """Its value as a ``pandas.DataFrame``: a list of records or a dict of columns, or a raw
        Arrow IPC / Parquet artifact (with pyarrow). Needs pandas, which wflow does not require."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError(
                f"{self.pathspec}.to_pandas() needs pandas: pip install pandas"
            ) from None
        if self.codec != "cbor":
            return _arrow_to_pandas(self)
        value = self.data
        if isinstance(value, list) and all(isinstance(r, dict) for r in value):
            return pd.DataFrame.from_records(value)
        if isinstance(value, dict) and all(isinstance(c, list) for c in value.values()):
            return pd.DataFrame(value)
        raise TypeError(
            f"artifact {self.pathspec} is not a table: its value is a {type(value).__name__}, "
            "not a list of records or a dict of columns"
        )

    def _preview(self, budget: int = 80) -> str:
        if self.codec != "cbor":
            return f"({self.codec} bytes)"
        if self.size > 4096:
            return "(large value)"
        text = repr(self.data)
        return text if len(text) <= budget else text[: budget - 1] + "…"


def _arrow_to_pandas(artifact: DataArtifact):
    try:
        import pyarrow as pa
        import pyarrow.ipc as ipc
        import pyarrow.parquet as pq
    except ImportError:
        raise ImportError(
            f"{artifact.pathspec} is a raw artifact: reading it as a table needs pyarrow "
            "(pip install pyarrow)"
        ) from None
    with artifact.open() as f:
        head = f.peek(8)[:8]
        if head[:4] == b"PAR1":
            return pq.read_table(pa.BufferReader(f.read())).to_pandas()
        if head[:6] == b"ARROW1":
            return ipc.open_file(pa.BufferReader(f.read())).read_all().to_pandas()
        return ipc.open_stream(f).read_all().to_pandas()


class _RawReader(_io.RawIOBase):
    def __init__(self, native: Reader):
        self._native = native

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        data = self._native.read(len(b))
        n = len(data)
        b[:n] = data
        return n

    def close(self) -> None:
        self._native.close()
        super().close()
