#include "sweep/core/sample.h"

#include "sweep/core/mix.h"

#include <boost/random/sobol.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>

namespace emsweep {
namespace {


// A counter-based stream: word k of stream `stream` under `seed`, the same on every platform
// (std::uniform_*_distribution are implementation-defined, so they are not used).
std::uint64_t word(std::uint64_t seed, std::uint64_t stream, std::uint64_t k) {
  return splitmix64(splitmix64(seed ^ splitmix64(stream)) + k);
}

double unit(std::uint64_t bits) { return static_cast<double>(bits >> 11) * 0x1.0p-53; }

// Integer in [0, bound) from 64 random bits (bias below bound / 2^64: nil for n <= 10^6).
std::uint64_t below(std::uint64_t bits, std::uint64_t bound) { return bits % bound; }

constexpr std::uint64_t kStreamRandom = 1, kStreamShift = 2, kStreamPermute = 3, kStreamJitter = 4;

void random_points(std::vector<double>& out, std::uint64_t n, std::size_t dims, std::uint64_t seed) {
  for (std::uint64_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < dims; ++j) out[i * dims + j] = unit(word(seed, kStreamRandom, i * dims + j));
  }
}

// Sobol points with the origin first (so the first 2^m points form a net) and a random digital
// shift (XOR of each coordinate with a seeded word), which keeps the net property.
void sobol_points(std::vector<double>& out, std::uint64_t n, std::size_t dims, std::uint64_t seed) {
  std::vector<std::uint64_t> shift(dims);
  for (std::size_t j = 0; j < dims; ++j) shift[j] = word(seed, kStreamShift, j);
  boost::random::sobol engine(dims);
  for (std::uint64_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < dims; ++j) {
      const std::uint64_t x = i == 0 ? 0 : static_cast<std::uint64_t>(engine());
      out[i * dims + j] = unit(x ^ shift[j]);
    }
  }
}

// One stratum per point in every dimension, strata matched by seeded permutations.
void latin_points(std::vector<double>& out, std::uint64_t n, std::size_t dims, std::uint64_t seed) {
  std::vector<std::uint64_t> perm(n);
  for (std::size_t j = 0; j < dims; ++j) {
    std::iota(perm.begin(), perm.end(), std::uint64_t{0});
    for (std::uint64_t i = n; i > 1; --i) {  // Fisher-Yates
      std::swap(perm[i - 1], perm[below(word(seed, kStreamPermute + 16 * j, i), i)]);
    }
    for (std::uint64_t i = 0; i < n; ++i) {
      const double jitter = unit(word(seed, kStreamJitter + 16 * j, i));
      out[i * dims + j] = (static_cast<double>(perm[i]) + jitter) / static_cast<double>(n);
    }
  }
}

}  // namespace

const char* sample_method_name(SampleMethod m) {
  switch (m) {
    case SampleMethod::kRandom: return "random";
    case SampleMethod::kSobol: return "sobol";
    case SampleMethod::kLatinHypercube: return "lhs";
  }
  return "?";
}

std::size_t max_sobol_dimensions() { return boost::random::default_sobol_table::max_dimension; }

Value SampleParam::at(double u) const {
  switch (form) {
    case Form::kRange: {
      const double v = log ? std::exp(std::log(low) + u * (std::log(high) - std::log(low)))
                           : low + u * (high - low);
      return Value::number(std::clamp(v, low, high));
    }
    case Form::kInteger: {
      // Both ends included: [low, high + 1) split evenly (or log-evenly), then floored.
      const double top = high + 1;
      const double v = log ? std::exp(std::log(low) + u * (std::log(top) - std::log(low)))
                           : low + u * (top - low);
      return Value::integer(static_cast<std::int64_t>(std::clamp(std::floor(v), low, high)));
    }
    case Form::kChoice: {
      const auto k = static_cast<std::size_t>(u * static_cast<double>(choices.size()));
      return choices[std::min(k, choices.size() - 1)];
    }
  }
  return {};
}

std::string SampleParam::canonical() const {
  std::string out = "{\"name\":\"" + name + "\",";
  if (form == Form::kChoice) {
    out += "\"choice\":[";
    for (std::size_t i = 0; i < choices.size(); ++i) out += (i ? "," : "") + choices[i].canonical();
    return out + "]}";
  }
  out += form == Form::kRange ? "\"range\":[" : "\"int\":[";
  out += format_double(low) + "," + format_double(high) + "],\"scale\":\"";
  out += log ? "log" : "linear";
  return out + "\"}";
}

std::string SampleParam::describe() const {
  if (form == Form::kChoice) {
    std::string out = "one of ";
    for (std::size_t i = 0; i < choices.size(); ++i) out += (i ? ", " : "") + choices[i].display();
    return out;
  }
  return fmt::format("{}{} in [{}, {}]", log ? "log-uniform " : "uniform ",
                     form == Form::kInteger ? "integer" : "number", format_double(low),
                     format_double(high));
}

std::string SampleSpec::canonical_design() const {
  std::string out = std::string("{\"method\":\"") + sample_method_name(method) + "\",\"params\":[";
  for (std::size_t i = 0; i < params.size(); ++i) out += (i ? "," : "") + params[i].canonical();
  return out + "]}";
}

std::vector<double> unit_sample(SampleMethod method, std::uint64_t n, std::size_t dims,
                                std::uint64_t seed) {
  std::vector<double> out(n * dims);
  switch (method) {
    case SampleMethod::kRandom: random_points(out, n, dims, seed); break;
    case SampleMethod::kSobol: sobol_points(out, n, dims, seed); break;
    case SampleMethod::kLatinHypercube: latin_points(out, n, dims, seed); break;
  }
  return out;
}

double l2_star_discrepancy(const std::vector<double>& points, std::size_t dims) {
  const std::size_t n = dims == 0 ? 0 : points.size() / dims;
  if (n == 0) return 0;
  double single = 0;
  for (std::size_t i = 0; i < n; ++i) {
    double prod = 1;
    for (std::size_t k = 0; k < dims; ++k) {
      const double x = points[i * dims + k];
      prod *= (1 - x * x) / 2;
    }
    single += prod;
  }
  double pairs = 0;
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < n; ++j) {
      double prod = 1;
      for (std::size_t k = 0; k < dims; ++k) {
        prod *= 1 - std::max(points[i * dims + k], points[j * dims + k]);
      }
      pairs += prod;
    }
  }
  const double nd = static_cast<double>(n);
  const double d2 = std::pow(3.0, -static_cast<double>(dims)) - 2 * single / nd + pairs / (nd * nd);
  return std::sqrt(std::max(0.0, d2));
}

}  // namespace emsweep
