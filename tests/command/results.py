"""Reads an emsweep results file for the command kind's tests: table rows as dicts, fixed-size
strings decoded as UTF-8 (a decoding error is a test failure: the file promises valid UTF-8)."""
import math

import h5py


def rows(path, table):
    """Every row of /<table>, as {column: value}."""
    with h5py.File(path, "r", swmr=True) as f:
        data = f[table][:]
    out = []
    for r in data:
        row = {}
        for name in data.dtype.names:
            v = r[name]
            row[name] = v.decode("utf-8") if isinstance(v, bytes) else v.item()
        out.append(row)
    return out


def by(path, table, column):
    """Rows of /<table> keyed by one column's value (which must be unique)."""
    out = {}
    for r in rows(path, table):
        assert r[column] not in out, f"{table}: {column}={r[column]!r} appears twice"
        out[r[column]] = r
    return out


def curves(path):
    """{(point_id, curve): [(x, y), ...]} from /curves."""
    out = {}
    for r in rows(path, "curves"):
        out.setdefault((r["point_id"], r["curve"]), []).append((r["x"], r["y"]))
    return out


def expect(what, got, want):
    """Fails with both values unless got == want (NaN equal to NaN)."""
    same = got == want or (isinstance(got, float) and isinstance(want, float)
                           and math.isnan(got) and math.isnan(want))
    assert same, f"{what}: got {got!r}, expected {want!r}"


DONE, FAILED = 1, 2
