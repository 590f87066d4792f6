#include "sweep/engine/coordinator.h"

#include <fmt/format.h>

#include <chrono>
#include <map>
#include <string>
#include <unordered_set>

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

// Whether each point runs as a supervised child: the `command` kind, or run.isolation: process.
bool runs_children(const SweepSpec& spec, const RunPolicy& policy) {
  return spec.kind != nullptr && (spec.kind->declared_by_config || policy.isolation == "process");
}

// How long points in flight get after a stop before the run gives up on them: run.grace_seconds,
// and where each point is a supervised child (the `command` kind), also the SIGTERM,
// run.kill_grace, SIGKILL sequence that its worker starts when grace_seconds are over, and a
// second for the release to arrive; so the run ends after its children, not while they still run.
double stop_wait_seconds(const SweepSpec& spec, const RunPolicy& policy) {
  return policy.grace_seconds + (runs_children(spec, policy) ? policy.kill_grace + 1.0 : 0.0);
}

// The scheduler's part of the run policy, so that the Coordinator can build its Scheduler in place.
SchedulerConfig scheduler_config(const SweepSpec& spec, const Grid& grid,
                                 const CoordinatorSettings& settings) {
  SchedulerConfig cfg;
  cfg.pack = spec.run.pack;
  if (spec.kind != nullptr && spec.kind->setup_key) {
    cfg.pack_key = [&spec, &grid](std::uint64_t index) {
      const Point p = grid.at(index);
      return spec.kind->setup_key(p.settings, p.replicate);
    };
  }
  cfg.search_spec = spec.search ? &spec : nullptr;
  cfg.max_retries = settings.policy.max_retries;
  cfg.supervised_children = runs_children(spec, settings.policy);
  cfg.batch = settings.policy.batch;
  cfg.fail_fast = settings.policy.fail_fast;
  cfg.shard = settings.shard;
  return cfg;
}

// One run of the coordinator loop; the state its steps share lives here so that each step is a
// member function of its own.
class Coordinator {
 public:
  Coordinator(Transport& transport, const std::vector<int>& workers, Store& store, const Grid& grid,
              const SweepSpec& spec, const CoordinatorSettings& settings)
      : transport_(transport),
        workers_(workers),
        store_(store),
        grid_(grid),
        settings_(settings),
        spec_(spec),
        sched_(grid, store.ledger(), scheduler_config(spec, grid, settings)),
        progress_(settings.live_progress, settings.policy.log_seconds, settings.quiet),
        active_count_(workers.size()),
        stop_wait_(stop_wait_seconds(spec, settings.policy)) {
    out_.total = sched_.total();
    out_.done = store.ledger().done.size();
    out_.failed = store.ledger().failed.size();
    for (int w : workers) active_[w] = true;
    estimate_work();
  }

  // The loop: feed every worker, then receive -> record -> feed until no worker is left active.
  RunOutcome run() {
    record_exhausted();
    last_commit_ = last_flush_ = last_publish_ = Clock::now();  // the timers start with the loop
    try {
      for (int w : workers_) feed(w);
      while (active_count_ > 0) {
        if (must_end()) break;
        std::optional<Message> msg = receive();
        if (msg && msg->tag == Tag::kResults) on_results(*msg);
        keep_durable(!msg);
        progress_.update(counts());
      }
    } catch (const Error&) {
      // Keep what is recorded; points still running are handed back, not counted.
      for (const auto& item : sched_.in_flight_items()) store_.record_release(item);
      progress_.break_line();
      out_.workers_busy = sched_.in_flight() > 0;
      store_.close();
      throw;
    }
    return finish();
  }

 private:
  // Prints a warning on a line of its own, so that it does not run into the live progress line.
  void warn(const std::string& text) {
    progress_.break_line();
    fmt::print(stderr, "[emsweep] {}\n", text);
  }

  // Points whose crashes used up their attempts in earlier runs are recorded failed now.
  void record_exhausted() {
    for (const auto& x : sched_.take_exhausted()) {
      PointRecord rec;
      rec.point_id = grid_.id_at(x.item.index);
      rec.index = x.item.index;
      rec.replicate = grid_.at(x.item.index).replicate;
      rec.status = PointStatus::kFailed;
      rec.attempts = x.item.attempt;
      rec.rank = -1;
      rec.start_time = rec.end_time =
          std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
      rec.error = x.error;
      rec.detail = x.detail;
      store_.record_result(rec);
      ++out_.failed;
      ++out_.failed_now;
      warn(fmt::format("point #{} failed for good after {} attempts: {}", x.item.index, x.item.attempt,
                       x.error));
    }
  }

  // Tells worker `w` to stop, once: the loop ends when no worker is left active.
  void stop_worker(int w) {
    if (!active_[w]) return;
    transport_.send(w, Tag::kStop, {});
    active_[w] = false;
    --active_count_;
  }

  // Stops every worker with no batch outstanding: while stopping, none of them gets new work.
  void stop_idle_workers() {
    for (int w : workers_) {
      if (batches_out_[w] == 0) stop_worker(w);
    }
  }

  // Sends worker `w` batches until it has the scheduler's lead of them, recording each dispatch
  // first; stops it once it has nothing outstanding and the scheduler has nothing more to give.
  void feed(int w) {
    if (!active_[w]) return;
    while (batches_out_[w] < sched_.batches_ahead()) {
      std::vector<WorkItem> batch = sched_.next_batch(w);
      if (batch.empty()) break;
      for (const auto& item : batch) store_.record_dispatch(item);
      transport_.send(w, Tag::kWork, encode_work(batch));
      ++batches_out_[w];
    }
    if (batches_out_[w] == 0 && (sched_.stopped() || sched_.exhausted())) stop_worker(w);
  }

  // The kind's cost model for the ETA (not for a search, whose length the model cannot know):
  // this run's share of the sweep's estimated core-seconds, setups spread over the points.
  void estimate_work() {
    if (spec_.search) return;
    const auto e = estimate_sweep(spec_, grid_);
    if (!e || e->points == 0 || e->core_seconds <= 0) return;
    const std::uint64_t finished = out_.done + out_.failed;
    const std::uint64_t left = out_.total > finished ? out_.total - finished : 0;
    work_per_point_ = e->per_point.seconds_per_point;
    setup_seconds_ = spec_.kind->setup_key ? e->per_point.setup_seconds : 0;
    work_total_ = e->core_seconds * static_cast<double>(left) / static_cast<double>(e->points);
  }

  // The estimated cost of point `index`, finished in this run: its own, plus its setup's when it
  // is the first of its setup to finish here.
  void account_work(std::uint64_t index) {
    if (work_total_ <= 0) return;
    work_done_ += work_per_point_;
    if (setup_seconds_ <= 0) return;
    const Point p = grid_.at(index);
    if (setups_seen_.insert(spec_.kind->setup_key(p.settings, p.replicate)).second) {
      work_done_ += setup_seconds_;
    }
  }

  // The counts the progress line shows.
  [[nodiscard]] ProgressCounts counts() const {
    ProgressCounts c;
    c.total = out_.total;
    c.done = out_.done;
    c.failed = out_.failed;
    c.running = sched_.in_flight();
    c.this_run = out_.done_now + out_.failed_now;
    c.work_total = work_total_;
    c.work_done = work_done_;
    c.work_per_point = work_per_point_;
    if (const SearchState* s = sched_.search()) {
      c.search = true;
      c.searches = s->cells();
      c.searches_open = s->open_cells();
    }
    return c;
  }

  // Hands the buffered journal records to the kernel and notes when, for kPublishSeconds.
  void publish() {
    store_.publish();
    last_publish_ = Clock::now();
  }

  // Starts the grace period: points in flight get stop_wait_ seconds to report before the run ends.
  void start_grace() {
    stopping_ = true;
    grace_deadline_ = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                         std::chrono::duration<double>(stop_wait_));
  }

  // Acts on stop signals and on the end of the grace period; true when the loop must end now.
  [[nodiscard]] bool must_end() {
    const int requests = stop_requests();
    if (requests >= 1 && !stopping_) {
      publish();  // a crashed worker brings this signal: count its point's attempt
      sched_.stop();
      start_grace();
      warn(fmt::format("stop requested (signal {}): no new points; waiting up to {} for {} in flight",
                       last_stop_signal(), human_seconds(stop_wait_), sched_.in_flight()));
      stop_idle_workers();
    }
    if (requests >= 2) {
      hard_stop_ = true;
      warn("second stop signal: stopping now");
      return true;
    }
    if (stopping_ && sched_.in_flight() > 0 && Clock::now() >= grace_deadline_) {
      warn(fmt::format("grace period over: {} points still running are left for the next run",
                       sched_.in_flight()));
      return true;
    }
    return false;
  }

  // The next message: publishes what is buffered before waiting, so nothing waits on the loop.
  [[nodiscard]] std::optional<Message> receive() {
    std::optional<Message> msg = transport_.receive(std::chrono::microseconds(0));
    if (!msg) {
      if (store_.unpublished()) publish();
      msg = transport_.receive(kPollTimeout);
    }
    return msg;
  }

  // Records a worker's batch of outcomes, then refills it (and idle workers a wakeup frees).
  void on_results(const Message& msg) {
    --batches_out_[msg.source];
    auto records = decode_results(msg.payload);
    if (!records) throw Error("malformed results message from rank " + std::to_string(msg.source));
    for (std::string_view bytes : *records) on_record(msg.source, bytes);
    feed(msg.source);
    if (sched_.take_wakeup()) {  // an isolated crash suspect finished: idle workers may go on
      for (int w : workers_) {
        if (batches_out_[w] == 0) feed(w);
      }
    }
    if (stopping_) stop_idle_workers();
  }

  // Records one outcome from rank `source` as the scheduler judges it: released, done, retried, failed.
  void on_record(int source, std::string_view bytes) {
    auto rec = decode_point_record(bytes);
    if (!rec) throw Error("malformed point record from rank " + std::to_string(source));
    if (rec->status == PointStatus::kCancelled) {
      const WorkItem item{rec->index, rec->attempts};
      sched_.on_released(source, item);
      store_.record_release(item);
      return;
    }
    const bool ok = rec->status == PointStatus::kDone;
    switch (sched_.on_outcome(source, {rec->index, rec->attempts}, ok, rec->seconds)) {
      case Scheduler::Verdict::kDone:
        store_.record_result(*rec, bytes);
        sched_.on_metrics(rec->index, rec->metrics);
        ++out_.done;
        ++out_.done_now;
        account_work(rec->index);
        break;
      case Scheduler::Verdict::kRetry:
        store_.record_attempt_failure(attempt_failure(*rec));
        warn(fmt::format("point #{} attempt {} failed on rank {} (will retry): {}", rec->index,
                         rec->attempts, rec->rank, rec->error));
        break;
      case Scheduler::Verdict::kFailed:
        store_.record_result(*rec, bytes);
        ++out_.failed;
        ++out_.failed_now;
        account_work(rec->index);
        warn(fmt::format("point #{} failed after {} attempt{} on rank {}: {}", rec->index,
                         rec->attempts, rec->attempts == 1 ? "" : "s", rec->rank, rec->error));
        if (settings_.policy.fail_fast) {
          warn("run.fail_fast is set: stopping the sweep");
          start_grace();
        }
        break;
    }
  }

  // Publishes, syncs and flushes on their timers; `idle` (no message this turn) syncs at once.
  void keep_durable(bool idle) {
    if (store_.unpublished() && seconds_since(last_publish_) >= kPublishSeconds) publish();
    // Durability: sync in groups, and at once whenever the coordinator is idle. A background
    // thread waits for the disk (fdatasync took a fifth of the coordinator's time).
    if (store_.uncommitted() > 0 &&
        (idle || store_.uncommitted() >= kCommitRecords ||
         seconds_since(last_commit_) >= kCommitSeconds)) {
      store_.commit_in_background();
      last_commit_ = Clock::now();
    }
    if (seconds_since(last_flush_) >= settings_.policy.flush_seconds ||
        store_.view_rows_buffered() >= kMaxBufferedRows) {
      store_.flush_view();
      last_flush_ = Clock::now();
    }
  }

  // Hands back the points still in flight, closes the store, stops the workers if none is busy and
  // picks the exit code.
  // The answer of every cell's search so far, one line each.
  void print_boundaries() {
    const SearchSpec& s = *spec_.search;
    fmt::print(stderr, "[emsweep] boundary of {} = {} along {} ({} scale, tolerance {}):\n",
               s.metric_text(), format_double(s.threshold), s.axis, s.log ? "log" : "linear",
               format_double(s.tolerance));
    for (const auto& [first, a] : sched_.search()->answers()) {
      fmt::print(stderr, "  {:<40} {}  ({} points)\n", describe_cell(spec_, grid_, first),
                 describe_answer(spec_, a), a.used.size() - a.wanted.size());
    }
  }

  RunOutcome finish() {
    out_.workers_busy = sched_.in_flight() > 0 || hard_stop_;
    for (const auto& item : sched_.in_flight_items()) store_.record_release(item);
    store_.close();
    progress_.update(counts(), true);
    progress_.break_line();
    if (!out_.workers_busy) {
      for (int w : workers_) stop_worker(w);
    }
    out_.interrupted = stopping_ || hard_stop_;
    // A search is complete when every cell's search ended, usually well below its maximum.
    const bool complete = sched_.search() != nullptr ? sched_.exhausted() && sched_.in_flight() == 0
                                                     : out_.done + out_.failed >= out_.total;
    if (sched_.search() != nullptr && !settings_.quiet) print_boundaries();
    if (out_.interrupted && !complete && !(settings_.policy.fail_fast && out_.failed_now > 0)) {
      out_.code = ExitCode::kInterrupted;
    } else if (out_.failed > 0) {
      out_.code = ExitCode::kPointsFailed;
    } else {
      out_.code = ExitCode::kOk;
    }
    return out_;
  }

  Transport& transport_;                   // reaches the workers
  const std::vector<int>& workers_;        // their ranks
  Store& store_;                           // journal and view: every dispatch and outcome goes here
  const Grid& grid_;                       // names the points recorded failed from earlier runs
  const CoordinatorSettings& settings_;    // run policy (fail_fast, flush_seconds) and output mode
  const SweepSpec& spec_;                  // names the cells of a search in its answer
  Scheduler sched_;                        // decides what each worker runs next, and retries
  Progress progress_;                      // the progress line; warnings break it first
  RunOutcome out_;                         // the counts so far, returned by run()
  double work_total_ = 0;                  // the ETA's cost model (estimate_work): core-seconds
  double work_done_ = 0;
  double work_per_point_ = 0;
  double setup_seconds_ = 0;
  std::unordered_set<std::string> setups_seen_;  // setups of the points finished in this run
  std::map<int, int> batches_out_;         // per worker: batches sent and not yet answered
  std::map<int, bool> active_;             // per worker: not yet told to stop
  std::size_t active_count_;               // workers not yet told to stop: the loop runs while any are
  double stop_wait_;                       // seconds that points in flight get after a stop
  bool stopping_ = false;                  // a stop signal or fail_fast: no new points, grace running
  bool hard_stop_ = false;                 // a second stop signal: end now, workers left busy
  Clock::time_point grace_deadline_{};     // when the grace period ends
  Clock::time_point last_commit_{};        // last journal sync, for kCommitSeconds
  Clock::time_point last_flush_{};         // last view flush, for run.flush_seconds
  Clock::time_point last_publish_{};       // last journal publish, for kPublishSeconds
};

}  // namespace

RunOutcome coordinate(Transport& transport, const std::vector<int>& workers, Store& store,
                      const Grid& grid, const SweepSpec& spec, const CoordinatorSettings& settings) {
  return Coordinator(transport, workers, store, grid, spec, settings).run();
}

}  // namespace emsweep
