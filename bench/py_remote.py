#!/usr/bin/python3
"""bench — Python's manager over TCP with an authkey (bench/README.md,
"Remote"): SyncManager(address=('127.0.0.1', 0), authkey=...), a dict, P
fork-started clients (their proxies reconnect, each connection through the
HMAC challenge), the same run line as bench/remote.c:
    run,python-tcp,OP,P,N,SECONDS,OPS_PER_S
    python3 bench/py_remote.py --op get|set --clients P --ops N
Python's manager has no atomic increment: incr is not run."""
import argparse
import multiprocessing as mp
import os
import struct
import sys
import time
from multiprocessing.managers import SyncManager

WARMUP = 200
RES = struct.Struct("=ddi")


def client(d, me, op, n, ready, go, go_w, out):
    os.close(go_w)  # ours: the parent's close must be the last
    k = "k%d" % me
    try:
        for i in range(WARMUP):
            if op == "set":
                d[k] = i
            else:
                d.get(k)
        os.write(ready, b"\1")
        os.read(go, 1)
        t0 = time.monotonic()
        for i in range(n):
            if op == "set":
                d[k] = i
            else:
                d.get(k)
        t1 = time.monotonic()
        os.write(out, RES.pack(t0, t1, 1))
    except Exception as e:  # noqa: BLE001 - reported as a failed client
        print("py_remote: client:", e, file=sys.stderr)
        os.write(out, RES.pack(0, 0, 0))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--op", default="get", choices=["get", "set"])
    ap.add_argument("--clients", type=int, default=1)
    ap.add_argument("--ops", type=int, default=20000)
    a = ap.parse_args()
    ctx = mp.get_context("fork")
    m = SyncManager(address=("127.0.0.1", 0), authkey=os.urandom(32), ctx=ctx)
    m.start()
    d = m.dict()
    rp, rw = os.pipe()
    gp, gw = os.pipe()
    op_, ow = os.pipe()
    n = a.ops // a.clients
    procs = [ctx.Process(target=client, args=(d, c, a.op, n, rw, gp, gw, ow))
             for c in range(a.clients)]
    for p in procs:
        p.start()
    for _ in procs:
        os.read(rp, 1)
    os.close(gw)  # go
    t0, t1 = float("inf"), 0.0
    for _ in procs:
        s, e, ok = RES.unpack(os.read(op_, RES.size))
        if not ok:
            sys.exit("py_remote: a client failed")
        t0, t1 = min(t0, s), max(t1, e)
    for p in procs:
        p.join()
    m.shutdown()
    total = n * a.clients
    print("run,python-tcp,%s,%d,%d,%.6f,%.1f" % (a.op, a.clients, total, t1 - t0,
                                                  total / (t1 - t0)))


if __name__ == "__main__":
    main()
