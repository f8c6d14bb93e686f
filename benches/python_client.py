"""The Python package next to the CLI on one store: listing runs, and reading one artifact of a
big foreach.

    python benches/python_client.py STORE [--wflow BIN] [--flow Hello] [--runs 1000]
        [--artifact PATHSPEC] [--rounds 7]

STORE is a local store (or an s3:// URL with the WFLOW_S3_* variables set) that already holds at
least --runs runs of --flow; --artifact names one artifact to read (default: the middle item's
`square` of the newest `Foreach` run). Run with the Python that has the package installed
(`maturin develop --release -m python/Cargo.toml`, next to `cargo build --release -p wflow-cli`,
for figures worth comparing). Each figure is the median of --rounds rounds:

- python: in one interpreter, opening the store (wflow.Store) and the call;
- python-process: a fresh interpreter importing wflow and doing the same (what a script pays);
- cli: the `wflow` process (`wflow runs FLOW --limit N --json`, `wflow artifact get PATHSPEC`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

import wflow


def median_ms(rounds: int, fn) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def run_ok(argv) -> None:
    out = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if out.returncode != 0:
        sys.exit(f"{argv}: {out.stderr.decode()}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("store")
    ap.add_argument("--wflow", default=os.environ.get("WFLOW_BIN", "wflow"))
    ap.add_argument("--flow", default="Hello")
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--artifact")
    ap.add_argument("--rounds", type=int, default=7)
    a = ap.parse_args()

    store = wflow.Store(a.store)
    listed = list(wflow.Flow(a.flow, store=store).runs(limit=a.runs))
    if len(listed) < a.runs:
        sys.exit(f"{a.store} has {len(listed)} runs of {a.flow}, not {a.runs}")
    artifact = a.artifact
    if artifact is None:
        run = wflow.Flow("Foreach", store=store).latest_successful_run
        if run is None:
            sys.exit(f"{a.store} has no successful Foreach run: pass --artifact PATHSPEC")
        n = run.parameters["n"]
        artifact = f"{run.pathspec}/square[{n // 2}]/square"
        tasks = sum(s.counts["tasks"] for s in run.steps())
        print(f"reading {artifact} (its run has {tasks} tasks)")
    value = wflow.get(artifact, store=store).data

    def list_py():
        s = wflow.Store(a.store)
        assert len(list(wflow.Flow(a.flow, store=s).runs(limit=a.runs))) == a.runs

    def read_py():
        s = wflow.Store(a.store)
        assert wflow.get(artifact, store=s).data == value

    script_list = (
        "import sys, wflow\n"
        f"s = wflow.Store({a.store!r})\n"
        f"assert len(list(wflow.Flow({a.flow!r}, store=s).runs(limit={a.runs}))) == {a.runs}\n"
    )
    script_read = (
        "import wflow\n"
        f"s = wflow.Store({a.store!r})\n"
        f"print(wflow.get({artifact!r}, store=s).data)\n"
    )
    figures = {
        f"list {a.runs} runs": (
            median_ms(a.rounds, list_py),
            median_ms(a.rounds, lambda: run_ok([sys.executable, "-c", script_list])),
            median_ms(
                a.rounds,
                lambda: run_ok(
                    [a.wflow, "runs", a.flow, "--limit", str(a.runs), "--json", "--store", a.store]
                ),
            ),
        ),
        "read one artifact": (
            median_ms(a.rounds, read_py),
            median_ms(a.rounds, lambda: run_ok([sys.executable, "-c", script_read])),
            median_ms(
                a.rounds,
                lambda: run_ok([a.wflow, "artifact", "get", artifact, "--store", a.store]),
            ),
        ),
    }
    print(f"medians of {a.rounds} rounds, ms; load average {os.getloadavg()[0]:.1f}")
    print(f"{'':24}{'python':>10}{'python-process':>16}{'cli':>10}")
    for name, (py, proc, cli) in figures.items():
        print(f"{name:24}{py:>10.1f}{proc:>16.1f}{cli:>10.1f}")


if __name__ == "__main__":
    main()
