"""Reading runs, steps, tasks and artifacts in Metaflow's words; errors as the CLI words them."""

import datetime
import io
import json
import os
import pathlib
import subprocess
import sys

import pytest

import wflow
from wflow import DataArtifact, Flow, Run, Step, Task
from conftest import BACKEND, guest


def test_a_foreach_reads_back_as_metaflow_users_expect(foreach):
    run = Flow("Foreach").latest_successful_run
    assert run == foreach
    assert run.successful and run.finished and run.status == "succeeded"
    assert run.parameters == {"n": 10}
    assert "from-python" in run.tags
    assert isinstance(run.created_at, datetime.datetime)
    assert run.finished_at >= run.created_at and run.duration >= 0
    assert [s.name for s in run.steps()] == ["start", "square", "sum", "end"]
    assert run["sum"].task.data.total == 385
    assert run["sum"].task["total"].data == 385
    assert run.data.total == 385, "a run's data is its end task's"
    assert run["start"].task.data.nums == list(range(1, 11))
    squares = sorted(t.data.square for t in run["square"].tasks())
    assert squares == [i * i for i in range(1, 11)]
    seventh = run["square"].task_of_item(7)
    assert seventh.index == 7 and seventh.data.square == 64
    assert Task(f"{run.pathspec}/square[7]") == seventh
    assert "sum of squares of 1..=10: 385" in run["end"].task.stdout
    assert run["end"].task.stderr == ""
    attempts = run["sum"].task.attempts
    assert [a["attempt"] for a in attempts] == [0] and attempts[0]["status"] == "succeeded"
    assert sorted(dir(run["sum"].task.data)) == ["nums", "total"] or "total" in dir(
        run["sum"].task.data
    )
    assert Run("Foreach/latest") == run
    assert Run(run.id) == run, "a bare run id names its run"
    assert wflow.get(f"{run.pathspec}/sum") == run["sum"]
    assert isinstance(wflow.get(f"{run.pathspec}/sum/{run['sum'].task.id}/total"), DataArtifact)
    assert run in list(Flow("Foreach").runs("from-python"))
    assert list(Flow("Foreach").runs("no-such-tag")) == []
    assert run in list(Flow("Foreach").runs(status="succeeded"))
    assert "Foreach" in [f.name for f in wflow.flows()]


def test_runs_are_read_a_page_at_a_time():
    for _ in range(3):
        wflow.run(guest("example-hello"))
    every = list(Flow("Hello").runs())
    old, wflow.PAGE = wflow.PAGE, 2
    try:
        paged = list(Flow("Hello").runs())
        two = list(Flow("Hello").runs(limit=2))
    finally:
        wflow.PAGE = old
    assert len(every) >= 3 and paged == every, "every run once, newest first"
    assert two == every[:2]
    assert [r.created_at for r in every] == sorted((r.created_at for r in every), reverse=True)


def test_tasks_are_read_a_page_at_a_time(foreach):
    square = foreach["square"]
    every = list(square.tasks())
    old, wflow.TASK_PAGE = wflow.TASK_PAGE, 3
    try:
        paged = list(square.tasks())
        succeeded = list(square.tasks(status="succeeded"))
        failed = list(square.tasks(status="failed"))
    finally:
        wflow.TASK_PAGE = old
    assert len(every) == 10 and paged == every == succeeded, "every task once, by id"
    assert [t.id for t in every] == sorted(t.id for t in every)
    assert failed == []
    with pytest.raises(ValueError, match="status `done` is not one of"):
        list(square.tasks(status="done"))


def test_unknown_pathspecs_name_the_part_and_the_nearest_names(foreach):
    with pytest.raises(wflow.NotFoundError, match="flow `Forech` not found.*Foreach"):
        Flow("Forech")
    with pytest.raises(wflow.NotFoundError, match="step `sun` not found.*sum"):
        foreach["sun"]
    with pytest.raises(wflow.NotFoundError, match="artifact `totl` not found.*total"):
        foreach["sum"].task["totl"]
    with pytest.raises(AttributeError, match="totl"):
        foreach["sum"].task.data.totl
    with pytest.raises(wflow.NotFoundError, match="has 10 tasks"):
        foreach["square"].task
    with pytest.raises(wflow.NotFoundError, match=r"task `\[99\]` not found.*items \[0\]"):
        foreach["square"].task_of_item(99)
    with pytest.raises(wflow.NotFoundError, match="run `nope` not found"):
        Run("Foreach/nope")
    with pytest.raises(wflow.NotFoundError):
        Step(foreach.pathspec)
    assert issubclass(wflow.NotFoundError, wflow.WflowError)


def test_a_failed_run_raises_with_the_tasks_error_and_resumes(failed):
    assert "faulty step failed on purpose" in str(failed)
    run = failed.run
    assert run is not None and run.status == "failed" and not run.successful
    work = run["work"].task
    assert work.status == "failed" and "faulty step failed on purpose" in work.exception
    with pytest.raises(wflow.ArtifactError, match="it failed"):
        work.data.out
    fixed = wflow.resume(run, mode="ok")
    assert fixed.successful and fixed.origin == run
    assert fixed["work"].task.data.out == 42
    assert fixed["start"].task.origin is not None, "start was reused"
    again = wflow.resume(fixed, from_step="end")
    assert again.successful and again["work"].task.origin is not None


def test_a_run_started_without_waiting_is_a_handle():
    handle = wflow.run(guest("example-branch"), wait=False)
    run = handle.wait(timeout=600)
    assert handle.done and handle.poll() == "succeeded"
    assert run.successful and run.flow.name == "Branch"


def test_notebook_views(foreach):
    page = foreach._repr_html_()
    assert "<svg" in page and 'data-step="sum" data-status="succeeded"' in page
    assert "<script" not in page
    table = foreach["sum"].task._repr_html_()
    assert "<code>total</code>" in table and "385" in table


def test_to_pandas_needs_a_table(foreach):
    nums = foreach["start"].task["nums"]
    try:
        import pandas  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install pandas"):
            nums.to_pandas()
        return
    with pytest.raises(TypeError, match="not a table"):
        nums.to_pandas()


@pytest.mark.skipif(BACKEND != "local", reason="the 100 MiB artifact is checked on the local store")
def test_a_100_mib_artifact_streams_without_being_held():
    run = wflow.run(guest("example-bigdata"), mb=100)
    blob = run["start"].task["blob"]
    assert blob.codec == "raw" and blob.size == 100 << 20
    # In a fresh interpreter: its peak memory after streaming the blob through.
    script = f"""
import hashlib, resource, wflow
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
n = 0
with wflow.Task({blob.pathspec.rsplit('/', 1)[0]!r})["blob"].open() as f:
    while True:
        chunk = f.read(1 << 20)
        if not chunk:
            break
        n += len(chunk)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(n, (after - before) // 1024)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    n, grown_mib = map(int, out.stdout.split())
    assert n == 100 << 20
    assert grown_mib < 40, f"reading 100 MiB grew the peak by {grown_mib} MiB"
    assert run["consume"].task.data.verified is True
    assert isinstance(blob.open(), io.BufferedReader)


def test_the_stubs_name_what_the_extension_has():
    import ast
    import pathlib

    import wflow._native as native

    stub = ast.parse((pathlib.Path(wflow.__file__).parent / "_native.pyi").read_text())
    declared = {
        n.name if not isinstance(n, ast.AnnAssign) else n.target.id
        for n in stub.body
        if isinstance(n, (ast.ClassDef, ast.FunctionDef, ast.AnnAssign))
    }
    public = {n for n in dir(native) if not n.startswith("_")} | {"__version__"}
    assert declared == public
    for cls in ("Store", "Reader"):
        (node,) = [n for n in stub.body if isinstance(n, ast.ClassDef) and n.name == cls]
        methods = {f.name for f in node.body if isinstance(f, ast.FunctionDef)} - {"__init__"}
        have = {m for m in dir(getattr(native, cls)) if not m.startswith("_")}
        assert methods == have, f"{cls}: stubs {sorted(methods ^ have)} differ"
    assert (pathlib.Path(wflow.__file__).parent / "py.typed").exists()


TABLE_FLOW = '''
from wflow import FlowSpec, step


class Table(FlowSpec):
    @step(next="end")
    def start(self):
        self.rows = [{"item": i, "square": i * i} for i in range(4)]
        self.columns = {"item": [0, 1, 2], "name": ["a", "b", "c"]}
        self.scalar = 7

    @step
    def end(self):
        pass
'''


@pytest.mark.skipif(BACKEND != "local", reason="one Python flow build, on the local store")
def test_tables_convert_to_pandas(tmp_path):
    pd = pytest.importorskip("pandas")
    flow = tmp_path / "table.py"
    flow.write_text(TABLE_FLOW)
    task = wflow.run(flow)["start"].task
    rows = task["rows"].to_pandas()
    assert isinstance(rows, pd.DataFrame)
    assert list(rows.columns) == ["item", "square"] and rows["square"].tolist() == [0, 1, 4, 9]
    columns = task["columns"].to_pandas()
    assert columns.shape == (3, 2) and columns["name"].tolist() == ["a", "b", "c"]
    with pytest.raises(TypeError, match=r"artifact .*/scalar is not a table: its value is a int"):
        task["scalar"].to_pandas()


RAW_TABLE_FLOW = '''
from wflow import FlowSpec, Raw, step


class RawTables(FlowSpec):
    @step(next="end")
    def start(self):
        self.parquet = Raw(bytes.fromhex("{parquet}"))
        self.ipc_file = Raw(bytes.fromhex("{ipc_file}"))
        self.ipc_stream = Raw(bytes.fromhex("{ipc_stream}"))

    @step
    def end(self):
        pass
'''


@pytest.mark.skipif(BACKEND != "local", reason="one Python flow build, on the local store")
def test_raw_arrow_and_parquet_artifacts_convert_to_pandas(tmp_path):
    # pyarrow is installed by scripts/install-python-test-tools: a missing one fails here.
    import pandas as pd
    import pyarrow as pa
    import pyarrow.ipc as ipc
    import pyarrow.parquet as pq

    table = pa.table({"item": [0, 1, 2], "name": ["a", "b", "c"]})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    parquet = sink.getvalue().to_pybytes()
    sink = pa.BufferOutputStream()
    with ipc.new_file(sink, table.schema) as w:
        w.write_table(table)
    ipc_file = sink.getvalue().to_pybytes()
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    ipc_stream = sink.getvalue().to_pybytes()
    flow = tmp_path / "raw_tables.py"
    flow.write_text(
        RAW_TABLE_FLOW.format(parquet=parquet.hex(), ipc_file=ipc_file.hex(), ipc_stream=ipc_stream.hex())
    )
    task = wflow.run(flow)["start"].task
    expected = table.to_pandas()
    for name in ("parquet", "ipc_file", "ipc_stream"):
        assert task[name].codec == "raw"
        frame = task[name].to_pandas()
        assert isinstance(frame, pd.DataFrame)
        pd.testing.assert_frame_equal(frame, expected)


EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize(
    "flow, params",
    [("example-hello", {}), ("example-branch", {}), ("example-foreach", {"n": 3}), ("python-hello", {})],
)
def test_every_example_reads_back_as_the_cli_reads_it(flow, params):
    if flow == "python-hello":
        if BACKEND != "local":
            pytest.skip("one Python flow build, on the local store")
        target = str(EXAMPLES / "python-hello" / "flow.py")
    else:
        target = guest(flow)
    run = wflow.run(target, options=["--no-cache"], **params)
    assert run.successful
    read = 0
    for step in run.steps():
        for task in step.tasks():
            for artifact in task:
                cli = subprocess.run(
                    [os.environ["WFLOW_BIN"], "artifact", "get", "--json", artifact.pathspec],
                    capture_output=True,
                    check=True,
                )
                if artifact.codec == "cbor":
                    assert artifact.data == json.loads(cli.stdout), artifact.pathspec
                else:
                    assert len(artifact.open().read()) == artifact.size, artifact.pathspec
                read += 1
    assert read >= 2, f"{run.pathspec}: only {read} artifacts"


def test_bad_store_settings_are_named(tmp_path, monkeypatch):
    for var in ("WFLOW_STORE", "WFLOW_METADATA", "WFLOW_TOKEN", "WFLOW_S3_ENDPOINT", "WFLOW_S3_PATH_STYLE"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(wflow.StoreError, match="no runs in store .*empty: nothing has run there"):
        wflow.Store(str(tmp_path / "empty"))
    with pytest.raises(wflow.StoreError, match="`` is not a bucket name"):
        wflow.Store("s3://")
    down = wflow.Store(str(tmp_path), metadata="http://127.0.0.1:1")
    with pytest.raises(wflow.StoreError, match="cannot reach the metadata service at http://127.0.0.1:1"):
        wflow.flows(store=down)
    monkeypatch.setenv("WFLOW_S3_PATH_STYLE", "maybe")
    with pytest.raises(wflow.StoreError, match=r"\$WFLOW_S3_PATH_STYLE is `maybe`: expected true or false"):
        wflow.Store()
    assert issubclass(wflow.StoreError, wflow.WflowError)
