#!/usr/bin/python3
"""bench — turns the raw lines of a run (bench/common.h) into the table, the
CSV of medians and the chart.

usage: report.py RAW.csv OUT.csv OUT.png [--reps N] [--env TEXT]
"""
import argparse
import csv
import statistics
import sys
from collections import defaultdict

CONTENDERS = ["floor", "mgr", "redis", "python"]
OPS = ["set", "get", "incr", "add", "lock"]
# The queue and wake-up workloads: their rate is items (sem: rounds) per
# second, P the processes (qpc/qpcb: half producers, half consumers).
QOPS = ["qpair", "qpc", "qpcb", "sem"]
# Round trips an operation needs at least: the floor for it is the raw
# ping-pong rate (with as many clients) divided by this. For qpc/qpcb an item
# is a put and a get, made by different clients in parallel.
RTS = {"set": 1, "get": 1, "incr": 1, "add": 2, "lock": 4,
       "qpair": 2, "qpc": 2, "qpcb": 2}
SINGLE = ["set", "get", "incr"]  # "a single call"
NOTES = {
    ("python", "incr"): "no atomic increment in multiprocessing.Manager",
    ("redis", "qpcb"): "Redis has no bounded list: a token list emulates it "
                       "(BRPOP token + LPUSH item; BRPOP item + LPUSH token), "
                       "2 round trips a side",
    ("redis", "sem"): "Redis has no semaphore",
    ("floor", "sem"): "no floor for a wake-up through a server",
}


def load(path):
    """Raw lines, each prefixed by bench/run with "rep,slot,": slot is the op
    whose group of back-to-back measurements the line belongs to (the floor
    runs its plain round trip once in every group)."""
    runs = defaultdict(dict)  # (contender, op, clients) -> {rep: (ops_per_s, lat_us)}
    mems = defaultdict(list)  # contender -> [(bytes_per_entry, entries)]
    with open(path) as f:
        for row in csv.reader(f):
            if len(row) < 3:
                continue
            rep, slot, row = row[0], row[1], row[2:]
            if row[0] == "run" and len(row) >= 7:
                c, op, p = row[1], row[2], int(row[3])
                rate, lat = float(row[5]), float(row[6])
                if c == "floor":  # the floor of slot's op: rt rate / its round trips
                    if slot not in RTS:
                        continue
                    op, rate, lat = slot, rate / RTS[slot], lat * RTS[slot]
                runs[(c, op, p)][rep] = (rate, lat)
            elif row[0] == "mem" and len(row) >= 6:
                mems[row[1]].append((float(row[5]), int(row[4])))
    return runs, mems


def median_runs(runs):
    out = {}
    for key, vals in runs.items():
        out[key] = (statistics.median(v[0] for v in vals.values()),
                    statistics.median(v[1] for v in vals.values()), len(vals))
    return out


def fmt_rate(x):
    if x is None:
        return "-"
    return "%.0f" % x if x < 1e4 else "%.1fk" % (x / 1e3)


def fmt_ratio(x):
    return "-" if x is None else "%.2fx" % x


def paired_all(runs, a, b, op, p):
    """a's rate / b's rate in each repetition, each pair measured back to
    back."""
    ra, rb = runs.get((a, op, p), {}), runs.get((b, op, p), {})
    return [ra[k][0] / rb[k][0] for k in ra if k in rb and rb[k][0]]


def paired(runs, a, b, op, p):
    """Median over repetitions of a's rate / b's rate, each pair measured back
    to back: robust to the load drifting between repetitions."""
    rs = paired_all(runs, a, b, op, p)
    return statistics.median(rs) if rs else None


def procs(op, p):
    """How the processes of a queue workload split."""
    if op in ("qpc", "qpcb", "sem"):
        return "%d+%d" % (p // 2, p - p // 2)
    return str(p)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("raw")
    ap.add_argument("csv_out")
    ap.add_argument("png_out")
    ap.add_argument("--env", default="")
    args = ap.parse_args()
    runs, mems = load(args.raw)
    med = median_runs(runs)
    clients = sorted({k[2] for k in med if k[1] in OPS})
    qrows = [(op, p) for op in QOPS for p in sorted({k[2] for k in med if k[1] == op})]
    present = [c for c in CONTENDERS if any(k[0] == c for k in med) or c in mems]

    def rate(c, op, p):
        v = med.get((c, op, p))
        return v[0] if v else None

    def lat(c, op, p):
        v = med.get((c, op, p))
        return v[1] if v else None

    def rt(a, b, op, p):
        return paired(runs, a, b, op, p)

    def spread(a, b, op, p):
        """"1.05x (0.98-1.10)": the median and the range of the ratio."""
        rs = paired_all(runs, a, b, op, p)
        if not rs:
            return "-"
        if len(rs) == 1:
            return "%.2fx" % rs[0]
        return "%.2fx (%.2f-%.2f)" % (statistics.median(rs), min(rs), max(rs))

    def print_table(hdr, rows, sep_col):
        widths = [max(len(hdr[i]), *(len(r[i]) for r in rows)) for i in range(len(hdr))]
        line = "  ".join(h.rjust(w) for h, w in zip(hdr, widths))
        print(line)
        print("-" * len(line))
        last = None
        for r in rows:
            if last is not None and r[sep_col] != last:
                print()
            last = r[sep_col]
            print("  ".join(x.rjust(w) for x, w in zip(r, widths)))

    # --- the table -----------------------------------------------------------
    reps = max((v[2] for v in med.values()), default=0)
    print()
    print("mgr benchmarks: median of %d repetition(s); ops/s = total over all clients;"
          " floor = raw ping-pong rate / round trips of the op;"
          " ratios = median of per-repetition ratios (measured back to back)" % reps)
    if args.env:
        print(args.env)
    others = [c for c in present if c != "floor"]
    hdr = ["op", "P"] + ["%s/s" % c for c in present] + \
          ["%s/floor" % c for c in others] + \
          ["mgr/%s" % c for c in others if c != "mgr" and "mgr" in present] + \
          ["%s us" % c for c in present]
    rows = []
    for p in clients:
        for op in OPS:
            r = [op, str(p)]
            r += [fmt_rate(rate(c, op, p)) for c in present]
            r += [fmt_ratio(rt(c, "floor", op, p)) for c in others]
            if "mgr" in present:
                r += [fmt_ratio(rt("mgr", c, op, p))
                      for c in others if c != "mgr"]
            r += ["-" if lat(c, op, p) is None else "%.1f" % lat(c, op, p) for c in present]
            rows.append(r)
    if rows:
        print_table(hdr, rows, 1)

    # --- the queue and wake-up workloads: ratios with their spread ----------------
    if qrows:
        print()
        print("queues and wake-ups: items/s (sem: rounds/s); P = processes "
              "(qpc, qpcb: producers+consumers); ratios = median (min-max) over "
              "repetitions; us = per item (sem: per round) at each client")
        qhdr = ["op", "P"] + ["%s/s" % c for c in present]
        if "mgr" in present:
            qhdr += ["mgr/%s" % c for c in present if c != "mgr"]
        qhdr += ["%s/floor" % c for c in others if c != "mgr"]
        qhdr += ["%s us" % c for c in present if c != "floor"]
        rows = []
        for op, p in qrows:
            r = [op, procs(op, p)]
            r += [fmt_rate(rate(c, op, p)) for c in present]
            if "mgr" in present:
                r += [spread("mgr", c, op, p) for c in present if c != "mgr"]
            r += [fmt_ratio(rt(c, "floor", op, p)) for c in others if c != "mgr"]
            r += ["-" if lat(c, op, p) is None else "%.1f" % lat(c, op, p)
                  for c in present if c != "floor"]
            rows.append(r)
        print_table(qhdr, rows, 0)
    for (c, op), note in NOTES.items():
        if c in present and (op in OPS and clients or any(q[0] == op for q in qrows)):
            print("note: %s %s: %s" % (c, op, note))

    mem_med = {c: (statistics.median(v[0] for v in vals), vals[0][1])
               for c, vals in mems.items()}
    if mem_med:
        print()
        print("server memory per small dict entry (VmRSS growth / entries):")
        for c in CONTENDERS:
            if c in mem_med:
                extra = ""
                if "mgr" in mem_med and c != "mgr" and mem_med[c][0] > 0:
                    extra = "   mgr/%s %.2fx" % (c, mem_med["mgr"][0] / mem_med[c][0])
                print("  %-7s %7.1f B/entry  (%d entries)%s" % (c, mem_med[c][0],
                                                              mem_med[c][1], extra))

    # --- targets ---------------------------------------------------------------
    if "mgr" in present:
        print()
        print("targets:")

        def check(name, vals, bar, ranges=None):
            vals = [v for v in vals if v[1] is not None]
            if not vals:
                print("  %-44s n/a" % name)
                return
            worst = min(vals, key=lambda v: v[1])
            ok = worst[1] >= bar
            extra = ""
            if ranges and worst[0] in ranges and len(ranges[worst[0]]) > 1:
                rs = ranges[worst[0]]
                extra = " (reps %.2f-%.2f)" % (min(rs), max(rs))
            print("  %-44s %s  worst %.2fx%s (%s), bar %.2fx" % (
                name, "MET " if ok else "MISS", worst[1], extra, worst[0], bar))

        def qcheck(name, ops, other, bar):
            keys = [(op, p) for op, p in qrows if op in ops]
            label = {(op, p): "%s %s" % (op, procs(op, p)) for op, p in keys}
            check(name, [(label[k], rt("mgr", other, *k)) for k in keys], bar,
                  {label[k]: paired_all(runs, "mgr", other, *k) for k in keys})

        one = clients[0] if clients else 1
        if clients:
            check("single call vs raw ping-pong (P=%d)" % one,
                  [(op, rt("mgr", "floor", op, one)) for op in SINGLE], 0.9)
            check("vs Redis (P=%d, all ops)" % one,
                  [(op, rt("mgr", "redis", op, one)) for op in OPS], 1.2)
            check("vs Python Manager (P=%d, all ops)" % one,
                  [(op, rt("mgr", "python", op, one)) for op in OPS], 2.0)
            check("multi-client follows the floor (P>1, single calls)",
                  [("%s x%d" % (op, p), rt("mgr", "floor", op, p))
                   for p in clients if p > 1 for op in SINGLE], 0.9)
        if "mgr" in mem_med and "redis" in mem_med:
            ok = mem_med["mgr"][0] <= mem_med["redis"][0]
            print("  %-44s %s  mgr %.1f B vs redis %.1f B per entry" % (
                "memory per small dict entry <= Redis", "MET " if ok else "MISS",
                mem_med["mgr"][0], mem_med["redis"][0]))
        if qrows:
            qcheck("qpair vs raw ping-pong (2 round trips)", ["qpair"], "floor", 0.9)
            qcheck("qpair vs Redis LPUSH+RPOP", ["qpair"], "redis", 1.0)
            qcheck("qpair vs Python Manager Queue", ["qpair"], "python", 2.0)
            qcheck("qpc vs Redis LPUSH+BRPOP (every P+C)", ["qpc"], "redis", 1.0)
            qcheck("qpcb vs Redis token-list emulation", ["qpcb"], "redis", 1.0)
            qcheck("qpc, qpcb vs Python Manager Queue", ["qpc", "qpcb"], "python", 2.0)
            qcheck("sem ping-pong vs Python Manager Semaphore", ["sem"], "python", 2.0)

    # --- CSV of medians ----------------------------------------------------------
    with open(args.csv_out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["kind", "contender", "op", "clients", "reps", "ops_per_s", "lat_us",
                    "ratio_to_floor", "mgr_over_this", "bytes_per_entry", "note",
                    "mgr_over_this_min", "mgr_over_this_max"])
        for op, p in [(op, p) for p in clients for op in OPS] + qrows:
            for c in present:
                rr = rate(c, op, p)
                if rr is None and (c, op) not in NOTES:
                    continue
                n = med.get((c, op, p), (0, 0, 0))[2]
                w.writerow(["run", c, op, p, n,
                            "" if rr is None else "%.1f" % rr,
                            "" if lat(c, op, p) is None else "%.2f" % lat(c, op, p),
                            "" if c == "floor" or rt(c, "floor", op, p) is None else
                            "%.3f" % rt(c, "floor", op, p),
                            "" if c == "mgr" or rt("mgr", c, op, p) is None else
                            "%.3f" % rt("mgr", c, op, p),
                            "", NOTES.get((c, op), "")] + (
                            ["", ""] if c == "mgr" or not paired_all(runs, "mgr", c, op, p)
                            else ["%.3f" % f(paired_all(runs, "mgr", c, op, p))
                                  for f in (min, max)]))
        for c in CONTENDERS:
            if c in mem_med:
                w.writerow(["mem", c, "dict_entry", 1, len(mems[c]), "", "", "",
                            "" if "mgr" not in mem_med or c == "mgr" else
                            "%.3f" % (mem_med["mgr"][0] / mem_med[c][0]),
                            "%.1f" % mem_med[c][0],
                            "%d entries" % mem_med[c][1]])

    # --- chart ------------------------------------------------------------------------
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("report: matplotlib missing, no chart", file=sys.stderr)
        return 0
    colors = {"floor": "#9e9e9e", "mgr": "#1f77b4", "redis": "#d62728", "python": "#2ca02c"}
    panels = len(clients) + (1 if mem_med else 0) + (2 if qrows else 0)
    fig, axes = plt.subplots(1, panels, figsize=(4.6 * panels, 4.2), squeeze=False)
    axes = axes[0]
    width = 0.8 / max(1, len(present))
    for ax, p in zip(axes, clients):
        for j, c in enumerate(present):
            xs, ys = [], []
            for i, op in enumerate(OPS):
                v = rate(c, op, p)
                if v is not None:
                    xs.append(i - 0.4 + width * (j + 0.5))
                    ys.append(v / 1e3)
            ax.bar(xs, ys, width, label=c, color=colors[c],
                   hatch="//" if c == "floor" else None,
                   edgecolor="white" if c == "floor" else None)
        ax.set_xticks(range(len(OPS)))
        ax.set_xticklabels(OPS)
        ax.set_title("%d client%s" % (p, "" if p == 1 else "s"))
        ax.set_ylabel("k ops/s (all clients)")
        ax.grid(axis="y", alpha=0.3)
    if qrows:
        # the queue workloads' rates, then mgr's ratios with their spread
        ax = axes[len(clients)]
        labels = ["%s\n%s" % (op, procs(op, p)) for op, p in qrows]
        for j, c in enumerate(present):
            xs, ys = [], []
            for i, (op, p) in enumerate(qrows):
                v = rate(c, op, p)
                if v is not None:
                    xs.append(i - 0.4 + width * (j + 0.5))
                    ys.append(v / 1e3)
            ax.bar(xs, ys, width, label=c, color=colors[c],
                   hatch="//" if c == "floor" else None,
                   edgecolor="white" if c == "floor" else None)
        ax.set_xticks(range(len(qrows)))
        ax.set_xticklabels(labels, fontsize=8)
        ax.set_title("queues, semaphore ping-pong")
        ax.set_ylabel("k items/s (sem: rounds/s)")
        ax.grid(axis="y", alpha=0.3)
        ax = axes[len(clients) + 1]
        vs = [c for c in present if c != "mgr"]
        wd = 0.8 / max(1, len(vs))
        for j, c in enumerate(vs):
            xs, ys, lo, hi = [], [], [], []
            for i, (op, p) in enumerate(qrows):
                rs = paired_all(runs, "mgr", c, op, p)
                if rs:
                    m = statistics.median(rs)
                    xs.append(i - 0.4 + wd * (j + 0.5))
                    ys.append(m)
                    lo.append(m - min(rs))
                    hi.append(max(rs) - m)
            ax.bar(xs, ys, wd, yerr=[lo, hi], capsize=2, label="mgr/%s" % c,
                   color=colors[c], hatch="//" if c == "floor" else None,
                   edgecolor="white" if c == "floor" else None)
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.axhline(2.0, color="black", linewidth=0.6, linestyle="--")
        ax.set_xticks(range(len(qrows)))
        ax.set_xticklabels(labels, fontsize=8)
        ax.set_title("mgr's ratio, median and min-max")
        ax.set_ylabel("mgr rate / other's rate")
        ax.legend(fontsize=7)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=8)
    if mem_med:
        ax = axes[-1]
        cs = [c for c in CONTENDERS if c in mem_med]
        ax.bar(cs, [mem_med[c][0] for c in cs], color=[colors[c] for c in cs])
        ax.set_title("server memory per dict entry")
        ax.set_ylabel("bytes (VmRSS growth / entries)")
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("mgr vs raw socket floor, Redis, Python Manager (median of %d)" % reps)
    fig.tight_layout()
    fig.savefig(args.png_out, dpi=110)
    return 0


if __name__ == "__main__":
    sys.exit(main())
