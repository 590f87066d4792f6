// emsweep: plan, run, watch and analyse parameter sweeps of fine-tuning experiments.
// This front end loads neither MPI nor LibTorch; `run` hands over to emsweep-run.
#include <fmt/core.h>
#include <unistd.h>

#include <filesystem>

#include "app/emsweep/commands.h"
#include "sweep/core/error.h"
#include "sweep/core/plugin.h"
#include "sweep/core/version.h"
#include "worker/kinds.h"

int main(int argc, char** argv) {
  using namespace emsweep;
  cli::Context ctx;
  register_declared_kinds(ctx.registry);
  use_plugin_path(ctx.registry);  // kinds from plugins (docs/plugins.md); never the organism's code
  std::error_code ec;
  ctx.self_path = std::filesystem::read_symlink("/proc/self/exe", ec).string();
  if (ec) ctx.self_path = argv[0];

  CLI::App app{"emsweep: parameter sweeps of fine-tuning experiments over MPI"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("emsweep ") + version() + " (" + git_commit() + ")");
  cli::add_plan_command(app, ctx);
  cli::add_run_command(app, ctx);
  cli::add_summary_command(app, ctx);
  cli::add_plot_command(app, ctx);
  cli::add_report_command(app, ctx);
  cli::add_export_command(app, ctx);
  cli::add_merge_command(app, ctx);
  cli::add_slurm_command(app, ctx);
  cli::add_status_command(app, ctx);
  cli::add_verify_command(app, ctx);
  cli::add_kinds_command(app, ctx);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : static_cast<int>(ExitCode::kBadInput);
  }
  // Reaches emsweep-run (exec'd by `emsweep run`) before its OpenBLAS loads, so that library
  // starts no idle thread pool; the worker also sets the count itself (set_compute_threads).
  if (std::getenv("OPENBLAS_NUM_THREADS") == nullptr) setenv("OPENBLAS_NUM_THREADS", "1", 0);
  try {
    return ctx.action ? ctx.action() : 0;
  } catch (const Error& e) {
    fmt::print(stderr, "emsweep: error: {}\n", describe(e));
    return static_cast<int>(e.exit_code());
  } catch (const std::exception& e) {
    fmt::print(stderr, "emsweep: internal error: {}\n", e.what());
    return static_cast<int>(ExitCode::kInternal);
  }
}
