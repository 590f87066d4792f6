// Figures with gnuplot (PNG via pngcairo, SVG): a heatmap of a metric over two axes, a metric
// against one axis with a line and 95% CI band per value of another, and per-point curves
// overlaid by group. Each figure's gnuplot script (data included) is kept next to it as
// PREFIX.gp, so a figure can be restyled and redrawn with `gnuplot PREFIX.gp`.
#pragma once

#include <string>
#include <vector>

#include "analysis/results.h"
#include "analysis/select.h"
#include "sweep/core/report_spec.h"
#include "sweep/core/spec.h"

namespace emsweep::analysis {

// What every figure shares.
struct FigureOptions {
  std::string output;         // path without extension; PREFIX.png, PREFIX.svg, PREFIX.gp
  std::string title;          // "" = a title made from the spec
  std::vector<Filter> where;  // points to use
  bool png = true;            // write PREFIX.png
  bool svg = true;            // write PREFIX.svg
  int width = 900;            // pixels
  int height = 600;           // pixels
};

// How an axis maps to the page.
enum class Scale { kAuto, kLinear, kLog, kCategory };

// A metric over two axes, averaged over everything else.
struct HeatmapSpec {
  std::string metric;
  std::string x;
  std::string y;
};

// A metric against one axis; one line with a 95% CI band per value of `series` (if set).
struct LineSpec {
  std::string metric;
  std::string x;
  std::string series;            // "" = one line over all points
  Scale x_scale = Scale::kAuto;  // auto: log for positive values over >= 2 decades,
                                 // categories when such values include 0, else linear
};

// A named set of points, e.g. {"x=0", x=0}.
struct CurveGroup {
  std::string label;
  std::vector<Filter> filters;
};

// Every point's curve `curve`, coloured by group, with each group's mean curve on top.
struct CurvesSpec {
  std::string curve;
  std::vector<CurveGroup> groups;  // empty: by `by`, else the default groups
  std::string by;                  // group by the values of this axis
  bool log_x = false;
  bool log_y = false;
  std::string x_label{};  // "" = what the kind declares x means for this curve, else "x"
  // What the file's task kind declares (analysis/report.h, declared_report): the default groups
  // and x labels; null: the generic defaults.
  const KindReport* kind = nullptr;
};

// A boundary search's phase diagram: each cell's critical value against a cell axis `x`, the
// mean and 95% CI over the cells sharing an x (seeds, other axes; on the log scale for a log
// search), every found cell as a dot, and cells whose crossing lies outside the bounds marked
// at the bound they are beyond.
struct BoundaryPlotSpec {
  std::string x;  // "" = the first cell axis with more than one value
};

// What was drawn.
struct Figure {
  std::vector<std::string> files;   // written images (PNG, SVG) and the .gp script
  std::vector<std::string> series;  // titles of the drawn series, in order
  std::string title;
  std::size_t points_used = 0;      // done points that contributed
  std::size_t failed_excluded = 0;  // failed points among those selected (not drawn)
  std::string note;                 // what a reader should know (e.g. missing cells)
};

// Draws a heatmap; throws ConfigError for unknown names, Error when nothing can be drawn.
Figure plot_heatmap(const Results& r, const HeatmapSpec& spec, const FigureOptions& options);
// Draws lines with CI bands.
Figure plot_line(const Results& r, const LineSpec& spec, const FigureOptions& options);
// Draws a boundary search's phase diagram from `spec` (the file's recorded config, which must
// have a search); the answers are recomputed from the file's points (analysis/boundary.h).
Figure plot_boundary(const Results& r, const SweepSpec& spec, const BoundaryPlotSpec& b,
                     const FigureOptions& options);
// Draws overlaid curves.
Figure plot_curves(const Results& r, const CurvesSpec& spec, const FigureOptions& options);

// The default curve groups: the groups `kind` declares (e.g. the organism's kl_weight = 0,
// "general", against kl_weight > 0, "narrow") when the file has their axes and each group has
// points, else one group per value of the first axis that varies, else one group of every point.
[[nodiscard]] std::vector<CurveGroup> default_curve_groups(const Results& r,
                                                           const std::vector<Filter>& where,
                                                           const KindReport* kind = nullptr);

// Runs gnuplot on `script_path`; throws EnvironmentError when gnuplot cannot be started and
// Error (with gnuplot's messages) when it fails. EMSWEEP_GNUPLOT overrides the program.
void run_gnuplot(const std::string& script_path);

}  // namespace emsweep::analysis
