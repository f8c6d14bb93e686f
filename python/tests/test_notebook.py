"""docs/python.ipynb, executed headless (nbclient and an IPython kernel), so the walkthrough
cannot rot: its cells assert what they show."""

import json
import os
import pathlib

import pytest

from conftest import BACKEND, guest

NOTEBOOK = pathlib.Path(__file__).resolve().parents[2] / "docs" / "python.ipynb"


@pytest.mark.skipif(BACKEND != "local", reason="the notebook runs once, on the local store")
def test_the_docs_notebook_runs_headless(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, "the notebook has one cell tagged `parameters`"
    # The components the tests built, instead of building the crates again.
    params[0].source = (
        f"HELLO = {guest('example-hello')!r}\nFOREACH = {guest('example-foreach')!r}\n"
    )
    client = nbclient.NotebookClient(
        nb,
        kernel_name="python3",
        timeout=600,
        resources={"metadata": {"path": os.getcwd()}},
    )
    client.execute()
    html = [
        o["data"]["text/html"]
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if "text/html" in o.get("data", {})
    ]
    assert any("<svg" in h and 'data-step="sum"' in h for h in html), "a Run shows its graph"
    assert any("<code>total</code>" in h for h in html), "a Task shows its artifacts"
    texts = json.dumps([c.outputs for c in nb.cells if c.cell_type == "code"])
    assert "NotFoundError: step `sun` not found" in texts
