// Boundary search (sweep/core/search.h): the lattice, the bisection replay against functions
// whose crossing is known in closed form, and every way a cell can end.
#include <catch2/catch.hpp>

#include <cmath>
#include <map>
#include <set>

#include "sweep/core/search.h"

using namespace emsweep;

namespace {

SearchSpec log_spec(double threshold, int parallel = 1) {
  SearchSpec s;
  s.axis = "kl_weight";
  s.log = true;
  s.low = 0.01;
  s.high = 100;
  s.metric = "f";
  s.threshold = threshold;
  s.tolerance = 1.5;
  s.parallel = parallel;
  s.levels = *search_levels(s.log, s.low, s.high, s.tolerance);
  return s;
}

// Runs a cell's search to its end, evaluating what it asks for round by round with `f` of the
// lattice value; counts evaluations (each position at most once).
struct Run {
  CellAnswer answer;
  std::size_t evaluations = 0;
  std::size_t rounds = 0;
};

template <typename F>
Run run_search(const SearchSpec& s, F f, std::set<std::uint32_t> fail = {}) {
  const auto lattice = s.lattice();
  std::map<std::uint32_t, Outcome> known;
  Run r;
  for (;;) {
    r.answer = bisect(s, [&](std::uint32_t p) -> std::optional<Outcome> {
      auto it = known.find(p);
      if (it == known.end()) return std::nullopt;
      return it->second;
    });
    if (r.answer.status != CellStatus::kSearching) return r;
    ++r.rounds;
    for (auto p : r.answer.wanted) {
      REQUIRE(known.count(p) == 0);  // never asked twice
      ++r.evaluations;
      known[p] = fail.count(p) ? Outcome{true, 0} : Outcome{false, f(lattice[p].as_double())};
    }
  }
}

}  // namespace

TEST_CASE("the lattice: 2^k + 1 values, neighbours closer than the tolerance", "[search]") {
  auto s = log_spec(0);
  CHECK(s.levels == 5);  // (10^4)^(1/32) = 1.33 < 1.5; (10^4)^(1/16) = 1.78 is not
  auto v = s.lattice();
  REQUIRE(v.size() == 33);
  CHECK(v.front().as_double() == 0.01);
  CHECK(v.back().as_double() == 100);
  CHECK(v[16].as_double() == Approx(1.0));
  for (std::size_t i = 1; i < v.size(); ++i) CHECK(v[i].as_double() / v[i - 1].as_double() < 1.5);
  CHECK(s.max_points_per_cell() == 7);  // both bounds + 5 halvings: 29% of a 24-value grid
  CHECK_FALSE(search_levels(false, 0, 1, 1e-9));  // would need more than 2^22 values
}

TEST_CASE("bisection finds a closed-form crossing within the tolerance", "[search]") {
  // f(v) = log10(v) crosses threshold t at v = 10^t; over 41 thresholds spanning the range.
  for (int i = 0; i <= 40; ++i) {
    const double t = -1.95 + 3.9 * i / 40.0;
    auto s = log_spec(t);
    Run r = run_search(s, [](double v) { return std::log10(v); });
    INFO("threshold " << t);
    REQUIRE(r.answer.status == CellStatus::kFound);
    const double truth = std::pow(10.0, t);
    CHECK(std::max(r.answer.critical / truth, truth / r.answer.critical) < s.tolerance);
    CHECK(r.evaluations <= s.max_points_per_cell());
    CHECK(r.evaluations == r.answer.used.size());
    CHECK(r.answer.increasing);
  }
}

TEST_CASE("a falling metric, a linear axis and k-section find it too", "[search]") {
  SearchSpec s;
  s.axis = "gate_noise";
  s.log = false;
  s.low = 0;
  s.high = 1;
  s.metric = "g";
  s.threshold = 0.3;
  s.tolerance = 0.01;
  s.levels = *search_levels(false, 0, 1, 0.01);
  CHECK(s.levels == 7);
  auto f = [](double v) { return 1 - v * v; };  // crosses 0.3 at sqrt(0.7)
  for (int parallel : {1, 2, 3, 7}) {
    s.parallel = parallel;
    Run r = run_search(s, f);
    INFO("parallel " << parallel);
    REQUIRE(r.answer.status == CellStatus::kFound);
    CHECK_FALSE(r.answer.increasing);
    CHECK(std::abs(r.answer.critical - std::sqrt(0.7)) < s.tolerance);
    CHECK(r.evaluations <= s.max_points_per_cell());
    if (parallel == 7) CHECK(r.rounds <= 4);  // 8-section: 128 -> 16 -> 2 -> 1
  }
}

TEST_CASE("a cell ends above, below, non-monotone or failed, and says so", "[search]") {
  auto s = log_spec(0.5);
  CHECK(run_search(s, [](double) { return 1.0; }).answer.status == CellStatus::kAboveRange);
  CHECK(run_search(s, [](double) { return 0.0; }).answer.status == CellStatus::kBelowRange);
  // Above 0.5 in (0.05, 0.5) and above 5: a 4-section's first round (0.1, 1, 10) sees it rise,
  // fall and rise again. (Bisection cannot see a bump between the points it evaluates.)
  s.parallel = 3;
  auto bumpy = [](double v) { return (v > 0.05 && v < 0.5) || v > 5 ? 1.0 : 0.0; };
  Run r = run_search(s, bumpy);
  CHECK(r.answer.status == CellStatus::kNonMonotone);
  CHECK(r.answer.used.size() == 5);
  // The same contradiction within monotone_tolerance is tolerated.
  s.monotone_tolerance = 0.6;
  CHECK(run_search(s, bumpy).answer.status == CellStatus::kFound);
  s.monotone_tolerance = 0;
  s.parallel = 1;
  // The midpoint (lattice position 16) fails after its retries: the cell is failed.
  Run failed = run_search(s, [](double v) { return std::log10(v); }, {16});
  CHECK(failed.answer.status == CellStatus::kFailed);
  CHECK(failed.answer.wanted.empty());
}

TEST_CASE("the replay reaches the same answer whatever else is already known", "[search]") {
  // A resumed sweep may hold extra finished points (in flight when it stopped); the answer and
  // the points used do not depend on them.
  auto s = log_spec(0.2);
  auto f = [](double v) { return std::log10(v); };
  Run clean = run_search(s, f);
  const auto lattice = s.lattice();
  auto with_extra = bisect(s, [&](std::uint32_t p) -> std::optional<Outcome> {
    return Outcome{false, f(lattice[p].as_double())};  // every position known
  });
  CHECK(with_extra.status == CellStatus::kFound);
  CHECK(with_extra.critical == clean.answer.critical);
  CHECK(with_extra.used == clean.answer.used);
}
