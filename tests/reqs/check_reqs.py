#!/usr/bin/env python3
"""tests/reqs/check_reqs.py — requirement traceability for spec/protocol.md.

Every MUST / MUST NOT / SHALL / SHALL NOT / REQUIRED (level MUST) and SHOULD /
SHOULD NOT / RECOMMENDED (level SHOULD) of the spec carries an identifier
written right after its sentence: `[R-<section>-<letter>]`, e.g. `[R-13.2-a]`
(section = the numbered paragraph or heading it is in; letters in the order
they were given, never reused: a new requirement takes the next free letter).
When one sentence holds several keywords, as many identifiers follow it, in
the keywords' order.

The script lists every requirement and what names it: any file under tests/,
spec/model/ or fuzz/ that contains the identifier (`R-13.2-a`, brackets not
needed) — a test, a model or a fuzz target stating that it checks it, where
it does. It fails (exit 1) when
  * a keyword has no identifier, or an identifier no keyword, or one is used
    twice in the spec;
  * a file names an identifier the spec does not have;
  * a MUST is named by nothing (SHOULDs left unchecked are listed, not fatal),
    unless tests/reqs/waived.txt lists it with the reason nothing checks it
    yet (a waived requirement that something names is an error: the list
    must shrink as checks are written).

Usage: tests/reqs/check_reqs.py [--root DIR] [--list]   (--list: every row)
Python 3 standard library only.
"""
import argparse
import os
import re
import sys

KEYWORDS = re.compile(
    r"\b(MUST NOT|MUST|SHALL NOT|SHALL|REQUIRED|SHOULD NOT|SHOULD|NOT RECOMMENDED|RECOMMENDED)\b")
TAG = re.compile(r"\[(R-\d+(?:\.\d+)*-[a-z]+)\]")
NAMED = re.compile(r"\bR-\d+(?:\.\d+)*-[a-z]+\b")
SEARCHED = ("tests", "spec/model", "fuzz")
SUFFIXES = (".c", ".h", ".py", ".pml", ".sh", ".txt", ".md", ".cmake", "")


def level(word):
    return "SHOULD" if word.startswith("SHOULD") or word.endswith("RECOMMENDED") else "MUST"


def paragraphs(text):
    """(first line number, text) of each paragraph: blank-line separated
    blocks, each table row and each bullet on its own; fenced code skipped.
    Section 1 (Conventions) defines the keywords and is skipped."""
    out, cur, start, fence, skip = [], [], 0, False, False
    for no, line in enumerate(text.split("\n"), 1):
        if line.startswith("#"):
            skip = line.startswith("## 1. ")
        if line.startswith("```"):
            fence = not fence
            continue
        if fence or skip:
            continue
        newpara = (not line.strip() or line.startswith("|") or line.startswith("* ")
                   or re.match(r"^(\d+\.)+ ", line) or line.startswith("#"))
        if newpara and cur:
            out.append((start, " ".join(cur)))
            cur = []
        if line.strip():
            if not cur:
                start = no
            cur.append(line)
            if line.startswith("|"):
                out.append((start, " ".join(cur)))
                cur = []
    if cur:
        out.append((start, " ".join(cur)))
    return out


def spec_requirements(path):
    reqs, errors = {}, []
    text = open(path, encoding="utf-8").read()
    for no, para in paragraphs(text):
        pending = []
        for m in re.finditer(KEYWORDS.pattern + "|" + TAG.pattern, para):
            if m.group(1):
                pending.append(m.group(1))
            else:
                rid = m.group(2)
                if rid in reqs:
                    errors.append(f"spec line {no}: {rid} given twice")
                if not pending:
                    errors.append(f"spec line {no}: {rid} follows no MUST/SHOULD")
                    continue
                word = pending.pop(0)
                reqs[rid] = (level(word), word, no)
        for word in pending:
            errors.append(f"spec line {no}: '{word}' has no identifier [R-...]: {para[:100]}...")
    return reqs, errors


def named(root):
    found = {}
    for top in SEARCHED:
        base = os.path.join(root, top)
        for dirpath, dirnames, files in os.walk(base):
            dirnames[:] = [d for d in dirnames if d not in ("corpus", "build", "__pycache__")]
            for f in files:
                p = os.path.join(dirpath, f)
                if not f.endswith(SUFFIXES) or os.path.getsize(p) > 2_000_000:
                    continue
                if os.path.abspath(dirpath) == os.path.join(root, "tests", "reqs"):
                    continue  # this checker and its waivers check nothing
                try:
                    data = open(p, encoding="utf-8", errors="replace").read()
                except OSError:
                    continue
                for rid in set(NAMED.findall(data)):
                    found.setdefault(rid, set()).add(os.path.relpath(p, root))
    return found


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    ap.add_argument("--list", action="store_true")
    a = ap.parse_args()
    root = os.path.abspath(a.root)
    reqs, errors = spec_requirements(os.path.join(root, "spec", "protocol.md"))
    found = named(root)
    waived = {}
    wpath = os.path.join(root, "tests", "reqs", "waived.txt")
    if os.path.exists(wpath):
        for line in open(wpath, encoding="utf-8"):
            line = line.strip()
            if line and not line.startswith("#"):
                rid, _, why = line.partition(" ")
                waived[rid] = why.strip()
    for rid in waived:
        if rid not in reqs:
            errors.append(f"waived.txt: {rid} is not in the spec")
        elif rid in found:
            errors.append(f"waived.txt: {rid} is checked by {', '.join(sorted(found[rid]))}: "
                          "take it off the list")
        elif not waived[rid]:
            errors.append(f"waived.txt: {rid} without a reason")
    for rid in sorted(set(found) - set(reqs)):
        errors.append(f"{rid} named in {', '.join(sorted(found[rid]))} is not in the spec")

    def key(rid):
        sec, letter = rid[2:].rsplit("-", 1)
        return [int(x) for x in sec.split(".")] + [len(letter), letter]

    unchecked = {"MUST": [], "SHOULD": []}
    for rid in sorted(reqs, key=key):
        lvl, word, no = reqs[rid]
        by = sorted(found.get(rid, ()))
        if not by and rid not in waived:
            unchecked[lvl].append(rid)
        if a.list or not by:
            what = ", ".join(by) if by else (
                "WAIVED: " + waived[rid] if rid in waived else "UNCHECKED")
            print(f"{rid:<14} {word:<11} line {no:<5} {what}")
    n = len(reqs)
    nm = sum(1 for r in reqs.values() if r[0] == "MUST")
    print(f"requirements: {n} ({nm} MUST-level, {n - nm} SHOULD-level); "
          f"checked {sum(1 for r in reqs if found.get(r))}; "
          f"unchecked MUST {len(unchecked['MUST'])}, SHOULD {len(unchecked['SHOULD'])}; "
          f"waived {len(waived)}")
    for e in errors:
        print("error:", e, file=sys.stderr)
    if unchecked["MUST"]:
        print("error: MUST requirements no test or model names: " + " ".join(unchecked["MUST"]),
              file=sys.stderr)
    return 1 if errors or unchecked["MUST"] else 0


if __name__ == "__main__":
    sys.exit(main())
