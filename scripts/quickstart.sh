#!/usr/bin/env bash
# Sets up (installs missing packages, builds) and runs the quickstart sweep.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
build=${EMSWEEP_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$(nproc)"
"$build/sweep/emsweep" plan configs/quickstart.yaml
