// `emsweep report`: the standard figures for the research questions (docs/metrics.md,
// SCIENCE.md) and a Markdown page that shows them with summary tables. Figures are chosen
// from what the file holds: the organism's metrics and curves when present, and one figure
// per metric and curve for any other task kind.
#pragma once

#include <string>
#include <vector>

#include "analysis/results.h"
#include "analysis/select.h"

namespace emsweep::analysis {

// Where and what to report.
struct ReportOptions {
  std::string dir;            // output directory (created)
  std::vector<Filter> where;  // points to use
  bool svg = true;            // also write SVG next to every PNG
};

// What was written.
struct Report {
  std::string page;                  // DIR/report.md
  std::vector<std::string> figures;  // PNG files, in page order
  std::vector<std::string> skipped;  // figures left out, each with the reason
};

// Writes DIR/report.md, DIR/summary.csv and DIR/fig-*.{png,svg,gp}.
Report write_report(const Results& r, const ReportOptions& options);

}  // namespace emsweep::analysis
