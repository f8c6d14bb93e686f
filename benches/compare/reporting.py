"""The Markdown report (benches/RESULTS.md) and the README's benchmark line, from the record
compare.py keeps in results.json. Standard library only."""

import datetime
import os
import statistics
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def log(msg):
    print(msg, file=sys.stderr, flush=True)



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
        if base and "write_read_mibps" in base:
            w("- The disk's pace, measured in this run: Python writes a new %d MiB file into the page cache "
              "(fresh pages; no fsync) at %.0f MiB/s and then reads it back in 4 MiB pieces at %.0f MiB/s: "
              "**%.0f MiB/s for the write followed by the read** (median of 3)."
              % (mib, base["write_mibps"], base["read_mibps"], base["write_read_mibps"]))
        elif base:
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
            if base and "write_read_mibps" in base:
                figures["big_disk_ratio"] = (mib / sm) / base["write_read_mibps"]
                w("- That is **%.0f %%** of the disk's pace for a fresh write followed by a read (issue 19's "
                  "target: 90 %%)." % (100 * figures["big_disk_ratio"]))
        mem = med(r["wflow"], "peak_mem_kb")
        if mem:
            figures["big_mem_ratio"] = mem / (mib * 1024)
            w("- wflow's peak memory over the whole run: %s, %.2f× the artifact (target: below 1.5×, the "
              "value being streamed)." % (fmt_mb(mem), figures["big_mem_ratio"]))
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
        names = ["show", "logs", "artifact get", "step-run"]
        singles = [(c, r) for c, r in sc if any(m and m.get("single_ms") for m in r["wflow"])]
        if singles:
            w("One task of each run, after it (the middle item's `square` task; wall time of the command "
              "as a user types it, release binary, median of 3 per round, then over the rounds; "
              "`step-run` is a resume of that one task on its recorded inputs):")
            w("")
            w("| N | " + " | ".join("`%s`" % n for n in names) + " |")
            w("|---:|" + "---:|" * len(names))
            for c, r in singles:
                cells = []
                for name in names:
                    vals = [m["single_ms"][name] for m in r["wflow"] if m and name in m.get("single_ms", {})]
                    v = statistics.median(vals) if vals else None
                    figures.setdefault("single_%d" % c["n"], {})[name] = v
                    cells.append("—" if v is None else "%.0f ms" % v)
                w("| {:,} | {} |".format(c["n"], " | ".join(cells)))
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
    w("## Targets (issues 8 and 19; measured here, never asserted in tests)")
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
            if "big_disk_ratio" in figures:
                ratio = figures["big_disk_ratio"]
                tgt.append(("(issue 19) %d MiB artifact start → consume ≥ 90 %% of the same run's disk "
                            "(fresh write + read)" % c["mb"], "%.0f %%" % (100 * ratio), verdict(ratio >= 0.9)))
            if "big_mem_ratio" in figures:
                ratio = figures["big_mem_ratio"]
                tgt.append(("(issue 19) %d MiB artifact: peak memory < 1.5× the artifact" % c["mb"],
                            "%.2f×" % ratio, verdict(ratio < 1.5)))
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
        single = figures.get("single_%d" % n, {})
        if n == max(int(k.split("_")[1]) for k in figures if k.startswith("scale_")) and single:
            worst = max(v for v in single.values() if v is not None) if any(v is not None for v in single.values()) else None
            tgt.append(("(issue 19) show, logs, artifact get and step-run of one task of the %s-item run < 100 ms"
                        % "{:,}".format(n), "slowest %.0f ms" % worst if worst is not None else "—",
                        verdict(None if worst is None or len(single) < 4 else worst < 100)))
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
