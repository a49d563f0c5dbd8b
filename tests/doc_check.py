#!/usr/bin/env python3
"""doc_check: every public declaration is documented where it is declared.

Reads include/mgr/*.h as text and fails, listing each offender, when

  * an MGR_API declaration is not directly preceded by a comment of its own:
    the line before it must end a comment ("*/"), and that comment must not
    be a section banner ("/* --- ..."); a group comment above a run of
    declarations does not count for the ones after the first;
  * that comment does not say how the function fails. The convention, one of:
      - it names at least one error code, MGR_E<NAME> (MGR_EKEY ...);
      - "Never fails": the function cannot fail (void, or what it returns is
        never an error);
      - "Only the common errors": it returns only the common errors, which a
        comment earlier in the same header defines by starting with "The
        common errors" (the list of errors every call to the manager may
        return; in the batch section, those of every adder);
  * a comment anywhere in the headers names an MGR_E<NAME> that is not in
    error.h's MGR_ERRORS list (a typo, or a code that was renamed).

Ownership and thread-safety are stated in the same comment by the house
style (CONTRIBUTING.md, "Style"); they are reviewed, not parsed.

Usage: doc_check.py [--include DIR]   (default: ../include/mgr from here)
       doc_check.py --self-test       (shows each violation is caught)
Exit 0 when clean, 1 with the list otherwise.
"""
import os
import re
import sys
import tempfile

MARK_NEVER = "Never fails"
MARK_COMMON = "Only the common errors"
DEFINE_COMMON = "The common errors"
CODE_RE = re.compile(r"\bMGR_E[A-Z]+\b")
NAME_RE = re.compile(r"\b(mgr_\w+)\s*\(")


def comments(text):
    """(start_line, end_line, text) of each /* */ comment, lines 0-based."""
    out = []
    for m in re.finditer(r"/\*.*?\*/", text, re.S):
        start = text.count("\n", 0, m.start())
        end = start + m.group(0).count("\n")
        out.append((start, end, m.group(0)))
    return out


def known_codes(include):
    with open(os.path.join(include, "error.h"), encoding="utf-8") as f:
        text = f.read()
    return {"MGR_" + n for n in re.findall(r"\bX\((\w+),", text)}


def check_header(path, codes):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    lines = text.split("\n")
    cmts = comments(text)
    by_end = {end: (start, body) for start, end, body in cmts}
    name = os.path.basename(path)
    problems = []
    for start, end, body in cmts:
        for code in CODE_RE.findall(body):
            if code not in codes:
                problems.append(f"{name}:{start + 1}: {code} is not an error "
                                "code of error.h")
    for i, line in enumerate(lines):
        if not line.startswith("MGR_API"):
            continue
        decl = line
        j = i
        while "(" not in decl and j + 1 < len(lines):
            j += 1
            decl += lines[j]
        m = NAME_RE.search(decl)
        fn = m.group(1) if m else line.strip()
        where = f"{name}:{i + 1}: {fn}"
        prev = lines[i - 1].rstrip() if i > 0 else ""
        if not prev.endswith("*/") or (i - 1) not in by_end:
            problems.append(f"{where}: no comment of its own on the line "
                            "before")
            continue
        cstart, body = by_end[i - 1]
        if re.match(r"/\*\s*---", body):
            problems.append(f"{where}: only a section banner above it, no "
                            "comment of its own")
            continue
        flat = " ".join(w.strip(" *") for w in body.split("\n"))
        flat = re.sub(r"\s+", " ", flat)
        if CODE_RE.search(flat) or MARK_NEVER in flat:
            continue
        if MARK_COMMON in flat:
            defined = any(DEFINE_COMMON in re.sub(r"\s+", " ", " ".join(
                w.strip(" *") for w in b.split("\n")))
                for s, e, b in cmts if e < cstart)
            if defined:
                continue
            problems.append(f"{where}: says '{MARK_COMMON}' but no comment "
                            f"above it starts a list with '{DEFINE_COMMON}'")
            continue
        problems.append(f"{where}: its comment names no MGR_E* code and says "
                        f"neither '{MARK_NEVER}' nor '{MARK_COMMON}'")
    return problems


def check(include):
    codes = known_codes(include)
    problems = []
    for fn in sorted(os.listdir(include)):
        if fn.endswith(".h"):
            problems += check_header(os.path.join(include, fn), codes)
    return problems


SELF_TEST_ERROR_H = """#define MGR_ERRORS(X) X(OK, 0, "-", "ok") X(EKEY, -40, "KeyError", "k")
"""
SELF_TEST_CASES = [
    # (header text, how many problems expected)
    ("/* Does x. MGR_EKEY when missing. */\nMGR_API int mgr_a(void);\n", 0),
    ("/* Returns a name. Never fails. */\nMGR_API const char *mgr_a(void);\n",
     0),
    ("/* The common errors: MGR_EKEY. */\n\n"
     "/* Pings. Only the common errors. */\nMGR_API int mgr_a(void);\n", 0),
    ("MGR_API int mgr_a(void);\n", 1),                      # no comment
    ("/* Does x. MGR_EKEY. */\n#define mgr_x 1\nMGR_API int mgr_a(void);\n",
     1),                                                     # not adjacent
    ("/* --- section --- MGR_EKEY */\nMGR_API int mgr_a(void);\n", 1),
    ("/* Does x. */\nMGR_API int mgr_a(void);\n", 1),       # no errors
    ("/* Pings. Only the common errors. */\nMGR_API int mgr_a(void);\n",
     1),                                                     # undefined
    ("/* Does x. MGR_EKYE. */\nMGR_API int mgr_a(void);\n", 1),  # typo
    ("/* One. Never fails. */\nMGR_API int mgr_a(void);\n"
     "MGR_API int mgr_b(void);\n", 1),                       # group comment
]


def self_test():
    failed = 0
    for n, (text, want) in enumerate(SELF_TEST_CASES):
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "error.h"), "w", encoding="utf-8") as f:
                f.write(SELF_TEST_ERROR_H)
            with open(os.path.join(d, "t.h"), "w", encoding="utf-8") as f:
                f.write(text)
            got = check(d)
        if len(got) != want:
            failed += 1
            print(f"self-test case {n}: want {want} problem(s), got "
                  f"{len(got)}: {got}")
    if failed:
        return 1
    print(f"doc_check self-test: {len(SELF_TEST_CASES)} cases ok")
    return 0


def main(argv):
    if "--self-test" in argv:
        return self_test()
    include = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                           os.pardir, "include", "mgr")
    if "--include" in argv:
        include = argv[argv.index("--include") + 1]
    problems = check(include)
    for p in problems:
        print(p)
    if problems:
        print(f"doc_check: {len(problems)} problem(s); the convention is in "
              "tests/doc_check.py's header and CONTRIBUTING.md (Style)")
        return 1
    print("doc_check: every MGR_API declaration is documented")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
