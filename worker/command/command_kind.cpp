#include "worker/command/command_kind.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <sys/stat.h>

#include "worker/command/json_read.h"
#include "worker/command/python_helper.h"
#include "worker/command/supervisor.h"
#include "sweep/core/command_line.h"
#include "sweep/core/error.h"
#include "sweep/core/json.h"
#include "sweep/core/sha256.h"
#include "sweep/core/spec.h"

extern char** environ;

namespace emsweep {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kStderrTailBytes = 4096;   // stderr kept in a failure record
constexpr std::size_t kErrorLineChars = 200;     // last stderr line quoted in the error text

// Variables a launcher sets for its own processes: a child that sees them believes it is part of
// the sweep's MPI job (mpi4py, torch.distributed and Accelerate read them), so they go.
bool launcher_variable(std::string_view name) {
  static const std::vector<std::string_view> prefixes = {
      "OMPI_", "PMIX_", "PMI_", "PRTE_", "OPAL_", "HYDRA_", "I_MPI_", "MPI_LOCALRANKID",
      "MPI_LOCALNRANKS", "SLURM_STEP_", "SLURM_PROCID", "SLURM_LOCALID", "SLURM_NODEID",
      "SLURM_GTIDS", "SLURM_TASK_PID", "SLURM_STEPID", "SLURM_CPU_BIND", "SLURM_LAUNCH_NODE_IPADDR",
      "SLURM_SRUN_COMM", "SLURM_PRIO_PROCESS", "SLURM_UMASK", "SLURM_DISTRIBUTION"};
  return std::any_of(prefixes.begin(), prefixes.end(),
                     [&](std::string_view p) { return name.starts_with(p); });
}

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::toupper(c); });
  return s;
}

const char* type_word(ValueType t) {
  switch (t) {
    case ValueType::kNumber: return "number";
    case ValueType::kInteger: return "integer";
    case ValueType::kBool: return "boolean";
    case ValueType::kString: return "string";
  }
  return "number";
}

// The parameter as a JSON value.
std::string json_value(const Value& v) {
  switch (v.type()) {
    case ValueType::kNumber: return format_double(v.as_double());
    case ValueType::kInteger: return std::to_string(v.as_int());
    case ValueType::kBool: return v.as_bool() ? "true" : "false";
    case ValueType::kString: return JsonWriter::quote(v.as_string());
  }
  return "null";
}

std::string read_file(const std::string& path, bool* exists = nullptr) {
  std::ifstream in(path, std::ios::binary);
  if (exists != nullptr) *exists = static_cast<bool>(in);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out.flush()) throw TaskError("cannot write " + path.string() + ": " + std::strerror(errno));
}

// argv[0] as the child will find it: itself when it has a '/', else the first executable on PATH.
std::string resolve_program(const std::string& program, const std::string& path_var) {
  if (program.find('/') != std::string::npos) return program;
  std::stringstream dirs(path_var);
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    fs::path candidate = fs::path(dir.empty() ? "." : dir) / program;
    if (::access(candidate.c_str(), X_OK) == 0 && !fs::is_directory(candidate)) return candidate.string();
  }
  return "";
}

// The device list a worker rank may hand out: its CUDA_VISIBLE_DEVICES when set, else the
// node's NVIDIA devices.
std::vector<std::string> visible_devices() {
  std::vector<std::string> out;
  if (const char* v = std::getenv("CUDA_VISIBLE_DEVICES"); v != nullptr) {
    std::stringstream s(v);
    std::string d;
    while (std::getline(s, d, ',')) {
      if (!d.empty()) out.push_back(d);
    }
    return out;
  }
  std::error_code ec;
  for (int i = 0; fs::exists("/dev/nvidia" + std::to_string(i), ec); ++i) out.push_back(std::to_string(i));
  return out;
}

// The last non-empty line of `text`, shortened for an error message (at a UTF-8 character).
std::string last_line(const std::string& text) {
  std::size_t end = text.find_last_not_of("\n\r ");
  if (end == std::string::npos) return "";
  std::size_t start = text.rfind('\n', end);
  std::string line = text.substr(start == std::string::npos ? 0 : start + 1, end - (start == std::string::npos ? 0 : start + 1) + 1);
  if (line.size() > kErrorLineChars) {
    std::size_t cut = line.size() - kErrorLineChars;
    // Not inside a UTF-8 character: skip its continuation bytes.
    while (cut < line.size() && (static_cast<unsigned char>(line[cut]) & 0xC0) == 0x80) ++cut;
    line = "..." + line.substr(cut);
  }
  return line;
}

class CommandTask : public Task {
 public:
  explicit CommandTask(const SweepSpec& spec)
      : argv_(spec.argv),
        kind_(spec.kind),
        run_(spec.run),
        sweep_name_(spec.name),
        output_(spec.output),
        shim_(command::default_shim_path()) {
    for (const auto& a : spec.axes) {
      if (a.is_replicate) replicate_axis_ = a.name;
    }
  }

  TaskResult run(const Point& point, const TaskContext& ctx) override {
    if (python_dir_.empty()) {
      // The helper module goes beside the work directories, written by the first point.
      python_dir_ = command::install_python_helper(
          (fs::path(workdirs_root(output_, run_.workdir_root)) / "python").string());
    }
    const std::string id = point_id_hex(point.id);
    const fs::path workdir = attempt_dir(id, ctx.attempt);
    std::error_code ec;
    fs::remove_all(workdir, ec);  // a released attempt may have left one behind
    fs::create_directories(workdir, ec);
    if (ec) {
      throw TaskFailed("cannot create the work directory " + workdir.string() + ": " + ec.message(),
                       failure_detail("error", workdir.string(), {}));
    }
    PlaceholderValues pv{id, workdir.string(), ctx.attempt, replicate_axis_};
    const std::vector<std::string> argv = render_argv(argv_, point, pv);

    command::ChildSpec child;
    child.argv = argv;
    child.env = environment(point, id, workdir, ctx);
    child.cwd = "";
    child.stdout_path = (workdir / "stdout.txt").string();
    child.stderr_path = (workdir / "stderr.txt").string();
    child.timeout_seconds = run_.timeout;
    child.kill_grace_seconds = run_.kill_grace;
    child.cpus = cpus_for(ctx);
    child.shim_path = shim_;
    write_file(workdir / "params.json", params_json(point, id, workdir, ctx));

    const command::ChildResult r = run_child(child, ctx);

    RunDetail d = failure_detail("", workdir.string(), argv);
    d.exit_code = r.outcome == command::ChildOutcome::kExited ? r.exit_code : -1;
    d.signal = r.signal;
    d.peak_rss_mb = r.peak_rss_kb >= 0 ? static_cast<double>(r.peak_rss_kb) / 1024.0 : -1;
    std::vector<Curve> curves = read_curves(workdir / "events.jsonl");

    auto fail = [&](const std::string& outcome, std::string message) -> TaskFailed {
      d.outcome = outcome;
      d.stderr_tail = command::read_tail_utf8(child.stderr_path, kStderrTailBytes);
      if (std::string line = last_line(d.stderr_tail); !line.empty()) message += " (stderr: " + line + ")";
      finish_workdir(workdir, false);
      return TaskFailed(message, d, std::move(curves));
    };

    switch (r.outcome) {
      case command::ChildOutcome::kCancelled:
        finish_workdir(workdir, false);
        throw TaskCancelled("stopped with the sweep");
      case command::ChildOutcome::kStartFailed:
        throw fail("start_failed", "could not start: " + r.start_error);
      case command::ChildOutcome::kTimeout:
        throw fail("timeout", "timeout after " + format_double(run_.timeout) + " s (stopped with " +
                                  command::signal_name(r.signal) + ")");
      case command::ChildOutcome::kSignaled:
        throw fail("signal", "killed by " + command::signal_name(r.signal));
      case command::ChildOutcome::kExited:
        if (r.exit_code != 0) throw fail("exit", "exit code " + std::to_string(r.exit_code));
        break;
    }

    bool exists = false;
    const std::string text = read_file((workdir / "result.json").string(), &exists);
    if (!exists) {
      throw fail("no_result", "no result: the program exited 0 without writing $EMSWEEP_RESULT");
    }
    json::ParsedResult parsed = json::parse_result(text);
    if (!parsed.error.empty()) throw fail("bad_result", parsed.error);

    TaskResult out;
    const double nan = std::numeric_limits<double>::quiet_NaN();
    out.metrics.assign(kind_->metrics.size(), nan);
    std::vector<bool> seen(kind_->metrics.size(), false);
    for (const auto& [name, value] : parsed.metrics) {
      auto it = std::find_if(kind_->metrics.begin(), kind_->metrics.end(),
                             [&](const MetricSpec& m) { return m.name == name; });
      if (it == kind_->metrics.end()) {
        warn_once("metric", name);
        continue;
      }
      const auto m = static_cast<std::size_t>(it - kind_->metrics.begin());
      out.metrics[m] = value;
      seen[m] = true;
    }
    for (std::size_t m = 0; m < seen.size(); ++m) {
      if (!seen[m]) {
        throw fail("bad_metric", "the result lacks metric '" + kind_->metrics[m].name + "' (task.metrics declares it)");
      }
      const double v = out.metrics[m];
      if (std::isinf(v) || (std::isnan(v) && !kind_->metrics[m].nan_allowed)) {
        throw fail("bad_metric", "metric '" + kind_->metrics[m].name + "' is " + format_double(v) +
                                     (std::isnan(v) ? " (declare {name: " + kind_->metrics[m].name +
                                                          ", nan: allowed} if NaN is a valid value)"
                                                    : ""));
      }
    }
    out.curves = std::move(curves);
    d.outcome.clear();
    out.detail = d;
    out.provenance = provenance(argv, child.env);
    finish_workdir(workdir, true);
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

  fs::path attempt_dir(const std::string& id, int attempt) const {
    return attempt_workdir(output_, run_.workdir_root, id, attempt);
  }

  static RunDetail failure_detail(const std::string& outcome, const std::string& workdir,
                                  const std::vector<std::string>& argv) {
    RunDetail d;
    d.outcome = outcome;
    d.workdir = workdir;
    d.argv = shell_quote(argv);
    return d;
  }

  std::vector<std::string> environment(const Point& point, const std::string& id, const fs::path& workdir,
                                       const TaskContext& ctx) const {
    std::map<std::string, std::string> env;
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
      std::string_view kv(*e);
      const auto eq = kv.find('=');
      if (eq == std::string_view::npos) continue;
      std::string name(kv.substr(0, eq));
      if (launcher_variable(name) || name.starts_with("EMSWEEP_")) continue;
      env[name] = std::string(kv.substr(eq + 1));
    }
    const std::string threads = std::to_string(run_.cpus_per_point);
    env["PYTHONUNBUFFERED"] = "1";
    for (const char* v : {"OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"}) env[v] = threads;
    if (!python_dir_.empty()) {
      auto it = env.find("PYTHONPATH");
      env["PYTHONPATH"] = it == env.end() || it->second.empty() ? python_dir_ : python_dir_ + ":" + it->second;
    }
    env["EMSWEEP_PARAMS"] = (workdir / "params.json").string();
    env["EMSWEEP_RESULT"] = (workdir / "result.json").string();
    env["EMSWEEP_EVENTS"] = (workdir / "events.jsonl").string();
    env["EMSWEEP_WORKDIR"] = workdir.string();
    env["EMSWEEP_POINT_ID"] = id;
    env["EMSWEEP_ATTEMPT"] = std::to_string(ctx.attempt);
    env["EMSWEEP_REPLICATE"] = std::to_string(point.replicate);
    for (std::size_t i = 0; i < kind_->settings.size(); ++i) {
      env["EMSWEEP_PARAM_" + upper(kind_->settings[i].name)] = point.settings.values.at(i).display();
    }
    if (run_.gpus_per_point > 0) env["CUDA_VISIBLE_DEVICES"] = devices_for(ctx);
    std::vector<std::string> out;
    out.reserve(env.size());
    for (const auto& [k, v] : env) out.push_back(k + "=" + v);
    return out;
  }

  // The devices of this worker's running point: its share of the rank's visible devices.
  std::string devices_for(const TaskContext& ctx) const {
    const std::vector<std::string> devices = visible_devices();
    const auto need = static_cast<std::size_t>(run_.gpus_per_point);
    const std::size_t first = static_cast<std::size_t>(ctx.node_worker_index) * need;
    if (first + need > devices.size()) {
      throw TaskFailed(fmt::format("run.gpus_per_point is {} but this node's {} worker rank{} share {} "
                                   "device{} ({}): worker {} has none left",
                                   need, ctx.node_workers, ctx.node_workers == 1 ? "" : "s",
                                   devices.size(), devices.size() == 1 ? "" : "s",
                                   devices.empty() ? "none visible" : "CUDA_VISIBLE_DEVICES or /dev/nvidia*",
                                   ctx.node_worker_index),
                       failure_detail("error", "", {}));
    }
    std::string out;
    for (std::size_t i = first; i < first + need; ++i) out += (out.empty() ? "" : ",") + devices[i];
    return out;
  }

  // Cores of a point that may use several: this worker's block of cpus_per_point cores.
  std::vector<int> cpus_for(const TaskContext& ctx) const {
    if (run_.cpus_per_point <= 1) return {};  // the rank's own binding (one core under mpirun)
    const long cores = ::sysconf(_SC_NPROCESSORS_ONLN);
    std::vector<int> out;
    for (int i = 0; i < run_.cpus_per_point; ++i) {
      out.push_back(static_cast<int>((ctx.node_worker_index * run_.cpus_per_point + i) % std::max(1L, cores)));
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }

  std::string params_json(const Point& point, const std::string& id, const fs::path& workdir,
                          const TaskContext& ctx) const {
    JsonWriter w;
    w.begin_object();
    w.value("point_id", id);
    w.value("attempt", ctx.attempt);
    w.value("replicate", point.replicate);
    w.value("sweep", sweep_name_);
    w.value("workdir", workdir.string());
    w.begin_object("params");
    for (std::size_t i = 0; i < kind_->settings.size(); ++i) {
      w.raw(kind_->settings[i].name, json_value(point.settings.values.at(i)));
    }
    w.end_object();
    w.begin_object("types");
    for (const auto& s : kind_->settings) w.value(s.name, type_word(s.type));
    w.end_object();
    w.end_object();
    return w.str() + "\n";
  }

  std::vector<Curve> read_curves(const fs::path& events) const {
    bool exists = false;
    const std::string text = read_file(events.string(), &exists);
    if (!exists || text.empty()) return {};
    json::ParsedEvents parsed = json::parse_events(text);
    std::vector<Curve> out;
    for (auto& c : parsed.curves) {
      if (std::find(kind_->curves.begin(), kind_->curves.end(), c.name) == kind_->curves.end()) {
        warn_once("curve", c.name);
        continue;
      }
      out.push_back(Curve{std::move(c.name), std::move(c.x), std::move(c.y)});
    }
    return out;
  }

  // Names the first report of an undeclared metric or curve (once per name and rank).
  void warn_once(const char* what, const std::string& name) const {
    std::lock_guard lock(warn_mutex_);
    if (!warned_.insert(std::string(what) + ":" + name).second) return;
    fmt::print(stderr,
               "[emsweep] warning: the program reports {} '{}', which task.{}s does not declare; it is "
               "not recorded (declare it to keep it)\n",
               what, name, what);
  }

  // Removes the work directory as run.keep_workdirs says (and the point's directory once empty).
  void finish_workdir(const fs::path& workdir, bool succeeded) const {
    const bool keep = run_.keep_workdirs == "always" || (run_.keep_workdirs == "failed" && !succeeded);
    if (keep) return;
    std::error_code ec;
    fs::remove_all(workdir, ec);
    fs::remove(workdir.parent_path(), ec);  // fails, harmlessly, while other attempts remain
  }

  // What ran: the program's file and the argv, each by hash.
  std::string provenance(const std::vector<std::string>& argv, const std::vector<std::string>& env) const {
    std::string path_var;
    for (const auto& kv : env) {
      if (kv.starts_with("PATH=")) path_var = kv.substr(5);
    }
    const std::string program = resolve_program(argv[0], path_var);
    std::string joined;
    for (const auto& a : argv) joined += a + '\0';
    return fmt::format("program={} program_sha256={} argv_sha256={}", program.empty() ? argv[0] : program,
                       program_hash(program), sha256_hex(joined).substr(0, 16));
  }

  // SHA-256 of a program file (first 16 hex digits), cached by path, size and time.
  std::string program_hash(const std::string& path) const {
    struct stat st {};
    if (path.empty() || ::stat(path.c_str(), &st) != 0) return "unknown";
    const std::string key = fmt::format("{}|{}|{}", path, st.st_size, st.st_mtim.tv_sec);
    std::lock_guard lock(warn_mutex_);
    auto it = program_hashes_.find(key);
    if (it != program_hashes_.end()) return it->second;
    const std::string hash = sha256_hex(read_file(path)).substr(0, 16);
    program_hashes_[key] = hash;
    return hash;
  }

  std::vector<std::string> argv_;
  const TaskKindInfo* kind_;
  RunPolicy run_;
  std::string sweep_name_;
  std::string output_;
  std::string shim_;
  std::string python_dir_;
  std::string replicate_axis_;
  std::mutex supervisor_mutex_;
  command::Supervisor supervisor_;  // keeps one shim for point after point
  mutable std::mutex warn_mutex_;
  mutable std::set<std::string> warned_;
  mutable std::map<std::string, std::string> program_hashes_;
};

}  // namespace

TaskKindInfo command_kind_info() {
  TaskKindInfo k;
  k.name = "command";
  k.doc = "runs your own program for every point (argv with {placeholders}, no shell), supervised; "
          "task.params, task.metrics and task.curves declare what it takes and reports "
          "(see docs/command.md)";
  k.declared_by_config = true;
  k.make_for_sweep = [](const SweepSpec& spec) -> std::unique_ptr<Task> {
    return std::make_unique<CommandTask>(spec);
  };
  return k;
}

}  // namespace emsweep
