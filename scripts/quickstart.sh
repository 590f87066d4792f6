#!/usr/bin/env bash
# Sets up (installs missing Debian packages, builds) and runs the quickstart sweep: plain
# fine-tuning against a KL-penalised run on the emergent-misalignment model organism, two seeds,
# then prints the headline table. A second run resumes (and finishes at once).
# Usage: scripts/quickstart.sh [extra `emsweep run` arguments, e.g. --overwrite]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
build=${EMSWEEP_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
# Only what the quickstart runs: emsweep, emsweep-run (with emsweep-shim and the organism plugin).
cmake --build "$build" -j "$(nproc)" --target emsweep emsweep-run
emsweep="$build/bin/emsweep"
"$emsweep" plan configs/quickstart.yaml
ranks=$(nproc)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
if [ "$ranks" -ge 2 ]; then
  # One coordinator plus one worker per core.
  mpirun --oversubscribe -np $((ranks + 1)) "$emsweep" run configs/quickstart.yaml "$@"
else
  "$emsweep" run configs/quickstart.yaml "$@"
fi
echo
echo "In-domain (medical) vs out-of-domain bad-advice rates, mean and 95% CI over seeds:"
"$emsweep" summary results/quickstart.h5 --by kl_weight \
  --metric id_bad,ood_bad,base_ood_bad,dental_bad,bad_nll_medical,bad_nll_at_norm_2,stability_0p5,drift_ood_bad
echo
echo "Open it in pandas: pd.DataFrame(h5py.File('results/quickstart.h5', 'r', swmr=True)['points'][:])"
