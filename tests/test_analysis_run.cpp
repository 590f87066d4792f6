// emsweep::analysis on real results files from `emsweep run` (task kind probe: f = x^2 +
// sin(y) + kl_weight + gate_noise + domain_mix + u, u uniform per replicate, g = sqrt(x)),
// checked against hand computation; reading a file while `emsweep run` writes it;
// `emsweep merge` (shards, overlap, retried failures, conflicting duplicates, foreign files); and
// `emsweep verify` on real files and on journals changed behind the view's back.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <fmt/core.h>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <thread>

#include "sweep/core/error.h"
#include "analysis/export.h"
#include "sweep/store/journal.h"
#include "worker/kinds.h"
#include "sweep/store/merge.h"
#include "analysis/report.h"
#include "analysis/results.h"
#include "analysis/select.h"
#include "sweep/store/store.h"
#include "analysis/summary.h"
#include "analysis/verify.h"
#include "sweep/store/wire.h"

extern char** environ;

namespace fs = std::filesystem;
using namespace emsweep;
using namespace emsweep::analysis;
using Catch::Matchers::Contains;

namespace {

const std::string kEmsweep = std::string(EMSWEEP_BINARY_DIR) + "/bin/emsweep";

std::string scratch(const std::string& name) {
  std::string d = std::string(EMSWEEP_BINARY_DIR) + "/tests/analysis-run/" + name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A probe sweep: x in {-1, 0, 2} (x = -1 fails), kl_weight in {0, 0.5}, gate_noise 0.2,
// three replicates, sweep seed 11.
std::string probe_config(const std::string& dir, const std::string& extra_grid = "",
                         const std::string& task_extra = "", std::uint64_t seed = 11,
                         const std::string& xs = "[-1, 0, 2]") {
  const std::string path = dir + "/probe.yaml";
  std::ofstream(path) << fmt::format(R"(sweep:
  name: analysis-probe
  output: {0}/probe.h5
  seed: {1}
grid:
  x: {2}
  kl_weight: [0, 0.5]
  seed: {{replicates: 3}}
{3}task:
  kind: probe
  gate_noise: 0.2
  fail: throw
  fail_x: -1
  curve_points: 4
{4}run:
  max_retries: 1
  flush_seconds: 0.5
)",
                                     dir, seed, xs, extra_grid, task_extra);
  return path;
}

// Runs `emsweep ARGS` with stdout to `out` (default DIR/emsweep.log) and stderr to
// DIR/emsweep.log; returns the exit status.
int run_emsweep(const std::string& args, const std::string& dir, const std::string& out = {}) {
  const std::string log = dir + "/emsweep.log";
  const std::string cmd =
      kEmsweep + " " + args + " >" + (out.empty() ? ">" + log : out) + " 2>>" + log;
  const int status = std::system(cmd.c_str());
  REQUIRE(WIFEXITED(status));
  return WEXITSTATUS(status);
}

// The probe's uniform draw for (sweep seed, replicate), computed here independently.
double probe_u(std::uint64_t seed, std::uint64_t replicate) {
  std::uint64_t x = seed * 1000003ULL + replicate;
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return static_cast<double>(x >> 11) * 0x1.0p-53;
}

const SummaryRow& row_for(const Summary& s, const std::vector<std::string>& key) {
  for (const auto& r : s.rows) {
    if (r.key == key) return r;
  }
  FAIL("no summary row for the key");
  return s.rows.front();
}

// Two summaries agree: same groups and counts, statistics equal up to summation order.
void same_summary(const Summary& a, const Summary& b) {
  REQUIRE(a.rows.size() == b.rows.size());
  for (std::size_t i = 0; i < a.rows.size(); ++i) {
    CHECK(a.rows[i].key == b.rows[i].key);
    CHECK(a.rows[i].done == b.rows[i].done);
    CHECK(a.rows[i].failed == b.rows[i].failed);
    for (std::size_t m = 0; m < a.rows[i].stats.size(); ++m) {
      const Stat& x = a.rows[i].stats[m];
      const Stat& y = b.rows[i].stats[m];
      CHECK(x.n == y.n);
      if (x.n > 0) CHECK(x.mean == Approx(y.mean).epsilon(1e-12).margin(1e-15));
      if (x.n > 1) CHECK(x.ci95 == Approx(y.ci95).epsilon(1e-12).margin(1e-15));
    }
  }
}

std::set<std::uint64_t> ids(const Results& r) {
  return {r.points.point_id.begin(), r.points.point_id.end()};
}

TaskRegistry registry() {
  TaskRegistry reg;
  register_declared_kinds(reg);
  return reg;
}

}  // namespace

TEST_CASE("a real probe run summarises to the hand-computed values", "[analysis][run]") {
  const std::string dir = scratch("summary");
  const std::string cfg = probe_config(dir);
  REQUIRE(run_emsweep("run " + cfg, dir) == 4);  // finished, some points failed

  Results r = read_results(dir + "/probe.h5");
  CHECK(r.info.task_kind == "probe");
  CHECK(r.info.replicate_axis == "seed");
  CHECK(r.info.metric_names == std::vector<std::string>{"f", "g", "u"});
  REQUIRE(r.points.size() == 18);
  CHECK(r.count_status(kStatusFailed) == 6);

  const double u[3] = {probe_u(11, 0), probe_u(11, 1), probe_u(11, 2)};
  const double mean_u = (u[0] + u[1] + u[2]) / 3;
  double ss = 0;
  for (double v : u) ss += (v - mean_u) * (v - mean_u);
  const double sd = std::sqrt(ss / 2);

  Summary s = summarise(r, {});
  REQUIRE(s.rows.size() == 6);
  // f at x = 2, kl 0.5: 4 + sin(0) + 0.5 + 0.2 + 0 + u; the CI uses t(0.975, 2).
  const SummaryRow& g = row_for(s, {"2", "0.5"});
  CHECK(g.done == 3);
  CHECK(g.stats[0].mean == Approx(4.7 + mean_u).epsilon(1e-14));
  CHECK(g.stats[0].std == Approx(sd).epsilon(1e-12));
  CHECK(g.stats[0].ci95 == Approx(4.30265272974946 * sd / std::sqrt(3.0)).epsilon(1e-10));
  CHECK(g.stats[1].mean == Approx(std::sqrt(2.0)).epsilon(1e-15));
  // x = -1 fails at every replicate: counted, no statistics.
  const SummaryRow& failed = row_for(s, {"-1", "0"});
  CHECK(failed.done == 0);
  CHECK(failed.failed == 3);
  CHECK(failed.stats[0].n == 0);
  // n = 1 with one replicate selected.
  Summary one = summarise(
      r, {.by = {"x", "kl_weight"}, .metrics = {"f"}, .where = parse_filters({"seed=2"})});
  const SummaryRow& single = row_for(one, {"0", "0"});
  CHECK(single.stats[0].n == 1);
  CHECK(single.stats[0].mean == Approx(0.2 + u[2]).epsilon(1e-14));
  CHECK(std::isnan(single.stats[0].ci95));

  // The trace curve: y_i = f / (i + 1) for i = 0..3, for done points only.
  CHECK(r.curves.size() == 12 * 4);
  for (std::size_t i = 0; i < r.curves.size(); ++i) {
    const auto row =
        std::find(r.points.point_id.begin(), r.points.point_id.end(), r.curves.point_id[i]) -
        r.points.point_id.begin();
    CHECK(r.curves.y[i] ==
          Approx(r.points.metrics[0][static_cast<std::size_t>(row)] / (r.curves.x[i] + 1))
              .epsilon(1e-14));
  }

  // The command line prints the same CSV the library makes.
  REQUIRE(run_emsweep("summary " + dir + "/probe.h5 --csv", dir, dir + "/summary.csv") == 0);
  CHECK(slurp(dir + "/summary.csv") == format_csv(s));
  REQUIRE(run_emsweep("export " + dir + "/probe.h5 --csv " + dir + "/points.csv", dir) == 0);
  CHECK(slurp(dir + "/points.csv") == points_csv(r));
  // Unknown names and foreign files are refused with the documented exit codes.
  CHECK(run_emsweep("summary " + dir + "/probe.h5 --by kl_wieght", dir) == 2);
  CHECK(run_emsweep("summary " + dir + "/probe.yaml", dir) == 5);
  CHECK_THAT(slurp(dir + "/emsweep.log"), Contains("did you mean 'kl_weight'?"));
}

TEST_CASE("report on a real run", "[analysis][run][report]") {
  const std::string dir = scratch("report");
  REQUIRE(run_emsweep("run " + probe_config(dir), dir) == 4);
  REQUIRE(run_emsweep("report " + dir + "/probe.h5 -o " + dir + "/report", dir) == 0);
  const std::string md = slurp(dir + "/report/report.md");
  CHECK_THAT(md, Contains("**12 points done, 6 failed** of 18"));
  // The probe declares no sections: the generic report, along the grid's first axis.
  CHECK_THAT(md, Contains("![f against x](fig01-line-f-x.png)"));
  CHECK(fs::file_size(dir + "/report/fig01-line-f-x.png") > 1000);
  CHECK_THAT(md, Contains("## Failed points"));
}

TEST_CASE("report draws the sections a plugin kind declares", "[analysis][run][report]") {
  const std::string dir = scratch("report-plugin");
  ::setenv("EMSWEEP_PLUGIN_PATH", (std::string(EMSWEEP_BINARY_DIR) + "/tests/plugins").c_str(), 1);
  std::ofstream(dir + "/twice.yaml") << "sweep: {name: twice, output: " << dir
                                     << "/twice.h5, seed: 1}\ngrid: {x: [1, 2, 3]}\n"
                                        "task: {kind: twice}\n";
  REQUIRE(run_emsweep("run " + dir + "/twice.yaml", dir) == 0);
  REQUIRE(run_emsweep("report " + dir + "/twice.h5 -o " + dir + "/report", dir) == 0);
  ::unsetenv("EMSWEEP_PLUGIN_PATH");
  const std::string md = slurp(dir + "/report/report.md");
  CHECK_THAT(md, Contains("## Does twice double?\n\nf should be 2 x.\n\n"));
  CHECK_THAT(md, Contains("![f doubles x](fig01-line-f-x.png)"));
  CHECK(md.find("Metrics over the grid") == std::string::npos);
}

TEST_CASE("a file is read while `emsweep run` writes it", "[analysis][run][swmr]") {
  const std::string dir = scratch("live");
  // 30 points (y 5 x kl_weight 2 x seeds 3) of 100 ms each on one rank: about 3 s of
  // running to read in the middle of.
  const std::string cfg =
      probe_config(dir, "  y: [0, 1, 2, 3, 4]\n", "  sleep_ms: 100\n", 11, "[0]");
  std::vector<std::string> args = {kEmsweep, "run", cfg};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 2, (dir + "/run.log").c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = 0;
  REQUIRE(posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ) == 0);
  posix_spawn_file_actions_destroy(&actions);
  int status = 0;
  std::size_t rows_seen_live = 0;
  bool running = true;
  while (running) {
    running = waitpid(pid, &status, WNOHANG) == 0;
    if (!running || !fs::exists(dir + "/probe.h5")) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    try {
      Results r = read_results(dir + "/probe.h5");
      // Only a read that finished before the run did counts as a live read.
      if (r.points.size() > 0 && waitpid(pid, &status, WNOHANG) == 0) {
        rows_seen_live = r.points.size();
        const Summary s = summarise(r, {.by = {"x"}, .metrics = {"f"}, .where = {}});
        CHECK(s.done == r.points.size());
        break;
      }
    } catch (const StoreError&) {
      // The view is rebuilt and renamed into place when the run starts; try again.
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (running) REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(rows_seen_live > 0);
  CHECK(rows_seen_live <= 30);
  CHECK(read_results(dir + "/probe.h5").points.size() == 30);
}

TEST_CASE("merge: shards, overlap, retried failures, conflicts and foreign files",
          "[analysis][run][merge]") {
  const std::string dir = scratch("merge");
  const std::string cfg = probe_config(dir);
  REQUIRE(run_emsweep("run " + cfg + " --output " + dir + "/full.h5", dir) == 4);
  REQUIRE(run_emsweep("run " + cfg + " --shard 0/2 --output " + dir + "/s0.h5", dir) == 4);
  REQUIRE(run_emsweep("run " + cfg + " --shard 1/2 --output " + dir + "/s1.h5", dir) == 4);
  const TaskRegistry reg = registry();
  const Results full = read_results(dir + "/full.h5");
  const Results s0 = read_results(dir + "/s0.h5");
  const Results s1 = read_results(dir + "/s1.h5");
  REQUIRE(s0.points.size() + s1.points.size() == 18);

  SECTION("the shards of a grid merge into the whole grid") {
    MergeReport rep = merge_results({.output = dir + "/merged.h5",
                                     .inputs = {dir + "/s0.h5", dir + "/s1.h5"},
                                     .overwrite = false,
                                     .command_line = "test merge"},
                                    reg);
    CHECK(rep.points == 18);
    CHECK(rep.duplicates == 0);
    CHECK(rep.conflicts == 0);
    const Results m = read_results(dir + "/merged.h5");
    CHECK(ids(m) == ids(full));
    CHECK(m.info.config_hash == full.info.config_hash);
    CHECK(m.info.shard.empty());
    CHECK(m.info.grid_points == 18);
    same_summary(summarise(m, {}), summarise(full, {}));
    CHECK(m.curves.size() == full.curves.size());
    // Provenance: both shards' runs and the merge are recorded.
    CHECK(m.runs.size() >= 3);
    CHECK(m.runs.back().command_line == "test merge");
    // Merging again into the same file needs --overwrite.
    CHECK_THROWS_WITH(merge_results({.output = dir + "/merged.h5",
                                     .inputs = {dir + "/s0.h5"},
                                     .overwrite = false,
                                     .command_line = {}},
                                    reg),
                      Contains("it exists"));
  }
  SECTION("overlapping files are de-duplicated by point id") {
    MergeReport rep = merge_results({.output = dir + "/overlap.h5",
                                     .inputs = {dir + "/full.h5", dir + "/s0.h5"},
                                     .overwrite = false,
                                     .command_line = {}},
                                    reg);
    CHECK(rep.points == 18);
    CHECK(rep.duplicates == s0.points.size());
    CHECK(rep.conflicts == 0);
    CHECK(read_results(dir + "/overlap.h5").points.size() == 18);
  }
  SECTION("a failure retried in another job is replaced by its done record") {
    // A copy of s0 whose failed points are run again, now with a config that cannot fail...
    // would be another sweep; instead fake the retry faithfully: re-record every failed
    // point of s0 as done, through the journal API, in a second file of the same sweep.
    JournalScan scan = read_journal(journal_path(dir + "/s0.h5"));
    const std::string path = dir + "/retried.h5";
    std::size_t retried = 0;
    {
      JournalWriter w(journal_path(path), true);
      for (const auto& rec : scan.records) {
        if (rec.type == RecordType::kHeader) w.append(rec.type, rec.payload);
        if (rec.type != RecordType::kResult) continue;
        auto p = decode_point_record(rec.payload);
        REQUIRE(p);
        if (p->status != PointStatus::kFailed) continue;
        p->status = PointStatus::kDone;
        p->error.clear();
        p->metrics = {42.0, 0.0, 0.5};
        w.append(RecordType::kResult, encode(*p));
        ++retried;
      }
      w.commit();
    }
    REQUIRE(retried > 0);
    MergeReport rep = merge_results({.output = dir + "/healed.h5",
                                     .inputs = {dir + "/s0.h5", path},
                                     .overwrite = false,
                                     .command_line = {}},
                                    reg);
    CHECK(rep.replaced_failed == retried);
    const Results m = read_results(dir + "/healed.h5");
    CHECK(m.points.size() == s0.points.size());
    CHECK(m.count_status(kStatusFailed) == 0);
    CHECK(select_rows(m, parse_filters({"f=42"})).size() == retried);
  }
  SECTION("conflicting duplicates: the first file wins, and the conflict is reported") {
    JournalScan scan = read_journal(journal_path(dir + "/s1.h5"));
    const std::string path = dir + "/conflict.h5";
    {
      JournalWriter w(journal_path(path), true);
      for (const auto& rec : scan.records) {
        if (rec.type == RecordType::kHeader) w.append(rec.type, rec.payload);
        if (rec.type != RecordType::kResult) continue;
        auto p = decode_point_record(rec.payload);
        REQUIRE(p);
        if (p->status == PointStatus::kDone) p->metrics[0] += 1.0;
        w.append(RecordType::kResult, encode(*p));
      }
      w.commit();
    }
    const std::size_t done_s1 = s1.count_status(kStatusDone);
    MergeReport rep = merge_results({.output = dir + "/conflicted.h5",
                                     .inputs = {dir + "/s1.h5", path},
                                     .overwrite = false,
                                     .command_line = {}},
                                    reg);
    CHECK(rep.conflicts == done_s1);
    CHECK(rep.duplicates == s1.points.size() - done_s1);
    REQUIRE_FALSE(rep.warnings.empty());
    CHECK_THAT(rep.warnings.front(), Contains("has different metrics in"));
    const Results m = read_results(dir + "/conflicted.h5");
    same_summary(summarise(m, {}), summarise(s1, {}));
  }
  SECTION("files of other sweeps are refused with the reason") {
    const std::string other = scratch("merge-other");
    REQUIRE(run_emsweep("run " + probe_config(other, "", "", /*seed=*/12), other) == 4);
    CHECK_THROWS_WITH(merge_results({.output = dir + "/bad.h5",
                                     .inputs = {dir + "/s0.h5", other + "/probe.h5"},
                                     .overwrite = false,
                                     .command_line = {}},
                                    reg),
                      Contains("they are different sweeps (config hash"));
    const std::string grown = scratch("merge-grown");
    REQUIRE(run_emsweep("run " + probe_config(grown, "", "", 11, "[-1, 0, 2, 3]"), grown) == 4);
    CHECK_THROWS_WITH(merge_results({.output = dir + "/bad.h5",
                                     .inputs = {dir + "/s0.h5", grown + "/probe.h5"},
                                     .overwrite = false,
                                     .command_line = {}},
                                    reg),
                      Contains("the same sweep on different grids"));
    fs::copy_file(dir + "/s1.h5", dir + "/lonely.h5");
    CHECK_THROWS_WITH(merge_results({.output = dir + "/bad.h5",
                                     .inputs = {dir + "/s0.h5", dir + "/lonely.h5"},
                                     .overwrite = false,
                                     .command_line = {}},
                                    reg),
                      Contains("there is no journal"));
    CHECK_FALSE(fs::exists(dir + "/bad.h5"));
    // The command line says the same and exits with the store's code.
    CHECK(run_emsweep("merge " + dir + "/bad.h5 " + dir + "/s0.h5 " + other + "/probe.h5", dir) ==
          5);
    CHECK_THAT(slurp(dir + "/emsweep.log"), Contains("they are different sweeps"));
  }
}

namespace {

// The problems of `r` whose check is `check`, joined.
std::string problems_of(const VerifyReport& r, const std::string& check) {
  std::string out;
  for (const auto& p : r.problems) {
    if (p.check == check) out += p.message + "\n";
  }
  return out;
}

// Rewrites the journal of `h5` with `change` applied to its records (a journal changed behind
// the view's back: the view is left as it was).
void rewrite_journal(const std::string& h5,
                     const std::function<void(JournalWriter&, const JournalRecord&)>& change) {
  const std::string j = journal_path(h5);
  JournalScan scan = read_journal(j);
  fs::remove(j + ".new");
  {
    JournalWriter out(j + ".new", true);
    for (const auto& rec : scan.records) change(out, rec);
  }
  fs::rename(j + ".new", j);
}

}  // namespace

TEST_CASE("verify: real files agree; every kind of disagreement is found",
          "[analysis][run][verify]") {
  const std::string dir = scratch("verify");
  const std::string cfg = probe_config(dir);
  REQUIRE(run_emsweep("run " + cfg + " --output " + dir + "/p.h5", dir) == 4);  // x = -1 fails
  REQUIRE(run_emsweep("run " + cfg + " --shard 1/2 --output " + dir + "/s1.h5", dir) == 4);
  const TaskRegistry reg = registry();

  VerifyReport ok = verify_results(dir + "/p.h5", reg);
  INFO(problems_of(ok, "journal") << problems_of(ok, "rows") << problems_of(ok, "values"));
  CHECK(ok.ok());
  CHECK(ok.journal_points == 18);
  CHECK(ok.done == 12);
  CHECK(ok.failed == 6);
  CHECK(ok.rows == 18);
  CHECK(ok.curve_rows == 12 * 4);
  CHECK_FALSE(ok.running);
  const VerifyReport shard = verify_results(dir + "/s1.h5", reg);
  CHECK(shard.ok());
  CHECK(shard.grid_points == shard.journal_points);

  const std::string d = scratch("verify-changed");
  for (const char* f : {"p.h5", "p.h5.journal"}) fs::copy_file(dir + "/" + f, d + "/" + f);
  const std::string h5 = d + "/p.h5";
  const std::string before = slurp(h5) + slurp(journal_path(h5));

  SECTION("a newer record with another metric and curve: values and curves differ") {
    rewrite_journal(h5, [](JournalWriter& out, const JournalRecord& rec) {
      out.append(rec.type, rec.payload);
      if (rec.type != RecordType::kResult) return;
      auto r = decode_point_record(rec.payload);
      if (r->status != PointStatus::kDone || r->index != 17) return;
      r->metrics[0] = std::nextafter(r->metrics[0], 1e300);
      r->curves[0].y[2] = -1;
      out.append(RecordType::kResult, encode(*r));
    });
    const VerifyReport v = verify_results(h5, reg);
    CHECK_FALSE(v.ok());
    CHECK_THAT(problems_of(v, "values"),
               Contains("values of /points that differ from the journal: 1") && Contains("(#17 ") &&
                   Contains(": f: view"));
    CHECK_THAT(problems_of(v, "curves"), Contains("curve row"));
    CHECK(v.problems.size() == 2);
  }
  SECTION("a result record dropped: its row is an orphan") {
    bool dropped = false;
    rewrite_journal(h5, [&](JournalWriter& out, const JournalRecord& rec) {
      if (!dropped && rec.type == RecordType::kResult &&
          decode_point_record(rec.payload)->curves.size() == 1) {
        dropped = true;
        return;
      }
      out.append(rec.type, rec.payload);
    });
    const VerifyReport v = verify_results(h5, reg);
    CHECK(v.journal_points == 17);
    CHECK_THAT(problems_of(v, "rows"),
               Contains("rows of /points with no final record in the journal: 1"));
    CHECK_THAT(problems_of(v, "curves"), Contains("curve rows in the view but no final record"));
  }
  SECTION("a header of another sweep: the config hash differs") {
    rewrite_journal(h5, [](JournalWriter& out, const JournalRecord& rec) {
      if (rec.type != RecordType::kHeader) return out.append(rec.type, rec.payload);
      auto hd = decode_journal_header(rec.payload);
      hd->config_hash = std::string(64, 'f');
      out.append(rec.type, encode(*hd));
    });
    const VerifyReport v = verify_results(h5, reg);
    CHECK_THAT(problems_of(v, "config"),
               Contains("attribute config_hash is") && Contains("ffffffff"));
  }
  SECTION("the journal missing, then the view missing") {
    fs::rename(journal_path(h5), d + "/elsewhere");
    VerifyReport v = verify_results(h5, reg);
    CHECK_THAT(problems_of(v, "journal"), Contains("there is no journal"));
    fs::rename(d + "/elsewhere", journal_path(h5));
    fs::rename(h5, d + "/elsewhere.h5");
    v = verify_results(h5, reg);
    CHECK_THAT(problems_of(v, "view"), Contains("there is no results file"));
    fs::rename(d + "/elsewhere.h5", h5);
    CHECK(slurp(h5) + slurp(journal_path(h5)) == before);  // verify changed nothing
  }
}
