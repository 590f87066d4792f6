#!/usr/bin/env bash
# Installs the build into a scratch prefix with `cmake --install` and runs the installed emsweep
# as the README's "Install" section does: on PATH, from a directory outside the repository.
# A `probe` sweep checks that emsweep finds emsweep-run beside itself; the shell `command`
# example checks that emsweep-run finds emsweep-shim; summary reads the file back. Then the
# out-of-tree plugin of examples/plugin is built against the installed package (find_package)
# and swept under mpirun: found on EMSWEEP_PLUGIN_PATH, then installed into PREFIX/lib/emsweep.
# Usage: test_install.sh BUILD_DIR SCRATCH_DIR [MPIEXEC]
set -euo pipefail
build=$1 scratch=$2 mpiexec=${3:-mpirun}
src=$(cd "$(dirname "$0")/../.." && pwd)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
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
kinds=$(emsweep kinds)
grep -q "command" <<<"$kinds" || { echo "FAIL: kinds does not list command"; exit 1; }

emsweep run "$share/configs/probe-quickstart.yaml" -o probe.h5 --set task.sleep_ms=0 --quiet
emsweep summary probe.h5 --by gate_noise --csv >probe.csv
[[ $(wc -l <probe.csv) -eq 5 ]] || { echo "FAIL: summary by gate_noise should have 4 rows"; cat probe.csv; exit 1; }

# The shell example names its script relative to where it runs: run it from the installed share.
cd "$share"
emsweep run examples/command/shell/sweep.yaml -o "$scratch/work/quadratic.h5" --quiet
emsweep verify "$scratch/work/quadratic.h5"
summary=$(emsweep summary "$scratch/work/quadratic.h5" --csv)
grep -q f_final <<<"$summary" || {
  echo "FAIL: the installed command example recorded no f_final"; exit 1; }

echo "== an out-of-tree task kind (examples/plugin) built against the installed package"
plugin_build=$scratch/plugin-build
cmake -S "$src/examples/plugin" -B "$plugin_build" -DCMAKE_PREFIX_PATH="$prefix" >"$scratch/plugin-cmake.log"
cmake --build "$plugin_build" >"$scratch/plugin-build.log"
[[ -f $plugin_build/emsweep-rosenbrock.so ]] || { echo "FAIL: no emsweep-rosenbrock.so"; exit 1; }
cd "$scratch/work"
cp "$src/examples/plugin/sweep.yaml" rosenbrock.yaml
if emsweep plan rosenbrock.yaml >/dev/null 2>err.txt; then
  echo "FAIL: the kind was found before its plugin was on the plugin path"; exit 1
fi
export EMSWEEP_PLUGIN_PATH=$plugin_build
kinds=$(emsweep kinds)
grep -q "code: plugin $plugin_build/emsweep-rosenbrock.so" <<<"$kinds" || {
  echo "FAIL: kinds does not list the plugin kind"; emsweep kinds; exit 1; }
plan=$(emsweep plan rosenbrock.yaml)
grep -q "points  24" <<<"$plan" || { echo "FAIL: plan"; emsweep plan rosenbrock.yaml; exit 1; }
"$mpiexec" --oversubscribe -np 3 emsweep run rosenbrock.yaml -o rosenbrock.h5 --quiet
emsweep summary rosenbrock.h5 --by momentum --metric f_final,distance --csv >rosenbrock.csv
[[ $(wc -l <rosenbrock.csv) -eq 4 ]] || { echo "FAIL: summary by momentum"; cat rosenbrock.csv; exit 1; }
digest=$(sha256sum "$plugin_build/emsweep-rosenbrock.so" | cut -c1-64)
/usr/bin/python3 - rosenbrock.h5 "$digest" <<'PY'
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    pts = f["points"][:]
    assert len(pts) == 24, len(pts)
    assert (pts["status"] == 1).all(), pts["status"]            # 1: done
    assert set(pts["rank"]) <= {1, 2}, set(pts["rank"])         # worker ranks ran them
    prov = {p.decode() for p in pts["provenance"]}
    assert prov == {"plugin=emsweep-rosenbrock.so sha256:" + sys.argv[2]}, prov
    curves = f["curves"][:]
    assert {c.decode() for c in curves["curve"]} == {"loss"}, set(curves["curve"])
    assert len(set(curves["point_id"])) == 24
print("plugin points: 24 done by worker ranks, loss curves, provenance names the plugin's sha256")
PY
# Installed beside the organism's plugin, it is found without EMSWEEP_PLUGIN_PATH.
unset EMSWEEP_PLUGIN_PATH
cp "$plugin_build/emsweep-rosenbrock.so" "$prefix/lib/emsweep/"
emsweep run rosenbrock.yaml -o rosenbrock-installed.h5 --set 'grid.x0=[0.5]' --quiet
emsweep verify rosenbrock-installed.h5
echo "installed emsweep ran plan, a probe sweep, a command sweep and an out-of-tree plugin kind from $prefix"
