#include <fmt/core.h>

#include "app/emsweep/commands.h"
#include "sweep/core/error.h"
#include "analysis/plot.h"
#include "analysis/results.h"
#include "sweep/core/spec.h"

namespace emsweep::cli {
namespace {

analysis::Scale parse_scale(const std::string& s) {
  if (s == "auto") return analysis::Scale::kAuto;
  if (s == "linear") return analysis::Scale::kLinear;
  if (s == "log") return analysis::Scale::kLog;
  return analysis::Scale::kCategory;
}

// "label:cond,cond" or "cond,cond" (the label is then the conditions).
analysis::CurveGroup parse_group(const std::string& text) {
  analysis::CurveGroup g;
  const auto colon = text.find(':');
  const std::string conds = colon == std::string::npos ? text : text.substr(colon + 1);
  g.label = colon == std::string::npos ? text : text.substr(0, colon);
  g.filters = analysis::parse_filters({conds});
  return g;
}

}  // namespace

void add_plot_command(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand(
      "plot", "Draw a figure (PNG and SVG, with gnuplot): --heatmap, --line, --curve or --boundary");
  struct Options {
    std::string file;
    std::string heatmap;
    std::string line;
    std::string curve;
    bool boundary = false;
    std::string x;
    std::string y;
    std::string series;
    std::string by;
    std::vector<std::string> groups;
    std::string x_scale = "auto";
    bool log_x = false;
    bool log_y = false;
    std::vector<std::string> where;
    std::string output;
    std::vector<std::string> formats = {"png", "svg"};
    std::string title;
    std::string size = "900x600";
  };
  auto opt = std::make_shared<Options>();
  cmd->add_option("file", opt->file, "results file (.h5); may still be being written")->required();
  auto* heat = cmd->add_option("--heatmap", opt->heatmap, "METRIC over two axes (--x, --y)");
  auto* line = cmd->add_option("--line", opt->line,
                               "METRIC against --x, one line and 95% CI band per --series value");
  auto* curve = cmd->add_option("--curve", opt->curve,
                                "CURVE of every point, coloured by group (--by or --group)");
  auto* boundary = cmd->add_flag("--boundary", opt->boundary,
                                 "a boundary search's phase diagram: each cell's critical value "
                                 "against a cell axis (--x; default the first that varies)");
  heat->excludes(line)->excludes(curve)->excludes(boundary);
  line->excludes(curve)->excludes(boundary);
  curve->excludes(boundary);
  cmd->add_option("--x", opt->x, "axis along x (heatmap, line, boundary)");
  cmd->add_option("--y", opt->y, "axis along y (heatmap)");
  cmd->add_option("--series", opt->series, "one line per value of this axis (line)");
  cmd->add_option("--x-scale", opt->x_scale, "line: auto, linear, log or category")
      ->check(CLI::IsMember({"auto", "linear", "log", "category"}));
  cmd->add_option("--by", opt->by, "curves: one group per value of this axis");
  cmd->add_option("--group", opt->groups,
                  "curves: a group 'LABEL:COND,COND' (e.g. 'narrow:kl_weight>0'); repeatable");
  cmd->add_flag("--logx", opt->log_x, "curves: log-scale x");
  cmd->add_flag("--logy", opt->log_y, "curves: log-scale y");
  cmd->add_option("--where", opt->where, "use points matching AXIS=VALUE; repeatable");
  cmd->add_option("-o,--output", opt->output,
                  "output path without extension (default: a name from the figure)");
  cmd->add_option("--format", opt->formats, "png, svg or both")
      ->delimiter(',')
      ->check(CLI::IsMember({"png", "svg"}));
  cmd->add_option("--title", opt->title, "figure title");
  cmd->add_option("--size", opt->size, "WIDTHxHEIGHT in pixels");
  cmd->callback([&ctx, opt] {
    ctx.action = [&ctx, opt] {
      using namespace analysis;
      FigureOptions fo;
      fo.where = parse_filters(opt->where);
      fo.title = opt->title;
      fo.png = std::find(opt->formats.begin(), opt->formats.end(), "png") != opt->formats.end();
      fo.svg = std::find(opt->formats.begin(), opt->formats.end(), "svg") != opt->formats.end();
      if (std::sscanf(opt->size.c_str(), "%dx%d", &fo.width, &fo.height) != 2 || fo.width < 100 ||
          fo.height < 100 || fo.width > 10000 || fo.height > 10000) {
        throw ConfigError("--size " + opt->size + " is not WIDTHxHEIGHT (100..10000 pixels)");
      }
      Figure fig;
      if (!opt->heatmap.empty()) {
        if (opt->x.empty() || opt->y.empty()) {
          throw ConfigError("--heatmap needs --x AXIS and --y AXIS");
        }
        Results r = read_results(opt->file, {.curves = false});
        fo.output = opt->output.empty() ? "heatmap-" + opt->heatmap : opt->output;
        fig = plot_heatmap(r, {opt->heatmap, opt->x, opt->y}, fo);
      } else if (!opt->line.empty()) {
        if (opt->x.empty()) throw ConfigError("--line needs --x AXIS");
        Results r = read_results(opt->file, {.curves = false});
        fo.output = opt->output.empty() ? "line-" + opt->line + "-" + opt->x : opt->output;
        fig = plot_line(r, {opt->line, opt->x, opt->series, parse_scale(opt->x_scale)}, fo);
      } else if (!opt->curve.empty()) {
        Results r = read_results(opt->file);
        fo.output = opt->output.empty() ? "curves-" + opt->curve : opt->output;
        const KindReport kind = kind_report_or_generic(r, ctx.registry);
        CurvesSpec cs;
        cs.kind = &kind;
        cs.curve = opt->curve;
        cs.by = opt->by;
        for (const auto& g : opt->groups) cs.groups.push_back(parse_group(g));
        cs.log_x = opt->log_x;
        cs.log_y = opt->log_y;
        fig = plot_curves(r, cs, fo);
      } else if (opt->boundary) {
        Results r = read_results(opt->file, {.curves = false});
        ParseResult parsed = parse_spec(r.info.config_yaml, opt->file + " (config_yaml)", {}, ctx.registry);
        if (!parsed.spec) {
          throw ConfigError("cannot read the config recorded in " + opt->file + ": " + parsed.errors[0].format());
        }
        fo.output = opt->output.empty() ? "boundary" + (opt->x.empty() ? "" : "-" + opt->x) : opt->output;
        fig = plot_boundary(r, *parsed.spec, {opt->x}, fo);
      } else {
        throw ConfigError("nothing to draw",
                          "choose one of --heatmap METRIC, --line METRIC, --curve CURVE or --boundary");
      }
      for (const auto& f : fig.files) fmt::print("wrote {}\n", f);
      if (fig.failed_excluded > 0) {
        fmt::print("{} failed point(s) not drawn\n", fig.failed_excluded);
      }
      if (!fig.note.empty()) fmt::print("note: {}\n", fig.note);
      return 0;
    };
  });
}

}  // namespace emsweep::cli
