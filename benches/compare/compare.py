#!/usr/bin/env python3
"""Side-by-side comparison of wflow and Metaflow on the same workloads (driven by run.sh).

Runs each workload in both systems, alternating which goes first from round to round, measures
every run from outside (wall time; CPU time and the largest process's peak RSS from wait4; the
memory of the whole process tree sampled from /proc), and writes a table of medians and
wflow/Metaflow ratios to benches/RESULTS.md (and every single measurement to
target/compare/results.json). Standard library only.

Settings come from the environment (see run.sh): ROUNDS, QUICK, WORKLOADS, FOREACH_NS, SCALE_NS,
RESUME_N, BIG_MB, WORKERS, CRITERION_BENCHES, TIMEOUT.
"""

import datetime
import json
import os
import platform
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

import measuring
from reporting import fmt_mb, fmt_s, write_report

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
HERE = os.path.join(ROOT, "benches", "compare")
TARGET_DIR = os.environ.get("WFLOW_TARGET_DIR", os.path.join(ROOT, "target"))
TARGET = os.path.join(TARGET_DIR, "compare")


# ---------------------------------------------------------------------------------------------
# Settings


def env_list(name, default):
    raw = os.environ.get(name, "").strip()
    return [x.strip() for x in (raw or default).split(",") if x.strip()]


QUICK = os.environ.get("QUICK", "") not in ("", "0")
SETTINGS = {
    "rounds": int(os.environ.get("ROUNDS") or (1 if QUICK else 3)),
    "workloads": env_list("WORKLOADS", "linear,foreach,bigdata,branch,resume,scale"),
    "foreach_ns": [int(n) for n in env_list("FOREACH_NS", "10,100" if QUICK else "10,100,1000")],
    # wflow alone (Metaflow would take hours): the largest is run once per round like the others.
    "scale_ns": [int(n) for n in env_list("SCALE_NS", "10000" if QUICK else "10000,100000,1000000")],
    "resume_n": int(os.environ.get("RESUME_N") or (100 if QUICK else 1000)),
    "big_mb": int(os.environ.get("BIG_MB") or 100),
    "workers": int(os.environ.get("WORKERS") or os.cpu_count() or 2),
    "timeout": int(os.environ.get("TIMEOUT") or 3600),
    "quick": QUICK,
}
WFLOW = os.environ.get("WFLOW_BIN", os.path.join(TARGET_DIR, "release", "wflow"))
GUESTS = os.environ.get("GUESTS_DIR", os.path.join(TARGET_DIR, "bench-guests", "wasm32-wasip2", "release"))
PYTHON = os.environ.get("MF_PYTHON", os.path.join(TARGET, "venv", "bin", "python"))
MF_DIR = os.path.join(HERE, "metaflow")
WFLOW_CACHE = os.path.join(TARGET, "wflow-cache")
WORK = os.path.join(TARGET, "work")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def measure(cmd, cwd, env, label):
    """Runs `cmd` and measures it (see measuring.py). Returns a dict; never raises for a failing
    command."""
    return measuring.measure(cmd, cwd, env, label, SETTINGS["timeout"])


# ---------------------------------------------------------------------------------------------
# The two systems


def workdir(name):
    os.makedirs(WORK, exist_ok=True)
    return tempfile.mkdtemp(prefix=name + "-", dir=WORK)


def wflow_env():
    env = dict(os.environ)
    env.pop("WFLOW_STORE", None)
    env.pop("WFLOW_MAX_WORKERS", None)
    env["WFLOW_CACHE_DIR"] = WFLOW_CACHE
    env["NO_COLOR"] = "1"
    return env


def mf_env(d):
    env = dict(os.environ)
    env.update(
        {
            "METAFLOW_HOME": os.path.join(d, "metaflow-home"),
            "METAFLOW_DEFAULT_DATASTORE": "local",
            "METAFLOW_DEFAULT_METADATA": "local",
            "METAFLOW_DATASTORE_SYSROOT_LOCAL": d,
            "USERNAME": "bench",
        }
    )
    env.pop("BENCH_FAIL_JOIN", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def wflow_cmd(component, params, sub="run"):
    cmd = [WFLOW, sub, os.path.join(GUESTS, component)] if sub == "run" else [WFLOW, sub]
    for k, v in params:
        cmd += ["-p", "%s=%s" % (k, v)]
    return cmd + ["--max-workers", str(SETTINGS["workers"]), "--json"]


def mf_cmd(flow, params, sub="run", splits=None):
    cmd = [PYTHON, os.path.join(MF_DIR, flow), "--no-pylint", sub, "--max-workers", str(SETTINGS["workers"])]
    if splits:
        cmd += ["--max-num-splits", str(max(100, splits))]
    for k, v in params:
        cmd += ["--" + k, str(v)]
    return cmd


def run_wflow(case, d):
    component, params = case["wflow"]
    m = measure(wflow_cmd(component, params), d, wflow_env(), "wflow " + case["name"])
    add_wflow_summary(m, d)
    return m


def add_wflow_summary(m, d):
    try:
        summary = json.loads(m["_stdout"])
    except ValueError:
        summary = {}
    m["run_id"] = summary.get("run_id")
    m["tasks"] = len(summary.get("tasks", []))
    m["ok"] = m["rc"] == 0 and summary.get("status") == "succeeded"
    m["task_spans_ms"] = wflow_task_spans(os.path.join(d, ".wflow", "metadata.sqlite"), m["run_id"])


def wflow_task_spans(db, run_id):
    """Per step: (first task start, last task end) in ms, from wflow's records."""
    if not run_id or not os.path.exists(db):
        return {}
    try:
        con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
        # The per-step summary (records schema 7 and later) keys steps by the run's id.
        rows = con.execute(
            "SELECT step, first_started_ms, last_finished_ms FROM step_summary WHERE run_id = ?", (run_id,)
        ).fetchall()
        con.close()
        return {step: [a, b] for step, a, b in rows}
    except sqlite3.Error:
        return {}


def run_scale(case, d):
    """wflow alone on a big foreach, in text mode (`--json` would print every task): the run loop's
    own time from its closing line, the rest of the process around it, and what the store holds."""
    component, params = case["wflow"]
    cmd = [c for c in wflow_cmd(component, params) if c != "--json"]
    # The built-in policy allows 100,000 foreach items and 1,000,000 tasks per run: a policy of
    # the run's own raises both to what the run needs (a user's --policy alone is the policy
    # when the machine has none).
    policy = os.path.join(d, "scale-policy.toml")
    os.makedirs(d, exist_ok=True)
    with open(policy, "w") as f:
        f.write("[limits]\nmax_foreach_items = %d\nmax_tasks_per_run = %d\n"
                % (max(case["n"], 100000), max(case["n"] + 3, 1000000)))
    cmd += ["--policy", policy]
    m = measure(cmd, d, wflow_env(), "wflow " + case["name"])
    found = re.search(r"succeeded in ([0-9.]+) s \((\d+) tasks\)", m["stderr_tail"])
    m["ok"] = m["rc"] == 0 and found is not None
    if found:
        m["loop_s"] = float(found.group(1))
        m["outside_s"] = max(0.0, m["wall_s"] - m["loop_s"])
        m["tasks"] = int(found.group(2))
    files = size = 0
    for top, _, names in os.walk(os.path.join(d, ".wflow")):
        for name in names:
            try:
                st = os.lstat(os.path.join(top, name))
            except OSError:
                continue
            files += 1
            size += st.st_blocks * 512
    m["store_files"], m["store_bytes"] = files, size
    if m["ok"]:
        m["single_ms"] = single_task_commands(d, policy, m["tasks"])
    # Removed at once: a 1,000,000-task store is large, and only the scale runs follow it.
    shutil.rmtree(d, ignore_errors=True)
    return m


# The commands timed on one task of a scale run, by name: `show`, `logs`, `artifact get` of its
# value, and `step-run` (a resume of that one task on its recorded inputs).
SINGLE_TASK = ["show", "logs", "artifact get", "step-run"]


def single_task_commands(d, policy, tasks):
    """Median wall time (ms, of 3) of each of SINGLE_TASK on the middle item's task of the run in
    `d` (task ids: start is 1, the items 2..N+1), as a user types them."""
    env = wflow_env()
    out = subprocess.run([WFLOW, "runs", "--json"], cwd=d, env=env, capture_output=True, text=True)
    try:
        run = json.loads(out.stdout)[0]
    except (ValueError, IndexError, KeyError):
        return {}
    task = "%s/%s/square/%d" % (run["flow"], run["run_id"], (tasks - 3) // 2 + 2)
    args = {
        "show": ["show", task],
        "logs": ["logs", task],
        "artifact get": ["artifact", "get", task + "/value"],
        # The run's policy: the reused fan-out counts against max_tasks_per_run.
        "step-run": ["--policy", policy, "step-run", task],
    }
    found = {}
    for name in SINGLE_TASK:
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            r = subprocess.run([WFLOW] + args[name], cwd=d, env=env, capture_output=True)
            if r.returncode != 0:
                log("  %s of %s failed: %s" % (name, task, r.stderr.decode(errors="replace")[-300:]))
                break
            times.append(1000 * (time.perf_counter() - t0))
        else:
            found[name] = statistics.median(times)
    return found


def run_mf(case, d):
    flow, params = case["mf"]
    m = measure(mf_cmd(flow, params, splits=case.get("splits")), d, mf_env(d), "metaflow " + case["name"])
    m["ok"] = m["rc"] == 0
    return m


# ---------------------------------------------------------------------------------------------
# Workloads


def cases():
    s = SETTINGS
    out = []
    for w in s["workloads"]:
        if w == "linear":
            out.append({"name": "linear 5 steps", "key": "linear", "wflow": ("compare_linear.wasm", []),
                        "mf": ("linear_flow.py", []), "tasks": 5})
        elif w == "foreach":
            for n in s["foreach_ns"]:
                out.append({"name": "foreach N=%d" % n, "key": "foreach", "n": n,
                            "wflow": ("compare_fanout.wasm", [("n", n)]), "mf": ("foreach_flow.py", [("n", n)]),
                            "splits": n, "tasks": n + 3})
        elif w == "bigdata":
            mb = s["big_mb"]
            out.append({"name": "%d MB artifact" % mb, "key": "bigdata", "mb": mb,
                        "wflow": ("example_bigdata.wasm", [("mb", mb)]), "mf": ("bigdata_flow.py", [("mb", mb)]),
                        "tasks": 3})
        elif w == "branch":
            out.append({"name": "branch + join", "key": "branch", "wflow": ("example_branch.wasm", []),
                        "mf": ("branch_flow.py", []), "tasks": 5})
        elif w == "resume":
            n = s["resume_n"]
            out.append({"name": "resume join, N=%d" % n, "key": "resume", "n": n, "splits": n, "tasks": 2})
        elif w == "scale":
            for n in s["scale_ns"]:
                out.append({"name": "scale N={:,}".format(n), "key": "scale", "n": n,
                            "wflow": ("compare_fanout.wasm", [("n", n)]), "mf": None, "tasks": n + 3})
        else:
            sys.exit("unknown workload %r (known: linear, foreach, bigdata, branch, resume, scale)" % w)
    return out


class Resume:
    """Workload (e): a foreach whose join failed, resumed. The failed origin run is made once per
    system (measured, but not part of the median); each round then resumes it again."""

    def __init__(self, case):
        self.case = case
        self.n = case["n"]
        self.wflow_dir = self.mf_dir = None
        self.wflow_origin = self.mf_origin = None
        self.origin = {}
        self.skip_wflow = None

    def wflow_available(self):
        try:
            r = subprocess.run([WFLOW, "resume", "--help"], capture_output=True, text=True, timeout=60)
        except OSError as e:
            return "cannot run wflow: %s" % e
        if r.returncode != 0:
            return "`wflow resume --help` failed (exit %d): %s" % (r.returncode, ((r.stderr or r.stdout).strip().splitlines() or [""])[0][:300])
        return None

    def setup(self):
        self.skip_wflow = self.wflow_available()
        if self.skip_wflow:
            log("  (e) wflow side skipped: " + self.skip_wflow)
        else:
            self.wflow_dir = workdir("wflow-resume")
            cmd = wflow_cmd("compare_fanout.wasm", [("n", self.n), ("fail", "true")])
            m = measure(cmd, self.wflow_dir, wflow_env(), "wflow origin (fails)")
            add_wflow_summary(m, self.wflow_dir)
            self.wflow_origin = m["run_id"]
            m["ok"] = m["rc"] != 0 and bool(self.wflow_origin)
            self.origin["wflow"] = m
            log("  (e) wflow origin run %s failed as planned in %.2f s" % (self.wflow_origin, m["wall_s"]))
            if not m["ok"]:
                self.skip_wflow = "the origin run did not fail as planned: %s" % m["stderr_tail"][-300:]
        self.mf_dir = workdir("metaflow-resume")
        env = mf_env(self.mf_dir)
        env["BENCH_FAIL_JOIN"] = "1"
        cmd = mf_cmd("foreach_flow.py", [("n", self.n)], splits=self.n) + ["--run-id-file", "origin-run-id"]
        m = measure(cmd, self.mf_dir, env, "metaflow origin (fails)")
        try:
            with open(os.path.join(self.mf_dir, "origin-run-id")) as f:
                self.mf_origin = f.read().strip()
        except OSError:
            self.mf_origin = None
        m["ok"] = m["rc"] != 0 and bool(self.mf_origin)
        self.origin["metaflow"] = m
        log("  (e) Metaflow origin run %s failed as planned in %.2f s" % (self.mf_origin, m["wall_s"]))

    def run_wflow(self):
        if self.skip_wflow:
            return None
        cmd = [WFLOW, "resume", self.wflow_origin, "-p", "fail=false", "--max-workers", str(SETTINGS["workers"]), "--json"]
        m = measure(cmd, self.wflow_dir, wflow_env(), "wflow resume")
        add_wflow_summary(m, self.wflow_dir)
        return m

    def run_mf(self):
        if not self.mf_origin:
            return None
        cmd = mf_cmd("foreach_flow.py", [], sub="resume", splits=self.n) + ["--origin-run-id", self.mf_origin]
        m = measure(cmd, self.mf_dir, mf_env(self.mf_dir), "metaflow resume")
        m["ok"] = m["rc"] == 0
        return m


def warm_up(metaflow=True):
    """One untimed run of each flow in each system: wflow fills its compiled-component cache (what
    any second run of an unchanged flow finds), Python its bytecode caches, both the page cache."""
    log("warm-up (not measured)")
    first = {}
    flows = [("compare_linear.wasm", []), ("compare_fanout.wasm", [("n", 2)]),
             ("example_bigdata.wasm", [("mb", 1)]), ("example_branch.wasm", [])]
    for component, params in flows if metaflow else flows[1:2]:
        d = workdir("warmup")
        m = measure(wflow_cmd(component, params), d, wflow_env(), "wflow warm-up " + component)
        first[component] = m["wall_s"]
        if m["rc"] != 0:
            sys.exit("wflow failed on %s:\n%s" % (component, m["stderr_tail"]))
        shutil.rmtree(d, ignore_errors=True)
    for flow, params, splits in [] if not metaflow else [("linear_flow.py", [], None), ("foreach_flow.py", [("n", 2)], 2),
                                 ("bigdata_flow.py", [("mb", 1)], None), ("branch_flow.py", [], None)]:
        d = workdir("warmup")
        m = measure(mf_cmd(flow, params, splits=splits), d, mf_env(d), "metaflow warm-up " + flow)
        if m["rc"] != 0:
            sys.exit("Metaflow failed on %s:\n%s" % (flow, m["stderr_tail"]))
        shutil.rmtree(d, ignore_errors=True)
    return first


def disk_baseline(mib):
    """disk_baseline_here, in a child process so that this one stays small."""
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--disk-baseline", str(mib)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def disk_baseline_here(mib, repeat=3):
    """MiB/s of writing a new `mib` MiB file into the page cache and then reading it back in 4 MiB
    pieces (no fsync), on the disk the runs use: the scale for the big-artifact figures. Each
    repeat writes a new file, and all are kept until the end, so every write gets fresh page-cache
    pages, as a new blob does (rewriting a deleted file's pages can be many times cheaper on a VM)."""
    os.makedirs(WORK, exist_ok=True)
    data = os.urandom(mib << 20)
    piece = bytearray(4 << 20)
    writes, reads, paths = [], [], []
    try:
        for i in range(repeat):
            path = os.path.join(WORK, "baseline-%d.bin" % i)
            paths.append(path)
            t0 = time.perf_counter()
            with open(path, "wb") as f:
                f.write(data)
            writes.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            total = 0
            with open(path, "rb", buffering=0) as f:
                while True:
                    n = f.readinto(piece)
                    if not n:
                        break
                    total += n
            reads.append(time.perf_counter() - t0)
            assert total == len(data)
    finally:
        for path in paths:
            if os.path.exists(path):
                os.unlink(path)
    both = [w + r for w, r in zip(writes, reads)]
    return {"write_mibps": mib / statistics.median(writes), "read_mibps": mib / statistics.median(reads),
            "first_write_mibps": mib / writes[0], "write_read_mibps": mib / statistics.median(both)}


def cmd_output(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60).stdout.strip()
    except OSError:
        return ""


def machine():
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    lock = open(os.path.join(ROOT, "Cargo.lock")).read()
    wasmtime = re.search(r'name = "wasmtime"\nversion = "([^"]+)"', lock)
    return {
        "nproc": cmd_output(["nproc"]) or str(os.cpu_count()),
        "model": model,
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "rustc": cmd_output(["rustc", "-V"]),
        "wasmtime": wasmtime.group(1) if wasmtime else "?",
        "metaflow": cmd_output([PYTHON, "-c", "import metaflow; print(metaflow.__version__)"]),
        "python": cmd_output([PYTHON, "-c", "import sys; print(sys.version.split()[0])"]),
        "wflow_commit": cmd_output(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"]),
        "wflow_dirty": bool(cmd_output(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"])),
    }


def criterion_results(since):
    """Medians of the criterion benches run since `since` (epoch seconds), from target/criterion."""
    base = os.path.join(TARGET_DIR, "criterion")
    out = []
    for dirpath, _dirs, files in os.walk(base):
        if os.path.basename(dirpath) != "new" or "estimates.json" not in files:
            continue
        est_path = os.path.join(dirpath, "estimates.json")
        if os.path.getmtime(est_path) < since:
            continue
        try:
            est = json.load(open(est_path))
            bench = json.load(open(os.path.join(dirpath, "benchmark.json")))
        except (OSError, ValueError):
            continue
        median_ns = est["median"]["point_estimate"]
        lo, hi = est["median"]["confidence_interval"]["lower_bound"], est["median"]["confidence_interval"]["upper_bound"]
        thr = bench.get("throughput") or {}
        rate = ""
        if "Bytes" in thr:
            rate = "%.0f MB/s" % (thr["Bytes"] / (median_ns / 1e9) / 1e6)
        elif "Elements" in thr:
            rate = "{:,.0f} /s".format(thr["Elements"] / (median_ns / 1e9))
        out.append((bench.get("full_id") or bench.get("title"), median_ns / 1e9, lo / 1e9, hi / 1e9, rate))
    return sorted(out)


BASELINE = {}


def loadavg():
    """The 1, 5 and 15-minute load averages, as `uptime` shows them."""
    try:
        with open("/proc/loadavg") as f:
            return [float(x) for x in f.read().split()[:3]]
    except (OSError, ValueError):
        return []


def strip(m):
    return {k: v for k, v in m.items() if k != "_stdout"} if m else None


def main():
    started = datetime.datetime.now(datetime.timezone.utc)
    load_before = loadavg()
    command = os.environ.get("COMPARE_COMMAND", " ".join(sys.argv))
    crit_since = float(os.environ["CRITERION_SINCE"]) if os.environ.get("CRITERION_SINCE") else None
    SETTINGS["criterion"] = env_list("CRITERION_BENCHES", "") if crit_since else []
    needs_mf = any(w != "scale" for w in SETTINGS["workloads"])
    for path in (WFLOW, PYTHON) if needs_mf else (WFLOW,):
        if not os.path.exists(path):
            sys.exit("missing %s: run benches/compare/run.sh" % path)
    log("settings: %s" % json.dumps({k: v for k, v in SETTINGS.items()}))
    info = machine()
    first_runs = warm_up(needs_mf)
    if "bigdata" in SETTINGS["workloads"]:
        BASELINE["disk"] = disk_baseline(SETTINGS["big_mb"])
        log("disk baseline: %s" % BASELINE["disk"])

    results, resume = {}, None
    for c in cases():
        results[c["name"]] = {"wflow": [], "metaflow": []}
        if c["key"] == "resume":
            resume = Resume(c)
            log("(e) setting up the failed origin runs (N=%d)" % c["n"])
            resume.setup()
    # Run directories are removed after the last round, not between runs: on an ext4 without a
    # journal (this machine's), an inode freed less than a minute ago cannot be reused, and every
    # file created meanwhile scans past the freed ones, so a run that followed the removal of a
    # 1,000-task run's directory paid for that cleanup (measured: up to 2.4x the wall time).
    spent = []
    for rnd in range(SETTINGS["rounds"]):
        for c in cases():
            order = ["wflow", "metaflow"] if rnd % 2 == 0 else ["metaflow", "wflow"]
            for side in order:
                if c["key"] == "resume":
                    m = resume.run_wflow() if side == "wflow" else resume.run_mf()
                elif c["key"] == "scale":
                    m = run_scale(c, workdir("wflow-scale")) if side == "wflow" else None
                else:
                    d = workdir(side + "-" + c["key"])
                    m = run_wflow(c, d) if side == "wflow" else run_mf(c, d)
                    spent.append(d)
                if m:
                    log("round %d  %-22s %-8s wall %-9s cpu %-9s mem %-7s others %.2f cores %s" % (
                        rnd + 1, c["name"], side, fmt_s(m["wall_s"]), fmt_s(m["cpu_s"]), fmt_mb(m["peak_mem_kb"]),
                        m["others_cores"], "ok" if m["ok"] else "FAILED (exit %d)\n%s" % (m["rc"], m["stderr_tail"][-800:])))
                results[c["name"]][side].append(m)
    if resume:
        spent += [d for d in (resume.wflow_dir, resume.mf_dir) if d]
    for d in spent:
        shutil.rmtree(d, ignore_errors=True)

    finished = datetime.datetime.now(datetime.timezone.utc)
    raw = {
        "settings": SETTINGS, "machine": info, "command": command, "started": started.isoformat(),
        "finished": finished.isoformat(), "first_runs": first_runs, "baseline": BASELINE,
        "loadavg": {"before": load_before, "after": loadavg()},
        "note": os.environ.get("MACHINE_NOTE", "").strip(),
        "cases": {c["name"]: c for c in cases()},
        "results": {n: {side: [strip(m) for m in ms] for side, ms in r.items()} for n, r in results.items()},
        "resume": {"n": resume.n, "skip_wflow": resume.skip_wflow,
                   "origin": {side: strip(m) for side, m in resume.origin.items()}} if resume else None,
        "criterion": criterion_results(crit_since) if crit_since else [],
    }
    os.makedirs(TARGET, exist_ok=True)
    raw_path = os.path.join(TARGET, "results.json")
    with open(raw_path, "w") as f:
        json.dump(raw, f, indent=1)
    log("wrote %s" % raw_path)
    write_report(raw)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--disk-baseline"]:
        print(json.dumps(disk_baseline_here(int(sys.argv[2]))))
    elif sys.argv[1:2] == ["--report"]:
        # Writes the report again from a results.json (after changing the report's layout).
        with open(sys.argv[2] if len(sys.argv) > 2 else os.path.join(TARGET, "results.json")) as f:
            write_report(json.load(f))
    else:
        main()
