#include <fmt/core.h>

#include "app/emsweep/commands.h"
#include "sweep/core/error.h"
#include "analysis/report.h"
#include "analysis/results.h"

namespace emsweep::cli {

KindReport kind_report_or_generic(const analysis::Results& r, const TaskRegistry& registry) {
  try {
    return analysis::declared_report(r, registry);
  } catch (const Error& e) {
    // The data is readable without the kind's code: draw the generic figures, and say why.
    fmt::print(stderr, "note: {}; using the generic figures for kind '{}'\n", e.what(),
               r.info.task_kind);
    return {};
  }
}

void add_report_command(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand(
      "report", "Write the standard figures and a Markdown page with the summary tables");
  struct Options {
    std::string file;
    std::string dir;
    std::vector<std::string> where;
    bool no_svg = false;
  };
  auto opt = std::make_shared<Options>();
  cmd->add_option("file", opt->file, "results file (.h5); may still be being written")->required();
  cmd->add_option("-o,--output", opt->dir, "directory for report.md and the figures")->required();
  cmd->add_option("--where", opt->where, "use points matching AXIS=VALUE; repeatable");
  cmd->add_flag("--no-svg", opt->no_svg, "write PNG figures only");
  cmd->callback([&ctx, opt] {
    ctx.action = [&ctx, opt] {
      using namespace analysis;
      Results r = read_results(opt->file);
      ReportOptions ro;
      ro.dir = opt->dir;
      ro.where = parse_filters(opt->where);
      ro.svg = !opt->no_svg;
      ro.kind = kind_report_or_generic(r, ctx.registry);
      Report rep = write_report(r, ro);
      fmt::print("wrote {} with {} figure(s)\n", rep.page, rep.figures.size());
      for (const auto& s : rep.skipped) fmt::print("not drawn: {}\n", s);
      return 0;
    };
  });
}

}  // namespace emsweep::cli
