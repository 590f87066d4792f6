// Descriptive statistics for the summaries: mean, sample standard deviation, n, and the 95%
// confidence interval of the mean from Student's t distribution (blank, i.e. NaN, at n < 2).
#pragma once

#include <cstddef>
#include <span>

namespace emsweep::analysis {

// Mean and spread of one group's values of one metric.
struct Stat {
  std::size_t n = 0;  // values that went in (finite values only)
  double mean = 0;    // NaN when n = 0
  double std = 0;     // sample standard deviation (n - 1 denominator); NaN when n < 2
  double ci95 =
      0;  // half-width of the 95% CI of the mean, t(0.975, n-1)*std/sqrt(n); NaN when n < 2

  // Lower and upper end of the 95% CI (NaN when undefined).
  [[nodiscard]] double lo() const { return mean - ci95; }
  [[nodiscard]] double hi() const { return mean + ci95; }
};

// Statistics of the finite entries of `values` (NaN and infinities are left out).
[[nodiscard]] Stat describe(std::span<const double> values);

// Regularised incomplete beta function I_x(a, b), for a, b > 0 and 0 <= x <= 1.
[[nodiscard]] double incomplete_beta(double a, double b, double x);

// P(T <= t) for Student's t with `df` > 0 degrees of freedom.
[[nodiscard]] double student_t_cdf(double t, double df);

// The p-quantile of Student's t with `df` > 0 degrees of freedom (0 < p < 1), to ~1e-12.
[[nodiscard]] double student_t_quantile(double p, double df);

}  // namespace emsweep::analysis
