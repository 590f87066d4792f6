// The lazy grid: mixed-radix round trips, zips, exclusion counting against brute force,
// stable ids when an axis grows, paired replicates, and shards that partition the grid.
#include <catch2/catch.hpp>

#include <set>

#include "sweep/core/grid.h"
#include "worker/kinds.h"
#include "sweep/core/plan.h"
#include "sweep/core/spec.h"

#include "tests/support/spec_fixture.h"

using namespace emsweep;

namespace {

using testing::registry;

SweepSpec spec_of(const std::string& grid_yaml, const std::string& extra = {}) {
  auto r = parse_spec("sweep: {name: g, seed: 3}\ntask: {kind: probe}\ngrid:\n" + grid_yaml + extra,
                      "g.yaml", {}, registry());
  if (!r.spec) FAIL(r.errors[0].format());
  return std::move(*r.spec);
}

}  // namespace

TEST_CASE("last axis varies fastest, like nested loops", "[grid]") {
  auto s = spec_of("  x: [1, 2]\n  y: [10, 20, 30]\n");
  Grid g(s);
  REQUIRE(g.size() == 6);
  CHECK(g.at(0).settings.number("x") == 1);
  CHECK(g.at(0).settings.number("y") == 10);
  CHECK(g.at(1).settings.number("y") == 20);
  CHECK(g.at(3).settings.number("x") == 2);
  CHECK(g.at(5).settings.number("y") == 30);
  CHECK_THROWS_AS(g.at(6), std::out_of_range);
}

TEST_CASE("index <-> point round trip on a 10^12-point grid", "[grid]") {
  auto s = spec_of(
      "  x: {range: [0, 10000]}\n  y: {linspace: [0, 1, 1000]}\n  kl_weight: {logspace: [-3, 3, 100]}\n"
      "  seed: {replicates: 1000}\n");
  Grid g(s);
  REQUIRE(g.full_size() == 1'000'000'000'000ULL);
  std::uint64_t state = 99;
  for (int i = 0; i < 2000; ++i) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    std::uint64_t index = state % g.full_size();
    auto pos = g.positions(index);
    REQUIRE(g.index_of(pos) == index);
    Point p = g.at(index);
    CHECK(p.index == index);
    CHECK(p.settings.number("x") == static_cast<double>(pos[0]));
    CHECK(p.replicate == static_cast<std::int64_t>(pos[3]));
    CHECK(p.sweep_seed == 3);
  }
}

TEST_CASE("zipped axes vary together", "[grid][zip]") {
  auto s = spec_of("  x: [1, 2, 3]\n  kl_weight: [0, 1]\n  y: [10, 20, 30]\n", "zip:\n  - [x, y]\n");
  Grid g(s);
  REQUIRE(g.size() == 6);
  std::set<std::pair<double, double>> xy;
  for (std::uint64_t i = 0; i < g.full_size(); ++i) {
    Point p = g.at(i);
    CHECK(p.settings.number("y") == 10 * p.settings.number("x"));
    xy.insert({p.settings.number("x"), p.settings.number("kl_weight")});
  }
  CHECK(xy.size() == 6);
  CHECK_FALSE(g.index_of({0, 0, 1}).has_value());  // x and y at different positions
  CHECK(g.dimension_names() == std::vector<std::string>{"x+y", "kl_weight"});
}

TEST_CASE("exclusion counts match brute force", "[grid][exclude]") {
  const std::string axes =
      "  x: [1, 2, 3, 4]\n  y: [1, 2, 3]\n  kl_weight: [0, 1, 2]\n  seed: {replicates: 2}\n";
  for (const std::string ex : {
           "exclude:\n  - {x: 1}\n",
           "exclude:\n  - {x: 1, y: 2}\n  - {y: 2}\n",
           "exclude:\n  - {x: 1, y: 2}\n  - {kl_weight: 0, seed: 1}\n  - {x: 4}\n",
           "exclude:\n  - {x: 2, y: 3, kl_weight: 2, seed: 0}\n"}) {
    auto s = spec_of(axes, ex);
    Grid g(s);
    std::uint64_t brute = 0;
    for (std::uint64_t i = 0; i < g.full_size(); ++i) {
      Point p = g.at(i);
      bool hit = false;
      for (const auto& x : s.exclusions) {
        bool all = true;
        for (const auto& [name, v] : x.match) {
          const Value& pv = name == "seed" ? Value::integer(p.replicate) : p.settings.get(name);
          all = all && pv == v;
        }
        hit = hit || all;
      }
      CHECK(g.is_excluded(i) == hit);
      brute += hit;
    }
    INFO(ex);
    CHECK(g.excluded() == brute);
    CHECK(g.size() == g.full_size() - brute);
  }
}

TEST_CASE("exclusions are counted without enumerating a huge grid", "[grid][exclude]") {
  // Constrained dimensions multiply past the enumeration limit: inclusion-exclusion.
  auto s = spec_of("  x: {range: [0, 5000]}\n  y: {range: [0, 5000]}\n  kl_weight: [0, 1]\n",
                   "exclude:\n  - {x: 0}\n  - {y: 0}\n  - {x: 1, kl_weight: 1}\n");
  Grid g(s);
  // |x=0| = 10000, |y=0| = 10000, |x=1,kl=1| = 5000; overlaps: x=0&y=0 -> 2, y=0&x=1&kl=1 -> 1.
  CHECK(g.excluded() == 10000 + 10000 + 5000 - 2 - 1);
}

TEST_CASE("ids do not change when an axis grows", "[grid][id]") {
  auto small = spec_of("  kl_weight: [0, 1]\n  seed: {replicates: 2}\n");
  auto grown = spec_of("  kl_weight: [0, 0.5, 1, 2]\n  seed: {replicates: 3}\n");
  Grid gs(small), gg(grown);
  std::set<std::uint64_t> grown_ids;
  for (std::uint64_t i = 0; i < gg.full_size(); ++i) grown_ids.insert(gg.id_at(i));
  CHECK(grown_ids.size() == gg.full_size());
  for (std::uint64_t i = 0; i < gs.full_size(); ++i) CHECK(grown_ids.count(gs.id_at(i)) == 1);
  // ...but they do change with a fixed setting, the kind or the sweep seed.
  auto other = spec_of("  kl_weight: [0, 1]\n  seed: {replicates: 2}\n", "");
  CHECK(Grid(other).id_at(0) == gs.id_at(0));
  auto r = parse_spec("sweep: {name: g, seed: 4}\ntask: {kind: probe}\ngrid:\n  kl_weight: [0, 1]\n"
                      "  seed: {replicates: 2}\n", "g.yaml", {}, registry());
  REQUIRE(r.spec);
  CHECK(Grid(*r.spec).id_at(0) != gs.id_at(0));
}

TEST_CASE("points that differ only in a hyperparameter share replicate and seed", "[grid][id]") {
  auto s = spec_of("  seed: {replicates: 3}\n  kl_weight: [0, 1, 10]\n");
  Grid g(s);
  for (std::uint64_t i = 0; i < g.full_size(); i += 3) {
    Point a = g.at(i), b = g.at(i + 1), c = g.at(i + 2);
    CHECK(a.replicate == b.replicate);
    CHECK(b.replicate == c.replicate);
    CHECK(a.id != b.id);
  }
}

TEST_CASE("shards partition the grid exactly", "[grid][shard]") {
  auto s = spec_of("  x: {range: [0, 50]}\n  seed: {replicates: 7}\n", "exclude:\n  - {x: 3}\n");
  Grid g(s);
  const Shard whole{0, 1};
  for (std::uint64_t k : {1, 2, 3, 8}) {
    std::uint64_t total = 0;
    for (std::uint64_t i = g.next_kept(0); i < g.full_size(); i = g.next_kept(i + 1)) {
      int owners = 0;
      for (std::uint64_t sh = 0; sh < k; ++sh) owners += g.in_shard(i, Shard{sh, k});
      CHECK(owners == 1);
      CHECK(g.in_shard(i, whole));
      ++total;
    }
    CHECK(total == g.size());
  }
  CHECK(parse_shard("2/5").index == 2);
  CHECK_THROWS(parse_shard("5/5"));
  CHECK_THROWS(parse_shard("1"));
  CHECK_THROWS(parse_shard("a/b"));
}

TEST_CASE("plan lists the ends and counts exclusions", "[grid][plan]") {
  auto s = spec_of("  x: [1, 2, 3]\n  seed: {replicates: 2}\n", "exclude:\n  - {x: 3, seed: 1}\n");
  Grid g(s);
  std::string text = plan_text(s, g, 2);
  CHECK_THAT(text, Catch::Contains("points  5  (full product 6, 1 removed by 1 exclusion)"));
  CHECK_THAT(text, Catch::Contains("x=1 seed=0"));
  CHECK_THAT(text, Catch::Contains("x=3 seed=0"));
  CHECK_THAT(text, !Catch::Contains("x=3 seed=1"));
  std::string json = plan_json(s, g, 2);
  CHECK_THAT(json, Catch::Contains("\"points\":5"));
  CHECK_THAT(json, Catch::Contains("\"excluded\":1"));
}

TEST_CASE("plan counts the setups the kept points need, exclusions included", "[grid][plan]") {
  // Base models differ by pre-training steps and replicate, not by kl_weight: 2 x 2 = 4 setups
  // in the full product; excluding (pretrain_steps 200, seed 1) leaves 3.
  auto r = parse_spec("sweep: {name: g}\ntask: {kind: organism}\n"
                      "grid:\n  pretrain_steps: [100, 200]\n  kl_weight: [0, 10]\n"
                      "  seed: {replicates: 2}\n",
                      "g.yaml", {}, registry());
  REQUIRE(r.spec);
  auto full = estimate_sweep(*r.spec, Grid(*r.spec));
  REQUIRE(full);
  CHECK(full->per_point.setups == 4);
  auto cut = parse_spec("sweep: {name: g}\ntask: {kind: organism}\n"
                        "grid:\n  pretrain_steps: [100, 200]\n  kl_weight: [0, 10]\n"
                        "  seed: {replicates: 2}\nexclude:\n  - {pretrain_steps: 200, seed: 1}\n",
                        "g.yaml", {}, registry());
  REQUIRE(cut.spec);
  auto fewer = estimate_sweep(*cut.spec, Grid(*cut.spec));
  REQUIRE(fewer);
  CHECK(fewer->per_point.setups == 3);
  CHECK(fewer->points == 6);
}
