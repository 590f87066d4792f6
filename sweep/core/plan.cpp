#include "sweep/core/plan.h"

#include "sweep/core/command_line.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <unordered_set>

#include "sweep/core/json.h"

namespace emsweep {
namespace {

std::string id_hex(std::uint64_t id) { return fmt::format("{:016x}", id); }

std::string values_preview(const Axis& a, std::size_t head = 6) {
  std::string out;
  if (a.is_replicate) return fmt::format("0 .. {}", a.values.size() - 1);
  for (std::size_t i = 0; i < a.values.size(); ++i) {
    if (i == head && a.values.size() > head + 2) {
      out += ", ...";
      i = a.values.size() - 2;
    }
    out += (out.empty() ? "" : ", ") + a.values[i].display();
  }
  return out;
}

// Indices of the first `n` and last `n` kept points (no overlap).
std::pair<std::vector<std::uint64_t>, std::vector<std::uint64_t>> ends(const Grid& g, int n) {
  std::vector<std::uint64_t> first, last;
  for (std::uint64_t i = g.next_kept(0); i < g.full_size() && static_cast<int>(first.size()) < n;
       i = g.next_kept(i + 1)) {
    first.push_back(i);
  }
  std::uint64_t stop = first.empty() ? 0 : first.back() + 1;
  for (std::uint64_t i = g.prev_kept(g.full_size());
       i < g.full_size() && i >= stop && static_cast<int>(last.size()) < n; i = g.prev_kept(i)) {
    last.push_back(i);
    if (i == 0) break;
  }
  std::reverse(last.begin(), last.end());
  return {first, last};
}

// Grids up to this many kept points have their setups counted point by point.
constexpr std::uint64_t kMaxSetupEnumeration = 200'000;

// Distinct setups (e.g. base models) the kept points need: counted exactly by enumerating the
// kept points' setup keys on grids up to kMaxSetupEnumeration points (exclusions respected);
// beyond that, the product of the lengths of the axes that change the setup key (an upper
// bound when exclusions remove whole setups).
std::int64_t count_setups(const SweepSpec& spec, const Grid& grid, const Point& first) {
  if (grid.size() <= kMaxSetupEnumeration) {
    std::unordered_set<std::string> keys;
    for (std::uint64_t i = grid.next_kept(0); i < grid.full_size(); i = grid.next_kept(i + 1)) {
      Point q = grid.at(i);
      keys.insert(spec.kind->setup_key(q.settings, q.replicate));
    }
    return static_cast<std::int64_t>(keys.size());
  }
  const std::string base = spec.kind->setup_key(first.settings, first.replicate);
  std::int64_t setups = 1;
  for (const Axis& axis : spec.axes) {
    if (axis.values.size() < 2) continue;
    Point q = first;
    if (axis.is_replicate) {
      q.replicate = first.replicate == 0 ? 1 : 0;
    } else {
      int si = spec.kind->setting_index(axis.name);
      q.settings.values[si] = axis.values[first.settings.values[si] == axis.values[0] ? 1 : 0];
    }
    if (spec.kind->setup_key(q.settings, q.replicate) != base) {
      setups *= static_cast<std::int64_t>(axis.values.size());
    }
  }
  return setups;
}

}  // namespace

std::string human_seconds(double s) {
  if (!std::isfinite(s)) return "?";
  if (s == 0) return "0 s";
  if (s < 1e-3) return fmt::format("{:.0f} us", s * 1e6);
  if (s < 1) return fmt::format("{:.0f} ms", s * 1000);
  if (s < 60) return fmt::format("{:.1f} s", s);
  if (s < 3600) return fmt::format("{}m {:02}s", static_cast<int>(s / 60), static_cast<int>(s) % 60);
  if (s < 86400 * 2) {
    return fmt::format("{}h {:02}m", static_cast<int>(s / 3600), static_cast<int>(s / 60) % 60);
  }
  return fmt::format("{:.1f} days", s / 86400);
}

std::vector<std::uint64_t> search_cells(const SweepSpec& spec, const Grid& grid, const Shard& shard) {
  std::vector<std::uint64_t> cells;
  if (!spec.search) return cells;
  const std::uint64_t lattice = spec.search->lattice_size();
  for (std::uint64_t c = 0; c * lattice < grid.full_size(); ++c) {
    if (!grid.is_excluded(c * lattice) && grid.in_shard(c * lattice, shard)) cells.push_back(c);
  }
  return cells;
}

std::uint64_t most_points(const SweepSpec& spec, const Grid& grid) {
  if (!spec.search) return grid.size();
  return search_cells(spec, grid).size() * spec.search->max_points_per_cell();
}

std::optional<SweepEstimate> estimate_sweep(const SweepSpec& spec, const Grid& grid) {
  if (!spec.kind->estimate) return std::nullopt;
  std::uint64_t first = grid.next_kept(0);
  if (first >= grid.full_size()) return std::nullopt;
  Point p = grid.at(first);
  auto per = spec.kind->estimate(p.settings);
  if (!per) return std::nullopt;
  SweepEstimate e;
  e.per_point = *per;
  e.points = most_points(spec, grid);
  if (spec.kind->setup_key) e.per_point.setups = count_setups(spec, grid, p);
  e.core_seconds = static_cast<double>(e.points) * e.per_point.seconds_per_point +
                   static_cast<double>(e.per_point.setups) * e.per_point.setup_seconds;
  return e;
}

// The argv the first attempt of point `index` runs.
std::vector<std::string> command_of(const SweepSpec& spec, const Grid& grid, std::uint64_t index) {
  Point p = grid.at(index);
  std::string replicate_axis;
  for (const auto& a : spec.axes) {
    if (a.is_replicate) replicate_axis = a.name;
  }
  const std::string id = point_id_hex(p.id);
  PlaceholderValues v{id, attempt_workdir(spec.output, spec.run.workdir_root, id, 1), 1, replicate_axis};
  return render_argv(spec.argv, p, v);
}

std::string describe_point(const SweepSpec& spec, const Grid& grid, std::uint64_t index) {
  auto pos = grid.positions(index);
  std::string out;
  std::string replicate;
  for (std::size_t a = 0; a < spec.axes.size(); ++a) {
    const Axis& axis = spec.axes[a];
    if (axis.is_replicate) {
      replicate = fmt::format("{}={}", axis.name, pos[a]);
      continue;
    }
    out += fmt::format("{}{}={}", out.empty() ? "" : " ", axis.name, axis.values[pos[a]].display());
  }
  if (!replicate.empty()) out += (out.empty() ? "" : " ") + replicate;
  return out;
}

std::string describe_cell(const SweepSpec& spec, const Grid& grid, std::uint64_t index) {
  const Point p = grid.at(index);
  std::string out;
  for (const Axis& axis : spec.axes) {
    if (axis.is_searched) continue;
    const std::string v = axis.is_replicate ? std::to_string(p.replicate) : p.settings.get(axis.name).display();
    out += (out.empty() ? "" : " ") + axis.name + "=" + v;
  }
  return out.empty() ? "(one cell)" : out;
}

std::string describe_answer(const SweepSpec& spec, const CellAnswer& a) {
  if (a.status != CellStatus::kFound || !spec.search) return cell_status_name(a.status);
  const auto& lattice = spec.axes.back().values;
  return fmt::format("{} = {} in [{}, {}]", spec.search->axis, format_double(canonical_double(a.critical)),
                     lattice[a.bracket_low].display(), lattice[a.bracket_high].display());
}

std::string plan_text(const SweepSpec& spec, const Grid& grid, int shown) {
  std::string out;
  out += fmt::format("sweep   {}  (config hash {})\n", spec.name, spec.hash().substr(0, 12));
  out += fmt::format("task    {}: {}\n", spec.kind->name, spec.kind->doc);
  out += fmt::format("output  {}\n", spec.output);
  out += "axes (slowest first)\n";
  std::size_t width = 4;
  for (const auto& a : spec.axes) width = std::max(width, a.name.size());
  for (const auto& a : spec.axes) {
    out += fmt::format("  {:<{}}  {:>8} {:<10}  {}\n", a.name, width,
                       fmt::format("{} value{}", a.values.size(), a.values.size() == 1 ? "" : "s"),
                       a.form, values_preview(a));
  }
  for (const auto& z : spec.zips) {
    std::string names;
    for (const auto& n : z) names += (names.empty() ? "" : " + ") + n;
    out += fmt::format("  zipped: {} (vary together)\n", names);
  }
  if (spec.sample) {
    const SampleSpec& sm = *spec.sample;
    out += fmt::format("  sampled: {} points by {}{} (sweep.seed {}), the same points in every grid cell\n",
                       sm.n, sample_method_name(sm.method),
                       sm.extendable() ? "" : " (not extendable: points depend on n)", spec.seed);
    for (const auto& p : sm.params) out += fmt::format("    {:<{}}  {}\n", p.name, width, p.describe());
  }
  if (spec.search) {
    const SearchSpec& se = *spec.search;
    const std::uint64_t cells = search_cells(spec, grid).size();
    out += fmt::format("  searched: {} where {} crosses {} ({} scale in [{}, {}], tolerance {}, {} "
                       "per round):\n    {} cells, up to {} points each on a lattice of {} values: at "
                       "most {} points\n",
                       se.axis, se.metric_text(), format_double(se.threshold), se.log ? "log" : "linear",
                       format_double(se.low), format_double(se.high), format_double(se.tolerance),
                       se.parallel, cells, se.max_points_per_cell(), se.lattice_size(),
                       most_points(spec, grid));
  }
  out += spec.search ? fmt::format("points  at most {} of the {} (cells x lattice)", most_points(spec, grid), grid.size())
                     : fmt::format("points  {}", grid.size());
  if (grid.excluded() > 0) {
    out += fmt::format("  (full product {}, {} removed by {} exclusion{})", grid.full_size(),
                       grid.excluded(), spec.exclusions.size(),
                       spec.exclusions.size() == 1 ? "" : "s");
  }
  out += "\n";
  auto [first, last] = ends(grid, shown);
  auto line = [&](std::uint64_t i) {
    return fmt::format("  #{:<10} id {}  {}\n", i, id_hex(grid.id_at(i)), describe_point(spec, grid, i));
  };
  out += "first points\n";
  for (auto i : first) out += line(i);
  if (!last.empty()) {
    out += "last points\n";
    for (auto i : last) out += line(i);
  }
  if (spec.kind->declared_by_config && !first.empty()) {
    out += "command (first point, attempt 1; no shell)\n  " + shell_quote(command_of(spec, grid, first.front())) + "\n";
    out += fmt::format("children  timeout {}, kill_grace {} s, cpus_per_point {}, gpus_per_point {}, keep_workdirs {}\n",
                       spec.run.timeout > 0 ? format_double(spec.run.timeout) + " s" : "none",
                       format_double(spec.run.kill_grace), spec.run.cpus_per_point, spec.run.gpus_per_point,
                       spec.run.keep_workdirs);
  }
  if (auto e = estimate_sweep(spec, grid)) {
    out += fmt::format("estimate  ~{} per point, {}{} points: {}~{} of core time",
                       human_seconds(e->per_point.seconds_per_point), spec.search ? "at most " : "",
                       e->points, spec.search ? "at most " : "", human_seconds(e->core_seconds));
    if (e->per_point.setups > 0 && e->per_point.setup_seconds > 0) {
      out += fmt::format(" (incl. {} setup{} of ~{} each)", e->per_point.setups,
                         e->per_point.setups == 1 ? "" : "s", human_seconds(e->per_point.setup_seconds));
    }
    out += fmt::format("\n          ({})\n", e->per_point.basis);
  }
  // Fixed task settings that differ from their defaults.
  std::string fixed;
  for (std::size_t i = 0; i < spec.kind->settings.size(); ++i) {
    const auto& s = spec.kind->settings[i];
    if (spec.axis_index(s.name) >= 0 || spec.task.values[i] == s.default_value) continue;
    fixed += fmt::format("{}{}={}", fixed.empty() ? "" : " ", s.name, spec.task.values[i].display());
  }
  if (!fixed.empty()) out += "fixed   " + fixed + "\n";
  for (const auto& note : spec.notes) out += "note    " + note + "\n";
  return out;
}

std::string plan_json(const SweepSpec& spec, const Grid& grid, int shown) {
  JsonWriter j;
  j.begin_object();
  j.value("name", spec.name).value("config_hash", spec.hash()).value("kind", spec.kind->name);
  j.value("output", spec.output).value("seed", spec.seed);
  j.begin_array("notes");
  for (const auto& note : spec.notes) j.value("", note);
  j.end_array();
  j.begin_array("axes");
  for (const auto& a : spec.axes) {
    j.begin_object().value("name", a.name).value("form", a.form).value("replicate", a.is_replicate);
    j.value("count", static_cast<std::uint64_t>(a.values.size()));
    j.begin_array("values");
    for (std::size_t i = 0; i < a.values.size() && i < 10000; ++i) j.raw("", a.values[i].canonical());
    j.end_array().end_object();
  }
  j.end_array();
  j.begin_array("zip");
  for (const auto& z : spec.zips) {
    j.begin_array();
    for (const auto& n : z) j.value("", n);
    j.end_array();
  }
  j.end_array();
  if (spec.sample) {
    j.begin_object("sample").value("kind", sample_method_name(spec.sample->method));
    j.value("n", spec.sample->n).value("extendable", spec.sample->extendable());
    j.begin_array("params");
    for (const auto& p : spec.sample->params) {
      j.begin_object().value("name", p.name).value("distribution", p.describe()).end_object();
    }
    j.end_array().end_object();
  } else {
    j.null("sample");
  }
  j.value("points", grid.size()).value("full_product", grid.full_size());
  j.value("most_points", most_points(spec, grid));  // a search's maximum; else = points
  j.value("excluded", grid.excluded());
  auto [first, last] = ends(grid, shown);
  auto point = [&](std::uint64_t i) {
    Point p = grid.at(i);
    j.begin_object().value("index", i).value("point_id", id_hex(p.id)).value("replicate", p.replicate);
    j.begin_object("settings");
    for (const auto& a : spec.axes) {
      if (a.is_replicate) continue;
      j.raw(a.name, p.settings.get(a.name).canonical());
    }
    j.end_object();
    if (spec.kind->declared_by_config) {
      j.begin_array("argv");
      for (const auto& arg : command_of(spec, grid, i)) j.value("", arg);
      j.end_array();
    }
    j.end_object();
  };
  j.begin_array("first");
  for (auto i : first) point(i);
  j.end_array().begin_array("last");
  for (auto i : last) point(i);
  j.end_array();
  if (auto e = estimate_sweep(spec, grid)) {
    j.begin_object("estimate")
        .value("seconds_per_point", e->per_point.seconds_per_point)
        .value("setup_seconds", e->per_point.setup_seconds)
        .value("setups", e->per_point.setups)
        .value("core_seconds", e->core_seconds)
        .value("basis", e->per_point.basis)
        .end_object();
  } else {
    j.null("estimate");
  }
  j.end_object();
  return j.str() + "\n";
}

}  // namespace emsweep
