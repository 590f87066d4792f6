#include "sweep/core/search.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace emsweep {
namespace {

// Position of lattice value i on the axis' scale (log or linear), as a fraction of the range.
double scaled(const SearchSpec& s, double v) { return s.log ? std::log(v) : v; }
double unscaled(const SearchSpec& s, double t) { return s.log ? std::exp(t) : t; }

double lattice_value(const SearchSpec& s, std::uint32_t i) {
  const double steps = static_cast<double>(s.lattice_size() - 1);
  const double t = scaled(s, s.low) + (scaled(s, s.high) - scaled(s, s.low)) * i / steps;
  if (i == 0) return s.low;
  if (i == s.lattice_size() - 1) return s.high;
  return unscaled(s, t);
}

// Narrow enough: the bracket's ends are closer than the tolerance on the axis' scale.
bool narrow(const SearchSpec& s, std::uint32_t lo, std::uint32_t hi) {
  if (hi - lo <= 1) return true;
  const double a = lattice_value(s, lo), b = lattice_value(s, hi);
  return s.log ? b / a < s.tolerance : b - a < s.tolerance;
}

// The k-section points strictly inside (lo, hi): `parallel` of them, evenly spaced on the lattice.
std::vector<std::uint32_t> interior(const SearchSpec& s, std::uint32_t lo, std::uint32_t hi) {
  std::vector<std::uint32_t> out;
  const auto parts = static_cast<std::uint64_t>(s.parallel) + 1;
  for (std::uint64_t m = 1; m < parts; ++m) {
    const auto p = static_cast<std::uint32_t>(lo + ((hi - lo) * m + parts / 2) / parts);
    if (p > lo && p < hi && (out.empty() || out.back() != p)) out.push_back(p);
  }
  return out;
}

double interpolate(const SearchSpec& s, std::uint32_t lo, std::uint32_t hi, double f_lo, double f_hi) {
  const double a = scaled(s, lattice_value(s, lo)), b = scaled(s, lattice_value(s, hi));
  double w = 0.5;
  if (f_hi != f_lo) w = std::clamp((s.threshold - f_lo) / (f_hi - f_lo), 0.0, 1.0);
  return unscaled(s, a + w * (b - a));
}

}  // namespace

std::optional<int> search_levels(bool log, double low, double high, double tolerance) {
  for (int k = 1; k <= kMaxSearchLevels; ++k) {
    const double parts = std::ldexp(1.0, k);
    const double step = log ? std::pow(high / low, 1.0 / parts) : (high - low) / parts;
    if (step < tolerance) return k;
  }
  return std::nullopt;
}

std::vector<Value> SearchSpec::lattice() const {
  std::vector<Value> out;
  out.reserve(lattice_size());
  for (std::uint32_t i = 0; i < lattice_size(); ++i) out.push_back(Value::number(lattice_value(*this, i)));
  return out;
}

std::uint64_t SearchSpec::max_points_per_cell() const {
  // Worst case: every round keeps the widest of the sub-brackets its points make.
  std::uint64_t points = 2;
  std::uint32_t lo = 0, hi = lattice_size() - 1;
  while (!narrow(*this, lo, hi)) {
    const auto in = interior(*this, lo, hi);
    points += in.size();
    std::uint32_t best_lo = lo, best_hi = in.front(), prev = lo;
    for (std::size_t i = 0; i <= in.size(); ++i) {
      const std::uint32_t next = i < in.size() ? in[i] : hi;
      if (next - prev > best_hi - best_lo) best_lo = prev, best_hi = next;
      prev = next;
    }
    lo = best_lo;
    hi = best_hi;
  }
  return points;
}

std::string SearchSpec::canonical() const {
  return fmt::format(
      "{{\"axis\":\"{}\",\"scale\":\"{}\",\"bounds\":[{},{}],\"metric\":\"{}\",\"minus\":\"{}\","
      "\"threshold\":{},\"tolerance\":{},\"parallel\":{},\"monotone_tolerance\":{}}}",
      axis, log ? "log" : "linear", format_double(low), format_double(high), metric, minus,
      format_double(threshold), format_double(tolerance), parallel, format_double(monotone_tolerance));
}

std::string SearchSpec::metric_text() const { return minus.empty() ? metric : metric + " - " + minus; }

const char* cell_status_name(CellStatus s) {
  switch (s) {
    case CellStatus::kSearching: return "searching";
    case CellStatus::kFound: return "found";
    case CellStatus::kAboveRange: return "above_threshold_at_both_bounds";
    case CellStatus::kBelowRange: return "below_threshold_at_both_bounds";
    case CellStatus::kNonMonotone: return "non_monotone";
    case CellStatus::kFailed: return "failed";
  }
  return "?";
}

CellAnswer bisect(const SearchSpec& spec,
                  const std::function<std::optional<Outcome>(std::uint32_t)>& known) {
  CellAnswer a;
  std::uint32_t lo = 0, hi = spec.lattice_size() - 1;
  a.bracket_low = lo;
  a.bracket_high = hi;
  // Asks for `positions`; true when all are known and none failed (else `a` says why not).
  std::vector<Outcome> got(spec.lattice_size());
  auto ask = [&](const std::vector<std::uint32_t>& positions) {
    for (auto p : positions) {
      a.used.push_back(p);
      auto o = known(p);
      if (!o) {
        a.wanted.push_back(p);
      } else if (o->failed) {
        a.status = CellStatus::kFailed;
      } else {
        got[p] = *o;
      }
    }
    if (a.status == CellStatus::kFailed) a.wanted.clear();
    return a.status != CellStatus::kFailed && a.wanted.empty();
  };
  if (!ask({lo, hi})) return a;
  const bool above_lo = got[lo].value >= spec.threshold, above_hi = got[hi].value >= spec.threshold;
  if (above_lo == above_hi) {
    a.status = above_lo ? CellStatus::kAboveRange : CellStatus::kBelowRange;
    return a;
  }
  a.increasing = above_hi;
  while (!narrow(spec, lo, hi)) {
    const auto in = interior(spec, lo, hi);
    if (!ask(in)) return a;
    // The new bracket: the first neighbours (lo, in..., hi) where the side of the threshold flips.
    std::vector<std::uint32_t> row{lo};
    row.insert(row.end(), in.begin(), in.end());
    row.push_back(hi);
    auto beyond = [&](std::uint32_t p) { return (got[p].value >= spec.threshold) == a.increasing; };
    std::size_t flip = 1;
    while (!beyond(row[flip])) ++flip;  // row.back() is beyond, so this stops
    for (std::size_t i = flip + 1; i < row.size(); ++i) {
      const double miss = std::abs(got[row[i]].value - spec.threshold);
      if (!beyond(row[i]) && miss > spec.monotone_tolerance) {
        a.status = CellStatus::kNonMonotone;
        a.bracket_low = row[flip - 1];
        a.bracket_high = row[flip];
        return a;
      }
    }
    lo = row[flip - 1];
    hi = row[flip];
    a.bracket_low = lo;
    a.bracket_high = hi;
  }
  a.status = CellStatus::kFound;
  a.critical = interpolate(spec, lo, hi, got[lo].value, got[hi].value);
  return a;
}

}  // namespace emsweep
