#include <fmt/core.h>

#include "app/emsweep/commands.h"
#include "sweep/core/grid.h"
#include "sweep/core/plan.h"

namespace emsweep::cli {

void add_plan_command(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("plan", "Show what a sweep config will run, or where it is wrong");
  struct Options {
    std::string config;
    std::vector<std::string> sets;
    bool json = false;
    int show = 3;
    std::string shard;
  };
  auto opt = std::make_shared<Options>();
  cmd->add_option("config", opt->config, "sweep config (YAML)")->required();
  cmd->add_option("--set", opt->sets, "override a setting, e.g. --set task.steps=50")
      ->take_all()
      ->expected(1);
  cmd->add_flag("--json", opt->json, "print JSON for scripts");
  cmd->add_option("--show", opt->show, "points to list at each end")->check(CLI::Range(0, 1000));
  cmd->add_option("--shard", opt->shard, "count only shard i/K of the grid");
  cmd->callback([&ctx, opt] {
    ctx.action = [&ctx, opt] {
      SweepSpec spec = load_spec(opt->config, opt->sets, ctx.registry);
      Grid grid(spec);
      fmt::print("{}", opt->json ? plan_json(spec, grid, opt->show) : plan_text(spec, grid, opt->show));
      if (!opt->shard.empty()) {
        Shard shard = parse_shard(opt->shard);
        std::uint64_t n = 0;
        for (std::uint64_t i = grid.next_kept(0); i < grid.full_size(); i = grid.next_kept(i + 1)) {
          n += grid.in_shard(i, shard) ? 1 : 0;
        }
        fmt::print("shard {}/{}: {} points\n", shard.index, shard.count, n);
      }
      return 0;
    };
  });
}

}  // namespace emsweep::cli
