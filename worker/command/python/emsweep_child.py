"""The child side of emsweep's ``command`` task kind, for Python programs (stdlib only).

emsweep runs a ``command`` sweep's program once per attempt of every grid point and talks to it
through files named by environment variables (docs/command.md describes the protocol for any
language). This module wraps them::

    import emsweep_child as es

    p = es.params(defaults={"lr": 1e-3, "steps": 200})   # typed; the defaults when run by hand
    for step in range(p["steps"]):
        loss = ...
        es.report(step, loss=loss)                        # one point of the curve "loss"
    es.finish(final_loss=loss)                            # the point's metrics

emsweep puts this module's directory on ``PYTHONPATH``, so a child imports it without setup.
Outside emsweep (no ``EMSWEEP_PARAMS`` in the environment) the same script runs by hand:
``params`` returns the defaults, ``report`` and ``finish`` print to stderr and write nothing.

Metric values are numbers: ``int``, ``float`` or anything ``float()`` accepts with one value (a
NumPy scalar, a one-element tensor); ``None`` and ``float("nan")`` are NaN, infinities are
allowed. Booleans and strings are refused with a ``TypeError``, as emsweep would refuse them.
"""

import json
import math
import os
import sys
import tempfile
from typing import Any, Dict, Optional

__all__ = ["under_emsweep", "point", "params", "point_id", "attempt", "replicate", "workdir",
           "report", "finish"]

_point = None  # the parsed EMSWEEP_PARAMS file, read once
_events = None  # the EMSWEEP_EVENTS file, opened for appending on the first report()


def under_emsweep() -> bool:
    """True when this process was started by emsweep (``EMSWEEP_PARAMS`` is set)."""
    return bool(os.environ.get("EMSWEEP_PARAMS"))


def point() -> Optional[Dict[str, Any]]:
    """The whole parameters file emsweep wrote for this attempt, or None outside emsweep.

    Keys: ``point_id`` (16 hex digits), ``attempt`` (from 1), ``replicate`` (from 0), ``sweep``
    (the sweep's name), ``workdir`` (absolute path), ``params`` (name -> value) and ``types``
    (name -> "number", "integer", "string" or "boolean").
    """
    global _point
    if _point is None and under_emsweep():
        path = os.environ["EMSWEEP_PARAMS"]
        try:
            with open(path, encoding="utf-8") as f:
                _point = json.load(f)
        except (OSError, ValueError) as e:
            raise RuntimeError(f"emsweep_child: cannot read EMSWEEP_PARAMS={path}: {e}") from e
        if not isinstance(_point, dict) or not isinstance(_point.get("params"), dict):
            raise RuntimeError(f"emsweep_child: {path} holds no \"params\" object")
    return _point


def _typed(value: Any, kind: Optional[str]) -> Any:
    """``value`` as the Python type of emsweep's parameter type ``kind``."""
    if kind == "number" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)  # emsweep writes 1.0 as 1: still a float to the program
    if kind == "integer" and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def params(defaults: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """The point's parameters by name, typed: numbers are floats, integers ints, booleans bools.

    Under emsweep: ``defaults`` (if given) updated with every parameter emsweep passed, so the
    defaults also cover settings the sweep config does not declare. Outside emsweep: a copy of
    ``defaults`` (an empty dict without them), so a script also runs by hand.
    """
    out = dict(defaults or {})
    p = point()
    if p is not None:
        types = p.get("types") or {}
        for name, value in p["params"].items():
            out[name] = _typed(value, types.get(name))
    return out


def point_id() -> Optional[str]:
    """The grid point's id (16 hex digits), or None outside emsweep."""
    return os.environ.get("EMSWEEP_POINT_ID") or None


def attempt() -> int:
    """This attempt's number: 1 for the first run of a point, 2 for its first retry, ...; 1 by hand."""
    return int(os.environ.get("EMSWEEP_ATTEMPT") or 1)


def replicate() -> int:
    """The point's replicate number (from 0); 0 by hand."""
    return int(os.environ.get("EMSWEEP_REPLICATE") or 0)


def workdir() -> str:
    """This attempt's own work directory (absolute); the current directory by hand."""
    return os.environ.get("EMSWEEP_WORKDIR") or os.getcwd()


def _number(name: str, value: Any) -> Optional[float]:
    """``value`` as a JSON-ready number (None stays None, read as NaN); TypeError otherwise."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError(f"emsweep_child: metric {name!r} is a boolean; pass a number "
                        f"(e.g. float({name}))")
    if isinstance(value, int):
        return value
    if isinstance(value, (str, bytes)):
        raise TypeError(f"emsweep_child: metric {name!r} is a string, not a number: {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError) as e:
        raise TypeError(f"emsweep_child: metric {name!r} is not a number "
                        f"({type(value).__name__}): {e}") from e


def _format(metrics: Dict[str, Optional[float]]) -> str:
    return " ".join(f"{k}={'nan' if v is None else f'{v:.6g}'}" for k, v in metrics.items())


def report(step: float, **metrics: Any) -> None:
    """Appends one event: ``{"step": step, name: value, ...}``, a point on each named curve.

    Under emsweep the line goes to ``EMSWEEP_EVENTS`` and is flushed at once, so the curve
    survives a crash or a kill of this process. By hand it is printed to stderr.
    """
    global _events
    step_value = _number("step", step)
    if step_value is None or not math.isfinite(step_value):
        raise ValueError(f"emsweep_child: step must be a finite number, got {step!r}")
    values = {name: _number(name, v) for name, v in metrics.items()}
    path = os.environ.get("EMSWEEP_EVENTS")
    if not path:
        print(f"[emsweep_child] step {step_value:g}: {_format(values)}", file=sys.stderr, flush=True)
        return
    if _events is None:
        _events = open(path, "a", encoding="utf-8")
    line = json.dumps({"step": step_value, **values}, allow_nan=True)
    _events.write(line + "\n")
    _events.flush()


def finish(**metrics: Any) -> Optional[str]:
    """Writes the point's metrics, ``{name: value, ...}``, as its result; returns the path.

    Under emsweep the object goes to ``EMSWEEP_RESULT`` atomically (a temporary file in the same
    directory, fsynced, then renamed), so emsweep never reads half a result. NaN and infinities
    are written as Python writes them (``NaN``, ``Infinity``), which emsweep reads. Call it once,
    at the end; the program should then exit with status 0. By hand it prints to stderr.
    """
    global _events
    values = {name: _number(name, v) for name, v in metrics.items()}
    if _events is not None:
        _events.close()
        _events = None
    path = os.environ.get("EMSWEEP_RESULT")
    if not path:
        print(f"[emsweep_child] result: {_format(values)}", file=sys.stderr, flush=True)
        return None
    text = json.dumps(values, allow_nan=True)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".result-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path
