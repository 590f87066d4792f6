#include "sweep/engine/worker_loop.h"

#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "sweep/engine/signals.h"

#include "sweep/core/value.h"

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

}  // namespace

PointRecord run_point(Task& task, const TaskKindInfo& kind, const Grid& grid, const WorkItem& item,
                      const WorkerIdentity& who, const std::atomic<bool>* cancel) {
  PointRecord rec;
  rec.index = item.index;
  rec.attempts = item.attempt;
  rec.rank = who.rank;
  rec.host = who.host;
  rec.start_time = unix_now();
  const auto t0 = std::chrono::steady_clock::now();
  try {
    Point p = grid.at(item.index);
    rec.point_id = p.id;
    rec.replicate = p.replicate;
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
    TaskResult r = task.run(p, ctx);
    rec.curves = std::move(r.curves);
    rec.provenance = std::move(r.provenance);
    rec.detail = std::move(r.detail);
    if (std::string why = check_result(kind, r); !why.empty()) {
      rec.status = PointStatus::kFailed;
      rec.error = why;
      rec.detail.outcome = "bad_metric";
    } else {
      rec.status = PointStatus::kDone;
      rec.metrics = std::move(r.metrics);
    }
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
  rec.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  rec.end_time = unix_now();
  if (rec.status != PointStatus::kDone) rec.metrics.clear();
  if (rec.status == PointStatus::kCancelled) rec.curves.clear();
  return rec;
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
    for (const auto& item : batch) {
      encoded.push_back(encode(run_point(task, kind, grid, item, who, cancel)));
    }
    transport.send(0, Tag::kResults, encode_results(encoded));
    while (auto m = transport.receive(std::chrono::microseconds(0))) take(std::move(*m));
  }
}

}  // namespace emsweep
