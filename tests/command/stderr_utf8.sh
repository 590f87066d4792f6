#!/usr/bin/env bash
# A child writing invalid UTF-8 on stderr: /failures.stderr_tail and the error text are valid
# UTF-8 (h5py's bytes decode as UTF-8), the bad bytes replaced by U+FFFD; a tail cut inside a
# multi-byte character and a long last line shortened inside one stay valid too.
source "$(dirname "$0")/common.sh"

cat > bad.sh <<'SH'
#!/bin/sh
case "$1" in
  bytes) printf 'latin-1: caf\351, stray \377\376, cut \342\202\n' >&2 ;;
  # 2-byte characters with an odd byte count in total: a cut at any fixed size from the end
  # lands inside one character.
  long)  /usr/bin/python3 -c 'import sys; sys.stderr.buffer.write(("é" * 5000 + "x\n" + "é" * 300 + "x\n").encode())' ;;
esac
exit 1
SH
cat > utf8.yaml <<'YAML'
sweep: {name: utf8}
grid:
  mode: [bytes, long]
task:
  kind: command
  argv: [sh, ./bad.sh, "{mode}"]
  params: {mode: bytes}
  metrics: [f]
run: {max_retries: 0}
YAML
set +e; "$EMSWEEP" run utf8.yaml -o utf8.h5 --quiet 2> run.err; rc=$?; set -e
[ $rc = 4 ] || { cat run.err; die "emsweep run exited $rc, expected 4"; }
check utf8.h5 <<'PY'
import sys
from results import *   # rows() decodes every string column as UTF-8, strictly
points = by(sys.argv[1], "points", "mode")
failures = by(sys.argv[1], "failures", "point_id")
f = failures[points["bytes"]["point_id"]]
expect("bytes: exit_code", f["exit_code"], 1)
expect("bytes: stderr_tail", f["stderr_tail"], "latin-1: caf\ufffd, stray \ufffd\ufffd, cut \ufffd\n")
assert "\ufffd" in points["bytes"]["error"], points["bytes"]["error"]
f = failures[points["long"]["point_id"]]
tail = f["stderr_tail"]
assert tail.endswith("é" * 300 + "x\n") and tail.lstrip("\ufffd").strip("éx\n") == "", tail[:40]
assert 4000 < len(tail.encode()) <= 4096, len(tail.encode())
err = points["long"]["error"]
assert err.startswith("exit code 1 (stderr: ...") and err.endswith("éx)"), err
print("stderr utf8: tails and error texts decode as UTF-8 with U+FFFD for the bad bytes")
PY

# Long non-ASCII texts cut to a column's size: the error (512 bytes in /points) and the argv
# (4 KiB in /failures) of a program that cannot start, named by 2-byte characters (a name long enough that the 512-byte column must cut it).
long=$(printf 'é%.0s' $(seq 1 260))
cat > names.yaml <<YAML
sweep: {name: utf8-names}
grid:
  prog: ["./x$long"]
task:
  kind: command
  argv: ["{prog}", "{prog}", "{prog}", "{prog}", "{prog}", "{prog}", "{prog}", "{prog}", "{prog}", "{prog}", "{prog}", "{prog}", "{prog}", "{prog}", "{prog}", "{prog}", "{prog}", "{prog}"]
  params: {prog: x}
  metrics: [f]
run: {max_retries: 0}
YAML
set +e; "$EMSWEEP" run names.yaml -o names.h5 --quiet 2> run.err; rc=$?; set -e
[ $rc = 4 ] || { cat run.err; die "emsweep run of names.yaml exited $rc, expected 4"; }
check names.h5 <<'PY'
import sys
from results import *
[p] = rows(sys.argv[1], "points")
[f] = rows(sys.argv[1], "failures")
expect("outcome", p["outcome"], "start_failed")
assert p["error"].startswith("could not start: cannot execute './xéé") and 500 < len(p["error"].encode()) < 512, p["error"]
assert f["error"].startswith(p["error"]) and len(f["error"]) > len(p["error"]), f["error"]
assert f["argv"].lstrip("'").startswith("./xéé") and 4000 < len(f["argv"].encode()) < 4096, len(f["argv"].encode())
print("utf8 names: long error and argv texts cut at a character boundary")
PY
echo "stderr_utf8.sh: ok"
