// The coordinator loop: receive -> decide (Scheduler) -> send -> record (Store). It owns
// no policy of its own beyond timing: when to sync the journal, flush the view, print progress
// and honour stop signals with a grace period.
#pragma once

#include <cstdint>
#include <vector>

#include "sweep/core/error.h"
#include "sweep/core/grid.h"
#include "sweep/engine/progress.h"
#include "sweep/core/spec.h"
#include "sweep/store/store.h"
#include "sweep/engine/transport.h"

namespace emsweep {

struct CoordinatorSettings {
  RunPolicy policy;
  Shard shard;
  bool live_progress = false;  // redraw a progress line (stderr is a terminal)
  bool quiet = false;          // no progress output at all
};

struct RunOutcome {
  std::uint64_t total = 0;        // points this run is responsible for
  std::uint64_t done = 0;         // done, all runs
  std::uint64_t failed = 0;       // failed, all runs
  std::uint64_t done_now = 0;     // done in this run
  std::uint64_t failed_now = 0;   // failed in this run
  bool interrupted = false;       // a stop signal (or fail_fast) ended the run early
  bool workers_busy = false;      // workers were still running points when we stopped
  ExitCode code = ExitCode::kOk;
};

// Runs the sweep over `workers` (ranks reachable through `transport`), recording every outcome
// in `store`; tells every worker to stop before returning unless `workers_busy`.
[[nodiscard]] RunOutcome coordinate(Transport& transport, const std::vector<int>& workers,
                                    Store& store, const Grid& grid, const SweepSpec& spec,
                                    const CoordinatorSettings& settings);

}  // namespace emsweep
