#!/usr/bin/env bash
# Runs the README's "A short tour" as it is written: every command line of its first sh block,
# in order, with B pointing at the build's programs. It runs in a scratch directory that sees
# the repository's configs/, so results/ and job.sbatch land there and not in the source tree.
# Usage: readme_tour.sh SOURCE_DIR BIN_DIR SCRATCH_DIR
set -euo pipefail
src=$1 bin=$2 scratch=$3
rm -rf "$scratch" && mkdir -p "$scratch"
ln -s "$src/configs" "$scratch/configs"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1

# The tour's block: from "## A short tour" to the first closing fence after its opening one.
mapfile -t lines < <(awk '/^## A short tour/{t=1; next} t && /^```sh/{b=1; next}
                          b && /^```/{exit} b' "$src/README.md")
[[ ${#lines[@]} -ge 5 ]] || { echo "FAIL: found no tour block in README.md"; exit 1; }

cd "$scratch"
B=$bin
ran=0
for line in "${lines[@]}"; do
  cmd=${line%%  #*}                       # the comment after the command
  cmd=${cmd%"${cmd##*[![:space:]]}"}      # trailing blanks
  [[ -z $cmd || $cmd == B=* ]] && continue
  echo "== $cmd"
  eval "$cmd" >"$scratch/out.txt" 2>&1 || { echo "FAIL (exit $?): $cmd"; cat "$scratch/out.txt"; exit 1; }
  tail -n 5 "$scratch/out.txt"
  ran=$((ran + 1))
done

# What the tour promises, checked: the override turned gate_noise into an axis, the sweep is
# complete and verified, the job script was written.
"$B/emsweep" plan configs/quickstart.yaml --set 'grid.gate_noise=[0,0.5]' --json |
  /usr/bin/python3 -c 'import json,sys; p=json.load(sys.stdin); n=[a["name"] for a in p["axes"]];
assert "gate_noise" in n, n; assert p["notes"], p; print("override:", p["notes"][0])'
[[ -s job.sbatch ]] || { echo "FAIL: emsweep slurm wrote no job.sbatch"; exit 1; }
status=$("$B/emsweep" status results/quickstart.h5 || true)
grep -q "complete\|done" <<<"$status" || {
  echo "FAIL: the quickstart sweep is not complete"; "$B/emsweep" status results/quickstart.h5; exit 1; }
echo "readme_tour: ran all $ran commands of the README's tour"
