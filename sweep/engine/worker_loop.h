// The worker side: run the points the coordinator sends, catch every failure, report back.
// A worker never ends the job because a task failed; the coordinator decides what follows.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "sweep/core/grid.h"
#include "sweep/core/task.h"
#include "sweep/engine/transport.h"
#include "sweep/store/wire.h"

namespace emsweep {

// Who and where a worker is (recorded with every point it runs).
struct WorkerIdentity {
  int rank = 0;
  int local_rank = 0;
  std::string host;
  std::string cache_dir;
  int node_worker_index = 0;  // index among the worker ranks of this node (device choice)
  int node_workers = 1;       // worker ranks on this node
  const std::atomic<bool>* stopping = nullptr;  // set once the sweep is stopping (StopWatcher)
  double grace_seconds = 0;                     // run.grace_seconds
  int pack = 1;  // run.pack: a batch of several points is one pack (Task::run_many)
};

// Sets a flag once a stop signal has arrived (checked ten times a second on its own thread),
// so that tasks running children can give them the grace period and then stop them.
class StopWatcher {
 public:
  StopWatcher();
  ~StopWatcher();
  StopWatcher(const StopWatcher&) = delete;
  StopWatcher& operator=(const StopWatcher&) = delete;
  // The flag tasks read.
  [[nodiscard]] const std::atomic<bool>* flag() const { return &stopping_; }

 private:
  void watch();
  std::atomic<bool> stopping_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
  bool done_ = false;
  std::thread thread_;
};

// Runs one point: returns its record, status kFailed with the error text when the task threw,
// returned the wrong number of metrics, or produced NaN/inf where the kind forbids it (curves
// reported before a failure are kept), kCancelled when the task was stopped by a sweep stop.
[[nodiscard]] PointRecord run_point(Task& task, const TaskKindInfo& kind, const Grid& grid,
                                    const WorkItem& item, const WorkerIdentity& who,
                                    const std::atomic<bool>* cancel);

// Runs a pack's points in one Task::run_many call: their records, in `items` order, each
// settled as run_point settles one. Each point is charged an equal part of the call's wall
// time; an exception from run_many itself is every point's failure.
[[nodiscard]] std::vector<PointRecord> run_pack(Task& task, const TaskKindInfo& kind,
                                                const Grid& grid,
                                                const std::vector<WorkItem>& items,
                                                const WorkerIdentity& who,
                                                const std::atomic<bool>* cancel);

// Receives batches until told to stop; sends each batch's records back in one message.
void worker_loop(Transport& transport, Task& task, const TaskKindInfo& kind, const Grid& grid,
                 const WorkerIdentity& who, const std::atomic<bool>* cancel);

}  // namespace emsweep
