#include "analysis/report.h"

#include <fmt/core.h>

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <functional>
#include <optional>

#include "sweep/core/error.h"
#include "analysis/export.h"
#include "analysis/plot.h"
#include "analysis/summary.h"

namespace emsweep::analysis {
namespace {

// One figure of the report, drawn only if everything it names is in the file.
struct Planned {
  enum class Kind { kHeatmap, kLine, kCurves } kind;
  std::string name;     // metric or curve
  std::string x;        // axis (heatmap, line)
  std::string y;        // heatmap y axis or line series ("" = none)
  std::string caption;  // what it answers
};

// One section: a question, its figures and a summary table.
struct Section {
  std::string title;
  std::string text;
  std::vector<Planned> figures;
  std::vector<std::string> table_by;
  std::vector<std::string> table_metrics;
};

class Planner {
 public:
  Planner(const Results& r, const std::vector<Filter>& where) : r_(r) {
    const std::vector<std::size_t> rows = select_rows(r, where);
    for (const auto& a : r.points.axes) {
      if (distinct_values(r, a.name, rows).size() >= 2) varying_.push_back(a.name);
    }
  }

  [[nodiscard]] bool varies(const std::string& axis) const {
    return std::find(varying_.begin(), varying_.end(), axis) != varying_.end();
  }
  [[nodiscard]] bool metric(const std::string& m) const { return r_.metric_index(m) >= 0; }
  // Whether some point has curve `c` (a kind may declare curves a config leaves empty).
  [[nodiscard]] bool curve(const std::string& c) const {
    const auto& n = r_.curves.curve;
    return std::find(n.begin(), n.end(), c) != n.end();
  }
  [[nodiscard]] const std::vector<std::string>& varying() const { return varying_; }

  // The first varying axis of `preferred` not in `not_these`, else any other varying axis.
  [[nodiscard]] std::string pick(const std::vector<std::string>& preferred,
                                 const std::vector<std::string>& not_these = {}) const {
    const auto allowed = [&](const std::string& a) {
      return std::find(not_these.begin(), not_these.end(), a) == not_these.end();
    };
    for (const auto& p : preferred) {
      if (varies(p) && allowed(p)) return p;
    }
    for (const auto& v : varying_) {
      if (allowed(v)) return v;
    }
    return {};
  }

 private:
  const Results& r_;
  std::vector<std::string> varying_;
};

std::vector<std::string> present(const Planner& p, const std::vector<std::string>& metrics) {
  std::vector<std::string> out;
  for (const auto& m : metrics) {
    if (p.metric(m)) out.push_back(m);
  }
  return out;
}

// Whether a declared case applies to this file: its axes vary (or not) and its metrics exist.
bool holds(const Planner& p, const ReportCase& c) {
  return std::all_of(c.when_varies.begin(), c.when_varies.end(),
                     [&](const std::string& a) { return p.varies(a); }) &&
         std::none_of(c.unless_varies.begin(), c.unless_varies.end(),
                      [&](const std::string& a) { return p.varies(a); }) &&
         std::all_of(c.when_metrics.begin(), c.when_metrics.end(),
                     [&](const std::string& m) { return p.metric(m); });
}

// The declared figure as drawn for this file, or nullopt when the file cannot show it: its
// metric or curve is absent, or an axis it needs does not vary.
std::optional<Planned> plan_figure(const Planner& p, const ReportFigure& f) {
  using K = Planned::Kind;
  switch (f.type) {
    case ReportFigure::Type::kLine: {
      if (!p.metric(f.name) || !p.varies(f.x)) return std::nullopt;
      return Planned{K::kLine, f.name, f.x, p.pick(f.series, {f.x}),
                     f.caption.empty() ? f.name + " against " + f.x : f.caption};
    }
    case ReportFigure::Type::kHeatmap: {
      if (!p.metric(f.name) || !p.varies(f.x) || f.series.empty() || !p.varies(f.series[0])) {
        return std::nullopt;
      }
      const std::string& y = f.series[0];
      return Planned{K::kHeatmap, f.name, f.x, y,
                     f.caption.empty() ? f.name + " over " + f.x + " and " + y : f.caption};
    }
    case ReportFigure::Type::kCurves:
      if (!p.curve(f.name)) return std::nullopt;
      return Planned{K::kCurves, f.name, "", "",
                     f.caption.empty() ? f.name + " curves" : f.caption};
  }
  return std::nullopt;
}

// A section the kind declares, with the figures and table this file can show: the figures of
// every case that holds, and the table grouping of the first such case that names one.
Section plan_section(const Planner& p, const ReportSection& declared) {
  Section s{declared.title, declared.text, {}, {}, present(p, declared.table_metrics)};
  bool have_table = false;
  for (const ReportCase& c : declared.cases) {
    if (!holds(p, c)) continue;
    for (const ReportFigure& f : c.figures) {
      if (auto planned = plan_figure(p, f)) s.figures.push_back(std::move(*planned));
    }
    if (!have_table && !c.table_by.empty()) {
      have_table = true;
      s.table_by = c.table_by;
      if (!c.table_series.empty()) {
        const std::string series = p.pick(c.table_series, c.table_by);
        if (!series.empty()) s.table_by.push_back(series);
      }
    }
  }
  return s;
}

// For any task kind: every metric against the main axis (the first varying of the kind's
// main_axes, else of the grid's axes), a heatmap over it and the next, and every curve.
Section generic_section(const Results& r, const Planner& p, const KindReport& kind) {
  using K = Planned::Kind;
  Section s{"Metrics over the grid",
            "Every metric of this task kind over the axes that vary (mean and 95% CI over "
            "replicates), and every curve.",
            {},
            {},
            r.info.metric_names};
  const std::string x = p.pick(kind.main_axes);
  const std::string series = x.empty() ? "" : p.pick(kind.main_axes, {x});
  for (const auto& m : r.info.metric_names) {
    if (!x.empty()) s.figures.push_back({K::kLine, m, x, series, m + " against " + x});
    if (!series.empty()) {
      s.figures.push_back({K::kHeatmap, m, x, series, m + " over " + x + " and " + series});
    }
  }
  for (const auto& c : r.info.curve_names) {
    if (p.curve(c)) s.figures.push_back({K::kCurves, c, "", "", c + " curves"});
  }
  if (!x.empty()) s.table_by = {x};
  if (!series.empty()) s.table_by.push_back(series);
  return s;
}

// The sections of the report: the kind's own that this file can show, else the generic one.
std::vector<Section> plan_sections(const Results& r, const Planner& p, const KindReport& kind) {
  std::vector<Section> out;
  for (const ReportSection& declared : kind.sections) {
    Section s = plan_section(p, declared);
    if (!s.figures.empty()) out.push_back(std::move(s));
  }
  if (out.empty()) out.push_back(generic_section(r, p, kind));
  return out;
}

std::string slug(const std::string& s) {
  std::string out;
  for (char c : s) out += std::isalnum(static_cast<unsigned char>(c)) ? c : '-';
  return out;
}

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", std::gmtime(&t));
  return buf;
}

}  // namespace

KindReport declared_report(const Results& r, const TaskRegistry& registry) {
  const TaskKindInfo* kind = registry.find(r.info.task_kind);
  return kind == nullptr ? KindReport{} : kind->report;
}

Report write_report(const Results& r, const ReportOptions& options) {
  namespace fs = std::filesystem;
  if (options.dir.empty()) throw ConfigError("no report directory", "pass -o DIR");
  std::error_code ec;
  fs::create_directories(options.dir, ec);
  if (ec) {
    throw EnvironmentError("cannot create " + options.dir + ": " + ec.message(),
                           "choose a writable directory with -o");
  }
  Planner planner(r, options.where);
  const std::vector<Section> sections = plan_sections(r, planner, options.kind);

  Report rep;
  rep.page = (fs::path(options.dir) / "report.md").string();
  const std::size_t done = r.count_status(kStatusDone);
  const std::size_t failed = r.count_status(kStatusFailed);
  std::string md =
      fmt::format("# {} — sweep report\n\n",
                  r.info.sweep_name.empty() ? fs::path(r.path).stem().string() : r.info.sweep_name);
  md += fmt::format("Results file `{}` (task kind `{}`, config hash `{}`), read {}.\n\n", r.path,
                    r.info.task_kind, r.info.config_hash.substr(0, 12), utc_now());
  md +=
      fmt::format("**{} points done, {} failed** of {} in the grid{}.", done, failed,
                  r.info.grid_points, r.info.shard.empty() ? "" : " (shard " + r.info.shard + ")");
  md +=
      " Means are over replicates (and any axis not shown); bands and ± are 95% confidence "
      "intervals from Student's t, blank for a single value; failed points are counted, never "
      "averaged in.";
  if (!options.where.empty()) {
    md += " Only points where";
    for (const auto& f : options.where) md += " `" + f.text + "`";
    md += ".";
  }
  md += " Each figure has an SVG twin and its gnuplot script (`.gp`) next to it.\n\n";
  {
    SummaryOptions so;
    so.where = options.where;
    write_text_file((fs::path(options.dir) / "summary.csv").string(), format_csv(summarise(r, so)));
    md += "The full summary (every metric, grouped by every axis) is in `summary.csv`.\n\n";
  }

  std::size_t number = 0;
  for (const Section& s : sections) {
    md += "## " + s.title + "\n\n" + s.text + "\n\n";
    if (!s.table_by.empty() && !s.table_metrics.empty()) {
      SummaryOptions so;
      so.by = s.table_by;
      so.metrics = s.table_metrics;
      so.where = options.where;
      md += format_markdown(summarise(r, so)) + "\n";
    }
    for (const Planned& f : s.figures) {
      FigureOptions fo;
      fo.where = options.where;
      fo.svg = options.svg;
      ++number;
      std::string base = fmt::format("fig{:02d}-", number);
      Figure fig;
      try {
        switch (f.kind) {
          case Planned::Kind::kHeatmap:
            base += "heatmap-" + slug(f.name);
            fo.output = (fs::path(options.dir) / base).string();
            fig = plot_heatmap(r, {f.name, f.x, f.y}, fo);
            break;
          case Planned::Kind::kLine:
            base += "line-" + slug(f.name) + "-" + slug(f.x);
            fo.output = (fs::path(options.dir) / base).string();
            fig = plot_line(r, {f.name, f.x, f.y, Scale::kAuto}, fo);
            break;
          case Planned::Kind::kCurves: {
            base += "curves-" + slug(f.name);
            fo.output = (fs::path(options.dir) / base).string();
            CurvesSpec cs;
            cs.curve = f.name;
            cs.kind = &options.kind;
            fig = plot_curves(r, cs, fo);
            break;
          }
        }
      } catch (const EnvironmentError&) {
        throw;
      } catch (const Error& e) {
        // A figure with nothing to draw (e.g. a metric undefined everywhere) is reported on
        // the page rather than failing the whole report.
        rep.skipped.push_back(f.caption + ": " + e.what());
        md += fmt::format("*{} — not drawn: {}*\n\n", f.caption, e.what());
        --number;
        continue;
      }
      rep.figures.push_back(fig.files.front());
      md += fmt::format("![{}]({}.png)\n\n", f.caption, base);
      md += fmt::format("*Figure {}: {}.* {}", number, f.caption, fig.title);
      if (fig.failed_excluded > 0)
        md += fmt::format("; {} failed point(s) not drawn", fig.failed_excluded);
      if (!fig.note.empty()) md += "; " + fig.note;
      md += fmt::format(". [SVG]({0}.svg), [gnuplot]({0}.gp)\n\n", base);
    }
  }
  if (failed > 0) {
    md += "## Failed points\n\n```\n" + format_failed(r, options.where, 50) + "```\n\n";
  }
  md += "## Provenance\n\n";
  for (const char* key : {"emsweep_version", "git_commit", "hdf5_version", "mpi_version",
                          "libtorch_version", "host", "ranks", "created", "last_run_start"}) {
    auto it = r.info.provenance.find(key);
    if (it != r.info.provenance.end() && !it->second.empty()) {
      md += fmt::format("- {}: `{}`\n", key, it->second);
    }
  }
  md += fmt::format("- runs on this file: {}\n", r.runs.size());
  if (!r.info.config_yaml.empty()) {
    md += "\n<details><summary>Resolved config</summary>\n\n```yaml\n" + r.info.config_yaml +
          (r.info.config_yaml.ends_with('\n') ? "" : "\n") + "```\n</details>\n";
  }
  write_text_file(rep.page, md);
  return rep;
}

}  // namespace emsweep::analysis
