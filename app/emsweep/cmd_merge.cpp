#include <fmt/core.h>

#include "app/emsweep/commands.h"
#include "sweep/core/error.h"
#include "sweep/store/merge.h"

namespace emsweep::cli {

void add_merge_command(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand(
      "merge", "Merge the results files of separate jobs of one sweep (e.g. its shards)");
  struct Options {
    std::string output;
    std::vector<std::string> inputs;
    bool overwrite = false;
  };
  auto opt = std::make_shared<Options>();
  cmd->add_option("out", opt->output, "merged results file to write (OUT.h5 + OUT.h5.journal)")
      ->required();
  cmd->add_option("inputs", opt->inputs, "results files of the jobs (their .journal next to them)")
      ->required();
  cmd->add_flag("--overwrite", opt->overwrite, "replace OUT if it exists");
  cmd->callback([&ctx, opt] {
    ctx.action = [&ctx, opt] {
      MergeOptions mo;
      mo.output = opt->output;
      mo.inputs = opt->inputs;
      mo.overwrite = opt->overwrite;
      mo.command_line = "emsweep merge " + opt->output;
      for (const auto& in : opt->inputs) mo.command_line += " " + in;
      MergeReport rep = merge_results(mo, ctx.registry);
      for (const auto& w : rep.warnings) fmt::print(stderr, "emsweep: warning: {}\n", w);
      fmt::print(
          "wrote {} ({} points from {} files; {} duplicates dropped, {} failed records "
          "replaced by done ones, {} conflicts)\n",
          opt->output, rep.points, opt->inputs.size(), rep.duplicates, rep.replaced_failed,
          rep.conflicts);
      return 0;
    };
  });
}

}  // namespace emsweep::cli
