#!/usr/bin/env bash
# Builds the Debian package with `cpack -G DEB` (the README's "Install" section), checks its
# dependencies and contents, unpacks it into a scratch root (nothing is installed on this
# machine) and runs the unpacked emsweep: --version, kinds (the organism plugin is found in
# ../lib/emsweep), plan, and a probe sweep that needs emsweep-run beside emsweep.
# Usage: test_deb.sh BUILD_DIR SCRATCH_DIR
set -euo pipefail
build=$1 scratch=$2
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
rm -rf "$scratch" && mkdir -p "$scratch"
(cd "$build" && cpack -G DEB -B "$scratch/pkg" >"$scratch/cpack.log")
deb=$(ls "$scratch"/pkg/emsweep_*_amd64.deb)
dpkg-deb -I "$deb" | tee "$scratch/control.txt"
for dep in openmpi-bin libopenmpi3 libhdf5 libyaml-cpp libtorch; do
  grep -q "Depends:.*$dep" "$scratch/control.txt" || { echo "FAIL: Depends lacks $dep"; exit 1; }
done
dpkg-deb -c "$deb" >"$scratch/contents.txt"
for f in usr/bin/emsweep usr/bin/emsweep-run usr/bin/emsweep-shim usr/lib/emsweep/emsweep-organism.so \
         usr/share/emsweep/configs/quickstart.yaml usr/share/doc/emsweep/README.md \
         usr/lib/cmake/emsweep/emsweepConfig.cmake; do
  grep -q "\./$f\$" "$scratch/contents.txt" || { echo "FAIL: the package lacks /$f"; exit 1; }
done
root=$scratch/root
dpkg-deb -x "$deb" "$root"
cd "$scratch"
"$root/usr/bin/emsweep" --version
kinds=$("$root/usr/bin/emsweep" kinds)
grep -q "organism" <<<"$kinds" || { echo "FAIL: the packaged plugin was not found"; exit 1; }
plan=$("$root/usr/bin/emsweep" plan "$root/usr/share/emsweep/configs/quickstart.yaml")
grep -q "^points" <<<"$plan"
"$root/usr/bin/emsweep" run "$root/usr/share/emsweep/configs/probe-quickstart.yaml" -o probe.h5 \
  --set task.sleep_ms=0 --quiet
"$root/usr/bin/emsweep" summary probe.h5 >/dev/null
echo "test_deb.sh: ok ($(du -h "$deb" | cut -f1) package)"
