#include "sweep/engine/scheduler.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "sweep/core/error.h"

namespace emsweep {
namespace {

constexpr double kTargetBatchSeconds = 0.02;  // adaptive batches aim at this much work
constexpr std::size_t kMaxBatch = 1024;
constexpr double kShortTaskSeconds = 0.05;  // shorter tasks get more than one batch queued
constexpr double kQueueSeconds = 0.002;     // work queued per worker for short tasks
constexpr int kMaxBatchesAhead = 16;
constexpr std::uint64_t kMaxShardCount = 20'000'000;  // count a shard exactly up to this size

}  // namespace

Scheduler::Scheduler(const Grid& grid, const Ledger& ledger, SchedulerConfig config)
    : grid_(&grid), config_(config) {
  if (config_.search_spec != nullptr && config_.search_spec->search) {
    search_ = std::make_unique<SearchState>(*config_.search_spec, grid, config_.shard, ledger);
    total_ = search_->max_points();
  } else if (config_.shard.count <= 1) {
    total_ = grid.size();
  } else if (grid.size() <= kMaxShardCount) {
    for (std::uint64_t i = grid.next_kept(0); i < grid.full_size(); i = grid.next_kept(i + 1)) {
      total_ += grid.in_shard(i, config_.shard) ? 1 : 0;
    }
  } else {
    total_ = (grid.size() + config_.shard.count - 1) / config_.shard.count;  // estimate
  }
  settled_ = ledger.done.size() + ledger.failed.size();
  // Unfinished points from earlier runs: retry first, or give up if crashes used them up.
  std::vector<std::pair<std::uint64_t, std::uint32_t>> pending(ledger.pending_attempts.begin(),
                                                                ledger.pending_attempts.end());
  std::sort(pending.begin(), pending.end());
  if (config_.supervised_children) reported_failures_ = ledger.reported_failures;
  for (auto [index, attempts] : pending) {
    if (index >= grid.full_size() || ledger.done.contains(index) || ledger.failed.contains(index)) {
      continue;
    }
    skip_.insert(index);
    resumed_.insert(index);
    // A supervised child's retries are used up only by failures it reported; one over the
    // limit means the run stopped before recording the final failure.
    const auto reported = reported_failures_.find(index);
    const bool used_up =
        config_.supervised_children
            ? reported != reported_failures_.end() && static_cast<int>(reported->second) > config_.max_retries
            : static_cast<int>(attempts) > config_.max_retries;
    if (config_.supervised_children && !used_up) {
      retries_.push_back({index, attempts + 1});
    } else if (used_up) {
      // The cause of its last reported failure, when one was reported: a point that failed
      // the same way every time keeps that cause (and its outcome, exit code and signal) even
      // when its last attempts were cut off by kills.
      auto err = ledger.last_error.find(index);
      auto detail = ledger.last_detail.find(index);
      exhausted_.push_back(
          {{index, attempts},
           err != ledger.last_error.end()
               ? err->second
               : "dispatched " + std::to_string(attempts) +
                     " times without a report: its process probably crashed (segfault, abort, "
                     "out of memory) or the job was killed while it ran",
           detail != ledger.last_detail.end() ? detail->second : RunDetail{}});
    } else if (attempts >= 2) {
      isolated_.push_back({index, attempts + 1});
    } else {
      retries_.push_back({index, attempts + 1});
    }
  }
  // Finished points are skipped by the cursor via the ledger's sets.
  done_ = &ledger.done;
  failed_ = &ledger.failed;
  if (config_.pack > 1 && !search_) build_packs();
}

void Scheduler::build_packs() {
  if (grid_->full_size() > kMaxShardCount) {
    throw ConfigError("run.pack: the grid has " + std::to_string(grid_->full_size()) +
                          " points; packs are formed from the whole grid, up to " +
                          std::to_string(kMaxShardCount),
                      "shard the sweep (--shard) or remove run.pack");
  }
  pack_of_.assign(grid_->full_size(), kNoPack);
  std::unordered_map<std::string, std::uint32_t> open;  // setup -> its pack being filled
  for (std::uint64_t i = grid_->next_kept(0); i < grid_->full_size(); i = grid_->next_kept(i + 1)) {
    if (!grid_->in_shard(i, config_.shard)) continue;
    const std::string key = config_.pack_key ? config_.pack_key(i) : std::string();
    auto [it, fresh] = open.try_emplace(key, static_cast<std::uint32_t>(packs_.size()));
    if (!fresh && packs_[it->second].size() >= static_cast<std::size_t>(config_.pack)) {
      it->second = static_cast<std::uint32_t>(packs_.size());
      fresh = true;
    }
    if (fresh) packs_.emplace_back();
    packs_[it->second].push_back(i);
    pack_of_[i] = it->second;
  }
}

void Scheduler::add_pack_mates(std::vector<WorkItem>& out) {
  const std::uint64_t first = out.front().index;
  if (first >= pack_of_.size() || pack_of_[first] == kNoPack) return;
  const bool resumed = resumed_.contains(first);
  for (std::uint64_t i : packs_[pack_of_[first]]) {
    if (i == first) continue;
    auto queued = std::find_if(retries_.begin(), retries_.end(),
                               [&](const WorkItem& w) { return w.index == i; });
    if (queued != retries_.end()) {
      out.push_back(*queued);
      retries_.erase(queued);
    } else if (!skip_.contains(i) && !done_->contains(i) && !failed_->contains(i)) {
      out.push_back({i, 1});
    } else if (resumed && (done_->contains(i) || failed_->contains(i))) {
      out.push_back({i, 0});  // a ghost: computed with the pack, not reported
    }
  }
  std::sort(out.begin(), out.end(),
            [](const WorkItem& x, const WorkItem& y) { return x.index < y.index; });
}

std::vector<ExhaustedPoint> Scheduler::take_exhausted() {
  settled_ += exhausted_.size();
  if (search_) {
    for (const auto& x : exhausted_) search_->on_failed(x.item.index);
  }
  return std::exchange(exhausted_, {});
}

bool Scheduler::next_fresh(WorkItem& out) {
  if (search_) {
    std::uint64_t i = 0;
    while (search_->take(i)) {
      if (skip_.contains(i) || done_->contains(i) || failed_->contains(i)) continue;
      out = {i, 1};
      return true;
    }
    return false;
  }
  while (cursor_ < grid_->full_size()) {
    std::uint64_t i = cursor_++;
    if (grid_->is_excluded(i) || skip_.contains(i) || done_->contains(i) || failed_->contains(i)) {
      continue;
    }
    if (!grid_->in_shard(i, config_.shard)) continue;
    out = {i, 1};
    return true;
  }
  return false;
}

bool Scheduler::exhausted() const {
  if (!retries_.empty() || !isolated_.empty()) return false;
  // A search is over when every cell's search ended; until then a result may want more points.
  if (search_) return search_->concluded();
  // Advance the cursor over indices that will never be handed out, then look.
  while (cursor_ < grid_->full_size()) {
    std::uint64_t i = cursor_;
    if (grid_->is_excluded(i) || skip_.contains(i) || done_->contains(i) || failed_->contains(i) ||
        !grid_->in_shard(i, config_.shard)) {
      ++cursor_;
      continue;
    }
    return false;
  }
  return true;
}

std::size_t Scheduler::batch_size() const {
  if (config_.batch > 0) return static_cast<std::size_t>(config_.batch);
  if (mean_seconds_ <= 0) return 1;
  auto n = static_cast<std::size_t>(kTargetBatchSeconds / mean_seconds_);
  n = std::clamp<std::size_t>(n, 1, kMaxBatch);
  // Near the end, keep batches small enough that every worker gets a share.
  std::uint64_t left = total_ > settled_ + in_flight_ ? total_ - settled_ - in_flight_ : 0;
  std::size_t workers = std::max<std::size_t>(1, flying_.size());
  std::size_t fair = static_cast<std::size_t>(std::max<std::uint64_t>(1, left / (4 * workers)));
  return std::min(n, fair);
}

int Scheduler::batches_ahead() const {
  if (mean_seconds_ <= 0 || mean_seconds_ >= kShortTaskSeconds) return 1;
  // Short tasks: enough batches queued at each worker to cover kQueueSeconds of work, so that
  // a worker never waits for the coordinator's answer (with one point per message and
  // microsecond tasks, 2 batches left the workers idle half the time).
  const double per_batch = static_cast<double>(batch_size()) * mean_seconds_;
  const auto n = static_cast<int>(std::ceil(kQueueSeconds / per_batch));
  return std::clamp(n, 2, kMaxBatchesAhead);
}

std::vector<WorkItem> Scheduler::next_batch(int worker) {
  std::vector<WorkItem> out;
  auto& mine = flying_[worker];
  if (stopped_) return out;
  const bool packing = !packs_.empty();
  const std::size_t n = isolated_.empty() || isolated_flying_ ? (packing ? 1 : batch_size()) : 0;
  if (n == 0) {  // a crash suspect travels alone
    out.push_back(isolated_.front());
    isolated_.pop_front();
    isolated_flying_ = true;
    isolated_index_ = out.back().index;
  }
  while (out.size() < n) {
    if (!retries_.empty()) {
      out.push_back(retries_.front());
      retries_.pop_front();
      continue;
    }
    WorkItem w;
    if (!next_fresh(w)) break;
    out.push_back(w);
  }
  // A pack travels whole: one message, one call of the task (a crash suspect still goes alone).
  if (packing && n == 1 && !out.empty()) add_pack_mates(out);
  std::size_t live = 0;
  for (const auto& w : out) {
    if (w.attempt == 0) continue;  // ghosts are not in flight: nothing comes back for them
    mine.push_back(w);
    skip_.insert(w.index);
    ++live;
  }
  in_flight_ += live;
  return out;
}

void Scheduler::on_released(int worker, const WorkItem& item) {
  auto& mine = flying_[worker];
  auto it = std::find_if(mine.begin(), mine.end(), [&](const WorkItem& w) {
    return w.index == item.index && w.attempt == item.attempt;
  });
  if (it != mine.end()) {
    mine.erase(it);
    --in_flight_;
  }
  if (isolated_flying_ && item.index == isolated_index_) {
    isolated_flying_ = false;
    wakeup_ = true;
  }
  if (!stopped_) retries_.push_back(item);  // the same attempt again: this one did not count
}

Scheduler::Verdict Scheduler::on_outcome(int worker, const WorkItem& item, bool ok, double seconds) {
  auto& mine = flying_[worker];
  auto it = std::find_if(mine.begin(), mine.end(), [&](const WorkItem& w) {
    return w.index == item.index && w.attempt == item.attempt;
  });
  if (it != mine.end()) {
    mine.erase(it);
    --in_flight_;
  }
  if (isolated_flying_ && item.index == isolated_index_) {
    isolated_flying_ = false;
    wakeup_ = true;
  }
  if (std::isfinite(seconds) && seconds >= 0) {
    mean_seconds_ = mean_seconds_ == 0 ? std::max(seconds, 1e-7) : 0.9 * mean_seconds_ + 0.1 * seconds;
  }
  if (ok) {
    ++settled_;
    reported_failures_.erase(item.index);
    return Verdict::kDone;
  }
  // Attempts used: every dispatch, or with supervised children only the reported failures.
  const std::uint32_t used =
      config_.supervised_children ? ++reported_failures_[item.index] : item.attempt;
  if (static_cast<int>(used) <= config_.max_retries && !stopped_) {
    retries_.push_back({item.index, item.attempt + 1});
    return Verdict::kRetry;
  }
  reported_failures_.erase(item.index);
  ++settled_;
  if (config_.fail_fast) stopped_ = true;
  if (search_) {
    search_->on_failed(item.index);
    wakeup_ = true;  // its cell ended: idle workers may finish (or others' points go on)
  }
  return Verdict::kFailed;
}

void Scheduler::on_metrics(std::uint64_t index, const std::vector<double>& metrics) {
  if (!search_) return;
  search_->on_done(index, metrics);
  wakeup_ = true;  // the cell's next round may be wanted: feed idle workers
}

std::size_t Scheduler::in_flight(int worker) const {
  auto it = flying_.find(worker);
  return it == flying_.end() ? 0 : it->second.size();
}

std::vector<WorkItem> Scheduler::in_flight_items() const {
  std::vector<WorkItem> out;
  for (const auto& [w, items] : flying_) out.insert(out.end(), items.begin(), items.end());
  return out;
}

}  // namespace emsweep
