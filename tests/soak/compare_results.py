#!/usr/bin/python3
"""Compares a results file with a reference run of the same sweep: the same points (by
point_id), no duplicate rows, the same index, replicate, status, axis values and metrics
(bit for bit: the probe is deterministic) and the same curves. Columns that describe how the
point ran (attempts, rank, host, times) may differ. Usage:
  compare_results.py REFERENCE.h5 CANDIDATE.h5 [--allow-failed INDEX...]
Exits 0 when equal, 1 with a list of differences otherwise."""
import sys

import h5py
import numpy as np

RUN_COLUMNS = {"attempts", "rank", "host", "start_time", "end_time", "seconds", "error"}


def load(path):
    with h5py.File(path, "r") as f:
        points = f["points"][:]
        curves = f["curves"][:]
        metrics = [m.decode() if isinstance(m, bytes) else m for m in f.attrs["metric_names"]]
    return points, curves, metrics


def main():
    ref_path, cand_path = sys.argv[1], sys.argv[2]
    allow_failed = set()
    if "--allow-failed" in sys.argv:
        allow_failed = {int(a) for a in sys.argv[sys.argv.index("--allow-failed") + 1:]}
    ref, ref_curves, metrics = load(ref_path)
    cand, cand_curves, _ = load(cand_path)
    problems = []
    for name, pts in (("reference", ref), ("candidate", cand)):
        ids, counts = np.unique(pts["point_id"], return_counts=True)
        if (counts > 1).any():
            problems.append(f"{name}: {int((counts > 1).sum())} point_ids appear more than once")
    ref_by_id = {int(r["point_id"]): r for r in ref}
    cand_by_id = {int(r["point_id"]): r for r in cand}
    missing = set(ref_by_id) - set(cand_by_id)
    extra = set(cand_by_id) - set(ref_by_id)
    if missing:
        problems.append(f"{len(missing)} points of the reference are missing")
    if extra:
        problems.append(f"{len(extra)} points are not in the reference")
    columns = [c for c in ref.dtype.names if c not in RUN_COLUMNS]
    differing = 0
    for pid in set(ref_by_id) & set(cand_by_id):
        a, b = ref_by_id[pid], cand_by_id[pid]
        if int(b["index"]) in allow_failed and int(b["status"]) == 2:
            continue
        for c in columns:
            x, y = a[c], b[c]
            same = (np.isnan(x) and np.isnan(y)) if isinstance(x, (float, np.floating)) and np.isnan(x) else x == y
            if not same:
                differing += 1
                if differing <= 5:
                    problems.append(f"point {pid:016x} column {c}: {x!r} != {y!r}")
    if differing > 5:
        problems.append(f"... {differing} differing values in all")
    skip_ids = {pid for pid, r in cand_by_id.items() if int(r["index"]) in allow_failed}

    def curve_rows(rows):
        keep = [r for r in rows if int(r["point_id"]) not in skip_ids]
        return sorted((int(r["point_id"]), bytes(r["curve"]), float(r["x"]), float(r["y"])) for r in keep)

    rc, cc = curve_rows(ref_curves), curve_rows(cand_curves)
    if rc != cc:
        problems.append(f"curves differ: {len(rc)} reference rows, {len(cc)} candidate rows")
    status = np.unique(cand["status"], return_counts=True)
    print(f"{cand_path}: {len(cand)} rows, {len(cand_by_id)} distinct points, "
          f"{len(cand_curves)} curve rows; status counts {dict(zip(status[0].tolist(), status[1].tolist()))}; "
          f"max attempts {int(cand['attempts'].max()) if len(cand) else 0}")
    for p in problems:
        print("DIFFERENCE:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
