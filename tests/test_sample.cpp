// Samplers (sweep/core/sample.h and `sample:` in a config): discrepancy, the prefix property,
// reproducibility from the seed, the mapping onto settings, and the config's errors.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <set>
#include <string>

#include "sweep/core/grid.h"
#include "sweep/core/sample.h"
#include "sweep/core/spec.h"
#include "worker/kinds.h"

#include "tests/support/spec_fixture.h"

using namespace emsweep;

namespace {

using testing::ok;
using testing::parse;
using testing::registry;

const std::string kHead = "sweep: {name: t, seed: 5}\ntask: {kind: probe}\n";

// Expected squared L2-star discrepancy of n independent uniform points in d dimensions.
double random_expected_d2(std::size_t n, std::size_t d) {
  return (std::pow(2.0, -static_cast<double>(d)) - std::pow(3.0, -static_cast<double>(d))) /
         static_cast<double>(n);
}

}  // namespace

TEST_CASE("Sobol's discrepancy is well below random's at n = 256", "[sample]") {
  // Stated bound: in 2 and 4 dimensions, Sobol's L2-star discrepancy is below half the root of
  // random points' expected squared discrepancy, and below that of each of 5 random draws.
  for (std::size_t d : {2u, 4u}) {
    const double expected_random = std::sqrt(random_expected_d2(256, d));
    for (std::uint64_t seed : {1u, 2u, 3u}) {
      const double sobol = l2_star_discrepancy(unit_sample(SampleMethod::kSobol, 256, d, seed), d);
      INFO("d=" << d << " seed=" << seed << " sobol=" << sobol << " E[random]=" << expected_random);
      CHECK(sobol < 0.5 * expected_random);
      for (std::uint64_t r = 0; r < 5; ++r) {
        CHECK(sobol < l2_star_discrepancy(unit_sample(SampleMethod::kRandom, 256, d, 100 + r), d));
      }
    }
    // Random points land near their expectation (a check that the formula and generator agree).
    double mean_d2 = 0;
    for (std::uint64_t r = 0; r < 20; ++r) {
      mean_d2 += std::pow(l2_star_discrepancy(unit_sample(SampleMethod::kRandom, 256, d, r), d), 2) / 20;
    }
    CHECK(mean_d2 == Approx(random_expected_d2(256, d)).epsilon(0.35));
  }
}

TEST_CASE("random and Sobol samples keep their points when n grows", "[sample]") {
  for (auto m : {SampleMethod::kRandom, SampleMethod::kSobol}) {
    auto small = unit_sample(m, 100, 3, 42);
    auto large = unit_sample(m, 300, 3, 42);
    REQUIRE(std::equal(small.begin(), small.end(), large.begin()));
  }
}

TEST_CASE("samples are reproducible from the seed and differ between seeds", "[sample]") {
  for (auto m : {SampleMethod::kRandom, SampleMethod::kSobol, SampleMethod::kLatinHypercube}) {
    CHECK(unit_sample(m, 64, 2, 9) == unit_sample(m, 64, 2, 9));
    CHECK(unit_sample(m, 64, 2, 9) != unit_sample(m, 64, 2, 10));
    for (double u : unit_sample(m, 64, 2, 9)) CHECK((u >= 0 && u < 1));
  }
}

TEST_CASE("a Latin hypercube puts one point in each of n strata of every dimension", "[sample]") {
  const std::size_t n = 50, d = 3;
  auto pts = unit_sample(SampleMethod::kLatinHypercube, n, d, 4);
  for (std::size_t j = 0; j < d; ++j) {
    std::set<std::size_t> strata;
    for (std::size_t i = 0; i < n; ++i) strata.insert(static_cast<std::size_t>(pts[i * d + j] * n));
    CHECK(strata.size() == n);
  }
}

TEST_CASE("sampled values land in their ranges, integers include both ends", "[sample]") {
  SampleParam lin{"x", SampleParam::Form::kRange, -2, 2, false, {}};
  SampleParam log{"y", SampleParam::Form::kRange, 0.01, 10, true, {}};
  SampleParam ints{"k", SampleParam::Form::kInteger, 2, 5, false, {}};
  SampleParam pick{"c", SampleParam::Form::kChoice, 0, 0, false, {Value::text("a"), Value::text("b")}};
  CHECK(lin.at(0).as_double() == -2);
  CHECK(lin.at(0.5).as_double() == 0);
  CHECK(log.at(0.5).as_double() == Approx(std::sqrt(0.01 * 10)));
  std::set<std::int64_t> seen;
  std::set<std::string> picked;
  for (double u : unit_sample(SampleMethod::kSobol, 64, 1, 3)) {
    CHECK((lin.at(u).as_double() >= -2 && lin.at(u).as_double() <= 2));
    CHECK((log.at(u).as_double() >= 0.01 && log.at(u).as_double() <= 10));
    seen.insert(ints.at(u).as_int());
    picked.insert(pick.at(u).as_string());
  }
  CHECK(seen == std::set<std::int64_t>{2, 3, 4, 5});
  CHECK(picked == std::set<std::string>{"a", "b"});
}

TEST_CASE("sample: crosses the grid, gives distinct ids and survives the resolved YAML", "[sample]") {
  auto s = ok(kHead +
              "grid: {kl_weight: [0, 1], seed: {replicates: 2}}\n"
              "sample:\n"
              "  kind: sobol\n"
              "  n: 16\n"
              "  params:\n"
              "    x: {range: [-2, 2]}\n"
              "    fail: {choice: [none, throw]}\n");
  Grid g(s);
  CHECK(g.size() == 2 * 2 * 16);
  std::set<std::uint64_t> ids;
  for (std::uint64_t i = 0; i < g.size(); ++i) ids.insert(g.id_at(i));
  CHECK(ids.size() == g.size());
  // The same sample in every cell: point i of the sample has the same x in each cell.
  CHECK(g.at(3).settings.get("x") == g.at(16 + 3).settings.get("x"));
  CHECK(g.at(3).settings.get("x") == g.at(3 * 16 + 3).settings.get("x"));
  auto again = ok(s.resolved_yaml());
  CHECK(again.hash() == s.hash());
  CHECK(again.base_hash() == s.base_hash());
  // Growing n keeps the design (base hash) and every earlier point's id and settings.
  auto grown = ok(s.resolved_yaml(), {"sample.n=32"});
  CHECK(grown.base_hash() == s.base_hash());
  CHECK(grown.hash() != s.hash());
  Grid gg(grown);
  std::vector<std::uint32_t> pos = g.positions(5);
  CHECK(gg.id_at(*gg.index_of(pos)) == g.id_at(5));
  // A different seed is a different sample.
  auto reseeded = ok(s.resolved_yaml(), {"sweep.seed=6"});
  CHECK(reseeded.axes[2].values != s.axes[2].values);
}

TEST_CASE("a sample alone needs no grid", "[sample]") {
  auto s = ok(kHead + "sample: {kind: random, n: 10, params: {x: {range: [0, 1]}}}\n");
  CHECK(Grid(s).size() == 10);
}

TEST_CASE("sample: mistakes are reported at their line with a hint", "[sample]") {
  struct Case {
    std::string body;
    int line;
    std::string key, message;
  };
  const std::vector<Case> cases = {
      {"sample:\n  kind: halton\n  n: 4\n  params: {x: {range: [0, 1]}}\n", 4, "sample.kind",
       "expected random, sobol or lhs, got 'halton'"},
      {"sample:\n  kind: sobol\n  n: 0\n  params: {x: {range: [0, 1]}}\n", 5, "sample.n", "expected"},
      {"sample:\n  kind: sobol\n  n: 4\n  params:\n    xx: {range: [0, 1]}\n", 7, "sample.params.xx",
       "not a setting"},
      {"sample:\n  kind: sobol\n  n: 4\n  params:\n    x: {range: [1, 0]}\n", 7, "sample.params.x.range",
       "low < high"},
      {"sample:\n  kind: sobol\n  n: 4\n  params:\n    x: {range: [-1, 1], scale: log}\n", 7,
       "sample.params.x.scale", "low > 0"},
      {"sample:\n  kind: sobol\n  n: 4\n  params:\n    curve_points: {range: [0, 3]}\n", 7,
       "sample.params.curve_points", "takes an integer"},
      {"sample:\n  kind: sobol\n  n: 4\n  params:\n    fail: {choice: [none, explode]}\n", 7,
       "sample.params.fail.choice[1]", "expected one of"},
      {"grid: {x: [1, 2]}\nsample:\n  kind: sobol\n  n: 4\n  params:\n    x: {range: [0, 1]}\n", 8,
       "sample.params.x", "also a grid axis"},
  };
  for (const auto& tc : cases) {
    auto r = parse(kHead + tc.body);
    INFO(tc.body);
    REQUIRE_FALSE(r.spec);
    REQUIRE(!r.errors.empty());
    CHECK(r.errors[0].key == tc.key);
    CHECK(r.errors[0].line == tc.line);
    CHECK(r.errors[0].message.find(tc.message) != std::string::npos);
  }
  auto fixed = parse("sweep: {name: t}\ntask: {kind: probe, x: 1}\n"
                     "sample: {kind: sobol, n: 4, params: {x: {range: [0, 1]}}}\n");
  REQUIRE_FALSE(fixed.spec);
  CHECK(fixed.errors[0].message.find("also sampled") != std::string::npos);
}
