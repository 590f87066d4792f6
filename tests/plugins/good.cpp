// A plugin declaring the kind `twice` (f = 2 x), built as emsweep-twice.so for test_plugin; it
// declares a report section too (test_analysis_run draws it).
#include <memory>

#include "sweep/core/kind_plugin.h"
#include "sweep/core/settings.h"

namespace {

class Twice : public emsweep::Task {
 public:
  emsweep::TaskResult run(const emsweep::Point& point, const emsweep::TaskContext&) override {
    const double x = point.settings.number("x");
    if (x < 0) throw emsweep::TaskFailed("twice: x < 0", {});
    emsweep::TaskResult r;
    r.metrics = {2 * x};
    r.provenance = "twice";
    return r;
  }
};

void register_twice(emsweep::TaskRegistry& registry) {
  emsweep::TaskKindInfo k;
  k.name = "twice";
  k.doc = "f = 2 x (test plugin)";
  k.settings = {emsweep::number_setting("x", 0, std::nullopt, std::nullopt, "input")};
  k.metrics = {{"f", "2 x", false}};
  k.make = [] { return std::make_unique<Twice>(); };
  // One section: f against x, drawn when x varies, with a table by x.
  emsweep::ReportCase by_x{{"x"}, {}, {},
                           {{emsweep::ReportFigure::Type::kLine, "f", "x", {}, "f doubles x"}},
                           {"x"}, {}};
  k.report.sections = {{"Does twice double?", "f should be 2 x.", {"f"}, {by_x}}};
  registry.add(std::move(k));
}

}  // namespace

EMSWEEP_KIND_PLUGIN(register_twice)
