#!/usr/bin/env bash
# The commands that docs/command.md and examples/command/README.md show, run as they are (from
# the repository root, as the pages say), with their results read back: the shell example, the
# PyTorch example under mpirun (about a minute on 2 cores), its summary and curve plot, `plan`
# with each point's argv, and the Slurm script of the GPU example.
# Needs EMSWEEP_BIN (the build's sweep/ directory) and EMSWEEP_SRC; /usr/bin/python3 with torch.
set -euo pipefail
bin=${EMSWEEP_BIN:?}
src=${EMSWEEP_SRC:?}
emsweep() { "$bin/emsweep" "$@"; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The pages run from the repository root and write results/...; run from a copy of the examples
# so that the checkout stays clean and the test can run beside others.
mkdir -p "$work/examples"
cp -r "$src/examples/command" "$work/examples/"
cd "$work"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1

echo "== plan shows the argv of each point"
emsweep plan examples/command/sweep.yaml | tee plan.txt
grep -q "^command (first point, attempt 1; no shell)" plan.txt
grep -q "/usr/bin/python3 examples/command/train_kl.py --kl-weight 0 --seed 0 --out /" plan.txt
emsweep plan examples/command/sweep.yaml --json >plan.json
/usr/bin/python3 - <<'PY'
import json
p = json.load(open("plan.json"))
assert p["kind"] == "command" and p["points"] == 12, p
last = p["last"][-1]
assert last["argv"][:7] == ["/usr/bin/python3", "examples/command/train_kl.py", "--kl-weight", "10",
                            "--seed", "1", "--out"], last["argv"]
assert last["argv"][7].endswith("results/kl-finetune.h5.runs/%s/a1" % last["point_id"]), last["argv"][7]
PY

echo "== the shell example"
emsweep run examples/command/shell/sweep.yaml
emsweep summary results/quadratic-sh.h5 --by x --metric f_final | tee shell-summary.txt
grep -q "5 groups, 15 points done, 0 failed" shell-summary.txt

echo "== the PyTorch example, under mpirun as the README of examples/command says it runs"
if ! /usr/bin/python3 -c "import torch" 2>/dev/null; then
  echo "doc_commands: /usr/bin/python3 has no torch (python3-torch); the PyTorch example cannot run"
  exit 1
fi
mpirun --oversubscribe -np 3 "$bin/emsweep" run examples/command/sweep.yaml
emsweep summary results/kl-finetune.h5 --by kl_weight --metric final_loss,ood_shift,ood_acc | tee torch-summary.txt
grep -q "3 groups, 12 points done, 0 failed" torch-summary.txt
emsweep plot results/kl-finetune.h5 --curve kl -o kl
test -s kl.png && test -s kl.svg
/usr/bin/python3 - <<'PY'
import h5py, pandas as pd
f = h5py.File("results/kl-finetune.h5", "r")
assert f.attrs["schema_version"] == 2
pts = pd.DataFrame(f["points"][:])
assert (pts.status == 1).all() and (pts.outcome == b"").all() and (pts.exit_code == 0).all()
assert (pts.peak_rss_mb > 50).all(), pts.peak_rss_mb  # a python3 with torch imported
# The KL term does what it says: the shift on domain B falls as its weight grows.
shift = pts.groupby("kl_weight").ood_shift.mean()
assert shift[0.0] > shift[1.0] > shift[10.0], shift
curves = pd.DataFrame(f["curves"][:])
assert set(curves.curve.unique()) == {b"loss", b"kl"}
assert len(f["failures"]) == 0
PY

echo "== the Slurm script of the GPU example"
emsweep slurm examples/command/gpu.yaml --nodes 1 --ntasks-per-node 5 --sbatch=--gpus-per-node=4 --time 1:00:00 -o gpu-job.sbatch
grep -qx "#SBATCH --gpus-per-node=4" gpu-job.sbatch
grep -qx "#SBATCH --ntasks-per-node=5" gpu-job.sbatch
plan=$(emsweep plan examples/command/gpu.yaml)
grep -q "gpus_per_point 1" <<<"$plan"
echo "doc_commands: all commands of docs/command.md and examples/command/README.md ran"
