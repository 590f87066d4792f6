#!/usr/bin/env bash
# A sweep under `mpirun -np 2`: the child's environment holds none of the launcher's variables
# (OMPI_*, PMIX_*, PMI_*, PRTE_*, Slurm's SLURM_PROCID/SLURM_LOCALID) but does hold EMSWEEP_PARAM_*, PYTHONUNBUFFERED=1 and
# OMP_NUM_THREADS=1; and a child that initialises MPI with mpi4py runs as a singleton (size 1).
source "$(dirname "$0")/common.sh"

cat > child.py <<'PYCHILD'
import os, sys
import emsweep_child as es
p = es.params()
with open(os.path.join(es.workdir(), "env.txt"), "w") as f:
    for k, v in sorted(os.environ.items()):
        f.write(f"{k}={v}\n")
size = rank = -1
if p["mode"] == "mpi4py":
    from mpi4py import MPI
    size, rank = MPI.COMM_WORLD.Get_size(), MPI.COMM_WORLD.Get_rank()
es.finish(size=size, mpi_rank=rank, seed_seen=p["seed"])
PYCHILD
cat > mpi.yaml <<'YAML'
sweep: {name: mpirun-child}
grid:
  mode: [env, mpi4py]
task:
  kind: command
  argv: [/usr/bin/python3, child.py]
  params: {mode: env, seed: 17}
  metrics: [size, mpi_rank, seed_seen]
run: {max_retries: 0, timeout: 30, keep_workdirs: always}
YAML
# Stand-ins for the Slurm step variables srun would set for the ranks (mpirun passes them on).
SLURM_PROCID=1 SLURM_LOCALID=1 mpi 2 "$EMSWEEP" run mpi.yaml -o mpi.h5 --quiet
check mpi.h5 <<'PY'
import glob, sys
from results import *
points = by(sys.argv[1], "points", "mode")
for mode, p in points.items():
    expect(f"{mode}: status", p["status"], DONE)
    expect(f"{mode}: rank of the sweep (the worker)", p["rank"], 1)
    expect(f"{mode}: seed", p["seed_seen"], 17.0)
expect("mpi4py: COMM_WORLD size", points["mpi4py"]["size"], 1.0)
expect("mpi4py: COMM_WORLD rank", points["mpi4py"]["mpi_rank"], 0.0)
envs = glob.glob("mpi.h5.runs/*/a1/env.txt")
expect("env dumps", len(envs), 2)
for path in envs:
    env = dict(line.rstrip("\n").split("=", 1) for line in open(path) if "=" in line)
    leaked = sorted(k for k in env if k.startswith(("OMPI_", "PMIX_", "PMI_", "PRTE_"))
                    or k in ("SLURM_PROCID", "SLURM_LOCALID"))
    expect(f"{path}: launcher variables", leaked, [])
    expect(f"{path}: PYTHONUNBUFFERED", env.get("PYTHONUNBUFFERED"), "1")
    expect(f"{path}: OMP_NUM_THREADS", env.get("OMP_NUM_THREADS"), "1")
    expect(f"{path}: EMSWEEP_PARAM_SEED", env.get("EMSWEEP_PARAM_SEED"), "17")
    assert env.get("EMSWEEP_PARAM_MODE") in ("env", "mpi4py"), env.get("EMSWEEP_PARAM_MODE")
print("mpirun child: no launcher variable, mpi4py child is a singleton")
PY
# The test is only meaningful if the ranks themselves did see launcher variables.
mpi 1 env > rank-env.txt
grep -q '^OMPI_' rank-env.txt || die "mpirun sets no OMPI_ variable here: the check above proves nothing"
echo "mpirun_child.sh: ok"
