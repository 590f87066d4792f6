#!/usr/bin/python3
"""A stand-in for emsweep's side of the child protocol, to try a `command` child by hand.

Reads a `command` sweep config, takes one grid point from --set NAME=VALUE (other parameters at
their defaults), and runs the child as docs/command.md says emsweep does: argv rendered from
task.argv (no shell), in the current directory, with a fresh work directory, stdin /dev/null,
stdout/stderr to files there, and the EMSWEEP_* environment. Then it checks what the child left
(exit status 0, a result with every declared metric, events) and prints one JSON line:
    {"point_id": ..., "workdir": ..., "exit": 0, "metrics": {...}, "curves": {"loss": 31, ...}}
Exit status: 0 when the point would be recorded as done, 1 when not (the reason on stderr).

This is not emsweep: point ids here are a stand-in hash, nothing is supervised or recorded. It
exists to test the examples and the helper before (and apart from) the real `command` kind.
Usage: drive_child.py CONFIG [--set NAME=VALUE ...] [--replicate N] [--attempt N] [--root DIR]
"""

import argparse
import hashlib
import json
import math
import os
import re
import subprocess
import sys
import tempfile

import yaml

HELPER_DIR = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                           "worker", "command", "python"))
LAUNCHER_PREFIXES = ("OMPI_", "PMIX_", "PMI_", "PRTE_", "HYDRA_", "I_MPI_", "MPI_LOCALRANKID",
                     "SLURM_PROCID", "SLURM_LOCALID", "SLURM_NODEID", "SLURM_STEP_", "SLURM_TASK_PID")


def param_type(default):
    """emsweep's type of a parameter whose default is `default`."""
    if isinstance(default, bool):
        return "boolean"
    if isinstance(default, int):
        return "integer"
    if isinstance(default, float):
        return "number"
    if isinstance(default, str):
        return "string"
    raise SystemExit(f"unsupported default {default!r}")


def as_type(value, kind, name):
    if kind == "number" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind == "integer" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind == "boolean" and isinstance(value, bool):
        return value
    if kind == "string":
        return str(value)
    raise SystemExit(f"--set {name}: expected {kind}, got {value!r}")


def text(value):
    """A value written as emsweep's results file records it: shortest round-trip numbers
    (1.0 as "1", 1e-05 as "1e-05"), true/false."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    return str(value)


def render(argv, values):
    """task.argv with {name} placeholders filled in; {{ and }} are literal braces."""
    out = []
    for arg in argv:
        def sub(m):
            if m.group(0) in ("{{", "}}"):
                return m.group(0)[0]
            name = m.group(1)
            if name not in values:
                raise SystemExit(f"argv {arg!r}: unknown placeholder {{{name}}}")
            return values[name]
        out.append(re.sub(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}", sub, str(arg)))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("config")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    ap.add_argument("--replicate", type=int, default=0)
    ap.add_argument("--attempt", type=int, default=1)
    ap.add_argument("--root", help="where work directories go (default: a new temporary one)")
    args = ap.parse_args()

    with open(args.config) as f:
        cfg = yaml.safe_load(f)
    task = cfg["task"]
    assert task["kind"] == "command", "not a command sweep"
    params, types = {}, {}
    for name, spec in (task.get("params") or {}).items():
        default = spec["default"] if isinstance(spec, dict) else spec
        types[name] = param_type(default)
        params[name] = default
    for item in args.set:
        name, _, value = item.partition("=")
        if name not in params:
            raise SystemExit(f"--set {name}: not a parameter of {args.config}")
        params[name] = as_type(yaml.safe_load(value), types[name], name)

    canonical = json.dumps({k: text(v) for k, v in sorted(params.items())} | {"~r": args.replicate})
    point_id = hashlib.sha256(canonical.encode()).hexdigest()[:16]
    root = args.root or tempfile.mkdtemp(prefix="drive-child-")
    workdir = os.path.abspath(os.path.join(root, point_id, f"a{args.attempt}"))
    os.makedirs(workdir)

    sweep_name = (cfg.get("sweep") or {}).get("name", "sweep")
    with open(os.path.join(workdir, "params.json"), "w") as f:
        json.dump({"point_id": point_id, "attempt": args.attempt, "replicate": args.replicate,
                   "sweep": sweep_name, "workdir": workdir, "params": params, "types": types}, f)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(LAUNCHER_PREFIXES) and not k.startswith("EMSWEEP_")}
    env.update({
        "EMSWEEP_PARAMS": os.path.join(workdir, "params.json"),
        "EMSWEEP_RESULT": os.path.join(workdir, "result.json"),
        "EMSWEEP_EVENTS": os.path.join(workdir, "events.jsonl"),
        "EMSWEEP_WORKDIR": workdir, "EMSWEEP_POINT_ID": point_id,
        "EMSWEEP_ATTEMPT": str(args.attempt), "EMSWEEP_REPLICATE": str(args.replicate),
        "PYTHONPATH": os.pathsep.join(p for p in (HELPER_DIR, env.get("PYTHONPATH")) if p),
        "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    })
    for name, value in params.items():
        env["EMSWEEP_PARAM_" + name.upper()] = text(value)

    placeholders = {name: text(v) for name, v in params.items()}
    placeholders.update(point_id=point_id, workdir=workdir, attempt=str(args.attempt),
                        replicate=str(args.replicate))
    for axis, spec in (cfg.get("grid") or {}).items():
        if isinstance(spec, dict) and "replicates" in spec:
            placeholders[axis] = str(args.replicate)
    argv = render(task["argv"], placeholders)
    timeout = (cfg.get("run") or {}).get("timeout", 3600)
    with open(os.path.join(workdir, "stdout.txt"), "wb") as out, \
            open(os.path.join(workdir, "stderr.txt"), "wb") as err:
        try:
            rc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env,
                                timeout=timeout, start_new_session=True).returncode
        except subprocess.TimeoutExpired:
            rc = "timeout"

    def failed(why):
        print(f"drive_child: {why} (argv {argv}; work directory {workdir})", file=sys.stderr)
        sys.exit(1)

    if rc != 0:
        with open(os.path.join(workdir, "stderr.txt"), "rb") as f:
            tail = f.read()[-2000:].decode(errors="replace")
        failed(f"exit {rc}; stderr ends:\n{tail}")
    try:
        with open(env["EMSWEEP_RESULT"]) as f:
            result = json.load(f)
    except OSError:
        failed("no result")
    except ValueError as e:
        failed(f"bad result: {e}")
    metrics = {}
    for m in task.get("metrics") or []:
        name, nan_ok = (m["name"], m.get("nan") == "allowed") if isinstance(m, dict) else (m, False)
        v = result.get(name, "missing")
        if v == "missing":
            failed(f"result lacks metric {name!r}")
        if not isinstance(v, (int, float)) and v is not None or isinstance(v, bool):
            failed(f"metric {name!r} is not a number: {v!r}")
        v = math.nan if v is None else float(v)
        if math.isnan(v) and not nan_ok:
            failed(f"metric {name!r} is NaN")
        metrics[name] = v
    curves = {}
    if os.path.exists(env["EMSWEEP_EVENTS"]):
        with open(env["EMSWEEP_EVENTS"]) as f:
            for line in f:
                event = json.loads(line)
                for k in event:
                    if k != "step":
                        curves[k] = curves.get(k, 0) + 1
    for c in task.get("curves") or []:
        if c not in curves:
            failed(f"no events for curve {c!r}")
    print(json.dumps({"point_id": point_id, "workdir": workdir, "exit": rc, "params": params,
                      "metrics": metrics, "curves": curves}))


if __name__ == "__main__":
    main()
