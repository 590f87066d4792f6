// `emsweep report`: the standard figures and a Markdown page that shows them with summary
// tables. The sections are those the file's task kind declares (sweep/core/report_spec.h; the
// organism's research questions), drawn as far as the file's axes and metrics allow; a kind
// that declares none, or none the file can show, gets one figure per metric and curve.
#pragma once

#include <string>
#include <vector>

#include "analysis/results.h"
#include "analysis/select.h"
#include "sweep/core/report_spec.h"
#include "sweep/core/task.h"

namespace emsweep::analysis {

// Where and what to report.
struct ReportOptions {
  std::string dir;            // output directory (created)
  std::vector<Filter> where;  // points to use
  bool svg = true;            // also write SVG next to every PNG
  KindReport kind{};          // what the file's task kind declares (declared_report); empty:
                              // the generic report
};

// What was written.
struct Report {
  std::string page;                  // DIR/report.md
  std::vector<std::string> figures;  // PNG files, in page order
  std::vector<std::string> skipped;  // figures left out, each with the reason
};

// What the file's task kind declares for reports and figures, found in `registry` by the kind
// name the file records (a plugin kind loads its plugin; a broken plugin throws its Error);
// empty when the kind is unknown here.
[[nodiscard]] KindReport declared_report(const Results& r, const TaskRegistry& registry);

// Writes DIR/report.md, DIR/summary.csv and DIR/fig-*.{png,svg,gp}.
Report write_report(const Results& r, const ReportOptions& options);

}  // namespace emsweep::analysis
