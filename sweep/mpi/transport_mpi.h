// MPI behind the Transport interface. This header does not include mpi.h; only
// transport_mpi.cpp does.
#pragma once

#include <memory>
#include <string>

#include "sweep/engine/transport.h"

namespace emsweep {

// True when a launcher (mpirun, srun) started this process, so MPI must be initialised.
[[nodiscard]] bool launched_by_mpi_launcher();
// The MPI library's version string (callable without initialising MPI).
[[nodiscard]] std::string mpi_library_version();

// Initialises MPI for its lifetime (MPI_Init_thread ... MPI_Finalize).
class MpiSession {
 public:
  MpiSession(int* argc, char*** argv);
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

  [[nodiscard]] int rank() const { return rank_; }
  [[nodiscard]] int size() const { return size_; }
  // Rank among the processes on this node (picks a device).
  [[nodiscard]] int local_rank() const { return local_rank_; }
  // This rank's index among the node's worker ranks (rank 0 excluded), and their number.
  [[nodiscard]] int node_worker_index() const { return node_worker_index_; }
  [[nodiscard]] int node_workers() const { return node_workers_; }
  // The node name MPI reports.
  [[nodiscard]] std::string processor_name() const;
  // The world communicator as a Transport.
  [[nodiscard]] std::unique_ptr<Transport> world();
  // Rank 0's `data` on every rank.
  [[nodiscard]] std::string broadcast(const std::string& data);
  // Ends every rank of the job with `code` (used when ranks are busy and cannot be told).
  // MPI_Abort asks the launcher to end the job; a launcher that is itself tearing the job down
  // (another rank died) may never answer, so this process ends by itself after 10 s.
  [[noreturn]] void abort(int code);
  // Makes this process end with `code` after `seconds` if it has not ended by then: MPI_Finalize
  // waits for every rank, and after a stop signal one of them may be dead.
  static void exit_after(double seconds, int code);

 private:
  int rank_ = 0;
  int size_ = 1;
  int local_rank_ = 0;
  int node_worker_index_ = 0;
  int node_workers_ = 1;
};

}  // namespace emsweep
