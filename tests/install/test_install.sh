#!/usr/bin/env bash
# Installs the build into a scratch prefix with `cmake --install` and runs the installed emsweep
# as the README's "Install" section does: on PATH, from a directory outside the repository.
# A `probe` sweep checks that emsweep finds emsweep-run beside itself; the shell `command`
# example checks that emsweep-run finds emsweep-shim; summary reads the file back.
# Usage: test_install.sh BUILD_DIR SCRATCH_DIR
set -euo pipefail
build=$1 scratch=$2
rm -rf "$scratch" && mkdir -p "$scratch/work"
prefix=$scratch/prefix
cmake --install "$build" --prefix "$prefix" >"$scratch/install.log"

for f in bin/emsweep bin/emsweep-run bin/emsweep-shim share/emsweep/python/emsweep_child.py \
         share/emsweep/slurm/emsweep.sbatch share/doc/emsweep/README.md \
         share/doc/emsweep/architecture.md share/emsweep/configs/quickstart.yaml; do
  [[ -e $prefix/$f ]] || { echo "FAIL: $f was not installed"; exit 1; }
done

export PATH=$prefix/bin:$PATH
cd "$scratch/work"
share=$prefix/share/emsweep
emsweep --version
emsweep plan "$share/configs/quickstart.yaml" >plan.txt
grep -q "points" plan.txt || { echo "FAIL: plan printed no point count"; cat plan.txt; exit 1; }
emsweep kinds | grep -q "command" || { echo "FAIL: kinds does not list command"; exit 1; }

emsweep run "$share/configs/probe-quickstart.yaml" -o probe.h5 --set task.sleep_ms=0 --quiet
emsweep summary probe.h5 --by gate_noise --csv >probe.csv
[[ $(wc -l <probe.csv) -eq 5 ]] || { echo "FAIL: summary by gate_noise should have 4 rows"; cat probe.csv; exit 1; }

# The shell example names its script relative to where it runs: run it from the installed share.
cd "$share"
emsweep run examples/command/shell/sweep.yaml -o "$scratch/work/quadratic.h5" --quiet
emsweep verify "$scratch/work/quadratic.h5"
emsweep summary "$scratch/work/quadratic.h5" --csv | grep -q f_final || {
  echo "FAIL: the installed command example recorded no f_final"; exit 1; }
echo "installed emsweep ran plan, a probe sweep and a command sweep from $prefix"
