#!/usr/bin/env bash
# Hostile configs and outputs against `emsweep run` (alone): each must end with a clear error
# (exit 2 bad input or 5 results-file problem, an "error:" line), within 60 s and 1 GiB of
# address space, and nothing in the YAML may run. Prints the time and peak memory of each.
# Usage: tests/soak/bad_inputs.sh BUILD_DIR [WORK_DIR]
set -uo pipefail
build=$(cd "$1" && pwd)
work=${2:-$(mktemp -d)}
emsweep=$build/bin/emsweep
failures=0
S='sweep: {name: bad}'
T='task: {kind: probe}'

# check NAME EXPECTED_EXIT CONFIG [run args...]
check() {
  local name=$1 want=$2 config=$3
  shift 3
  local log=$work/$name.log
  /usr/bin/time -f '%e %M' -o "$work/$name.time" \
    timeout -s KILL 60 prlimit --as=$((1 << 30)) -- "$emsweep" run "$config" -q "$@" >"$log" 2>&1
  local rc=$?
  read -r secs kb < <(tail -1 "$work/$name.time" 2>/dev/null)
  [[ $kb =~ ^[0-9]+$ ]] || { secs='?'; kb=0; }
  [[ $rc == 137 || $rc == 124 ]] && secs="timeout"
  local msg
  msg=$(grep -m1 -A1 -E 'error' "$log" | tr -s ' \n' ' ' | cut -c1-160)
  printf '%-22s exit %-3s %6s s %7s MiB  %s\n' "$name" "$rc" "$secs" "$((kb / 1024))" "$msg"
  if [[ $rc != "$want" || ($want != 0 && -z $msg) ]]; then
    echo "  FAILED: expected exit $want and an error line"
    sed 's/^/    /' "$log" | head -5
    failures=$((failures + 1))
  fi
}

cd "$work"
/usr/bin/python3 - <<'PY'
import os
S, T = "sweep: {name: bad}\n", "task: {kind: probe}\n"
open("huge-list.yaml", "w").write(S + T + "grid:\n  x: [" + ", ".join(str(i) for i in range(10**6)) + "]\n")
open("huge-linspace.yaml", "w").write(S + T + "grid:\n  x: {linspace: [0, 1, 1000000000]}\n  y: {linspace: [0, 1, 1000000000]}\n")
open("huge-product.yaml", "w").write(S + T + "grid:\n" + "".join(
    f"  {a}: {{linspace: [0, 1, 1000]}}\n" for a in ["x", "y", "kl_weight", "gate_noise", "domain_mix", "fail_x", "sleep_ms"]))
open("deep-seq.yaml", "w").write(S + T + "grid: {x: " + "[" * 100000 + "]" * 100000 + "}\n")
open("deep-map.yaml", "w").write(S + T + "grid: " + "{a: " * 100000 + "1" + "}" * 100000 + "\n")
open("deep-block.yaml", "w").write(S + T + "grid:\n" + "".join(" " * i + "a:\n" for i in range(1, 5000)) + " " * 5000 + "x: [1]\n")
open("binary.yaml", "wb").write(os.urandom(65536))
open("nul.yaml", "wb").write(b"sweep: {name: bad}\x00\n" + T.encode() + b"grid: {x: [1]}\n")
levels = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
for i in range(1, 10):
    p, c = chr(ord("a") + i - 1), chr(ord("a") + i)
    levels.append(f"{c}: &{c} [" + ", ".join([f"*{p}"] * 10) + "]")
open("billion-laughs.yaml", "w").write("\n".join(levels) + "\n" + S + T + "grid: {x: *j}\n")
open("laughs-in-task.yaml", "w").write("\n".join(levels) + "\n" + S + "task: {kind: probe, fail: *j}\ngrid: {x: [1]}\n")
open("laughs-in-key.yaml", "w").write("\n".join(levels) + "\n" + S + T + "grid: {x: [1]}\n")
inline = ["&a [" + ", ".join(["1"] * 10) + "]"]
for i in range(1, 10):
    inline.append(f"&{chr(97 + i)} [" + ", ".join([f"*{chr(96 + i)}"] * 10) + "]")
open("laughs-inline.yaml", "w").write(S + T + "grid: {x: [" + ", ".join(inline) + "]}\n")
open("laughs-in-set.yaml", "w").write(S + T + "grid: {x: [1]}\n")
open("good.yaml", "w").write(S + T + "grid: {x: [1, 2]}\n")
# Nothing in the YAML runs: shell syntax and tags stay text.
open("no-exec.yaml", "w").write("sweep: {name: bad, output: '$(touch pwned-output)`touch pwned-tick`.h5'}\n"
                                "task: {kind: probe}\ngrid: {x: [1, 2]}\n"
                                "run: {cache_dir: '; touch pwned-cache'}\n")
open("python-tag.yaml", "w").write(S + T + "grid: {x: !!python/object/apply:os.system ['touch pwned-tag']}\n")
PY
mkdir -p a-directory.h5
check huge-list 2 huge-list.yaml
check huge-linspace 2 huge-linspace.yaml
check huge-product 2 huge-product.yaml
check deep-seq 2 deep-seq.yaml
check deep-map 2 deep-map.yaml
check deep-block 2 deep-block.yaml
check binary 2 binary.yaml
check nul-byte 2 nul.yaml
check billion-laughs 2 billion-laughs.yaml
check laughs-in-task 2 laughs-in-task.yaml
check laughs-in-key 2 laughs-in-key.yaml
check laughs-inline 2 laughs-inline.yaml
check laughs-in-set 2 laughs-in-set.yaml --set "grid.y=[$(/usr/bin/python3 -c 'print(", ".join(["&a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"] + [f"&{chr(97+i)} [" + ", ".join([f"*{chr(96+i)}"]*10) + "]" for i in range(1, 10)]))')]"
check no-exec 0 no-exec.yaml
check python-tag 2 python-tag.yaml
check output-directory 5 good.yaml --output "$work/a-directory.h5"
check output-dev-null 5 good.yaml --output /dev/null
check output-missing-dir 0 good.yaml --output "$work/no/such/dir/x.h5"  # documented: created
check config-directory 2 "$work/a-directory.h5"
check config-dev-zero 2 /dev/zero
pwned=$(ls "$work" | grep -cxE 'pwned-(output|tick|cache|tag)' || true)
if [[ $pwned != 0 ]]; then
  echo "FAILED: the YAML ran a command: $(ls "$work" | grep -xE 'pwned-(output|tick|cache|tag)')"
  failures=$((failures + 1))
fi
[[ -e /dev/null && -c /dev/null ]] || { echo "FAILED: /dev/null is no longer a device"; failures=$((failures + 1)); }
echo "bad inputs: 20 tried, $failures failed"
exit $((failures > 0))
