"""Baseline (b) of the dispatch benchmark: mpi4py.futures mapping a no-op over N tasks.

Usage: mpirun -np N /usr/bin/python3 -m mpi4py.futures mpi4py_pool.py TASKS CHUNKSIZE
Prints tasks/s (results collected in a list; nothing written to disk).
"""
import sys
import time

from mpi4py.futures import MPIPoolExecutor


def noop(i):
    return i * 2


if __name__ == "__main__":
    tasks, chunk = int(sys.argv[1]), int(sys.argv[2])
    with MPIPoolExecutor() as pool:
        list(pool.map(noop, range(min(tasks, 1000)), chunksize=chunk))  # start the workers
        t0 = time.perf_counter()
        out = list(pool.map(noop, range(tasks), chunksize=chunk))
        dt = time.perf_counter() - t0
    assert len(out) == tasks
    print(f"{tasks / dt:.0f}")
