#include <fmt/core.h>

#include "analysis/boundary.h"
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
    std::string boundary;
    std::vector<std::string> where;
  };
  auto opt = std::make_shared<Options>();
  cmd->add_option("file", opt->file, "results file (.h5); may still be being written")->required();
  cmd->add_option("--csv", opt->points,
                  "one row per point (axes, status, provenance, metrics, error); - for stdout");
  cmd->add_option("--curves", opt->curves,
                  "every curve point in long form (point_id, curve, x, "
                  "y); - for stdout");
  cmd->add_option("--boundary", opt->boundary,
                  "a boundary search's answers, one row per cell (as /boundary); - for stdout");
  cmd->add_option("--where", opt->where, "keep points matching AXIS=VALUE; repeatable");
  cmd->callback([&ctx, opt] {
    ctx.action = [&ctx, opt] {
      using namespace analysis;
      if (opt->points.empty() && opt->curves.empty() && opt->boundary.empty()) {
        throw ConfigError("nothing to export", "pass --csv FILE, --curves FILE and/or --boundary FILE");
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
      if (!opt->boundary.empty()) {
        ParseResult parsed = parse_spec(r.info.config_yaml, opt->file + " (config_yaml)", {}, ctx.registry);
        if (!parsed.spec || !parsed.spec->search) {
          throw ConfigError(opt->file + " is not a boundary search", "--boundary exports sweeps with `search:`");
        }
        emit(opt->boundary, boundary_csv(boundaries(r, *parsed.spec), *parsed.spec), "boundary");
      }
      return 0;
    };
  });
}

}  // namespace emsweep::cli
