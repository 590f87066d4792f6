// The boundary searches of a sweep under the scheduler: every cell's search replayed from the
// outcomes known so far (the journal's, then each new result), and the lattice points they want
// next, queued once each. Cells are the grid without its last (searched) axis: cell c holds
// indices c * L .. c * L + L - 1 for a lattice of L values.
#pragma once

#include <cstdint>
#include <deque>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "sweep/core/grid.h"
#include "sweep/core/search.h"
#include "sweep/core/spec.h"
#include "sweep/store/store.h"

namespace emsweep {

class SearchState {
 public:
  // The searches of `spec` (which must have one) over `grid`, for the cells of `shard`, starting
  // from the done and failed points of `ledger` (replayed with keep_metrics).
  SearchState(const SweepSpec& spec, const Grid& grid, const Shard& shard, const Ledger& ledger);

  // A point's final outcome: its cell's search moves on (new points may be wanted).
  void on_done(std::uint64_t index, const std::vector<double>& metrics);
  void on_failed(std::uint64_t index);
  // The next wanted point not handed out before; false when none is wanted now.
  bool take(std::uint64_t& index);
  // True when every cell's search has ended (nothing will be wanted again).
  [[nodiscard]] bool concluded() const { return searching_ == 0; }
  // Cells of this run, and those whose search has not ended yet.
  [[nodiscard]] std::size_t cells() const { return cells_.size(); }
  [[nodiscard]] std::size_t open_cells() const { return searching_; }
  // The most points the searches of this run's cells can use (for progress and the ETA).
  [[nodiscard]] std::uint64_t max_points() const { return max_points_; }
  // Each cell of this run: its first grid index and its search's answer so far.
  [[nodiscard]] std::vector<std::pair<std::uint64_t, CellAnswer>> answers() const;

 private:
  void refresh(std::uint64_t cell);
  [[nodiscard]] CellAnswer replay(std::uint64_t cell) const;
  [[nodiscard]] double searched_value(const std::vector<double>& metrics) const;

  const SearchSpec* search_;
  const Grid* grid_;
  std::uint32_t lattice_;
  std::size_t metric_ = 0;
  std::ptrdiff_t minus_ = -1;
  std::vector<std::uint64_t> cells_;                 // this run's cells
  std::unordered_map<std::uint64_t, bool> open_;     // cell -> still searching
  std::unordered_map<std::uint64_t, Outcome> known_;
  std::deque<std::uint64_t> queue_;
  std::unordered_set<std::uint64_t> queued_;
  std::size_t searching_ = 0;
  std::uint64_t max_points_ = 0;
};

}  // namespace emsweep
