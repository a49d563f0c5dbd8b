#!/usr/bin/env python3
"""mgr — the library's layering, checked on the built objects (tests/layers).

    check_layers.py [--src DIR] [--nm NM] [-v] OBJ...   the real check
    check_layers.py --self-test                          the check checks itself

OBJ... are the object files of the CMake OBJECT library mgr_obj
($<TARGET_OBJECTS:mgr_obj>); each maps back to its source file (the path ends
in CMakeFiles/mgr_obj.dir/src/.../name.c.o). nm gives every file's defined and
undefined symbols, and A -> B when A uses (calls or reads) a symbol B defines;
symbols defined nowhere in the project (libc, lttng) are ignored. Checked:

  a. no call cycle: no strongly connected component of more than one file;
  b. layers, low to high: common < cbor < proto < net < {trace, server,
     client}; a file uses only its own layer or lower ones; server and client never use
     each other (one allowance, ALLOWED below), trace uses neither;
  c. inside src/server, the ranks of src/server/core.h (SERVER_RANKS below):
     a file uses only strictly lower ranks; a server file without a rank fails;
  d. the include graph of #include "..." over src/**/*.[ch] and
     include/mgr/*.h has no cycle.

Exit status: 0 all good, 1 a rule is broken, 2 bad input, 77 no nm (skip).
Python 3 standard library only.
"""

import argparse
import os
import posixpath
import re
import shutil
import subprocess
import sys
import tempfile

# --- the rules ---------------------------------------------------------------

# b. Layers: src/<dir> -> its layer, low to high. trace, server and client
# share the top layer but FORBIDDEN keeps them apart (trace may be used by
# both, and uses neither).
LAYERS = {"common": 0, "cbor": 1, "proto": 2, "net": 3, "trace": 4, "server": 4,
          "client": 4}
LAYER_ORDER = "common < cbor < proto < net < {trace, server, client}"
FORBIDDEN = {
    ("client", "server"): "the client must not use the server",
    ("server", "client"): "the server must not use the client",
    ("trace", "server"): "trace must not use the server",
    ("trace", "client"): "trace must not use the client",
}
# The one allowed cross edge: mgr_start() (start.c) forks a child that runs
# the server loop (loop.c), as Python's fork start method does. Only this
# edge: start.c using any other server file is still a violation.
ALLOWED = {
    ("src/client/start.c", "src/server/loop.c"):
        "mgr_start() runs the server loop in the forked child",
}

# c. The ranks of src/server/core.h (paths relative to src/server). A kind
# file (kinds/*.c other than slot.c, lockcore.c and kinds.c) is rank KIND_RANK; a file
# may use only strictly lower ranks, so kinds never use each other.
SERVER_RANKS = {
    "reply.c": 0,
    "objects.c": 1,
    "wait.c": 2,
    "kinds/slot.c": 3,
    "kinds/lockcore.c": 3,
    "kinds/kinds.c": 5,
    "manager.c": 5,
    "dispatch.c": 6,
    "store.c": 7,
    "loop.c": 8,
}
KIND_RANK = 4

OBJ_DIR = "CMakeFiles/mgr_obj.dir/"
STRONG_TYPES = set("ABCDGIRSTu")  # global definitions (nm letters)
WEAK_TYPES = set("VW")            # weak global definitions
UNDEF_TYPES = set("Uvw")          # references (w/v: weak undefined)


# --- symbols -> file graph ---------------------------------------------------

def obj_to_src(obj):
    """The source path (src/...c, relative to the project) of an mgr_obj
    object file, or None if obj is not one."""
    p = posixpath.normpath(obj.replace(os.sep, "/"))  # mgr_obj.dir/./src/...
    i = p.rfind(OBJ_DIR)
    if i < 0:
        return None
    rel = p[i + len(OBJ_DIR):]
    if not rel.startswith("src/") or not rel.endswith(".c.o"):
        return None
    return rel[:-2]


def parse_nm(text):
    """nm -P output -> (defined {symbol: 'strong' | 'weak'}, undefined set).
    Local symbols (lowercase letters other than u, v, w) are ignored."""
    defined, undefined = {}, set()
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 2 or len(parts[1]) != 1:
            continue
        name, t = parts[0], parts[1]
        if t in UNDEF_TYPES:
            undefined.add(name)
        elif t in STRONG_TYPES:
            defined[name] = "strong"
        elif t in WEAK_TYPES:
            defined.setdefault(name, "weak")
    return defined, undefined


def build_graph(symtab):
    """symtab: {file: (defined, undefined)} -> (edges, problems).
    edges: {A: {B: set of symbols A uses that B defines}}, A != B.
    A symbol with a strong definition resolves there; one with only weak
    definitions resolves to each of them. Two strong definitions are a
    problem (the graph would be ambiguous, and the link fails)."""
    strong, weak = {}, {}
    for f, (defs, _) in symtab.items():
        for s, kind in defs.items():
            (strong if kind == "strong" else weak).setdefault(s, []).append(f)
    problems = []
    for s, files in sorted(strong.items()):
        if len(files) > 1:
            problems.append("symbol %s is defined in more than one file: %s"
                            % (s, ", ".join(sorted(files))))
    edges = {f: {} for f in symtab}
    for a, (defs, undefs) in symtab.items():
        for s in undefs:
            if s in defs:
                continue
            targets = strong.get(s) or weak.get(s) or []
            for b in targets:
                if b != a:
                    edges[a].setdefault(b, set()).add(s)
    return edges, problems


# --- graphs ------------------------------------------------------------------

def sccs(nodes, succ):
    """Tarjan, iterative: the strongly connected components, each sorted."""
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = [0]
    for root in sorted(nodes):
        if root in index:
            continue
        work = [(root, iter(sorted(succ(root))))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(succ(w)))))
                    advanced = True
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                out.append(sorted(comp))
    return out


def elementary_cycles(comp, succ, cap=100):
    """The elementary cycles inside one component (at most cap of them), each
    a list of nodes starting at its smallest; a simple ordered DFS."""
    members = set(comp)
    cycles = []
    for s in sorted(comp):
        path, seen = [s], {s}

        def dfs(v):
            for w in sorted(succ(v)):
                if len(cycles) >= cap:
                    return
                if w == s:
                    cycles.append(list(path))
                elif w in members and w > s and w not in seen:
                    path.append(w)
                    seen.add(w)
                    dfs(w)
                    seen.discard(w)
                    path.pop()
        dfs(s)
    return cycles


def find_cycles(edges):
    """The cycles of edges ({A: {B: ...}}): components of more than one node,
    and nodes with an edge to themselves."""
    nodes = set(edges)
    for targets in edges.values():
        nodes.update(targets)

    def succ(v):
        return edges.get(v, {}).keys()
    return [c for c in sccs(nodes, succ)
            if len(c) > 1 or c[0] in edges.get(c[0], {})], succ


# --- the checks (each returns a list of failure messages) --------------------

def _syms(symbols, limit=6):
    s = sorted(symbols)
    more = "" if len(s) <= limit else ", ... (%d in all)" % len(s)
    return ", ".join(s[:limit]) + more


def check_call_cycles(edges):
    comps, succ = find_cycles(edges)
    fails = []
    for comp in comps:
        lines = ["call cycle among %d files: %s" % (len(comp), ", ".join(comp))]
        for a in comp:
            for b in sorted(edges.get(a, {})):
                if b in comp:
                    lines.append("    %s -> %s  (%s)" % (a, b, _syms(edges[a][b])))
        for cyc in elementary_cycles(comp, succ):
            lines.append("    cycle: " + " -> ".join(cyc + [cyc[0]]))
        fails.append("\n".join(lines))
    return fails


def layer_of(f):
    parts = f.split("/")
    return parts[1] if len(parts) > 2 and parts[0] == "src" else None


def check_layers(edges):
    fails = []
    for f in sorted(edges):
        lf = layer_of(f)
        if lf not in LAYERS:
            fails.append("%s is in no layer (src/%s): give it a layer in "
                         "tests/layers/check_layers.py (LAYERS)" % (f, lf))
    for a in sorted(edges):
        la = layer_of(a)
        for b in sorted(edges[a]):
            lb = layer_of(b)
            if la not in LAYERS or lb not in LAYERS or la == lb:
                continue
            syms = _syms(edges[a][b])
            if (a, b) in ALLOWED:
                continue
            if (la, lb) in FORBIDDEN:
                fails.append("layer violation: %s uses %s (%s): %s"
                             % (a, b, syms, FORBIDDEN[(la, lb)]))
            elif LAYERS[lb] > LAYERS[la]:
                fails.append("layer violation: %s (src/%s) uses %s (src/%s, a "
                             "higher layer) (%s); the layers are %s"
                             % (a, la, b, lb, syms, LAYER_ORDER))
    return fails


def server_rank(f):
    """(rank, name) of a src/server file, rank None if it has none."""
    rel = f[len("src/server/"):]
    if rel in SERVER_RANKS:
        return SERVER_RANKS[rel], rel
    d, base = os.path.split(rel)
    if d == "kinds" and base.endswith(".c"):
        return KIND_RANK, rel
    return None, rel


def check_ranks(edges, disk_files=()):
    """c. edges among src/server files; disk_files: the src/server/**.c files
    on disk, which all need a rank too (a file the build does not pick up
    must not escape the rule)."""
    fails = []
    server = sorted({f for f in edges if f.startswith("src/server/")} |
                    {f for f in disk_files if f.startswith("src/server/")})
    for f in server:
        if f.endswith(".c") and server_rank(f)[0] is None:
            fails.append("%s has no rank: give it a rank in src/server/core.h "
                         "and in tests/layers/check_layers.py (SERVER_RANKS)" % f)
    for a in sorted(edges):
        if not a.startswith("src/server/"):
            continue
        ra = server_rank(a)[0]
        for b in sorted(edges[a]):
            if not b.startswith("src/server/"):
                continue
            rb = server_rank(b)[0]
            if ra is None or rb is None:
                continue
            if rb >= ra:
                why = ("the kinds must not use each other"
                       if ra == rb == KIND_RANK else
                       "a server file may use only lower ranks")
                fails.append("rank violation: %s (rank %d) uses %s (rank %d) "
                             "(%s): %s (src/server/core.h)"
                             % (a, ra, b, rb, _syms(edges[a][b]), why))
    return fails


# --- d. the include graph ----------------------------------------------------

_TOKENS = re.compile(r'"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'|/\*.*?\*/|//[^\n]*',
                     re.S)
_INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*"([^"\n]+)"', re.M)


def strip_comments(text):
    """text with its comments blanked (newlines kept), string literals kept."""
    text = text.replace("\\\n", "")

    def repl(m):
        s = m.group(0)
        if s.startswith("/"):
            return "\n" * s.count("\n") if "\n" in s else " "
        return s
    return _TOKENS.sub(repl, text)


def include_files(root):
    """The files of the include graph, relative to root."""
    out = []
    for d, dirs, files in os.walk(os.path.join(root, "src")):
        dirs.sort()
        for n in sorted(files):
            if n.endswith((".c", ".h")):
                out.append(os.path.relpath(os.path.join(d, n), root))
    inc = os.path.join(root, "include", "mgr")
    if os.path.isdir(inc):
        out += ["include/mgr/" + n for n in sorted(os.listdir(inc)) if n.endswith(".h")]
    return [p.replace(os.sep, "/") for p in out]


def include_graph(root, files):
    """{file: {included file: {'#include "name"'}}} and the unresolved ones.
    A name resolves against the including file's directory, then src/, then
    include/."""
    edges, unresolved = {}, []
    for f in files:
        with open(os.path.join(root, f), encoding="utf-8", errors="replace") as fh:
            text = strip_comments(fh.read())
        edges[f] = {}
        for name in _INCLUDE.findall(text):
            for base in (os.path.dirname(f), "src", "include"):
                cand = os.path.normpath(os.path.join(base, name)).replace(os.sep, "/")
                if not cand.startswith("..") and os.path.isfile(os.path.join(root, cand)):
                    edges[f].setdefault(cand, set()).add('#include "%s"' % name)
                    break
            else:
                unresolved.append('%s: #include "%s"' % (f, name))
    return edges, unresolved


def check_include_cycles(edges):
    comps, succ = find_cycles(edges)
    fails = []
    for comp in comps:
        lines = ["include cycle among %d files: %s" % (len(comp), ", ".join(comp))]
        for a in comp:
            for b in sorted(edges.get(a, {})):
                if b in comp:
                    lines.append("    %s -> %s  (%s)" % (a, b, _syms(edges[a][b])))
        for cyc in elementary_cycles(comp, succ):
            lines.append("    cycle: " + " -> ".join(cyc + [cyc[0]]))
        fails.append("\n".join(lines))
    return fails


# --- all of it ---------------------------------------------------------------

def run_checks(symtab, root, out=sys.stdout, verbose=False):
    """Every check over symtab ({src file: (defined, undefined)}) and the
    source tree at root. Returns the failures, {check name: [messages]}."""
    edges, problems = build_graph(symtab)
    nedges = sum(len(t) for t in edges.values())
    disk = []
    server_dir = os.path.join(root, "src", "server")
    for d, dirs, files in os.walk(server_dir):
        dirs.sort()
        disk += [os.path.relpath(os.path.join(d, n), root).replace(os.sep, "/")
                 for n in sorted(files) if n.endswith(".c")]
    ifiles = include_files(root)
    iedges, unresolved = include_graph(root, ifiles)
    results = [
        ("one definition per symbol", problems),
        ("call cycles", check_call_cycles(edges)),
        ("layers (%s)" % LAYER_ORDER, check_layers(edges)),
        ("server ranks (src/server/core.h)", check_ranks(edges, disk)),
        ("include cycles (%d files, %d includes)"
         % (len(iedges), sum(len(t) for t in iedges.values())),
         check_include_cycles(iedges)),
    ]
    if len(symtab) > 1 and nedges == 0:
        results.append(("graph", ["no file uses a symbol of another: nm read "
                                  "nothing useful from these objects?"]))
    print("layers: %d object files, %d file-to-file references"
          % (len(symtab), nedges), file=out)
    if verbose:
        for a in sorted(edges):
            for b in sorted(edges[a]):
                print("    %s -> %s  (%s)" % (a, b, _syms(edges[a][b], 4)), file=out)
    for (a, b), why in sorted(ALLOWED.items()):
        if b in edges.get(a, {}):
            print("  allowed: %s -> %s (%s): %s"
                  % (a, b, _syms(edges[a][b]), why), file=out)
    for u in unresolved:
        print("  note: unresolved (not checked): %s" % u, file=out)
    fails = {}
    for name, msgs in results:
        print("  %-4s %s" % ("ok" if not msgs else "FAIL", name), file=out)
        for m in msgs:
            print("       " + m.replace("\n", "\n       "), file=out)
        if msgs:
            fails[name] = msgs
    return fails


def die(msg):
    print("check_layers: " + msg, file=sys.stderr)
    sys.exit(2)


def read_symbols(nm, objs, root):
    symtab = {}
    for obj in objs:
        src = obj_to_src(obj)
        if src is None:
            die("%s is not an object of mgr_obj "
                             "(expected .../%ssrc/...c.o)" % (obj, OBJ_DIR))
        if not os.path.isfile(obj):
            die("%s is missing: build mgr_obj first" % obj)
        if not os.path.isfile(os.path.join(root, src)):
            die("%s (from %s) is not in %s: a stale "
                             "object?" % (src, obj, root))
        r = subprocess.run([nm, "-P", obj], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True)
        if r.returncode != 0:
            die("%s -P %s failed: %s" % (nm, obj, r.stderr))
        symtab[src] = parse_nm(r.stdout)
    return symtab


# --- the self-test -----------------------------------------------------------

def _fake(spec):
    """{file: (defined names, used names)} -> a symtab of strong definitions."""
    return {f: ({s: "strong" for s in d}, set(u)) for f, (d, u) in spec.items()}


def _clean_spec():
    return {
        "src/common/mem.c": (["mgri_mem_alloc"], ["malloc"]),
        "src/common/arena.c": (["mgri_arena_init"], ["mgri_mem_alloc"]),
        "src/cbor/cbor.c": (["mgri_cbor_decode"], ["mgri_arena_init", "memcpy"]),
        "src/proto/msg.c": (["mgri_request_encode"], ["mgri_cbor_decode"]),
        "src/trace/trace.c": (["mgri_trace_pid", "mgri_trace_table"],
                              ["mgri_request_encode", "dlopen"]),
        "src/server/reply.c": (["mgri_reply_ok"], ["mgri_arena_init"]),
        "src/server/objects.c": (["mgri_obj_get"], ["mgri_reply_ok"]),
        "src/server/wait.c": (["mgri_wait_park"], ["mgri_obj_get", "mgri_trace_pid"]),
        "src/server/kinds/slot.c": (["mgri_slot_set"], ["mgri_obj_get"]),
        "src/server/kinds/dict.c": (["mgri_kind_dict"], ["mgri_slot_set"]),
        "src/server/kinds/lock.c": (["mgri_kind_lock"], ["mgri_wait_park"]),
        "src/server/kinds/queue.c": (["mgri_kind_queue"], ["mgri_slot_set"]),
        "src/server/kinds/kinds.c": (["mgri_kinds"], ["mgri_kind_dict", "mgri_kind_lock",
                                                      "mgri_kind_queue"]),
        "src/server/manager.c": (["mgri_manager_ops"], ["mgri_obj_get"]),
        "src/server/dispatch.c": (["mgri_dispatch"], ["mgri_manager_ops", "mgri_kinds"]),
        "src/server/store.c": (["mgri_store_new"], ["mgri_dispatch", "mgri_kinds"]),
        "src/server/loop.c": (["mgr_serve"], ["mgri_store_new", "mgri_trace_table"]),
        "src/client/conn.c": (["mgri_call"], ["mgri_request_encode", "mgri_trace_pid"]),
        "src/client/start.c": (["mgr_start"], ["mgri_call", "mgr_serve", "fork"]),
    }


def _with(spec, f, defined=(), used=()):
    s = {k: (list(d), list(u)) for k, (d, u) in spec.items()}
    d, u = s.get(f, ([], []))
    s[f] = (d + list(defined), u + list(used))
    return s


def _write(root, files):
    for rel, text in files.items():
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w", encoding="utf-8") as fh:
            fh.write(text)


def self_test():
    failures = []
    sink = open(os.devnull, "w")

    def expect(name, cond, detail=""):
        print("  %-4s %s%s" % ("ok" if cond else "FAIL", name,
                               "" if cond else ": " + detail))
        if not cond:
            failures.append(name)

    def fails_of(spec, root, check=None):
        f = run_checks(_fake(spec), root, out=sink)
        if check is None:
            return f
        return [m for k, v in f.items() if k.startswith(check) for m in v]

    def has(msgs, *words):
        return any(all(w in m for w in words) for m in msgs)

    print("layers self-test:")
    expect("obj_to_src maps an object back to its source",
           obj_to_src("/b/CMakeFiles/mgr_obj.dir/src/server/kinds/dict.c.o")
           == "src/server/kinds/dict.c")
    expect("obj_to_src accepts the ./ of $<TARGET_OBJECTS>",
           obj_to_src("/b/CMakeFiles/mgr_obj.dir/./src/cbor/cbor.c.o")
           == "src/cbor/cbor.c")
    expect("obj_to_src refuses an object of another target",
           obj_to_src("/b/CMakeFiles/mgrd.dir/src/tools/mgrd.c.o") is None)
    d, u = parse_nm("mgri_a T 10 5\nhelper t 20 4\nmgri_b U\nmgri_tab D 0 8\n"
                    "ust_dlopen V 0 8\nmgri_z B 0 8\n__start_x w\nrows d 0 9\n")
    expect("parse_nm: globals defined, locals ignored, weak kept",
           d == {"mgri_a": "strong", "mgri_tab": "strong", "mgri_z": "strong",
                 "ust_dlopen": "weak"}, repr(d))
    expect("parse_nm: undefined and weak undefined are uses",
           u == {"mgri_b", "__start_x"}, repr(u))
    e, _ = build_graph(_fake(_clean_spec()))
    expect("a data reference is an edge like a call",
           "mgri_trace_table" in e["src/server/loop.c"].get("src/trace/trace.c", ()))
    expect("a symbol defined nowhere (libc) makes no edge",
           set(e["src/client/start.c"]) == {"src/client/conn.c", "src/server/loop.c"},
           repr(e["src/client/start.c"]))
    _, probs = build_graph(_fake(_with(_clean_spec(), "src/cbor/cbor.c",
                                       defined=["mgri_mem_alloc"])))
    expect("a symbol defined twice is reported",
           has(probs, "mgri_mem_alloc", "src/cbor/cbor.c", "src/common/mem.c"), repr(probs))

    with tempfile.TemporaryDirectory() as root:
        clean_tree = {
            "src/common/mem.h": '#ifndef M\n#define M\n#include <stddef.h>\n#endif\n',
            "src/common/arena.h": '#include "common/mem.h"\n',
            "src/cbor/cbor.h": '#include "../common/arena.h"\n#include "mgr/value.h"\n'
                               '/* #include "cbor/cbor.h" */\n'
                               '// #include "cbor.h"\n'
                               'static const char *s = "#include \\"cbor.h\\"";\n',
            "src/cbor/cbor.c": '#include "cbor.h"\n',
            "src/server/core.h": '#include "common/arena.h"\n#include "store.h"\n',
            "src/server/store.h": '#include "mgr/value.h"\n',
            "include/mgr/value.h": '#include "version.h"\n',
            "include/mgr/version.h": '#define V 1\n',
        }
        for f in _clean_spec():
            clean_tree.setdefault(f, "int x;\n")
        _write(root, clean_tree)

        f = fails_of(_clean_spec(), root)
        expect("a clean graph and tree pass every check", not f, repr(f))
        ie, unres = include_graph(root, include_files(root))
        expect("includes resolve: own dir, then src/, then include/",
               set(ie["src/cbor/cbor.h"]) == {"src/common/arena.h", "include/mgr/value.h"}
               and set(ie["src/server/core.h"]) == {"src/common/arena.h",
                                                    "src/server/store.h"}
               and set(ie["include/mgr/value.h"]) == {"include/mgr/version.h"}
               and set(ie["src/cbor/cbor.c"]) == {"src/cbor/cbor.h"}
               and not unres, repr((ie, unres)))

        # a. a call cycle: objects.c -> wait.c -> objects.c, plus a 3-cycle
        # in common.
        spec = _with(_clean_spec(), "src/server/objects.c", used=["mgri_wait_park"])
        m = fails_of(spec, root, "call cycles")
        expect("a call cycle of two files is detected",
               has(m, "src/server/objects.c", "src/server/wait.c", "mgri_wait_park",
                   "mgri_obj_get"), repr(m))
        spec = _with(_clean_spec(), "src/common/mem.c",
                     used=["mgri_cbor_decode", "mgri_request_encode"])
        m = fails_of(spec, root, "call cycles")
        expect("every cycle of a component is printed",
               has(m, "cycle: src/cbor/cbor.c -> src/common/arena.c -> "
                   "src/common/mem.c -> src/cbor/cbor.c",
                   "cycle: src/cbor/cbor.c -> src/common/arena.c -> "
                   "src/common/mem.c -> src/proto/msg.c -> src/cbor/cbor.c"), repr(m))

        # b. layers
        spec = _with(_clean_spec(), "src/cbor/cbor.c", used=["mgri_request_encode"])
        m = fails_of(spec, root, "layers")
        expect("a lower layer using a higher one is detected (cbor -> proto)",
               has(m, "src/cbor/cbor.c", "src/proto/msg.c", "mgri_request_encode"), repr(m))
        spec = _with(_clean_spec(), "src/common/arena.c", used=["mgri_store_new"])
        m = fails_of(spec, root, "layers")
        expect("common -> server is detected",
               has(m, "src/common/arena.c", "src/server/store.c", "mgri_store_new"), repr(m))
        spec = _with(_clean_spec(), "src/server/dispatch.c", used=["mgri_call"])
        m = fails_of(spec, root, "layers")
        expect("server -> client is detected",
               has(m, "src/server/dispatch.c", "src/client/conn.c", "mgri_call",
                   "server must not use the client"), repr(m))
        spec = _with(_clean_spec(), "src/client/conn.c", used=["mgri_store_new"])
        m = fails_of(spec, root, "layers")
        expect("client -> server (other than start.c -> loop.c) is detected",
               has(m, "src/client/conn.c", "src/server/store.c", "mgri_store_new"), repr(m))
        spec = _with(_clean_spec(), "src/client/start.c", used=["mgri_store_new"])
        m = fails_of(spec, root, "layers")
        expect("start.c may use loop.c only, not store.c",
               has(m, "src/client/start.c", "src/server/store.c")
               and not has(m, "src/server/loop.c"), repr(m))
        spec = _with(_clean_spec(), "src/client/conn.c", used=["mgr_serve"])
        m = fails_of(spec, root, "layers")
        expect("only start.c may use loop.c",
               has(m, "src/client/conn.c", "src/server/loop.c", "mgr_serve"), repr(m))
        spec = _with(_clean_spec(), "src/trace/trace.c", used=["mgri_dispatch"])
        m = fails_of(spec, root, "layers")
        expect("trace -> server is detected",
               has(m, "src/trace/trace.c", "src/server/dispatch.c", "mgri_dispatch"), repr(m))
        spec = _with(_clean_spec(), "src/trace/trace.c", used=["mgri_call"])
        m = fails_of(spec, root, "layers")
        expect("trace -> client is detected",
               has(m, "src/trace/trace.c", "src/client/conn.c", "mgri_call"), repr(m))
        spec = _with(_clean_spec(), "src/shm/ring.c", defined=["mgri_ring"])
        m = fails_of(spec, root, "layers")
        expect("a file in an unknown src/ directory is detected",
               has(m, "src/shm/ring.c", "give it a layer"), repr(m))

        # c. ranks
        spec = _with(_clean_spec(), "src/server/reply.c", used=["mgri_dispatch"])
        m = fails_of(spec, root, "server ranks")
        expect("a server file using a higher rank is detected (reply -> dispatch)",
               has(m, "src/server/reply.c (rank 0)", "src/server/dispatch.c (rank 6)",
                   "mgri_dispatch"), repr(m))
        spec = _with(_clean_spec(), "src/server/kinds/dict.c", used=["mgri_kind_lock"])
        m = fails_of(spec, root, "server ranks")
        expect("a kind using another kind is detected",
               has(m, "src/server/kinds/dict.c", "src/server/kinds/lock.c",
                   "mgri_kind_lock", "kinds must not use each other"), repr(m))
        spec = _with(_clean_spec(), "src/server/manager.c", used=["mgri_kinds"])
        m = fails_of(spec, root, "server ranks")
        expect("a same-rank use is detected (manager.c -> kinds/kinds.c, both 5)",
               has(m, "src/server/manager.c (rank 5)", "src/server/kinds/kinds.c (rank 5)"),
               repr(m))
        spec = _with(_clean_spec(), "src/server/extra.c", defined=["mgri_extra"])
        m = fails_of(spec, root, "server ranks")
        expect("an unknown server object needs a rank",
               has(m, "src/server/extra.c", "give it a rank"), repr(m))
        _write(root, {"src/server/sub/new.c": "int y;\n"})
        m = fails_of(_clean_spec(), root, "server ranks")
        expect("an unknown server file on disk needs a rank too",
               has(m, "src/server/sub/new.c", "give it a rank"), repr(m))
        os.remove(os.path.join(root, "src/server/sub/new.c"))

        # d. include cycles
        _write(root, {"src/common/mem.h": '#include "arena.h"\n'})
        m = fails_of(_clean_spec(), root, "include cycles")
        expect("an include cycle is detected",
               has(m, "src/common/arena.h", "src/common/mem.h", '#include "arena.h"',
                   '#include "common/mem.h"'), repr(m))
        _write(root, {"src/common/mem.h": "\n",
                      "include/mgr/version.h": '#include "value.h"\n'})
        m = fails_of(_clean_spec(), root, "include cycles")
        expect("an include cycle in include/mgr is detected",
               has(m, "include/mgr/value.h", "include/mgr/version.h"), repr(m))
        _write(root, {"include/mgr/version.h": "\n",
                      "src/server/store.h": '#include "server/store.h"\n'})
        m = fails_of(_clean_spec(), root, "include cycles")
        expect("a header including itself is detected",
               has(m, "src/server/store.h"), repr(m))
        _write(root, {"src/server/store.h": "\n"})
        expect("the tree is clean again", not fails_of(_clean_spec(), root))

    sink.close()
    if failures:
        print("layers self-test: %d FAILED" % len(failures))
        return 1
    print("layers self-test: OK")
    return 0


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("objs", nargs="*", metavar="OBJ", help="the objects of mgr_obj")
    ap.add_argument("--src", help="the project's source directory")
    ap.add_argument("--nm", default="nm", help="the nm to run (default: nm)")
    ap.add_argument("--self-test", action="store_true", help="check the checker")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="print every file-to-file reference")
    a = ap.parse_args(argv)
    if a.self_test:
        return self_test()
    if not a.src or not a.objs:
        ap.error("need --src DIR and the objects of mgr_obj")
    nm = shutil.which(a.nm)
    if nm is None:
        print("check_layers: %s not found: skipped (install binutils)" % a.nm)
        return 77
    symtab = read_symbols(nm, a.objs, a.src)
    fails = run_checks(symtab, a.src, verbose=a.verbose)
    if fails:
        print("layers: FAILED (%d problems)" % sum(len(v) for v in fails.values()))
        return 1
    print("layers: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
