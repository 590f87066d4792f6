// CSV export of a results file: one row per point (ids, axes, status, provenance, every
// metric, error) and the curves in long form, for spreadsheets and other tools.
#pragma once

#include <string>
#include <vector>

#include "analysis/results.h"
#include "analysis/select.h"

namespace emsweep::analysis {

// Points as CSV: point_id (16 hex digits), index, REPLICATE_AXIS, axes..., status
// (done/failed), attempts, rank, host, start_time, end_time, seconds, metrics..., error.
// NaN metrics are empty cells. Only rows matching `where`.
[[nodiscard]] std::string points_csv(const Results& r, const std::vector<Filter>& where = {});

// Curves as CSV in long form: point_id, curve, x, y (rows of points matching `where`).
[[nodiscard]] std::string curves_csv(const Results& r, const std::vector<Filter>& where = {});

// Writes `text` to `path` (replacing it); throws EnvironmentError naming the path on failure.
void write_text_file(const std::string& path, const std::string& text);

// Quotes a CSV cell when it needs it.
[[nodiscard]] std::string csv_escape(const std::string& s);

}  // namespace emsweep::analysis
