"""Starting runs and resumes from Python: the ``wflow`` program does the work (``wflow run`` /
``wflow resume --json``), so a run from Python has the CLI's defaults, policy and compute options.

The program is ``$WFLOW_BIN``, else ``wflow`` on ``PATH``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import TYPE_CHECKING, Any, Iterable, List, Optional, Union

from ._native import StoreError, WflowError

if TYPE_CHECKING:
    from . import Run, Store


class RunFailed(WflowError):
    """A run ended with a failed task (or wflow refused to start it): the message is the CLI's,
    with the failed task's error and the last lines of its stderr. ``run`` is the failed Run
    when one was recorded."""

    def __init__(self, message: str, run: Optional["Run"] = None):
        super().__init__(message)
        self.run = run


def _program() -> str:
    program = os.environ.get("WFLOW_BIN") or shutil.which("wflow")
    if not program:
        raise StoreError(
            "cannot start runs: no `wflow` program (put it on PATH or set WFLOW_BIN)"
        )
    return program


def _store_args(store: Union[None, str, "Store"]) -> List[str]:
    from . import Store

    if store is None:
        return []
    if isinstance(store, Store):
        raise TypeError(
            "run(store=…) takes a directory or an s3:// URL (the Store's settings are not "
            "passed on to the wflow program); or set WFLOW_STORE"
        )
    return ["--store", os.fspath(store)]


def _param_args(params: dict) -> List[str]:
    out = []
    for k, v in params.items():
        if isinstance(v, bool):
            v = "true" if v else "false"
        elif isinstance(v, (list, dict)):
            v = json.dumps(v)
        out += ["-p", f"{k}={v}"]
    return out


class RunHandle:
    """A run started with ``wait=False``: ``wait()`` gives its Run, ``poll()`` its status
    (None while it runs)."""

    def __init__(self, argv: List[str], store: Union[None, str, "Store"]):
        self._argv = argv
        self._store = store
        self._proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
        )
        self._run: Optional["Run"] = None
        self._error: Optional[RunFailed] = None

    def poll(self) -> Optional[str]:
        """None while it runs; then ``succeeded`` or ``failed``."""
        if self._proc.poll() is None:
            return None
        self._finish()
        return "succeeded" if self._error is None else "failed"

    @property
    def done(self) -> bool:
        return self._proc.poll() is not None

    def wait(self, timeout: Optional[float] = None) -> "Run":
        """Waits for the end (``subprocess.TimeoutExpired`` after ``timeout`` seconds) and gives
        the Run; raises RunFailed if it failed."""
        self._proc.wait(timeout)
        self._finish()
        if self._error is not None:
            raise self._error
        assert self._run is not None
        return self._run

    def kill(self) -> None:
        """Stops the run (its record stays `running` until resumed with force)."""
        self._proc.kill()

    def _finish(self) -> None:
        if self._run is not None or self._error is not None:
            return
        out, err = self._proc.communicate()
        from . import Run, Store

        summary: Any = None
        try:
            summary = json.loads(out) if out.strip() else None
        except ValueError:
            summary = None
        message = err.decode("utf-8", "replace").strip()
        store = self._store if isinstance(self._store, Store) or self._store is None else self._store
        run = None
        if isinstance(summary, dict) and "run_id" in summary:
            run = Run(f"{summary['flow']}/{summary['run_id']}", store=store)
        if self._proc.returncode == 0 and run is not None:
            self._run = run
        else:
            if message.startswith("error: "):
                message = message[len("error: "):]
            self._error = RunFailed(
                message or f"wflow exited with code {self._proc.returncode}", run
            )


def _start(argv: List[str], store, wait: bool) -> Union["Run", RunHandle]:
    handle = RunHandle(argv, store)
    return handle.wait() if wait else handle


def run(
    flow: Union[str, os.PathLike],
    *,
    tags: Iterable[str] = (),
    store: Union[None, str] = None,
    max_workers: Optional[int] = None,
    options: Iterable[str] = (),
    wait: bool = True,
    **params: Any,
) -> Union["Run", RunHandle]:
    """Runs a flow as ``wflow run`` would: a component, a guest crate directory, a Python or
    JavaScript flow, or a ``wflow.toml``; ``params`` are its parameters (``n=100``), ``tags``
    tag the run from its start, ``options`` are more ``wflow run`` flags (``--batch-queue``…).
    Returns the Run when it is done (``wait=False``: a RunHandle at once); raises RunFailed if
    a task failed."""
    argv = [_program(), "run", "--json", *_store_args(store), os.fspath(flow)]
    argv += _param_args(params)
    for t in tags:
        argv += ["--tag", t]
    if max_workers is not None:
        argv += ["--max-workers", str(max_workers)]
    argv += list(options)
    return _start(argv, store, wait)


def resume(
    run: Union[str, "Run"],
    *,
    from_step: Optional[str] = None,
    flow: Union[None, str, os.PathLike] = None,
    tags: Iterable[str] = (),
    store: Union[None, str] = None,
    max_workers: Optional[int] = None,
    options: Iterable[str] = (),
    wait: bool = True,
    **params: Any,
) -> Union["Run", RunHandle]:
    """Resumes a run as ``wflow resume`` would: reuses its successful tasks (those before
    ``from_step``, if given) and runs the rest, with ``flow`` (a fixed component or crate) if
    given; ``params`` override the run's parameters. Returns the new Run when done."""
    target = run if isinstance(run, str) else run.pathspec
    argv = [_program(), "resume", "--json", *_store_args(store), target]
    if flow is not None:
        argv.append(os.fspath(flow))
    if from_step is not None:
        argv += ["--from", from_step]
    argv += _param_args(params)
    for t in tags:
        argv += ["--tag", t]
    if max_workers is not None:
        argv += ["--max-workers", str(max_workers)]
    argv += list(options)
    return _start(argv, store, wait)
