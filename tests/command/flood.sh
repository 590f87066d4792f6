#!/usr/bin/env bash
# 100 MB on stdout (and 20 MB on stderr at the same time): the child never blocks on a full pipe,
# the point is done, and each capture file is capped (head and tail kept, the middle dropped with
# a marker saying how much).
source "$(dirname "$0")/common.sh"

cat > flood.sh <<'SH'
#!/bin/sh
yes 0123456789abcdef | head -c 20000000 >&2 &
yes 0123456789abcdef | head -c 100000000
wait
echo "the end" >&2
printf '{"f": 1}' > "$EMSWEEP_RESULT"
SH
cat > flood.yaml <<'YAML'
sweep: {name: flood}
grid:
  n: [1]
task:
  kind: command
  argv: [sh, ./flood.sh]
  params: {n: 0}
  metrics: [f]
run: {max_retries: 0, timeout: 60, keep_workdirs: always}
YAML
"$EMSWEEP" run flood.yaml -o flood.h5 --quiet
check flood.h5 <<'PY'
import glob, os, re, sys
from results import *
[p] = rows(sys.argv[1], "points")
expect("status", p["status"], DONE)
expect("f", p["f"], 1.0)
[workdir] = glob.glob("flood.h5.runs/*/a1")
cap = 16 << 20   # ChildSpec::capture_cap_bytes: per stream, half head and half tail
line = b"0123456789abcdef\n"
end = line + line[:100_000_000 % len(line)]   # where `head -c` cut the last line
for name, total, last in (("stdout.txt", 100_000_000, end), ("stderr.txt", 20_000_000, b"the end\n")):
    data = open(os.path.join(workdir, name), "rb").read()
    assert cap <= len(data) <= cap + 1024, f"{name}: {len(data)} bytes, cap {cap}"
    m = re.search(rb"\n\[emsweep-shim: (\d+) bytes dropped here", data)
    assert m, f"{name}: no marker where the middle was dropped"
    total += len(last) if name == "stderr.txt" else 0
    expect(f"{name}: bytes dropped", int(m.group(1)), total - cap)
    assert data.startswith(line * 100), f"{name}: the head is not the start of the stream"
    assert data.endswith(last), f"{name}: the tail is not the end of the stream"
    print(f"  {name}: {total} bytes written, {len(data)} kept")
print(f"flood: done in {p['seconds']:.2f} s")
PY
echo "flood.sh: ok"
