// Subcommands of the `emsweep` front end. Each registers itself on the CLI11 app and sets
// `action` to what runs when it is chosen; the action returns the process exit code.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>

#include "sweep/core/task.h"

namespace emsweep::analysis {
struct Results;
}

namespace emsweep::cli {

// What every subcommand shares.
struct Context {
  TaskRegistry registry;             // declared task kinds
  std::function<int()> action;       // set by the chosen subcommand
  std::string self_path;             // path of this executable
};

// `emsweep plan`.
void add_plan_command(CLI::App& app, Context& ctx);
// `emsweep status` and `emsweep repair`.
void add_status_command(CLI::App& app, Context& ctx);
// `emsweep verify`: a results file against its journal, changing nothing.
void add_verify_command(CLI::App& app, Context& ctx);
// `emsweep kinds`: task kinds with settings, metrics, curves; and their Markdown tables.
void add_kinds_command(CLI::App& app, Context& ctx);
[[nodiscard]] std::string kinds_markdown(const TaskRegistry& registry);
// `emsweep run`: replaces this process with emsweep-run (MPI and LibTorch).
void add_run_command(CLI::App& app, Context& ctx);
// `emsweep summary`, `plot`, `report`, `export`: the analysis commands (emsweep::analysis).
void add_summary_command(CLI::App& app, Context& ctx);
void add_plot_command(CLI::App& app, Context& ctx);
void add_report_command(CLI::App& app, Context& ctx);
void add_export_command(CLI::App& app, Context& ctx);
// What the results file's task kind declares for `report` and `plot` (analysis::declared_report);
// a plugin that cannot be loaded is noted on stderr and the generic defaults are used.
[[nodiscard]] KindReport kind_report_or_generic(const analysis::Results& r,
                                                const TaskRegistry& registry);
// `emsweep merge`: one results file from the files of one sweep's jobs.
void add_merge_command(CLI::App& app, Context& ctx);
// `emsweep slurm`: writes a ready sbatch file for a config.
void add_slurm_command(CLI::App& app, Context& ctx);

}  // namespace emsweep::cli
