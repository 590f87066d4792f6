#!/usr/bin/python3
"""The `command` soak's checks on its children's logs (tests/soak/soak.sh, tests/soak/soak_child.sh).

Every start of a child appends "start ATTEMPT PID" to LOGS/POINT_ID (16 hex digits).

  check_command.py snapshot FILE LOGS
      prints "POINT_ID STARTS" for every point FILE records final (done or failed): STARTS is
      the number of starts in its log at that moment.
  check_command.py final FILE LOGS RECORDED REFERENCE
      every point of FILE is done or failed; a failed one has its cause (outcome, and the exit
      code, signal or timeout it names) and a final row in /failures; every /failures row names
      its cause too; no point recorded in a snapshot (RECORDED, the snapshots' lines) started
      again afterwards; no point started more often than it was dispatched (attempts); and the
      /failures rows of final failures carry the causes of the REFERENCE's.
Exits 0 when all hold, 1 with every problem found (the first ten)."""
import os
import sys

import h5py
import numpy as np

DONE, FAILED = 1, 2


def text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def starts(logs, point_id):
    try:
        with open(os.path.join(logs, f"{int(point_id):016x}")) as f:
            return [line.split() for line in f if line.startswith("start ")]
    except FileNotFoundError:
        return []


def load(path):
    with h5py.File(path, "r", swmr=True) as f:
        return f["points"][:], f["failures"][:]


def cause_problem(row):
    """What is missing from a failed row's cause, or None."""
    outcome = text(row["outcome"])
    if outcome == "exit" and row["exit_code"] > 0:
        return None
    if outcome == "signal" and row["signal"] > 0:
        return None
    if outcome == "timeout" and row["signal"] in (9, 15):
        return None
    return (f"outcome {outcome!r}, exit code {int(row['exit_code'])}, signal {int(row['signal'])}"
            " name no cause")


def snapshot(path, logs):
    points, _ = load(path)
    for p in points:
        if p["status"] in (DONE, FAILED):
            print(f"{int(p['point_id']):016x} {len(starts(logs, p['point_id']))}")


def final(path, logs, recorded, reference):
    points, failures = load(path)
    _, ref_failures = load(reference)
    problems = []
    for p in points:
        pid = f"{int(p['point_id']):016x}"
        if p["status"] not in (DONE, FAILED):
            problems.append(f"point {pid}: status {int(p['status'])}, neither done nor failed")
            continue
        n = len(starts(logs, p["point_id"]))
        if p["status"] == DONE and n == 0:
            problems.append(f"point {pid}: done, but its child never started")
        if n > p["attempts"]:
            problems.append(f"point {pid}: its child started {n} times in {int(p['attempts'])} attempts")
        if p["status"] == FAILED:
            why = cause_problem(p)
            if why:
                problems.append(f"point {pid}: failed, but {why}")
            rows = failures[(failures["point_id"] == p["point_id"]) & (failures["final"] == 1)]
            if len(rows) != 1:
                problems.append(f"point {pid}: failed, with {len(rows)} final rows in /failures")
    for row in failures:
        why = cause_problem(row)
        if why:
            problems.append(f"/failures row of point {int(row['point_id']):016x} attempt {int(row['attempt'])}: {why}")

    def causes(rows):
        rows = rows[rows["final"] == 1]
        return {int(r["point_id"]): (text(r["outcome"]), int(r["exit_code"]), int(r["signal"])) for r in rows}

    if causes(failures) != causes(ref_failures):
        problems.append(f"final failures differ from the reference's: {sorted(causes(failures).items())[:5]} "
                        f"!= {sorted(causes(ref_failures).items())[:5]}")

    checked = 0
    with open(recorded) as f:
        for line in f:
            pid, n = line.split()
            now = len(starts(logs, int(pid, 16)))
            checked += 1
            if now != int(n):
                problems.append(f"point {pid}: recorded after {n} starts, but started {now} times by the end")
    done = int((points["status"] == DONE).sum())
    print(f"check_command: {len(points)} points ({done} done, {len(points) - done} failed, each with its "
          f"cause), {len(failures)} /failures rows with causes, {checked} recorded points from "
          f"snapshots never started again")
    for p in problems[:10]:
        print("PROBLEM:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    if sys.argv[1] == "snapshot":
        snapshot(sys.argv[2], sys.argv[3])
    else:
        sys.exit(final(*sys.argv[2:6]))
