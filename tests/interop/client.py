#!/usr/bin/python3
"""Independent Python client for "mgr protocol 1", written from
spec/protocol.md alone, and an interoperability test against mgrd.

usage: client.py SOCKET_PATH [--smoke]

  (default)  run every check, end with SHUTDOWN
  --smoke    HELLO, PING, CREATE, LIST only; leave the server running

Prints one line per check and a final "N passed, M failed" line; exits 1 if
any check failed.
"""

import io
import math
import os
import socket
import struct
import sys
from dataclasses import dataclass

import cbor2

# --------------------------------------------------------------------------
# Constants (spec §9, §10, §14)

OP = dict(
    HELLO=1, PING=2, CREATE=3, OPEN=4, RELEASE=5, RETAIN=6, LIST=7, UNLINK=8,
    SHUTDOWN=9,
    DICT_GET=16, DICT_SET=17, DICT_DEL=18, DICT_CONTAINS=19, DICT_LEN=20,
    DICT_KEYS=21, DICT_VALUES=22, DICT_ITEMS=23, DICT_POP=24, DICT_POPITEM=25,
    DICT_SETDEFAULT=26, DICT_UPDATE=27, DICT_CLEAR=28, DICT_COPY=29,
    DICT_INCR=30, DICT_CAS=31,
    LIST_GET=40, LIST_SET=41, LIST_DEL=42, LIST_LEN=43, LIST_GETSLICE=44,
    LIST_SETSLICE=45, LIST_DELSLICE=46, LIST_APPEND=47, LIST_EXTEND=48,
    LIST_INSERT=49, LIST_POP=50, LIST_REMOVE=51, LIST_INDEX=52, LIST_COUNT=53,
    LIST_REVERSE=54, LIST_SORT=55, LIST_CLEAR=56, LIST_COPY=57, LIST_IMUL=58,
    LIST_CONTAINS=59, LIST_INCR=62, LIST_CAS=63,
    VAR_GET=72, VAR_SET=73, VAR_INCR=74, VAR_CAS=75,
    LOCK_ACQUIRE=80, LOCK_RELEASE=81, LOCK_LOCKED=82,
)

OK, PROTO, DECODE, TOOBIG, VERSION, PERM, BADOP = 0, 20, 21, 22, 23, 24, 25
KEY, INDEX, TYPE, VALUE, OVERFLOW, NOTFOUND, STATE, LIMIT, SHUTDOWN = (
    40, 41, 42, 43, 44, 45, 46, 47, 48)
EUNKNOWN = 8
ERRNAME = {0: "OK", 20: "PROTO", 21: "DECODE", 22: "TOOBIG", 23: "VERSION",
           24: "PERM", 25: "BADOP", 40: "KEY", 41: "INDEX", 42: "TYPE",
           43: "VALUE", 44: "OVERFLOW", 45: "NOTFOUND", 46: "STATE",
           47: "LIMIT", 48: "SHUTDOWN", 8: "EUNKNOWN"}
KNOWN_WIRE_CODES = {20, 21, 22, 23, 24, 25, 40, 41, 42, 43, 44, 45, 46, 47, 48}
FATAL = {20, 21, 22, 23, 24, 48}                      # §10.3

KIND_DICT, KIND_LIST, KIND_VAR, KIND_LOCK, KIND_RLOCK = 1, 2, 3, 4, 5

FRAME_MAX_DEFAULT = 1048576
DEPTH_MAX = 32
INT_MIN, INT_MAX = -(1 << 63), (1 << 63) - 1
TAG_REF = 28007


class EncodeError(ValueError):
    """Local EINVAL: the value cannot be encoded as mgr CBOR."""


class DecodeError(Exception):
    """Local EDECODE / EPROTO on a received frame."""


class ConnClosed(Exception):
    """Local ECLOSED."""


@dataclass(frozen=True)
class Ref:
    kind: int
    id: int


# --------------------------------------------------------------------------
# mgr CBOR encoder (§4.8) on top of cbor2: cbor2 handles heads, ints, text,
# bytes, arrays, maps (dict order kept with canonical=False) and simple
# values; we pre-check the profile and emit floats and refs ourselves.

class _Float:
    __slots__ = ("v",)

    def __init__(self, v):
        self.v = v


def encode_float(x):
    """Preferred (shortest exact) width, §4.4."""
    if math.isnan(x):
        return b"\xf9\x7e\x00"
    try:
        h = struct.pack(">e", x)
        if struct.unpack(">e", h)[0] == x:
            return b"\xf9" + h
    except OverflowError:
        pass
    try:
        f = struct.pack(">f", x)
        if struct.unpack(">f", f)[0] == x:
            return b"\xfa" + f
    except OverflowError:
        pass
    return b"\xfb" + struct.pack(">d", x)


def _has_bad_key_part(v):
    """A key is invalid if it is a map, NaN, or an array holding one (§5.4)."""
    if isinstance(v, dict):
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    if isinstance(v, (list, tuple)):
        return any(_has_bad_key_part(x) for x in v)
    return False


def _prep(v, depth, as_key=False):
    if depth > DEPTH_MAX:
        raise EncodeError("too deep")
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, int):
        if not INT_MIN <= v <= INT_MAX:
            raise EncodeError("int outside int64")
        return v
    if isinstance(v, float):
        return _Float(v)
    if isinstance(v, str):
        try:
            v.encode("utf-8")          # refuses lone surrogates
        except UnicodeEncodeError as e:
            raise EncodeError("text not UTF-8") from e
        return v
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v)
    if isinstance(v, Ref):
        if not (1 <= v.kind <= 14 and 1 <= v.id <= INT_MAX):
            raise EncodeError("bad ref")
        return v                        # depth of a ref is the tag's (§4.6)
    if isinstance(v, (list, tuple)):
        items = [_prep(x, depth + 1, as_key) for x in v]
        return tuple(items) if as_key else items
    if isinstance(v, dict):
        # Python dict keys are already distinct under Python ==, which is the
        # key equality of §5.3 (1 == 1.0 == True, (1, 2) == (1.0, 2)).
        out = {}
        for k, x in v.items():
            if _has_bad_key_part(k):
                raise EncodeError("invalid map key")
            out[_prep(k, depth + 1, True)] = _prep(x, depth + 1)
        return out
    raise EncodeError("unsupported type %r" % type(v))


def _default(enc, v):
    if isinstance(v, _Float):
        enc.write(encode_float(v.v))
    elif isinstance(v, Ref):
        enc.write(b"\xd9\x6d\x67\x82" + bytes([v.kind]))
        enc.encode(v.id)
    else:
        raise EncodeError("cannot encode %r" % type(v))


def encode(v):
    return cbor2.dumps(_prep(v, 1), default=_default, canonical=False)


# --------------------------------------------------------------------------
# Decoder: cbor2 is lenient, so strictness is enforced by demanding that the
# decoded value re-encode to exactly the received bytes (§4.8: "decoding any
# accepted input and encoding the result gives the same bytes"). This catches
# non-shortest heads, non-preferred floats, duplicate keys, trailing bytes,
# indefinite lengths, other tags and bignums.

def _tag_hook(decoder, tag):
    if tag.tag != TAG_REF:
        raise DecodeError("tag %d not allowed" % tag.tag)
    c = tag.value
    if (not isinstance(c, list) or len(c) != 2
            or type(c[0]) is not int or type(c[1]) is not int
            or not 1 <= c[0] <= 14 or not 1 <= c[1] <= INT_MAX):
        raise DecodeError("bad ref content")
    return Ref(c[0], c[1])


def decode(body):
    if not body:
        raise DecodeError("empty body")
    fp = io.BytesIO(body)
    try:
        v = cbor2.CBORDecoder(fp, tag_hook=_tag_hook).decode()
    except DecodeError:
        raise
    except Exception as e:
        raise DecodeError("not CBOR: %s" % e) from e
    try:
        again = encode(v)
    except EncodeError as e:
        raise DecodeError("not mgr CBOR: %s" % e) from e
    if again != body:
        raise DecodeError("not canonical mgr CBOR: got %s, canonical %s"
                          % (body.hex(), again.hex()))
    return v


# --------------------------------------------------------------------------
# Connection

@dataclass
class Reply:
    rid: int
    code: int
    value: object          # result (code 0) or message text


def _is_uint(v):
    return type(v) is int and v >= 0


class Conn:
    def __init__(self, path, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        cred = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                    struct.calcsize("3i"))
        self.peer_pid, uid, _gid = struct.unpack("3i", cred)
        if uid != os.geteuid():                            # §2.3
            self.sock.close()
            raise PermissionError("server runs under uid %d" % uid)
        self.buf = b""
        self.next_rid = 1
        self.max_frame = FRAME_MAX_DEFAULT                 # §3.6
        self.stash = {}
        self.broken = None
        self.hello_result = None

    # -- framing (§3)
    def send_raw(self, data):
        self.sock.sendall(data)

    def send_frame(self, body):
        if len(body) > self.max_frame:
            raise EncodeError("frame too big for peer")
        self.send_raw(struct.pack(">I", len(body)) + body)

    def _fill(self, n):
        while len(self.buf) < n:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return False
            self.buf += chunk
        return True

    def read_frame(self):
        """The next frame body, or None at EOF."""
        if not self._fill(4):
            if self.buf:
                raise DecodeError("EOF inside a frame header")
            return None
        n = struct.unpack(">I", self.buf[:4])[0]
        if n == 0:
            raise DecodeError("zero-length frame")
        if n > max(self.max_frame, FRAME_MAX_DEFAULT):
            raise DecodeError("TOOBIG frame %d" % n)
        if not self._fill(4 + n):
            raise DecodeError("EOF inside a frame body")
        body, self.buf = self.buf[4:4 + n], self.buf[4 + n:]
        return body

    def read_eof(self):
        """True if the peer closed the connection without sending more."""
        try:
            return self.read_frame() is None
        except (DecodeError, socket.timeout):
            return False

    # -- messages (§6)
    def read_reply(self):
        body = self.read_frame()
        if body is None:
            raise ConnClosed("connection closed by server")
        v = decode(body)
        if not isinstance(v, list):
            raise DecodeError("Q1: reply not an array")
        if len(v) != 3:
            raise DecodeError("Q2: reply has %d elements" % len(v))
        if not _is_uint(v[0]):
            raise DecodeError("Q3: rid not uint")
        if not _is_uint(v[1]):
            raise DecodeError("Q4: code not uint")
        if v[1] > 0 and not isinstance(v[2], str):
            raise DecodeError("Q5: error message not text")
        code = v[1]
        if code:
            global MAX_MSG
            MAX_MSG = max(MAX_MSG, len(v[2].encode("utf-8")))
        if code and code not in KNOWN_WIRE_CODES:          # §10.2
            code = EUNKNOWN
        r = Reply(v[0], code, v[2])
        if code in FATAL:                                  # §10.3
            self.broken = r
        return r

    def send_request(self, op, oid=0, args=(), rid=None):
        if rid is None:
            rid = self.next_rid
            self.next_rid += 1
        self.send_frame(encode([rid, op, oid, list(args)]))
        return rid

    def wait(self, rid):
        while rid not in self.stash:
            if self.broken is not None:
                return self.broken
            r = self.read_reply()
            self.stash[r.rid] = r
        return self.stash.pop(rid)

    def call(self, op, oid=0, args=()):
        if self.broken is not None:
            return self.broken
        return self.wait(self.send_request(op, oid, args))

    def hello(self, session=0, vmin=1, vmax=1, pid=None, rid=0, oid=0):
        args = [vmin, vmax, os.getpid() if pid is None else pid, session]
        self.send_frame(encode([rid, OP["HELLO"], oid, args]))
        r = self.read_reply()
        if r.code == OK:
            self.hello_result = r.value
            self.max_frame = r.value[4]
        return r

    def close(self):
        self.sock.close()


# --------------------------------------------------------------------------
# Checks

PASSED = 0
FAILED = 0
MAX_MSG = 0
WARNED = 0


def _fmt(v):
    if isinstance(v, float):
        return repr(v) + "f"
    return repr(v)


def same(a, b):
    """Strict structural equality: types matter (1, 1.0, True differ), maps
    compare in order, NaN equals NaN, -0.0 differs from 0.0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, float) or isinstance(b, float):
        if type(a) is not float or type(b) is not float:
            return False
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return same(list(a.items()), list(b.items()))
    return type(a) is type(b) and a == b


def check(name, cond, detail=""):
    global PASSED, FAILED
    if cond:
        PASSED += 1
        print("ok   %s" % name)
    else:
        FAILED += 1
        print("FAIL %s%s" % (name, (": " + detail) if detail else ""))
    return cond


def warn(name, cond, detail=""):
    """A SHOULD of the spec: reported, not counted as a failure."""
    global WARNED
    if cond:
        print("ok   %s (SHOULD)" % name)
    else:
        WARNED += 1
        print("WARN %s (SHOULD not met)%s" % (name, (": " + detail) if detail else ""))


def rstr(r):
    if r.code == OK:
        return "ok %s" % _fmt(r.value)
    return "error %s (%d) %r" % (ERRNAME.get(r.code, "?"), r.code, r.value)


def expect(name, conn, op, oid, args, want):
    r = conn.call(OP[op], oid, args)
    check(name, r.code == OK and same(r.value, want),
          "want ok %s, got %s" % (_fmt(want), rstr(r)))
    return r


def expect_err(name, conn, op, oid, args, code):
    r = conn.call(OP[op], oid, args)
    check(name, r.code == code,
          "want error %s (%d), got %s" % (ERRNAME[code], code, rstr(r)))
    return r


def value_of(conn, op, oid, args=()):
    r = conn.call(OP[op], oid, args)
    if r.code != OK:
        raise AssertionError("%s failed: %s" % (op, rstr(r)))
    return r.value


# --------------------------------------------------------------------------
# Test sections

def t_local_encoder():
    vec = [
        (1.5, "f93e00"), (1.1, "fb3ff199999999999a"), (100000.5, "fa47c35040"),
        (-0.0, "f98000"), (float("inf"), "f97c00"), (float("nan"), "f97e00"),
        (5.960464477539063e-08, "f90001"), (65504.0, "f97bff"),
        (INT_MAX, "1b7fffffffffffffff"), (INT_MIN, "3b7fffffffffffffff"),
        ({"b": 1, "a": 2}, "a2616201616102"), (Ref(1, 300), "d96d6782011901 2c"),
        ([None, True, False, b"\x00"], "84f6f5f44100"),
    ]
    for v, hx in vec:
        hx = hx.replace(" ", "")
        got = encode(v).hex()
        check("encoder: %s -> %s" % (_fmt(v), hx), got == hx, "got " + got)
    for bad in (1 << 63, -(1 << 63) - 1, {(1, float("nan")): 1}, {float("nan"): 1},
                Ref(15, 1), Ref(1, 0), "\ud800"):
        try:
            encode(bad)
            ok = False
        except EncodeError:
            ok = True
        check("encoder refuses %r" % (bad,), ok)
    deep = []
    for _ in range(DEPTH_MAX - 1):
        deep = [deep]
    check("encoder accepts depth 32", len(encode(deep)) == 32)
    try:
        encode([deep])
        ok = False
    except EncodeError:
        ok = True
    check("encoder refuses depth 33", ok)


def t_handshake(path):
    c = Conn(path)
    r = c.hello()
    ok = (r.code == OK and isinstance(r.value, list) and len(r.value) >= 5
          and all(_is_uint(x) for x in r.value[:5]))
    check("HELLO ok, 5 uint fields", ok, rstr(r))
    if not ok:
        raise SystemExit(1)
    ver, spid, cid, sess, mframe = r.value[:5]
    check("HELLO version 1", ver == 1, str(ver))
    check("HELLO server_pid == SO_PEERCRED pid", spid == c.peer_pid,
          "%d vs %d" % (spid, c.peer_pid))
    check("HELLO conn_id >= 1", cid >= 1)
    check("HELLO session >= 1 (new)", sess >= 1)
    check("HELLO max_frame 1 MiB default", mframe == FRAME_MAX_DEFAULT, str(mframe))
    return c


def t_ping(c):
    expect("PING [] -> nil", c, "PING", 0, [], None)
    payload = {"a": [1, -1, 1.5, 1.1, 100000.5, -0.0, float("inf"), b"\x01\x02",
                     None, True, False, "\u00e9\U0001F600", INT_MAX, INT_MIN],
               3: {"nested": [[[]]]}, (1, "k"): Ref(1, 7)}
    expect("PING payload echoed (floats in every width, refs, order)", c,
           "PING", 0, [payload], payload)
    r = c.call(OP["PING"], 0, [float("nan")])
    check("PING NaN echoed as f97e00", r.code == OK and isinstance(r.value, float)
          and math.isnan(r.value), rstr(r))
    expect_err("PING with 2 args -> TYPE", c, "PING", 0, [1, 2], TYPE)
    expect_err("PING on oid 5 -> BADOP (manager op, nonzero oid)", c, "PING", 5, [], BADOP)
    r = c.call(15, 0, [])
    check("unknown op 15 (reserved manager range) -> BADOP", r.code == BADOP, rstr(r))
    r = c.call(200, 0, [])
    check("unknown op 200 -> BADOP", r.code == BADOP, rstr(r))
    r = c.call(0, 0, [])
    check("op 0 -> BADOP", r.code == BADOP, rstr(r))
    r = c.call(200, 12345, [1])
    check("unknown op 200 on unknown oid -> BADOP (op checked first)",
          r.code == BADOP, rstr(r))
    # depth: the innermost empty array at depth 32 is accepted (§4.6)
    nest = []
    for _ in range(DEPTH_MAX - 3):
        nest = [nest]
    raw = bytes.fromhex("8409020081") + b"\x81" * 29 + b"\x80"
    check("depth-32 request encodes as expected", encode([9, 2, 0, [nest]]) == raw)
    expect("PING payload at depth 32 accepted", c, "PING", 0, [nest], nest)
    r = c.call(OP["LOCK_ACQUIRE"], 0, [])
    check("object op on oid 0 with bad arity -> BADOP (target before arity)",
          r.code == BADOP, rstr(r))
    # pipelining: three requests in one write, replies matched by rid
    bodies = b""
    for rid, p in ((101, "x"), (102, "y"), (103, "z")):
        body = encode([rid, OP["PING"], 0, [p]])
        bodies += struct.pack(">I", len(body)) + body
    c.send_raw(bodies)
    got = [c.read_reply() for _ in range(3)]
    check("pipelined requests answered in order by rid",
          [(g.rid, g.code, g.value) for g in got] ==
          [(101, 0, "x"), (102, 0, "y"), (103, 0, "z")], repr(got))
    # a frame split at every byte boundary
    body = encode([104, OP["PING"], 0, ["split"]])
    for b in struct.pack(">I", len(body)) + body:
        c.send_raw(bytes([b]))
    r = c.read_reply()
    check("request written one byte at a time", (r.rid, r.code, r.value) ==
          (104, 0, "split"), repr(r))


def t_create(c):
    init = {"a": 1, "b": [1, 2], 3: "c", (1, 2): {"x": None}}
    d = value_of(c, "CREATE", 0, [KIND_DICT, init])
    check("CREATE dict with init -> ref kind 1", isinstance(d, Ref) and d.kind == 1
          and d.id >= 1, repr(d))
    expect("DICT_COPY returns init in insertion order", c, "DICT_COPY", d.id, [], init)
    expect("DICT_ITEMS pairs in order", c, "DICT_ITEMS", d.id, [],
           [[k, v] for k, v in init.items()])
    expect("DICT_KEYS", c, "DICT_KEYS", d.id, [], ["a", "b", 3, [1, 2]])
    expect("DICT_LEN 4", c, "DICT_LEN", d.id, [], 4)
    l = value_of(c, "CREATE", 0, [KIND_LIST])
    check("CREATE list (no init) -> ref kind 2", isinstance(l, Ref) and l.kind == 2)
    expect("new list empty", c, "LIST_COPY", l.id, [], [])
    v = value_of(c, "CREATE", 0, [KIND_VAR])
    check("CREATE var -> ref kind 3", isinstance(v, Ref) and v.kind == 3)
    expect("new var holds nil", c, "VAR_GET", v.id, [], None)
    k = value_of(c, "CREATE", 0, [KIND_LOCK])
    check("CREATE lock -> ref kind 4", isinstance(k, Ref) and k.kind == 4)
    rk = value_of(c, "CREATE", 0, [KIND_RLOCK, None])
    check("CREATE rlock init nil -> ref kind 5", isinstance(rk, Ref) and rk.kind == 5)
    ids = [d.id, l.id, v.id, k.id, rk.id]
    check("object ids distinct", len(set(ids)) == 5, repr(ids))
    expect_err("CREATE kind 0 -> VALUE", c, "CREATE", 0, [0], VALUE)
    expect_err("CREATE kind 15 -> VALUE", c, "CREATE", 0, [15], VALUE)
    expect_err("CREATE kind true -> TYPE", c, "CREATE", 0, [True], TYPE)
    expect_err("CREATE kind 1.0 -> TYPE", c, "CREATE", 0, [1.0], TYPE)
    expect_err("CREATE dict init 5 -> TYPE", c, "CREATE", 0, [KIND_DICT, 5], TYPE)
    expect_err("CREATE list init map -> TYPE", c, "CREATE", 0, [KIND_LIST, {}], TYPE)
    expect_err("CREATE lock init 1 -> TYPE", c, "CREATE", 0, [KIND_LOCK, 1], TYPE)
    expect_err("CREATE [] -> TYPE (arity)", c, "CREATE", 0, [], TYPE)
    expect_err("CREATE with dead ref in init -> NOTFOUND", c, "CREATE", 0,
               [KIND_LIST, [Ref(1, INT_MAX)]], NOTFOUND)
    v2 = value_of(c, "CREATE", 0, [KIND_VAR, [1, "x"]])
    expect("CREATE var with init", c, "VAR_GET", v2.id, [], [1, "x"])
    return dict(d=d, l=l, v=v, k=k, rk=rk)


def t_dict(c):
    d = value_of(c, "CREATE", 0, [KIND_DICT])
    D = d.id
    expect("DICT_SET -> nil", c, "DICT_SET", D, ["n", 5], None)
    expect("DICT_GET", c, "DICT_GET", D, ["n"], 5)
    expect_err("DICT_GET missing -> KEY", c, "DICT_GET", D, ["zz"], KEY)
    expect("DICT_GET missing with default", c, "DICT_GET", D, ["zz", [1]], [1])
    expect("DICT_GET present with default ignores default", c, "DICT_GET", D,
           ["n", 0], 5)
    expect_err("DICT_GET [] -> TYPE (arity)", c, "DICT_GET", D, [], TYPE)
    expect_err("DICT_GET 3 args -> TYPE (arity)", c, "DICT_GET", D, [1, 2, 3], TYPE)
    expect_err("DICT_SET 1 arg -> TYPE (arity)", c, "DICT_SET", D, ["k"], TYPE)
    expect_err("DICT_GET map key -> TYPE", c, "DICT_GET", D, [{"a": 1}], TYPE)
    expect_err("DICT_SET array-with-map key -> TYPE", c, "DICT_SET", D,
               [[1, {"a": 1}], 1], TYPE)
    expect_err("DICT_SET NaN key -> VALUE", c, "DICT_SET", D, [float("nan"), 1], VALUE)
    expect_err("DICT_CONTAINS [NaN] key -> VALUE", c, "DICT_CONTAINS", D,
               [[float("nan")]], VALUE)
    expect_err("DICT_GET NaN key with default -> VALUE", c, "DICT_GET", D,
               [float("nan"), 0], VALUE)

    # INCR, int
    expect("DICT_INCR int +1 -> 6", c, "DICT_INCR", D, ["n", 1], 6)
    expect("DICT_INCR int -10 -> -4", c, "DICT_INCR", D, ["n", -10], -4)
    expect("DICT_INCR int + float -> float", c, "DICT_INCR", D, ["n", 0.5], -3.5)
    expect("DICT_GET after float incr", c, "DICT_GET", D, ["n"], -3.5)
    expect("DICT_INCR float + int -> float", c, "DICT_INCR", D, ["n", 4], 0.5)
    expect("DICT_INCR float + float", c, "DICT_INCR", D, ["n", 0.25], 0.75)
    expect_err("DICT_INCR missing, no default -> KEY", c, "DICT_INCR", D, ["m", 1], KEY)
    expect("DICT_INCR missing with int default -> default+delta", c,
           "DICT_INCR", D, ["m", 1, 0], 1)
    expect("DICT_INCR present, default ignored", c, "DICT_INCR", D, ["m", 2, 100], 3)
    expect("DICT_INCR missing with float default", c, "DICT_INCR", D,
           ["f", 1, 1.5], 2.5)
    expect("DICT_KEYS: incr-inserted keys appended in order", c, "DICT_KEYS", D,
           [], ["n", "m", "f"])
    expect_err("DICT_INCR non-number default -> TYPE", c, "DICT_INCR", D,
               ["g", 1, "x"], TYPE)
    expect("DICT_CONTAINS after failed incr -> false", c, "DICT_CONTAINS", D, ["g"], False)
    expect_err("DICT_INCR delta true -> TYPE", c, "DICT_INCR", D, ["m", True], TYPE)
    expect_err("DICT_INCR delta text -> TYPE", c, "DICT_INCR", D, ["m", "1"], TYPE)
    expect_err("DICT_INCR delta nil -> TYPE", c, "DICT_INCR", D, ["m", None], TYPE)
    expect_err("DICT_INCR 1 arg -> TYPE (arity)", c, "DICT_INCR", D, ["m"], TYPE)
    # overflow
    expect("DICT_SET int64 max", c, "DICT_SET", D, ["big", INT_MAX], None)
    expect_err("DICT_INCR int64 max + 1 -> OVERFLOW", c, "DICT_INCR", D,
               ["big", 1], OVERFLOW)
    expect("value unchanged after OVERFLOW", c, "DICT_GET", D, ["big"], INT_MAX)
    expect("DICT_INCR int64 max + 0 -> ok", c, "DICT_INCR", D, ["big", 0], INT_MAX)
    expect("DICT_SET int64 min", c, "DICT_SET", D, ["small", INT_MIN], None)
    expect_err("DICT_INCR int64 min - 1 -> OVERFLOW", c, "DICT_INCR", D,
               ["small", -1], OVERFLOW)
    expect("value unchanged after negative OVERFLOW", c, "DICT_GET", D,
           ["small"], INT_MIN)
    expect("DICT_INCR int64 max + 1.0 -> float 2^63", c, "DICT_INCR", D,
           ["big", 1.0], 9223372036854775808.0)
    # non-number current values
    expect("DICT_SET text", c, "DICT_SET", D, ["s", "abc"], None)
    expect_err("DICT_INCR of text -> TYPE", c, "DICT_INCR", D, ["s", 1], TYPE)
    expect("text unchanged after TYPE", c, "DICT_GET", D, ["s"], "abc")
    expect("DICT_SET bool", c, "DICT_SET", D, ["b", True], None)
    expect_err("DICT_INCR of bool -> TYPE", c, "DICT_INCR", D, ["b", 1], TYPE)
    expect("DICT_SET nil", c, "DICT_SET", D, ["z", None], None)
    expect_err("DICT_INCR of nil (even with default) -> TYPE", c, "DICT_INCR", D,
               ["z", 1, 0], TYPE)
    expect("float incr to infinity stored", c, "DICT_INCR", D,
           ["inf", 1.0e308, 1.7e308], float("inf"))

    # CAS
    expect("DICT_SET c=1", c, "DICT_SET", D, ["c", 1], None)
    expect("DICT_CAS expected 1.0 matches int 1", c, "DICT_CAS", D,
           ["c", 1.0, "two"], [True, "two"])
    expect("DICT_CAS mismatch -> [false, current]", c, "DICT_CAS", D,
           ["c", 1, 3], [False, "two"])
    expect("DICT_SET c=true", c, "DICT_SET", D, ["c", True], None)
    expect("DICT_CAS expected 1 matches true", c, "DICT_CAS", D,
           ["c", 1, [1]], [True, [1]])
    expect("DICT_CAS expected [1.0] matches [1]", c, "DICT_CAS", D,
           ["c", [1.0], None], [True, None])
    expect_err("DICT_CAS missing key -> KEY", c, "DICT_CAS", D, ["nokey", 1, 2], KEY)
    expect_err("DICT_CAS desired dead ref -> NOTFOUND (even if no swap)", c,
               "DICT_CAS", D, ["c", 99, Ref(2, INT_MAX)], NOTFOUND)
    expect("DICT_CAS expected NaN never matches", c, "DICT_CAS", D,
           ["inf", float("nan"), 0], [False, float("inf")])
    expect_err("DICT_CAS 2 args -> TYPE (arity)", c, "DICT_CAS", D, ["c", 1], TYPE)

    # other dict ops
    expect("DICT_POP", c, "DICT_POP", D, ["inf"], float("inf"))
    expect_err("DICT_POP missing -> KEY", c, "DICT_POP", D, ["inf"], KEY)
    expect("DICT_POP missing with default", c, "DICT_POP", D, ["inf", -1], -1)
    expect("DICT_SETDEFAULT new -> nil", c, "DICT_SETDEFAULT", D, ["sd"], None)
    expect("DICT_SETDEFAULT present -> stored", c, "DICT_SETDEFAULT", D, ["m", 9], 3)
    expect("DICT_DEL", c, "DICT_DEL", D, ["sd"], None)
    expect_err("DICT_DEL missing -> KEY", c, "DICT_DEL", D, ["sd"], KEY)
    expect_err("DICT_UPDATE bad element length -> VALUE", c, "DICT_UPDATE", D,
               [[["u1", 1], ["u2"]]], VALUE)
    expect("DICT_UPDATE all-or-nothing (u1 not inserted)", c, "DICT_CONTAINS", D,
           ["u1"], False)
    expect("DICT_UPDATE array of pairs", c, "DICT_UPDATE", D,
           [[["u1", 1], ["u1", 2]]], None)
    expect("DICT_UPDATE later pair wins", c, "DICT_GET", D, ["u1"], 2)
    expect("DICT_POPITEM -> last inserted", c, "DICT_POPITEM", D, [], ["u1", 2])
    expect("DICT_CLEAR", c, "DICT_CLEAR", D, [], None)
    expect_err("DICT_POPITEM empty -> KEY", c, "DICT_POPITEM", D, [], KEY)

    # key equality: 1, 1.0, true are one key; first key object kept
    expect("DICT_SET [1]='a'", c, "DICT_SET", D, [1, "a"], None)
    expect("DICT_SET [1.0]='b'", c, "DICT_SET", D, [1.0, "b"], None)
    expect("DICT_SET [true]='c'", c, "DICT_SET", D, [True, "c"], None)
    expect("1, 1.0, true are one key: dict is {1: 'c'}", c, "DICT_COPY", D, [],
           {1: "c"})
    expect("DICT_GET [true] finds key 1", c, "DICT_GET", D, [True], "c")
    expect("DICT_SET [false]", c, "DICT_SET", D, [False, "f"], None)
    expect("DICT_SET [-0.0] replaces false's value", c, "DICT_SET", D, [-0.0, "z"], None)
    expect("DICT_GET [0] finds false key", c, "DICT_GET", D, [0], "z")
    expect("DICT_SET [[true, 2.0]]", c, "DICT_SET", D, [[True, 2.0], "t"], None)
    expect("DICT_SET [[1, 2]] same key", c, "DICT_SET", D, [[1, 2], "u"], None)
    expect("key objects kept: {1:'c', false:'z', [true,2.0]:'u'}", c,
           "DICT_ITEMS", D, [], [[1, "c"], [False, "z"], [[True, 2.0], "u"]])
    expect("2^53+1 != 9007199254740992.0", c, "DICT_CONTAINS", D, [2 ** 53 + 1], False)
    expect("DICT_SET 2^53", c, "DICT_SET", D, [2 ** 53, "p"], None)
    expect("2^53 == 9007199254740992.0", c, "DICT_GET", D, [9007199254740992.0], "p")
    expect("2^53+1 still absent", c, "DICT_CONTAINS", D, [2 ** 53 + 1], False)
    expect("text '1' is not key 1", c, "DICT_CONTAINS", D, ["1"], False)
    expect("bytes b'a' and text 'a' distinct", c, "DICT_SET", D, [b"a", 1], None)
    expect("text 'a' absent", c, "DICT_CONTAINS", D, ["a"], False)
    expect("DICT_LEN", c, "DICT_LEN", D, [], 5)
    return d


def t_list(c):
    l = value_of(c, "CREATE", 0, [KIND_LIST, [0, 1, 2, 3, 4, 5]])
    L = l.id
    expect("LIST_GET [-1] -> last", c, "LIST_GET", L, [-1], 5)
    expect("LIST_GET [-6] -> first", c, "LIST_GET", L, [-6], 0)
    expect_err("LIST_GET [-7] -> INDEX", c, "LIST_GET", L, [-7], INDEX)
    expect_err("LIST_GET [6] -> INDEX", c, "LIST_GET", L, [6], INDEX)
    expect_err("LIST_GET [true] -> TYPE (bool not index)", c, "LIST_GET", L, [True], TYPE)
    expect_err("LIST_GET [1.0] -> TYPE", c, "LIST_GET", L, [1.0], TYPE)
    expect_err("LIST_GET [] -> TYPE (arity)", c, "LIST_GET", L, [], TYPE)
    expect("LIST_GETSLICE [1:-1]", c, "LIST_GETSLICE", L, [1, -1, None], [1, 2, 3, 4])
    expect("LIST_GETSLICE [::-1]", c, "LIST_GETSLICE", L, [None, None, -1],
           [5, 4, 3, 2, 1, 0])
    expect("LIST_GETSLICE [::2]", c, "LIST_GETSLICE", L, [None, None, 2], [0, 2, 4])
    expect("LIST_GETSLICE [-2:]", c, "LIST_GETSLICE", L, [-2, None, None], [4, 5])
    expect("LIST_GETSLICE [-100:100]", c, "LIST_GETSLICE", L, [-100, 100, 1],
           [0, 1, 2, 3, 4, 5])
    expect("LIST_GETSLICE [4:1:-2]", c, "LIST_GETSLICE", L, [4, 1, -2], [4, 2])
    expect("LIST_GETSLICE [-1:-4:-1]", c, "LIST_GETSLICE", L, [-1, -4, -1], [5, 4, 3])
    expect_err("LIST_GETSLICE step 0 -> VALUE", c, "LIST_GETSLICE", L, [None, None, 0],
               VALUE)
    expect_err("LIST_GETSLICE 2 args -> TYPE (arity)", c, "LIST_GETSLICE", L,
               [None, None], TYPE)
    expect("LIST_SETSLICE [1:3] = 3 items (step nil)", c, "LIST_SETSLICE", L,
           [1, 3, None, ["a", "b", "c"]], None)
    expect("after setslice", c, "LIST_COPY", L, [], [0, "a", "b", "c", 3, 4, 5])
    expect_err("LIST_SETSLICE [::2] length mismatch -> VALUE", c, "LIST_SETSLICE", L,
               [None, None, 2, [1]], VALUE)
    expect("LIST_SETSLICE [::-3] = 3 items", c, "LIST_SETSLICE", L,
           [None, None, -3, ["x", "y", "z"]], None)
    expect("after extended setslice", c, "LIST_COPY", L, [],
           ["z", "a", "b", "y", 3, 4, "x"])
    expect("LIST_DELSLICE [::2]", c, "LIST_DELSLICE", L, [None, None, 2], None)
    expect("after delslice", c, "LIST_COPY", L, [], ["a", "y", 4])
    expect("LIST_SET [-1]", c, "LIST_SET", L, [-1, 40], None)
    expect_err("LIST_SET [3] -> INDEX", c, "LIST_SET", L, [3, 0], INDEX)
    expect("LIST_INSERT [-100] -> front", c, "LIST_INSERT", L, [-100, "front"], None)
    expect("LIST_INSERT [100] -> append", c, "LIST_INSERT", L, [100, "back"], None)
    expect("LIST_INSERT [-1] -> before last", c, "LIST_INSERT", L, [-1, "pen"], None)
    expect("after inserts", c, "LIST_COPY", L, [], ["front", "a", "y", 40, "pen", "back"])
    expect("LIST_POP [] -> last", c, "LIST_POP", L, [], "back")
    expect("LIST_POP [0]", c, "LIST_POP", L, [0], "front")
    expect_err("LIST_POP [9] -> INDEX", c, "LIST_POP", L, [9], INDEX)
    expect("LIST_DEL [-2]", c, "LIST_DEL", L, [-2], None)
    expect("after pop/del", c, "LIST_COPY", L, [], ["a", "y", "pen"])
    expect("LIST_LEN", c, "LIST_LEN", L, [], 3)
    expect("LIST_APPEND", c, "LIST_APPEND", L, [1.0], None)
    expect("LIST_EXTEND", c, "LIST_EXTEND", L, [[True, 1, 2]], None)
    expect_err("LIST_EXTEND non-array -> TYPE", c, "LIST_EXTEND", L, [5], TYPE)
    expect("LIST_COUNT 1 counts 1.0, true, 1", c, "LIST_COUNT", L, [1], 3)
    expect("LIST_INDEX true -> first equal (1.0)", c, "LIST_INDEX", L, [True], 3)
    expect("LIST_INDEX with start", c, "LIST_INDEX", L, [1, 4], 4)
    expect("LIST_INDEX with negative start/stop", c, "LIST_INDEX", L, [2, -1, 100], 6)
    expect_err("LIST_INDEX not found in range -> VALUE", c, "LIST_INDEX", L, [2, 0, -1],
               VALUE)
    expect_err("LIST_INDEX start nil -> TYPE (start is an index, int64)", c,
               "LIST_INDEX", L, [2, None], TYPE)
    expect("LIST_CONTAINS", c, "LIST_CONTAINS", L, ["y"], True)
    expect("LIST_REMOVE 1 removes first equal", c, "LIST_REMOVE", L, [1], None)
    expect("after remove", c, "LIST_COPY", L, [], ["a", "y", "pen", True, 1, 2])
    expect_err("LIST_REMOVE missing -> VALUE", c, "LIST_REMOVE", L, ["nope"], VALUE)
    expect_err("LIST_SORT mixed -> TYPE", c, "LIST_SORT", L, [], TYPE)
    expect("list unchanged after failed sort", c, "LIST_COPY", L, [],
           ["a", "y", "pen", True, 1, 2])
    expect("LIST_REVERSE", c, "LIST_REVERSE", L, [], None)
    expect("after reverse", c, "LIST_COPY", L, [], [2, 1, True, "pen", "y", "a"])
    expect("LIST_DELSLICE [3:]", c, "LIST_DELSLICE", L, [3, None, None], None)
    expect("LIST_APPEND 0.5", c, "LIST_APPEND", L, [0.5], None)
    expect("LIST_SORT numbers (stable)", c, "LIST_SORT", L, [], None)
    expect("sorted, 1 and true keep order", c, "LIST_COPY", L, [], [0.5, 1, True, 2])
    expect("LIST_SORT reverse (stable)", c, "LIST_SORT", L, [True], None)
    expect("reverse sorted, stable", c, "LIST_COPY", L, [], [2, 1, True, 0.5])
    # LIST_INCR
    expect("LIST_INCR [-1] += 1 -> 1.5", c, "LIST_INCR", L, [-1, 1], 1.5)
    expect("LIST_INCR [0] += 40 -> 42", c, "LIST_INCR", L, [0, 40], 42)
    expect_err("LIST_INCR of bool -> TYPE", c, "LIST_INCR", L, [2, 1], TYPE)
    expect_err("LIST_INCR [4] -> INDEX", c, "LIST_INCR", L, [4, 1], INDEX)
    expect_err("LIST_INCR [-5] -> INDEX", c, "LIST_INCR", L, [-5, 1], INDEX)
    expect_err("LIST_INCR delta true -> TYPE", c, "LIST_INCR", L, [0, True], TYPE)
    expect_err("LIST_INCR 3 args -> TYPE (arity, no default)", c, "LIST_INCR", L,
               [0, 1, 0], TYPE)
    expect("LIST_SET int64 max", c, "LIST_SET", L, [1, INT_MAX], None)
    expect_err("LIST_INCR int64 max + 1 -> OVERFLOW", c, "LIST_INCR", L, [1, 1], OVERFLOW)
    expect("LIST_GET unchanged after OVERFLOW", c, "LIST_GET", L, [1], INT_MAX)
    expect("LIST_SET text", c, "LIST_SET", L, [1, "t"], None)
    expect_err("LIST_INCR text -> TYPE", c, "LIST_INCR", L, [1, 1], TYPE)
    expect("LIST_CAS swap", c, "LIST_CAS", L, [-1, 1.5, "c"], [True, "c"])
    expect("LIST_CAS no swap", c, "LIST_CAS", L, [-1, 1.5, "d"], [False, "c"])
    expect_err("LIST_CAS bad index -> INDEX", c, "LIST_CAS", L, [10, 1, 2], INDEX)
    expect("LIST_IMUL 2", c, "LIST_IMUL", L, [2], None)
    expect("after imul", c, "LIST_COPY", L, [], [42, "t", True, "c", 42, "t", True, "c"])
    expect("LIST_IMUL 0 empties", c, "LIST_IMUL", L, [0], None)
    expect("LIST_LEN 0", c, "LIST_LEN", L, [], 0)
    expect_err("LIST_POP empty -> INDEX", c, "LIST_POP", L, [], INDEX)
    expect("LIST_SORT empty ok", c, "LIST_SORT", L, [], None)
    expect("LIST_EXTEND texts", c, "LIST_EXTEND", L, [["b", "ab", "a", "\u00e9"]], None)
    expect("LIST_SORT text by code point", c, "LIST_SORT", L, [], None)
    expect("sorted text", c, "LIST_COPY", L, [], ["a", "ab", "b", "\u00e9"])
    expect("LIST_CLEAR", c, "LIST_CLEAR", L, [], None)
    return l


def t_var(c):
    v = value_of(c, "CREATE", 0, [KIND_VAR])
    V = v.id
    expect_err("VAR_INCR nil without default -> TYPE", c, "VAR_INCR", V, [1], TYPE)
    expect("VAR_INCR nil with default 10 -> 11", c, "VAR_INCR", V, [1, 10], 11)
    expect("VAR_INCR 0.5 -> 11.5", c, "VAR_INCR", V, [0.5], 11.5)
    expect("VAR_INCR default ignored when non-nil", c, "VAR_INCR", V, [1, 100], 12.5)
    expect_err("VAR_INCR default type-checked even if ignored", c, "VAR_INCR", V,
               [1, "x"], TYPE)
    expect_err("VAR_INCR delta true -> TYPE", c, "VAR_INCR", V, [True], TYPE)
    expect("VAR_SET int64 min", c, "VAR_SET", V, [INT_MIN], None)
    expect_err("VAR_INCR -1 -> OVERFLOW", c, "VAR_INCR", V, [-1], OVERFLOW)
    expect("VAR_GET unchanged", c, "VAR_GET", V, [], INT_MIN)
    expect("VAR_SET text", c, "VAR_SET", V, ["x"], None)
    expect_err("VAR_INCR of text -> TYPE", c, "VAR_INCR", V, [1], TYPE)
    expect("VAR_CAS swap", c, "VAR_CAS", V, ["x", "y"], [True, "y"])
    expect("VAR_CAS no swap", c, "VAR_CAS", V, ["x", "z"], [False, "y"])
    expect_err("VAR_SET [] -> TYPE (arity)", c, "VAR_SET", V, [], TYPE)
    expect_err("VAR_GET [1] -> TYPE (arity)", c, "VAR_GET", V, [1], TYPE)
    expect_err("VAR_SET dead ref -> NOTFOUND", c, "VAR_SET", V, [[Ref(3, INT_MAX)]],
               NOTFOUND)
    expect("VAR unchanged after NOTFOUND", c, "VAR_GET", V, [], "y")
    return v


def t_dispatch(c, objs):
    d, l = objs["d"], objs["l"]
    expect_err("dict op on a list -> BADOP", c, "DICT_GET", l.id, [0], BADOP)
    expect_err("list op on a dict -> BADOP", c, "LIST_LEN", d.id, [], BADOP)
    expect_err("object op on oid 0 -> BADOP", c, "DICT_LEN", 0, [], BADOP)
    expect_err("object op on unknown oid -> NOTFOUND", c, "DICT_LEN", INT_MAX, [], NOTFOUND)
    expect_err("wrong kind checked before arity (BADOP)", c, "LIST_GET", d.id,
               [1, 2, 3, 4, 5], BADOP)
    expect_err("unknown oid checked before arity (NOTFOUND)", c, "DICT_GET", INT_MAX,
               [], NOTFOUND)
    expect_err("lock op on dict -> BADOP", c, "LOCK_LOCKED", d.id, [], BADOP)
    expect_err("var op on rlock -> BADOP", c, "VAR_GET", objs["rk"].id, [], BADOP)
    expect("lock op on rlock ok (kind 4 ops apply to 5)", c, "LOCK_LOCKED",
           objs["rk"].id, [], False)
    expect_err("LIST [1] -> TYPE (arity)", c, "LIST", 0, [1], TYPE)
    r = c.call(OP["PING"], 0, [1, 2, 3, 4, 5, 6, 7, 8])
    check("8 args is a valid message (PING arity -> TYPE)", r.code == TYPE, rstr(r))


def t_limits(c):
    # a request body of exactly frame_max is accepted (§3.3)
    n = FRAME_MAX_DEFAULT
    base = len(encode([c.next_rid, OP["PING"], 0, [b"\0" * 70000]])) - 70000
    payload = b"\x5a" * (n - base)
    body = encode([c.next_rid, OP["PING"], 0, [payload]])
    check("request body is exactly frame_max", len(body) == n, str(len(body)))
    r = c.call(OP["PING"], 0, [payload])
    check("request of exactly frame_max accepted, echoed", r.code == OK
          and r.value == payload, rstr(r)[:80])
    # a reply that would exceed frame_max -> LIMIT, connection stays open (§3.7)
    big = value_of(c, "CREATE", 0, [KIND_LIST, [b"\1" * 600000]])
    expect("LIST_APPEND another 600 kB", c, "LIST_APPEND", big.id, [b"\2" * 600000], None)
    expect_err("LIST_COPY reply over frame_max -> LIMIT", c, "LIST_COPY", big.id, [], LIMIT)
    expect("LIST_GET of one 600 kB element fits", c, "LIST_GET", big.id, [1],
           b"\2" * 600000)
    expect("connection still open after LIMIT", c, "LIST_LEN", big.id, [], 2)
    expect("RELEASE big list", c, "RELEASE", big.id, [], None)
    # a reply that would nest deeper than depth_max -> LIMIT, stays open (§3.7):
    # a value of height 30 stored in a dict (an argument sits at depth 3, so
    # its deepest item at 32) would reach depth 33 inside DICT_ITEMS' result
    # ([[k, v], ...]: the result at 2, a pair at 3, the value at 4).
    deep = 0
    for _ in range(29):
        deep = [deep]
    dd = value_of(c, "CREATE", 0, [KIND_DICT])
    expect("DICT_SET a value of height 30", c, "DICT_SET", dd.id, ["d", deep], None)
    expect("DICT_GET of it fits (depth 31)", c, "DICT_GET", dd.id, ["d"], deep)
    expect_err("DICT_ITEMS reply too deep -> LIMIT", c, "DICT_ITEMS", dd.id, [], LIMIT)
    expect("connection still open after a too-deep reply", c, "DICT_LEN", dd.id, [], 1)
    expect("RELEASE deep dict", c, "RELEASE", dd.id, [], None)
    one = value_of(c, "CREATE", 0, [KIND_LIST, [1, 2]])
    expect_err("LIST_IMUL INT_MAX -> LIMIT", c, "LIST_IMUL", one.id, [INT_MAX], LIMIT)
    expect("list unchanged after LIMIT", c, "LIST_COPY", one.id, [], [1, 2])
    expect_err("LIST_IMUL true -> TYPE", c, "LIST_IMUL", one.id, [True], TYPE)
    d = value_of(c, "CREATE", 0, [KIND_DICT, {"a": 1}])
    expect("DICT_UPDATE with a map", c, "DICT_UPDATE", d.id, [{"b": 2, "a": 3}], None)
    expect("update keeps 'a' position, appends 'b'", c, "DICT_COPY", d.id, [],
           {"a": 3, "b": 2})
    expect_err("DICT_UPDATE with an int -> TYPE", c, "DICT_UPDATE", d.id, [5], TYPE)
    expect_err("DICT_UPDATE element not an array -> TYPE", c, "DICT_UPDATE", d.id,
               [[["x", 1], 5]], TYPE)


def t_locks(path, c1, c2, objs):
    K, RK = objs["k"].id, objs["rk"].id
    expect("LOCK_LOCKED free -> false", c1, "LOCK_LOCKED", K, [], False)
    expect("c1 LOCK_ACQUIRE [false, nil] -> 1", c1, "LOCK_ACQUIRE", K, [False, None], 1)
    expect("LOCK_LOCKED held -> true (from c2)", c2, "LOCK_LOCKED", K, [], True)
    expect("c2 non-blocking acquire of held lock -> 0", c2, "LOCK_ACQUIRE", K,
           [False, None], 0)
    expect("c2 non-blocking acquire timeout -1 -> 0", c2, "LOCK_ACQUIRE", K,
           [False, -1], 0)
    expect("c2 blocking with timeout 0 -> 0", c2, "LOCK_ACQUIRE", K, [True, 0], 0)
    expect("c2 blocking with timeout 0.05 -> 0 after deadline", c2, "LOCK_ACQUIRE", K,
           [True, 0.05], 0)
    expect_err("non-blocking with timeout 1 -> VALUE", c2, "LOCK_ACQUIRE", K,
               [False, 1], VALUE)
    expect_err("timeout -2 -> VALUE", c2, "LOCK_ACQUIRE", K, [True, -2], VALUE)
    expect_err("timeout NaN -> VALUE", c2, "LOCK_ACQUIRE", K, [True, float("nan")], VALUE)
    expect_err("blocking 1 (not bool) -> TYPE", c2, "LOCK_ACQUIRE", K, [1, None], TYPE)
    expect_err("timeout text -> TYPE", c2, "LOCK_ACQUIRE", K, [True, "1"], TYPE)
    expect_err("LOCK_ACQUIRE [false] -> TYPE (arity)", c2, "LOCK_ACQUIRE", K, [False], TYPE)
    expect_err("self-deadlock (held by c1, blocking, no timeout) -> STATE", c1,
               "LOCK_ACQUIRE", K, [True, None], STATE)
    expect("self acquire non-blocking -> 0", c1, "LOCK_ACQUIRE", K, [False, None], 0)

    # parked acquire on c2, then a PING on c2 overtakes it; c1 releases.
    prid = c2.send_request(OP["LOCK_ACQUIRE"], K, [True, None])
    r = c2.call(OP["PING"], 0, ["after-park"])
    check("request after a parked one is answered first", r.code == OK and
          r.value == "after-park" and prid not in c2.stash, rstr(r))
    expect("c1 LOCK_RELEASE -> nil (lock passes to c2)", c1, "LOCK_RELEASE", K, [], None)
    r = c2.wait(prid)
    check("parked acquire granted -> 1", r.code == OK and same(r.value, 1), rstr(r))
    expect("c1 (not owner) may release a Lock", c1, "LOCK_RELEASE", K, [], None)
    expect_err("LOCK_RELEASE free lock -> STATE", c2, "LOCK_RELEASE", K, [], STATE)

    # RLock
    expect("rlock acquire 1", c1, "LOCK_ACQUIRE", RK, [True, None], 1)
    expect("rlock re-acquire by owner -> 1", c1, "LOCK_ACQUIRE", RK, [True, None], 1)
    expect("rlock acquire by c2 non-blocking -> 0", c2, "LOCK_ACQUIRE", RK, [False, None], 0)
    expect_err("rlock release by non-owner -> STATE", c2, "LOCK_RELEASE", RK, [], STATE)
    expect("rlock release 1 of 2", c1, "LOCK_RELEASE", RK, [], None)
    expect("rlock still held", c2, "LOCK_LOCKED", RK, [], True)
    expect("rlock release 2 of 2", c1, "LOCK_RELEASE", RK, [], None)
    expect("rlock free", c2, "LOCK_LOCKED", RK, [], False)
    expect_err("rlock release when free -> STATE", c1, "LOCK_RELEASE", RK, [], STATE)

    # owner death: c3 takes the lock, c2 parks, c3 closes -> c2 gets 2.
    c3 = Conn(path)
    check("c3 HELLO", c3.hello().code == OK)
    expect("c3 acquires lock", c3, "LOCK_ACQUIRE", K, [True, None], 1)
    prid = c2.send_request(OP["LOCK_ACQUIRE"], K, [True, None])
    expect("c2 waiter parked (PING still answered)", c2, "PING", 0, [], None)
    c3.close()
    r = c2.wait(prid)
    check("owner died: parked waiter granted with 2", r.code == OK and same(r.value, 2),
          rstr(r))
    expect("c2 releases", c2, "LOCK_RELEASE", K, [], None)
    expect("next grant after owner-death grant -> 1", c1, "LOCK_ACQUIRE", K,
           [False, None], 1)
    expect("c1 releases", c1, "LOCK_RELEASE", K, [], None)


def t_names_refs(path, c1, c2, objs):
    d = objs["d"]
    D = d.id
    # OPEN / UNLINK
    r = value_of(c1, "OPEN", 0, ["counter", KIND_DICT, {"hits": 0}])
    check("OPEN new name -> [ref, true]", isinstance(r, list) and len(r) == 2
          and isinstance(r[0], Ref) and r[0].kind == 1 and r[1] is True, repr(r))
    named = r[0]
    expect("c1 DICT_INCR on named", c1, "DICT_INCR", named.id, ["hits", 1], 1)
    expect("c2 OPEN same name -> [same ref, false]", c2, "OPEN", 0,
           ["counter", KIND_DICT, {"ignored": 1}], [named, False])
    expect("c2 sees c1's data (init ignored)", c2, "DICT_COPY", named.id, [], {"hits": 1})
    expect_err("OPEN same name other kind -> TYPE", c2, "OPEN", 0, ["counter", KIND_LIST],
               TYPE)
    expect_err("OPEN missing with create false -> NOTFOUND", c2, "OPEN", 0,
               ["nope", KIND_DICT, None, False], NOTFOUND)
    expect_err("OPEN empty name -> VALUE", c2, "OPEN", 0, ["", KIND_DICT], VALUE)
    expect_err("OPEN name with NUL -> VALUE", c2, "OPEN", 0, ["a\x00b", KIND_DICT], VALUE)
    expect_err("OPEN 256-byte name -> VALUE", c2, "OPEN", 0, ["n" * 256, KIND_DICT], VALUE)
    expect_err("OPEN name bytes -> TYPE", c2, "OPEN", 0, [b"x", KIND_DICT], TYPE)
    expect_err("OPEN init mismatched kind -> TYPE", c2, "OPEN", 0,
               ["counter", KIND_DICT, [1]], TYPE)
    r = value_of(c2, "OPEN", 0, ["n" * 255, KIND_VAR, 7, True])
    check("OPEN 255-byte name ok", isinstance(r, list) and r[1] is True, repr(r))
    long_ref = r[0]
    lst = value_of(c1, "LIST", 0)
    ent = {e[0]: e for e in lst}
    check("LIST ordered by id", [e[0] for e in lst] == sorted(e[0] for e in lst))
    check("LIST entry shape [id, kind, name/nil, refs]",
          all(isinstance(e, list) and len(e) == 4 for e in lst), repr(lst[:3]))
    check("LIST: named dict held by 2 sessions",
          same(ent.get(named.id), [named.id, 1, "counter", 2]), repr(ent.get(named.id)))
    check("LIST: unnamed dict refs 1", same(ent.get(D), [D, 1, None, 1]), repr(ent.get(D)))
    check("LIST: lock present", same(ent.get(objs["k"].id), [objs["k"].id, 4, None, 1]),
          repr(ent.get(objs["k"].id)))
    expect("UNLINK counter -> nil", c2, "UNLINK", 0, ["counter"], None)
    expect_err("UNLINK again -> NOTFOUND", c2, "UNLINK", 0, ["counter"], NOTFOUND)
    expect_err("UNLINK bad name '' -> NOTFOUND", c2, "UNLINK", 0, [""], NOTFOUND)
    expect_err("UNLINK 5 -> TYPE", c2, "UNLINK", 0, [5], TYPE)
    expect("unlinked object still alive (held by sessions)", c2, "DICT_GET", named.id,
           ["hits"], 1)
    ent = {e[0]: e for e in value_of(c1, "LIST", 0)}
    check("LIST: name gone after UNLINK", same(ent.get(named.id),
          [named.id, 1, None, 2]), repr(ent.get(named.id)))
    expect("c2 RELEASE named", c2, "RELEASE", named.id, [], None)
    expect_err("c2 RELEASE again -> NOTFOUND", c2, "RELEASE", named.id, [], NOTFOUND)
    expect("c1 still uses it", c1, "DICT_LEN", named.id, [], 1)
    expect("c1 RELEASE named -> destroyed", c1, "RELEASE", named.id, [], None)
    expect_err("destroyed object -> NOTFOUND", c2, "DICT_LEN", named.id, [], NOTFOUND)
    expect("UNLINK 255-byte name (c2's session still holds it)", c1, "UNLINK", 0,
           ["n" * 255], None)
    expect("var still alive via c2's session", c1, "VAR_GET", long_ref.id, [], 7)
    expect_err("RELEASE oid 0 -> NOTFOUND", c1, "RELEASE", 0, [], NOTFOUND)
    expect_err("RELEASE [1] -> TYPE (arity)", c1, "RELEASE", D, [1], TYPE)

    # refs stored inside a dict
    inner = value_of(c1, "CREATE", 0, [KIND_LIST, ["in"]])
    expect("DICT_SET value = ref", c1, "DICT_SET", D, ["ref", inner], None)
    expect("DICT_SET ref as key", c1, "DICT_SET", D, [inner, "by-ref"], None)
    expect("DICT_GET returns the ref (tag 28007)", c1, "DICT_GET", D, ["ref"], inner)
    expect("lookup by ref key", c2, "DICT_GET", D, [inner], "by-ref")
    got = value_of(c2, "DICT_GET", D, ["ref"])
    expect("c2 follows the read ref", c2, "LIST_COPY", got.id, [], ["in"])
    ent = {e[0]: e for e in value_of(c1, "LIST", 0)}
    check("LIST: refs = 1 session + 2 stored", same(ent.get(inner.id),
          [inner.id, 2, None, 3]), repr(ent.get(inner.id)))
    expect("c1 RELEASE inner (kept by stored refs)", c1, "RELEASE", inner.id, [], None)
    expect("inner still alive", c2, "LIST_LEN", inner.id, [], 1)
    expect_err("storing a ref of the wrong kind -> NOTFOUND", c1, "DICT_SET", D,
               ["bad", Ref(1, inner.id)], NOTFOUND)
    expect_err("storing a dead ref -> NOTFOUND", c1, "DICT_SET", D,
               ["bad", [Ref(2, INT_MAX)]], NOTFOUND)
    expect("failed store changed nothing", c1, "DICT_CONTAINS", D, ["bad"], False)
    expect("DICT_DEL stored value ref", c1, "DICT_DEL", D, ["ref"], None)
    expect("DICT_DEL ref key -> inner destroyed", c1, "DICT_DEL", D, [inner], None)
    expect_err("inner destroyed -> NOTFOUND", c2, "LIST_LEN", inner.id, [], NOTFOUND)
    # RETAIN of a borrowed ref
    inner2 = value_of(c1, "CREATE", 0, [KIND_VAR, "v"])
    expect("store inner2", c1, "DICT_SET", D, ["r2", inner2], None)
    expect("c1 RELEASE inner2", c1, "RELEASE", inner2.id, [], None)
    expect("c2 RETAIN borrowed ref", c2, "RETAIN", 0, [[inner2.id, inner2.id]], None)
    expect("DICT_DEL r2 (c2's session keeps it)", c1, "DICT_DEL", D, ["r2"], None)
    expect("inner2 alive via RETAIN", c1, "VAR_GET", inner2.id, [], "v")
    expect_err("RETAIN dead id -> NOTFOUND", c2, "RETAIN", 0, [[inner2.id, INT_MAX]],
               NOTFOUND)
    expect_err("RETAIN non-array -> TYPE", c2, "RETAIN", 0, [5], TYPE)
    expect("RETAIN [] ok", c2, "RETAIN", 0, [[]], None)


def t_sessions(path, c1):
    sess = c1.hello_result[3]
    cj = Conn(path)
    r = cj.hello(session=sess)
    check("HELLO joining an existing session", r.code == OK and r.value[3] == sess
          and r.value[2] != c1.hello_result[2], rstr(r))
    cj.close()
    cx = Conn(path)
    r = cx.hello(session=INT_MAX)
    check("HELLO unknown session -> [0, 45, text]", (r.rid, r.code) == (0, NOTFOUND)
          and isinstance(r.value, str), rstr(r))
    check("... and closes", cx.read_eof())
    cx.close()
    cx = Conn(path)
    r = cx.hello(vmin=2, vmax=5)
    check("HELLO versions 2..5 -> [0, 23, text]", (r.rid, r.code) == (0, VERSION), rstr(r))
    check("... and closes", cx.read_eof())
    cx.close()
    cx = Conn(path)
    r = cx.hello(vmin=1, vmax=3)
    check("HELLO versions 1..3 -> version 1", r.code == OK and r.value[0] == 1, rstr(r))
    cx.close()
    cx = Conn(path)
    r = cx.hello(vmin=1, vmax=0)
    check("HELLO min > max -> VERSION", (r.rid, r.code) == (0, VERSION), rstr(r))
    cx.close()
    cx = Conn(path)
    cx.send_frame(encode([0, OP["HELLO"], 0, [1, 1, 1]]))
    r = cx.read_reply()
    check("HELLO with 3 args -> TYPE, closes", r.code == TYPE and cx.read_eof(), rstr(r))
    cx.close()
    cx = Conn(path)
    cx.send_frame(encode([0, OP["HELLO"], 0, [1, 1, -1, 0]]))
    r = cx.read_reply()
    check("HELLO with negative pid -> TYPE, closes", r.code == TYPE and cx.read_eof(),
          rstr(r))
    cx.close()
    cx = Conn(path)
    cx.send_frame(encode([3, OP["PING"], 0, []]))
    r = cx.read_reply()
    check("first request not HELLO -> [3, 20, text]", (r.rid, r.code) == (3, PROTO),
          rstr(r))
    check("... and closes", cx.read_eof())
    cx.close()
    cx = Conn(path)
    r = cx.hello(rid=7)
    check("HELLO with rid 7 -> [7, 20, text]", (r.rid, r.code) == (7, PROTO), rstr(r))
    cx.close()
    cx = Conn(path)
    r = cx.hello(oid=3)
    check("HELLO with oid 3 -> [0, 20, text], closes", (r.rid, r.code) == (0, PROTO)
          and cx.read_eof(), rstr(r))
    cx.close()
    cx = Conn(path)
    check("HELLO ok", cx.hello().code == OK)
    r = cx.call(OP["HELLO"], 0, [1, 1, 0, 0])
    check("second HELLO -> PROTO", r.code == PROTO, rstr(r))
    check("... and closes", cx.read_eof())
    cx.close()


def bad_frame(path, name, raw, want_rid, want_code, hello=True):
    cx = Conn(path)
    if hello:
        cx.hello()
    cx.send_raw(raw)
    try:
        r = cx.read_reply()
    except Exception as e:          # noqa: BLE001
        check(name, False, "no error reply: %r" % e)
        cx.close()
        return
    check(name, (r.rid, r.code) == (want_rid, want_code) and isinstance(r.value, str),
          "want [%d, %d, text], got rid %d %s" % (want_rid, want_code, r.rid, rstr(r)))
    check(name + ": connection closed", cx.read_eof())
    cx.close()


def frame(body):
    return struct.pack(">I", len(body)) + body


def t_malformed(path, c1, c2):
    bad_frame(path, "zero-length frame -> [0, 21]", b"\0\0\0\0", 0, DECODE)
    bad_frame(path, "length 1 MiB + 1 -> [0, 22] before body",
              struct.pack(">I", FRAME_MAX_DEFAULT + 1), 0, TOOBIG)
    bad_frame(path, "indefinite array body -> [0, 21]",
              frame(bytes.fromhex("9f0102ff")), 0, DECODE)
    bad_frame(path, "trailing byte after request -> [0, 21]",
              frame(encode([9, 2, 0, []]) + b"\x00"), 0, DECODE)
    bad_frame(path, "duplicate map key {1:0, 1.0:1} in arg -> [0, 21]",
              frame(bytes.fromhex("84 09 02 00 81 a2 01 00 f9 3c 00 01".replace(" ", ""))),
              0, DECODE)
    bad_frame(path, "non-preferred float 1.0 as fb -> [0, 21]",
              frame(bytes.fromhex("840902008 1fb3ff0000000000000".replace(" ", ""))),
              0, DECODE)
    bad_frame(path, "non-shortest head (rid 0x18 0x05) -> [0, 21]",
              frame(bytes.fromhex("8418050200 80".replace(" ", ""))), 0, DECODE)
    bad_frame(path, "tag 1 -> [0, 21]",
              frame(bytes.fromhex("84090200 81 c1 00".replace(" ", ""))), 0, DECODE)
    bad_frame(path, "33-deep nesting -> [0, 22]",
              frame(bytes.fromhex("8409020081") + b"\x81" * 30 + b"\x80"), 0, TOOBIG)
    bad_frame(path, "request with 3 elements [5, 2, 0] -> [5, 20]",
              frame(encode([5, 2, 0])), 5, PROTO)
    bad_frame(path, "args not an array -> [6, 20]", frame(encode([6, 2, 0, {}])), 6, PROTO)
    bad_frame(path, "9 args -> [6, 20]", frame(encode([6, 2, 0, [0] * 9])), 6, PROTO)
    bad_frame(path, "rid true -> [0, 20]", frame(encode([True, 2, 0, []])), 0, PROTO)
    bad_frame(path, "rid -1 -> [0, 20]", frame(encode([-1, 2, 0, []])), 0, PROTO)
    bad_frame(path, "op 2.0 -> [4, 20]", frame(encode([4, 2.0, 0, []])), 4, PROTO)
    bad_frame(path, "body is a map -> [0, 20]", frame(encode({0: 1})), 0, PROTO)
    bad_frame(path, "zero-length frame as first frame (before HELLO) -> [0, 21]",
              b"\0\0\0\0", 0, DECODE, hello=False)
    # the other connections are unaffected
    expect("c1 still works after malformed frames", c1, "PING", 0, ["alive"], "alive")
    expect("c2 still works after malformed frames", c2, "PING", 0, ["alive"], "alive")


def t_shutdown(path, c1, c2, objs):
    K = objs["k"].id
    expect("c1 acquires lock before shutdown", c1, "LOCK_ACQUIRE", K, [True, None], 1)
    prid = c2.send_request(OP["LOCK_ACQUIRE"], K, [True, None])
    expect("c2 parked (PING answered)", c2, "PING", 0, [], None)
    expect("SHUTDOWN -> nil", c1, "SHUTDOWN", 0, [], None)
    check("c1 closed by server after SHUTDOWN", c1.read_eof())
    try:
        r = c2.wait(prid)
        warn("parked request answered ESHUTDOWN (48)", r.code == SHUTDOWN, rstr(r))
    except ConnClosed:
        warn("parked request answered ESHUTDOWN (48)", False, "closed without reply")
    check("c2 closed by server after SHUTDOWN", c2.read_eof())


def main():
    args = sys.argv[1:]
    if not args:
        print(__doc__)
        return 2
    path = args[0]
    smoke = "--smoke" in args[1:]

    t_local_encoder()
    c1 = t_handshake(path)
    if smoke:
        t_ping(c1)
        d = value_of(c1, "CREATE", 0, [KIND_DICT, {"a": 1}])
        expect("smoke: DICT_GET", c1, "DICT_GET", d.id, ["a"], 1)
        c1.close()
    else:
        c2 = Conn(path)
        r = c2.hello()
        check("c2 HELLO: new session, new conn id",
              r.code == OK and r.value[3] != c1.hello_result[3]
              and r.value[2] != c1.hello_result[2], rstr(r))
        t_ping(c1)
        objs = t_create(c1)
        t_dict(c1)
        t_list(c1)
        t_var(c1)
        t_dispatch(c1, objs)
        t_limits(c1)
        t_locks(path, c1, c2, objs)
        t_names_refs(path, c1, c2, objs)
        t_sessions(path, c1)
        t_malformed(path, c1, c2)
        t_shutdown(path, c1, c2, objs)
    warn("every error message under 256 bytes", MAX_MSG < 256, "longest %d" % MAX_MSG)
    print("%d passed, %d failed%s" % (PASSED, FAILED,
          (", %d SHOULD warnings" % WARNED) if WARNED else ""))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
