// What a task kind declares for `emsweep report` and `emsweep plot`: its standard report
// sections (a question, its figures and a summary table, each drawn only when the sweep's axes
// and the file's metrics allow), and the defaults of its curve figures. Plain data: analysis/
// draws it for whichever kind a results file names, without knowing the kind (docs/plugins.md).
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace emsweep {

struct TaskKindInfo;

// One figure of a report section.
struct ReportFigure {
  enum class Type { kLine, kHeatmap, kCurves };
  Type type = Type::kLine;
  std::string name;  // metric (line, heatmap) or curve (curves); skipped when the file lacks it
  std::string x;     // line, heatmap: the axis along x; skipped when it does not vary
  // line: one line per value of the first of these axes that varies (x excepted), else of any
  // other varying axis, else one line; heatmap: the y axis is series[0], skipped unless it varies.
  std::vector<std::string> series;
  std::string caption;  // what it answers; "" = "NAME against X" / "NAME over X and Y" /
                        // "NAME curves"
};

// Figures (and the table's grouping) that belong together when the sweep's axes allow them.
struct ReportCase {
  std::vector<std::string> when_varies;    // every one of these axes varies (none named: always)
  std::vector<std::string> unless_varies;  // and none of these varies
  std::vector<std::string> when_metrics;   // and the file has every one of these metrics
  std::vector<ReportFigure> figures;       // in page order
  // The section's table, from the first case that holds and names table_by: grouped by these
  // axes, then by the first varying one of table_series (else any other varying axis); an empty
  // table_series adds no axis.
  std::vector<std::string> table_by;
  std::vector<std::string> table_series;
};

// One report section: a question, what the sweep can show of it, and a summary table.
struct ReportSection {
  std::string title;                       // the heading
  std::string text;                        // the paragraph under it: what to look for
  std::vector<std::string> table_metrics;  // the table's metrics (those the file has)
  std::vector<ReportCase> cases;           // shown only when some figure is drawn
};

// Curves of a group of points, e.g. {"narrow: kl_weight>0", "kl_weight>0"}.
struct CurveGroupSpec {
  std::string label;
  std::string where;  // conditions as `--where` takes them, comma-separated
};

// Everything a kind declares for reports and figures; empty: the generic report (every metric
// against the axes that vary, and every curve).
struct KindReport {
  std::vector<ReportSection> sections;  // in page order; when none draws a figure: generic
  // Axes the generic figures prefer, in order: along x, then as series.
  std::vector<std::string> main_axes;
  // The default groups of curve figures, used when every group has points; else one group per
  // value of the first varying axis.
  std::vector<CurveGroupSpec> curve_groups;
  // What x means for each curve (curve name, label); "x" for curves not listed.
  std::vector<std::pair<std::string, std::string>> curve_x_labels;
};

// Why `kind`'s report declaration names something the kind does not declare (a metric, curve
// or setting), or "" when every name is its own.
[[nodiscard]] std::string report_problem(const TaskKindInfo& kind);

}  // namespace emsweep
