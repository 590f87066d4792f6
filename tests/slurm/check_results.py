#!/usr/bin/env python3
"""Checks an emsweep results file written under Slurm, reading it with h5py (independently of
emsweep's own reader): every expected point present exactly once and done, how many runs
wrote it, whether a later run resumed rather than redid the work, and equality with another
file (a merged set of shards against a single run). Layout: docs/results-format.md.

Exit status 0 when every check holds; 1 with one line per failed check otherwise."""
import argparse
import sys

import h5py
import numpy as np


def text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def names(attr):
    return [text(x) for x in attr]


def load(path):
    with h5py.File(path, "r") as f:
        points = f["points"][:]
        curves = f["curves"][:] if "curves" in f else None
        runs = f["runs"][:] if "runs" in f else np.zeros(0)
        axes = names(f.attrs["axis_names"])
        metrics = names(f.attrs["metric_names"])
    return points, curves, runs, axes, metrics


def by_id(points):
    order = np.argsort(points["point_id"], kind="stable")
    return points[order]


def same_values(a, b):
    """Exact equality, NaN equal to NaN (the same computation gives the same bits)."""
    if a.dtype.kind == "f":
        return bool(np.all((a == b) | (np.isnan(a) & np.isnan(b))))
    return bool(np.all(a == b))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file")
    ap.add_argument("--points", type=int, required=True, help="points the sweep has")
    ap.add_argument("--runs", type=int, help="exact number of runs (rows of /runs)")
    ap.add_argument("--min-runs", type=int, help="at least this many runs")
    ap.add_argument("--resumed", action="store_true",
                    help="the first run recorded some but not all points and later runs kept them")
    ap.add_argument("--single-attempt", action="store_true",
                    help="every point dispatched once (a clean stop hands points back)")
    ap.add_argument("--same-as", help="another results file that must hold the same points")
    a = ap.parse_args()

    problems = []
    points, curves, runs, axes, metrics = load(a.file)
    ids = points["point_id"]
    n_unique = len(np.unique(ids))
    if len(points) != a.points:
        problems.append(f"{len(points)} rows in /points, expected {a.points}")
    if n_unique != len(points):
        problems.append(f"{len(points) - n_unique} duplicate point_id rows")
    if len(np.unique(points["index"])) != len(points):
        problems.append("duplicate grid indices in /points")
    not_done = int(np.sum(points["status"] != 1))
    if not_done:
        problems.append(f"{not_done} points not done (status != 1)")
    if a.single_attempt and np.any(points["attempts"] != 1):
        bad = points[points["attempts"] != 1]
        problems.append(f"{len(bad)} points dispatched more than once "
                        f"(attempts {sorted(set(bad['attempts'].tolist()))})")
    if a.runs is not None and len(runs) != a.runs:
        problems.append(f"{len(runs)} runs recorded in /runs, expected {a.runs}")
    if a.min_runs is not None and len(runs) < a.min_runs:
        problems.append(f"{len(runs)} runs recorded in /runs, expected at least {a.min_runs}")
    first_run_points = None
    if a.resumed:
        if len(runs) < 2:
            problems.append("--resumed: fewer than 2 runs recorded")
        else:
            second_start = float(np.sort(runs["start_time"])[1])
            first_run_points = int(np.sum(points["end_time"] < second_start))
            if first_run_points == 0:
                problems.append("the first run recorded no point that later runs kept")
            if first_run_points >= len(points):
                problems.append("the first run recorded every point: nothing was resumed")
    if a.same_as:
        other, other_curves, _, other_axes, other_metrics = load(a.same_as)
        if (axes, metrics) != (other_axes, other_metrics):
            problems.append(f"axes/metrics differ: {axes} {metrics} vs {other_axes} {other_metrics}")
        elif len(other) != len(points) or not np.array_equal(
                np.sort(other["point_id"]), np.sort(ids)):
            problems.append(f"the point ids differ from {a.same_as}")
        else:
            mine, theirs = by_id(points), by_id(other)
            columns = ["index", "replicate", "status"] + \
                [c for c in axes if c in points.dtype.names] + metrics
            for c in columns:
                if not same_values(mine[c], theirs[c]):
                    problems.append(f"column {c} differs from {a.same_as}")
            if (curves is None) != (other_curves is None):
                problems.append("one file has /curves, the other not")
            elif curves is not None:
                key = lambda c: np.lexsort((c["x"], c["curve"], c["point_id"]))  # noqa: E731
                c1, c2 = curves[key(curves)], other_curves[key(other_curves)]
                if len(c1) != len(c2) or not all(
                        same_values(c1[k], c2[k]) for k in ("point_id", "curve", "x", "y")):
                    problems.append(f"/curves differ from {a.same_as} ({len(c1)} vs {len(c2)} rows)")

    summary = (f"{a.file}: {len(points)} points ({n_unique} distinct, {not_done} not done), "
               f"{len(runs)} run(s)")
    if first_run_points is not None:
        summary += f", {first_run_points} recorded by the first run"
    if a.same_as:
        summary += f", compared with {a.same_as}"
    print(summary)
    for p in problems:
        print(f"  FAIL: {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
