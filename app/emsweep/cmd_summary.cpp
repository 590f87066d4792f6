#include <fmt/core.h>

#include "app/emsweep/commands.h"
#include "sweep/core/error.h"
#include "analysis/boundary.h"
#include "analysis/results.h"
#include "analysis/summary.h"

namespace emsweep::cli {

void add_summary_command(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand(
      "summary", "Each metric per group of axis values: mean, std, n, 95% CI over the rest");
  struct Options {
    std::string file;
    std::vector<std::string> by;
    std::vector<std::string> metrics;
    std::vector<std::string> where;
    bool csv = false;
    bool json = false;
  };
  auto opt = std::make_shared<Options>();
  cmd->add_option("file", opt->file, "results file (.h5); may still be being written")->required();
  cmd->add_option("--by", opt->by,
                  "axes to group by, e.g. kl_weight,gate_noise (default: all "
                  "but the replicate axis)")
      ->delimiter(',');
  cmd->add_option("--metric", opt->metrics, "metrics to show, e.g. ood_bad,id_bad (default: all)")
      ->delimiter(',');
  cmd->add_option("--where", opt->where,
                  "keep points matching AXIS=VALUE (also !=, <, <=, >, >=); repeatable");
  auto* csv = cmd->add_flag("--csv", opt->csv, "print CSV (METRIC_mean, _std, _n, _ci95 columns)");
  cmd->add_flag("--json", opt->json, "print JSON")->excludes(csv);
  cmd->callback([&ctx, opt] {
    ctx.action = [&ctx, opt] {
      using namespace analysis;
      Results r = read_results(opt->file, {.curves = false});
      SummaryOptions so;
      so.by = split_list(opt->by);
      so.metrics = split_list(opt->metrics);
      so.where = parse_filters(opt->where);
      Summary s = summarise(r, so);
      if (opt->csv) {
        fmt::print("{}", format_csv(s));
      } else if (opt->json) {
        fmt::print("{}", format_json(s));
      } else {
        fmt::print("{}", format_text(s));
        if (std::string failed = format_failed(r, so.where); !failed.empty()) {
          fmt::print("\n{}", failed);
        }
        // A search sweep: each cell's answer, replayed from the points in the file.
        if (r.info.config_yaml.find("search:") != std::string::npos) {
          ParseResult parsed = parse_spec(r.info.config_yaml, opt->file + " (config_yaml)", {}, ctx.registry);
          if (parsed.spec && parsed.spec->search) {
            fmt::print("\n{}", format_boundaries(boundaries(r, *parsed.spec), *parsed.spec));
          }
        }
      }
      return 0;
    };
  });
}

}  // namespace emsweep::cli
