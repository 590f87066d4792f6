// Baseline (a) of the dispatch benchmark: the smallest useful MPI master/worker loop. Rank 0
// sends one task index per message to whichever worker answered; workers reply at once.
// Nothing is recorded: this is the practical message-rate limit of the machine.
// Usage: mpirun -np N mpi_baseline TASKS   -> prints "tasks/s"
#include <mpi.h>

#include <cstdio>
#include <cstdlib>

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const long tasks = argc > 1 ? std::atol(argv[1]) : 100000;
  const int kWork = 1, kStop = 2, kDone = 3;
  if (rank == 0) {
    const double t0 = MPI_Wtime();
    long next = 0, done = 0;
    for (int w = 1; w < size; ++w) {
      if (next < tasks) {
        MPI_Send(&next, 1, MPI_LONG, w, kWork, MPI_COMM_WORLD);
        ++next;
      }
    }
    while (done < tasks) {
      long result = 0;
      MPI_Status st;
      MPI_Recv(&result, 1, MPI_LONG, MPI_ANY_SOURCE, kDone, MPI_COMM_WORLD, &st);
      ++done;
      if (next < tasks) {
        MPI_Send(&next, 1, MPI_LONG, st.MPI_SOURCE, kWork, MPI_COMM_WORLD);
        ++next;
      }
    }
    for (int w = 1; w < size; ++w) MPI_Send(&next, 1, MPI_LONG, w, kStop, MPI_COMM_WORLD);
    const double dt = MPI_Wtime() - t0;
    std::printf("%.0f\n", static_cast<double>(tasks) / dt);
  } else {
    for (;;) {
      long task = 0;
      MPI_Status st;
      MPI_Recv(&task, 1, MPI_LONG, 0, MPI_ANY_TAG, MPI_COMM_WORLD, &st);
      if (st.MPI_TAG == kStop) break;
      long result = task * 2;  // the "work"
      MPI_Send(&result, 1, MPI_LONG, 0, kDone, MPI_COMM_WORLD);
    }
  }
  MPI_Finalize();
  return 0;
}
