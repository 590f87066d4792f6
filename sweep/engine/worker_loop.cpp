#include "sweep/engine/worker_loop.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "sweep/core/error.h"
#include "sweep/core/value.h"
#include "sweep/engine/signals.h"

namespace emsweep {
namespace {

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Why a result is not acceptable, or "".
std::string check_result(const TaskKindInfo& kind, const TaskResult& r) {
  if (r.metrics.size() != kind.metrics.size()) {
    return "task kind '" + kind.name + "' returned " + std::to_string(r.metrics.size()) +
           " metrics, but declares " + std::to_string(kind.metrics.size());
  }
  for (std::size_t m = 0; m < r.metrics.size(); ++m) {
    const double v = r.metrics[m];
    if (std::isinf(v) || (std::isnan(v) && !kind.metrics[m].nan_allowed)) {
      return "metric '" + kind.metrics[m].name + "' is " + format_double(v) +
             " (training diverged or the task produced an undefined value)";
    }
  }
  for (const auto& c : r.curves) {
    if (c.x.size() != c.y.size()) return "curve '" + c.name + "' has x and y of different lengths";
  }
  return {};
}

TaskContext context_for(const WorkItem& item, const WorkerIdentity& who,
                        const std::atomic<bool>* cancel) {
  TaskContext ctx;
  ctx.attempt = static_cast<int>(item.attempt);
  ctx.rank = who.rank;
  ctx.local_rank = who.local_rank;
  ctx.cache_dir = who.cache_dir;
  ctx.cancel = cancel;
  ctx.stopping = who.stopping;
  ctx.grace_seconds = who.grace_seconds;
  ctx.node_worker_index = who.node_worker_index;
  ctx.node_workers = who.node_workers;
  return ctx;
}

PointRecord started_record(const WorkItem& item, const WorkerIdentity& who) {
  PointRecord rec;
  rec.index = item.index;
  rec.attempts = item.attempt;
  rec.rank = who.rank;
  rec.host = who.host;
  rec.start_time = unix_now();
  return rec;
}

// The record's outcome from what the task returned, or from the exception it threw.
void settle(PointRecord& rec, const TaskKindInfo& kind, TaskResult* r, const std::exception_ptr& error) {
  if (r != nullptr) {
    rec.curves = std::move(r->curves);
    rec.provenance = std::move(r->provenance);
    rec.detail = std::move(r->detail);
    if (std::string why = check_result(kind, *r); !why.empty()) {
      rec.status = PointStatus::kFailed;
      rec.error = why;
      rec.detail.outcome = "bad_metric";
    } else {
      rec.status = PointStatus::kDone;
      rec.metrics = std::move(r->metrics);
    }
  } else {
    try {
      std::rethrow_exception(error);
    } catch (const TaskCancelled& e) {
      rec.status = PointStatus::kCancelled;
      rec.error = e.what();
    } catch (const TaskFailed& e) {
      rec.status = PointStatus::kFailed;
      rec.error = e.what();
      rec.detail = e.detail;
      rec.curves = e.curves;  // a failed point keeps the curves it reported
    } catch (const std::exception& e) {
      rec.status = PointStatus::kFailed;
      rec.error = e.what();
      rec.detail.outcome = "error";
    } catch (...) {
      rec.status = PointStatus::kFailed;
      rec.error = "the task threw something that is not a std::exception";
      rec.detail.outcome = "error";
    }
  }
  if (rec.status != PointStatus::kDone) rec.metrics.clear();
  if (rec.status == PointStatus::kCancelled) rec.curves.clear();
}

}  // namespace

PointRecord run_point(Task& task, const TaskKindInfo& kind, const Grid& grid, const WorkItem& item,
                      const WorkerIdentity& who, const std::atomic<bool>* cancel) {
  PointRecord rec = started_record(item, who);
  const auto t0 = std::chrono::steady_clock::now();
  try {
    Point p = grid.at(item.index);
    rec.point_id = p.id;
    rec.replicate = p.replicate;
    TaskResult r = task.run(p, context_for(item, who, cancel));
    settle(rec, kind, &r, nullptr);
  } catch (...) {
    settle(rec, kind, nullptr, std::current_exception());
  }
  rec.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  rec.end_time = unix_now();
  return rec;
}

std::vector<PointRecord> run_pack(Task& task, const TaskKindInfo& kind, const Grid& grid,
                                  const std::vector<WorkItem>& items, const WorkerIdentity& who,
                                  const std::atomic<bool>* cancel) {
  std::vector<PointRecord> recs;
  std::vector<Point> points;
  std::vector<std::size_t> slot;  // record of each point given to run_many
  for (const auto& item : items) {
    recs.push_back(started_record(item, who));
    try {
      Point p = grid.at(item.index);
      recs.back().point_id = p.id;
      recs.back().replicate = p.replicate;
      points.push_back(std::move(p));
      slot.push_back(recs.size() - 1);
    } catch (...) {
      settle(recs.back(), kind, nullptr, std::current_exception());
    }
  }
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<PointOutcome> outcomes;
  std::exception_ptr whole;  // run_many itself failed: every point's outcome
  if (!points.empty()) {
    try {
      // The pack's attempt: its latest point's (a ghost's is 0).
      const WorkItem latest = *std::max_element(
          items.begin(), items.end(),
          [](const WorkItem& x, const WorkItem& y) { return x.attempt < y.attempt; });
      outcomes = task.run_many(points, context_for(latest, who, cancel));
      if (outcomes.size() != points.size()) {
        throw Error("task kind '" + kind.name + "' returned " + std::to_string(outcomes.size()) +
                    " outcomes for a pack of " + std::to_string(points.size()) + " points");
      }
    } catch (...) {
      whole = std::current_exception();
    }
  }
  // A pack's points share its wall time: each is charged an equal part.
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double end = unix_now();
  for (std::size_t k = 0; k < points.size(); ++k) {
    PointRecord& rec = recs[slot[k]];
    if (whole) {
      settle(rec, kind, nullptr, whole);
    } else if (outcomes[k].result) {
      settle(rec, kind, &*outcomes[k].result, nullptr);
    } else {
      settle(rec, kind, nullptr,
             outcomes[k].error ? outcomes[k].error
                               : std::make_exception_ptr(Error("the task returned no outcome")));
    }
    rec.seconds = seconds / static_cast<double>(points.size());
    rec.end_time = end;
  }
  return recs;
}

StopWatcher::StopWatcher() : thread_([this] { watch(); }) {}

StopWatcher::~StopWatcher() {
  {
    std::lock_guard lock(mutex_);
    done_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void StopWatcher::watch() {
  std::unique_lock lock(mutex_);
  while (!done_) {
    if (stop_requests() > 0) stopping_ = true;
    wake_.wait_for(lock, std::chrono::milliseconds(100));
  }
}

void worker_loop(Transport& transport, Task& task, const TaskKindInfo& kind, const Grid& grid,
                 const WorkerIdentity& who, const std::atomic<bool>* cancel) {
  std::deque<std::vector<WorkItem>> queue;
  bool stop = false;
  auto take = [&](Message&& m) {
    if (m.tag == Tag::kStop) {
      stop = true;
    } else if (m.tag == Tag::kWork) {
      if (auto items = decode_work(m.payload)) queue.push_back(std::move(*items));
    }
  };
  for (;;) {
    while (queue.empty()) {
      if (stop) return;
      if (auto m = transport.receive(std::chrono::milliseconds(200))) take(std::move(*m));
    }
    std::vector<WorkItem> batch = std::move(queue.front());
    queue.pop_front();
    std::vector<std::string> encoded;
    encoded.reserve(batch.size());
    if (who.pack > 1 && batch.size() > 1) {
      for (const auto& rec : run_pack(task, kind, grid, batch, who, cancel)) {
        if (rec.attempts != 0) encoded.push_back(encode(rec));  // a ghost's outcome is not news
      }
    } else {
      for (const auto& item : batch) {
        encoded.push_back(encode(run_point(task, kind, grid, item, who, cancel)));
      }
    }
    transport.send(0, Tag::kResults, encode_results(encoded));
    while (auto m = transport.receive(std::chrono::microseconds(0))) take(std::move(*m));
  }
}

}  // namespace emsweep
