// `emsweep verify FILE`: checks a results file and its journal without changing either, and
// exits 0 when the view agrees with the journal, 5 (the results file cannot be used as it is)
// with a report of every disagreement when not.
#include <fmt/core.h>

#include "app/emsweep/commands.h"
#include "sweep/core/error.h"
#include "sweep/core/json.h"
#include "analysis/verify.h"

namespace emsweep::cli {

void add_verify_command(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("verify",
                                 "Check a results file against its journal (checksums, points, "
                                 "values, config); changes nothing");
  struct Options {
    std::string file;
    bool json = false;
  };
  auto opt = std::make_shared<Options>();
  cmd->add_option("file", opt->file, "results file (.h5) or its .journal")->required();
  cmd->add_flag("--json", opt->json, "print JSON for scripts");
  cmd->callback([&ctx, opt] {
    ctx.action = [&ctx, opt] {
      std::string h5 = opt->file;
      if (h5.ends_with(".journal")) h5.resize(h5.size() - 8);
      const analysis::VerifyReport r = analysis::verify_results(h5, ctx.registry);
      const int code = r.ok() ? 0 : static_cast<int>(ExitCode::kStore);
      if (opt->json) {
        JsonWriter j;
        j.begin_object().value("file", r.file).value("journal", r.journal).value("ok", r.ok());
        j.value("exit_code", code)
            .value("running", r.running)
            .value("journal_bytes", r.journal_bytes);
        j.value("records", r.records).value("runs", r.runs).value("config_hash", r.config_hash);
        j.value("grid_points", r.grid_points).value("journal_points", r.journal_points);
        j.value("done", r.done)
            .value("failed", r.failed)
            .value("rows", r.rows)
            .value("curve_rows", r.curve_rows);
        j.begin_array("problems");
        for (const auto& p : r.problems)
          j.begin_object().value("check", p.check).value("message", p.message).end_object();
        j.end_array().begin_array("notes");
        for (const auto& n : r.notes) j.value("", n);
        j.end_array();
        if (r.ok())
          j.null("hint");
        else
          j.value("hint", r.hint);
        j.end_object();
        fmt::print("{}\n", j.str());
        return code;
      }
      fmt::print("verify   {} against {}{}\n", r.file, r.journal,
                 r.running ? " (a run is writing it)" : "");
      fmt::print("journal  {} bytes, {} intact records, {} run{}, config {}\n", r.journal_bytes,
                 r.records, r.runs, r.runs == 1 ? "" : "s", r.config_hash.substr(0, 12));
      fmt::print(
          "points   {} of {} recorded in the journal ({} done, {} failed); the view has {} rows, "
          "{} curve rows\n",
          r.journal_points, r.grid_points, r.done, r.failed, r.rows, r.curve_rows);
      for (const auto& n : r.notes) fmt::print("note     {}\n", n);
      for (const auto& p : r.problems) fmt::print("PROBLEM  [{}] {}\n", p.check, p.message);
      if (r.ok()) {
        fmt::print(
            "OK: every record's checksum holds and the view agrees with the journal bit for bit\n");
      } else {
        fmt::print("FAILED: {} problem{} (exit status {})\n  hint: {}\n", r.problems.size(),
                   r.problems.size() == 1 ? "" : "s", code, r.hint);
      }
      return code;
    };
  });
}

}  // namespace emsweep::cli
