// Task kind `rosenbrock`, built out of tree against the installed emsweep: gradient descent
// with momentum on the Rosenbrock function f(x, y) = (a - x)^2 + b (y - x^2)^2 from a starting
// point, reporting where it ends and the loss curve. A stand-in for your own C++ training code.
#include <cmath>
#include <memory>
#include <stdexcept>

#include "sweep/core/kind_plugin.h"
#include "sweep/core/settings.h"

namespace {

using namespace emsweep;

double rosenbrock(double a, double b, double x, double y) {
  return (a - x) * (a - x) + b * (y - x * x) * (y - x * x);
}

class Rosenbrock : public Task {
 public:
  TaskResult run(const Point& point, const TaskContext& ctx) override {
    const Settings& s = point.settings;
    const double a = s.number("a"), b = s.number("b"), lr = s.number("lr"), beta = s.number("momentum");
    const std::int64_t steps = s.integer("steps");
    double x = s.number("x0"), y = s.number("y0"), vx = 0, vy = 0;
    Curve loss{"loss", {}, {}};
    for (std::int64_t t = 0; t < steps; ++t) {
      if (ctx.cancel != nullptr && ctx.cancel->load()) throw TaskCancelled("rosenbrock: cancelled");
      const double gx = -2 * (a - x) - 4 * b * x * (y - x * x);
      const double gy = 2 * b * (y - x * x);
      vx = beta * vx - lr * gx;
      vy = beta * vy - lr * gy;
      x += vx;
      y += vy;
      const double f = rosenbrock(a, b, x, y);
      if (!std::isfinite(f)) throw std::runtime_error("rosenbrock: diverged at step " + std::to_string(t));
      if (t % 10 == 0 || t + 1 == steps) {
        loss.x.push_back(static_cast<double>(t));
        loss.y.push_back(f);
      }
    }
    TaskResult r;
    r.metrics = {rosenbrock(a, b, x, y), std::hypot(x - a, y - a * a)};
    r.curves.push_back(std::move(loss));
    return r;
  }
};

void register_rosenbrock(TaskRegistry& registry) {
  TaskKindInfo k;
  k.name = "rosenbrock";
  k.doc = "gradient descent with momentum on the Rosenbrock function (an out-of-tree plugin)";
  k.settings = {
      number_setting("a", 1.0, std::nullopt, std::nullopt, "the minimum sits at (a, a^2)"),
      number_setting("b", 100.0, 0.0, std::nullopt, "curvature of the valley"),
      number_setting("x0", -1.5, std::nullopt, std::nullopt, "starting x"),
      number_setting("y0", 2.0, std::nullopt, std::nullopt, "starting y"),
      number_setting("lr", 1e-4, 0.0, 1.0, "step size", true),
      number_setting("momentum", 0.9, 0.0, 0.999, "heavy-ball momentum"),
      integer_setting("steps", 2000, 1, 10'000'000, "gradient steps"),
  };
  k.metrics = {{"f_final", "f at the last iterate", false},
               {"distance", "distance from the last iterate to the minimum (a, a^2)", false}};
  k.curves = {"loss"};
  k.estimate = [](const Settings& s) -> std::optional<CostEstimate> {
    CostEstimate e;
    e.seconds_per_point = 5e-9 * static_cast<double>(s.integer("steps"));
    e.basis = "about 5 ns per step";
    return e;
  };
  k.make = [] { return std::make_unique<Rosenbrock>(); };
  registry.add(std::move(k));
}

}  // namespace

EMSWEEP_KIND_PLUGIN(register_rosenbrock)
