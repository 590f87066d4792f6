#!/usr/bin/env bash
# Installs everything emsweep needs to build, test and run on Debian 12 / Ubuntu, with apt.
# Idempotent: packages already present are left alone; it says what it installed.
# Usage: scripts/install-deps.sh [--dev]   (--dev adds the Python and plotting tools the
# test suite and the benchmarks compare against)
set -euo pipefail

runtime=(
  build-essential cmake ccache pkg-config git
  libtorch-dev libopenblas0-pthread libblas-dev
  libopenmpi-dev openmpi-bin
  libhdf5-dev hdf5-tools
  libyaml-cpp-dev catch2 libcli11-dev libspdlog-dev libfmt-dev libboost-dev
  gnuplot-nox
)
dev=(
  python3-h5py python3-pandas python3-mpi4py python3-torch python3-numpy
  # tests/slurm: a private single-node Slurm (slurmctld + slurmd + munged), srun --mpi=pmix
  slurm-wlm munge tini libpmix-dev
)

want=("${runtime[@]}")
if [[ "${1:-}" == "--dev" || "${CI:-}" == "true" ]]; then
  want+=("${dev[@]}")
fi

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#want[@]} packages already installed"
  exit 0
fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
echo "install-deps: installing ${#missing[@]} packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# A stale or empty package list makes apt-get install fail: refresh it once per run.
$sudo apt-get update -qq
# munge's and Slurm's install scripts start their daemons through init.d; the tests start
# private ones of their own, so forbid service starts during the install (policy-rc.d
# exit 101) and put back whatever policy was there before.
policy=/usr/sbin/policy-rc.d
if [[ -e $policy ]]; then
  $sudo cp -p "$policy" "$policy.emsweep-saved"
  trap '$sudo mv -f "$policy.emsweep-saved" "$policy"' EXIT
else
  trap '$sudo rm -f "$policy"' EXIT
fi
printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
$sudo chmod 755 "$policy"
$sudo apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=600 "${missing[@]}"
echo "install-deps: installed ${missing[*]}"
