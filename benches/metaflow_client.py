"""Metaflow's client on the figures of benches/python_client.py: listing a flow's runs and reading
one artifact, from its local datastore and metadata (run it from the directory holding
`.metaflow`, with a Python that has metaflow installed).

    python benches/metaflow_client.py FLOW STEP ARTIFACT [--runs N] [--rounds 7]
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

from metaflow import Flow, namespace


def median_ms(rounds, fn):
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("flow")
    ap.add_argument("step")
    ap.add_argument("artifact")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=7)
    a = ap.parse_args()
    namespace(None)
    runs = list(Flow(a.flow).runs())
    if len(runs) < a.runs:
        sys.exit(f"{len(runs)} runs of {a.flow}, not {a.runs}")
    pathspec = runs[0].pathspec

    def list_py():
        assert len(list(Flow(a.flow).runs())) >= a.runs

    def read_py():
        from metaflow import Run

        return getattr(Run(pathspec)[a.step].task.data, a.artifact)

    value = read_py()
    pre = "from metaflow import Flow, Run, namespace\nnamespace(None)\n"
    script_list = pre + f"assert len(list(Flow({a.flow!r}).runs())) >= {a.runs}\n"
    script_read = pre + f"print(Run({pathspec!r})[{a.step!r}].task.data.{a.artifact})\n"

    def proc(script):
        subprocess.run([sys.executable, "-c", script], check=True, stdout=subprocess.DEVNULL)

    rows = {
        f"list {a.runs} runs": (median_ms(a.rounds, list_py), median_ms(a.rounds, lambda: proc(script_list))),
        "read one artifact": (median_ms(a.rounds, read_py), median_ms(a.rounds, lambda: proc(script_read))),
    }
    print(f"Metaflow client, medians of {a.rounds} rounds, ms; load average {os.getloadavg()[0]:.1f}")
    print(f"{'':24}{'python':>10}{'python-process':>16}   (value read: {value!r})")
    for name, (py, pr) in rows.items():
        print(f"{name:24}{py:>10.1f}{pr:>16.1f}")


if __name__ == "__main__":
    main()
