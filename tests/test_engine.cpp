// The engine in-process: the scheduler alone, then the coordinator with worker threads over
// LocalNetwork writing a real journal and HDF5 file. Failure injection, retries, resume,
// refusal of foreign and corrupt files, and the grace period on a stop request.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "sweep/engine/coordinator.h"
#include "sweep/core/error.h"
#include "sweep/core/grid.h"
#include "worker/kinds.h"
#include "sweep/engine/progress.h"
#include "sweep/engine/scheduler.h"
#include "sweep/engine/signals.h"
#include "sweep/store/store.h"
#include "sweep/engine/transport.h"
#include "sweep/engine/worker_loop.h"

#include "tests/support/spec_fixture.h"

using namespace emsweep;
namespace fs = std::filesystem;

namespace {

using testing::registry;

std::string temp_dir(const std::string& name) {
  auto d = fs::temp_directory_path() / ("emsweep-engine-" + std::to_string(::getpid())) / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d.string();
}

SweepSpec make_spec(const std::string& output, const std::string& extra_task = "",
                    const std::string& run = "{max_retries: 2, log_seconds: 100}") {
  std::string yaml = "sweep: {name: eng, output: " + output +
                     "}\ngrid:\n  x: {range: [0, 6]}\n  kl_weight: [0, 1]\n  seed: {replicates: 2}\n"
                     "task: {kind: probe" + extra_task + "}\nrun: " + run + "\n";
  auto r = parse_spec(yaml, "eng.yaml", {}, registry());
  if (!r.spec) FAIL(r.errors[0].format());
  return std::move(*r.spec);
}

struct Run {
  RunOutcome outcome;
  Ledger ledger;
};

// Runs the sweep with `n_workers` worker threads; returns the outcome and the replayed journal.
// `make` creates each worker's task (default: the kind's).
Run run_sweep(const SweepSpec& spec, int n_workers, StoreOptions options = {},
              const std::function<std::unique_ptr<Task>()>& make = nullptr) {
  Grid grid(spec);
  RunProvenance prov;
  prov.command_line = "test";
  prov.host = "test";
  prov.ranks = n_workers + 1;
  Run out;
  {
    Store store(spec, grid, options, prov, registry());
    LocalNetwork net(n_workers + 1);
    auto coord = net.endpoint(0);
    std::vector<std::unique_ptr<Transport>> ends;
    std::vector<std::thread> threads;
    std::vector<std::unique_ptr<Task>> tasks;
    std::vector<int> ids;
    for (int w = 1; w <= n_workers; ++w) {
      ends.push_back(net.endpoint(w));
      tasks.push_back(make ? make() : spec.kind->make());
      ids.push_back(w);
    }
    for (int w = 0; w < n_workers; ++w) {
      threads.emplace_back([&, w] {
        WorkerIdentity who;
        who.rank = w + 1;
        who.host = "test";
        who.pack = spec.run.pack;
        worker_loop(*ends[w], *tasks[w], *spec.kind, grid, who, nullptr);
      });
    }
    CoordinatorSettings cs;
    cs.policy = spec.run;
    cs.quiet = true;
    out.outcome = coordinate(*coord, ids, store, grid, spec, cs);
    for (auto& t : threads) t.join();
  }
  out.ledger = replay(read_journal(journal_path(spec.output)));
  return out;
}

// point_id -> f, read back from the journal.
std::map<std::uint64_t, double> metric_f(const std::string& output) {
  std::map<std::uint64_t, double> out;
  JournalScan s = read_journal(journal_path(output));
  for (const auto& rec : s.records) {
    if (rec.type != RecordType::kResult) continue;
    auto r = decode_point_record(rec.payload);
    REQUIRE(r);
    if (r->status == PointStatus::kDone) {
      REQUIRE(out.count(r->point_id) == 0);  // never twice
      out[r->point_id] = r->metrics.at(0);
    }
  }
  return out;
}

}  // namespace

TEST_CASE("the progress line of a search says 'at most' and ends when every search has", "[engine][progress]") {
  Progress p(false, 60, true);
  ProgressCounts c;
  c.total = 126;
  c.done = 40;
  CHECK_THAT(p.line(c), Catch::StartsWith("40/126 done (31.7%)"));
  c.search = true;
  c.searches = 18;
  c.searches_open = 9;
  const std::string open = p.line(c);
  CHECK_THAT(open, Catch::StartsWith("40/at most 126 done (31.7%), 0 failed"));
  CHECK_THAT(open, Catch::Contains("ETA at most ?"));  // no rate yet
  CHECK_THAT(open, Catch::EndsWith("9 of 18 searches open"));
  c.searches_open = 0;  // every search ended at 40 points: nothing is left, whatever the maximum
  CHECK_THAT(p.line(c), Catch::Contains("ETA 0s, 0 of 18 searches open"));
}

TEST_CASE("the ETA weighs points by the kind's cost model when it has one", "[engine][progress]") {
  ProgressCounts c;
  c.total = 120;
  c.done = 8;
  c.this_run = 8;
  // Without a cost model: the points left at this run's rate (8 in 200 s, so 112 take 2800 s).
  CHECK(eta_seconds(c, 200) == Approx(2800));
  // With one (20 setups of 41 s and 120 points of 2.9 s): the 8 points finished each paid for
  // its setup, so the run has done 351 of 1168 estimated core-seconds in 200 s.
  c.work_total = 20 * 41 + 120 * 2.9;
  c.work_per_point = 2.9;
  c.work_done = 8 * (41 + 2.9);
  CHECK(eta_seconds(c, 200) == Approx((c.work_total - c.work_done) * 200 / c.work_done));
  CHECK(eta_seconds(c, 200) < 500);
  // The work left is never taken below the points left at their own cost.
  c.work_done = c.work_total;
  CHECK(eta_seconds(c, 200) == Approx(112 * 2.9 * 200 / c.work_total));
  // Nothing left: 0; nothing finished yet: unknown.
  c.done = 120;
  CHECK(eta_seconds(c, 200) == 0);
  ProgressCounts fresh;
  fresh.total = 5;
  CHECK(eta_seconds(fresh, 10) < 0);
  fresh.work_total = 50;  // a cost model, but no work done yet
  CHECK(eta_seconds(fresh, 10) < 0);
}

TEST_CASE("the scheduler hands out every point exactly once", "[engine][scheduler]") {
  SweepSpec spec = make_spec("unused.h5");
  Grid grid(spec);
  Ledger empty;
  SchedulerConfig cfg;
  Scheduler s(grid, empty, cfg);
  CHECK(s.total() == 24);
  std::map<std::uint64_t, int> seen;
  int worker = 0;
  while (!s.finished()) {
    auto batch = s.next_batch(worker % 3);
    for (const auto& w : batch) {
      ++seen[w.index];
      CHECK(s.on_outcome(worker % 3, w, true, 0.001) == Scheduler::Verdict::kDone);
    }
    ++worker;
  }
  CHECK(seen.size() == 24);
  for (auto& [i, n] : seen) CHECK(n == 1);
}

TEST_CASE("the scheduler retries, gives up, and batches short tasks", "[engine][scheduler]") {
  SweepSpec spec = make_spec("unused.h5");
  Grid grid(spec);
  Ledger empty;
  SchedulerConfig cfg;
  cfg.max_retries = 1;
  Scheduler s(grid, empty, cfg);
  auto first = s.next_batch(1);
  REQUIRE(first.size() == 1);  // no timing yet: one point at a time
  CHECK(s.on_outcome(1, first[0], false, 0.001) == Scheduler::Verdict::kRetry);
  auto again = s.next_batch(1);
  REQUIRE(!again.empty());
  CHECK(again[0].index == first[0].index);
  CHECK(again[0].attempt == 2);
  CHECK(s.on_outcome(1, again[0], false, 0.001) == Scheduler::Verdict::kFailed);
  for (auto& w : again) {
    if (w.index != first[0].index) (void)s.on_outcome(1, w, true, 1e-6);
  }
  auto batch = s.next_batch(1);
  CHECK(batch.size() > 1);  // fast points now travel in batches
  CHECK(s.batches_ahead() >= 2);
}

TEST_CASE("points that crashed their process too often are failed, others retried first", "[engine][scheduler]") {
  SweepSpec spec = make_spec("unused.h5");
  Grid grid(spec);
  Ledger ledger;
  ledger.pending_attempts[5] = 3;  // more than max_retries (2) dispatches without a report
  ledger.pending_attempts[7] = 1;
  ledger.done.insert(0);
  SchedulerConfig cfg;
  Scheduler s(grid, ledger, cfg);
  auto ex = s.take_exhausted();
  REQUIRE(ex.size() == 1);
  CHECK(ex[0].item.index == 5);
  CHECK_THAT(ex[0].error, Catch::Contains("crashed"));
  auto b = s.next_batch(1);
  REQUIRE(b.size() == 1);
  CHECK(b[0].index == 7);
  CHECK(b[0].attempt == 2);
  std::set<std::uint64_t> handed;
  while (!s.exhausted()) {
    for (auto& w : s.next_batch(1)) handed.insert(w.index);
  }
  CHECK(handed.count(0) == 0);
  CHECK(handed.count(5) == 0);
  CHECK(handed.count(7) == 0);
  CHECK(handed.size() == 21);
}

TEST_CASE("a point whose last attempts were cut off by kills keeps its reported cause", "[engine][scheduler]") {
  // The journal of point 5 (max_retries 2): attempt 1 exits 3 and is reported; attempts 2 and 3
  // are dispatched and then their job is killed. The next run records it failed for good, with
  // the cause attempt 1 reported (as an uninterrupted run would), not as a bare crash.
  std::vector<std::string> payloads;
  std::vector<RecordType> types;
  const auto add = [&](RecordType t, std::string payload) {
    types.push_back(t);
    payloads.push_back(std::move(payload));
  };
  AttemptFailure failed{5, 1, 1, "exit code 3 (stderr: giving up)", {}, 0.02, 1.7e9, "node"};
  failed.detail.outcome = "exit";
  failed.detail.exit_code = 3;
  add(RecordType::kDispatch, encode(WorkItem{5, 1}));
  add(RecordType::kAttemptFailed, encode(failed));
  add(RecordType::kDispatch, encode(WorkItem{5, 2}));
  add(RecordType::kDispatch, encode(WorkItem{5, 3}));
  add(RecordType::kDispatch, encode(WorkItem{6, 1}));  // in flight at one kill, never reported
  add(RecordType::kDispatch, encode(WorkItem{6, 2}));
  add(RecordType::kDispatch, encode(WorkItem{6, 3}));
  JournalScan scan;
  for (std::size_t i = 0; i < payloads.size(); ++i) scan.records.push_back({types[i], payloads[i]});
  const Ledger ledger = replay(scan);
  REQUIRE(ledger.pending_attempts.at(5) == 3);
  SweepSpec spec = make_spec("unused.h5");
  Grid grid(spec);
  Scheduler s(grid, ledger, SchedulerConfig{});  // max_retries 2
  auto ex = s.take_exhausted();
  REQUIRE(ex.size() == 2);
  std::sort(ex.begin(), ex.end(), [](const auto& a, const auto& b) { return a.item.index < b.item.index; });
  CHECK(ex[0].item.index == 5);
  CHECK(ex[0].error == "exit code 3 (stderr: giving up)");
  CHECK(ex[0].detail.outcome == "exit");
  CHECK(ex[0].detail.exit_code == 3);
  CHECK(ex[0].detail.signal == 0);
  CHECK(ex[1].item.index == 6);  // nothing reported: a crash, without detail
  CHECK_THAT(ex[1].error, Catch::Contains("without a report"));
  CHECK_FALSE(ex[1].detail.present());
}

TEST_CASE("supervised children: only reported failures use up a point's retries", "[engine][scheduler]") {
  // A `command` point (max_retries 2) that times out every time: attempt 1 reports its
  // timeout, then the job is killed while attempts 2 to 6 run. A child cannot take its rank
  // down, so the lost attempts are not its doing: it runs again (attempt 7, not isolated),
  // and fails for good only after three reported timeouts, like an uninterrupted run.
  std::vector<std::pair<RecordType, std::string>> records;
  AttemptFailure timeout{5, 1, 1, "timed out after 0.4 s", {}, 0.7, 1.7e9, "node"};
  timeout.detail.outcome = "timeout";
  timeout.detail.signal = 9;
  records.emplace_back(RecordType::kDispatch, encode(WorkItem{5, 1}));
  records.emplace_back(RecordType::kAttemptFailed, encode(timeout));
  for (std::uint32_t a = 2; a <= 6; ++a) records.emplace_back(RecordType::kDispatch, encode(WorkItem{5, a}));
  records.emplace_back(RecordType::kDispatch, encode(WorkItem{6, 1}));  // lost twice
  records.emplace_back(RecordType::kDispatch, encode(WorkItem{6, 2}));
  JournalScan scan;
  for (auto& [type, payload] : records) scan.records.push_back({type, payload});
  const Ledger ledger = replay(scan);
  REQUIRE(ledger.reported_failures.at(5) == 1);
  SweepSpec spec = make_spec("unused.h5");
  Grid grid(spec);
  SchedulerConfig cfg;  // max_retries 2
  cfg.supervised_children = true;
  Scheduler s(grid, ledger, cfg);
  CHECK(s.take_exhausted().empty());
  auto batch = s.next_batch(1);
  REQUIRE(batch.size() == 1);  // retried first, and nothing runs isolated
  const WorkItem first = batch[0];
  auto more = s.next_batch(2);
  REQUIRE(more.size() == 1);
  const WorkItem second = more[0];
  std::map<std::uint64_t, WorkItem> items{{first.index, first}, {second.index, second}};
  REQUIRE(items.count(5) == 1);
  REQUIRE(items.count(6) == 1);
  CHECK(items[5].attempt == 7);
  CHECK(items[6].attempt == 3);
  CHECK(s.on_outcome(first.index == 5 ? 1 : 2, items[5], false, 0.7) == Scheduler::Verdict::kRetry);
  auto again = s.next_batch(1);
  REQUIRE(!again.empty());
  CHECK(again[0].index == 5);
  CHECK(again[0].attempt == 8);
  CHECK(s.on_outcome(1, again[0], false, 0.7) == Scheduler::Verdict::kFailed);  // third report

  // Without supervision the same journal exhausts point 5 (6 dispatches) with its reported cause.
  Scheduler in_process(grid, ledger, SchedulerConfig{});
  auto ex = in_process.take_exhausted();
  REQUIRE(ex.size() == 1);
  CHECK(ex[0].item.index == 5);
  CHECK(ex[0].detail.outcome == "timeout");
}

TEST_CASE("points dispatched twice without a report run one at a time", "[engine][scheduler]") {
  SweepSpec spec = make_spec("unused.h5");
  Grid grid(spec);
  Ledger ledger;
  ledger.pending_attempts[5] = 2;  // in flight at two crashes: suspects, run isolated
  ledger.pending_attempts[6] = 2;
  ledger.pending_attempts[7] = 1;  // in flight at one crash: retried first, as usual
  SchedulerConfig cfg;              // max_retries 2: a third attempt is allowed
  Scheduler s(grid, ledger, cfg);
  CHECK(s.take_exhausted().empty());
  auto first = s.next_batch(1);
  REQUIRE(first.size() == 1);  // a suspect travels alone
  const std::uint64_t suspect = first[0].index;
  CHECK((suspect == 5 || suspect == 6));
  CHECK(first[0].attempt == 3);
  // While it is in flight, nothing handed out contains the other suspect.
  std::set<std::uint64_t> handed;
  for (int i = 0; i < 50 && !s.exhausted(); ++i) {
    for (auto& w : s.next_batch(2)) handed.insert(w.index);
  }
  CHECK(handed.count(7) == 1);
  CHECK(handed.count(5) + handed.count(6) == 0);
  CHECK_FALSE(s.exhausted());  // the other suspect is still to run
  CHECK_FALSE(s.take_wakeup());
  CHECK(s.on_outcome(1, first[0], true, 1.0) == Scheduler::Verdict::kDone);
  CHECK(s.take_wakeup());
  auto second = s.next_batch(2);
  REQUIRE(second.size() == 1);
  CHECK(second[0].index == (suspect == 5 ? 6u : 5u));
  CHECK(s.on_outcome(2, second[0], true, 1.0) == Scheduler::Verdict::kDone);
  CHECK(s.exhausted());
}

// Every hand-out of a scheduler until it is finished, every point done.
std::vector<std::vector<std::uint64_t>> drain(Scheduler& s) {
  std::vector<std::vector<std::uint64_t>> out;
  while (!s.finished()) {
    auto batch = s.next_batch(1);
    REQUIRE(!batch.empty());
    out.emplace_back();
    for (const auto& w : batch) {
      out.back().push_back(w.index);
      (void)s.on_outcome(1, w, true, 1.0);
    }
  }
  return out;
}

TEST_CASE("packs are fixed by the grid: a setup's points in grid order, K at a time, whole", "[engine][scheduler][pack]") {
  SweepSpec spec = make_spec("unused.h5");
  Grid grid(spec);
  Ledger empty;
  SchedulerConfig cfg;
  cfg.pack = 3;
  cfg.pack_key = [](std::uint64_t i) { return std::to_string(i % 2); };  // two setups
  Scheduler s(grid, empty, cfg);
  const auto packs = drain(s);
  REQUIRE(packs.size() == 8);
  CHECK(packs[0] == std::vector<std::uint64_t>{0, 2, 4});
  CHECK(packs[1] == std::vector<std::uint64_t>{1, 3, 5});
  CHECK(packs[2] == std::vector<std::uint64_t>{6, 8, 10});
  CHECK(packs[7] == std::vector<std::uint64_t>{19, 21, 23});
  // Without a setup key every point is of one setup: consecutive indices.
  SchedulerConfig one;
  one.pack = 5;
  Scheduler t(grid, empty, one);
  const auto consecutive = drain(t);
  REQUIRE(consecutive.size() == 5);
  CHECK(consecutive[0] == std::vector<std::uint64_t>{0, 1, 2, 3, 4});
  CHECK(consecutive[4] == std::vector<std::uint64_t>{20, 21, 22, 23});
}

TEST_CASE("a resumed pack keeps its grid-fixed mates, finished ones as ghosts; a retried point goes with none in flight", "[engine][scheduler][pack]") {
  SweepSpec spec = make_spec("unused.h5");
  Grid grid(spec);
  Ledger ledger;
  ledger.done.insert(2);
  ledger.pending_attempts[3] = 1;  // in flight when the last run stopped, as was 4
  ledger.pending_attempts[4] = 1;
  SchedulerConfig cfg;
  cfg.pack = 4;
  Scheduler s(grid, ledger, cfg);
  // The unfinished point first, with its pack {0, 1, 2, 3}: 2 was recorded, so it runs again as a
  // ghost (attempt 0), computed with the pack but not reported, and not in flight.
  auto first = s.next_batch(1);
  REQUIRE(first.size() == 4);
  CHECK(first[0].index == 0);
  CHECK(first[0].attempt == 1);
  CHECK(first[2].index == 2);
  CHECK(first[2].attempt == 0);
  CHECK(first[3].index == 3);
  CHECK(first[3].attempt == 2);
  CHECK(s.in_flight() == 3);
  auto second = s.next_batch(2);  // {4, 5, 6, 7}: nothing of it finished, no ghost
  REQUIRE(second.size() == 4);
  CHECK(second[0].index == 4);
  CHECK(second[0].attempt == 2);
  CHECK(second[1].attempt == 1);
  // A failed point runs again; its mates are in flight or done, so it goes alone.
  CHECK(s.on_outcome(1, first[0], false, 1.0) == Scheduler::Verdict::kRetry);
  auto retry = s.next_batch(1);
  REQUIRE(retry.size() == 1);
  CHECK(retry[0].index == 0);
  CHECK(retry[0].attempt == 2);
}

TEST_CASE("a worker runs a pack's ghosts with it and reports only its live points", "[engine][pack]") {
  SweepSpec spec = make_spec("unused.h5");
  Grid grid(spec);
  LocalNetwork net(2);
  auto coordinator = net.endpoint(0);
  auto worker_end = net.endpoint(1);
  auto task = spec.kind->make();
  WorkerIdentity who;
  who.rank = 1;
  who.pack = 3;
  std::thread worker([&] { worker_loop(*worker_end, *task, *spec.kind, grid, who, nullptr); });
  // A resumed pack {3, 4, 5} whose point 4 was recorded before the stop: it runs as a ghost.
  coordinator->send(1, Tag::kWork, encode_work({{3, 2}, {4, 0}, {5, 1}}));
  std::optional<Message> m;
  for (int i = 0; i < 100 && !m; ++i) m = coordinator->receive(std::chrono::milliseconds(100));
  coordinator->send(1, Tag::kStop, "");
  worker.join();
  REQUIRE(m);
  REQUIRE(m->tag == Tag::kResults);
  const auto records = decode_results(m->payload);
  REQUIRE(records);
  REQUIRE(records->size() == 2);
  std::vector<std::uint64_t> reported;
  for (auto bytes : *records) {
    const auto rec = decode_point_record(bytes);
    REQUIRE(rec);
    CHECK(rec->status == PointStatus::kDone);
    reported.push_back(rec->index);
  }
  CHECK(reported == std::vector<std::uint64_t>{3, 5});
}

TEST_CASE("run.pack: each pack is one run_many call; a failing point fails alone", "[engine][pack]") {
  const std::string dir = temp_dir("pack");
  SweepSpec spec = make_spec(dir + "/p.h5", ", fail: throw, fail_x: 3",
                             "{max_retries: 1, log_seconds: 100, pack: 4}");
  // Records the points of each run_many call; the probe's own code runs them.
  struct Recorder : Task {
    explicit Recorder(std::unique_ptr<Task> inner, std::mutex& m, std::vector<std::vector<std::uint64_t>>& calls)
        : inner_(std::move(inner)), m_(m), calls_(calls) {}
    TaskResult run(const Point& p, const TaskContext& ctx) override { return inner_->run(p, ctx); }
    std::vector<PointOutcome> run_many(const std::vector<Point>& points, const TaskContext& ctx) override {
      {
        std::lock_guard lock(m_);
        calls_.emplace_back();
        for (const auto& p : points) calls_.back().push_back(p.index);
      }
      return inner_->run_many(points, ctx);
    }
    std::unique_ptr<Task> inner_;
    std::mutex& m_;
    std::vector<std::vector<std::uint64_t>>& calls_;
  };
  std::mutex m;
  std::vector<std::vector<std::uint64_t>> calls;
  Run r = run_sweep(spec, 2, {}, [&] { return std::make_unique<Recorder>(spec.kind->make(), m, calls); });
  Grid grid(spec);
  std::set<std::uint64_t> failing;
  for (std::uint64_t i = 0; i < grid.size(); ++i) {
    if (grid.at(i).settings.number("x") == 3) failing.insert(i);
  }
  REQUIRE(failing.size() == 4);
  CHECK(r.ledger.failed.size() == 4);
  CHECK(r.ledger.done.size() == 20);
  for (auto i : failing) CHECK(r.ledger.failed.contains(i));
  // Every call ran one of the grid's packs (0-3, 4-7, ...), whole: the failing points (12-15,
  // one pack) were retried together, and the others' results are their own.
  std::sort(calls.begin(), calls.end());
  REQUIRE(calls.size() == 7);
  for (std::size_t k = 0; k < calls.size(); ++k) {
    const std::uint64_t first = 4 * (k <= 3 ? k : k - 1);
    CHECK(calls[k] == std::vector<std::uint64_t>{first, first + 1, first + 2, first + 3});
  }
  CHECK(calls[3] == calls[4]);
  // The same values as an unpacked sweep.
  SweepSpec plain = make_spec(dir + "/u.h5", ", fail: throw, fail_x: 3", "{max_retries: 1, log_seconds: 100}");
  (void)run_sweep(plain, 2);
  CHECK(metric_f(dir + "/p.h5") == metric_f(dir + "/u.h5"));
}

TEST_CASE("run.pack is refused where points do not run in the worker's own process", "[engine][pack][config]") {
  auto refused = [](const std::string& run) {
    const std::string yaml = "sweep: {name: p, output: p.h5}\ngrid:\n  x: [0, 1]\ntask: {kind: probe}\nrun: " + run + "\n";
    auto r = parse_spec(yaml, "p.yaml", {}, registry());
    return r.spec ? std::string() : r.errors[0].format();
  };
  CHECK(refused("{pack: 4}").empty());
  CHECK_THAT(refused("{pack: 4, isolation: process}"), Catch::Contains("run.pack"));
  CHECK_THAT(refused("{pack: 0}"), Catch::Contains("pack"));
}

TEST_CASE("a sweep over 3 worker threads records every point once with the probe's values", "[engine]") {
  const std::string dir = temp_dir("basic");
  SweepSpec spec = make_spec(dir + "/r.h5");
  Run r = run_sweep(spec, 3);
  CHECK(r.outcome.code == ExitCode::kOk);
  CHECK(r.outcome.done == 24);
  CHECK(r.ledger.done.size() == 24);
  CHECK(r.ledger.duplicates == 0);
  // f = x^2 + sin(0) + kl_weight + u, u the replicate's draw: check against the grid directly.
  Grid grid(spec);
  auto f = metric_f(spec.output);
  REQUIRE(f.size() == 24);
  auto probe = spec.kind->make();
  for (std::uint64_t i = 0; i < grid.full_size(); ++i) {
    Point p = grid.at(i);
    TaskResult direct = probe->run(p, TaskContext{});
    CHECK(f.at(p.id) == direct.metrics[0]);
    const double x = p.settings.number("x");
    CHECK(direct.metrics[0] == Approx(x * x + p.settings.number("kl_weight") + direct.metrics[2]).epsilon(1e-12));
  }
  CHECK(fs::exists(spec.output));
}

TEST_CASE("results are identical with 1 or 4 workers", "[engine]") {
  const std::string dir = temp_dir("ranks");
  SweepSpec a = make_spec(dir + "/a.h5");
  SweepSpec b = make_spec(dir + "/b.h5");
  (void)run_sweep(a, 1);
  (void)run_sweep(b, 4);
  CHECK(metric_f(a.output) == metric_f(b.output));
}

TEST_CASE("failures are retried, then recorded with their error", "[engine][failure]") {
  const std::string dir = temp_dir("fail");
  SweepSpec spec = make_spec(dir + "/r.h5", ", fail: throw, fail_x: 3", "{max_retries: 1}");
  Run r = run_sweep(spec, 2);
  CHECK(r.outcome.code == ExitCode::kPointsFailed);
  CHECK(r.outcome.failed == 4);  // x == 3 for 2 kl_weights x 2 replicates
  CHECK(r.outcome.done == 20);
  REQUIRE(r.ledger.failures.size() == 4);
  for (const auto& f : r.ledger.failures) {
    CHECK(f.attempts == 2);
    CHECK_THAT(f.error, Catch::Contains("failure injected at x=3"));
  }
  // A resume does not run failed points again...
  Run again = run_sweep(spec, 2);
  CHECK(again.outcome.done_now == 0);
  CHECK(again.outcome.failed_now == 0);
  // ...unless asked to.
  StoreOptions retry;
  retry.retry_failed = true;
  Run third = run_sweep(spec, 2, retry);
  CHECK(third.outcome.failed_now == 4);
}

TEST_CASE("a flaky point succeeds on a retry; NaN is a failure only where not allowed", "[engine][failure]") {
  const std::string dir = temp_dir("flaky");
  SweepSpec spec = make_spec(dir + "/r.h5", ", fail: flaky, fail_x: 2, flaky_attempts: 1");
  Run r = run_sweep(spec, 2);
  CHECK(r.outcome.code == ExitCode::kOk);
  CHECK(r.outcome.done == 24);

  SweepSpec nan = make_spec(dir + "/n.h5", ", fail: nan, fail_x: 1", "{max_retries: 0}");
  Run n = run_sweep(nan, 2);
  CHECK(n.outcome.failed == 4);
  for (const auto& f : n.ledger.failures) CHECK_THAT(f.error, Catch::Contains("metric 'f' is nan"));
  // g = sqrt(x) is NaN-allowed: with x < 0 the points still succeed.
  auto neg = parse_spec("sweep: {name: neg, output: " + dir + "/g.h5}\ngrid:\n  x: [-1, -2]\ntask: {kind: probe}\n",
                        "neg.yaml", {}, registry());
  REQUIRE(neg.spec);
  Run g = run_sweep(*neg.spec, 1);
  CHECK(g.outcome.done == 2);
}

TEST_CASE("a stop request ends the hand-out; the rerun completes without duplicates", "[engine][resume]") {
  const std::string dir = temp_dir("stop");
  SweepSpec spec = make_spec(dir + "/r.h5", ", sleep_ms: 20", "{grace_seconds: 30}");
  reset_stop_requests();
  std::thread stopper([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    request_stop(15);
  });
  Run first = run_sweep(spec, 2);
  stopper.join();
  reset_stop_requests();
  CHECK(first.outcome.code == ExitCode::kInterrupted);
  CHECK(first.outcome.done > 0);
  CHECK(first.outcome.done < 24);
  CHECK_FALSE(first.outcome.workers_busy);  // in-flight points finished within the grace
  Run second = run_sweep(spec, 2);
  CHECK(second.outcome.code == ExitCode::kOk);
  CHECK(second.outcome.done_now == 24 - first.outcome.done);
  CHECK(second.ledger.duplicates == 0);
  CHECK(metric_f(spec.output).size() == 24);
}

TEST_CASE("a foreign, corrupt or journal-less results file is refused and left untouched", "[engine][store]") {
  const std::string dir = temp_dir("foreign");
  SweepSpec a = make_spec(dir + "/r.h5");
  (void)run_sweep(a, 1);
  const auto before = fs::file_size(journal_path(a.output));
  SweepSpec other = make_spec(dir + "/r.h5", ", y: 1");
  Grid grid(other);
  RunProvenance prov;
  try {
    Store s(other, grid, {}, prov, registry());
    FAIL("foreign sweep accepted");
  } catch (const StoreError& e) {
    CHECK_THAT(e.what(), Catch::Contains("written by a different sweep"));
    CHECK_THAT(e.hint(), Catch::Contains("--output"));
  }
  CHECK(fs::file_size(journal_path(a.output)) == before);

  // A journal that is not one.
  SweepSpec c = make_spec(dir + "/c.h5");
  { std::ofstream(journal_path(c.output)) << "garbage"; }
  Grid gc(c);
  CHECK_THROWS_WITH(Store(c, gc, {}, prov, registry()), Catch::Contains("not an emsweep journal"));
  // An .h5 without its journal.
  SweepSpec d = make_spec(dir + "/d.h5");
  { std::ofstream(d.output) << "x"; }
  Grid gd(d);
  CHECK_THROWS_WITH(Store(d, gd, {}, prov, registry()), Catch::Contains("has no journal"));
  CHECK(fs::file_size(d.output) == 1);
  // A directory as output.
  SweepSpec e = make_spec(dir);
  Grid ge(e);
  CHECK_THROWS_WITH(Store(e, ge, {}, prov, registry()), Catch::Contains("is a directory"));
}

TEST_CASE("--extend accepts a grown grid and keeps every recorded point", "[engine][store]") {
  const std::string dir = temp_dir("extend");
  SweepSpec small = make_spec(dir + "/r.h5");
  (void)run_sweep(small, 2);
  auto grown_r = parse_spec("sweep: {name: eng, output: " + dir + "/r.h5}\ngrid:\n  x: {range: [0, 8]}\n"
                            "  kl_weight: [0, 0.5, 1]\n  seed: {replicates: 2}\ntask: {kind: probe}\n",
                            "g.yaml", {}, registry());
  REQUIRE(grown_r.spec);
  SweepSpec grown = std::move(*grown_r.spec);
  Grid gg(grown);
  RunProvenance prov;
  CHECK_THROWS_WITH(Store(grown, gg, {}, prov, registry()), Catch::Contains("different sweep"));
  StoreOptions ext;
  ext.extend = true;
  Run r = run_sweep(grown, 2, ext);
  CHECK(r.outcome.done == 48);
  CHECK(r.outcome.done_now == 24);
  auto f = metric_f(grown.output);
  CHECK(f.size() == 48);
}
