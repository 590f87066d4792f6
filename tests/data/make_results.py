#!/usr/bin/python3
"""Writes results files that follow docs/results-format.md (schema 1) for the analysis tests,
plus foreign and malformed files. Usage: make_results.py OUTDIR

probe.h5 imitates `emsweep run` on the probe kind: axes x in {-1, 0, 2}, kl_weight in {0, 1},
seed: {replicates: 3}; f = x^2 + sin(y) + kl_weight + gate_noise + domain_mix + u with y = 0,
gate_noise = domain_mix = 0, u = splitmix64(seed*1000003 + replicate) / 2^64 (53 bits),
g = sqrt(x) (NaN for x < 0), curve trace_i = f / (i + 1). Failures: every replicate of
(x=-1, kl_weight=1) and replicate 2 of (x=2, kl_weight=1).
"""
import hashlib
import math
import os
import sys

import h5py
import numpy as np

MASK = (1 << 64) - 1
SWEEP_SEED = 7


def splitmix64(x):
    x = (x + 0x9E3779B97F4A7C15) & MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK
    return x ^ (x >> 31)


def probe_u(replicate):
    h = splitmix64((SWEEP_SEED * 1000003 + replicate) & MASK)
    return (h >> 11) * 2.0**-53


def point_id(*parts):
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:8], "little")


def write_file(path, axes, axis_dtypes, rows, metric_names, curve_names, curves,
               schema_version=1, drop_columns=(), config_hash="c0ffee" * 10 + "abcd",
               base_hash="ba5e" * 16, shard=""):
    """axes: axis names in config order (the replicate axis 'seed' included);
    rows: dicts with every /points column; curves: (point_id, name, x, y) tuples."""
    fields = [("point_id", "<u8"), ("index", "<u8"), ("replicate", "<i8")]
    fields += [(a, axis_dtypes[a]) for a in axes if a != "seed"]
    fields += [("status", "i1"), ("attempts", "<i4"), ("rank", "<i4"), ("host", "S64"),
               ("start_time", "<f8"), ("end_time", "<f8"), ("seconds", "<f8")]
    fields += [(m, "<f8") for m in metric_names]
    fields += [("error", "S512")]
    fields = [f for f in fields if f[0] not in drop_columns]
    table = np.zeros(len(rows), dtype=np.dtype(fields))
    for i, r in enumerate(rows):
        for name, _ in fields:
            table[i][name] = r[name]
    with h5py.File(path, "w", libver="latest") as f:
        f.attrs["schema_version"] = np.int64(schema_version)
        f.attrs["sweep_name"] = "fixture"
        f.attrs["config_hash"] = config_hash
        f.attrs["base_hash"] = base_hash
        f.attrs["config_yaml"] = "sweep: {name: fixture}\n"
        f.attrs["task_kind"] = "probe"
        f.attrs["axis_names"] = np.array(axes, dtype=h5py.string_dtype())
        f.attrs["metric_names"] = np.array(metric_names, dtype=h5py.string_dtype())
        f.attrs["curve_names"] = np.array(curve_names, dtype=h5py.string_dtype())
        f.attrs["grid_points"] = np.uint64(len(rows))
        f.attrs["shard"] = shard
        f.attrs["emsweep_version"] = "fixture"
        f.attrs["host"] = "fixture-host"
        f.attrs["ranks"] = np.int64(2)
        f.create_dataset("points", data=table, maxshape=(None,), chunks=True)
        ctype = np.dtype([("point_id", "<u8"), ("curve", "S32"), ("x", "<f8"), ("y", "<f8")])
        c = np.array(curves, dtype=ctype) if curves else np.zeros(0, dtype=ctype)
        f.create_dataset("curves", data=c, maxshape=(None,), chunks=True)
        rtype = np.dtype([("start_time", "<f8"), ("ranks", "<i4"), ("host", "S64"),
                          ("command_line", "S1024")])
        f.create_dataset("runs", data=np.array([(1.7e9, 2, b"fixture-host", b"emsweep run x")],
                                               dtype=rtype), maxshape=(None,), chunks=True)


def probe_file(path):
    xs, kls, reps = [-1.0, 0.0, 2.0], [0.0, 1.0], 3
    rows, curves = [], []
    index = 0
    for x in xs:
        for kl in kls:
            for rep in range(reps):
                pid = point_id("probe", x, kl, rep, SWEEP_SEED)
                failed = (x == -1.0 and kl == 1.0) or (x == 2.0 and kl == 1.0 and rep == 2)
                u = probe_u(rep)
                f = x * x + math.sin(0.0) + kl + u
                g = math.sqrt(x) if x >= 0 else math.nan
                rows.append(dict(
                    point_id=pid, index=index, replicate=rep, x=x, kl_weight=kl,
                    status=2 if failed else 1, attempts=3 if failed else 1, rank=1 + index % 2,
                    host=b"fixture-host", start_time=1.7e9 + index, end_time=1.7e9 + index + 0.5,
                    seconds=0.5, f=math.nan if failed else f, g=math.nan if failed else g,
                    u=math.nan if failed else u,
                    error=b"probe: failure injected at x=" + str(x).encode() if failed else b""))
                if not failed:
                    curves += [(pid, b"trace", float(i), f / (i + 1)) for i in range(4)]
                index += 1
    write_file(path, ["x", "kl_weight", "seed"], {"x": "<f8", "kl_weight": "<f8"}, rows,
               ["f", "g", "u"], ["trace"], curves)


def typed_file(path):
    """A text axis, a bool axis and an integer axis."""
    rows = []
    index = 0
    for opt in [b"sgd", b"adam"]:
        for flag in [0, 1]:
            for steps in [10, 20]:
                for rep in range(2):
                    m = steps * (2 if opt == b"adam" else 1) + flag + rep
                    rows.append(dict(
                        point_id=point_id(opt, flag, steps, rep), index=index, replicate=rep,
                        optimizer=opt, shared=flag, steps=steps, status=1, attempts=1, rank=1,
                        host=b"h", start_time=0.0, end_time=1.0, seconds=1.0, m=float(m),
                        error=b""))
                    index += 1
    write_file(path, ["optimizer", "shared", "steps", "seed"],
               {"optimizer": "S16", "shared": "i1", "steps": "<i8"}, rows, ["m"], [], [])


def swmr_writer(path, ready, done):
    """Holds `path` open in SWMR write mode with 5 flushed rows until the file `done` exists,
    announcing through the file `ready`, like `emsweep run` in the middle of a sweep."""
    import time
    rows = []
    for rep in range(5):
        rows.append(dict(point_id=100 + rep, index=rep, replicate=rep, x=1.0, kl_weight=0.0,
                         status=1, attempts=1, rank=1, host=b"h", start_time=0.0, end_time=1.0,
                         seconds=1.0, f=float(rep), g=1.0, u=0.0, error=b""))
    write_file(path, ["x", "kl_weight", "seed"], {"x": "<f8", "kl_weight": "<f8"}, rows[:1],
               ["f", "g", "u"], [], [])
    f = h5py.File(path, "a", libver="latest")
    f.swmr_mode = True
    points = f["points"]
    for r in rows[1:]:
        row = np.zeros(1, dtype=points.dtype)
        for name in points.dtype.names:
            row[0][name] = r[name]
        points.resize((points.shape[0] + 1,))
        points[-1:] = row
    points.flush()
    f.flush()
    open(ready, "w").close()
    while not os.path.exists(done):
        time.sleep(0.05)
    f.close()


def main():
    if sys.argv[1] == "--swmr-writer":
        swmr_writer(*sys.argv[2:5])
        return
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    probe_file(os.path.join(out, "probe.h5"))
    typed_file(os.path.join(out, "typed.h5"))
    # Same layout, but schema 3 (a newer emsweep), and one without the metric column g.
    xs = [dict(point_id=1, index=0, replicate=0, x=0.0, kl_weight=0.0, status=1, attempts=1,
               rank=1, host=b"h", start_time=0.0, end_time=1.0, seconds=1.0, f=1.0, g=0.0, u=0.5,
               error=b"")]
    write_file(os.path.join(out, "newer.h5"), ["x", "kl_weight", "seed"],
               {"x": "<f8", "kl_weight": "<f8"}, xs, ["f", "g", "u"], [], [], schema_version=3)
    write_file(os.path.join(out, "malformed.h5"), ["x", "kl_weight", "seed"],
               {"x": "<f8", "kl_weight": "<f8"}, xs, ["f", "g", "u"], [], [],
               drop_columns=("g",))
    # An HDF5 file of some other program, and a file that is not HDF5 at all.
    with h5py.File(os.path.join(out, "foreign.h5"), "w") as f:
        f.create_dataset("images", data=np.arange(12).reshape(3, 4))
        f.attrs["creator"] = "some other tool"
    with open(os.path.join(out, "notes.h5"), "w") as f:
        f.write("x,y\n1,2\n")


if __name__ == "__main__":
    main()
