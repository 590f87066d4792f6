#!/usr/bin/env bash
# `emsweep status`, `emsweep verify` and an h5py SWMR reader follow a sweep while it is being
# written; a reader without SWMR is refused while the writer holds the file.
source "$(dirname "$0")/common.sh"
cfg="$EMSWEEP_SRC/configs/probe-quickstart.yaml"
mpirun --oversubscribe -np 3 "$EMSWEEP" run "$cfg" -o live.h5 --set task.sleep_ms=40 \
  --set run.flush_seconds=0.2 --quiet &
pid=$!
for _ in $(seq 1 100); do [ -s live.h5 ] && break; sleep 0.1; done
# A SWMR reader refreshing while the writer appends, and a plain reader that must be refused.
$PY - <<'PY' &
import h5py, time
try:
    h5py.File("live.h5", "r")
    print("plain reader: opened (HDF5 file locking is off)")
except OSError as e:
    print("plain reader refused while the writer holds the file:", str(e).splitlines()[0][:80])
f = h5py.File("live.h5", "r", swmr=True)
d = f["points"]
rows, reads = [], 0
for _ in range(80):
    d.refresh()
    rows.append(d.shape[0])
    reads += 1
    time.sleep(0.05)
assert rows == sorted(rows), "rows went backwards"
assert rows[-1] > rows[0], f"no growth seen: {rows[0]} .. {rows[-1]}"
print(f"SWMR reader: {reads} refreshes, rows grew {rows[0]} -> {rows[-1]}, no errors")
PY
reader=$!
seen_running=0
verified_live=0
by_cost=0
last=0
for _ in $(seq 1 100); do
  sleep 0.25
  kill -0 $pid 2>/dev/null || break
  out=$("$EMSWEEP" status live.h5 --json) || die "status failed on a live file"
  read -r state done basis <<<"$($PY -c 'import json,sys; d=json.load(sys.stdin); print(d["state"].split()[0], d["done"], d["eta_basis"] or "-")' <<<"$out")"
  [ "$state" = running ] && seen_running=$((seen_running + 1))
  # The probe has a cost model: once points finished, the ETA is the progress line's, by it.
  if [ "$state" = running ] && [ "$done" -gt 0 ]; then
    [ "$basis" = "cost model" ] && by_cost=$((by_cost + 1))
  fi
  # verify reads the view, then the journal: every row it saw has its record, bit for bit.
  "$EMSWEEP" verify live.h5 --json > verify.json || die "verify failed on a live file: $(cat verify.json)"
  grep -q '"running":true' verify.json && verified_live=$((verified_live + 1))
  [ "$done" -ge "$last" ] || die "done went backwards: $last -> $done"
  last=$done
done
wait $reader || die "the SWMR reader failed"
wait $pid
[ $seen_running -ge 2 ] || die "status saw the sweep running only $seen_running times"
[ $verified_live -ge 2 ] || die "verify checked the running sweep only $verified_live times"
[ $by_cost -ge 1 ] || die "status never gave the cost model's ETA while the sweep ran"
"$EMSWEEP" verify live.h5 || die "verify fails on the finished file"
"$EMSWEEP" status live.h5 | grep -q "finished" || die "status does not say finished"
echo "live_status.sh: status saw the run $seen_running times while it ran ($by_cost with the cost model's ETA), verify passed $verified_live times on it; ok"
