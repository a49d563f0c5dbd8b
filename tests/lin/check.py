#!/usr/bin/env python3
"""mgr tests — linearizability, the checker (tests/lin/README.md).

Decides whether each history recorded by lin_record is linearizable: whether
every operation can be given one instant between its invocation and its
response such that, taken in that order, the operations give exactly the
recorded results when run one at a time on the sequential specification of
their object's kind (written here from spec/protocol.md 9.2-9.14 and 11).

The search is Wing and Gong's, with Lowe's memoisation as Porcupine and
Knossos do it: the invocations and responses of one object's operations in a
doubly linked list by time; the next operation to linearize is any whose
invocation comes before the first pending response; a (set of linearized
operations, model state) pair already explored is not explored again; a
response reached means backtracking. Each object is checked on its own
(P-compositionality: a history is linearizable iff each object's
sub-history is), the whole object at once (a dict's len and items read every
key).

BATCH (spec 9.6.1): each sub-request is its own operation, atomic by itself,
with the batch's invocation and response; the sub-requests of one batch run in
list order, so a sub-request is linearized only after the one before it in its
batch on the same object. The batch as a whole is not atomic: nothing else ties
the sub-requests together.

An operation whose outcome the client does not know (ETIMEDOUT, ECLOSED: none
is expected in these runs) "maybe happened": its response is at infinity and
its result is not compared; it may be linearized anywhere after its
invocation, or never (a history is accepted once every operation with a known
outcome is linearized).

  check.py --self-test
  check.py FILE...                 histories recorded by lin_record
  check.py --recorder PATH [...]   record and check: the ctest `lin`

The ctest: MGR_TEST_SEED (or the clock) seeds the operations; real histories
are recorded and checked until the count or the time budget is reached, and
every one must be linearizable; then histories of the mutant client (an
increment done as a read then a write, logged as the increment) until the
checker rejects one, which it must within its budget.
"""

import argparse
import json
import os
import random
import subprocess
import sys
import time

INF = float("inf")
UNKNOWN = ("ETIMEDOUT", "ECLOSED")  # the outcome is unknown: "maybe happened"


# --- values -------------------------------------------------------------------
# Results are compared in a canonical form: arrays are tuples, a map is
# ("map", pairs in order), a bool is ("bool", b) (so that True is not 1).


def canon(v):
    if isinstance(v, bool):
        return ("bool", v)
    if isinstance(v, list):
        return tuple(canon(x) for x in v)
    if isinstance(v, dict):
        if "map" in v:
            return ("map", tuple((canon(k), canon(x)) for k, x in v["map"]))
        if "float" in v:
            return ("float", v["float"])
        return ("other", json.dumps(v, sort_keys=True))
    return v


def B(b):
    return ("bool", bool(b))


NIL = None


class Refused(Exception):
    """An error the manager answers; the object is unchanged (spec 9)."""

    def __init__(self, code):
        super().__init__(code)
        self.code = code


# --- sequential specifications --------------------------------------------------
# Each takes the state (hashable), the op's name and its args, and returns
# (result, new state) or raises Refused with the error the spec gives.


def index_ok(i, n):
    """spec 9.3: -n <= i < n; the index it names."""
    if not -n <= i < n:
        raise Refused("EINDEX")
    return i + n if i < 0 else i


def dict_spec(s, op, a):
    """9.2 and 11: s is the tuple of (key, value) pairs in insertion order."""
    d = list(s)
    keys = [k for k, _ in d]

    def find(k):
        return keys.index(k) if k in keys else -1

    if op == "DICT_GET":
        i = find(a[0])
        if i >= 0:
            return d[i][1], s
        if len(a) == 2:
            return a[1], s
        raise Refused("EKEY")
    if op == "DICT_SET":
        i = find(a[0])
        if i >= 0:
            d[i] = (d[i][0], a[1])  # the original key object stays
        else:
            d.append((a[0], a[1]))
        return NIL, tuple(d)
    if op == "DICT_DEL":
        i = find(a[0])
        if i < 0:
            raise Refused("EKEY")
        del d[i]
        return NIL, tuple(d)
    if op == "DICT_CONTAINS":
        return B(find(a[0]) >= 0), s
    if op == "DICT_LEN":
        return len(d), s
    if op == "DICT_KEYS":
        return tuple(keys), s
    if op == "DICT_VALUES":
        return tuple(v for _, v in d), s
    if op == "DICT_ITEMS":
        return tuple((k, v) for k, v in d), s
    if op == "DICT_COPY":
        return ("map", tuple(d)), s
    if op == "DICT_POP":
        i = find(a[0])
        if i >= 0:
            v = d.pop(i)[1]
            return v, tuple(d)
        if len(a) == 2:
            return a[1], s
        raise Refused("EKEY")
    if op == "DICT_POPITEM":
        if not d:
            raise Refused("EKEY")
        k, v = d.pop()
        return (k, v), tuple(d)
    if op == "DICT_SETDEFAULT":
        i = find(a[0])
        if i >= 0:
            return d[i][1], s
        dflt = a[1] if len(a) == 2 else NIL
        d.append((a[0], dflt))
        return dflt, tuple(d)
    if op == "DICT_UPDATE":
        for k, v in a[0]:
            i = find(k)
            if i >= 0:
                d[i] = (d[i][0], v)
            else:
                d.append((k, v))
                keys.append(k)
        return NIL, tuple(d)
    if op == "DICT_CLEAR":
        return NIL, ()
    if op == "DICT_INCR":  # 11.1.4: present, or the default inserted at the end
        i = find(a[0])
        if i >= 0:
            v = d[i][1] + a[1]
            d[i] = (d[i][0], v)
        elif len(a) == 3:
            v = a[2] + a[1]
            d.append((a[0], v))
        else:
            raise Refused("EKEY")
        return v, tuple(d)
    if op == "DICT_CAS":  # 11.2
        i = find(a[0])
        if i < 0:
            raise Refused("EKEY")
        if d[i][1] == a[1]:
            d[i] = (d[i][0], a[2])
            return (B(True), a[2]), tuple(d)
        return (B(False), d[i][1]), s
    raise ValueError("no spec for " + op)


def list_spec(s, op, a):
    """9.3 and 11: s is the tuple of elements."""
    l = list(s)
    if op == "LIST_GET":
        return l[index_ok(a[0], len(l))], s
    if op == "LIST_SET":
        l[index_ok(a[0], len(l))] = a[1]
        return NIL, tuple(l)
    if op == "LIST_APPEND":
        return NIL, s + (a[0],)
    if op == "LIST_LEN":
        return len(l), s
    if op == "LIST_INCR":  # 11.1.5: no default
        i = index_ok(a[0], len(l))
        l[i] += a[1]
        return l[i], tuple(l)
    if op == "LIST_POP":  # an empty list or an invalid index: INDEX
        i = index_ok(a[0] if a else -1, len(l))
        v = l.pop(i)
        return v, tuple(l)
    if op == "LIST_CAS":
        i = index_ok(a[0], len(l))
        if l[i] == a[1]:
            l[i] = a[2]
            return (B(True), a[2]), tuple(l)
        return (B(False), l[i]), s
    if op == "LIST_INSERT":  # clamped as Python's insert
        l.insert(a[0], a[1])
        return NIL, tuple(l)
    if op == "LIST_COPY":
        return s, s
    if op == "LIST_REMOVE":
        if a[0] not in l:
            raise Refused("EVALUE")
        l.remove(a[0])
        return NIL, tuple(l)
    if op == "LIST_COUNT":
        return l.count(a[0]), s
    if op == "LIST_CONTAINS":
        return B(a[0] in l), s
    raise ValueError("no spec for " + op)


def value_spec(s, op, a):
    """9.4 and 11: s is the value (an int in these runs)."""
    if op == "VAR_GET":
        return s, s
    if op == "VAR_SET":
        return NIL, a[0]
    if op == "VAR_INCR":
        if s is None and len(a) < 2:
            raise Refused("ETYPE")
        v = (a[1] if s is None else s) + a[0]
        return v, v
    if op == "VAR_CAS":
        if s == a[0]:
            return (B(True), a[1]), a[1]
        return (B(False), s), s
    raise ValueError("no spec for " + op)


def array_spec(s, op, a):
    """9.14, a 'q' array of fixed length: s is the tuple of elements."""
    l = list(s)
    if op == "ARRAY_GET":
        return l[index_ok(a[0], len(l))], s
    if op == "ARRAY_SET":
        l[index_ok(a[0], len(l))] = a[1]
        return NIL, tuple(l)
    if op == "ARRAY_LEN":
        return len(l), s
    if op == "ARRAY_INCR":
        i = index_ok(a[0], len(l))
        l[i] += a[1]
        return l[i], tuple(l)
    if op == "ARRAY_CAS":
        i = index_ok(a[0], len(l))
        if l[i] == a[1]:
            l[i] = a[2]
            return (B(True), a[2]), tuple(l)
        return (B(False), l[i]), s
    if op == "ARRAY_GETSLICE":
        return tuple(l[slice(*a[0:3])]), s
    if op == "ARRAY_SETSLICE":  # the length never changes
        sl = slice(*a[0:3])
        if len(range(*sl.indices(len(l)))) != len(a[3]):
            raise Refused("EVALUE")
        l[sl] = list(a[3])
        return NIL, tuple(l)
    raise ValueError("no spec for " + op)


def queue_spec(s, op, a):
    """9.8, non-blocking calls only: s is (maxsize, items head first)."""
    maxsize, items = s
    full = maxsize > 0 and len(items) >= maxsize
    if op == "QUEUE_PUT":  # [item, block false]: never waits
        if full:
            raise Refused("EFULL")
        return NIL, (maxsize, items + (a[0],))
    if op == "QUEUE_GET":
        if not items:
            raise Refused("EEMPTY")
        return items[0], (maxsize, items[1:])
    if op == "QUEUE_QSIZE":
        return len(items), s
    if op == "QUEUE_EMPTY":
        return B(not items), s
    if op == "QUEUE_FULL":
        return B(full), s
    raise ValueError("no spec for " + op)


def sem_spec(s, op, a):
    """9.12, non-blocking acquires: s is (counter, bound or None)."""
    value, bound = s
    if op == "SEM_ACQUIRE":  # [blocking false]
        if value > 0:
            return B(True), (value - 1, bound)
        return B(False), s
    if op == "SEM_RELEASE":
        n = a[0] if a else 1
        if n < 1:
            raise Refused("EVALUE")
        if bound is not None and value + n > bound:
            raise Refused("EVALUE")
        return NIL, (value + n, bound)
    if op == "SEM_VALUE":
        return value, s
    raise ValueError("no spec for " + op)


def freeze(v):
    """A JSON init or argument as the specs take it (tuples, no tags)."""
    if isinstance(v, list):
        return tuple(freeze(x) for x in v)
    if isinstance(v, dict) and "map" in v:
        return tuple((freeze(k), freeze(x)) for k, x in v["map"])
    return v


KINDS = {
    "dict": (dict_spec, lambda init: freeze(init)),
    "list": (list_spec, lambda init: freeze(init)),
    "value": (value_spec, lambda init: freeze(init)),
    "array": (array_spec, lambda init: freeze(init)),
    "queue": (queue_spec, lambda init: (init if init else 0, ())),
    "semaphore": (sem_spec, lambda init: (1 if init is None else init, None)),
    "bsemaphore": (sem_spec, lambda init: (1 if init is None else init,
                                           1 if init is None else init)),
}


# --- the search -------------------------------------------------------------------


class Op:
    __slots__ = ("id", "client", "op", "args", "status", "result", "inv",
                 "resp", "batch", "index", "pred", "known", "raw")

    def __init__(self, raw):
        self.raw = raw
        self.client = raw["c"]
        self.op = raw["op"]
        self.args = freeze(raw["args"])
        self.status = raw["st"]
        self.known = self.status not in UNKNOWN
        self.result = canon(raw["res"]) if self.status == "OK" else None
        self.inv = raw["inv"]
        self.resp = raw["resp"] if self.known else INF
        self.batch = raw.get("b", -1)
        self.index = raw.get("i", 0)
        self.pred = None
        self.id = None


class Entry:
    __slots__ = ("op", "call", "match", "prev", "next")

    def __init__(self, op, call):
        self.op, self.call = op, call
        self.match = self.prev = self.next = None


def step(spec, state, op):
    """(ok, new state): whether op may take effect now with its result."""
    try:
        res, new = spec(state, op.op, op.args)
        st = "OK"
    except Refused as e:
        res, new, st = None, state, e.code
    if not op.known:
        return True, new
    if st != op.status:
        return False, None
    # The specs build results in canon()'s form: ints, texts, None, tuples,
    # and the tagged ("bool", b) and ("map", pairs).
    if st == "OK" and res != op.result:
        return False, None
    return True, new


def linearizable(ops, spec, init, budget=2_000_000):
    """Wing-Gong with memoisation over one object's operations.

    Returns (verdict, info): verdict True, False, or None when the budget of
    steps ran out; info is the longest linearization found (op ids)."""
    for i, op in enumerate(ops):
        op.id = i
    # In-batch order (spec 9.6.1), per object.
    last = {}
    for op in sorted(ops, key=lambda o: (o.client, o.batch, o.index)):
        if op.batch >= 0:
            key = (op.client, op.batch)
            op.pred = last.get(key)
            last[key] = op.id
    # Events by time; at equal times invocations first (more concurrency, never
    # less), and a batch's sub-requests in their order.
    events = []
    for op in ops:
        c, r = Entry(op, True), Entry(op, False)
        c.match = r
        events.append(((op.inv, 0, op.client, op.index), c))
        events.append(((op.resp, 1, op.client, op.index), r))
    events.sort(key=lambda e: e[0])
    head = Entry(None, False)
    prev = head
    for _, e in events:
        prev.next, e.prev = e, prev
        prev = e

    def lift(e):
        e.prev.next = e.next
        e.next.prev = e.prev
        m = e.match
        m.prev.next = m.next
        if m.next:
            m.next.prev = m.prev

    def unlift(e):
        m = e.match
        m.prev.next = m
        if m.next:
            m.next.prev = m
        e.prev.next = e
        e.next.prev = e

    left = sum(1 for op in ops if op.known)
    cache = set()
    stack = []
    state, lin = init, 0
    best = []
    entry = head.next
    steps = 0
    while left:
        steps += 1
        if steps > budget:
            return None, [e.op.id for e, _ in stack]
        if entry.call:
            op = entry.op
            if op.pred is None or lin >> op.pred & 1:
                ok, new = step(spec, state, op)
                if ok:
                    nl = lin | 1 << op.id
                    if (nl, new) not in cache:
                        cache.add((nl, new))
                        stack.append((entry, state))
                        state, lin = new, nl
                        left -= op.known
                        lift(entry)
                        entry = head.next
                        continue
            entry = entry.next
        else:
            if len(stack) > len(best):
                best = [e.op.id for e, _ in stack]
            if not stack:
                return False, best
            e, state = stack.pop()
            lin &= ~(1 << e.op.id)
            left += e.op.known
            unlift(e)
            entry = e.next
    return True, [e.op.id for e, _ in stack]


# --- histories ----------------------------------------------------------------------


def read_histories(lines):
    """lin_record's output: {"h",...,"objects"}, operations, {"end"}."""
    hist = None
    for line in lines:
        line = line.strip()
        if not line:
            continue
        rec = json.loads(line)
        if "objects" in rec:
            hist = {"h": rec["h"], "objects": rec["objects"], "ops": [],
                    "lines": [line]}
        elif "end" in rec:
            yield hist
            hist = None
        else:
            hist["ops"].append(rec)
            hist["lines"].append(line)


def check_history(hist, budget):
    """{object: (verdict, ops, info)} for every object of one history."""
    out = {}
    for obj in hist["objects"]:
        spec, mk = KINDS[obj["kind"]]
        ops = [Op(r) for r in hist["ops"] if r["o"] == obj["o"]]
        verdict, info = linearizable(ops, spec, mk(obj["init"]), budget)
        out[obj["o"]] = (verdict, ops, info, obj)
    return out


def show(ops, info, obj, out=sys.stdout):
    """One object's sub-history by invocation, times in us from the first."""
    t0 = min((o.inv for o in ops), default=0)
    print("  object %s (%s, init %s); the longest linearizable prefix found:"
          % (obj["o"], obj["kind"], json.dumps(obj["init"])), file=out)
    print("    " + (" ".join("#%d" % i for i in info) or "(none)"), file=out)
    for op in sorted(ops, key=lambda o: (o.inv, o.client, o.index)):
        resp = "?" if op.resp == INF else "%.1f" % ((op.resp - t0) / 1e3)
        b = "" if op.batch < 0 else " batch %d.%d" % (op.batch, op.index)
        print("    #%-3d c%d [%9.1f, %9s] %s%s -> %s %s%s" % (
            op.id, op.client, (op.inv - t0) / 1e3, resp, op.op,
            json.dumps(op.raw["args"]), op.status,
            json.dumps(op.raw["res"]) if op.status == "OK" else "", b),
            file=out)


# --- self-test: small histories whose verdict is known -------------------------------


def _op(c, obj, op, args, res, inv, resp, st="OK", b=-1, i=0):
    return {"c": c, "o": obj, "op": op, "args": args, "st": st, "res": res,
            "inv": inv, "resp": resp, "b": b, "i": i}


def _hist(kind, init, ops):
    return {"h": 0, "objects": [{"o": "x", "kind": kind, "init": init}],
            "ops": ops}


def self_test():
    D = {"map": [["a", 0]]}
    cases = [
        ("sequential incrs", True, _hist("dict", D, [
            _op(0, "x", "DICT_INCR", ["a", 1], 1, 0, 10),
            _op(1, "x", "DICT_INCR", ["a", 1], 2, 20, 30)])),
        ("lost update: two overlapping incrs both 1", False, _hist("dict", D, [
            _op(0, "x", "DICT_INCR", ["a", 1], 1, 0, 10),
            _op(1, "x", "DICT_INCR", ["a", 1], 1, 5, 15)])),
        ("overlapping incrs 1 and 2, either order", True, _hist("dict", D, [
            _op(0, "x", "DICT_INCR", ["a", 1], 2, 0, 10),
            _op(1, "x", "DICT_INCR", ["a", 1], 1, 5, 15)])),
        ("read sees a write still in flight", True, _hist("value", 0, [
            _op(0, "x", "VAR_SET", [5], None, 0, 100),
            _op(1, "x", "VAR_GET", [], 5, 10, 20)])),
        ("stale read after the write returned", False, _hist("value", 0, [
            _op(0, "x", "VAR_SET", [5], None, 0, 10),
            _op(1, "x", "VAR_GET", [], 0, 20, 30)])),
        ("a read may not go back", False, _hist("value", 0, [
            _op(0, "x", "VAR_SET", [5], None, 0, 100),
            _op(1, "x", "VAR_GET", [], 5, 10, 20),
            _op(1, "x", "VAR_GET", [], 0, 30, 40)])),
        ("batch order: set then get in one batch", False, _hist("dict", D, [
            _op(0, "x", "DICT_SET", ["a", 1], None, 0, 10, b=0, i=0),
            _op(0, "x", "DICT_GET", ["a"], 0, 0, 10, b=0, i=1)])),
        ("batch: another client between two sub-requests", True,
         _hist("dict", D, [
             _op(0, "x", "DICT_SET", ["a", 1], None, 0, 10, b=0, i=0),
             _op(0, "x", "DICT_GET", ["a"], 7, 0, 10, b=0, i=1),
             _op(1, "x", "DICT_SET", ["a", 7], None, 2, 8)])),
        ("unknown outcome: may have happened", True, _hist("value", 0, [
            _op(0, "x", "VAR_INCR", [1], None, 0, 10, st="ETIMEDOUT"),
            _op(1, "x", "VAR_GET", [], 1, 20, 30)])),
        ("unknown outcome: may not have happened", True, _hist("value", 0, [
            _op(0, "x", "VAR_INCR", [1], None, 0, 10, st="ETIMEDOUT"),
            _op(1, "x", "VAR_GET", [], 0, 20, 30)])),
        ("unknown outcome: not before its invocation", False,
         _hist("value", 0, [
             _op(1, "x", "VAR_GET", [], 1, 0, 10),
             _op(0, "x", "VAR_INCR", [1], None, 20, 30, st="ECLOSED")])),
        ("refused ops change nothing", True, _hist("dict", D, [
            _op(0, "x", "DICT_GET", ["b"], None, 0, 10, st="EKEY"),
            _op(0, "x", "DICT_INCR", ["b", 1], None, 20, 30, st="EKEY"),
            _op(0, "x", "DICT_INCR", ["b", 2, 0], 2, 40, 50),
            _op(0, "x", "DICT_ITEMS", [], [["a", 0], ["b", 2]], 60, 70)])),
        ("insertion order: a re-set key keeps its place", False,
         _hist("dict", D, [
             _op(0, "x", "DICT_SET", ["b", 1], None, 0, 10),
             _op(0, "x", "DICT_SET", ["a", 2], None, 20, 30),
             _op(0, "x", "DICT_KEYS", [], ["b", "a"], 40, 50)])),
        ("cas: both swap 0 -> 1 at once", False, _hist("value", 0, [
            _op(0, "x", "VAR_CAS", [0, 1], [True, 1], 0, 10),
            _op(1, "x", "VAR_CAS", [0, 1], [True, 1], 0, 10)])),
        ("queue: FIFO", False, _hist("queue", 2, [
            _op(0, "x", "QUEUE_PUT", [1, False], None, 0, 10),
            _op(0, "x", "QUEUE_PUT", [2, False], None, 20, 30),
            _op(1, "x", "QUEUE_GET", [False], 2, 40, 50)])),
        ("queue: full at maxsize", True, _hist("queue", 1, [
            _op(0, "x", "QUEUE_PUT", [1, False], None, 0, 10),
            _op(1, "x", "QUEUE_PUT", [2, False], None, 5, 15, st="EFULL"),
            _op(1, "x", "QUEUE_FULL", [], True, 20, 30)])),
        ("queue: one item got twice", False, _hist("queue", 2, [
            _op(0, "x", "QUEUE_PUT", [1, False], None, 0, 10),
            _op(1, "x", "QUEUE_GET", [False], 1, 20, 40),
            _op(2, "x", "QUEUE_GET", [False], 1, 20, 40)])),
        ("semaphore: two units from one", False, _hist("semaphore", 1, [
            _op(0, "x", "SEM_ACQUIRE", [False], True, 0, 10),
            _op(1, "x", "SEM_ACQUIRE", [False], True, 5, 15)])),
        ("bounded semaphore: release over the bound", True,
         _hist("bsemaphore", 2, [
             _op(0, "x", "SEM_RELEASE", [1], None, 0, 10, st="EVALUE"),
             _op(0, "x", "SEM_VALUE", [], 2, 20, 30)])),
        ("list: pop from both ends", True, _hist("list", [1, 2], [
            _op(0, "x", "LIST_POP", [-1], 2, 0, 10),
            _op(1, "x", "LIST_POP", [0], 1, 0, 10),
            _op(2, "x", "LIST_POP", [0], None, 0, 10, st="EINDEX")])),
        ("array: a bool is not an int", False, _hist("array", [0, 0, 0], [
            _op(0, "x", "ARRAY_CAS", [0, 0, 1], [True, 1], 0, 10),
            _op(0, "x", "ARRAY_GET", [0], True, 20, 30)])),
    ]
    # Many concurrent incrs, every order possible: the memo keeps it small.
    n = 12
    cases.append(("%d concurrent incrs, results a permutation" % n, True,
                  _hist("value", 0, [
                      _op(c, "x", "VAR_INCR", [1], n - c, 0, 10)
                      for c in range(n)])))
    cases.append(("%d concurrent incrs, one result repeated" % n, False,
                  _hist("value", 0, [
                      _op(c, "x", "VAR_INCR", [1], n - c if c else 1, 0, 10)
                      for c in range(n)])))
    bad = 0
    for name, want, hist in cases:
        res = check_history(hist, 200_000)
        got = all(v for v, _, _, _ in res.values())
        ok = got == want
        bad += not ok
        print("%s %s (want %s)" % ("ok  " if ok else "FAIL", name,
                                    "accepted" if want else "rejected"))
        if not ok:
            for obj, (v, ops, info, o) in res.items():
                show(ops, info, o)
    print("lin self-test: %d cases, %d failed" % (len(cases), bad))
    return 1 if bad else 0


# --- the ctest ------------------------------------------------------------------------


STALE_READS = ("DICT_GET", "DICT_CONTAINS", "DICT_LEN", "LIST_GET",
               "LIST_LEN", "VAR_GET", "ARRAY_GET")

# lin_record --mutant NAME: what it breaks, and the operations it touches.
MUTANTS = [
    ("incr", "increments done as a read then a write, logged as increments",
     lambda op: op.op.endswith("_INCR")),
    ("stale", "a batch's reads answered from a snapshot taken before it",
     lambda op: op.batch >= 0 and op.op in STALE_READS),
]


def record(recorder, seed, first, count, clients, ops, mutant):
    cmd = [recorder, "--seed", str(seed), "--first", str(first),
           "--histories", str(count), "--clients", str(clients),
           "--ops", str(ops)]
    if mutant:
        cmd += ["--mutant", mutant]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=300)
    if p.returncode:
        sys.exit("lin: %s failed (%d): %s" % (" ".join(cmd), p.returncode,
                                              p.stderr.strip()))
    return list(read_histories(p.stdout.splitlines())), p.stderr


def overlap(ops):
    """(operations overlapping one of another client, most pending at once)."""
    ops = sorted(ops, key=lambda o: o.inv)
    marked = set()
    for i, o in enumerate(ops):
        for q in ops[i + 1:]:
            if q.inv >= o.resp:
                break
            if q.client != o.client:
                marked.update((o.id, q.id))
    ev = sorted([(o.inv, 1) for o in ops] + [(o.resp, -1) for o in ops])
    cur = most = 0
    for _, d in ev:
        cur += d
        most = max(most, cur)
    return len(marked), most


def run(args):
    env = os.environ.get("MGR_TEST_SEED")
    seed = int(env, 0) if env else (int(time.time()) * 2654435761) % 2**63
    seed = seed or 1
    print("lin: seed %d (MGR_TEST_SEED=%d replays the operations; the "
          "interleaving is the scheduler's)" % (seed, seed))
    t0 = time.monotonic()
    stats = {"histories": 0, "ops": 0, "subs": 0, "objects": 0,
             "overlap": 0, "most": 0}
    shape = random.Random(seed)  # clients and calls per recorder run
    sizes = set()
    kinds = set()
    notes = set()
    failed = []

    # Real histories: every one linearizable.
    deadline = t0 + args.budget
    first = 0
    while first < args.histories and time.monotonic() < deadline:
        n = min(args.chunk, args.histories - first)
        clients = args.clients or shape.randint(3, 5)
        calls = args.ops or shape.randint(10, 30)
        sizes.add((clients, calls))
        hists, err = record(args.recorder, seed, first, n, clients, calls,
                            None)
        notes.update(l for l in err.splitlines() if l)
        for hist in hists:
            stats["histories"] += 1
            stats["ops"] += len(hist["ops"])
            stats["subs"] += sum(1 for r in hist["ops"] if r["b"] >= 0)
            for obj, (v, ops, info, o) in check_history(
                    hist, args.steps).items():
                stats["objects"] += 1
                kinds.add(o["kind"])
                n_over, most = overlap(ops)
                stats["overlap"] += n_over
                stats["most"] = max(stats["most"], most)
                if v is not True:
                    failed.append((hist, obj, v, ops, info, o))
        first += n
    t_real = time.monotonic() - t0
    for n in sorted(notes):
        print("lin: " + n)
    print("lin: %d real histories of %d-%d clients x %d-%d calls, %d "
          "operations (%d of them batch sub-requests), %d object "
          "sub-histories (%s), checked in %.1f s" % (
              stats["histories"], min(c for c, _ in sizes),
              max(c for c, _ in sizes), min(k for _, k in sizes),
              max(k for _, k in sizes), stats["ops"],
              stats["subs"], stats["objects"], ", ".join(sorted(kinds)),
              t_real))
    print("lin: %.0f %% of the operations overlap one of another client on "
          "the same object; up to %d pending on one object at once"
          % (100.0 * stats["overlap"] / max(1, stats["ops"]), stats["most"]))
    for hist, obj, v, ops, info, o in failed:
        what = "NOT LINEARIZABLE" if v is False else "undecided (budget)"
        print("lin: history %d, object %s: %s" % (hist["h"], obj, what))
        show(ops, info, o)
        if args.save_dir:
            path = os.path.join(args.save_dir,
                                "lin-fail-%d-%d.jsonl" % (seed, hist["h"]))
            with open(path, "w") as f:
                f.write("\n".join(hist["lines"]) + '\n{"end": %d}\n'
                        % hist["h"])
            print("lin: history saved to %s (check.py %s)" % (path, path))
    if stats["histories"] < args.min_histories:
        print("lin: FAIL: only %d histories within %d s (at least %d)"
              % (stats["histories"], args.budget, args.min_histories))
        return 1
    if failed:
        print("lin: FAIL: %d object sub-histories not accepted" % len(failed))
        return 1

    # The mutants: each must be caught, and only where it lies.
    t1 = time.monotonic()
    deadline = t1 + args.mutant_budget
    for k, (mutant, what, touched) in enumerate(MUTANTS):
        first, caught, mhist = 10**6 * (k + 1), None, 0
        while caught is None and mhist < args.mutant_histories and \
                time.monotonic() < deadline:
            n = min(args.chunk, args.mutant_histories - mhist)
            hists, _ = record(args.recorder, seed, first, n,
                              args.clients or shape.randint(3, 5),
                              args.ops or shape.randint(10, 30), mutant)
            for hist in hists:
                mhist += 1
                for obj, (v, ops, info, o) in check_history(
                        hist, args.steps).items():
                    if v is False and not any(touched(op) for op in ops):
                        # The mutant changes nothing else: a rejection
                        # elsewhere is a real bug.
                        print("lin: FAIL: %s mutant history %d rejected on "
                              "%s, which the mutant does not touch"
                              % (mutant, hist["h"], obj))
                        show(ops, info, o)
                        return 1
                    if v is False and caught is None:
                        caught = (hist, obj, ops, info, o)
                if caught:
                    break
            first += n
        if caught is None:
            print("lin: FAIL: the %s mutant (%s) was not caught in %d "
                  "histories (%.1f s)" % (mutant, what, mhist,
                                          time.monotonic() - t1))
            return 1
        hist, obj, ops, info, o = caught
        print("lin: the %s mutant (%s) is caught: its history %d of %d "
              "recorded is rejected, object %s:"
              % (mutant, what, hist["h"] - 10**6 * (k + 1) + 1, mhist, obj))
        show(ops, info, o)
    print("lin: passed in %.1f s" % (time.monotonic() - t0))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="*", help="histories recorded by lin_record")
    ap.add_argument("--self-test", action="store_true")
    ap.add_argument("--recorder", help="lin_record: record and check")
    ap.add_argument("--save-dir", help="where a failing history is saved")
    ap.add_argument("--histories", type=int, default=1000)
    ap.add_argument("--min-histories", type=int, default=50)
    ap.add_argument("--budget", type=float, default=30,
                    help="seconds for the real histories")
    ap.add_argument("--mutant-histories", type=int, default=200)
    ap.add_argument("--mutant-budget", type=float, default=15)
    ap.add_argument("--chunk", type=int, default=25,
                    help="histories per recorder run (one manager each)")
    ap.add_argument("--clients", type=int, default=0,
                    help="clients per history (default: 3 to 5 per run)")
    ap.add_argument("--ops", type=int, default=0,
                    help="calls per client (default: 10 to 30 per run)")
    ap.add_argument("--steps", type=int, default=2_000_000,
                    help="search steps per object before giving up")
    args = ap.parse_args()
    if args.self_test:
        return self_test()
    if args.recorder:
        return run(args)
    if not args.files:
        ap.error("--self-test, --recorder or files")
    bad = 0
    for path in args.files:
        with open(path) as f:
            for hist in read_histories(f):
                for obj, (v, ops, info, o) in check_history(
                        hist, args.steps).items():
                    verdict = {True: "linearizable", False: "NOT linearizable",
                               None: "undecided"}[v]
                    print("%s: history %d, object %s: %s"
                          % (path, hist["h"], obj, verdict))
                    if v is not True:
                        bad += 1
                        show(ops, info, o)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
