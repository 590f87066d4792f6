// Boundary search (`search: {kind: boundary}`): in every cell of the grid, the value of one
// setting (the search axis) at which a metric crosses a threshold, found by bisection (or
// k-section) instead of a dense axis.
//
// The search runs on a lattice: 2^k + 1 values of the search axis, evenly spaced on its scale,
// with k the smallest level whose neighbouring values are closer than the tolerance. Every
// point a search evaluates is a lattice value, so search points are ordinary grid points (the
// grid is cells x lattice) with stable ids, journal records and resume, and bisection halves
// the lattice exactly. The search itself holds no state: `bisect` replays a cell's search
// against the outcomes known so far, so a resumed sweep, another rank count and `summary`
// reading the results file all reach the same answer from the same points.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "sweep/core/value.h"

namespace emsweep {

struct SearchSpec {
  std::string axis;            // the searched setting (a number setting, not a grid axis)
  bool log = true;             // scale of the axis: log (bounds > 0) or linear
  double low = 0, high = 1;    // bounds, low < high
  std::string metric;          // the metric compared with the threshold ...
  std::string minus;           // ... minus this one, when the config says "a - b" ("" if not)
  double threshold = 0;
  double tolerance = 1.5;      // stop when high/low (log) or high - low (linear) is below it
  int parallel = 1;            // points per cell per round (k-section); never the rank count
  double monotone_tolerance = 0;  // a contradicting point further than this from the threshold
                                  // marks the cell non-monotone
  int levels = 1;              // the lattice has 2^levels + 1 values

  // The lattice values, low to high.
  [[nodiscard]] std::vector<Value> lattice() const;
  [[nodiscard]] std::uint32_t lattice_size() const { return (1u << levels) + 1; }
  // The most points one cell's search can evaluate (both bounds included).
  [[nodiscard]] std::uint64_t max_points_per_cell() const;
  // Canonical text of the definition (feeds the config hash).
  [[nodiscard]] std::string canonical() const;
  // "ood_bad - base_ood_bad" or "ood_bad".
  [[nodiscard]] std::string metric_text() const;
};

// The smallest lattice level whose neighbouring values are closer than the tolerance, or
// nullopt when that would need more than kMaxSearchLevels.
inline constexpr int kMaxSearchLevels = 22;
[[nodiscard]] std::optional<int> search_levels(bool log, double low, double high, double tolerance);

enum class CellStatus {
  kSearching,       // points are still wanted
  kFound,           // the threshold is crossed inside a bracket narrower than the tolerance
  kAboveRange,      // the metric is at or above the threshold at both bounds
  kBelowRange,      // the metric is below the threshold at both bounds
  kNonMonotone,     // an evaluated point contradicts the crossing by more than the tolerance
  kFailed,          // a point the search needed failed after its retries
};

[[nodiscard]] const char* cell_status_name(CellStatus s);

// What is known about one lattice position of a cell.
struct Outcome {
  bool failed = false;
  double value = 0;  // the searched metric (metric - minus), when not failed
};

// One cell's search so far.
struct CellAnswer {
  CellStatus status = CellStatus::kSearching;
  double critical = 0;              // kFound: the crossing, interpolated on the axis' scale
  std::uint32_t bracket_low = 0;    // lattice positions of the current bracket
  std::uint32_t bracket_high = 0;
  bool increasing = true;           // the metric rises along the axis (from the bounds)
  std::vector<std::uint32_t> used;  // lattice positions the search evaluated, in order asked
  std::vector<std::uint32_t> wanted;  // kSearching: positions to evaluate next (this round)
};

// Replays a cell's search against `known` (nullopt = not evaluated yet).
[[nodiscard]] CellAnswer bisect(const SearchSpec& spec,
                                const std::function<std::optional<Outcome>(std::uint32_t)>& known);

}  // namespace emsweep
