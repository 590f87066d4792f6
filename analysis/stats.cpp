#include "analysis/stats.h"

#include <cmath>
#include <limits>
#include <numbers>

namespace emsweep::analysis {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Continued fraction of the incomplete beta function (modified Lentz's method).
double beta_continued_fraction(double a, double b, double x) {
  constexpr double kTiny = 1e-300;
  constexpr double kEps = 1e-16;
  const double qab = a + b;
  const double qap = a + 1.0;
  const double qam = a - 1.0;
  double c = 1.0;
  double d = 1.0 - qab * x / qap;
  if (std::fabs(d) < kTiny) d = kTiny;
  d = 1.0 / d;
  double h = d;
  for (int m = 1; m <= 10000; ++m) {
    const double m2 = 2.0 * m;
    double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
    d = 1.0 + aa * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = 1.0 + aa / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1.0 / d;
    h *= d * c;
    aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
    d = 1.0 + aa * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = 1.0 + aa / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1.0 / d;
    const double del = d * c;
    h *= del;
    if (std::fabs(del - 1.0) < kEps) break;
  }
  return h;
}

// P(T > t) for t >= 0: half of I_{df/(df+t^2)}(df/2, 1/2), accurate far into the tail.
double upper_tail(double t, double df) {
  return 0.5 * incomplete_beta(df / 2.0, 0.5, df / (df + t * t));
}

double density(double t, double df) {
  const double log_norm =
      std::lgamma((df + 1) / 2) - std::lgamma(df / 2) - 0.5 * std::log(df * std::numbers::pi);
  return std::exp(log_norm - (df + 1) / 2 * std::log1p(t * t / df));
}

}  // namespace

double incomplete_beta(double a, double b, double x) {
  if (!(a > 0) || !(b > 0) || !(x >= 0) || !(x <= 1)) return kNaN;
  if (x == 0) return 0;
  if (x == 1) return 1;
  const double log_front =
      std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log1p(-x);
  const double front = std::exp(log_front);
  // The continued fraction converges fast for x < (a+1)/(a+b+2); use the symmetry otherwise.
  if (x < (a + 1) / (a + b + 2)) return front * beta_continued_fraction(a, b, x) / a;
  return 1.0 - front * beta_continued_fraction(b, a, 1.0 - x) / b;
}

double student_t_cdf(double t, double df) {
  if (!(df > 0) || std::isnan(t)) return kNaN;
  if (std::isinf(t)) return t > 0 ? 1.0 : 0.0;
  const double tail = upper_tail(std::fabs(t), df);
  return t >= 0 ? 1.0 - tail : tail;
}

double student_t_quantile(double p, double df) {
  if (!(df > 0) || !(p > 0) || !(p < 1)) return kNaN;
  if (p == 0.5) return 0.0;
  if (p < 0.5) return -student_t_quantile(1.0 - p, df);
  // Solve P(T > t) = 1 - p for t > 0: bracket, then Newton steps kept inside the bracket.
  const double target = 1.0 - p;
  double lo = 0.0;
  double hi = 1.0;
  while (upper_tail(hi, df) > target) {
    lo = hi;
    hi *= 2.0;
    if (hi > 1e300) return std::numeric_limits<double>::infinity();
  }
  double t = 0.5 * (lo + hi);
  for (int i = 0; i < 200; ++i) {
    const double f = upper_tail(t, df) - target;  // decreasing in t
    if (f > 0) {
      lo = t;
    } else {
      hi = t;
    }
    double next = t + f / density(t, df);
    if (!(next > lo && next < hi)) next = 0.5 * (lo + hi);
    if (std::fabs(next - t) <= 1e-15 * std::fabs(t) || hi - lo <= 1e-15 * hi) return next;
    t = next;
  }
  return t;
}

Stat describe(std::span<const double> values) {
  Stat s;
  double sum = 0;
  for (double v : values) {
    if (std::isfinite(v)) {
      sum += v;
      ++s.n;
    }
  }
  if (s.n == 0) {
    s.mean = s.std = s.ci95 = kNaN;
    return s;
  }
  s.mean = sum / static_cast<double>(s.n);
  if (s.n < 2) {
    s.std = s.ci95 = kNaN;
    return s;
  }
  // Two-pass variance: subtract the mean first so that large offsets lose no precision.
  double ss = 0;
  for (double v : values) {
    if (std::isfinite(v)) ss += (v - s.mean) * (v - s.mean);
  }
  const double n = static_cast<double>(s.n);
  s.std = std::sqrt(ss / (n - 1));
  s.ci95 = student_t_quantile(0.975, n - 1) * s.std / std::sqrt(n);
  return s;
}

}  // namespace emsweep::analysis
