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
import resource
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
HERE = os.path.join(ROOT, "benches", "compare")
TARGET_DIR = os.environ.get("WFLOW_TARGET_DIR", os.path.join(ROOT, "target"))
TARGET = os.path.join(TARGET_DIR, "compare")
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


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
GNU_TIME = os.environ.get("GNU_TIME", "/usr/bin/time")
WFLOW_CACHE = os.path.join(TARGET, "wflow-cache")
WORK = os.path.join(TARGET, "work")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Measuring one command


def cpu_busy_seconds():
    """CPU time the whole machine has spent busy (all cores), from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal guest guest_nice
    busy = fields[0] + fields[1] + fields[2] + fields[5] + fields[6] + (fields[7] if len(fields) > 7 else 0)
    return busy / CLK_TCK


def children_of(pid):
    kids = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                    kids.extend(int(x) for x in f.read().split())
            except OSError:
                pass
    except OSError:
        pass
    return kids


def tree(pid):
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children_of(p))
    return out


def memory_kb(pid):
    """(RSS, PSS) of one process in KiB, or None if it is gone."""
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            text = f.read()
    except OSError:
        return None
    rss = re.search(r"^Rss:\s+(\d+)", text, re.M)
    pss = re.search(r"^Pss:\s+(\d+)", text, re.M)
    if not rss:
        return None
    return int(rss.group(1)), int(pss.group(1)) if pss else int(rss.group(1))


class Sampler(threading.Thread):
    """Samples the memory of a process tree every `interval` seconds; keeps the peaks."""

    def __init__(self, pid, interval=0.02):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.stop = threading.Event()
        self.peak_rss_kb = self.peak_pss_kb = self.max_procs = self.samples = 0

    def run(self):
        while not self.stop.is_set():
            rss = pss = n = 0
            for p in tree(self.pid):
                m = memory_kb(p)
                if m:
                    rss, pss, n = rss + m[0], pss + m[1], n + 1
            self.peak_rss_kb = max(self.peak_rss_kb, rss)
            self.peak_pss_kb = max(self.peak_pss_kb, pss)
            self.max_procs = max(self.max_procs, n)
            self.samples += 1
            self.stop.wait(self.interval)


def measure(cmd, cwd, env, label):
    """Runs `cmd` and measures it. Returns a dict; never raises for a failing command."""
    out_path, err_path = os.path.join(cwd, "stdout.txt"), os.path.join(cwd, "stderr.txt")
    own0 = resource.getrusage(resource.RUSAGE_SELF)
    busy0 = cpu_busy_seconds()
    load0 = os.getloadavg()[0]
    time_path = os.path.join(cwd, "time.txt")
    # GNU time runs the command: its %M is the peak RSS of the largest process of the tree, measured
    # from a tiny parent (a child forked straight from this Python process would inherit its RSS
    # as a floor).
    timed = [GNU_TIME, "-f", "%e %U %S %M", "-o", time_path] + cmd
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(timed, cwd=cwd, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        sampler = Sampler(proc.pid)
        sampler.start()
        timer = threading.Timer(SETTINGS["timeout"], lambda: os.killpg(proc.pid, signal.SIGKILL))
        timer.start()
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        timed_out = not timer.is_alive()
        timer.cancel()
        sampler.stop.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
    busy = cpu_busy_seconds() - busy0
    own1 = resource.getrusage(resource.RUSAGE_SELF)
    own = (own1.ru_utime - own0.ru_utime) + (own1.ru_stime - own0.ru_stime)
    cpu = ru.ru_utime + ru.ru_stime
    # wait4 reports the child and every descendant it waited for.
    try:
        with open(time_path) as f:
            max_rss_kb = int(f.read().split()[-1])
    except (OSError, ValueError, IndexError):
        max_rss_kb = 0
    peak_kb = max(max_rss_kb, sampler.peak_pss_kb)
    with open(out_path, "rb") as f:
        stdout = f.read().decode("utf-8", "replace")
    with open(err_path, "rb") as f:
        stderr = f.read().decode("utf-8", "replace")
    return {
        "label": label,
        "cmd": cmd,
        "rc": proc.returncode,
        "timed_out": timed_out,
        "wall_s": wall,
        "cpu_s": cpu,
        "user_s": ru.ru_utime,
        "sys_s": ru.ru_stime,
        "max_process_rss_kb": max_rss_kb,
        "tree_peak_pss_kb": sampler.peak_pss_kb,
        "tree_peak_rss_sum_kb": sampler.peak_rss_kb,
        "peak_mem_kb": peak_kb,
        "max_procs": sampler.max_procs,
        "mem_samples": sampler.samples,
        "others_cores": max(0.0, busy - cpu - own) / wall if wall > 0 else 0.0,
        "loadavg_1m": load0,
        "stdout_tail": stdout[-2000:],
        "stderr_tail": stderr[-2000:],
        "_stdout": stdout,
    }


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
        rows = con.execute(
            "SELECT step, MIN(started_ms), MAX(finished_ms) FROM tasks WHERE run_id = ? GROUP BY step", (run_id,)
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
    # Removed at once: a 1,000,000-task store is large, and only the scale runs follow it.
    shutil.rmtree(d, ignore_errors=True)
    return m


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
    """MiB/s of writing a new `mib` MiB file into the page cache and reading it back (no fsync), on
    the disk the runs use: the scale for the big-artifact figures."""
    os.makedirs(WORK, exist_ok=True)
    data = os.urandom(mib << 20)
    writes, reads = [], []
    for _ in range(repeat):
        path = os.path.join(WORK, "baseline.bin")
        t0 = time.perf_counter()
        with open(path, "wb") as f:
            f.write(data)
        writes.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        with open(path, "rb") as f:
            back = f.read()
        reads.append(time.perf_counter() - t0)
        assert len(back) == len(data)
        del back
        os.unlink(path)
    # The first write gets fresh page-cache pages; the later ones mostly reuse the pages the
    # previous (deleted) file freed, which can be many times cheaper (a full page cache on a VM).
    return {"write_mibps": mib / statistics.median(writes), "read_mibps": mib / statistics.median(reads),
            "first_write_mibps": mib / writes[0]}


# ---------------------------------------------------------------------------------------------
# Statistics and the report


def med(ms, key):
    vals = [m[key] for m in ms if m and m.get("ok")]
    return statistics.median(vals) if vals else None


def slope(points):
    """Least-squares slope and intercept of (x, y) points."""
    pts = [(x, y) for x, y in points if y is not None]
    if len(pts) < 2:
        return None, None
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    if sxx == 0:
        return None, None
    b = sum((x - mx) * (y - my) for x, y in pts) / sxx
    return b, my - b * mx


def fmt_s(s):
    if s is None:
        return "—"
    if s >= 100:
        return "%.0f s" % s
    if s >= 1:
        return "%.2f s" % s
    if s >= 0.001:
        return "%.1f ms" % (s * 1e3)
    return "%.1f µs" % (s * 1e6)


def fmt_mb(kb):
    return "—" if kb is None else "%.0f MB" % (kb / 1024)


def fmt_ratio(a, b):
    """wflow/Metaflow, and how many times less that is."""
    if a is None or b is None or b == 0:
        return "—"
    r = a / b
    if r <= 0:
        return "—"
    times = 1 / r
    if times >= 1:
        return "%.3g (%s× less)" % (r, "{:,.0f}".format(times) if times >= 10 else "%.1f" % times)
    return "%.3g (%.1f× more)" % (r, 1 / times)


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


def report(raw):
    """The Markdown report from the record `main` keeps in results.json."""
    s, info, results, cases_ = raw["settings"], raw["machine"], raw["results"], raw["cases"]
    resume, first_runs, baseline = raw.get("resume"), raw["first_runs"], raw.get("baseline", {})
    started = datetime.datetime.fromisoformat(raw["started"])
    finished = datetime.datetime.fromisoformat(raw["finished"])
    lines = []
    w = lines.append
    w("# wflow vs Metaflow: benchmark results")
    w("")
    w("Written by `benches/compare/run.sh` (with `benches/compare/compare.py`) on %s; do not edit by hand."
      % finished.strftime("%Y-%m-%d %H:%M UTC"))
    w("")
    w("Command: `%s`" % raw["command"])
    w("")
    h = headline(raw)
    if h:
        w("**In short**: " + "; ".join(h) + ".")
        w("")
    w("## Machine and versions")
    w("")
    w("- %s cores (`nproc`), %s, %s GiB RAM, Linux %s" % (info["nproc"], info["model"], info["memory_gib"], info["kernel"]))
    w("- wflow %s%s, %s, wasmtime %s" % (info["wflow_commit"], " (with uncommitted changes)" if info["wflow_dirty"] else "",
                                        info["rustc"], info["wasmtime"]))
    w("- Metaflow %s on Python %s (virtualenv `target/compare/venv`)" % (info["metaflow"], info["python"]))
    all_runs = [m for r in results.values() for side in r.values() for m in side if m]
    others = statistics.median([m["others_cores"] for m in all_runs]) if all_runs else 0
    loads = [m["loadavg_1m"] for m in all_runs]
    w("- Machine shared with other work while measuring: other processes used a median of %.2f cores "
      "(max %.2f) during the runs; 1-minute load average %.1f–%.1f. Started %s, finished %s (UTC)."
      % (others, max([m["others_cores"] for m in all_runs] or [0]), min(loads or [0]), max(loads or [0]),
         started.strftime("%H:%M"), finished.strftime("%H:%M")))
    la = raw.get("loadavg") or {}
    if la.get("before") and la.get("after"):
        w("- Load averages (1, 5, 15 min, as `uptime` shows them): %s before the comparison, %s after."
          % (", ".join("%.2f" % x for x in la["before"]), ", ".join("%.2f" % x for x in la["after"])))
    if raw.get("note"):
        w("- Note from whoever ran it (`MACHINE_NOTE`): %s" % raw["note"])
    w("")
    w("## Method")
    w("")
    w("- %d round(s); in each round every workload runs once in each system, the order alternating "
      "(wflow first in odd rounds, Metaflow first in even ones). Figures are medians over the rounds." % s["rounds"])
    w("- Both on their local defaults: wflow `run` of a prebuilt component with its embedded store and "
      "SQLite records (`.wflow/` in a fresh directory per run, compiled-component cache kept across runs); "
      "Metaflow `run` with the local datastore and local metadata (a fresh directory per run, "
      "`METAFLOW_HOME` inside it). `--max-workers %d` for both; Metaflow gets `--max-num-splits` when a "
      "foreach needs it, and `--no-pylint`. The run directories are removed only after the last "
      "round: on an ext4 without a journal a freed inode is not reused for about a minute and file "
      "creation scans past freed ones, so removing a 1,000-task run's files made the next run pay "
      "for them." % s["workers"])
    w("- Before round 1, one untimed warm-up run of each flow in each system (wflow: compiles the "
      "component into its cache; Python: bytecode caches). wflow's first, compiling runs took: %s."
      % ", ".join("%s %s" % (k.replace(".wasm", ""), fmt_s(v)) for k, v in first_runs.items()))
    w("- **Wall**: from spawning the command to its exit. **CPU**: user + system time of the command and "
      "every process it waited for (`wait4`). **Peak memory**: the larger of the biggest single process's "
      "peak RSS (GNU time's `%M`, measured from its small parent) and the peak sum of PSS (proportional set size, so shared pages count once) "
      "over the whole process tree, sampled from `/proc` every 20 ms — for Metaflow that is the runtime "
      "plus its task subprocesses.")
    w("")
    w("## Results (medians)")
    w("")
    w("Ratio = wflow / Metaflow (below 1: wflow uses less).")
    w("")
    w("| Workload | wflow wall | Metaflow wall | wall ratio | wflow CPU | Metaflow CPU | CPU ratio | wflow peak mem | Metaflow peak mem | mem ratio |")
    w("|---|---:|---:|---|---:|---:|---|---:|---:|---|")
    for name, r in results.items():
        if cases_[name]["key"] == "scale":
            continue
        a, b = r["wflow"], r["metaflow"]
        row = [name]
        for key, f in [("wall_s", fmt_s), ("cpu_s", fmt_s), ("peak_mem_kb", fmt_mb)]:
            x, y = med(a, key), med(b, key)
            row += [f(x), f(y), fmt_ratio(x, y)]
        if not any(m and m.get("ok") for m in a):
            row[1] = "failed" if any(a) else "skipped"
        if not any(m and m.get("ok") for m in b):
            row[2] = "failed" if any(b) else "skipped"
        w("| " + " | ".join(row) + " |")
    w("")

    # Per-task overhead from the foreach sizes.
    fe = [(c, r) for c, r in ((cases_[n], results[n]) for n in results) if c["key"] == "foreach"]
    figures = {}
    if len(fe) >= 2:
        w("## Per-task overhead (slope of the foreach runs over N = %s)" % ", ".join(str(c["n"]) for c, _ in fe))
        w("")
        w("Least-squares slope of the median wall and CPU time against N: what each extra trivial task costs "
          "end to end (task start, run, artifacts persisted, records written, join input).")
        w("")
        w("| | wflow | Metaflow | wflow / Metaflow |")
        w("|---|---:|---:|---|")
        for key, label in [("wall_s", "wall per task"), ("cpu_s", "CPU per task")]:
            sa, _ = slope([(c["n"], med(r["wflow"], key)) for c, r in fe])
            sb, _ = slope([(c["n"], med(r["metaflow"], key)) for c, r in fe])
            figures[key] = (sa, sb)
            w("| %s | %s | %s | %s |" % (label, fmt_s(sa), fmt_s(sb), fmt_ratio(sa, sb)))
        w("")

    # The big artifact.
    big = [(c, r) for c, r in ((cases_[n], results[n]) for n in results) if c["key"] == "bigdata"]
    for c, r in big:
        mib = c["mb"]
        ok = [m for m in r["wflow"] if m and m.get("ok")]
        spans = []
        for m in ok:
            sp = m.get("task_spans_ms") or {}
            if "start" in sp and "consume" in sp:
                spans.append((sp["consume"][1] - sp["start"][0]) / 1000)
        wa, wb = med(r["wflow"], "wall_s"), med(r["metaflow"], "wall_s")
        w("## The %d MiB artifact" % mib)
        w("")
        w("- End to end (whole run, process start to exit): wflow %s, Metaflow %s."
          % ("%.0f MiB/s" % (mib / wa) if wa else "—", "%.0f MiB/s" % (mib / wb) if wb else "—"))
        base = baseline.get("disk")
        if base:
            w("- For scale, on the same disk: Python writes a new %d MiB file into the page cache at %.0f MiB/s "
              "and reads it back at %.0f MiB/s (no fsync; median of 3)%s." % (
                  mib, base["write_mibps"], base["read_mibps"],
                  "; its first write, into fresh page-cache pages, ran at %.0f MiB/s" % base["first_write_mibps"]
                  if "first_write_mibps" in base else ""))
        if spans:
            sm = statistics.median(spans)
            figures["big_steps_mibps"] = mib / sm
            w("- wflow from the start of `start` to the end of `consume` (its records): %s, i.e. %.0f MiB/s "
              "for generating the bytes in the guest, hashing them, writing them to the store, then reading, "
              "verifying and hashing them again in the next step." % (fmt_s(sm), mib / sm))
        w("")

    # Scale: wflow alone.
    sc = [(c, r) for c, r in ((cases_[n], results[n]) for n in results) if c["key"] == "scale"]
    if sc:
        w("## Scale of one machine (wflow alone, foreach of N trivial tasks)")
        w("")
        w("`wflow run` of the fan-out flow at `--max-workers %d`, text output. **Run loop**: the time the "
          "run itself reports (`succeeded in`), from recording its start to recording its end; **outside**: "
          "the rest of the process (loading the component, opening the store, writing the last records, "
          "cleaning up, exiting). **Files** and **bytes** (allocated) are the whole store's after the run "
          "(records, blobs, component), per task. Medians over the rounds." % s["workers"])
        w("")
        w("| N | run loop | whole process | outside | outside / whole | wall per task | CPU per task | peak mem | files / task | bytes / task |")
        w("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for c, r in sc:
            n = c["n"]
            loop, wall, out_s = med(r["wflow"], "loop_s"), med(r["wflow"], "wall_s"), med(r["wflow"], "outside_s")
            cpu, mem = med(r["wflow"], "cpu_s"), med(r["wflow"], "peak_mem_kb")
            files, size = med(r["wflow"], "store_files"), med(r["wflow"], "store_bytes")
            figures["scale_%d" % n] = {"loop": loop, "wall": wall, "outside": out_s, "mem": mem, "bytes": size}
            w("| {:,} | {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
                n, fmt_s(loop), fmt_s(wall), fmt_s(out_s),
                "%.0f %%" % (100 * out_s / wall) if out_s is not None and wall else "—",
                fmt_s(wall / n) if wall else "—", fmt_s(cpu / n) if cpu else "—", fmt_mb(mem),
                "%.2f" % (files / n) if files is not None else "—",
                "{:,.0f}".format(size / n) if size is not None else "—"))
        w("")

    # Resume.
    if resume:
        w("## Resume after a failed join (N=%d)" % resume["n"])
        w("")
        for side, label in [("wflow", "wflow"), ("metaflow", "Metaflow")]:
            o = resume["origin"].get(side)
            if o:
                w("- %s origin run, failing in the join (once, not in the table): %s wall, %s CPU."
                  % (label, fmt_s(o["wall_s"]), fmt_s(o["cpu_s"])))
        if resume["skip_wflow"]:
            w("- wflow side skipped: %s" % " ".join(resume["skip_wflow"].split()))
        w("- wflow resumes with `wflow resume RUN -p fail=false`; Metaflow with `resume --origin-run-id RUN` "
          "(its resume keeps the origin's parameters, so the Metaflow join fails on an environment variable "
          "that the resume does not set).")
        w("")

    # Targets.
    w("## Targets (issue 8; measured here, never asserted in tests)")
    w("")
    tgt = []

    def verdict(ok):
        return "—" if ok is None else ("met" if ok else "**missed**")

    if "wall_s" in figures:
        sa, sb = figures["wall_s"]
        ok = None if not (sa and sb) else (sa > 0 and sb / sa >= 1000)
        tgt.append(("per-task overhead ≥ 1000× lower (wall slope)", "%s×" % ("%.0f" % (sb / sa) if sa and sb and sa > 0 else "—"), verdict(ok)))
        sa, sb = figures["cpu_s"]
        ok = None if not (sa and sb) else (sa > 0 and sb / sa >= 1000)
        tgt.append(("per-task overhead ≥ 1000× lower (CPU slope)", "%s×" % ("%.0f" % (sb / sa) if sa and sb and sa > 0 else "—"), verdict(ok)))
    for name, r in results.items():
        c = cases_[name]
        if c["key"] == "foreach" and c["n"] == 1000:
            a, b = med(r["wflow"], "wall_s"), med(r["metaflow"], "wall_s")
            tgt.append(("foreach N=1000 ≥ 100× faster end to end", "%.0f×" % (b / a) if a and b else "—",
                        verdict(None if not (a and b) else b / a >= 100)))
            a, b = med(r["wflow"], "peak_mem_kb"), med(r["metaflow"], "peak_mem_kb")
            tgt.append(("foreach N=1000 peak memory below Metaflow's", "%s vs %s" % (fmt_mb(a), fmt_mb(b)),
                        verdict(None if not (a and b) else a < b)))
            a = med(r["wflow"], "wall_s")
            tgt.append(("(issue 2) foreach N=1000 well under a second", fmt_s(a), verdict(None if a is None else a < 1)))
        if c["key"] == "bigdata":
            a, b = med(r["wflow"], "wall_s"), med(r["metaflow"], "wall_s")
            tgt.append(("%d MB artifact ≥ 10× faster (whole run)" % c["mb"], "%.1f×" % (b / a) if a and b else "—",
                        verdict(None if not (a and b) else b / a >= 10)))
            if "big_steps_mibps" in figures:
                v = figures["big_steps_mibps"] * 1.048576
                tgt.append(("%d MB artifact ≥ 1 GB/s (start → consume, from the records)" % c["mb"], "%.0f MB/s" % v,
                            verdict(v >= 1000)))
        if c["key"] == "resume" and c["n"] == 1000:
            a = med(r["wflow"], "wall_s")
            tgt.append(("(issue 3) resume of a 1,000-task foreach < 1 s", fmt_s(a), verdict(None if a is None else a < 1)))
    for key, fig in sorted((k, v) for k, v in figures.items() if k.startswith("scale_")):
        n = int(key.split("_")[1])
        if fig["wall"] is None:
            continue
        if n == 10000:
            per = fig["wall"] / n
            tgt.append(("(issue 19) ≤ 60 µs of wall per trivial task at 10,000 items", fmt_s(per), verdict(per <= 60e-6)))
        if n == 100000:
            tgt.append(("(issue 19) 100,000-item foreach < 10 s", fmt_s(fig["wall"]), verdict(fig["wall"] < 10)))
            if fig["loop"]:
                ratio = fig["wall"] / fig["loop"] - 1
                tgt.append(("(issue 19) whole process within 5 % of the run loop at 100,000", "+%.1f %%" % (100 * ratio),
                            verdict(ratio <= 0.05)))
        if n == 1000000:
            tgt.append(("(issue 19) 1,000,000-item foreach: peak memory < 1 GiB", fmt_mb(fig["mem"]),
                        verdict(None if fig["mem"] is None else fig["mem"] < 1 << 20)))
            if fig["bytes"] is not None:
                tgt.append(("(issue 19) 1,000,000 items: < 200 bytes of store per trivial task (records included)",
                            "{:,.0f}".format(fig["bytes"] / n), verdict(fig["bytes"] / n < 200)))
    w("| Target | Measured | |")
    w("|---|---|---|")
    for t in tgt:
        w("| %s | %s | %s |" % t)
    w("")

    crit = raw.get("criterion") or []
    if crit:
        w("## Criterion benches (wflow alone, in process)")
        w("")
        w("`cargo bench -p wflow-benches --bench %s`, run by this script before the comparison. Median "
          "[95%% confidence interval of the median]." % "|".join(s.get("criterion", [])))
        w("")
        w("| Bench | Median | Interval | Rate |")
        w("|---|---:|---|---:|")
        for name, m, lo, hi, rate in crit:
            w("| `%s` | %s | %s – %s | %s |" % (name, fmt_s(m), fmt_s(lo), fmt_s(hi), rate))
        w("")

    w("## Every run")
    w("")
    w("| Workload | System | Round | Wall | CPU | Peak mem | Processes | Others' cores | OK |")
    w("|---|---|---:|---:|---:|---:|---:|---:|---|")
    for name, r in results.items():
        for side in ("wflow", "metaflow"):
            for i, m in enumerate(r[side]):
                if m:
                    w("| %s | %s | %d | %s | %s | %s | %d | %.2f | %s |" % (
                        name, side, i + 1, fmt_s(m["wall_s"]), fmt_s(m["cpu_s"]), fmt_mb(m["peak_mem_kb"]),
                        m["max_procs"], m["others_cores"], "yes" if m.get("ok") else "**no** (exit %d)" % m["rc"]))
    w("")
    w("Raw measurements: `target/compare/results.json` (not committed).")
    return "\n".join(lines) + "\n"


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


def headline(raw):
    """The few figures the README quotes, as phrases ("… N× faster"), computed from the record."""
    results, cases_ = raw["results"], raw["cases"]
    out = []

    def times(a, b):
        return "{:,.0f}×".format(b / a) if b / a >= 10 else "%.1f×" % (b / a)

    fe = [(cases_[n], r) for n, r in results.items() if cases_[n]["key"] == "foreach"]
    if fe:
        c, r = max(fe, key=lambda cr: cr[0]["n"])
        a, b = med(r["wflow"], "wall_s"), med(r["metaflow"], "wall_s")
        if a and b:
            out.append("a %s-task foreach %s faster end to end (%s vs %s)" % ("{:,}".format(c["n"]), times(a, b), fmt_s(a), fmt_s(b)))
        pts_a = [(c["n"], med(r["wflow"], "wall_s")) for c, r in fe]
        pts_b = [(c["n"], med(r["metaflow"], "wall_s")) for c, r in fe]
        sa, _ = slope(pts_a)
        sb, _ = slope(pts_b)
        if sa and sb and sa > 0:
            out.append("per-task overhead %s lower (%s vs %s per task)" % (times(sa, sb), fmt_s(sa), fmt_s(sb)))
    for n, r in results.items():
        c = cases_[n]
        a, b = med(r["wflow"], "wall_s"), med(r["metaflow"], "wall_s")
        if not (a and b):
            continue
        if c["key"] == "bigdata":
            out.append("a %d MiB artifact %s faster" % (c["mb"], times(a, b)))
        elif c["key"] == "linear":
            out.append("5 linear steps %s faster" % times(a, b))
    return out


def update_readme(raw):
    """Rewrites the line between README's `<!-- bench-results -->` markers, if they are there."""
    path = os.path.join(ROOT, "README.md")
    begin, end = "<!-- bench-results -->", "<!-- /bench-results -->"
    try:
        text = open(path).read()
    except OSError:
        return
    i, j = text.find(begin), text.find(end)
    if i < 0 or j < i:
        log("README.md has no %s … %s markers: not updated" % (begin, end))
        return
    finished = datetime.datetime.fromisoformat(raw["finished"])
    m = raw["machine"]
    line = ("Measured side by side with Metaflow %s on a %s-core machine (%s; [benches/RESULTS.md](benches/RESULTS.md)): %s."
            % (m["metaflow"], m["nproc"], finished.strftime("%Y-%m-%d"), "; ".join(headline(raw)) or "no figures"))
    new = text[: i + len(begin)] + "\n" + line + "\n" + text[j:]
    if new != text:
        with open(path, "w") as f:
            f.write(new)
        log("updated the benchmark line of README.md")


def write_report(raw):
    text = report(raw)
    out = os.environ.get("RESULTS_FILE", os.path.join(ROOT, "benches", "RESULTS.md"))
    with open(out, "w") as f:
        f.write(text)
    print(text)
    log("wrote %s" % out)
    if os.path.abspath(out) == os.path.join(ROOT, "benches", "RESULTS.md"):
        update_readme(raw)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--disk-baseline"]:
        print(json.dumps(disk_baseline_here(int(sys.argv[2]))))
    elif sys.argv[1:2] == ["--report"]:
        # Writes the report again from a results.json (after changing the report's layout).
        with open(sys.argv[2] if len(sys.argv) > 2 else os.path.join(TARGET, "results.json")) as f:
            write_report(json.load(f))
    else:
        main()
