#include "sweep/core/report_spec.h"

#include <algorithm>

#include "sweep/core/task.h"

namespace emsweep {
namespace {

bool has(const std::vector<std::string>& names, const std::string& n) {
  return std::find(names.begin(), names.end(), n) != names.end();
}

// Checks names against what the kind declares; the first problem found, or "".
class NameCheck {
 public:
  explicit NameCheck(const TaskKindInfo& k) : k_(k) {
    for (const auto& m : k.metrics) metrics_.push_back(m.name);
  }
  void axis(const std::string& a, const std::string& where) {
    if (problem.empty() && k_.setting_index(a) < 0) {
      problem = where + " names axis '" + a + "', which is not a setting of the kind";
    }
  }
  void axes(const std::vector<std::string>& as, const std::string& where) {
    for (const auto& a : as) axis(a, where);
  }
  void metric(const std::string& m, const std::string& where) {
    if (problem.empty() && !has(metrics_, m)) {
      problem = where + " names metric '" + m + "', which the kind does not declare";
    }
  }
  void curve(const std::string& c, const std::string& where) {
    if (problem.empty() && !has(k_.curves, c)) {
      problem = where + " names curve '" + c + "', which the kind does not declare";
    }
  }
  std::string problem;

 private:
  const TaskKindInfo& k_;
  std::vector<std::string> metrics_;
};

void check_figure(NameCheck& c, const ReportFigure& f, const std::string& where) {
  if (f.type == ReportFigure::Type::kCurves) {
    c.curve(f.name, where);
    return;
  }
  c.metric(f.name, where);
  c.axis(f.x, where);
  c.axes(f.series, where);
  if (f.type == ReportFigure::Type::kHeatmap && f.series.empty() && c.problem.empty()) {
    c.problem = where + ": heatmap of '" + f.name + "' has no y axis (series[0])";
  }
}

}  // namespace

std::string report_problem(const TaskKindInfo& kind) {
  NameCheck c(kind);
  const KindReport& r = kind.report;
  for (const auto& s : r.sections) {
    const std::string where = "report section '" + s.title + "'";
    for (const auto& m : s.table_metrics) c.metric(m, where);
    for (const auto& k : s.cases) {
      c.axes(k.when_varies, where);
      c.axes(k.unless_varies, where);
      for (const auto& m : k.when_metrics) c.metric(m, where);
      c.axes(k.table_by, where);
      c.axes(k.table_series, where);
      for (const auto& f : k.figures) check_figure(c, f, where);
    }
  }
  c.axes(r.main_axes, "the report's main_axes");
  for (const auto& [curve, label] : r.curve_x_labels) c.curve(curve, "the report's curve_x_labels");
  return c.problem.empty() ? "" : "kind '" + kind.name + "': " + c.problem;
}

}  // namespace emsweep
