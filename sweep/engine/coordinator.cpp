#include "sweep/engine/coordinator.h"

#include <fmt/format.h>

#include <chrono>
#include <map>

#include "sweep/core/plan.h"
#include "sweep/engine/scheduler.h"
#include "sweep/engine/signals.h"

namespace emsweep {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kCommitRecords = 256;    // sync the journal after this many records...
constexpr double kCommitSeconds = 0.2;         // ...or this long after the first unsynced one
constexpr auto kPollTimeout = std::chrono::milliseconds(50);
// Dispatch records reach the kernel before the coordinator waits, and under a steady stream of
// messages at most this long after they were made: one write(2) per message cost a third of
// the coordinator's time with one point per message.
constexpr double kPublishSeconds = 0.001;
constexpr std::size_t kMaxBufferedRows = 1024;  // bounds the view's memory; small buffers stay in cache

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// The journal record of an attempt that will be retried, with how it ran.
AttemptFailure attempt_failure(const PointRecord& r) {
  AttemptFailure f;
  f.index = r.index;
  f.attempt = r.attempts;
  f.rank = r.rank;
  f.error = r.error;
  f.detail = r.detail;
  f.seconds = r.seconds;
  f.end_time = r.end_time;
  f.host = r.host;
  return f;
}

// How long points in flight get after a stop before the run gives up on them: run.grace_seconds,
// and where each point is a supervised child (the `command` kind), also the SIGTERM,
// run.kill_grace, SIGKILL sequence that its worker starts when grace_seconds are over, and a
// second for the release to arrive; so the run ends after its children, not while they still run.
double stop_wait_seconds(const SweepSpec& spec, const RunPolicy& policy) {
  const bool children = spec.kind != nullptr && (spec.kind->declared_by_config || policy.isolation == "process");
  return policy.grace_seconds + (children ? policy.kill_grace + 1.0 : 0.0);
}

}  // namespace

RunOutcome coordinate(Transport& transport, const std::vector<int>& workers, Store& store,
                      const Grid& grid, const SweepSpec& spec, const CoordinatorSettings& settings) {
  SchedulerConfig cfg;
  cfg.max_retries = settings.policy.max_retries;
  cfg.batch = settings.policy.batch;
  cfg.fail_fast = settings.policy.fail_fast;
  cfg.shard = settings.shard;
  Scheduler sched(grid, store.ledger(), cfg);
  Progress progress(settings.live_progress, settings.policy.log_seconds, settings.quiet);

  RunOutcome out;
  out.total = sched.total();
  out.done = store.ledger().done.size();
  out.failed = store.ledger().failed.size();

  auto warn = [&](const std::string& text) {
    progress.break_line();
    fmt::print(stderr, "[emsweep] {}\n", text);
  };

  // Points whose crashes used up their attempts in earlier runs are recorded failed now.
  for (const auto& x : sched.take_exhausted()) {
    PointRecord rec;
    rec.point_id = grid.id_at(x.item.index);
    rec.index = x.item.index;
    rec.replicate = grid.at(x.item.index).replicate;
    rec.status = PointStatus::kFailed;
    rec.attempts = x.item.attempt;
    rec.rank = -1;
    rec.start_time = rec.end_time =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    rec.error = x.error;
    store.record_result(rec);
    ++out.failed;
    ++out.failed_now;
    warn(fmt::format("point #{} failed for good after {} attempts: {}", x.item.index, x.item.attempt, x.error));
  }

  std::map<int, int> batches_out;  // per worker: batches sent and not yet answered
  std::map<int, bool> active;
  for (int w : workers) active[w] = true;
  std::size_t active_count = workers.size();

  auto stop_worker = [&](int w) {
    if (!active[w]) return;
    transport.send(w, Tag::kStop, {});
    active[w] = false;
    --active_count;
  };
  auto feed = [&](int w) {
    if (!active[w]) return;
    while (batches_out[w] < sched.batches_ahead()) {
      std::vector<WorkItem> batch = sched.next_batch(w);
      if (batch.empty()) break;
      for (const auto& item : batch) store.record_dispatch(item);
      transport.send(w, Tag::kWork, encode_work(batch));
      ++batches_out[w];
    }
    if (batches_out[w] == 0 && (sched.stopped() || sched.exhausted())) stop_worker(w);
  };

  auto counts = [&] {
    ProgressCounts c;
    c.total = out.total;
    c.done = out.done;
    c.failed = out.failed;
    c.running = sched.in_flight();
    c.this_run = out.done_now + out.failed_now;
    return c;
  };

  const double stop_wait = stop_wait_seconds(spec, settings.policy);
  bool stopping = false;
  bool hard_stop = false;
  Clock::time_point grace_deadline{};
  Clock::time_point last_commit = Clock::now();
  Clock::time_point last_flush = Clock::now();
  Clock::time_point last_publish = Clock::now();
  auto publish = [&] {
    store.publish();
    last_publish = Clock::now();
  };

  try {
    for (int w : workers) feed(w);
    while (active_count > 0) {
      const int requests = stop_requests();
      if (requests >= 1 && !stopping) {
        publish();  // a crashed worker brings this signal: count its point's attempt
        stopping = true;
        sched.stop();
        grace_deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                            std::chrono::duration<double>(stop_wait));
        warn(fmt::format(
            "stop requested (signal {}): no new points; waiting up to {} for {} in flight",
            last_stop_signal(), human_seconds(stop_wait), sched.in_flight()));
        for (int w : workers) {
          if (batches_out[w] == 0) stop_worker(w);
        }
      }
      if (requests >= 2) {
        hard_stop = true;
        warn("second stop signal: stopping now");
        break;
      }
      if (stopping && sched.in_flight() > 0 && Clock::now() >= grace_deadline) {
        warn(fmt::format("grace period over: {} points still running are left for the next run",
                         sched.in_flight()));
        break;
      }

      std::optional<Message> msg = transport.receive(std::chrono::microseconds(0));
      if (!msg) {
        if (store.unpublished()) publish();
        msg = transport.receive(kPollTimeout);
      }
      if (msg && msg->tag == Tag::kResults) {
        --batches_out[msg->source];
        auto records = decode_results(msg->payload);
        if (!records) throw Error("malformed results message from rank " + std::to_string(msg->source));
        for (std::string_view bytes : *records) {
          auto rec = decode_point_record(bytes);
          if (!rec) throw Error("malformed point record from rank " + std::to_string(msg->source));
          if (rec->status == PointStatus::kCancelled) {
            const WorkItem item{rec->index, rec->attempts};
            sched.on_released(msg->source, item);
            store.record_release(item);
            continue;
          }
          const bool ok = rec->status == PointStatus::kDone;
          switch (sched.on_outcome(msg->source, {rec->index, rec->attempts}, ok, rec->seconds)) {
            case Scheduler::Verdict::kDone:
              store.record_result(*rec, bytes);
              ++out.done;
              ++out.done_now;
              break;
            case Scheduler::Verdict::kRetry:
              store.record_attempt_failure(attempt_failure(*rec));
              warn(fmt::format("point #{} attempt {} failed on rank {} (will retry): {}", rec->index,
                               rec->attempts, rec->rank, rec->error));
              break;
            case Scheduler::Verdict::kFailed:
              store.record_result(*rec, bytes);
              ++out.failed;
              ++out.failed_now;
              warn(fmt::format("point #{} failed after {} attempt{} on rank {}: {}", rec->index,
                               rec->attempts, rec->attempts == 1 ? "" : "s", rec->rank, rec->error));
              if (settings.policy.fail_fast) {
                warn("run.fail_fast is set: stopping the sweep");
                stopping = true;
                grace_deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                                    std::chrono::duration<double>(stop_wait));
              }
              break;
          }
        }
        feed(msg->source);
        if (sched.take_wakeup()) {  // an isolated crash suspect finished: idle workers may go on
          for (int w : workers) {
            if (batches_out[w] == 0) feed(w);
          }
        }
        if (stopping) {
          for (int w : workers) {
            if (batches_out[w] == 0) stop_worker(w);
          }
        }
      }
      if (store.unpublished() && seconds_since(last_publish) >= kPublishSeconds) publish();
      // Durability: sync in groups, and at once whenever the coordinator is idle. A background
      // thread waits for the disk (fdatasync took a fifth of the coordinator's time).
      if (store.uncommitted() > 0 &&
          (!msg || store.uncommitted() >= kCommitRecords || seconds_since(last_commit) >= kCommitSeconds)) {
        store.commit_in_background();
        last_commit = Clock::now();
      }
      if (seconds_since(last_flush) >= settings.policy.flush_seconds ||
          store.view_rows_buffered() >= kMaxBufferedRows) {
        store.flush_view();
        last_flush = Clock::now();
      }
      progress.update(counts());
    }
  } catch (const Error& e) {
    // Keep what is recorded; points still running are handed back, not counted.
    for (const auto& item : sched.in_flight_items()) store.record_release(item);
    progress.break_line();
    out.workers_busy = sched.in_flight() > 0;
    store.close();
    throw;
  }

  out.workers_busy = sched.in_flight() > 0 || hard_stop;
  for (const auto& item : sched.in_flight_items()) store.record_release(item);
  store.close();
  progress.update(counts(), true);
  progress.break_line();
  if (!out.workers_busy) {
    for (int w : workers) stop_worker(w);
  }
  out.interrupted = stopping || hard_stop;
  const bool complete = out.done + out.failed >= out.total;
  if (out.interrupted && !complete && !(settings.policy.fail_fast && out.failed_now > 0)) {
    out.code = ExitCode::kInterrupted;
  } else if (out.failed > 0) {
    out.code = ExitCode::kPointsFailed;
  } else {
    out.code = ExitCode::kOk;
  }
  return out;
}

}  // namespace emsweep
