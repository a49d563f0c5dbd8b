#!/usr/bin/python3
"""bench — Python's multiprocessing.Manager(), the reference mgr reimplements.

Same options, operations and output lines as the C contenders (bench/common.h):
  set  d[k] = v          get  d[k]
  incr (no atomic increment exists in Python's manager: not run, see README)
  add  d[k] += 1         (__getitem__ then __setitem__, two round trips)
  lock with lk: d[k] += 1  (acquire, get, set, release)
  qpair q.put(item), then q.get_nowait()          (q = manager.Queue())
  qpc   producers q.put(item), consumers q.get(timeout=30)
  qpcb  the same over manager.Queue(16)
  sem   s1.release(); s2.acquire(timeout=30) against
        s1.acquire(timeout=30); s2.release()     (manager.Semaphore(0) each)
Clients are fork-started multiprocessing.Process objects (so proxies reconnect
after the fork, as Python requires); they start together through pipes.
The queue workloads share their split and their check with bench/common.c:
items are producer << 32 | seq, the first half of the clients produce, and
every item must be got exactly once (count and a sum of splitmix64 hashes,
and each producer's items in order at each consumer).
"""
import argparse
import multiprocessing as mp
import os
import select
import struct
import sys
import time

OPS = ["set", "get", "incr", "add", "lock"]
QOPS = ["qpair", "qpc", "qpcb", "sem"]
RESULT = struct.Struct("=ddiiQQ")  # t0, t1, status, idx, items got, their hash
QUEUE_MAXSIZE = 16  # BENCH_QUEUE_MAXSIZE
WAIT_S = 30  # BENCH_WAIT_S
M64 = (1 << 64) - 1


def mix(z):
    """splitmix64's finalizer (common.c)."""
    z = (z + 0x9e3779b97f4a7c15) & M64
    z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & M64
    z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & M64
    return z ^ (z >> 31)


def is_producer(op, idx, nclients):
    return op == "qpair" or (op in ("qpc", "qpcb") and idx < nclients // 2)


def share(op, idx, nclients, ops):
    """bench_share (common.c)."""
    if op == "sem":
        return ops
    if op in ("qpc", "qpcb"):
        np = nclients // 2
        if idx >= np:
            idx, nclients = idx - np, nclients - np
        else:
            nclients = np
    return ops // nclients + (1 if idx < ops % nclients else 0)


def tally(items):
    """(count, hash) of what a consumer got, in order; raises on an item out of
    its producer's order (a duplicate, or FIFO broken) or not put at all."""
    last, h = {}, 0
    for it in items:
        p, seq = it >> 32, it & 0xffffffff
        if p >= 64 or seq <= last.get(p, -1):
            raise ValueError("item %d of producer %d after %d" % (seq, p, last.get(p, -1)))
        last[p] = seq
        h = (h + mix(it)) & M64
    return len(items), h


def expected(op, nclients, ops):
    n, h = 0, 0
    for i in range(nclients):
        if is_producer(op, i, nclients):
            for s in range(share(op, i, nclients, ops)):
                n += 1
                h = (h + mix(i << 32 | s)) & M64
    return n, h


def queue_work(op, idx, nclients, n, objs, got):
    """n of a queue op or sem rounds as client idx; items got go to got."""
    q, qb, s1, s2 = objs["q"], objs["qb"], objs["s1"], objs["s2"]
    if op == "sem":
        for _ in range(n):
            if idx == 0:
                s1.release()
                ok = s2.acquire(timeout=WAIT_S)
            else:
                ok = s1.acquire(timeout=WAIT_S)
                s2.release()
            if not ok:
                raise RuntimeError("sem: a lost wake-up")
    elif op == "qpair":
        for i in range(n):
            q.put(idx << 32 | i)
            got.append(q.get_nowait())
    elif is_producer(op, idx, nclients):
        qq = qb if op == "qpcb" else q
        for i in range(n):
            qq.put(idx << 32 | i, timeout=WAIT_S)
    else:
        qq = qb if op == "qpcb" else q
        for i in range(n):
            got.append(qq.get(timeout=WAIT_S))


def queue_warm(op, idx, n, objs):
    if op == "sem":
        queue_work(op, idx, 2, n, objs, None)
        return
    wq = objs["wq"]
    for _ in range(n):
        wq.put(0)
        wq.get(timeout=WAIT_S)


def now():
    return time.clock_gettime(time.CLOCK_MONOTONIC)


def client_key(idx):
    return "k%x" % idx


def one(op, d, lk, key, i, warm):
    if op == "set":
        d[key] = i
    elif op == "get":
        d[key]
    elif op == "add":
        d["w" if warm else "a"] += 1
    elif op == "lock":
        with lk:
            d["w" if warm else "l"] += 1
    else:
        raise ValueError(op)


def client(op, idx, nclients, n, d, lk, objs, warmup, ready_w, go_r, go_w, res_w):
    os.close(go_w)  # EOF on go_r comes when the parent closes the last one
    status, t0, t1 = 0, 0.0, 0.0
    key = client_key(idx)
    got, count, h = [], 0, 0
    try:
        if op in QOPS:
            queue_warm(op, idx, warmup, objs)
        else:
            for i in range(warmup):
                one(op, d, lk, key, i, True)
    except Exception as e:  # noqa: BLE001 - any failure fails the run
        print("python: setup: %r" % e, file=sys.stderr)
        status = 1
    os.write(ready_w, b"e" if status else b"r")
    if status == 0:
        os.read(go_r, 1)
        t0 = now()
        try:
            if op in QOPS:
                queue_work(op, idx, nclients, n, objs, got)
            else:
                for i in range(n):
                    one(op, d, lk, key, i, False)
        except Exception as e:  # noqa: BLE001
            print("python: run: %r" % e, file=sys.stderr)
            status = 1
        t1 = now()
        try:  # outside the timed span
            count, h = tally(got)
        except ValueError as e:
            print("python: %s: %s" % (op, e), file=sys.stderr)
            status = 1
    os.write(res_w, RESULT.pack(t0, t1, status, idx, count, h))


def read_exact(fd, n, timeout):
    buf = b""
    while len(buf) < n:
        r, _, _ = select.select([fd], [], [], timeout)
        if not r:
            raise TimeoutError("client did not answer")
        chunk = os.read(fd, n - len(buf))
        if not chunk:
            raise EOFError("client pipe closed")
        buf += chunk
    return buf


def run_clients(fork, op, nclients, ops, d, lk, objs, warmup):
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    res_r, res_w = os.pipe()
    procs = []
    for i in range(nclients):
        n = share(op, i, nclients, ops)
        p = fork.Process(target=client,
                         args=(op, i, nclients, n, d, lk, objs, warmup,
                               ready_w, go_r, go_w, res_w))
        p.start()
        procs.append(p)
    os.close(ready_w)
    os.close(go_r)
    os.close(res_w)
    failed = False
    try:
        for _ in range(nclients):
            if read_exact(ready_r, 1, 300) != b"r":
                failed = True
                break
        os.close(go_w)  # start
        go_w = None
        t0, t1, lat = float("inf"), 0.0, 0.0
        items, h = 0, 0
        if not failed:
            for _ in range(nclients):
                a, b, status, idx, cnt, ch = RESULT.unpack(read_exact(res_r, RESULT.size, 1800))
                if status:
                    failed = True
                    break
                items, h = items + cnt, (h + ch) & M64
                n = share(op, idx, nclients, ops)
                t0, t1 = min(t0, a), max(t1, b)
                lat += (b - a) / n
    except (TimeoutError, EOFError) as e:
        print("python: %s" % e, file=sys.stderr)
        failed = True
    finally:
        if go_w is not None:
            os.close(go_w)
        if failed:
            for p in procs:
                p.kill()
        for p in procs:
            p.join()
        os.close(ready_r)
        os.close(res_r)
    if failed or any(p.exitcode != 0 for p in procs):
        return None
    if op in ("qpair", "qpc", "qpcb") and (items, h) != expected(op, nclients, ops):
        print("python: %s x%d: the consumers got %d items (hash %016x), the producers "
              "put %d (hash %016x)" % ((op, nclients, items, h) + expected(op, nclients, ops)),
              file=sys.stderr)
        return None
    return ops / (t1 - t0), lat / nclients * 1e6


def idle(objs):
    """Every queue empty and both semaphores at 0 after a run."""
    for k in ("q", "qb", "wq"):
        if objs[k].qsize():
            print("python: queue %s holds %d items after the run" % (k, objs[k].qsize()),
                  file=sys.stderr)
            return False
    for k in ("s1", "s2"):
        if objs[k].acquire(False):
            print("python: semaphore %s above 0 after the run" % k, file=sys.stderr)
            return False
    return True


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--ops", type=int, default=20000)
    ap.add_argument("--clients", default="1,4,16")
    ap.add_argument("--only", default=",".join(OPS))  # or qpair, qpc, qpcb, sem
    ap.add_argument("--mem", type=int, default=0)
    ap.add_argument("--warmup", type=int, default=200)
    args = ap.parse_args()
    fork = mp.get_context("fork")
    manager = fork.Manager()
    d = manager.dict()
    lk = manager.Lock()
    objs = {"q": manager.Queue(), "qb": manager.Queue(QUEUE_MAXSIZE),
            "wq": manager.Queue(), "s1": manager.Semaphore(0), "s2": manager.Semaphore(0)}
    fails = 0
    try:
        if args.mem > 0:
            pid = manager._process.pid
            before = rss_kb(pid)
            for i in range(args.mem):  # one round trip per entry, as for mgr
                d["key:%07d" % i] = i
            assert len(d) == args.mem
            after = rss_kb(pid)
            per = (after - before) * 1024.0 / args.mem
            print("mem,python,dict_entry,1,%d,%.1f,%d,%d" % (args.mem, per, before, after),
                  flush=True)
            print("  python memory: %d entries, RSS %d -> %d kB, %.1f B/entry"
                  % (args.mem, before, after, per), file=sys.stderr)
            return 0
        for p in [int(x) for x in args.clients.split(",")]:
            for op in args.only.split(","):
                if op == "incr":
                    continue  # no atomic increment in multiprocessing.Manager
                if op not in OPS and op not in QOPS:
                    raise SystemExit("python: unknown op %s" % op)
                if (op == "sem" and p != 2) or (op in ("qpc", "qpcb") and p < 2):
                    print("bench: python %s x%d: wrong client count" % (op, p), file=sys.stderr)
                    fails += 1
                    continue
                # reset what the ops read and check
                d.clear()
                d.update({"a": 0, "l": 0, "w": 0})
                d.update({client_key(i): 1 for i in range(64)})
                r = run_clients(fork, op, p, args.ops, d, lk, objs, args.warmup)
                if r is not None and op == "lock" and d["l"] != args.ops:
                    print("python: lock counted %d, expected %d" % (d["l"], args.ops),
                          file=sys.stderr)
                    r = None
                if r is not None and op in QOPS and not idle(objs):
                    r = None
                if r is None:
                    print("bench: python %s x%d failed" % (op, p), file=sys.stderr)
                    fails += 1
                    continue
                print("run,python,%s,%d,%d,%.1f,%.3f" % (op, p, args.ops, r[0], r[1]),
                      flush=True)
                print("  %-6s %-5s x%-2d %10.0f ops/s %8.2f us" % ("python", op, p, r[0], r[1]),
                      file=sys.stderr)
    finally:
        manager.shutdown()
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
