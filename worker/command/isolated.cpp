#include "worker/command/isolated.h"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

#include "worker/command/supervisor.h"
#include "sweep/core/command_line.h"
#include "sweep/core/error.h"
#include "sweep/core/spec.h"
#include "sweep/store/wire.h"

extern char** environ;

namespace emsweep {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kStderrTailBytes = 4096;

std::string read_all(const fs::path& p, bool* exists) {
  std::ifstream in(p, std::ios::binary);
  *exists = static_cast<bool>(in);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

class IsolatedTask : public Task {
 public:
  IsolatedTask(const SweepSpec& spec, std::string program)
      : program_(std::move(program)), output_(spec.output), run_(spec.run) {
    // The child reads the sweep from a file: the resolved config, written once per sweep.
    const fs::path dir = workdirs_root(output_, run_.workdir_root);
    std::error_code ec;
    fs::create_directories(dir, ec);
    config_ = (dir / ("config-" + spec.hash().substr(0, 12) + ".yaml")).string();
    const std::string tmp = config_ + ".tmp" + std::to_string(::getpid());
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      out << spec.resolved_yaml();
      if (!out.flush()) throw EnvironmentError("cannot write " + tmp + ": " + std::strerror(errno));
    }
    fs::rename(tmp, config_, ec);
    if (ec) throw EnvironmentError("cannot write " + config_ + ": " + ec.message());
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) env_.emplace_back(*e);
  }

  TaskResult run(const Point& point, const TaskContext& ctx) override {
    const std::string id = point_id_hex(point.id);
    const fs::path workdir = attempt_workdir(output_, run_.workdir_root, id, ctx.attempt);
    std::error_code ec;
    fs::remove_all(workdir, ec);
    fs::create_directories(workdir, ec);
    if (ec) throw TaskError("cannot create the work directory " + workdir.string() + ": " + ec.message());
    const fs::path record = workdir / "record.bin";

    command::ChildSpec child;
    child.argv = {program_,      "--run-point", config_, "--index", std::to_string(point.index),
                  "--attempt",   std::to_string(ctx.attempt), "--rank", std::to_string(ctx.rank),
                  "--cache-dir", ctx.cache_dir, "--record", record.string()};
    child.env = env_;
    child.stdout_path = (workdir / "stdout.txt").string();
    child.stderr_path = (workdir / "stderr.txt").string();
    child.timeout_seconds = run_.timeout;
    child.kill_grace_seconds = run_.kill_grace;
    const command::ChildResult r = run_child(child, ctx);

    RunDetail d;
    d.workdir = workdir.string();
    d.argv = shell_quote(child.argv);
    d.exit_code = r.outcome == command::ChildOutcome::kExited ? r.exit_code : -1;
    d.signal = r.signal;
    d.peak_rss_mb = r.peak_rss_kb >= 0 ? static_cast<double>(r.peak_rss_kb) / 1024.0 : -1;
    auto fail = [&](const std::string& outcome, const std::string& message) {
      d.outcome = outcome;
      d.stderr_tail = command::read_tail_utf8(child.stderr_path, kStderrTailBytes);
      return TaskFailed(message, d);
    };
    switch (r.outcome) {
      case command::ChildOutcome::kCancelled:
        finish(workdir, false);
        throw TaskCancelled("stopped with the sweep");
      case command::ChildOutcome::kStartFailed:
        throw fail("start_failed", "could not start: " + r.start_error);
      case command::ChildOutcome::kTimeout:
        throw fail("timeout", "timeout after " + format_double(run_.timeout) + " s (stopped with " +
                                  command::signal_name(r.signal) + ")");
      case command::ChildOutcome::kSignaled:
        throw fail("signal", "the point's process was killed by " + command::signal_name(r.signal));
      case command::ChildOutcome::kExited:
        if (r.exit_code != 0) throw fail("exit", "the point's process exited with code " + std::to_string(r.exit_code));
        break;
    }
    bool exists = false;
    const std::string bytes = read_all(record, &exists);
    auto rec = exists ? decode_point_record(bytes) : std::nullopt;
    if (!rec) throw fail("no_result", "the point's process exited 0 without a readable record");
    finish(workdir, rec->status == PointStatus::kDone);
    d.stderr_tail.clear();
    if (rec->status != PointStatus::kDone) {
      d.outcome = rec->detail.outcome.empty() ? "error" : rec->detail.outcome;
      d.stderr_tail = command::read_tail_utf8(child.stderr_path, kStderrTailBytes);
      throw TaskFailed(rec->error, d, std::move(rec->curves));
    }
    TaskResult out;
    out.metrics = std::move(rec->metrics);
    out.curves = std::move(rec->curves);
    out.provenance = rec->provenance.empty() ? "isolation=process" : rec->provenance + " isolation=process";
    out.detail = d;
    return out;
  }

 private:
  // Runs the child through this task's kept shim, or through a shim of its own should another
  // thread be using that one (a worker rank runs its points one at a time, so that is rare).
  command::ChildResult run_child(const command::ChildSpec& child, const TaskContext& ctx) {
    std::unique_lock lock(supervisor_mutex_, std::try_to_lock);
    if (!lock.owns_lock()) return command::run_child(child, ctx.stopping, ctx.grace_seconds);
    return supervisor_.run(child, ctx.stopping, ctx.grace_seconds);
  }

  void finish(const fs::path& workdir, bool succeeded) const {
    const bool keep = run_.keep_workdirs == "always" || (run_.keep_workdirs == "failed" && !succeeded);
    if (keep) return;
    std::error_code ec;
    fs::remove_all(workdir, ec);
    fs::remove(workdir.parent_path(), ec);
  }

  std::string program_;
  std::string output_;
  RunPolicy run_;
  std::string config_;
  std::vector<std::string> env_;
  std::mutex supervisor_mutex_;
  command::Supervisor supervisor_;  // keeps one shim for point after point
};

}  // namespace

std::unique_ptr<Task> make_isolated_task(const SweepSpec& spec, const std::string& program) {
  return std::make_unique<IsolatedTask>(spec, program);
}

}  // namespace emsweep
