#include "sweep/engine/search_state.h"

#include <cmath>

#include "sweep/core/plan.h"

namespace emsweep {

SearchState::SearchState(const SweepSpec& spec, const Grid& grid, const Shard& shard,
                         const Ledger& ledger)
    : search_(&*spec.search), grid_(&grid), lattice_(spec.search->lattice_size()) {
  for (std::size_t m = 0; m < spec.kind->metrics.size(); ++m) {
    if (spec.kind->metrics[m].name == search_->metric) metric_ = m;
    if (spec.kind->metrics[m].name == search_->minus) minus_ = static_cast<std::ptrdiff_t>(m);
  }
  for (const auto& [index, metrics] : ledger.done_metrics) {
    known_[index] = Outcome{false, searched_value(metrics)};
  }
  cells_ = search_cells(spec, grid, shard);
  max_points_ = cells_.size() * search_->max_points_per_cell();
  for (auto c : cells_) {
    for (std::uint32_t p = 0; ledger.failed.size() > 0 && p < lattice_; ++p) {
      if (ledger.failed.contains(c * lattice_ + p)) known_[c * lattice_ + p] = Outcome{true, 0};
    }
  }
  for (auto c : cells_) {
    open_[c] = true;
    ++searching_;
    refresh(c);
  }
}

double SearchState::searched_value(const std::vector<double>& metrics) const {
  const double a = metric_ < metrics.size() ? metrics[metric_] : std::nan("");
  if (minus_ < 0) return a;
  const auto j = static_cast<std::size_t>(minus_);
  return a - (j < metrics.size() ? metrics[j] : std::nan(""));
}

CellAnswer SearchState::replay(std::uint64_t cell) const {
  const std::uint64_t first = cell * lattice_;
  return bisect(*search_, [&](std::uint32_t p) -> std::optional<Outcome> {
    auto it = known_.find(first + p);
    if (it == known_.end()) return std::nullopt;
    return it->second;
  });
}

void SearchState::refresh(std::uint64_t cell) {
  auto open = open_.find(cell);
  if (open == open_.end() || !open->second) return;
  CellAnswer a = replay(cell);
  if (a.status != CellStatus::kSearching) {
    open->second = false;
    --searching_;
    return;
  }
  for (auto p : a.wanted) {
    const std::uint64_t index = cell * lattice_ + p;
    if (queued_.insert(index).second) queue_.push_back(index);
  }
}

void SearchState::on_done(std::uint64_t index, const std::vector<double>& metrics) {
  known_[index] = Outcome{false, searched_value(metrics)};
  refresh(index / lattice_);
}

void SearchState::on_failed(std::uint64_t index) {
  known_[index] = Outcome{true, 0};
  refresh(index / lattice_);
}

bool SearchState::take(std::uint64_t& index) {
  if (queue_.empty()) return false;
  index = queue_.front();
  queue_.pop_front();
  return true;
}

std::vector<std::pair<std::uint64_t, CellAnswer>> SearchState::answers() const {
  std::vector<std::pair<std::uint64_t, CellAnswer>> out;
  out.reserve(cells_.size());
  for (auto c : cells_) out.emplace_back(c * lattice_, replay(c));
  return out;
}

}  // namespace emsweep
