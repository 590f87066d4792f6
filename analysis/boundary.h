// The boundary searches' answers, recomputed from a results file: each cell's search replayed
// against the points the file holds (the engine's search is a pure function of them, so this
// is the answer the run reached, also for a file still being written or resumed).
#pragma once

#include <string>
#include <vector>

#include "analysis/results.h"
#include "sweep/core/search.h"
#include "sweep/core/spec.h"

namespace emsweep::analysis {

struct BoundaryRow {
  std::string cell;        // "x=0.5 seed=1"
  std::uint64_t first = 0; // grid index of the cell's first lattice point
  CellAnswer answer;
};

// One row per cell that has points in `r` (grid order); empty when `spec` has no search.
[[nodiscard]] std::vector<BoundaryRow> boundaries(const Results& r, const SweepSpec& spec);
// The answers as CSV: the cell's axes (the replicate axis as its number), status, critical,
// bracket_low, bracket_high, points_used, increasing (NaN as empty cells), in grid order.
[[nodiscard]] std::string boundary_csv(const std::vector<BoundaryRow>& rows, const SweepSpec& spec);
// The table `summary` prints under the metrics.
[[nodiscard]] std::string format_boundaries(const std::vector<BoundaryRow>& rows, const SweepSpec& spec);

}  // namespace emsweep::analysis
