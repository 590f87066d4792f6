#!/usr/bin/env bash
# A journal damaged in the middle (issue 18): a finished 204-point probe sweep gets 64 bytes of
# its journal overwritten halfway through (inside a result record). Then `status` reports the
# damage without changing a byte, `verify` fails (exit 5), `run` warns, keeps every intact
# record after the damage and runs exactly the points whose results were lost, and `verify`
# passes. Finally a tampered view: `verify` names the cell, `repair` rebuilds, `verify` passes.
source "$(dirname "$0")/common.sh"
cfg="$EMSWEEP_SRC/configs/probe-quickstart.yaml"
"$EMSWEEP" run "$cfg" -o p.h5 --set task.sleep_ms=0 --quiet
"$EMSWEEP" verify p.h5 || die "verify fails on an intact finished sweep"
cp p.h5 ref.h5
cp p.h5.journal original.journal

# Overwrite 64 bytes (fixed seed) from 10 bytes into the first result record that starts after
# the journal's midpoint; work out independently which records that destroys.
$PY - <<'PY' > damage.txt
import random, struct
data = bytearray(open("original.journal", "rb").read())
frames, pos = [], 16
while pos < len(data):
    length, rtype = struct.unpack_from("<IB", data, pos)
    frames.append((pos, pos + 9 + length, rtype, data[pos + 5:pos + 5 + length]))
    pos += 9 + length
assert pos == len(data)
start = next(f[0] for f in frames if f[0] >= len(data) // 2 and f[2] == 3) + 10
rng = random.Random(18)
for i in range(64):
    data[start + i] = rng.randrange(256)
open("p.h5.journal", "wb").write(data)
touched = [f for f in frames if f[0] < start + 64 and f[1] > start]
lost = sorted(struct.unpack_from("<Q", f[3], 8)[0] for f in touched if f[2] == 3)
after = sum(1 for f in frames if f[0] >= start + 64)
print(start, len(touched), len(lost), after, len(frames) - len(touched), " ".join(map(str, lost)))
PY
read -r start touched lost after kept lost_points < damage.txt
echo "overwrote 64 bytes at $start: $touched records destroyed ($lost results: points $lost_points), $after after it"
[ "$lost" -ge 1 ] || die "the damage destroyed no result record"

sums() { sha256sum p.h5 p.h5.journal; }
before=$(sums)
"$EMSWEEP" status p.h5 > status.txt || die "status failed on a damaged journal"
cat status.txt
grep -q "WARNING  the journal p.h5.journal is DAMAGED in the middle" status.txt || die "status does not warn"
grep -q "$after intact records after the damage are kept ($kept in all" status.txt || die "status miscounts the kept records"
grep -q "$lost point.* no final record" status.txt || die "status does not count the $lost points to run again"
grep -q "$((204 - lost)) done" status.txt || die "status does not count $((204 - lost)) done"
"$EMSWEEP" status p.h5 --json | $PY -c '
import json, sys
d = json.load(sys.stdin)["journal_damage"]
start, touched, after, kept = map(int, sys.argv[1:5])
r = d["ranges"]
assert len(r) == 1 and not r[0]["torn_tail"], d
assert r[0]["begin"] <= start < start + 64 <= r[0]["end"], (r, start)
assert d["records_after_damage"] == after and d["records"] == kept, d
assert d["records_lost"] == touched or not d["records_lost_exact"], d
print("status --json: damaged bytes", r[0]["begin"], "..", r[0]["end"] - 1, "records lost", d["records_lost"])
' "$start" "$touched" "$after" "$kept"
set +e; "$EMSWEEP" verify p.h5 > verify.txt; rc=$?; set -e
cat verify.txt
[ $rc = 5 ] || die "verify of a damaged journal exited $rc, expected 5"
grep -q "PROBLEM  \[journal\] p.h5.journal is damaged in the middle" verify.txt || die "verify does not name the damage"
grep -q "rows of /points with no final record in the journal: $lost" verify.txt || die "verify does not find the $lost rows"
[ "$(sums)" = "$before" ] || die "status or verify changed the files"
echo "status and verify changed nothing"

"$EMSWEEP" run "$cfg" -o p.h5 --set task.sleep_ms=0 2> run.txt || { cat run.txt; die "the resume failed"; }
cat run.txt
grep -q "WARNING: the journal p.h5.journal is DAMAGED in the middle" run.txt || die "run does not warn"
grep -q "WARNING: $after intact records after the damage are kept" run.txt || die "run does not say what it kept"
grep -q "$lost point.* no final record and run.* again" run.txt || die "run does not count the points to run again"
grep -q "204 points ($((204 - lost)) already recorded)" run.txt || die "run does not resume from $((204 - lost))"
grep -q "($lost done and 0 failed in this run" run.txt || die "run did not run exactly the $lost lost points"
[ "$(ls p.h5.journal.damaged-* | wc -l)" = 1 ] || die "expected one saved damaged journal"
saved=$(ls p.h5.journal.damaged-*)
$PY - "$saved" <<'PY'
import struct, sys
damaged = open(sys.argv[1], "rb").read()
new = open("p.h5.journal", "rb").read()
orig = open("original.journal", "rb").read()
start = int(open("damage.txt").read().split()[0])
frames, pos = [], 16
while pos < len(orig):
    length = struct.unpack_from("<I", orig, pos)[0]
    frames.append((pos, pos + 9 + length))
    pos += 9 + length
intact = b"EMSWEEP-JOURNAL1" + b"".join(orig[a:b] for a, b in frames if b <= start or a >= start + 64)
assert new.startswith(intact), "the journal does not start with exactly the intact records"
assert damaged[:start] == orig[:start] and damaged[start + 64:] == orig[start + 64:], "the saved file is not the original"
print(f"journal rewritten: the {len(intact)} bytes of intact records, then this run's records; original kept in {sys.argv[1]}")
PY
"$EMSWEEP" verify p.h5 || die "verify fails after the resume"
$PY "$COMPARE" ref.h5 p.h5 --expect 204

# A view that disagrees with its journal: one metric changed by one ulp, one row duplicated.
$PY - <<'PY'
import h5py, numpy as np
with h5py.File("p.h5", "r+") as f:
    d = f["points"]
    row = d[7]
    row["f"] = np.nextafter(row["f"], np.inf)
    d[7] = row
    d.resize((d.shape[0] + 1,))
    d[-1] = d[3]
PY
set +e; "$EMSWEEP" verify p.h5 --json > tampered.json; rc=$?; set -e
[ $rc = 5 ] || die "verify of a tampered view exited $rc, expected 5"
$PY -c '
import json
d = json.load(open("tampered.json"))
checks = {p["check"]: p["message"] for p in d["problems"]}
assert not d["ok"] and d["exit_code"] == 5, d
assert "rows" in checks and "more than one row" in checks["rows"], checks
assert "values" in checks and "row 7 " in checks["values"] and ": f: view" in checks["values"], checks
print("verify --json on a tampered view:", "; ".join(m.splitlines()[0] for m in checks.values()))
'
"$EMSWEEP" repair p.h5
"$EMSWEEP" verify p.h5 --json | $PY -c 'import json, sys; d = json.load(sys.stdin); assert d["ok"] and d["rows"] == 204, d'

# A torn tail (what a crash can leave): one line of information, not a warning.
printf '\x50\x00\x00\x00\x03half a record' >> p.h5.journal
"$EMSWEEP" status p.h5 > status.txt
grep -q "^journal  the journal p.h5.journal ends in a torn record (18 bytes from byte" status.txt || die "status does not report the torn tail"
! grep -q WARNING status.txt || die "status warns about a torn tail"
set +e; "$EMSWEEP" verify p.h5 > verify.txt; rc=$?; set -e
[ $rc = 5 ] && grep -q "ends in a torn record .*normal after a crash" verify.txt || die "verify does not report the torn tail (exit $rc)"
"$EMSWEEP" run "$cfg" -o p.h5 --set task.sleep_ms=0 2> run.txt
grep -q "^\[emsweep\] the journal p.h5.journal ends in a torn record .*cut off, its bytes saved to p.h5.journal.damaged-" run.txt || die "run does not say it cut the torn tail off"
! grep -q WARNING run.txt || die "run warns about a torn tail"
"$EMSWEEP" verify p.h5 > /dev/null || die "verify fails after the torn tail was cut off"

# --extend rewrites the journal for the grown grid from its intact records: it says so too.
$PY - <<'PY'
data = bytearray(open("p.h5.journal", "rb").read())
data[len(data) // 2:len(data) // 2 + 64] = bytes(64)
open("p.h5.journal", "wb").write(data)
PY
"$EMSWEEP" run "$cfg" -o p.h5 --set task.sleep_ms=0 --set 'grid.seed={replicates: 4}' --extend 2> run.txt
grep -q "WARNING: the journal p.h5.journal is DAMAGED in the middle" run.txt || die "--extend does not warn"
grep -q "the damaged original is kept as p.h5.journal.pre-extend" run.txt || die "--extend does not say where the original is"
"$EMSWEEP" verify p.h5 > /dev/null || die "verify fails after --extend"
"$EMSWEEP" status p.h5 | grep -q "272 total: 272 done" || die "--extend did not complete the grown grid"
echo "journal_damage.sh: ok ($lost lost points ran again; verify failed, then passed; a torn tail is one line; --extend warns)"
