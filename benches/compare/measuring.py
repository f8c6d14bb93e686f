"""Measuring one command from outside: wall time, CPU time and peak RSS from wait4 and GNU time, the
memory of its whole process tree sampled from /proc, and what the rest of the machine did meanwhile.
Standard library only; used by compare.py."""

import os
import re
import resource
import signal
import subprocess
import threading
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
GNU_TIME = os.environ.get("GNU_TIME", "/usr/bin/time")



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


def measure(cmd, cwd, env, label, timeout):
    """Runs `cmd` in `cwd` and measures it, killing it after `timeout` seconds. Returns a dict; never
    raises for a failing command."""
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
        timer = threading.Timer(timeout, lambda: os.killpg(proc.pid, signal.SIGKILL))
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
