#include "analysis/boundary.h"

#include <fmt/format.h>

#include <cmath>
#include <map>
#include <unordered_map>

#include "analysis/export.h"
#include "sweep/core/grid.h"
#include "sweep/core/plan.h"

namespace emsweep::analysis {

std::vector<BoundaryRow> boundaries(const Results& r, const SweepSpec& spec) {
  std::vector<BoundaryRow> out;
  if (!spec.search) return out;
  const SearchSpec& s = *spec.search;
  const Grid grid(spec);
  const int m = r.metric_index(s.metric);
  const int minus = s.minus.empty() ? -1 : r.metric_index(s.minus);
  if (m < 0 || (!s.minus.empty() && minus < 0)) return out;
  const std::uint32_t lattice = s.lattice_size();
  std::unordered_map<std::uint64_t, Outcome> known;
  std::map<std::uint64_t, bool> cells;  // ordered: grid order
  for (std::size_t i = 0; i < r.points.size(); ++i) {
    const std::uint64_t index = r.points.index[i];
    if (index >= grid.full_size()) continue;
    const bool failed = r.points.status[i] != 1;
    double v = r.points.metrics[static_cast<std::size_t>(m)][i];
    if (minus >= 0) v -= r.points.metrics[static_cast<std::size_t>(minus)][i];
    known[index] = Outcome{failed, v};
    cells[index / lattice] = true;
  }
  for (const auto& [cell, unused] : cells) {
    BoundaryRow row;
    row.first = cell * lattice;
    row.cell = describe_cell(spec, grid, row.first);
    row.answer = bisect(s, [&](std::uint32_t p) -> std::optional<Outcome> {
      auto it = known.find(row.first + p);
      if (it == known.end()) return std::nullopt;
      return it->second;
    });
    out.push_back(std::move(row));
  }
  return out;
}

std::string boundary_csv(const std::vector<BoundaryRow>& rows, const SweepSpec& spec) {
  if (!spec.search) return {};
  const Grid grid(spec);
  const auto& lattice = spec.axes.back().values;
  const auto number = [](double v) { return std::isfinite(v) ? format_double(v) : std::string(); };
  std::string out;
  for (std::size_t a = 0; a + 1 < spec.axes.size(); ++a) out += csv_escape(spec.axes[a].name) + ",";
  out += "status,critical,bracket_low,bracket_high,points_used,increasing\n";
  for (const auto& row : rows) {
    const auto pos = grid.positions(row.first);
    for (std::size_t a = 0; a + 1 < spec.axes.size(); ++a) {
      const Axis& axis = spec.axes[a];
      out += (axis.is_replicate ? std::to_string(pos[a]) : csv_escape(axis.values[pos[a]].display())) + ",";
    }
    const CellAnswer& x = row.answer;
    const bool found = x.status == CellStatus::kFound;
    out += fmt::format("{},{},{},{},{},{}\n", cell_status_name(x.status), found ? number(x.critical) : "",
                       found ? number(lattice[x.bracket_low].as_double()) : "",
                       found ? number(lattice[x.bracket_high].as_double()) : "",
                       x.used.size() - x.wanted.size(), x.increasing ? 1 : 0);
  }
  return out;
}

std::string format_boundaries(const std::vector<BoundaryRow>& rows, const SweepSpec& spec) {
  if (!spec.search) return {};
  const SearchSpec& s = *spec.search;
  std::string out = fmt::format("boundary of {} = {} along {} ({} scale, tolerance {}):\n",
                                s.metric_text(), format_double(s.threshold), s.axis,
                                s.log ? "log" : "linear", format_double(s.tolerance));
  std::size_t width = 10;
  for (const auto& row : rows) width = std::max(width, row.cell.size());
  for (const auto& row : rows) {
    out += fmt::format("  {:<{}}  {}  ({} points)\n", row.cell, width, describe_answer(spec, row.answer),
                       row.answer.used.size() - row.answer.wanted.size());
  }
  return out;
}

}  // namespace emsweep::analysis
