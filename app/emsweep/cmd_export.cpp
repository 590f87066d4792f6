#include <fmt/core.h>

#include "app/emsweep/commands.h"
#include "sweep/core/error.h"
#include "analysis/export.h"
#include "analysis/results.h"

namespace emsweep::cli {

void add_export_command(CLI::App& app, Context& ctx) {
  auto* cmd =
      app.add_subcommand("export", "Write the points (and curves) of a results file as CSV");
  struct Options {
    std::string file;
    std::string points;
    std::string curves;
    std::vector<std::string> where;
  };
  auto opt = std::make_shared<Options>();
  cmd->add_option("file", opt->file, "results file (.h5); may still be being written")->required();
  cmd->add_option("--csv", opt->points,
                  "one row per point (axes, status, provenance, metrics, error); - for stdout");
  cmd->add_option("--curves", opt->curves,
                  "every curve point in long form (point_id, curve, x, "
                  "y); - for stdout");
  cmd->add_option("--where", opt->where, "keep points matching AXIS=VALUE; repeatable");
  cmd->callback([&ctx, opt] {
    ctx.action = [opt] {
      using namespace analysis;
      if (opt->points.empty() && opt->curves.empty()) {
        throw ConfigError("nothing to export", "pass --csv FILE and/or --curves FILE");
      }
      Results r = read_results(opt->file, {.curves = !opt->curves.empty()});
      const std::vector<Filter> where = parse_filters(opt->where);
      auto emit = [](const std::string& path, const std::string& text, const char* what) {
        if (path == "-") {
          fmt::print("{}", text);
        } else {
          write_text_file(path, text);
          fmt::print(stderr, "wrote {} ({})\n", path, what);
        }
      };
      if (!opt->points.empty()) emit(opt->points, points_csv(r, where), "points");
      if (!opt->curves.empty()) emit(opt->curves, curves_csv(r, where), "curves");
      return 0;
    };
  });
}

}  // namespace emsweep::cli
