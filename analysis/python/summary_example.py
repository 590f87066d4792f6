#!/usr/bin/python3
"""Reproduces `emsweep summary FILE --by AXES --metric METRICS --csv` with h5py and pandas.

    summary_example.py results/probe.h5 --by kl_weight --metric f,u
    summary_example.py results/probe.h5 --by kl_weight --check summary.csv   # compare

Each group of axis values gets, per metric, the mean, the sample standard deviation, the number
of values and the half-width of the 95% confidence interval of the mean (Student's t), over
the points that are done; failed points are counted, not averaged in.
"""
import argparse
import math
import sys

import h5py
import numpy as np
import pandas as pd


def t_quantile(p, df):
    """Student's t quantile by bisection on the CDF, the density integrated with Simpson's
    rule (independent of emsweep's incomplete-beta implementation)."""
    norm = math.exp(math.lgamma((df + 1) / 2) - math.lgamma(df / 2)) / math.sqrt(df * math.pi)

    def cdf(t, steps=4000):
        h = t / steps
        pdf = lambda x: norm * (1 + x * x / df) ** (-(df + 1) / 2)
        s = pdf(0) + pdf(t) + sum((4 if i % 2 else 2) * pdf(i * h) for i in range(1, steps))
        return 0.5 + s * h / 3

    lo, hi = 0.0, 1.0
    while cdf(hi) < p:
        lo, hi = hi, hi * 2
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if cdf(mid) < p else (lo, mid)
    return (lo + hi) / 2


def summary(path, by=None, metrics=None):
    with h5py.File(path, "r", swmr=True) as f:  # swmr: the file may still be being written
        points = pd.DataFrame(f["points"][:])
        axes = [str(a) for a in f.attrs["axis_names"]]
        metrics = metrics or [str(m) for m in f.attrs["metric_names"]]
    for col in points.columns:  # fixed-length strings arrive as bytes
        if points[col].dtype == object:
            points[col] = points[col].str.decode("utf-8")
    by = by or [a for a in axes if a in points.columns and a != "replicate"]
    counts = points.groupby(by).status.agg(done=lambda s: (s == 1).sum(),
                                           failed=lambda s: (s == 2).sum())
    stats = points[points.status == 1].groupby(by)[metrics].agg(["mean", "std", "count"])
    stats.columns = [f"{m}|{s}" for m, s in stats.columns]
    table = counts.join(stats, how="left")
    out = table[["done", "failed"]].copy()
    for m in metrics:
        n = table[m + "|count"].fillna(0).astype(int)
        sd = table[m + "|std"]
        out[m + "_mean"] = table[m + "|mean"]
        out[m + "_std"] = sd
        out[m + "_n"] = n
        out[m + "_ci95"] = [t_quantile(0.975, k - 1) * s / math.sqrt(k) if k >= 2 else np.nan
                            for k, s in zip(n, sd)]
    return out.reset_index()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("file")
    ap.add_argument("--by", default="", help="comma-separated axes")
    ap.add_argument("--metric", default="", help="comma-separated metrics")
    ap.add_argument("--check", help="emsweep's `summary --csv` output to compare with")
    args = ap.parse_args()
    split = lambda s: [x for x in s.split(",") if x]
    mine = summary(args.file, split(args.by), split(args.metric))
    if not args.check:
        mine.to_csv(sys.stdout, index=False)
        return 0
    theirs = pd.read_csv(args.check)
    if list(theirs.columns) != list(mine.columns) or len(theirs) != len(mine):
        print(f"columns or rows differ:\n{list(theirs.columns)}\n{list(mine.columns)}")
        return 1
    bad = 0
    for col in mine.columns:
        a, b = mine[col].to_numpy(), theirs[col].to_numpy()
        if a.dtype.kind in "biuf" and b.dtype.kind in "biuf":  # bools read as 0/1
            ok = np.isclose(a.astype(float), b.astype(float), rtol=1e-9, atol=1e-12,
                            equal_nan=True)
        else:
            ok = a.astype(str) == b.astype(str)
        if not ok.all():
            bad += 1
            print(f"column {col} differs:\n  pandas  {a}\n  emsweep {b}")
    print(f"{len(mine)} groups x {len(mine.columns)} columns: "
          f"{'identical' if not bad else f'{bad} columns differ'} (rtol 1e-9)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
