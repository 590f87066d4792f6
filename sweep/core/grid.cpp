#include "sweep/core/grid.h"

#include <algorithm>
#include <charconv>
#include <stdexcept>

#include "sweep/core/error.h"
#include "sweep/core/sha256.h"

namespace emsweep {
namespace {

constexpr std::uint64_t kMaxGridPoints = std::uint64_t{1} << 62;
constexpr std::uint64_t kMaxEnumerate = 20'000'000;  // exclusion counting by enumeration
constexpr std::size_t kMaxInclusionExclusion = 20;   // exclusion counting by subsets
constexpr std::size_t kMaxCachedAxisTexts = 65536;  // longer axes format ids on demand

}  // namespace

Shard parse_shard(const std::string& text) {
  auto slash = text.find('/');
  Shard s;
  bool ok = slash != std::string::npos;
  if (ok) {
    auto a = std::from_chars(text.data(), text.data() + slash, s.index);
    auto b = std::from_chars(text.data() + slash + 1, text.data() + text.size(), s.count);
    ok = a.ec == std::errc() && a.ptr == text.data() + slash && b.ec == std::errc() &&
         b.ptr == text.data() + text.size() && s.count >= 1 && s.index < s.count;
  }
  if (!ok) {
    throw ConfigError("--shard " + text + ": expected i/K with 0 <= i < K",
                      "e.g. --shard 0/4 for the first of four shards (Slurm: $SLURM_ARRAY_TASK_ID/K)");
  }
  return s;
}

Grid::Grid(const SweepSpec& spec) : spec_(&spec) {
  axis_dim_.assign(spec.axes.size(), -1);
  for (std::size_t a = 0; a < spec.axes.size(); ++a) {
    if (axis_dim_[a] >= 0) continue;
    Dim d;
    d.length = spec.axes[a].values.size();
    d.axes.push_back(static_cast<int>(a));
    for (const auto& z : spec.zips) {
      if (std::find(z.begin(), z.end(), spec.axes[a].name) == z.end()) continue;
      d.axes.clear();
      for (const auto& n : z) d.axes.push_back(spec.axis_index(n));
      std::sort(d.axes.begin(), d.axes.end());
    }
    if (spec.axes[a].is_sampled) {  // the sampled settings: one dimension, position = sample index
      d.axes.clear();
      for (std::size_t b = 0; b < spec.axes.size(); ++b) {
        if (spec.axes[b].is_sampled) d.axes.push_back(static_cast<int>(b));
      }
    }
    for (int ax : d.axes) axis_dim_[ax] = static_cast<int>(dims_.size());
    dims_.push_back(std::move(d));
  }
  // Last dimension varies fastest, like nested loops in config order.
  std::uint64_t stride = 1;
  for (auto it = dims_.rbegin(); it != dims_.rend(); ++it) {
    it->stride = stride;
    if (it->length == 0 || stride > kMaxGridPoints / it->length) {
      throw ConfigError("the grid has more than 2^62 points",
                        "split the sweep or use fewer values per axis");
    }
    stride *= it->length;
  }
  full_size_ = stride;

  for (const auto& x : spec.exclusions) {
    Box box;
    box.allowed.resize(dims_.size());
    bool empty = false;
    for (const auto& [name, value] : x.match) {
      int ai = spec.axis_index(name);
      const auto& values = spec.axes[ai].values;
      auto pos = std::find(values.begin(), values.end(), value) - values.begin();
      int di = axis_dim_[ai];
      auto& allowed = box.allowed[di];
      if (allowed.empty()) {
        allowed.assign(dims_[di].length, false);
        allowed[pos] = true;
      } else {  // two zipped axes in one exclusion: both must match the same position
        bool keep = allowed[pos];
        std::fill(allowed.begin(), allowed.end(), false);
        allowed[pos] = keep;
        empty = empty || !keep;
      }
    }
    if (!empty) boxes_.push_back(std::move(box));
  }
  excluded_ = count_excluded();

  // Point ids hash every setting in name order, the replicate and the sweep seed.
  const auto& schema = spec.kind->settings;
  std::vector<std::size_t> order(schema.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](auto a, auto b) { return schema[a].name < schema[b].name; });
  for (std::size_t si : order) {
    int ai = spec.axis_index(schema[si].name);
    if (ai >= 0) {
      id_parts_.emplace_back(schema[si].name + "=", ai);
    } else {
      id_parts_.emplace_back(schema[si].name + "=" + spec.task.values[si].canonical() + ";", -1);
    }
  }
  for (std::size_t a = 0; a < spec.axes.size(); ++a) {
    if (spec.axes[a].is_replicate) replicate_axis_ = static_cast<int>(a);
    if (spec.axes[a].is_sampled && sample_axis_ < 0) sample_axis_ = static_cast<int>(a);
  }
  axis_texts_.resize(spec.axes.size());
  for (const auto& [part, ai] : id_parts_) {
    if (ai < 0 || spec.axes[ai].values.size() > kMaxCachedAxisTexts) continue;
    for (const auto& v : spec.axes[ai].values) axis_texts_[ai].push_back(v.canonical() + ";");
  }
}

std::uint64_t Grid::count_excluded() const {
  if (boxes_.empty()) return 0;
  std::vector<bool> constrained(dims_.size(), false);
  for (const auto& b : boxes_) {
    for (std::size_t d = 0; d < dims_.size(); ++d) constrained[d] = constrained[d] || !b.allowed[d].empty();
  }
  std::uint64_t sub = 1, free_points = 1;
  bool enumerable = true;
  for (std::size_t d = 0; d < dims_.size(); ++d) {
    if (constrained[d]) {
      if (sub > kMaxEnumerate / dims_[d].length) enumerable = false;
      else sub *= dims_[d].length;
    } else {
      free_points *= dims_[d].length;
    }
  }
  if (enumerable) {
    // Walk every combination of the constrained dimensions once.
    std::vector<std::uint64_t> pos(dims_.size(), 0);
    std::uint64_t hits = 0;
    for (std::uint64_t k = 0; k < sub; ++k) {
      for (const auto& b : boxes_) {
        if (box_contains(b, pos)) {
          ++hits;
          break;
        }
      }
      for (std::size_t d = dims_.size(); d-- > 0;) {
        if (!constrained[d]) continue;
        if (++pos[d] < dims_[d].length) break;
        pos[d] = 0;
      }
    }
    return hits * free_points;
  }
  if (boxes_.size() > kMaxInclusionExclusion) {
    throw ConfigError("too many exclusions over too many values to count the grid",
                      "use fewer exclusions, or split the sweep into several configs");
  }
  // Inclusion-exclusion over subsets of exclusions: |union| = sum (-1)^(k+1) |intersection|.
  long double total = 0;
  const std::size_t n = boxes_.size();
  for (std::uint64_t mask = 1; mask < (std::uint64_t{1} << n); ++mask) {
    long double size = 1;
    for (std::size_t d = 0; d < dims_.size() && size > 0; ++d) {
      std::vector<bool> inter;
      for (std::size_t i = 0; i < n; ++i) {
        if (!(mask >> i & 1) || boxes_[i].allowed[d].empty()) continue;
        if (inter.empty()) {
          inter = boxes_[i].allowed[d];
        } else {
          for (std::size_t p = 0; p < inter.size(); ++p) inter[p] = inter[p] && boxes_[i].allowed[d][p];
        }
      }
      size *= inter.empty() ? static_cast<long double>(dims_[d].length)
                            : static_cast<long double>(std::count(inter.begin(), inter.end(), true));
    }
    total += (__builtin_popcountll(mask) % 2 == 1 ? 1 : -1) * size;
  }
  return static_cast<std::uint64_t>(total + 0.5L);
}

bool Grid::box_contains(const Box& box, const std::vector<std::uint64_t>& dpos) const {
  for (std::size_t d = 0; d < dims_.size(); ++d) {
    if (!box.allowed[d].empty() && !box.allowed[d][dpos[d]]) return false;
  }
  return true;
}

std::vector<std::uint64_t> Grid::dim_positions(std::uint64_t index) const {
  if (index >= full_size_) throw std::out_of_range("grid index past the end");
  std::vector<std::uint64_t> out(dims_.size());
  for (std::size_t d = 0; d < dims_.size(); ++d) {
    out[d] = index / dims_[d].stride;
    index %= dims_[d].stride;
  }
  return out;
}

std::vector<std::uint32_t> Grid::positions(std::uint64_t index) const {
  auto dpos = dim_positions(index);
  std::vector<std::uint32_t> out(spec_->axes.size());
  for (std::size_t a = 0; a < out.size(); ++a) out[a] = static_cast<std::uint32_t>(dpos[axis_dim_[a]]);
  return out;
}

std::optional<std::uint64_t> Grid::index_of(const std::vector<std::uint32_t>& axis_positions) const {
  if (axis_positions.size() != spec_->axes.size()) return std::nullopt;
  std::uint64_t index = 0;
  for (std::size_t d = 0; d < dims_.size(); ++d) {
    std::uint32_t p = axis_positions[dims_[d].axes[0]];
    for (int a : dims_[d].axes) {
      if (axis_positions[a] != p) return std::nullopt;
    }
    if (p >= dims_[d].length) return std::nullopt;
    index += p * dims_[d].stride;
  }
  return index;
}

bool Grid::is_excluded(std::uint64_t index) const {
  if (boxes_.empty()) return false;
  auto dpos = dim_positions(index);
  for (const auto& b : boxes_) {
    if (box_contains(b, dpos)) return true;
  }
  return false;
}

std::uint64_t Grid::id_at(std::uint64_t index) const { return id_of(positions(index)); }

std::uint64_t Grid::id_of(const std::vector<std::uint32_t>& pos) const {
  std::string text;
  text.reserve(256);
  text += spec_->kind->name;
  text += '|';
  for (const auto& [part, axis] : id_parts_) {
    text += part;
    if (axis < 0) continue;
    const auto& cached = axis_texts_[axis];
    if (!cached.empty()) {
      text += cached[pos[axis]];
    } else {
      text += spec_->axes[axis].values[pos[axis]].canonical();
      text += ';';
    }
  }
  std::int64_t replicate = replicate_axis_ >= 0 ? static_cast<std::int64_t>(pos[replicate_axis_]) : 0;
  text += "|replicate=";
  text += std::to_string(replicate);
  text += "|seed=";
  text += std::to_string(spec_->seed);
  if (sample_axis_ >= 0) {  // sample points may coincide in every setting; their index tells them apart
    text += "|sample=";
    text += std::to_string(pos[sample_axis_]);
  }
  return sha256_u64(text);
}

Point Grid::at(std::uint64_t index) const {
  auto pos = positions(index);
  Point p;
  p.index = index;
  p.id = id_of(pos);
  p.sweep_seed = spec_->seed;
  p.replicate = replicate_axis_ >= 0 ? static_cast<std::int64_t>(pos[replicate_axis_]) : 0;
  p.settings = spec_->task;
  for (std::size_t a = 0; a < spec_->axes.size(); ++a) {
    if (spec_->axes[a].is_replicate) continue;
    int si = spec_->kind->setting_index(spec_->axes[a].name);
    p.settings.values[si] = spec_->axes[a].values[pos[a]];
  }
  return p;
}

std::uint64_t Grid::next_kept(std::uint64_t from) const {
  while (from < full_size_ && is_excluded(from)) ++from;
  return std::min(from, full_size_);
}

std::uint64_t Grid::prev_kept(std::uint64_t before) const {
  while (before > 0) {
    --before;
    if (!is_excluded(before)) return before;
  }
  return full_size_;
}

bool Grid::in_shard(std::uint64_t index, const Shard& shard) const {
  return shard.count <= 1 || id_at(index) % shard.count == shard.index;
}

std::vector<std::string> Grid::dimension_names() const {
  std::vector<std::string> out;
  for (const auto& d : dims_) {
    std::string name;
    for (int a : d.axes) name += (name.empty() ? "" : "+") + spec_->axes[a].name;
    out.push_back(name);
  }
  return out;
}

}  // namespace emsweep
