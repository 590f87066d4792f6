// Samplers for continuous spaces (`sample:` in a config): n points drawn by a pseudo-random,
// Sobol or Latin-hypercube design in the unit cube, mapped onto each sampled setting's range.
// Random and Sobol have the prefix property: the first n points of a larger n are the same
// points, which is what `--extend` relies on. A Latin hypercube depends on n and cannot grow.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sweep/core/value.h"

namespace emsweep {

enum class SampleMethod { kRandom, kSobol, kLatinHypercube };

// "random", "sobol", "lhs".
[[nodiscard]] const char* sample_method_name(SampleMethod m);

// One sampled setting: a continuous range, an integer range (both ends included) or a choice.
struct SampleParam {
  enum class Form { kRange, kInteger, kChoice };
  std::string name;
  Form form = Form::kRange;
  double low = 0;
  double high = 1;
  bool log = false;            // log-uniform (range and integer forms)
  std::vector<Value> choices;  // kChoice

  // The setting value at unit coordinate u in [0, 1).
  [[nodiscard]] Value at(double u) const;
  // Canonical text of the definition (feeds the config hash).
  [[nodiscard]] std::string canonical() const;
  // What a reader of `plan` sees: "log-uniform in [0.0001, 0.01]".
  [[nodiscard]] std::string describe() const;
};

struct SampleSpec {
  SampleMethod method = SampleMethod::kSobol;
  std::uint64_t n = 0;
  std::vector<SampleParam> params;

  // Canonical text of everything but n (an `--extend` keeps it and may only raise n).
  [[nodiscard]] std::string canonical_design() const;
  [[nodiscard]] bool extendable() const { return method != SampleMethod::kLatinHypercube; }
};

// The largest n a sample may have (its values are held in memory, like an axis' values).
inline constexpr std::uint64_t kMaxSamplePoints = 1'000'000;
// Sobol's dimension limit in the direction-number table emsweep uses.
[[nodiscard]] std::size_t max_sobol_dimensions();

// n points of the design in [0, 1)^dims, point-major: out[i * dims + j]. Reproducible from
// `seed`; random and Sobol (with a random digital shift drawn from `seed`) have the prefix
// property in n.
[[nodiscard]] std::vector<double> unit_sample(SampleMethod method, std::uint64_t n,
                                              std::size_t dims, std::uint64_t seed);

// The L2-star discrepancy of points in [0, 1)^dims (Warnock's formula, O(n^2 dims)): how far
// the points are from uniform. Independent uniform points have E[D^2] = (2^-d - 3^-d) / n.
[[nodiscard]] double l2_star_discrepancy(const std::vector<double>& points, std::size_t dims);

}  // namespace emsweep
