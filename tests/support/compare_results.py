#!/usr/bin/python3
"""Compares an emsweep results file with a reference run of the same sweep, independent of row
order: the same set of point ids, no duplicate rows, and bit-identical axis values, status,
metrics (NaN equal to NaN) and curves. Columns that describe how a point ran (attempts, rank,
host, times, index, error) may differ. The engine, soak and fault tests all use it.

Usage: compare_results.py REFERENCE.h5 CANDIDATE.h5 [--expect N] [--allow-failed INDEX...]
  --expect N          the candidate must hold N points
  --allow-failed I..  points at these grid indices may be recorded failed in the candidate
Exits 0 when equal, 1 with every difference found (the first five values of each kind)."""
import sys

import h5py
import numpy as np

RUN_COLUMNS = {"attempts", "rank", "host", "start_time", "end_time", "seconds", "index", "error",
               "peak_rss_mb"}


def load(path):
    with h5py.File(path, "r", swmr=True) as f:
        return f["points"][:], f["curves"][:]


def arguments(argv):
    expect = int(argv[argv.index("--expect") + 1]) if "--expect" in argv else None
    allow_failed = set()
    if "--allow-failed" in argv:
        for a in argv[argv.index("--allow-failed") + 1:]:
            if a.startswith("--"):
                break
            allow_failed.add(int(a))
    return argv[1], argv[2], expect, allow_failed


def same_values(a, b):
    if a.dtype.kind == "f":
        return (a.view(np.uint64) == b.view(np.uint64)) | (np.isnan(a) & np.isnan(b))
    return a == b


def main():
    ref_path, cand_path, expect, allow_failed = arguments(sys.argv)
    ref, ref_curves = load(ref_path)
    cand, cand_curves = load(cand_path)
    problems = []
    for name, rows in (("reference", ref), ("candidate", cand)):
        ids, counts = np.unique(rows["point_id"], return_counts=True)
        if (counts > 1).any():
            problems.append(f"{name}: {int((counts > 1).sum())} point ids appear more than once")
    if expect is not None and len(cand) != expect:
        problems.append(f"candidate has {len(cand)} points, expected {expect}")
    missing = np.setdiff1d(ref["point_id"], cand["point_id"])
    extra = np.setdiff1d(cand["point_id"], ref["point_id"])
    if len(missing):
        problems.append(f"{len(missing)} points of the reference are missing")
    if len(extra):
        problems.append(f"{len(extra)} points are not in the reference")

    # Row pairs by point id; points allowed to fail and recorded failed are left out.
    common = np.intersect1d(ref["point_id"], cand["point_id"])
    r = ref[np.isin(ref["point_id"], common)]
    c = cand[np.isin(cand["point_id"], common)]
    r, c = r[np.argsort(r["point_id"], kind="stable")], c[np.argsort(c["point_id"], kind="stable")]
    if len(r) == len(c):
        excused = np.isin(c["index"], list(allow_failed)) & (c["status"] == 2)
        r, c = r[~excused], c[~excused]
        for col in r.dtype.names:
            if col in RUN_COLUMNS:
                continue
            same = same_values(r[col], c[col])
            for i in np.flatnonzero(~same)[:5]:
                problems.append(f"point {int(r['point_id'][i]):016x} column {col}: {r[col][i]!r} != {c[col][i]!r}")
            if (~same).sum() > 5:
                problems.append(f"... column {col} differs at {int((~same).sum())} points")
        skip_ids = set(c["point_id"][excused].tolist()) if excused.any() else set()
    else:
        skip_ids = set()

    def curve_rows(rows):
        keep = rows[~np.isin(rows["point_id"], list(skip_ids))] if skip_ids else rows
        return keep[np.lexsort((keep["x"], keep["curve"], keep["point_id"]))]

    rc, cc = curve_rows(ref_curves), curve_rows(cand_curves)
    if len(rc) != len(cc) or not (np.array_equal(rc["point_id"], cc["point_id"]) and
                                  np.array_equal(rc["curve"], cc["curve"]) and
                                  np.array_equal(rc["x"].view(np.uint64), cc["x"].view(np.uint64)) and
                                  np.array_equal(rc["y"].view(np.uint64), cc["y"].view(np.uint64))):
        problems.append(f"curves differ: {len(rc)} reference rows, {len(cc)} candidate rows")

    status, counts = np.unique(cand["status"], return_counts=True)
    print(f"compare_results: {cand_path}: {len(cand)} points, {len(cand_curves)} curve rows; "
          f"status counts {dict(zip(status.tolist(), counts.tolist()))}")
    for p in problems:
        print("DIFFERENCE:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
