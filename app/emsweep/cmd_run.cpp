#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <vector>

#include "app/emsweep/commands.h"
#include "sweep/core/error.h"

namespace emsweep::cli {

void add_run_command(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand(
      "run", "Run a sweep (under mpirun/srun, or alone); see `emsweep run --help`");
  cmd->allow_extras();
  cmd->prefix_command();
  cmd->set_help_flag();  // emsweep-run prints the real help
  cmd->callback([&ctx, cmd] {
    ctx.action = [&ctx, cmd] {
      namespace fs = std::filesystem;
      fs::path runner = fs::path(ctx.self_path).parent_path() / "emsweep-run";
      if (!fs::exists(runner)) {
        throw EnvironmentError("cannot find " + runner.string(),
                               "emsweep-run is built with emsweep; rebuild the project");
      }
      std::vector<std::string> args = {runner.string()};
      for (const auto& a : cmd->remaining()) args.push_back(a);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(runner.c_str(), argv.data());
      throw EnvironmentError("cannot start " + runner.string() + ": " + std::strerror(errno));
      return static_cast<int>(ExitCode::kEnvironment);  // not reached
    };
  });
}

}  // namespace emsweep::cli
