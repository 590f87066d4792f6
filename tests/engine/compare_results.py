#!/usr/bin/python3
"""Compare two emsweep results files row by row, independent of row order.

Usage: compare_results.py REFERENCE CANDIDATE [--expect N]
Checks: the same set of point ids, no duplicates, and bitwise-identical axis values, status,
metrics (NaN equal to NaN) and curves. Exits 1 with a reason on the first difference.
"""
import sys
import h5py
import numpy as np

SKIP = {"attempts", "rank", "host", "start_time", "end_time", "seconds", "index"}


def load(path):
    with h5py.File(path, "r", swmr=True) as f:
        points = f["points"][:]
        curves = f["curves"][:]
        metrics = [m.decode() if isinstance(m, bytes) else m for m in f.attrs["metric_names"]]
    return points, curves, metrics


def fail(msg):
    print("compare_results: " + msg)
    sys.exit(1)


def main():
    ref_path, cand_path = sys.argv[1], sys.argv[2]
    expect = int(sys.argv[sys.argv.index("--expect") + 1]) if "--expect" in sys.argv else None
    ref, ref_curves, metrics = load(ref_path)
    cand, cand_curves, _ = load(cand_path)
    for name, rows in (("reference", ref), ("candidate", cand)):
        ids = rows["point_id"]
        if len(np.unique(ids)) != len(ids):
            fail(f"{name} has duplicate point ids ({len(ids) - len(np.unique(ids))})")
    if expect is not None and len(cand) != expect:
        fail(f"candidate has {len(cand)} points, expected {expect}")
    if len(ref) != len(cand):
        fail(f"reference has {len(ref)} points, candidate {len(cand)}")
    ref = ref[np.argsort(ref["point_id"])]
    cand = cand[np.argsort(cand["point_id"])]
    if not np.array_equal(ref["point_id"], cand["point_id"]):
        fail("the sets of point ids differ")
    for col in ref.dtype.names:
        if col in SKIP:
            continue
        a, b = ref[col], cand[col]
        if a.dtype.kind == "f":
            same = (a.view(np.uint64) == b.view(np.uint64)) | (np.isnan(a) & np.isnan(b))
        else:
            same = a == b
        if not np.all(same):
            i = int(np.argmin(same))
            fail(f"column {col} differs at point {ref['point_id'][i]:016x}: {a[i]!r} != {b[i]!r}")
    key = lambda c: np.lexsort((c["x"], c["curve"], c["point_id"]))
    rc, cc = ref_curves[key(ref_curves)], cand_curves[key(cand_curves)]
    if len(rc) != len(cc) or not (np.array_equal(rc["point_id"], cc["point_id"]) and
                                  np.array_equal(rc["curve"], cc["curve"]) and
                                  np.array_equal(rc["y"].view(np.uint64), cc["y"].view(np.uint64))):
        fail(f"curves differ ({len(rc)} vs {len(cc)} rows)")
    print(f"compare_results: {len(cand)} points and {len(cc)} curve rows identical")


if __name__ == "__main__":
    main()
