// The scheduling decision as a plain value type: which points a worker gets next, what a
// reported outcome means (done, retry, failed), and when the sweep is finished. No MPI, no I/O,
// so the same scheduler runs in unit tests and under the coordinator.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "sweep/core/grid.h"
#include "sweep/core/spec.h"
#include "sweep/engine/search_state.h"
#include "sweep/store/store.h"
#include "sweep/store/wire.h"

namespace emsweep {

struct SchedulerConfig {
  int max_retries = 2;  // attempts beyond the first
  int batch = 0;        // points per message; 0 = adaptive
  bool fail_fast = false;
  Shard shard;
  // A sweep with `search:`: the points come from its cells' searches instead of grid order.
  const SweepSpec* search_spec = nullptr;
  // Points run as supervised children (the `command` kind, run.isolation: process): a child
  // cannot take its rank down, so an attempt cut off by a lost rank or job is not the point's
  // doing. Only reported failures use up its retries, and such points never run isolated.
  bool supervised_children = false;
  // run.pack: points that share a setup are handed out together, up to `pack` at a time, in
  // groups fixed by the grid (its points of one pack_key, in index order, `pack` at a time), so
  // that which points a call runs together never depends on timing. Not with a search.
  int pack = 1;
  // The setup of the point at a full-product index (TaskKindInfo::setup_key); null: one setup.
  std::function<std::string(std::uint64_t index)> pack_key;
};

// A point whose attempts ran out before this run started (its process kept crashing).
struct ExhaustedPoint {
  WorkItem item;
  std::string error;
  RunDetail detail;  // how its last reported attempt ended (outcome, exit code, signal); may be empty
};

class Scheduler {
 public:
  // What an outcome means for the point.
  enum class Verdict { kDone, kRetry, kFailed };

  // Starts from what the journal says (`ledger`): finished points are skipped, unfinished
  // dispatched points go first with their attempt count carried over. A point dispatched twice
  // or more without a report (a crash took its job down while it was in flight, twice) runs
  // isolated: never in flight together with another such point, so that a crashing point
  // cannot take the same innocent neighbours down with it until their attempts run out.
  // With supervised children neither applies: only reported failures count (SchedulerConfig).
  Scheduler(const Grid& grid, const Ledger& ledger, SchedulerConfig config);

  // The next points for `worker` (empty when none can be handed out now).
  [[nodiscard]] std::vector<WorkItem> next_batch(int worker);
  // A done point's metrics, for a search sweep (its cell's search moves on).
  void on_metrics(std::uint64_t index, const std::vector<double>& metrics);
  // The searches, or null when the sweep has none.
  [[nodiscard]] const SearchState* search() const { return search_.get(); }
  // Records the outcome of `item` run by `worker` that took `seconds`.
  // A point handed back unfinished by a stopping worker: not an attempt; it runs again later.
  void on_released(int worker, const WorkItem& item);
  [[nodiscard]] Verdict on_outcome(int worker, const WorkItem& item, bool ok, double seconds);
  // Points whose attempts were used up by crashes in earlier runs (taken once).
  [[nodiscard]] std::vector<ExhaustedPoint> take_exhausted();
  // True once after an isolated point finished: idle workers may have work again.
  [[nodiscard]] bool take_wakeup() { return std::exchange(wakeup_, false); }
  // Stops handing out work (signal, fail_fast).
  void stop() { stopped_ = true; }
  [[nodiscard]] bool stopped() const { return stopped_; }
  // True when nothing is left to hand out.
  [[nodiscard]] bool exhausted() const;
  // True when nothing more will happen: exhausted or stopped, and nothing in flight.
  [[nodiscard]] bool finished() const { return (stopped_ || exhausted()) && in_flight_ == 0; }
  // Points in flight, overall and for one worker; their items.
  [[nodiscard]] std::size_t in_flight() const { return in_flight_; }
  [[nodiscard]] std::size_t in_flight(int worker) const;
  [[nodiscard]] std::vector<WorkItem> in_flight_items() const;
  // How many batches a worker may hold at once: 1 for long tasks; for short ones enough to
  // cover a few milliseconds of work (2 to 16), which hides the round trip to the coordinator.
  [[nodiscard]] int batches_ahead() const;
  // Points of the grid (or shard) this run is responsible for.
  [[nodiscard]] std::uint64_t total() const { return total_; }
  // Mean seconds per point seen so far (exponential average; 0 before any).
  [[nodiscard]] double mean_seconds() const { return mean_seconds_; }

 private:
  [[nodiscard]] bool next_fresh(WorkItem& out);
  // Groups the grid's points into packs (SchedulerConfig::pack).
  void build_packs();
  // The rest of `first`'s pack that can run now: its queued retries and its fresh points; for a
  // point unfinished when this run started, its finished mates too, as ghosts (attempt 0), so
  // that a resumed pack computes as the uninterrupted run's did.
  void add_pack_mates(std::vector<WorkItem>& out);
  [[nodiscard]] std::size_t batch_size() const;

  const Grid* grid_;
  SchedulerConfig config_;
  mutable std::uint64_t cursor_ = 0;    // next full-product index to consider
  const IndexSet* done_ = nullptr;      // the ledger's finished points (outlives us)
  const IndexSet* failed_ = nullptr;
  std::deque<WorkItem> retries_;        // points to run again first
  std::deque<WorkItem> isolated_;       // crash suspects, handed out one at a time
  bool isolated_flying_ = false;        // one of them is in flight
  std::uint64_t isolated_index_ = 0;
  bool wakeup_ = false;
  IndexSet skip_;                       // finished, or queued in retries_
  // Reported failed attempts of unfinished points (supervised children only).
  std::unordered_map<std::uint64_t, std::uint32_t> reported_failures_;
  std::vector<ExhaustedPoint> exhausted_;
  std::unordered_map<int, std::deque<WorkItem>> flying_;  // per worker, in order
  std::size_t in_flight_ = 0;
  std::uint64_t total_ = 0;
  std::uint64_t settled_ = 0;  // finished before or during this run
  double mean_seconds_ = 0;
  bool stopped_ = false;
  std::unique_ptr<SearchState> search_;
  static constexpr std::uint32_t kNoPack = ~std::uint32_t{0};
  std::vector<std::uint32_t> pack_of_;             // full-product index -> pack (packing only)
  std::vector<std::vector<std::uint64_t>> packs_;  // each pack's indices, ascending
  IndexSet resumed_;                               // unfinished when this run started
};

}  // namespace emsweep
