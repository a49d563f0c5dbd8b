#!/usr/bin/python3
"""mgr — applies a Trace Compass XML state provider to an LTTng trace.

    traces/tcxml.py XML TRACE [--provider ID] [--attr REGEX] [--json FILE]
                              [--rows] [--strict]

Trace Compass builds the state system of a data-driven ("XML") analysis by
passing every event, in time order, through the state provider's event
handlers. This module does the same for the subset of the XML that
traces/mgr.xml uses, so that what Trace Compass would draw can be tested
without Trace Compass (traces/model runs it on traces of every example).

Written from Trace Compass's user guide ("Data driven analysis"), the
schema's documentation (xmlStateProvider.xsd, xmlView.xsd) and the state
system's documented behaviour; it does not contain Trace Compass code.

Supported, with Trace Compass's meaning:

  <stateProvider>   <definedValue> ($NAME in any value), <location>,
                    <eventHandler eventName="..."> where '*' matches anything
                    and the name must match whole; every matching handler
                    runs, in document order, its state changes in order.
  <stateChange>     a path of <stateAttribute> (constant, eventField,
                    location, query) and a <stateValue>; or if/then/else,
                    where then and else are one state change each.
  <stateValue>      int, long, string, null, delete, eventField, eventName,
                    query; forcedType int/long/double/string; increment (a
                    null attribute counts as 0; the increment's type must be
                    the attribute's); update (changes the ongoing state's
                    value, no new interval); stack push/pop/popAll/peek.
  conditions        <condition> with two stateValues, or a state attribute
                    path or a <field> and one stateValue, operator
                    eq/ne/ge/gt/le/lt; <not>, <and>, <or>. An int first
                    operand is compared to a number as an int, a long one as
                    a long; anything else is compared as strings
                    (String.valueOf: a null is "null", an enum its label).
  state system      an attribute is created the first time a path names it
                    (even in a query); its first non-null value fixes its
                    type and a value of another type is an error (Trace
                    Compass fails the analysis); a change to the value it
                    already has starts no new interval; two changes at the
                    same timestamp leave the second.
  event fields      integers are longs (an unsigned 64-bit field with bit 63
                    set reads negative, as a Java long); enums read as their
                    label; strings; the lttng contexts are context._vpid,
                    context._vtid, context._procname.
  views             <timeGraphView>/<xyView> entries: path patterns ('*' in
                    any part), nested entries relative to their parent,
                    <display type="self"|"constant">, <name>,
                    <definedValue> (rows()).

Not supported (an error says so): scripts, mapping groups, futureTime,
pattern providers (traces/mgr.xml's <pattern> is not evaluated).

As a module: load(xml_path) -> Model; Model.run(events, provider_id) ->
StateSystem; StateSystem.intervals(path) -> [(start, end, value)];
Model.rows(view_id, ss) -> [Row]; read_trace(path) -> events.
"""

import argparse
import json
import re
import sys
import xml.etree.ElementTree as ET


class EvalError(Exception):
    """The analysis would fail in Trace Compass, or uses what is not supported."""


# --- Java values ---------------------------------------------------------------
# Trace Compass's state values are Java objects: Integer, Long, Double, String
# or null. Their class matters (increments, comparisons, the attribute's type),
# so each number carries it.

class Int(int):
    jtype = "int"

    def __repr__(self):
        return "Int(%d)" % self


class Long(int):
    jtype = "long"

    def __repr__(self):
        return "Long(%d)" % self


class Double(float):
    jtype = "double"


class Enum(str):
    """An enum field's value (Trace Compass: a pair whose text is the label)."""
    jtype = "enum"

    def __new__(cls, label, code):
        s = str.__new__(cls, label)
        s.code = code
        return s


def jint(v):
    """Java int arithmetic: 32-bit two's complement."""
    v &= 0xFFFFFFFF
    return Int(v - (1 << 32) if v >> 31 else v)


def jlong(v):
    v &= 0xFFFFFFFFFFFFFFFF
    return Long(v - (1 << 64) if v >> 63 else v)


def jtype(v):
    if v is None:
        return None
    if isinstance(v, (Int, Long, Double, Enum)):
        return v.jtype
    if isinstance(v, str):
        return "string"
    raise EvalError("not a state value: %r" % (v,))


def jstr(v):
    """String.valueOf(v)."""
    if v is None:
        return "null"
    if isinstance(v, Double):
        return repr(float(v))
    if isinstance(v, int):
        return str(int(v))
    return str(v)


def is_number(v):
    return isinstance(v, (Int, Long, Double))


def java_cmp(a, b):
    """DataDrivenComparisonCondition: -1, 0 or 1."""
    if isinstance(a, Int) and is_number(b):
        x, y = int(a), int(jint(int(b)))
    elif isinstance(a, Long) and is_number(b):
        x, y = int(a), int(jlong(int(b)))
    else:
        # String.compareTo compares UTF-16 code units; for the ASCII names
        # and numbers of a trace that is Python's order.
        x, y = jstr(a), jstr(b)
    return (x > y) - (x < y)


def force(v, forced):
    """A value converted to a forcedType (Trace Compass's rules)."""
    if forced is None or v is None:
        return v
    if isinstance(v, str) and not isinstance(v, Enum):
        if forced == "int":
            return jint(int(v))
        if forced == "long":
            return jlong(int(v))
        if forced == "double":
            return Double(float(v))
        return v
    if isinstance(v, (Int, Long)):
        if forced == "int":
            return jint(int(v))
        if forced == "long":
            return Long(int(v))
        if forced == "double":
            return Double(float(v))
        return str(int(v))
    if isinstance(v, Double):
        if forced == "int":
            return jint(int(v))
        if forced == "long":
            return jlong(int(v))
        if forced == "string":
            return jstr(v)
        return v
    return str(v)  # any other object (an enum): its text, whatever the type


# --- events ----------------------------------------------------------------------

class Event:
    __slots__ = ("ts", "name", "fields")

    def __init__(self, ts, name, fields):
        self.ts = ts
        self.name = name
        self.fields = fields

    def __repr__(self):
        return "Event(%d, %s, %r)" % (self.ts, self.name, self.fields)


def _field_value(f):
    import bt2
    if isinstance(f, (bt2._UnsignedEnumerationFieldConst, bt2._SignedEnumerationFieldConst)):
        labels = f.labels
        return Enum(str(labels[0]) if labels else str(int(f)), int(f))
    if isinstance(f, (bt2._UnsignedIntegerFieldConst, bt2._SignedIntegerFieldConst)):
        return jlong(int(f))
    if isinstance(f, bt2._StringFieldConst):
        return str(f)
    if isinstance(f, bt2._RealFieldConst):
        return Double(float(f))
    return None  # structures, arrays: not used by our analyses


def read_trace(path):
    """Yields the trace's events (all of them) as Event, in time order, with
    the payload fields by name and the event's context fields as
    context._NAME (what Trace Compass calls them)."""
    try:
        import bt2
    except ImportError:
        raise EvalError("python3-bt2 is missing: run with /usr/bin/python3 "
                        "(apt-get install python3-bt2)")
    for msg in bt2.TraceCollectionMessageIterator(path):
        if type(msg) is not bt2._EventMessageConst:
            continue
        ev = msg.event
        fields = {}
        ctx = ev.common_context_field
        if ctx is not None:
            for k, v in ctx.items():
                fields["context._" + k] = _field_value(v)
        sctx = ev.specific_context_field
        if sctx is not None:
            for k, v in sctx.items():
                fields["context._" + k] = _field_value(v)
        payload = ev.payload_field
        if payload is not None:
            for k, v in payload.items():
                fields[k] = _field_value(v)
        yield Event(msg.default_clock_snapshot.ns_from_origin, ev.name, fields)


# --- the state system ----------------------------------------------------------

class StateSystem:
    """Attributes (paths of names) with their intervals, built as Trace
    Compass's state system builds them."""

    def __init__(self, start):
        self.start = start
        self.end = start
        self.quarks = {(): 0}
        self.paths = [()]
        self.children = [[]]
        self.value = [None]       # ongoing value
        self.since = [start]      # ongoing value's start time
        self.types = [None]       # the attribute's type, once known
        self.done = [[]]          # closed intervals (start, end, value)
        self.warnings = []

    def quark(self, path, create=True):
        path = tuple(path)
        q = self.quarks.get(path)
        if q is not None or not create:
            return q
        parent = self.quark(path[:-1], True)
        q = len(self.paths)
        self.quarks[path] = q
        self.paths.append(path)
        self.children.append([])
        self.children[parent].append(q)
        self.value.append(None)
        self.since.append(self.start)
        self.types.append(None)
        self.done.append([])
        return q

    def ongoing(self, q):
        return self.value[q]

    def modify(self, t, v, q):
        """ITmfStateSystemBuilder.modifyAttribute."""
        vt = jtype(v)
        if vt == "enum":
            raise EvalError("%s: an enum field stored without a forcedType (its "
                            "label or code must be chosen)" % "/".join(self.paths[q]))
        if self.types[q] is None:
            self.types[q] = vt
        elif vt is not None and vt != self.types[q]:
            raise EvalError("%s: a %s value in an attribute of type %s at t=%d "
                            "(Trace Compass: StateValueTypeException, the "
                            "analysis fails)" % ("/".join(self.paths[q]), vt,
                                                 self.types[q], t))
        old = self.value[q]
        if jtype(old) == vt and old == v:
            return
        if self.since[q] < t:
            self.done[q].append((self.since[q], t - 1, old))
            self.since[q] = t
        self.value[q] = v
        if t > self.end:
            self.end = t

    def update(self, v, q):
        """updateOngoingState: the ongoing interval's value, no new one."""
        self.value[q] = v

    def push(self, t, v, q):
        depth = self.value[q]
        if depth is None:
            depth = 0
        elif not isinstance(depth, Int):
            raise EvalError("%s: push on an attribute that is not a stack" %
                            "/".join(self.paths[q]))
        depth += 1
        sub = self.quark(self.paths[q] + (str(depth),))
        self.modify(t, Int(depth), q)
        self.modify(t, v, sub)

    def pop(self, t, q):
        depth = self.value[q]
        if depth is None:
            return None
        if not isinstance(depth, Int):
            raise EvalError("%s: pop on an attribute that is not a stack" %
                            "/".join(self.paths[q]))
        sub = self.quark(self.paths[q] + (str(int(depth)),))
        popped = self.value[sub]
        self.modify(t, None if depth == 1 else Int(depth - 1), q)
        self.modify(t, None, sub)
        return popped

    def peek(self, q):
        depth = self.value[q]
        if not isinstance(depth, Int):
            return None
        sub = self.quark(self.paths[q] + (str(int(depth)),), create=False)
        return None if sub is None else self.value[sub]

    def close(self, end):
        """Ends every ongoing interval at end (the trace's last timestamp)."""
        self.end = max(self.end, end)
        for q in range(len(self.paths)):
            self.done[q].append((self.since[q], self.end, self.value[q]))
            self.since[q] = self.end + 1

    # queries
    def attributes(self):
        return list(self.paths[1:])

    def intervals(self, path):
        q = self.quark(path, create=False)
        if q is None:
            raise KeyError("/".join(path))
        return list(self.done[q])

    def sub(self, path, pattern):
        """The children of path whose name matches pattern ('*': any)."""
        q = self.quark(path, create=False)
        if q is None:
            return []
        rx = re.compile(pattern.replace("*", ".*") + r"\Z")
        return [self.paths[c] for c in self.children[q] if rx.match(self.paths[c][-1])]

    def glob(self, pattern, base=()):
        paths = [tuple(base)]
        for part in pattern.split("/"):
            paths = [c for p in paths for c in self.sub(p, part)]
        return paths

    def value_at(self, path, t):
        for s, e, v in self.intervals(path):
            if s <= t <= e:
                return v
        return None


# --- compiling the XML ---------------------------------------------------------

def _children(el, tag=None):
    return [c for c in el if isinstance(c.tag, str) and (tag is None or c.tag == tag)]


class Ctx:
    """What a running state change sees."""
    __slots__ = ("ss", "event")

    def __init__(self, ss, event):
        self.ss = ss
        self.event = event


class Compiler:
    def __init__(self, provider):
        self.provider = provider
        self.defined = {}
        self.locations = {}
        for el in _children(provider, "definedValue"):
            self.defined[el.get("name")] = el.get("value")
        for el in _children(provider, "location"):
            self.locations[el.get("id")] = el
        if _children(provider, "mappingGroup"):
            raise EvalError("mappingGroup is not supported")

    def text(self, s):
        if s is not None and s.startswith("$"):
            if s[1:] not in self.defined:
                raise EvalError("no definedValue %s" % s)
            return self.defined[s[1:]]
        return s

    # paths: a list of functions ctx -> value (each one level of the path)
    def path(self, attrs):
        parts = []
        for a in attrs:
            parts.extend(self.attribute(a))
        return parts

    def attribute(self, el):
        typ = el.get("type")
        val = self.text(el.get("value"))
        if typ == "constant":
            if not val:
                raise EvalError("a constant attribute without a value")
            if val == "#CurrentScenario":
                raise EvalError("#CurrentScenario is for patterns only")
            return [lambda ctx, v=val: v]
        if typ == "eventField":
            return [lambda ctx, n=val: field(ctx, n)]
        if typ == "location":
            loc = self.locations.get(val)
            if loc is None:
                raise EvalError("no location %s" % val)
            return self.path(_children(loc, "stateAttribute"))
        if typ == "query":
            sub = self.path(_children(el, "stateAttribute"))
            if not sub:
                raise EvalError("a query attribute without children")
            return [lambda ctx, p=sub: query(ctx, p)]
        if typ == "eventName":
            return [lambda ctx: ctx.event.name]
        if typ == "null":
            return [lambda ctx: None]
        raise EvalError("stateAttribute type %s is not supported" % typ)

    def value(self, el):
        """A <stateValue> -> function ctx -> value (with its forcedType)."""
        typ = el.get("type")
        forced = el.get("forcedType")
        if el.get("mappingGroup"):
            raise EvalError("mappingGroup is not supported")
        if el.get("stack") == "peek":
            p = self.path(_children(el, "stateAttribute"))
            return lambda ctx: force(ctx.ss.peek(resolve(ctx, p)), forced)
        val = self.text(el.get("value"))
        if typ == "int":
            c = jint(int(val))
            return lambda ctx: force(c, forced)
        if typ == "long":
            c = jlong(int(val))
            return lambda ctx: force(c, forced)
        if typ == "string":
            return lambda ctx: force(val, forced)
        if typ in ("null", "delete"):
            return lambda ctx: None
        if typ == "eventField":
            return lambda ctx: force(field(ctx, val), forced)
        if typ == "eventName":
            return lambda ctx: force(ctx.event.name, forced)
        if typ == "query":
            p = self.path(_children(el, "stateAttribute"))
            if not p:
                raise EvalError("a query value without attributes")
            return lambda ctx: force(query(ctx, p), forced)
        raise EvalError("stateValue type %s is not supported" % typ)

    def condition(self, el):
        tag = el.tag
        if tag == "condition":
            op = el.get("operator", "eq")
            test = {"eq": lambda c: c == 0, "ne": lambda c: c != 0,
                    "ge": lambda c: c >= 0, "gt": lambda c: c > 0,
                    "le": lambda c: c <= 0, "lt": lambda c: c < 0}[op]
            values = _children(el, "stateValue")
            if len(values) == 2:
                a, b = self.value(values[0]), self.value(values[1])
            elif len(values) == 1:
                b = self.value(values[0])
                attrs = _children(el, "stateAttribute")
                if attrs:
                    p = self.path(attrs)
                    a = lambda ctx, p=p: query(ctx, p)
                else:
                    fl = _children(el, "field")
                    if len(fl) != 1:
                        raise EvalError("a condition needs two values, or a path or a field and a value")
                    n = self.text(fl[0].get("name"))
                    a = lambda ctx, n=n: field(ctx, n)
            else:
                raise EvalError("unsupported condition (time ranges, elapsed times)")
            return lambda ctx: test(java_cmp(a(ctx), b(ctx)))
        subs = [self.condition(c) for c in _children(el)]
        if tag == "not":
            if len(subs) != 1:
                raise EvalError("<not> takes one condition")
            return lambda ctx: not subs[0](ctx)
        if tag == "and":
            return lambda ctx: all(s(ctx) for s in subs)
        if tag == "or":
            return lambda ctx: any(s(ctx) for s in subs)
        if tag == "if":
            if len(subs) != 1:
                raise EvalError("<if> takes one condition")
            return subs[0]
        raise EvalError("unsupported condition element <%s>" % tag)

    def state_change(self, el):
        kids = _children(el)
        if kids and kids[0].tag == "if":
            cond = self.condition(kids[0])
            then = self.state_change(_children(el, "then")[0])
            els = _children(el, "else")
            other = self.state_change(els[0]) if els else None

            def run(ctx):
                if cond(ctx):
                    then(ctx)
                elif other is not None:
                    other(ctx)
            return run
        if _children(el, "futureTime"):
            raise EvalError("futureTime is not supported")
        path = self.path(_children(el, "stateAttribute"))
        vel = _children(el, "stateValue")[0]
        value = self.value(vel)
        stack = vel.get("stack")
        increment = vel.get("increment") == "true"
        update = vel.get("update") == "true"
        if vel.get("type") == "script":
            raise EvalError("scripts are not supported")

        def run(ctx):
            ss = ctx.ss
            q = resolve(ctx, path)
            if q is None:
                return
            v = value(ctx)
            t = ctx.event.ts
            if stack == "pop":
                ss.pop(t, q)
                return
            if stack == "push":
                ss.push(t, v, q)
                return
            if stack == "popAll":
                depth = ss.ongoing(q)
                if isinstance(depth, Int):
                    for _ in range(int(depth)):
                        ss.pop(t, q)
                return
            if increment and v is not None:
                cur = ss.ongoing(q)
                if cur is not None and jtype(cur) != jtype(v):
                    raise EvalError("%s: increment by a %s of a %s attribute "
                                    "(Trace Compass: ClassCastException)" % (
                                        "/".join(ss.paths[q]), jtype(v), jtype(cur)))
                if isinstance(v, Int):
                    v = jint(int(v) + int(cur or 0))
                elif isinstance(v, Long):
                    v = jlong(int(v) + int(cur or 0))
                elif isinstance(v, Double):
                    v = Double(float(v) + float(cur or 0.0))
            if update:
                ss.update(v, q)
            else:
                ss.modify(t, v, q)
        return run


def field(ctx, name):
    v = ctx.event.fields.get(name)
    if v is None and name not in ctx.event.fields:
        ctx.ss.warnings.append("t=%d %s: no field %s" % (ctx.event.ts, ctx.event.name, name))
    return v


def resolve(ctx, parts):
    """The quark a path names, created if needed; None if a part is null."""
    path = []
    for p in parts:
        v = p(ctx)
        if v is None:
            ctx.ss.warnings.append("t=%d %s: a path element is null" % (ctx.event.ts, ctx.event.name))
            return None
        path.append(jstr(v))
    return ctx.ss.quark(path)


def query(ctx, parts):
    q = resolve(ctx, parts)
    return None if q is None else ctx.ss.ongoing(q)


class Provider:
    def __init__(self, el):
        self.id = el.get("id")
        if el.get("version") is None:
            raise EvalError("stateProvider %s has no version" % self.id)
        c = Compiler(el)
        self.handlers = []
        for h in _children(el, "eventHandler"):
            rx = re.compile(h.get("eventName").replace("*", ".*") + r"\Z")
            self.handlers.append((rx, [c.state_change(s) for s in _children(h, "stateChange")]))

    def run(self, events):
        ss = None
        last = None
        cache = {}
        for ev in events:
            if ss is None:
                ss = StateSystem(ev.ts)
            last = ev.ts
            hs = cache.get(ev.name)
            if hs is None:
                hs = cache[ev.name] = [ch for rx, chs in self.handlers if rx.match(ev.name) for ch in chs]
            if hs:
                ctx = Ctx(ss, ev)
                for ch in hs:
                    ch(ctx)
        if ss is None:
            ss = StateSystem(0)
            last = 0
        ss.close(last)
        return ss


# --- views -----------------------------------------------------------------------

class Row:
    """One entry of a view: the attribute it is built on, the attribute it
    displays, its name, and its parent row."""

    def __init__(self, path, display, name, parent, depth):
        self.path = path
        self.display = display
        self.name = name
        self.parent = parent
        self.depth = depth

    def __repr__(self):
        return "Row(%s)" % "/".join(self.path)


class View:
    def __init__(self, el):
        self.id = el.get("id")
        self.kind = el.tag
        head = _children(el, "head")
        self.analyses = [a.get("id") for h in head for a in _children(h, "analysis")]
        self.label = next((l.get("value") for h in head for l in _children(h, "label")), self.id)
        self.defined = {}
        for d in _children(el, "definedValue"):
            self.defined[int(d.get("value"))] = (d.get("name"), d.get("color"))
        self.entries = _children(el, "entry")

    def rows(self, ss):
        out = []

        def walk(entries, base, parent, depth):
            for e in entries:
                for p in ss.glob(e.get("path"), base):
                    disp = _children(e, "display")
                    d = p
                    if disp and disp[0].get("type") == "constant":
                        d = p + (disp[0].get("value"),)
                        if ss.quark(d, create=False) is None:
                            continue
                    name = p[-1]
                    nm = _children(e, "name")
                    if nm and nm[0].get("type") == "constant":
                        np_ = p + (nm[0].get("value"),)
                        if ss.quark(np_, create=False) is not None:
                            first = next((v for s, e2, v in ss.intervals(np_) if v is not None), None)
                            if first is not None:
                                name = jstr(first)
                    r = Row(p, d, name, parent, depth)
                    out.append(r)
                    walk(_children(e, "entry"), p, r, depth + 1)
        walk(self.entries, (), None, 0)
        return out


class Model:
    def __init__(self, root):
        self.providers = {}
        self.views = {}
        for el in root:
            if el.tag == "stateProvider":
                p = Provider(el)
                self.providers[p.id] = p
            elif el.tag in ("timeGraphView", "xyView"):
                v = View(el)
                self.views[v.id] = v

    def run(self, events, provider=None):
        if provider is None:
            if len(self.providers) != 1:
                raise EvalError("name the state provider: %s" % sorted(self.providers))
            provider = next(iter(self.providers))
        return self.providers[provider].run(events)

    def rows(self, view, ss):
        return self.views[view].rows(ss)


def load(path):
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        raise EvalError("%s: %s" % (path, e))
    return Model(root)


# --- command line -----------------------------------------------------------------

def show(v):
    return "null" if v is None else "%s:%s" % (jtype(v), jstr(v))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("xml")
    ap.add_argument("trace")
    ap.add_argument("--provider", help="state provider id (default: the only one)")
    ap.add_argument("--attr", help="only attributes whose path matches this regex")
    ap.add_argument("--rows", action="store_true", help="list each view's rows and the values they take")
    ap.add_argument("--json", help="write every attribute's intervals to this file")
    ap.add_argument("--strict", action="store_true", help="exit 1 on a warning (a missing field ...)")
    a = ap.parse_args(argv)
    try:
        model = load(a.xml)
        ss = model.run(read_trace(a.trace), a.provider)
    except EvalError as e:
        print("tcxml: %s" % e, file=sys.stderr)
        return 2
    rx = re.compile(a.attr) if a.attr else None
    out = {}
    for p in ss.attributes():
        name = "/".join(p)
        if rx and not rx.search(name):
            continue
        iv = ss.intervals(p)
        out[name] = [(s, e, None if v is None else (jtype(v), v)) for s, e, v in iv]
        if not a.json and not a.rows:
            print(name)
            for s, e, v in iv:
                print("  [%d, %d] %s" % (s - ss.start, e - ss.start, show(v)))
    if a.rows:
        for vid, view in model.views.items():
            print("%s (%s):" % (view.label, vid))
            for r in view.rows(ss):
                vals = sorted({show(v) for s, e, v in ss.intervals(r.display)})
                if len(vals) > 8:  # a counter: its last value
                    vals = ["%d values, last %s" % (len(vals), show(ss.intervals(r.display)[-1][2]))]
                print("  %s%s  [%s]  %s" % ("  " * r.depth, r.name, "/".join(r.display), ", ".join(vals)))
    if a.json:
        with open(a.json, "w", encoding="utf-8") as f:
            json.dump({"start": ss.start, "end": ss.end, "attributes": out,
                       "warnings": ss.warnings[:100]}, f, indent=0)
    for w in ss.warnings[:10]:
        print("tcxml: warning: %s" % w, file=sys.stderr)
    if len(ss.warnings) > 10:
        print("tcxml: %d warnings in all" % len(ss.warnings), file=sys.stderr)
    return 1 if (a.strict and ss.warnings) else 0


if __name__ == "__main__":
    sys.exit(main())
