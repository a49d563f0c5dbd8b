#!/usr/bin/python3
"""mgr — differential test against CPython's manager.

    diff_cpython.py DRIVER [--scripts N] [--steps K] [--seed S] [-v]

Random scripts of operations on every kind of shared object (dict, list,
Value, Lock, RLock, Queue, JoinableQueue, Namespace, Event, Condition,
Semaphore, BoundedSemaphore, Barrier, Array) run twice: on CPython's
multiprocessing.Manager() through its proxies, and on mgr through the C
client API (DRIVER, tests/diff/driver.c, which starts its own manager).
Every step's outcome must agree: the same result (same types: True is not 1,
1.0 is not 1), or the same exception class (mgr's error code maps to it with
mgr_err_python). The first disagreement prints the script up to it and fails.

What the scripts leave out, each a documented deliberate difference of mgr
(spec/protocol.md) rather than a disagreement: NaN as a dict key (VALUE in
mgr, spec 5.4), lists as dict keys (arrays are hashable in mgr: CBOR has no
tuple), Namespace names starting with '_' (Python keeps those on the proxy),
Array values above 2**63 - 1 (the protocol's ints are int64), Array slice
assignment that changes the length (fixed length, spec 9.14), operations
that would block for ever in one process. A sort that fails leaves CPython's
list "likely in a partially modified state"; mgr's is unchanged (spec 5.5),
so the Python side restores the list after a failed sort. Needs /usr/bin/python3 with cbor2
(Debian python3-cbor2). Exit: 0 agree, 1 a disagreement, 2 usage/setup.
"""

import argparse
import array
import math
import multiprocessing as mp
import queue
import random
import struct
import subprocess
import sys
import threading

import cbor2

REF_TAG = 28007  # a ref never appears in these scripts

INTS = [-2, -1, 0, 1, 2, 7, 100, 127, 128, -128, -129, 255, 256, 32767, 32768,
        -32768, -32769, 65535, 65536, 2**31 - 1, 2**31, -2**31, -2**31 - 1,
        2**32 - 1, 2**32, 2**63 - 1, -2**63]
FLOATS = [0.0, -0.0, 1.5, 2.5, -3.25, 1e300, float("inf"), float("-inf"), 0.1]
TEXTS = ["", "a", "b", "key", "ü", "a longer text value"]
KEYS = [0, 1, 2, -1, 1.0, 2.5, True, False, "a", "b", "k", b"x", None]


def rvalue(r, depth=0):
    c = r.random()
    if c < 0.35:
        return r.choice(INTS)
    if c < 0.5:
        return r.choice(FLOATS)
    if c < 0.65:
        return r.choice(TEXTS)
    if c < 0.7:
        return r.choice([b"", b"x", b"\x00\xff"])
    if c < 0.78:
        return r.choice([True, False, None])
    if depth < 2 and c < 0.9:
        return [rvalue(r, depth + 1) for _ in range(r.randrange(3))]
    if depth < 2:
        return {r.choice(["a", "b", 1]): rvalue(r, depth + 1)
                for _ in range(r.randrange(3))}
    return r.choice(INTS)


def rnum(r):
    return r.choice(INTS) if r.random() < 0.7 else r.choice(FLOATS + [True])


def ridx(r):
    return r.randrange(-7, 8)


def rbound(r):
    return r.choice([None, None, -8, -3, -1, 0, 1, 2, 5, 9])


def rstep_(r):
    return r.choice([None, None, 1, 1, 2, -1, -2, 3, 0])


TYPECODES = "bBhHiIlLqQfd"

# The objects of every script: name -> (kind, init).
OBJECTS = [
    ("d", "dict", {}), ("l", "list", []), ("v", "value", 0),
    ("lk", "lock", None), ("rl", "rlock", None),
    ("q", "queue", 3), ("jq", "jqueue", 0),
    ("ns", "namespace", {}), ("ev", "event", None),
    ("cond", "condition", None),
    ("sem", "semaphore", 2), ("bsem", "bsemaphore", 2),
    ("bar1", "barrier", 1), ("bar2", "barrier", 2),
] + [("a" + ("U" if tc.isupper() else "") + tc.lower(), "array", [tc, [0, 1, 2, 3, 4]])
     for tc in TYPECODES]


def gen_step(r, name, kind, init):
    """A random (method, args) for an object."""
    if kind == "dict":
        k = r.choice(KEYS)
        return r.choice([
            ("getitem", [k]), ("get", [k]), ("get", [k, rvalue(r)]),
            ("setitem", [k, rvalue(r)]), ("setitem", [k, rvalue(r)]),
            ("delitem", [k]), ("contains", [k]), ("len", []), ("keys", []),
            ("values", []), ("items", []), ("pop", [k]), ("pop", [k, rvalue(r)]),
            ("popitem", []), ("setdefault", [k]), ("setdefault", [k, rvalue(r)]),
            ("update", [{r.choice(KEYS): rvalue(r) for _ in range(r.randrange(3))}]),
            ("copy", []), ("clear", []) if r.random() < 0.1 else ("len", []),
        ])
    if kind == "list":
        v = rvalue(r)
        return r.choice([
            ("getitem", [ridx(r)]), ("setitem", [ridx(r), v]), ("delitem", [ridx(r)]),
            ("len", []), ("contains", [v]), ("append", [v]), ("append", [r.choice(INTS)]),
            ("extend", [[rvalue(r) for _ in range(r.randrange(3))]]),
            ("insert", [ridx(r), v]), ("pop", []), ("pop", [ridx(r)]),
            ("remove", [r.choice(INTS)]), ("index", [r.choice(INTS)]),
            ("count", [r.choice(INTS)]), ("reverse", []),
            ("sort", [r.choice([False, True])]),
            ("getslice", [rbound(r), rbound(r), rstep_(r)]),
            ("setslice", [rbound(r), rbound(r), r.choice([None, 1, 2, -1]),
                          [r.choice(INTS) for _ in range(r.randrange(4))]]),
            ("delslice", [rbound(r), rbound(r), rstep_(r)]),
            ("imul", [r.choice([0, 1, 2])]) if r.random() < 0.05 else ("len", []),
            ("copy", []), ("clear", []) if r.random() < 0.05 else ("len", []),
        ])
    if kind == "value":
        return r.choice([("get", []), ("set", [rvalue(r)])])
    if kind in ("lock", "rlock"):
        return r.choice([("acquire", [False]), ("acquire", [True, 0.001]),
                         ("release", [])])
    if kind in ("queue", "jqueue"):
        v = rvalue(r)
        ops = [("put_nowait", [v]), ("put", [v, False]), ("put", [v, True, 0.001]),
               ("get_nowait", []), ("get", [False]), ("get", [True, 0.001]),
               ("qsize", []), ("empty", []), ("full", [])]
        if kind == "jqueue":
            ops += [("task_done", []), ("task_done", [])]
        return r.choice(ops)
    if kind == "namespace":
        n = r.choice(["a", "b", "x", "name", "y2"])
        return r.choice([("getattr", [n]), ("setattr", [n, rvalue(r)]),
                         ("delattr", [n]), ("vars", [])])
    if kind == "event":
        return r.choice([("set", []), ("clear", []), ("is_set", []),
                         ("wait", [0]), ("wait", [0.001])])
    if kind in ("semaphore", "bsemaphore"):
        return r.choice([("acquire", [False]), ("acquire", [True, 0.001]),
                         ("release", [])])
    if kind == "barrier":
        ops = [("abort", []), ("reset", []), ("parties", []), ("n_waiting", []),
               ("broken", [])]
        ops += [("wait", [])] * 3 if init == 1 else [("wait", [0.001])] * 2
        return r.choice(ops)
    if kind == "condition":
        return r.choice([("acquire", [False]), ("acquire", [False]),
                         ("release", []), ("notify", []), ("notify", [2]),
                         ("notify_all", []), ("wait", [0]), ("wait", [0.001])])
    if kind == "array":
        tc = init[0]
        val = rnum(r)
        if tc.isupper() and isinstance(val, int) and val > 2**63 - 1:
            val = 1
        if r.random() < 0.3:
            # setslice with exactly as many items as the slice selects
            s = slice(rbound(r), rbound(r), r.choice([None, 1, 2, -1]))
            n = len(range(5)[s])
            return ("setslice", [s.start, s.stop, s.step,
                                 [r.choice(INTS[:12]) for _ in range(n)]])
        return r.choice([("getitem", [ridx(r)]), ("setitem", [ridx(r), val]),
                         ("len", []), ("getslice", [rbound(r), rbound(r), rstep_(r)])])
    raise ValueError(kind)


def gen_script(seed, steps):
    r = random.Random(seed)
    out = []
    for _ in range(steps):
        name, kind, init = r.choice(OBJECTS)
        meth, args = gen_step(r, name, kind, init)
        out.append((name, kind, meth, args))
    return out


# --- the wire encoding (spec 4: definite lengths, shortest heads, floats in
# their shortest exact width, NaN as f97e00) -------------------------------------

def _head(major, n):
    if n < 24:
        return bytes([major << 5 | n])
    for ai, fmt in ((24, ">B"), (25, ">H"), (26, ">I"), (27, ">Q")):
        if n < 1 << (8 * struct.calcsize(fmt)):
            return bytes([major << 5 | ai]) + struct.pack(fmt, n)
    raise ValueError(n)


def enc(v):
    if v is None:
        return b"\xf6"
    if v is True or v is False:
        return b"\xf5" if v else b"\xf4"
    if isinstance(v, int):
        return _head(0, v) if v >= 0 else _head(1, -1 - v)
    if isinstance(v, float):
        if math.isnan(v):
            return b"\xf9\x7e\x00"
        for tag, fmt in ((b"\xf9", ">e"), (b"\xfa", ">f")):
            try:
                b = struct.pack(fmt, v)
            except OverflowError:
                continue
            if struct.unpack(fmt, b)[0] == v:
                return tag + b
        return b"\xfb" + struct.pack(">d", v)
    if isinstance(v, str):
        b = v.encode()
        return _head(3, len(b)) + b
    if isinstance(v, bytes):
        return _head(2, len(v)) + v
    if isinstance(v, (list, tuple)):
        return _head(4, len(v)) + b"".join(enc(x) for x in v)
    if isinstance(v, dict):
        return _head(5, len(v)) + b"".join(enc(k) + enc(x) for k, x in v.items())
    raise TypeError(type(v))


# --- CPython ------------------------------------------------------------------

def py_new(m, kind, init):
    return {
        "dict": lambda: m.dict(init), "list": lambda: m.list(init),
        "value": lambda: m.Value("i", init), "lock": m.Lock, "rlock": m.RLock,
        "queue": lambda: m.Queue(init), "jqueue": lambda: m.JoinableQueue(init),
        "namespace": lambda: m.Namespace(**init), "event": m.Event,
        "condition": m.Condition, "semaphore": lambda: m.Semaphore(init),
        "bsemaphore": lambda: m.BoundedSemaphore(init),
        "barrier": lambda: m.Barrier(init),
        "array": lambda: m.Array(init[0], init[1]),
    }[kind]()


def py_sort(o, reverse):
    """l.sort(), with the list restored when a comparison fails: CPython
    leaves it "likely in a partially modified state" (an implementation
    detail); mgr leaves it unchanged (spec 5.5). The exception is compared."""
    before = o[:]
    try:
        return o.sort(reverse=reverse)
    except TypeError:
        o[:] = before
        raise


def py_call(o, kind, meth, a, typecode=None):
    if kind == "dict":
        return {
            "getitem": lambda: o[a[0]], "get": lambda: o.get(*a),
            "setitem": lambda: o.__setitem__(a[0], a[1]),
            "delitem": lambda: o.__delitem__(a[0]), "contains": lambda: a[0] in o,
            "len": lambda: len(o), "keys": lambda: list(o.keys()),
            "values": lambda: list(o.values()), "items": lambda: list(o.items()),
            "pop": lambda: o.pop(*a), "popitem": lambda: o.popitem(),
            "setdefault": lambda: o.setdefault(*a), "update": lambda: o.update(a[0]),
            "copy": lambda: o.copy(), "clear": lambda: o.clear(),
        }[meth]()
    if kind == "list":
        return {
            "getitem": lambda: o[a[0]], "setitem": lambda: o.__setitem__(a[0], a[1]),
            "delitem": lambda: o.__delitem__(a[0]), "len": lambda: len(o),
            "contains": lambda: a[0] in o, "append": lambda: o.append(a[0]),
            "extend": lambda: o.extend(a[0]), "insert": lambda: o.insert(a[0], a[1]),
            "pop": lambda: o.pop(*a), "remove": lambda: o.remove(a[0]),
            "index": lambda: o.index(a[0]), "count": lambda: o.count(a[0]),
            "reverse": lambda: o.reverse(), "sort": lambda: py_sort(o, a[0]),
            "getslice": lambda: o[slice(*a)],
            "setslice": lambda: o.__setitem__(slice(*a[:3]), a[3]),
            "delslice": lambda: o.__delitem__(slice(*a)),
            "imul": lambda: (o.__imul__(a[0]), None)[1],
            # CPython 3.11's ListProxy has no clear(): del l[:] is the same.
            "copy": lambda: o[:], "clear": lambda: o.__delitem__(slice(None)),
        }[meth]()
    if kind == "value":
        if meth == "get":
            return o.value
        o.value = a[0]
        return None
    if kind in ("lock", "rlock", "semaphore", "bsemaphore"):
        return o.acquire(*a) if meth == "acquire" else o.release()
    if kind in ("queue", "jqueue"):
        return getattr(o, meth)(*a)
    if kind == "namespace":
        if meth == "getattr":
            return getattr(o, a[0])
        if meth == "setattr":
            return setattr(o, a[0], a[1])
        if meth == "delattr":
            return delattr(o, a[0])
        return dict(vars(o._getvalue()))
    if kind == "event":
        return getattr(o, meth)(*a)
    if kind == "barrier":
        if meth in ("parties", "n_waiting", "broken"):
            return getattr(o, meth)
        return getattr(o, meth)(*a)
    if kind == "condition":
        return getattr(o, meth)(*a)
    if kind == "array":
        if meth == "getitem":
            return o[a[0]]
        if meth == "setitem":
            o[a[0]] = a[1]
            return None
        if meth == "len":
            return len(o)
        if meth == "getslice":
            return o[slice(*a)]
        if meth == "setslice":
            o[slice(*a[:3])] = array.array(typecode, a[3])
            return None
    raise ValueError((kind, meth))


def run_python(m, script):
    objs = {}
    for name, kind, init in OBJECTS:
        objs[name] = py_new(m, kind, init)
    out = []
    for name, kind, meth, args in script:
        init = dict((n, i) for n, k, i in OBJECTS)[name]
        tc = init[0] if kind == "array" else None
        try:
            out.append(("ok", norm(py_call(objs[name], kind, meth, args, tc))))
        except Exception as e:  # noqa: BLE001 - every exception is an outcome
            out.append(("err", type(e).__name__, str(e)))
    # Leave nothing waiting or held that would slow the manager down.
    return out


# --- mgr ----------------------------------------------------------------------

def run_mgr(driver, script):
    lines = []
    for name, kind, init in OBJECTS:
        lines.append("NEW %s %s %s" % (name, kind, enc(init).hex()))
    for name, kind, meth, args in script:
        lines.append("%s %s %s" % (name, meth, enc(list(args)).hex()))
    p = subprocess.run([driver], input="\n".join(lines) + "\n", text=True,
                       capture_output=True, timeout=600)
    if p.returncode != 0:
        sys.stderr.write(p.stderr)
        raise SystemExit("driver failed with status %d" % p.returncode)
    res = p.stdout.splitlines()[len(OBJECTS):]
    out = []
    for ln in res:
        if ln.startswith("OK "):
            out.append(("ok", norm(cbor2.loads(bytes.fromhex(ln[3:])))))
        else:
            parts = ln.split(" ", 3)
            out.append(("err", parts[1], parts[3] if len(parts) > 3 else ""))
    return out


# --- comparing ------------------------------------------------------------------

def norm(v):
    """A comparable form: types kept (bool is not int, int is not float)."""
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, int):
        return ("int", v)
    if isinstance(v, float):
        return ("float", "nan" if math.isnan(v) else repr(v))
    if isinstance(v, (str, bytes)):
        return v
    if isinstance(v, (list, tuple, array.array)):
        return [norm(x) for x in v]
    if isinstance(v, dict):
        return ("dict", [(norm(k), norm(x)) for k, x in v.items()])
    if isinstance(v, cbor2.CBORTag):
        return ("tag", v.tag, norm(v.value))
    return ("?", repr(v))


def same(a, b):
    if a[0] != b[0]:
        return False
    if a[0] == "ok":
        return a[1] == b[1]
    return a[1] == b[1]  # the exception class; messages are informative


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("driver")
    ap.add_argument("--scripts", type=int, default=60)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("-v", action="store_true")
    o = ap.parse_args()
    seed0 = o.seed if o.seed is not None else random.randrange(1 << 30)
    print("diff_cpython: seed %d (--seed %d replays), %d scripts of %d steps"
          % (seed0, seed0, o.scripts, o.steps))
    total = 0
    with mp.Manager() as m:
        for i in range(o.scripts):
            script = gen_script(seed0 + i, o.steps)
            py = run_python(m, script)
            c = run_mgr(o.driver, script)
            if len(c) != len(py):
                print("script %d: the driver answered %d steps of %d"
                      % (seed0 + i, len(c), len(py)))
                return 1
            for j, (a, b) in enumerate(zip(py, c)):
                if not same(a, b):
                    print("DISAGREE: script seed %d, step %d" % (seed0 + i, j))
                    for k in range(max(0, j - 25), j + 1):
                        n, kind, meth, args = script[k]
                        print("  %3d %s.%s%r -> python %r | mgr %r"
                              % (k, n, meth, tuple(args), py[k], c[k]))
                    return 1
            total += len(py)
            if o.v:
                print("script %d: %d steps agree" % (seed0 + i, len(py)))
    print("diff_cpython: %d steps agree" % total)
    return 0


if __name__ == "__main__":
    sys.exit(main())
