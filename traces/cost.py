#!/usr/bin/python3
"""mgr — the measuring half of traces/cost (which builds, and starts the
session the 'on' runs are recorded in).

    traces/cost.py OUT REPS OPS

Runs OUT/off/bench_mgr (plain, then plain' again) and OUT/on/bench_mgr
(untraced: off; with MGR_TRACE=1 and lttng-ust's fork/fd preloads: on) in
rotation, REPS times, OPS atomic increments each, and prints each one's
median and spread of calls/s and of CPU time per call (the client and the
manager it forks and waits for), and the costs against plain."""
import os
import resource
import statistics
import subprocess
import sys

out, reps, ops = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
base = {k: v for k, v in os.environ.items() if k not in ("MGR_TRACE", "LD_PRELOAD")}
traced = dict(base, MGR_TRACE="1", LTTNG_UST_REGISTER_TIMEOUT="10000",
              LD_PRELOAD="liblttng-ust-fork.so.1:liblttng-ust-fd.so.1")
cfg = {"plain": (out + "/off/bench_mgr", base), "plain2": (out + "/off/bench_mgr", base),
       "off": (out + "/on/bench_mgr", base), "on": (out + "/on/bench_mgr", traced)}
ORDER = ("plain", "plain2", "off", "on")
NAMES = {"plain": "plain", "plain2": "plain'", "off": "off", "on": "on"}
rate = {k: [] for k in cfg}
cpu = {k: [] for k in cfg}
loads = []
for r in range(reps):
    for k in ("plain", "off", "on", "plain2"):
        exe, env = cfg[k]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        p = subprocess.run([exe, "--ops", str(ops), "--clients", "1", "--only", "incr"],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        line = [l for l in p.stdout.splitlines() if l.startswith("run,")]
        if p.returncode or not line:
            sys.exit("traces/cost: %s failed (%d)" % (exe, p.returncode))
        rate[k].append(float(line[0].split(",")[5]))
        used = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
        cpu[k].append(used / ops * 1e6)
    loads.append(os.getloadavg()[0])


def q(v):
    s = sorted(v)
    qs = statistics.quantiles(s, n=4) if len(s) > 1 else [s[0]] * 3
    return statistics.median(s), qs[0], qs[2], s[0], s[-1]


print("tracing cost: atomic dict incr, 1 client, %d rotations of %d calls each "
      "(%d CPUs; 1-minute load average during the runs %.1f..%.1f)"
      % (reps, ops, os.cpu_count(), min(loads), max(loads)))
for title, d, fmt, slower in (
        ("calls/s (wall clock)", rate, "%9.0f", lambda p, x: p / x - 1),
        ("CPU time per call, client + manager (us)", cpu, "%9.2f", lambda p, x: x / p - 1)):
    print("  %s:" % title)
    print("    %-7s %9s  %20s  %20s" % ("", "median", "IQR (p25..p75)", "min..max"))
    for k in ORDER:
        m, a, b, lo, hi = q(d[k])
        print(("    %-7s " + fmt + "  " + fmt + ".." + fmt + "  " + fmt + ".." + fmt)
              % (NAMES[k], m, a, b, lo, hi))
    print("    cost against plain (positive: slower): from the medians; per rotation, median [IQR]")
    pm = statistics.median(d["plain"])
    for k in ORDER[1:]:
        ratios = [slower(p, x) for p, x in zip(d["plain"], d[k])]
        m, a, b, lo, hi = q(ratios)
        print("    %-7s %+6.1f %%    %+6.1f %% [%+.1f .. %+.1f %%]" % (
            NAMES[k], slower(pm, statistics.median(d[k])) * 100, m * 100, a * 100, b * 100))
