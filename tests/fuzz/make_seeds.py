#!/usr/bin/env python3
"""Regenerates the seed corpora in tests/fuzz/corpus/ from tests/patch/data/json-patch-tests
plus a few hand-made cases. Run from anywhere; rewrites the gen-* files only (hand-made seeds
are named hand-*). Files are named by content hash so reruns are stable."""
import hashlib
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "patch", "data", "json-patch-tests")
CORPUS = os.path.join(HERE, "corpus")


def compact(v):
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)


def write(target, text):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    data = text.encode("utf-8")
    name = "gen-" + hashlib.sha1(data).hexdigest()[:12]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    for target in ("pointer", "apply", "diff"):
        d = os.path.join(CORPUS, target)
        if os.path.isdir(d):
            for n in os.listdir(d):
                if n.startswith("gen-"):
                    os.remove(os.path.join(d, n))
    cases = []
    for name in ("tests.json", "spec_tests.json"):
        with open(os.path.join(DATA, name), encoding="utf-8") as f:
            cases += json.load(f)
    for c in cases:
        if "doc" not in c or "patch" not in c:
            continue
        write("apply", compact(c["doc"]) + " " + compact(c["patch"]))
        if "expected" in c:
            write("diff", compact(c["doc"]) + " " + compact(c["expected"]))
        for op in c["patch"] if isinstance(c["patch"], list) else []:
            for key in ("path", "from"):
                if isinstance(op, dict) and isinstance(op.get(key), str):
                    write("pointer", op[key] + "\n" + compact(c["doc"]))


if __name__ == "__main__":
    main()
