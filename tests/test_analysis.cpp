// emsweep::analysis: Student's t against table values, aggregates against hand-computed
// values (n = 1, all-failed groups, undefined metrics), reading real HDF5 files written to
// the layout contract by h5py (tests/data/make_results.py), foreign and malformed files,
// reading a file another process is still writing (SWMR), and the figures and report.
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/core.h>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <numbers>
#include <sstream>
#include <thread>

#include "sweep/core/error.h"
#include "analysis/export.h"
#include "analysis/plot.h"
#include "analysis/report.h"
#include "analysis/results.h"
#include "analysis/select.h"
#include "analysis/stats.h"
#include "analysis/summary.h"

extern char** environ;

namespace fs = std::filesystem;
using namespace emsweep;
using namespace emsweep::analysis;
using Catch::Matchers::Contains;

namespace {

// The fixtures, written once per test process by the h5py generator.
const std::string& fixtures() {
  static const std::string dir = [] {
    std::string d = std::string(EMSWEEP_BINARY_DIR) + "/tests/analysis-fixtures";
    fs::create_directories(d);
    std::string cmd =
        std::string(EMSWEEP_PYTHON) + " " + EMSWEEP_SOURCE_DIR + "/tests/data/make_results.py " + d;
    REQUIRE(std::system(cmd.c_str()) == 0);
    return d;
  }();
  return dir;
}

std::string fixture(const std::string& name) {
  return fixtures() + "/" + name;
}

// A fresh scratch directory under the build tree.
std::string scratch(const std::string& name) {
  std::string d = std::string(EMSWEEP_BINARY_DIR) + "/tests/analysis-out/" + name;
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

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// The probe's per-replicate draw, computed independently of the fixture generator:
// u = (splitmix64(seed * 1000003 + replicate) >> 11) * 2^-53, sweep seed 7.
double probe_u(std::uint64_t replicate) {
  std::uint64_t x = 7ULL * 1000003ULL + replicate;
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return static_cast<double>(x >> 11) * 0x1.0p-53;
}

const SummaryRow& row_for(const Summary& s, std::vector<std::string> key) {
  for (const auto& r : s.rows) {
    if (r.key == key) return r;
  }
  FAIL("no summary row for the key");
  return s.rows.front();
}

// Checks a PNG's signature and returns its IHDR width and height.
std::pair<std::uint32_t, std::uint32_t> png_size(const std::string& path) {
  const std::string b = slurp(path);
  REQUIRE(b.size() > 33);
  REQUIRE(b.substr(0, 8) == std::string("\x89PNG\r\n\x1a\n", 8));
  REQUIRE(b.substr(12, 4) == "IHDR");
  REQUIRE(b.find("IEND") != std::string::npos);
  auto be32 = [&](std::size_t at) {
    return (std::uint32_t(std::uint8_t(b[at])) << 24) |
           (std::uint32_t(std::uint8_t(b[at + 1])) << 16) |
           (std::uint32_t(std::uint8_t(b[at + 2])) << 8) | std::uint32_t(std::uint8_t(b[at + 3]));
  };
  return {be32(16), be32(20)};
}

// An SVG document as gnuplot writes it; returns its text.
std::string svg_text(const std::string& path) {
  std::string s = slurp(path);
  REQUIRE(s.rfind("<?xml", 0) == 0);
  REQUIRE(s.find("<svg") != std::string::npos);
  REQUIRE(s.find("</svg>") != std::string::npos);
  return s;
}

}  // namespace

TEST_CASE("Student's t quantiles match table values", "[analysis][stats]") {
  // Two-sided 95% critical values (qt(0.975, df)), to 15 significant digits.
  const std::pair<double, double> exact[] = {
      {1, 12.7062047361747}, {2, 4.30265272974946},  {3, 3.18244630528371}, {4, 2.77644510519779},
      {5, 2.57058183563631}, {10, 2.22813885198627}, {30, 2.04227245630124}};
  for (auto [df, t] : exact) {
    INFO("df = " << df);
    CHECK(student_t_quantile(0.975, df) == Approx(t).epsilon(1e-12));
  }
  // Printed tables (3 decimals): one-sided 95%, 99.5%, 99.9%, 99.95%.
  CHECK(student_t_quantile(0.95, 10) == Approx(1.812).margin(5e-4));
  CHECK(student_t_quantile(0.995, 5) == Approx(4.032).margin(5e-4));
  CHECK(student_t_quantile(0.999, 3) == Approx(10.215).margin(5e-4));
  CHECK(student_t_quantile(0.9995, 1) == Approx(636.619).margin(5e-4));
  CHECK(student_t_quantile(0.975, 120) == Approx(1.980).margin(5e-4));
  // Closed forms: df = 1 is Cauchy, df = 2 has t = (2p - 1) / sqrt(2 p (1 - p)).
  for (double p : {0.6, 0.9, 0.975, 0.999}) {
    CHECK(student_t_quantile(p, 1) ==
          Approx(std::tan(std::numbers::pi * (p - 0.5))).epsilon(1e-12));
    CHECK(student_t_quantile(p, 2) ==
          Approx((2 * p - 1) / std::sqrt(2 * p * (1 - p))).epsilon(1e-12));
  }
  // Symmetry, the median, the normal limit and the round trip through the CDF.
  CHECK(student_t_quantile(0.025, 7) == Approx(-student_t_quantile(0.975, 7)).epsilon(1e-14));
  CHECK(student_t_quantile(0.5, 3) == 0.0);
  CHECK(student_t_quantile(0.975, 1e7) == Approx(1.959963984540054).epsilon(1e-6));
  for (double df : {1.0, 2.5, 9.0, 40.0}) {
    for (double p : {0.01, 0.3, 0.8, 0.99}) {
      CHECK(student_t_cdf(student_t_quantile(p, df), df) == Approx(p).epsilon(1e-12));
    }
  }
  CHECK(std::isnan(student_t_quantile(0.0, 3)));
  CHECK(std::isnan(student_t_quantile(0.9, 0)));
  // I_x(a, b) at values with closed forms: I_x(1, 1) = x, I_x(a, 1) = x^a.
  CHECK(incomplete_beta(1, 1, 0.3) == Approx(0.3).epsilon(1e-14));
  CHECK(incomplete_beta(3, 1, 0.5) == Approx(0.125).epsilon(1e-14));
}

TEST_CASE("describe: mean, sample std, n and the t interval", "[analysis][stats]") {
  const std::vector<double> v = {1, 2, 3, 4};
  Stat s = describe(v);
  CHECK(s.n == 4);
  CHECK(s.mean == Approx(2.5).epsilon(1e-15));
  CHECK(s.std == Approx(std::sqrt(5.0 / 3.0)).epsilon(1e-15));  // sum of squares 5, n - 1 = 3
  CHECK(s.ci95 == Approx(3.18244630528371 * std::sqrt(5.0 / 3.0) / 2.0).epsilon(1e-12));
  CHECK(s.lo() == Approx(2.5 - s.ci95));

  // NaN (undefined) values are left out, not counted.
  const std::vector<double> with_nan = {1, std::nan(""), 3};
  s = describe(with_nan);
  CHECK(s.n == 2);
  CHECK(s.mean == 2.0);
  CHECK(s.ci95 == Approx(12.7062047361747 * std::sqrt(2.0) / std::sqrt(2.0)).epsilon(1e-12));

  // n = 1: a mean but no spread and no interval; n = 0: nothing.
  const std::vector<double> one = {7.5};
  s = describe(one);
  CHECK(s.n == 1);
  CHECK(s.mean == 7.5);
  CHECK(std::isnan(s.std));
  CHECK(std::isnan(s.ci95));
  s = describe(std::vector<double>{});
  CHECK(s.n == 0);
  CHECK(std::isnan(s.mean));

  // A large offset loses no precision (two-pass variance).
  const std::vector<double> offset = {1e9 + 1, 1e9 + 2, 1e9 + 3};
  CHECK(describe(offset).std == Approx(1.0).epsilon(1e-12));
}

TEST_CASE("read_results reads the contract's layout", "[analysis][read]") {
  Results r = read_results(fixture("probe.h5"));
  CHECK(r.info.schema_version == 1);
  CHECK(r.info.task_kind == "probe");
  CHECK(r.info.axis_names == std::vector<std::string>{"x", "kl_weight", "seed"});
  CHECK(r.info.replicate_axis == "seed");
  CHECK(r.info.metric_names == std::vector<std::string>{"f", "g", "u"});
  CHECK(r.info.curve_names == std::vector<std::string>{"trace"});
  CHECK(r.info.grid_points == 18);
  CHECK(r.info.provenance.at("host") == "fixture-host");
  REQUIRE(r.points.size() == 18);
  REQUIRE(r.points.axes.size() == 2);
  CHECK(r.points.axes[0].name == "x");
  CHECK(r.points.axes[0].type == ColumnType::kFloat);
  CHECK(r.count_status(kStatusDone) == 14);
  CHECK(r.count_status(kStatusFailed) == 4);
  CHECK(r.points.error[3] == "probe: failure injected at x=-1.0");
  // Row 0 is x = -1, kl_weight = 0, replicate 0: f = 1 + u0, g undefined.
  CHECK(r.points.metrics[0][0] == Approx(1.0 + probe_u(0)).epsilon(1e-15));
  CHECK(std::isnan(r.points.metrics[1][0]));
  // Curves of done points only: 14 points x 4 steps, trace_i = f / (i + 1).
  CHECK(r.curves.size() == 14 * 4);
  CHECK(r.curves.curve[1] == "trace");
  CHECK(r.curves.y[1] == Approx(r.points.metrics[0][0] / 2).epsilon(1e-15));
  REQUIRE(r.runs.size() == 1);
  CHECK(r.runs[0].command_line == "emsweep run x");
  CHECK(format_point_id(0x1a2bULL) == "0000000000001a2b");
}

TEST_CASE("summaries match hand-computed aggregates", "[analysis][summary]") {
  Results r = read_results(fixture("probe.h5"), {.curves = false});
  const double u0 = probe_u(0), u1 = probe_u(1), u2 = probe_u(2);
  const double mean_u = (u0 + u1 + u2) / 3;
  const double std_u = std::sqrt(((u0 - mean_u) * (u0 - mean_u) + (u1 - mean_u) * (u1 - mean_u) +
                                  (u2 - mean_u) * (u2 - mean_u)) /
                                 2);

  Summary s = summarise(r, {});
  CHECK(s.by == std::vector<std::string>{"x", "kl_weight"});
  REQUIRE(s.rows.size() == 6);
  CHECK(s.done == 14);
  CHECK(s.failed == 4);
  // Groups are sorted numerically: (-1, 0) first.
  CHECK(s.rows.front().key == std::vector<std::string>{"-1", "0"});

  SECTION("three replicates: f = x^2 + kl + u") {
    const SummaryRow& g = row_for(s, {"2", "0"});
    CHECK(g.done == 3);
    CHECK(g.failed == 0);
    CHECK(g.stats[0].n == 3);
    CHECK(g.stats[0].mean == Approx(4 + mean_u).epsilon(1e-14));
    CHECK(g.stats[0].std == Approx(std_u).epsilon(1e-12));
    CHECK(g.stats[0].ci95 == Approx(4.30265272974946 * std_u / std::sqrt(3.0)).epsilon(1e-10));
    CHECK(g.stats[1].mean == Approx(std::sqrt(2.0)).epsilon(1e-15));  // g = sqrt(x)
    CHECK(g.stats[1].std == 0.0);
  }
  SECTION("a failed replicate is counted, not averaged in") {
    const SummaryRow& g = row_for(s, {"2", "1"});
    CHECK(g.done == 2);
    CHECK(g.failed == 1);
    CHECK(g.stats[0].n == 2);
    CHECK(g.stats[0].mean == Approx(5 + (u0 + u1) / 2).epsilon(1e-14));
    CHECK(g.stats[0].ci95 ==
          Approx(12.7062047361747 * std::fabs(u0 - u1) / std::sqrt(2.0) / std::sqrt(2.0))
              .epsilon(1e-10));
  }
  SECTION("an all-failed group has counts and no statistics") {
    const SummaryRow& g = row_for(s, {"-1", "1"});
    CHECK(g.done == 0);
    CHECK(g.failed == 3);
    for (const Stat& st : g.stats) {
      CHECK(st.n == 0);
      CHECK(std::isnan(st.mean));
    }
  }
  SECTION("a metric undefined at done points has n = 0") {
    const SummaryRow& g = row_for(s, {"-1", "0"});
    CHECK(g.done == 3);
    CHECK(g.stats[1].n == 0);  // g = sqrt(-1)
    CHECK_THAT(format_text(s), Contains("undefined"));
    CHECK(g.stats[0].n == 3);
  }
  SECTION("n = 1: a mean, blank std and CI") {
    Summary one = summarise(
        r, {.by = {"x", "kl_weight"}, .metrics = {"f"}, .where = parse_filters({"seed=1"})});
    const SummaryRow& g = row_for(one, {"0", "1"});
    CHECK(g.stats[0].n == 1);
    CHECK(g.stats[0].mean == Approx(1 + u1).epsilon(1e-15));
    CHECK(std::isnan(g.stats[0].std));
    const std::string csv = format_csv(one);
    CHECK_THAT(csv, Contains(fmt::format("0,1,1,0,{},,1,\n", 1 + u1)));
    CHECK_THAT(format_text(one), Contains(fmt::format("{:.4g} (1)", 1 + u1)));
  }
  SECTION("grouping by one axis pools the other and the replicates") {
    Summary by_kl = summarise(r, {.by = {"kl_weight"}, .metrics = {"f"}, .where = {}});
    REQUIRE(by_kl.rows.size() == 2);
    const SummaryRow& zero = by_kl.rows[0];
    CHECK(zero.done == 9);
    // Mean over x in {-1, 0, 2} of x^2 + u: (1 + 0 + 4) / 3 + mean u.
    CHECK(zero.stats[0].mean == Approx(5.0 / 3.0 + mean_u).epsilon(1e-14));
    CHECK(by_kl.rows[1].failed == 4);
    CHECK(by_kl.rows[1].done == 5);
  }
  SECTION("CSV and JSON carry the same numbers") {
    Summary f = summarise(r, {.by = {"x"}, .metrics = {"f", "g"}, .where = {}});
    const std::string csv = format_csv(f);
    CHECK(csv.substr(0, csv.find('\n')) ==
          "x,done,failed,f_mean,f_std,f_n,f_ci95,g_mean,g_std,g_n,g_ci95");
    CHECK(count(csv, "\n") == 4);
    CHECK_THAT(csv, Contains("-1,3,3,"));  // three done, three failed at x = -1
    const std::string json = format_json(f);
    CHECK_THAT(json, Contains("\"key\":{\"x\":-1},\"done\":3,\"failed\":3"));
    CHECK_THAT(json, Contains("\"g\":{\"mean\":null,\"std\":null,\"n\":0"));
    CHECK_THAT(format_markdown(f), Contains("| x | done | failed | f | g |"));
  }
  SECTION("failed points are listed with their errors") {
    const std::string failed = format_failed(r, {});
    CHECK_THAT(failed, Contains("failed points (4):"));
    CHECK_THAT(failed,
               Contains("x=2 kl_weight=1 seed=2  3 attempts: probe: failure injected at x=2.0"));
  }
}

TEST_CASE("--where conditions and names", "[analysis][select]") {
  Results r = read_results(fixture("probe.h5"), {.curves = false});
  CHECK(select_rows(r, parse_filters({"kl_weight>0"})).size() == 9);
  CHECK(select_rows(r, parse_filters({"kl_weight>0,x>=0"})).size() == 6);
  CHECK(select_rows(r, parse_filters({"x!=2", "seed<1"})).size() == 4);
  CHECK(select_rows(r, parse_filters({"replicate=2"})).size() == 6);
  CHECK(select_rows(r, parse_filters({"f<1"})).size() == 3);  // x = 0, kl 0: f = u < 1
  CHECK_THROWS_AS(parse_filters({"kl_weight"}), ConfigError);
  CHECK_THROWS_WITH(select_rows(r, parse_filters({"kl_wieght=0"})),
                    Contains("no axis or metric 'kl_wieght' (did you mean 'kl_weight'?)"));
  CHECK_THROWS_WITH(select_rows(r, parse_filters({"x=abc"})), Contains("x holds numbers"));
  CHECK_THROWS_WITH(summarise(r, {.by = {"f"}, .metrics = {}, .where = {}}),
                    Contains("it is a metric, not an axis"));
  CHECK_THROWS_WITH(summarise(r, {.by = {}, .metrics = {"ff"}, .where = {}}),
                    Contains("has no metric 'ff' (did you mean 'f'?)"));
  CHECK(split_list({"a,b", " c ", ","}) == std::vector<std::string>{"a", "b", "c"});
}

TEST_CASE("text, bool and integer axes", "[analysis][read]") {
  Results r = read_results(fixture("typed.h5"), {.curves = false});
  REQUIRE(r.points.axes.size() == 3);
  CHECK(r.points.axes[0].type == ColumnType::kText);
  CHECK(r.points.axes[1].type == ColumnType::kBool);
  CHECK(r.points.axes[2].type == ColumnType::kInt);
  CHECK(r.points.axes[0].display(0) == "sgd");
  CHECK(r.points.axes[1].display(0) == "false");
  CHECK(r.points.axes[2].display(0) == "10");
  Summary s = summarise(
      r,
      {.by = {"optimizer", "shared"}, .metrics = {}, .where = parse_filters({"optimizer=adam"})});
  REQUIRE(s.rows.size() == 2);
  // m = 2 steps + flag + rep over steps {10, 20}, rep {0, 1}: adam, shared=true: 30 + 1 + 0.5.
  CHECK(s.rows[1].key == std::vector<std::string>{"adam", "true"});
  CHECK(s.rows[1].stats[0].mean == 31.5);
  CHECK(select_rows(r, parse_filters({"shared=true"})).size() == 8);
}

TEST_CASE("foreign, malformed and missing files give clear errors", "[analysis][errors]") {
  auto store_error = [](const std::string& path, const std::string& text) {
    INFO(path);
    try {
      (void)read_results(path);
      FAIL("no error");
    } catch (const StoreError& e) {
      CHECK_THAT(std::string(e.what()), Contains(text));
      CHECK_FALSE(e.hint().empty());
      CHECK(e.exit_code() == ExitCode::kStore);
    }
  };
  store_error(fixture("foreign.h5"), "is not an emsweep results file");
  store_error(fixture("notes.h5"), "is not an HDF5 file");
  store_error(fixture("newer.h5"), "written by a newer emsweep (results schema 3");
  store_error(fixture("malformed.h5"), "/points has no column 'g'");
  const std::string dir = scratch("errors");
  {
    std::ofstream j(dir + "/r.h5.journal", std::ios::binary);
    j << "EMSWEEP-JOURNAL1" << std::string(20, '\0');
  }
  store_error(dir + "/r.h5.journal", "is a journal, not the HDF5 results file");
  try {
    (void)read_results(dir + "/missing.h5");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK_THAT(std::string(e.what()), Contains("no such file"));
    CHECK(e.exit_code() == ExitCode::kBadInput);
  }
}

TEST_CASE("a file still being written is read through SWMR", "[analysis][swmr]") {
  const std::string dir = scratch("swmr");
  const std::string path = dir + "/live.h5";
  const std::string ready = dir + "/ready";
  const std::string done = dir + "/done";
  const std::string script = std::string(EMSWEEP_SOURCE_DIR) + "/tests/data/make_results.py";
  std::vector<std::string> args = {EMSWEEP_PYTHON, script, "--swmr-writer", path, ready, done};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  REQUIRE(posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ) == 0);
  // Wait until the writer has flushed its rows (or died).
  int status = 0;
  while (!fs::exists(ready)) {
    REQUIRE(waitpid(pid, &status, WNOHANG) == 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Results r = read_results(path);
  std::ofstream(done).close();
  REQUIRE(waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  REQUIRE(r.points.size() == 5);
  Summary s = summarise(r, {.by = {}, .metrics = {"f"}, .where = {}});
  REQUIRE(s.rows.size() == 1);
  CHECK(s.rows[0].stats[0].mean == 2.0);  // f = 0..4
}

TEST_CASE("export writes one row per point and curves in long form", "[analysis][export]") {
  Results r = read_results(fixture("probe.h5"));
  const std::string points = points_csv(r);
  CHECK(count(points, "\n") == 19);
  CHECK(points.substr(0, points.find('\n')) ==
        "point_id,index,seed,x,kl_weight,status,attempts,rank,host,start_time,end_time,seconds,f,"
        "g,u,error,outcome,exit_code,signal,peak_rss_mb,provenance");
  // Row 0: x = -1, kl 0, replicate 0, done; g undefined is an empty cell.
  const std::string row0 = points.substr(
      points.find('\n') + 1, points.find('\n', points.find('\n') + 1) - points.find('\n') - 1);
  CHECK_THAT(row0, Contains(fmt::format(
                       ",0,0,-1,0,done,1,1,fixture-host,1700000000,1700000000.5,0.5,{},,{},",
                       1 + probe_u(0), probe_u(0))));
  CHECK(count(points, ",failed,") == 4);
  const std::string curves = curves_csv(r, parse_filters({"x=2", "kl_weight=0"}));
  CHECK(count(curves, "\n") == 1 + 3 * 4);
  CHECK(curves.substr(0, curves.find('\n')) == "point_id,curve,x,y");
  CHECK(csv_escape("a,\"b\"") == "\"a,\"\"b\"\"\"");
}

TEST_CASE("figures: valid PNG and SVG with the right series", "[analysis][plot]") {
  Results r = read_results(fixture("probe.h5"));
  const std::string dir = scratch("plot");
  FigureOptions o;

  SECTION("heatmap") {
    o.output = dir + "/heat";
    Figure fig = plot_heatmap(r, {"f", "x", "kl_weight"}, o);
    REQUIRE(fig.files.size() == 3);
    CHECK(png_size(dir + "/heat.png") == std::pair<std::uint32_t, std::uint32_t>{900, 600});
    const std::string svg = svg_text(dir + "/heat.svg");
    // Cell labels are the means: (2, 0) = 4 + mean u; the all-failed cell says so.
    const double mean_u = (probe_u(0) + probe_u(1) + probe_u(2)) / 3;
    CHECK_THAT(svg, Contains(">" + short_number(4 + mean_u) + "<"));
    CHECK_THAT(svg, Contains(">failed<"));
    CHECK_THAT(svg, Contains("4 failed points not drawn"));
    CHECK(fig.failed_excluded == 4);
    CHECK(fig.points_used == 14);
  }
  SECTION("lines with CI bands, one per series value") {
    o.output = dir + "/line";
    Figure fig = plot_line(r, {"f", "x", "kl_weight", Scale::kAuto}, o);
    CHECK(fig.series == std::vector<std::string>{"kl_weight=0", "kl_weight=1"});
    png_size(dir + "/line.png");
    const std::string svg = svg_text(dir + "/line.svg");
    // Three plot elements per series: the band and error bars (untitled), the line (titled).
    CHECK(count(svg, "<g id=\"gnuplot_plot_") == 6);
    CHECK(count(svg, "<title>kl_weight=0</title>") == 1);
    CHECK(count(svg, "<title>kl_weight=1</title>") == 1);
    // The script holds the data: kl_weight=1 has x = 0 and x = 2 only (x = -1 all failed).
    const std::string gp = slurp(dir + "/line.gp");
    CHECK(count(gp, "$S1 << EOD") == 1);
    CHECK_THAT(gp, Contains(fmt::format("2 {} ", 5 + (probe_u(0) + probe_u(1)) / 2)));
  }
  SECTION("log scale only where the values allow it") {
    Results typed = read_results(fixture("typed.h5"), {.curves = false});
    o.output = dir + "/typed";
    o.svg = false;
    Figure fig = plot_line(typed, {"m", "optimizer", "shared", Scale::kAuto}, o);
    CHECK(fig.series == std::vector<std::string>{"shared=false", "shared=true"});
    CHECK_THAT(slurp(dir + "/typed.gp"), Contains("set xtics ('adam' 0, 'sgd' 1)"));
    CHECK(fig.files.size() == 2);  // PNG and script
  }
  SECTION("curves overlaid by the groups a kind declares: general (kl 0) against narrow") {
    KindReport kind;
    kind.curve_groups = {{"general: kl_weight=0", "kl_weight=0"},
                         {"narrow: kl_weight>0", "kl_weight>0"}};
    kind.curve_x_labels = {{"trace", "step"}};
    o.output = dir + "/curves";
    Figure fig = plot_curves(r, {.curve = "trace", .groups = {}, .by = {}, .kind = &kind}, o);
    CHECK(fig.series ==
          std::vector<std::string>{"general: kl_weight=0 (9 points)", "general: kl_weight=0: mean",
                                   "narrow: kl_weight>0 (5 points)", "narrow: kl_weight>0: mean"});
    const std::string svg = svg_text(dir + "/curves.svg");
    CHECK(count(svg, "<g id=\"gnuplot_plot_") == 4);
    CHECK(count(svg, "<title>narrow: kl_weight&gt;0 (5 points)</title>") +
              count(svg, "<title>narrow: kl_weight>0 (5 points)</title>") ==
          1);
    png_size(dir + "/curves.png");
    CHECK_THAT(slurp(dir + "/curves.gp"), Contains("set xlabel 'step'"));
  }
  SECTION("without a declaration, curves are grouped by the first axis that varies") {
    o.output = dir + "/curves-generic";
    Figure fig = plot_curves(r, {.curve = "trace", .groups = {}, .by = {}}, o);
    CHECK(fig.series.front() == "x=-1 (3 points)");
    CHECK(fig.series.size() == 6);
    CHECK_THAT(slurp(dir + "/curves-generic.gp"), Contains("set xlabel 'x'"));
    // Declared groups the file cannot fill (no point has kl_weight > 5) fall back the same way.
    KindReport kind;
    kind.curve_groups = {{"low", "kl_weight=0"}, {"high", "kl_weight>5"}};
    CHECK(default_curve_groups(r, {}, &kind).front().label == "x=-1");
  }
  SECTION("curves grouped by an axis") {
    o.output = dir + "/by-x";
    Figure fig = plot_curves(r, {.curve = "trace", .groups = {}, .by = "x"}, o);
    CHECK(fig.series.size() == 6);
    CHECK(fig.series[0] == "x=-1 (3 points)");
  }
  SECTION("unknown names are refused before gnuplot runs") {
    o.output = dir + "/bad";
    CHECK_THROWS_AS(plot_heatmap(r, {"nope", "x", "kl_weight"}, o), ConfigError);
    CHECK_THROWS_AS(plot_line(r, {"f", "f", "", Scale::kAuto}, o), ConfigError);
    CHECK_THROWS_WITH(plot_curves(r, {.curve = "loss", .groups = {}, .by = {}}, o),
                      Contains("has no curve 'loss'"));
    CHECK_FALSE(fs::exists(dir + "/bad.gp"));
  }
}

TEST_CASE("report: figures and a Markdown page", "[analysis][report]") {
  Results r = read_results(fixture("probe.h5"));
  const std::string dir = scratch("report");
  Report rep = write_report(r, {.dir = dir, .where = {}, .svg = true});
  // The probe declares no sections: the generic report, one line and one heatmap per metric
  // along the grid's first varying axis (x), split by the next (kl_weight), and its curve.
  CHECK(rep.figures.size() + rep.skipped.size() == 7);
  const std::string md = slurp(rep.page);
  CHECK_THAT(md, Contains("## Metrics over the grid"));
  CHECK_THAT(md, Contains("**14 points done, 4 failed** of 18"));
  CHECK_THAT(md, Contains("| x | kl_weight | done | failed | f | g | u |"));
  CHECK_THAT(md, Contains("![f against x](fig01-line-f-x.png)"));
  CHECK_THAT(md, Contains("## Failed points"));
  for (const auto& png : rep.figures) {
    png_size(png);
    CHECK_THAT(md, Contains("(" + fs::path(png).filename().string() + ")"));
    CHECK(fs::exists(fs::path(png).replace_extension(".svg")));
  }
  CHECK(fs::exists(dir + "/summary.csv"));
}

TEST_CASE("report: the sections a kind declares", "[analysis][report]") {
  Results r = read_results(fixture("probe.h5"));
  using Fig = ReportFigure;
  KindReport kind;
  // Drawn: x varies; f against kl_weight with one line per x (the only other varying axis).
  ReportCase by_kl{{"kl_weight"}, {}, {},
                   {{Fig::Type::kLine, "f", "kl_weight", {"gate_noise"}, "f against the weight"},
                    {Fig::Type::kHeatmap, "g", "x", {"kl_weight"}, ""},
                    {Fig::Type::kLine, "no_such_metric", "kl_weight", {}, ""},
                    {Fig::Type::kCurves, "trace", "", {}, ""}},
                   {"kl_weight"}, {"gate_noise"}};
  // Not drawn: its condition needs x not to vary.
  ReportCase one_x{{}, {"x"}, {}, {{Fig::Type::kLine, "u", "kl_weight", {}, ""}}, {"x"}, {}};
  kind.sections = {{"Does f grow with the weight?", "It should.", {"f", "gone"}, {by_kl, one_x}},
                   {"Never shown", "No figure applies.", {"f"}, {one_x}}};
  kind.main_axes = {"kl_weight"};

  const std::string dir = scratch("report-declared");
  Report rep = write_report(r, {.dir = dir, .where = {}, .svg = false, .kind = kind});
  const std::string md = slurp(rep.page);
  CHECK(rep.figures.size() + rep.skipped.size() == 3);
  CHECK_THAT(md, Contains("## Does f grow with the weight?\n\nIt should.\n\n"));
  CHECK_THAT(md, Contains("| kl_weight | x | done | failed | f |"));
  CHECK_THAT(md, Contains("![f against the weight](fig01-line-f-kl-weight.png)"));
  CHECK_THAT(md, Contains("(fig02-heatmap-g.png)"));
  CHECK_THAT(md, Contains("![trace curves](fig03-curves-trace.png)"));
  CHECK_FALSE(md.find("Never shown") != std::string::npos);
  CHECK_FALSE(md.find("Metrics over the grid") != std::string::npos);
  CHECK_FALSE(md.find("no_such_metric") != std::string::npos);
}
