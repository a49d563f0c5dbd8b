#!/usr/bin/python3
"""bench — Python's multiprocessing.Manager(), the reference mgr reimplements.

Same options, operations and output lines as the C contenders (bench/common.h):
  set  d[k] = v          get  d[k]
  incr (no atomic increment exists in Python's manager: not run, see README)
  add  d[k] += 1         (__getitem__ then __setitem__, two round trips)
  lock with lk: d[k] += 1  (acquire, get, set, release)
Clients are fork-started multiprocessing.Process objects (so proxies reconnect
after the fork, as Python requires); they start together through pipes.
"""
import argparse
import multiprocessing as mp
import os
import select
import struct
import sys
import time

OPS = ["set", "get", "incr", "add", "lock"]
RESULT = struct.Struct("=ddii")  # t0, t1, status, idx


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


def client(op, idx, n, d, lk, warmup, ready_w, go_r, go_w, res_w):
    os.close(go_w)  # EOF on go_r comes when the parent closes the last one
    status, t0, t1 = 0, 0.0, 0.0
    key = client_key(idx)
    try:
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
            for i in range(n):
                one(op, d, lk, key, i, False)
        except Exception as e:  # noqa: BLE001
            print("python: run: %r" % e, file=sys.stderr)
            status = 1
        t1 = now()
    os.write(res_w, RESULT.pack(t0, t1, status, idx))


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


def run_clients(fork, op, nclients, ops, d, lk, warmup):
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    res_r, res_w = os.pipe()
    procs = []
    for i in range(nclients):
        n = ops // nclients + (1 if i < ops % nclients else 0)
        p = fork.Process(target=client,
                         args=(op, i, n, d, lk, warmup, ready_w, go_r, go_w, res_w))
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
        if not failed:
            for _ in range(nclients):
                a, b, status, idx = RESULT.unpack(read_exact(res_r, RESULT.size, 1800))
                if status:
                    failed = True
                    break
                n = ops // nclients + (1 if idx < ops % nclients else 0)
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
    return ops / (t1 - t0), lat / nclients * 1e6


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
    ap.add_argument("--only", default=",".join(OPS))
    ap.add_argument("--mem", type=int, default=0)
    ap.add_argument("--warmup", type=int, default=200)
    args = ap.parse_args()
    fork = mp.get_context("fork")
    manager = fork.Manager()
    d = manager.dict()
    lk = manager.Lock()
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
                # reset what the ops read and check
                d.clear()
                d.update({"a": 0, "l": 0, "w": 0})
                d.update({client_key(i): 1 for i in range(64)})
                r = run_clients(fork, op, p, args.ops, d, lk, args.warmup)
                if r is not None and op == "lock" and d["l"] != args.ops:
                    print("python: lock counted %d, expected %d" % (d["l"], args.ops),
                          file=sys.stderr)
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
