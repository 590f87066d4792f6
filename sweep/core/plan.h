// `emsweep plan`: what a sweep will run — axes, point count, exclusions, first and last
// points, and the task kind's cost estimate — as text for people or JSON for scripts.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "sweep/core/grid.h"
#include "sweep/core/spec.h"

namespace emsweep {

// The estimate for a whole sweep, from the kind's per-point estimate.
struct SweepEstimate {
  CostEstimate per_point;
  std::uint64_t points = 0;
  double core_seconds = 0;  // points x seconds_per_point + setups x setup_seconds
};

// The cells of a boundary search that are kept (not excluded) and fall in `shard`, in grid
// order: cell c holds grid indices c*L .. c*L+L-1 for a lattice of L values. Empty without one.
[[nodiscard]] std::vector<std::uint64_t> search_cells(const SweepSpec& spec, const Grid& grid,
                                                      const Shard& shard = {});

// The most points a run of the whole sweep evaluates: the grid's points, or for a boundary
// search its cells times the most points one cell's search can use.
[[nodiscard]] std::uint64_t most_points(const SweepSpec& spec, const Grid& grid);

// The sweep's estimate, or nullopt when the task kind gives none.
[[nodiscard]] std::optional<SweepEstimate> estimate_sweep(const SweepSpec& spec, const Grid& grid);

// The argv that the first attempt of point `index` of a `command` sweep runs.
[[nodiscard]] std::vector<std::string> command_of(const SweepSpec& spec, const Grid& grid,
                                                  std::uint64_t index);
// One line "axis=value axis=value ... replicate=r" describing the point at `index`.
// A search cell (the point at `index` without its searched axis): "x=0.5 seed=1".
[[nodiscard]] std::string describe_cell(const SweepSpec& spec, const Grid& grid, std::uint64_t index);
// One cell's search answer: "kl_weight = 2.98 in [2.37, 3.16]", or its status word.
[[nodiscard]] std::string describe_answer(const SweepSpec& spec, const CellAnswer& answer);
[[nodiscard]] std::string describe_point(const SweepSpec& spec, const Grid& grid,
                                         std::uint64_t index);

// The plan as text; `shown` points are listed at each end.
[[nodiscard]] std::string plan_text(const SweepSpec& spec, const Grid& grid, int shown = 3);
// The plan as a JSON document.
[[nodiscard]] std::string plan_json(const SweepSpec& spec, const Grid& grid, int shown = 3);

// "1h 23m", "4.2 s", ... for durations in seconds.
[[nodiscard]] std::string human_seconds(double seconds);

}  // namespace emsweep
