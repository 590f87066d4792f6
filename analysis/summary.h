// Summary tables: points grouped by chosen axes, each metric aggregated over the rest (mean,
// std, n, 95% CI). Failed points are counted per group and never averaged in; metrics that
// are NaN at a done point (undefined there) are counted separately.
#pragma once

#include <string>
#include <vector>

#include "analysis/results.h"
#include "analysis/select.h"
#include "analysis/stats.h"

namespace emsweep::analysis {

// What to summarise.
struct SummaryOptions {
  std::vector<std::string> by;       // grouping axes; empty = every non-replicate axis
  std::vector<std::string> metrics;  // empty = every metric in the file
  std::vector<Filter> where;         // rows to keep
};

// One row of a summary.
struct SummaryRow {
  std::vector<std::string> key;  // value of each grouping axis
  std::vector<double> key_num;   // the same as numbers (NaN for text)
  std::size_t done = 0;          // points done in the group
  std::size_t failed = 0;        // points failed in the group (not in any statistic)
  std::vector<Stat> stats;       // one per metric, over done points with a finite value
};

// A whole summary table.
struct Summary {
  std::vector<std::string> by;
  std::vector<std::string> metrics;
  std::vector<std::string> where;  // the conditions, as written
  std::vector<SummaryRow> rows;
  std::size_t done = 0;    // done points selected
  std::size_t failed = 0;  // failed points selected
};

// Builds the summary; throws ConfigError for unknown axes or metrics.
[[nodiscard]] Summary summarise(const Results& r, const SummaryOptions& options);

// An aligned plain-text table for a terminal: "mean ± ci (n)" per metric.
[[nodiscard]] std::string format_text(const Summary& s);
// CSV: axes, done, failed, then METRIC_mean, METRIC_std, METRIC_n, METRIC_ci95 per metric;
// undefined values are empty cells. Numbers round-trip (shortest exact form).
[[nodiscard]] std::string format_csv(const Summary& s);
// JSON: {"by": [...], "metrics": [...], "rows": [{"key": {...}, "done", "failed", "stats"}]}.
[[nodiscard]] std::string format_json(const Summary& s);
// A Markdown table with one "mean ± ci (n)" cell per metric, for reports.
[[nodiscard]] std::string format_markdown(const Summary& s);

// The failed points among the rows `where` selects, one line each (axes, attempts, error),
// at most `limit` lines plus a count of the rest; "" when none failed.
[[nodiscard]] std::string format_failed(const Results& r, const std::vector<Filter>& where,
                                        std::size_t limit = 10);

// A number for people: 4 significant digits, "" for NaN.
[[nodiscard]] std::string short_number(double v);

}  // namespace emsweep::analysis
