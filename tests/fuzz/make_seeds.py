#!/usr/bin/env python3
"""Writes the spec fuzzer's seed corpus (corpus/spec/): every config in configs/, every row of
the malformed-config table in tests/test_spec.cpp, and a few hostile inputs (anchors/aliases,
overrides, deep nesting). Rerun after either source changes: python3 tests/fuzz/make_seeds.py"""
import hashlib
import pathlib
import re

root = pathlib.Path(__file__).resolve().parents[2]
out = root / "tests/fuzz/corpus/spec"
out.mkdir(parents=True, exist_ok=True)
seeds = {}

for cfg in sorted((root / "configs").glob("*.yaml")):
    seeds[f"config-{cfg.stem}"] = cfg.read_bytes()

S = "sweep: {name: t}\n"
T = "task: {kind: probe}\n"
src = (root / "tests/test_spec.cpp").read_text()
table = src[src.index("malformed configs: line, key and message"):]
for m in re.finditer(r'^\s*\{"([^"]+)",\s*(.+?),\s*\d+,\s*"', table, re.M):
    name, expr = m.group(1), m.group(2)
    expr = re.sub(r'std::string\((\d+), \'(.)\'\)', r'(\1 * "\2")', expr)
    expr = re.sub(r'std::string\(("(?:[^"\\]|\\.)*"),\s*(\d+)\)', r'(\1[:\2])', expr)
    try:
        text = eval(expr, {"S": S, "T": T})
    except Exception as e:  # a row this converter does not understand: skip it, say so
        print(f"skipped table row {name!r}: {e}")
        continue
    seeds["malformed-" + re.sub(r"[^a-z0-9]+", "-", name.lower())] = text.encode()

laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
    for i in range(8))
seeds["hostile-billion-laughs"] = (laughs + S + "grid: {x: *i}\n" + T).encode()
seeds["hostile-alias-axis"] = (S + "v: &v [1, 2, 3]\ngrid: {x: *v, y: *v}\n" + T).encode()
seeds["hostile-deep-map"] = (S + "grid: " + "{a: " * 300 + "1" + "}" * 300 + "\n" + T).encode()
seeds["overrides"] = ("#set task.sleep_ms=5\n#set grid.y=[1,2]\n#set run.max_retries=3\n" + S +
                      "grid: {x: [1, 2]}\n" + T).encode()
seeds["zip-exclude-replicates"] = (S + "grid:\n  x: [1, 2, 3]\n  y: [4, 5, 6]\n  fail: [none, throw]\n"
                                   "  seed: {replicates: 2}\nzip:\n  - [x, y]\nexclude:\n  - {x: 2, fail: throw}\n" + T).encode()
seeds["tags-and-merge"] = (S + "base: &b {kind: probe, sleep_ms: 1}\ntask:\n  <<: *b\n  fail: !!str nan\n"
                           "grid: {x: !!seq [1, 2]}\n").encode()

for name, data in seeds.items():
    (out / name).write_bytes(data)
print(f"{len(seeds)} seeds in {out}")
