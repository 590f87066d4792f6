#!/usr/bin/env python3
"""Fails when an include points the wrong way between emsweep's folders (docs/architecture.md).

Every quoted include must be rooted at the repository ("sweep/store/journal.h") and name a file
that exists; a folder may include only the folders its rule lists; MPI, LibTorch and HDF5
headers may appear only in the folders that own them.

Usage: check_layout.py [ROOT]      check the tree at ROOT (default: the repository)
       check_layout.py --self-test  build small trees with one wrong include each and check that
                                    every one is caught
"""
import os
import re
import sys
import tempfile

# Each source folder, most specific first, and the folders it may include (itself always).
RULES = [
    ("sweep/core", []),
    ("sweep/store", ["sweep/core"]),
    ("sweep/engine", ["sweep/core", "sweep/store"]),
    ("sweep/mpi", ["sweep/core", "sweep/store", "sweep/engine"]),
    ("worker", ["sweep/core", "sweep/store"]),
    ("analysis", ["sweep/core", "sweep/store"]),
    ("app/emsweep-run", ["sweep", "worker", "analysis"]),
    ("app/emsweep", ["sweep", "worker", "analysis"]),
]

# System headers that only their owner folders may include: the layering's three walls.
OWNERS = [
    (re.compile(r"^mpi\.h$"), ["sweep/mpi"], "MPI"),
    (re.compile(r"^(torch|ATen|c10)/"), ["worker", "app/emsweep-run"], "LibTorch"),
    (re.compile(r"^(hdf5|H5[A-Za-z]*)(\.h)?$"), ["sweep/store", "analysis"], "HDF5"),
]

INCLUDE = re.compile(r'^\s*#\s*include\s+([<"])([^>"]+)[>"]')
SOURCE_SUFFIXES = (".h", ".hpp", ".cpp", ".cc", ".in")


def folder_rule(path):
    for folder, allowed in RULES:
        if path == folder or path.startswith(folder + "/"):
            return folder, allowed
    return None, None


def inside(path, folder):
    return path == folder or path.startswith(folder + "/")


def check(root):
    problems = []
    for top in ("sweep", "worker", "analysis", "app"):
        for dirpath, _, files in os.walk(os.path.join(root, top)):
            for name in sorted(files):
                if not name.endswith(SOURCE_SUFFIXES):
                    continue
                full = os.path.join(dirpath, name)
                rel = os.path.relpath(full, root).replace(os.sep, "/")
                folder, allowed = folder_rule(rel)
                if folder is None:
                    continue
                with open(full, encoding="utf-8", errors="replace") as f:
                    for lineno, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        kind, target = m.groups()
                        where = f"{rel}:{lineno}"
                        if kind == "<":
                            for pattern, owners, what in OWNERS:
                                if pattern.search(target) and not any(inside(rel, o) for o in owners):
                                    problems.append(f"{where}: includes <{target}>, but only "
                                                    f"{', '.join(owners)} may use {what}")
                            continue
                        if "/" not in target:
                            problems.append(f"{where}: \"{target}\" is included by bare name; "
                                            "root it at the repository (\"sweep/core/...\")")
                            continue
                        if not os.path.exists(os.path.join(root, target)) and not target.endswith(
                                "version.cpp"):
                            problems.append(f"{where}: \"{target}\" does not exist")
                            continue
                        if inside(target, folder) or any(inside(target, a) for a in allowed):
                            continue
                        problems.append(f"{where}: {folder}/ includes \"{target}\"; {folder}/ may "
                                        f"include only {', '.join([folder] + allowed)}")
    return problems


def self_test():
    cases = {
        "upward core -> store": ("sweep/core/a.h", '#include "sweep/store/b.h"', "sweep/store/b.h"),
        "store -> engine": ("sweep/store/a.cpp", '#include "sweep/engine/b.h"', "sweep/engine/b.h"),
        "engine -> worker": ("sweep/engine/a.cpp", '#include "worker/b.h"', "worker/b.h"),
        "analysis -> app": ("analysis/a.cpp", '#include "app/emsweep/b.h"', "app/emsweep/b.h"),
        "worker -> analysis": ("worker/a.cpp", '#include "analysis/b.h"', "analysis/b.h"),
        "bare name": ("sweep/engine/a.cpp", '#include "b.h"', "sweep/engine/b.h"),
        "missing file": ("sweep/engine/a.cpp", '#include "sweep/core/nope.h"', None),
        "mpi outside sweep/mpi": ("sweep/engine/a.cpp", "#include <mpi.h>", None),
        "torch outside worker": ("sweep/store/a.cpp", "#include <torch/torch.h>", None),
        "hdf5 in the engine": ("sweep/engine/a.cpp", "#include <hdf5.h>", None),
    }
    failed = 0
    for name, (src, line, target) in cases.items():
        with tempfile.TemporaryDirectory() as root:
            for path, text in ((src, line + "\n"), (target, "// target\n")):
                if path:
                    os.makedirs(os.path.dirname(os.path.join(root, path)), exist_ok=True)
                    with open(os.path.join(root, path), "w") as f:
                        f.write(text)
            problems = check(root)
            if len(problems) != 1:
                failed += 1
                print(f"self-test '{name}': expected one problem, got {problems}")
    with tempfile.TemporaryDirectory() as root:
        os.makedirs(os.path.join(root, "sweep/engine"))
        os.makedirs(os.path.join(root, "sweep/core"))
        with open(os.path.join(root, "sweep/core/b.h"), "w") as f:
            f.write("// ok\n")
        with open(os.path.join(root, "sweep/engine/a.cpp"), "w") as f:
            f.write('#include "sweep/core/b.h"\n#include <vector>\n')
        if check(root):
            failed += 1
            print("self-test 'downward include': flagged a correct include")
    print(f"layout self-test: {len(cases) + 1 - failed}/{len(cases) + 1} cases behave")
    return 1 if failed else 0


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..")
    problems = check(os.path.abspath(root))
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} include(s) break the layout; see docs/architecture.md")
        return 1
    print("layout: every include points down (docs/architecture.md)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
