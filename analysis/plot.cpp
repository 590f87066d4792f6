#include "analysis/plot.h"

#include <fmt/core.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <unordered_map>

#include "sweep/core/error.h"
#include "analysis/boundary.h"
#include "analysis/export.h"
#include "analysis/stats.h"
#include "analysis/summary.h"

namespace emsweep::analysis {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Tableau 10: distinguishable, and readable by most colour-blind readers in the first few.
constexpr const char* kColors[] = {"1f77b4", "d62728", "2ca02c", "ff7f0e", "9467bd",
                                   "8c564b", "e377c2", "7f7f7f", "bcbd22", "17becf"};

std::string color(std::size_t i, const char* alpha = "00") {
  return fmt::format("'#{}{}'", alpha, kColors[i % std::size(kColors)]);
}

// Characters that enhanced text mode (which the SVG terminal needs to write each series'
// title into its <title> element) would read as markup: _ ^ @ & ~ { }.
bool enhanced_special(char c) {
  return std::strchr("_^@&~{}", c) != nullptr && c != '\0';
}

// A gnuplot single-quoted string ('' stands for '), with enhanced-text markup escaped.
std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "''";
      continue;
    }
    if (enhanced_special(c)) out += '\\';
    out += c;
  }
  return out + "'";
}

// A gnuplot data-file string (double-quoted; no escapes inside, so drop double quotes).
std::string data_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c != '"' && c != '\n') out += c;
  }
  return out + "\"";
}

// A gnuplot double-quoted string: escapes are processed, so "\n" starts a new line;
// enhanced-text markup is escaped.
std::string quote_lines(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (enhanced_special(c)) {
      out += "\\\\";  // "\\_" in the script is \_ in the string: a literal _
      out += c;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string num(double v) {
  return std::isfinite(v) ? fmt::format("{}", v) : "NaN";
}

std::string datablock(const std::string& name, const std::string& lines) {
  return "$" + name + " << EOD\n" + lines + "EOD\n";
}

// xtics at positions 0..n-1 labelled with the values.
std::string category_tics(const char* axis, const std::vector<Group>& values) {
  std::string out = fmt::format("set {}tics (", axis);
  for (std::size_t i = 0; i < values.size(); ++i) {
    out += fmt::format("{}{} {}", i ? ", " : "", quote(values[i].key[0]), i);
  }
  return out + ")\n";
}

// Done rows among `rows`, and how many were failed.
std::vector<std::size_t> done_rows(const Results& r, const std::vector<std::size_t>& rows,
                                   std::size_t* failed) {
  std::vector<std::size_t> out;
  for (std::size_t i : rows) {
    if (r.points.status[i] == kStatusDone) {
      out.push_back(i);
    } else {
      ++*failed;
    }
  }
  return out;
}

std::size_t metric_column(const Results& r, const std::string& metric) {
  int m = r.metric_index(metric);
  if (m < 0) {
    // ColumnRef gives the did-you-mean message; a non-metric name gets a plain one.
    ColumnRef c(r, metric);
    throw ConfigError("'" + metric + "' is an axis, not a metric");
  }
  return static_cast<std::size_t>(m);
}

void require_axis(const Results& r, const std::string& name) {
  ColumnRef c(r, name);
  if (!c.is_axis()) throw ConfigError("'" + name + "' is a metric, not an axis");
}

std::string where_text(const FigureOptions& o) {
  std::string out;
  for (const auto& f : o.where) out += (out.empty() ? "" : ", ") + f.text;
  return out;
}

// Subtitle line: the conditions and the failed points left out.
std::string subtitle(const FigureOptions& o, std::size_t failed) {
  std::string out = where_text(o);
  if (failed > 0) {
    out += fmt::format("{}{} failed point{} not drawn", out.empty() ? "" : "; ", failed,
                       failed == 1 ? "" : "s");
  }
  return out;
}

std::string title_lines(const std::string& title, const std::string& sub) {
  return "set title " + quote_lines(sub.empty() ? title : title + "\n" + sub) + "\n";
}

// Writes PREFIX.gp (data + one pass per format) and runs gnuplot on it.
void render(const std::string& data, const std::string& body, const FigureOptions& o, Figure& fig) {
  namespace fs = std::filesystem;
  if (o.output.empty()) throw ConfigError("no output path for the figure", "pass -o PREFIX");
  fs::path prefix(o.output);
  std::error_code ec;
  if (prefix.has_parent_path()) fs::create_directories(prefix.parent_path(), ec);
  std::string script =
      "# emsweep figure; redraw with: gnuplot " + prefix.filename().string() + ".gp\n" + data;
  const std::string font = "font 'DejaVu Sans,11'";
  std::vector<std::string> images;
  if (o.png) {
    images.push_back(o.output + ".png");
    script +=
        fmt::format("set terminal pngcairo size {},{} enhanced {}\n", o.width, o.height, font);
    script += "set output " + quote(images.back()) + "\n" + body + "unset output\n";
  }
  if (o.svg) {
    images.push_back(o.output + ".svg");
    script += fmt::format("set terminal svg size {},{} enhanced {} background '#ffffff'\n", o.width,
                          o.height, font);
    script += "set output " + quote(images.back()) + "\n" + body + "unset output\n";
  }
  const std::string gp = o.output + ".gp";
  write_text_file(gp, script);
  run_gnuplot(gp);
  for (const auto& img : images) {
    if (fs::file_size(img, ec) == 0 || ec) {
      throw Error("gnuplot did not write " + img, "run `gnuplot " + gp + "` to see why");
    }
    fig.files.push_back(img);
  }
  fig.files.push_back(gp);
}

// Where points go along an axis: positions and the scale.
struct XMap {
  Scale scale = Scale::kLinear;
  std::vector<Group> values;  // distinct values (for categories)

  [[nodiscard]] double position(std::size_t value_index) const {
    return scale == Scale::kCategory ? static_cast<double>(value_index)
                                     : values[value_index].key_num[0];
  }
};

XMap map_x(const std::vector<Group>& values, Scale wanted) {
  XMap m;
  m.values = values;
  bool numeric = true;
  double lo_pos = std::numeric_limits<double>::infinity();
  double hi = -std::numeric_limits<double>::infinity();
  bool has_zero_or_negative = false;
  for (const auto& v : values) {
    const double x = v.key_num[0];
    if (std::isnan(x)) {
      numeric = false;
      continue;
    }
    if (x > 0) {
      lo_pos = std::min(lo_pos, x);
    } else {
      has_zero_or_negative = true;
    }
    hi = std::max(hi, x);
  }
  const bool decades = std::isfinite(lo_pos) && hi / lo_pos >= 100.0;
  if (!numeric) {
    m.scale = Scale::kCategory;
  } else if (wanted != Scale::kAuto) {
    m.scale = wanted == Scale::kLog && has_zero_or_negative ? Scale::kCategory : wanted;
  } else if (decades) {
    m.scale = has_zero_or_negative ? Scale::kCategory : Scale::kLog;
  } else {
    m.scale = Scale::kLinear;
  }
  return m;
}

std::string x_setup(const XMap& m) {
  switch (m.scale) {
    case Scale::kCategory:
      return category_tics("x", m.values) +
             fmt::format("set xrange [-0.5:{}]\n", static_cast<double>(m.values.size()) - 0.5);
    case Scale::kLog:
      return "set logscale x\nset offsets graph 0.03, graph 0.03, graph 0.05, graph 0.05\n";
    default:
      return "set offsets graph 0.03, graph 0.03, graph 0.05, graph 0.05\n";
  }
}

// What x means for `curve`: the kind's declared label, else "x".
std::string curve_x_label(const KindReport* kind, const std::string& curve) {
  if (kind != nullptr) {
    for (const auto& [name, label] : kind->curve_x_labels) {
      if (name == curve) return label;
    }
  }
  return "x";
}

// The groups `declared` names, when the file has every axis they filter on and each group has
// points among `where`'s; else empty.
std::vector<CurveGroup> declared_groups(const Results& r, const std::vector<Filter>& where,
                                        const std::vector<CurveGroupSpec>& declared) {
  std::vector<CurveGroup> out;
  for (const CurveGroupSpec& g : declared) {
    CurveGroup group{g.label, parse_filters({g.where})};
    for (const Filter& f : group.filters) {
      if (r.points.axis_index(f.column) < 0) return {};
    }
    std::vector<Filter> filters = where;
    filters.insert(filters.end(), group.filters.begin(), group.filters.end());
    if (select_rows(r, filters).empty()) return {};
    out.push_back(std::move(group));
  }
  return out;
}

}  // namespace

void run_gnuplot(const std::string& script_path) {
  const char* env = std::getenv("EMSWEEP_GNUPLOT");
  const std::string program = env != nullptr && *env != '\0' ? env : "gnuplot";
  int fds[2];
  if (::pipe(fds) != 0) throw EnvironmentError(std::string("pipe: ") + std::strerror(errno));
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    throw EnvironmentError(std::string("cannot start gnuplot: fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    ::dup2(fds[1], STDOUT_FILENO);
    ::dup2(fds[1], STDERR_FILENO);
    ::close(fds[0]);
    ::close(fds[1]);
    ::execlp(program.c_str(), program.c_str(), script_path.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(fds[1]);
  std::string messages;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n > 0) {
      messages.append(buf, static_cast<std::size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
    throw EnvironmentError("cannot run " + program,
                           "figures need gnuplot: install gnuplot-nox (scripts/install-deps.sh) "
                           "or set EMSWEEP_GNUPLOT to the gnuplot program");
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw Error("gnuplot failed on " + script_path + ":\n" + messages,
                "this is a bug in emsweep's figure script; please report it with the .gp file");
  }
}

Figure plot_heatmap(const Results& r, const HeatmapSpec& spec, const FigureOptions& o) {
  const std::size_t m = metric_column(r, spec.metric);
  require_axis(r, spec.x);
  require_axis(r, spec.y);
  if (spec.x == spec.y) throw ConfigError("a heatmap needs two different axes");
  Figure fig;
  const std::vector<std::size_t> rows = select_rows(r, o.where);
  const std::vector<Group> xs = distinct_values(r, spec.x, rows);
  const std::vector<Group> ys = distinct_values(r, spec.y, rows);
  if (xs.empty() || ys.empty()) {
    throw Error("no points to draw" + (o.where.empty() ? "" : " where " + where_text(o)),
                "check --where; `emsweep summary FILE` shows what the file holds",
                ExitCode::kBadInput);
  }
  std::string cells;
  std::string empty_cells;
  double lo = std::numeric_limits<double>::infinity();
  double hi = -lo;
  std::vector<std::pair<std::string, double>> lines;
  std::size_t without = 0;
  for (const Group& cell : group_rows(r, {spec.x, spec.y}, rows)) {
    std::size_t failed = 0;
    std::vector<double> v;
    for (std::size_t i : done_rows(r, cell.rows, &failed)) v.push_back(r.points.metrics[m][i]);
    fig.failed_excluded += failed;
    fig.points_used += v.size();
    const Stat st = describe(v);
    auto xi =
        std::find_if(xs.begin(), xs.end(), [&](const Group& g) { return g.key[0] == cell.key[0]; });
    auto yi =
        std::find_if(ys.begin(), ys.end(), [&](const Group& g) { return g.key[0] == cell.key[1]; });
    const auto x = static_cast<std::size_t>(xi - xs.begin());
    const auto y = static_cast<std::size_t>(yi - ys.begin());
    if (st.n == 0) {
      ++without;
      empty_cells += fmt::format("{} {} {}\n", x, y,
                                 data_string(v.empty() && failed > 0 ? "failed" : "no value"));
      continue;
    }
    lo = std::min(lo, st.mean);
    hi = std::max(hi, st.mean);
    cells += fmt::format("{} {} {} {}\n", x, y, num(st.mean), data_string(short_number(st.mean)));
  }
  if (cells.empty()) {
    throw Error("no done point has a value of " + spec.metric + " to draw",
                "`emsweep summary FILE --metric " + spec.metric + "` shows the counts",
                ExitCode::kBadInput);
  }
  if (hi <= lo) {
    hi = lo + (lo == 0 ? 1.0 : std::fabs(lo) * 0.01);
  }
  const double mid = 0.5 * (lo + hi);
  fig.title = o.title.empty() ? spec.metric + " over " + spec.x + " and " + spec.y +
                                    " (mean over the other axes and seeds)"
                              : o.title;
  std::string body = title_lines(fig.title, subtitle(o, fig.failed_excluded));
  body += "set xlabel " + quote(spec.x) + "\nset ylabel " + quote(spec.y) + "\n";
  body += "set cblabel " + quote(spec.metric) + "\n";
  body += category_tics("x", xs) + category_tics("y", ys);
  body += fmt::format("set xrange [-0.5:{}]\nset yrange [-0.5:{}]\n",
                      static_cast<double>(xs.size()) - 0.5, static_cast<double>(ys.size()) - 0.5);
  body += fmt::format("set cbrange [{}:{}]\n", num(lo), num(hi));
  body +=
      "set palette defined (0 '#440154', 0.25 '#3b528b', 0.5 '#21918c', 0.75 '#5ec962', "
      "1 '#fde725')\n";
  body += "set style fill solid 1.0 noborder\nunset key\nset tics out nomirror\n";
  body += "plot $CELLS using 1:2:(0.5):(0.5):3 with boxxyerror fc palette notitle";
  if (!empty_cells.empty()) {
    body += ", \\\n  $EMPTY using 1:2:(0.5):(0.5) with boxxyerror fc rgb '#dddddd' notitle";
    body += ", \\\n  $EMPTY using 1:2:3 with labels tc rgb '#555555' notitle";
  }
  body += fmt::format(
      ", \\\n  $CELLS using 1:2:($3 < {0} ? stringcolumn(4) : '') with labels tc rgb 'white' "
      "notitle, \\\n  $CELLS using 1:2:($3 >= {0} ? stringcolumn(4) : '') with labels tc rgb "
      "'black' notitle\n",
      num(mid));
  std::string data = datablock("CELLS", cells);
  if (!empty_cells.empty()) data += datablock("EMPTY", empty_cells);
  if (without > 0) fig.note = fmt::format("{} cell(s) without a value shown grey", without);
  render(data, body, o, fig);
  return fig;
}

Figure plot_line(const Results& r, const LineSpec& spec, const FigureOptions& o) {
  const std::size_t m = metric_column(r, spec.metric);
  require_axis(r, spec.x);
  if (!spec.series.empty()) require_axis(r, spec.series);
  Figure fig;
  const std::vector<std::size_t> rows = select_rows(r, o.where);
  const XMap xmap = map_x(distinct_values(r, spec.x, rows), spec.x_scale);
  if (xmap.values.empty()) {
    throw Error("no points to draw" + (o.where.empty() ? "" : " where " + where_text(o)),
                "check --where", ExitCode::kBadInput);
  }
  std::vector<Group> series;
  if (spec.series.empty()) {
    Group all;
    all.key = {spec.metric};
    all.rows = rows;
    series.push_back(all);
  } else {
    series = distinct_values(r, spec.series, rows);
  }
  std::string data;
  std::string plots;
  for (std::size_t k = 0; k < series.size(); ++k) {
    std::string lines;
    for (const Group& at : group_rows(r, {spec.x}, series[k].rows)) {
      std::size_t failed = 0;
      std::vector<double> v;
      for (std::size_t i : done_rows(r, at.rows, &failed)) v.push_back(r.points.metrics[m][i]);
      fig.failed_excluded += failed;
      const Stat st = describe(v);
      if (st.n == 0) continue;
      fig.points_used += st.n;
      std::size_t xi = 0;
      while (xmap.values[xi].key[0] != at.key[0]) ++xi;
      // Without a CI (n = 1) the band closes to the mean.
      const double lo = st.n >= 2 ? st.lo() : st.mean;
      const double hi = st.n >= 2 ? st.hi() : st.mean;
      lines += fmt::format("{} {} {} {} {}\n", num(xmap.position(xi)), num(st.mean), num(lo),
                           num(hi), st.n);
    }
    if (lines.empty()) continue;
    const std::string name = fmt::format("S{}", k);
    data += datablock(name, lines);
    const std::string label =
        spec.series.empty() ? spec.metric : spec.series + "=" + series[k].key[0];
    fig.series.push_back(label);
    // The band, error bars (visible where the band has no width, e.g. at a lone x), the line.
    const std::string c = color(fig.series.size() - 1);
    plots += fmt::format(
        "{0}${1} using 1:3:4 with filledcurves lc rgb {2} notitle, \\\n  "
        "${1} using 1:2:3:4 with yerrorbars lw 1 pt 7 ps 0.9 lc rgb {2} notitle, "
        "\\\n  ${1} using 1:2 with lines lw 2 lc rgb {2} title {3}",
        plots.empty() ? "" : ", \\\n  ", name, c, quote(label));
  }
  if (plots.empty()) {
    throw Error("no done point has a value of " + spec.metric + " to draw",
                "`emsweep summary FILE --metric " + spec.metric + "` shows the counts",
                ExitCode::kBadInput);
  }
  fig.title = o.title.empty() ? spec.metric + " vs " + spec.x + " (mean, 95% CI over seeds" +
                                    (spec.series.empty() ? " and other axes)" : ")")
                              : o.title;
  std::string body = title_lines(fig.title, subtitle(o, fig.failed_excluded));
  body += "set xlabel " + quote(spec.x) + "\nset ylabel " + quote(spec.metric) + "\n";
  body += x_setup(xmap);
  body +=
      "set grid lc rgb '#e0e0e0'\nset key outside bottom center horizontal\nset tics out "
      "nomirror\n";
  body += "set style fill transparent solid 0.18 noborder\n";
  body += "plot " + plots + "\n";
  render(data, body, o, fig);
  return fig;
}

namespace {

// The cell axis a phase diagram puts along x: the one asked for, else the first that varies.
std::string boundary_x(const Results& r, const SweepSpec& spec, const std::string& wanted) {
  std::vector<std::string> names;
  for (std::size_t a = 0; a + 1 < spec.axes.size(); ++a) {
    if (!spec.axes[a].is_replicate) names.push_back(spec.axes[a].name);
  }
  std::string list;
  for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
  if (!wanted.empty()) {
    if (std::find(names.begin(), names.end(), wanted) == names.end()) {
      throw ConfigError("'" + wanted + "' is not a cell axis of the search in " + r.path,
                        list.empty() ? "the search has no cell axis besides replicates"
                                     : "cell axes: " + list);
    }
    return wanted;
  }
  for (std::size_t a = 0; a + 1 < spec.axes.size(); ++a) {
    if (!spec.axes[a].is_replicate && spec.axes[a].values.size() > 1) return spec.axes[a].name;
  }
  throw ConfigError("the search in " + r.path + " has no cell axis with more than one value to put along x",
                    "`emsweep summary " + r.path + "` lists each cell's answer");
}

}  // namespace

Figure plot_boundary(const Results& r, const SweepSpec& spec, const BoundaryPlotSpec& b,
                     const FigureOptions& o) {
  if (!spec.search) {
    throw ConfigError(r.path + " is not a boundary search", "--boundary draws sweeps with `search:`");
  }
  const SearchSpec& se = *spec.search;
  const std::string x = boundary_x(r, spec, b.x);
  const std::vector<BoundaryRow> cells = boundaries(r, spec);
  // One row of the file stands for each cell (its settings), among the rows --where keeps.
  const std::uint64_t lattice = se.lattice_size();
  std::unordered_map<std::uint64_t, std::size_t> cell_of;  // cell number -> index in `cells`
  for (std::size_t k = 0; k < cells.size(); ++k) cell_of[cells[k].first / lattice] = k;
  std::unordered_map<std::size_t, std::size_t> row_cell;  // representative row -> index in `cells`
  std::vector<std::size_t> representatives;
  std::vector<bool> represented(cells.size(), false);
  for (std::size_t i : select_rows(r, o.where)) {
    auto it = cell_of.find(r.points.index[i] / lattice);
    if (it == cell_of.end() || represented[it->second]) continue;
    represented[it->second] = true;
    representatives.push_back(i);
    row_cell[i] = it->second;
  }
  if (representatives.empty()) {
    throw Error("no searched cell to draw" + (o.where.empty() ? "" : " where " + where_text(o)),
                "`emsweep summary " + r.path + "` lists each cell's answer", ExitCode::kBadInput);
  }
  const XMap xmap = map_x(distinct_values(r, x, representatives), Scale::kAuto);
  // Which bound an out-of-range cell's crossing lies beyond: read from the found cells'
  // direction (a falling metric that stays above the threshold crosses beyond the high bound).
  std::size_t rising = 0, found_total = 0;
  for (const auto& c : cells) {
    if (c.answer.status != CellStatus::kFound) continue;
    ++found_total;
    rising += c.answer.increasing ? 1 : 0;
  }
  const bool increasing = found_total > 0 && 2 * rising > found_total;
  const auto to_scale = [&](double v) { return se.log ? std::log10(v) : v; };
  const auto from_scale = [&](double v) { return se.log ? std::pow(10.0, v) : v; };
  Figure fig;
  std::string mean_lines, dots, beyond_high, beyond_low;
  std::size_t n_high = 0, n_low = 0, n_other = 0;
  for (const Group& at : group_rows(r, {x}, representatives)) {
    std::size_t xi = 0;
    while (xmap.values[xi].key[0] != at.key[0]) ++xi;
    const double pos = xmap.position(xi);
    std::vector<double> found;
    for (std::size_t i : at.rows) {
      const CellAnswer& a = cells[row_cell.at(i)].answer;
      if (a.status == CellStatus::kFound) {
        found.push_back(to_scale(a.critical));
        dots += fmt::format("{} {}\n", num(pos), num(a.critical));
      } else if (a.status == CellStatus::kAboveRange || a.status == CellStatus::kBelowRange) {
        const bool high = (a.status == CellStatus::kAboveRange) != increasing;
        (high ? beyond_high : beyond_low) += fmt::format("{} {}\n", num(pos), num(high ? se.high : se.low));
        ++(high ? n_high : n_low);
      } else {
        ++n_other;  // searching, non-monotone or failed: no value to draw
      }
    }
    const Stat st = describe(found);
    if (st.n == 0) continue;
    fig.points_used += st.n;
    const double lo = st.n >= 2 ? st.lo() : st.mean;
    const double hi = st.n >= 2 ? st.hi() : st.mean;
    mean_lines += fmt::format("{} {} {} {} {}\n", num(pos), num(from_scale(st.mean)), num(from_scale(lo)),
                              num(from_scale(hi)), st.n);
  }
  std::string data, plots;
  const auto add_plot = [&](const std::string& text) { plots += (plots.empty() ? "" : ", \\\n  ") + text; };
  if (!mean_lines.empty()) {
    data += datablock("MEAN", mean_lines);
    add_plot(fmt::format("$MEAN using 1:3:4 with filledcurves lc rgb {0} notitle, \\\n  "
                         "$MEAN using 1:2:3:4 with yerrorbars lw 1 pt 7 ps 0.9 lc rgb {0} notitle, \\\n  "
                         "$MEAN using 1:2 with lines lw 2 lc rgb {0} title {1}",
                         color(0), quote(se.log ? "geometric mean, 95% CI" : "mean, 95% CI")));
    fig.series.push_back("mean");
  }
  if (!dots.empty()) {
    data += datablock("CELLS", dots);
    add_plot(fmt::format("$CELLS using 1:2 with points pt 6 ps 1.1 lc rgb {} title {}", color(1),
                         quote("cells (found)")));
    fig.series.push_back("cells");
  }
  const std::string threshold = se.metric_text() + " = " + format_double(se.threshold);
  if (!beyond_high.empty()) {
    data += datablock("HIGH", beyond_high);
    add_plot(fmt::format("$HIGH using 1:2 with points pt 9 ps 1.6 lc rgb {} title {}", color(3),
                         quote(fmt::format("crossing above {} ({} cells)", format_double(se.high), n_high))));
    fig.series.push_back("above the range");
  }
  if (!beyond_low.empty()) {
    data += datablock("LOW", beyond_low);
    add_plot(fmt::format("$LOW using 1:2 with points pt 11 ps 1.6 lc rgb {} title {}", color(2),
                         quote(fmt::format("crossing below {} ({} cells)", format_double(se.low), n_low))));
    fig.series.push_back("below the range");
  }
  if (plots.empty()) {
    throw Error("no cell's search has an answer to draw yet (" + std::to_string(n_other) +
                    " still searching, non-monotone or failed)",
                "`emsweep summary " + r.path + "` lists each cell's status", ExitCode::kBadInput);
  }
  fig.title = o.title.empty() ? "critical " + se.axis + " where " + threshold + ", by " + x : o.title;
  std::string sub = subtitle(o, 0);
  if (n_other > 0) {
    sub += (sub.empty() ? "" : "; ") + fmt::format("{} cell{} without an answer (searching, non-monotone or failed)",
                                                   n_other, n_other == 1 ? "" : "s");
  }
  std::string body = title_lines(fig.title, sub);
  body += "set xlabel " + quote(x) + "\nset ylabel " + quote("critical " + se.axis) + "\n";
  body += x_setup(xmap);
  if (se.log) body += "set logscale y\n";
  body += fmt::format("set yrange [{}:{}]\n", num(se.log ? se.low / 1.6 : se.low - 0.05 * (se.high - se.low)),
                      num(se.log ? se.high * 1.6 : se.high + 0.05 * (se.high - se.low)));
  body += fmt::format("set arrow from graph 0, first {0} to graph 1, first {0} nohead dt 2 lc rgb '#999999'\n"
                      "set arrow from graph 0, first {1} to graph 1, first {1} nohead dt 2 lc rgb '#999999'\n",
                      num(se.low), num(se.high));
  body += "set grid lc rgb '#e0e0e0'\nset key outside bottom center horizontal\nset tics out nomirror\n";
  body += "set style fill transparent solid 0.18 noborder\n";
  body += "plot " + plots + "\n";
  render(data, body, o, fig);
  return fig;
}

std::vector<CurveGroup> default_curve_groups(const Results& r, const std::vector<Filter>& where,
                                             const KindReport* kind) {
  if (kind != nullptr && !kind->curve_groups.empty()) {
    std::vector<CurveGroup> declared = declared_groups(r, where, kind->curve_groups);
    if (!declared.empty()) return declared;
  }
  const std::vector<std::size_t> rows = select_rows(r, where);
  for (const auto& axis : r.points.axes) {
    const std::vector<Group> values = distinct_values(r, axis.name, rows);
    if (values.size() < 2) continue;
    std::vector<CurveGroup> out;
    for (const Group& v : values) {
      out.push_back({axis.name + "=" + v.key[0], parse_filters({axis.name + "=" + v.key[0]})});
    }
    return out;
  }
  return {{"all points", {}}};
}

Figure plot_curves(const Results& r, const CurvesSpec& spec, const FigureOptions& o) {
  if (std::find(r.info.curve_names.begin(), r.info.curve_names.end(), spec.curve) ==
      r.info.curve_names.end()) {
    std::string list;
    for (const auto& c : r.info.curve_names) list += (list.empty() ? "" : ", ") + c;
    throw ConfigError(r.path + " has no curve '" + spec.curve + "'",
                      list.empty() ? "this file has no curves" : "curves in this file: " + list);
  }
  std::vector<CurveGroup> groups = spec.groups;
  if (groups.empty() && !spec.by.empty()) {
    require_axis(r, spec.by);
    for (const Group& v : distinct_values(r, spec.by, select_rows(r, o.where))) {
      groups.push_back({spec.by + "=" + v.key[0], parse_filters({spec.by + "=" + v.key[0]})});
    }
  }
  if (groups.empty()) groups = default_curve_groups(r, o.where, spec.kind);

  // Each point's curve, in file order.
  std::unordered_map<std::uint64_t, std::vector<std::size_t>> by_point;
  for (std::size_t i = 0; i < r.curves.size(); ++i) {
    if (r.curves.curve[i] == spec.curve) by_point[r.curves.point_id[i]].push_back(i);
  }
  Figure fig;
  std::string data;
  std::string plots;
  std::size_t without_curve = 0;
  for (std::size_t g = 0; g < groups.size(); ++g) {
    std::vector<Filter> filters = o.where;
    filters.insert(filters.end(), groups[g].filters.begin(), groups[g].filters.end());
    std::size_t failed = 0;
    const std::vector<std::size_t> rows = done_rows(r, select_rows(r, filters), &failed);
    fig.failed_excluded += failed;
    std::string lines;
    std::size_t n = 0;
    // The mean curve needs every curve on one x grid; it is left out otherwise.
    std::vector<double> grid;
    std::vector<std::vector<double>> ys;
    bool same_grid = true;
    for (std::size_t row : rows) {
      auto it = by_point.find(r.points.point_id[row]);
      if (it == by_point.end()) {
        ++without_curve;
        continue;
      }
      std::vector<double> x;
      std::vector<double> y;
      for (std::size_t c : it->second) {
        x.push_back(r.curves.x[c]);
        y.push_back(r.curves.y[c]);
        lines += fmt::format("{} {}\n", num(r.curves.x[c]), num(r.curves.y[c]));
      }
      lines += "\n\n";
      if (n == 0) {
        grid = x;
      } else if (x != grid) {
        same_grid = false;
      }
      ys.push_back(std::move(y));
      ++n;
    }
    fig.points_used += n;
    if (n == 0) continue;
    const std::string name = fmt::format("G{}", g);
    data += datablock(name, lines);
    const std::string label = fmt::format("{} ({} point{})", groups[g].label, n, n == 1 ? "" : "s");
    fig.series.push_back(label);
    plots += fmt::format("{}${} using 1:2 with lines lw 1 lc rgb {} title {}",
                         plots.empty() ? "" : ", \\\n  ", name, color(g, "a0"), quote(label));
    if (n >= 2 && same_grid) {
      std::string mean_lines;
      for (std::size_t k = 0; k < grid.size(); ++k) {
        std::vector<double> at;
        for (const auto& y : ys) at.push_back(y[k]);
        const Stat st = describe(at);
        if (st.n > 0) mean_lines += fmt::format("{} {}\n", num(grid[k]), num(st.mean));
      }
      data += datablock(name + "M", mean_lines);
      fig.series.push_back(groups[g].label + ": mean");
      plots += fmt::format(", \\\n  ${}M using 1:2 with lines lw 3.5 lc rgb {} title {}", name,
                           color(g), quote(groups[g].label + ": mean"));
    }
  }
  if (plots.empty()) {
    throw Error("no done point has a '" + spec.curve + "' curve to draw",
                "check --where and the groups", ExitCode::kBadInput);
  }
  if (without_curve > 0)
    fig.note = fmt::format("{} done point(s) have no {} curve", without_curve, spec.curve);
  fig.title = o.title.empty() ? spec.curve + " per point, by group" : o.title;
  std::string body = title_lines(fig.title, subtitle(o, fig.failed_excluded));
  const std::string x_label =
      spec.x_label.empty() ? curve_x_label(spec.kind, spec.curve) : spec.x_label;
  body += "set xlabel " + quote(x_label) + "\nset ylabel " + quote(spec.curve) + "\n";
  if (spec.log_x) body += "set logscale x\n";
  if (spec.log_y) body += "set logscale y\n";
  body +=
      "set grid lc rgb '#e0e0e0'\nset key outside bottom center horizontal\nset tics out "
      "nomirror\n";
  body += "set offsets graph 0.02, graph 0.02, graph 0.05, graph 0.05\n";
  body += "plot " + plots + "\n";
  render(data, body, o, fig);
  return fig;
}

}  // namespace emsweep::analysis
