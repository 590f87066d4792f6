// The worker side: run the points the coordinator sends, catch every failure, report back.
// A worker never ends the job because a task failed; the coordinator decides what follows.
#pragma once

#include <atomic>
#include <string>

#include "grid.h"
#include "task.h"
#include "transport.h"
#include "wire.h"

namespace emsweep {

// Who and where a worker is (recorded with every point it runs).
struct WorkerIdentity {
  int rank = 0;
  int local_rank = 0;
  std::string host;
  std::string cache_dir;
};

// Runs one point: returns its record, status kFailed with the error text when the task threw,
// returned the wrong number of metrics, or produced NaN/inf where the kind forbids it.
[[nodiscard]] PointRecord run_point(Task& task, const TaskKindInfo& kind, const Grid& grid,
                                    const WorkItem& item, const WorkerIdentity& who,
                                    const std::atomic<bool>* cancel);

// Receives batches until told to stop; sends each batch's records back in one message.
void worker_loop(Transport& transport, Task& task, const TaskKindInfo& kind, const Grid& grid,
                 const WorkerIdentity& who, const std::atomic<bool>* cancel);

}  // namespace emsweep
