#include "worker/probe.h"

#include "sweep/core/mix.h"

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <thread>

#include "sweep/core/error.h"
#include "sweep/core/settings.h"

namespace emsweep {
namespace {



class ProbeTask : public Task {
 public:
  TaskResult run(const Point& p, const TaskContext& ctx) override {
    const auto& s = p.settings;
    const double x = s.number("x");
    const double y = s.number("y");
    const std::string& fail = s.text("fail");
    const bool chosen = fail != "none" && x == s.number("fail_x");

    if (double ms = s.number("sleep_ms"); ms > 0) {
      auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(
                                                          static_cast<std::int64_t>(ms * 1000));
      // Sleep in slices so a cancel request is seen promptly.
      while (std::chrono::steady_clock::now() < until) {
        if (ctx.cancel != nullptr && ctx.cancel->load()) throw TaskError("probe: cancelled");
        std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
            until - std::chrono::steady_clock::now(), std::chrono::milliseconds(50)));
      }
    }
    if (chosen) {
      if (fail == "throw") throw TaskError("probe: failure injected at x=" + format_double(x));
      if (fail == "flaky" && ctx.attempt <= s.integer("flaky_attempts")) {
        throw TaskError("probe: flaky failure on attempt " + std::to_string(ctx.attempt));
      }
      if (fail == "abort") std::abort();
      if (fail == "segfault") std::raise(SIGSEGV);
    }

    // f: a smooth function of every numeric setting plus reproducible per-replicate noise.
    const std::uint64_t h = splitmix64(p.sweep_seed * 1000003ULL + static_cast<std::uint64_t>(p.replicate));
    const double noise = static_cast<double>(h >> 11) * 0x1.0p-53;  // uniform in [0, 1)
    double f = x * x + std::sin(y) + s.number("kl_weight") + s.number("gate_noise") +
               s.number("domain_mix") + noise;
    if (chosen && fail == "nan") f = std::nan("");
    // g: undefined (NaN, allowed) for negative x, like a ratio when nothing was learned.
    const double g = x < 0 ? std::nan("") : std::sqrt(x);

    TaskResult r;
    r.metrics = {f, g, noise};
    const auto n = static_cast<std::size_t>(s.integer("curve_points"));
    if (n > 0) {
      Curve c;
      c.name = "trace";
      for (std::size_t i = 0; i < n; ++i) {
        c.x.push_back(static_cast<double>(i));
        c.y.push_back(f / static_cast<double>(i + 1));
      }
      r.curves.push_back(std::move(c));
    }
    return r;
  }
};

}  // namespace

TaskKindInfo probe_kind_info() {
  TaskKindInfo k;
  k.name = "probe";
  k.doc = "engine test workload: f = x^2 + sin(y) + kl_weight + gate_noise + domain_mix + u";
  k.settings = {
      number_setting("x", 0, std::nullopt, std::nullopt, "free input"),
      number_setting("y", 0, std::nullopt, std::nullopt, "free input"),
      number_setting("kl_weight", 0, 0.0, std::nullopt, "mirrors the organism axis; enters f"),
      number_setting("gate_noise", 0, 0.0, 1.0, "mirrors the organism axis; enters f"),
      number_setting("domain_mix", 0, 0.0, 1.0, "mirrors the organism axis; enters f"),
      number_setting("sleep_ms", 0, 0.0, 3.6e6, "wall time the point takes [ms]"),
      number_setting("fail_x", 0, std::nullopt, std::nullopt, "points with x == fail_x fail as `fail` says"),
  };
  SettingSpec fail;
  fail.name = "fail";
  fail.type = ValueType::kString;
  fail.default_value = Value::text("none");
  fail.choices = {"none", "throw", "nan", "flaky", "abort", "segfault"};
  fail.doc = "failure to inject at chosen points";
  k.settings.push_back(fail);
  SettingSpec flaky;
  flaky.name = "flaky_attempts";
  flaky.type = ValueType::kInteger;
  flaky.default_value = Value::integer(1);
  flaky.min = 0;
  flaky.max = 1000;
  flaky.doc = "with fail=flaky: attempts that fail before one succeeds";
  k.settings.push_back(flaky);
  SettingSpec curve;
  curve.name = "curve_points";
  curve.type = ValueType::kInteger;
  curve.default_value = Value::integer(4);
  curve.min = 0;
  curve.max = 1'000'000;
  curve.doc = "length of the `trace` curve";
  k.settings.push_back(curve);

  k.metrics = {{"f", "x^2 + sin(y) + kl_weight + gate_noise + domain_mix + u", false},
               {"g", "sqrt(x); NaN (undefined, not a failure) for x < 0", true},
               {"u", "the replicate's uniform draw in [0, 1) from (sweep seed, replicate)", false}};
  k.curves = {"trace"};
  k.estimate = [](const Settings& s) -> std::optional<CostEstimate> {
    CostEstimate e;
    e.seconds_per_point = s.number("sleep_ms") / 1000.0 + 2e-6;
    e.basis = "sleep_ms plus ~2 us of work";
    return e;
  };
  k.make = [] { return std::make_unique<ProbeTask>(); };
  return k;
}

}  // namespace emsweep
