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
# Round trips an operation needs at least: the floor for it is the raw
# ping-pong rate divided by this.
RTS = {"set": 1, "get": 1, "incr": 1, "add": 2, "lock": 4}
SINGLE = ["set", "get", "incr"]  # "a single call"
NOTES = {
    ("python", "incr"): "no atomic increment in multiprocessing.Manager",
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


def paired(runs, a, b, op, p):
    """Median over repetitions of a's rate / b's rate, each pair measured back
    to back: robust to the load drifting between repetitions."""
    ra, rb = runs.get((a, op, p), {}), runs.get((b, op, p), {})
    rs = [ra[k][0] / rb[k][0] for k in ra if k in rb and rb[k][0]]
    return statistics.median(rs) if rs else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("raw")
    ap.add_argument("csv_out")
    ap.add_argument("png_out")
    ap.add_argument("--env", default="")
    args = ap.parse_args()
    runs, mems = load(args.raw)
    med = median_runs(runs)
    clients = sorted({k[2] for k in med})
    present = [c for c in CONTENDERS if any(k[0] == c for k in med) or c in mems]

    def rate(c, op, p):
        v = med.get((c, op, p))
        return v[0] if v else None

    def lat(c, op, p):
        v = med.get((c, op, p))
        return v[1] if v else None

    def rt(a, b, op, p):
        return paired(runs, a, b, op, p)

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
    widths = [max(len(hdr[i]), *(len(r[i]) for r in rows)) for i in range(len(hdr))]
    line = "  ".join(h.rjust(w) for h, w in zip(hdr, widths))
    print(line)
    print("-" * len(line))
    last_p = None
    for r in rows:
        if last_p is not None and r[1] != last_p:
            print()
        last_p = r[1]
        print("  ".join(x.rjust(w) for x, w in zip(r, widths)))
    for (c, op), note in NOTES.items():
        if c in present:
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

        def check(name, vals, bar):
            vals = [v for v in vals if v[1] is not None]
            if not vals:
                print("  %-44s n/a" % name)
                return
            worst = min(vals, key=lambda v: v[1])
            ok = worst[1] >= bar
            print("  %-44s %s  worst %.2fx (%s), bar %.2fx" % (
                name, "MET " if ok else "MISS", worst[1], worst[0], bar))

        one = clients[0] if clients else 1
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

    # --- CSV of medians ----------------------------------------------------------
    with open(args.csv_out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["kind", "contender", "op", "clients", "reps", "ops_per_s", "lat_us",
                    "ratio_to_floor", "mgr_over_this", "bytes_per_entry", "note"])
        for p in clients:
            for op in OPS:
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
                                "", NOTES.get((c, op), "")])
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
    panels = len(clients) + (1 if mem_med else 0)
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
