// The lazy grid: index <-> point by mixed radix over product axes and zipped groups, with
// exclusions. Memory does not depend on the number of points.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sweep/core/spec.h"
#include "sweep/core/task.h"

namespace emsweep {

// A shard of a grid split across K separate jobs: this is shard `index` of `count`.
struct Shard {
  std::uint64_t index = 0;
  std::uint64_t count = 1;
};

// Parses "i/K" (0 <= i < K); throws ConfigError otherwise.
[[nodiscard]] Shard parse_shard(const std::string& text);

class Grid {
 public:
  // The grid of `spec`; `spec` must outlive the grid. Throws ConfigError if it is too large.
  explicit Grid(const SweepSpec& spec);

  // Points in the full product (before exclusions).
  [[nodiscard]] std::uint64_t full_size() const { return full_size_; }
  // Points after exclusions.
  [[nodiscard]] std::uint64_t size() const { return full_size_ - excluded_; }
  // Points removed by exclusions.
  [[nodiscard]] std::uint64_t excluded() const { return excluded_; }

  // Position of each axis (in spec.axes order) at full-product index `index`.
  [[nodiscard]] std::vector<std::uint32_t> positions(std::uint64_t index) const;
  // Full-product index of axis positions (spec.axes order); nullopt if zipped axes disagree.
  [[nodiscard]] std::optional<std::uint64_t> index_of(
      const std::vector<std::uint32_t>& axis_positions) const;
  // True if the point at `index` matches an exclusion.
  [[nodiscard]] bool is_excluded(std::uint64_t index) const;
  // The point at full-product index `index` (throws std::out_of_range past the end).
  [[nodiscard]] Point at(std::uint64_t index) const;
  // The stable id of the point at `index` (cheaper than at(index).id).
  [[nodiscard]] std::uint64_t id_at(std::uint64_t index) const;
  // First kept index >= from, or full_size().
  [[nodiscard]] std::uint64_t next_kept(std::uint64_t from) const;
  // Last kept index < before, or full_size() if none.
  [[nodiscard]] std::uint64_t prev_kept(std::uint64_t before) const;
  // True if the point at `index` belongs to `shard` (by its id, so growth keeps shards).
  [[nodiscard]] bool in_shard(std::uint64_t index, const Shard& shard) const;

  // Names of the dimensions (an axis, or "a+b" for a zip group), slowest first.
  [[nodiscard]] std::vector<std::string> dimension_names() const;

 private:
  struct Dim {
    std::vector<int> axes;  // indices into spec.axes
    std::uint64_t length = 0;
    std::uint64_t stride = 0;
  };
  struct Box {  // one exclusion: per dimension, the allowed positions (empty = any)
    std::vector<std::vector<bool>> allowed;
  };

  [[nodiscard]] std::uint64_t count_excluded() const;
  [[nodiscard]] bool box_contains(const Box& box, const std::vector<std::uint64_t>& dpos) const;
  [[nodiscard]] std::vector<std::uint64_t> dim_positions(std::uint64_t index) const;
  [[nodiscard]] std::uint64_t id_of(const std::vector<std::uint32_t>& pos) const;

  const SweepSpec* spec_;
  std::vector<Dim> dims_;
  std::vector<int> axis_dim_;  // dimension of each axis
  std::vector<Box> boxes_;
  std::uint64_t full_size_ = 1;
  std::uint64_t excluded_ = 0;
  // For id hashing: per setting, canonical "name=value;" when fixed, or the axis index.
  std::vector<std::pair<std::string, int>> id_parts_;
  // Per axis, "value;" in canonical form for each of its values (empty for axes too long to
  // keep; those are formatted on demand). Formatting dominated a worker's cost per short point.
  std::vector<std::vector<std::string>> axis_texts_;
  int replicate_axis_ = -1;
  int sample_axis_ = -1;  // first sampled axis: its position is the sample index
};

}  // namespace emsweep
