// The task-kind interface: what a kind declares (settings, metrics, curves, cost) and what
// running one grid point returns. Plain types only: no LibTorch, no MPI.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "sweep/core/report_spec.h"
#include "sweep/core/value.h"

namespace emsweep {

// One setting a task kind accepts; every setting can be a grid axis.
struct SettingSpec {
  std::string name;                  // key under `task:` and name of the axis
  ValueType type = ValueType::kNumber;
  Value default_value;               // used when the config does not set it
  std::optional<double> min;         // inclusive lower bound for numbers/integers
  std::optional<double> max;         // inclusive upper bound for numbers/integers
  bool min_exclusive = false;        // true: value must be > min (e.g. counts > 0)
  std::vector<std::string> choices;  // allowed strings, if restricted
  std::string doc;                   // one line: meaning and unit
};

// One scalar metric a task kind reports for every point.
struct MetricSpec {
  std::string name;
  std::string doc;
  bool nan_allowed = false;  // true: NaN means "undefined for this point", not a failure
};

// Rough cost of a point, for `plan` and `slurm`.
struct CostEstimate {
  double seconds_per_point = 0;  // on one core of a machine like the one measured
  double setup_seconds = 0;      // one-off work per distinct setup (e.g. pre-training a base)
  std::int64_t setups = 0;       // how many distinct setups the grid needs
  std::string basis;             // how the estimate was made
};

// A point's resolved task settings, in the kind's schema order.
struct Settings {
  const std::vector<SettingSpec>* schema = nullptr;
  std::vector<Value> values;

  // The value of setting `name`; throws std::out_of_range for an unknown name.
  [[nodiscard]] const Value& get(const std::string& name) const;
  [[nodiscard]] double number(const std::string& name) const { return get(name).as_double(); }
  [[nodiscard]] std::int64_t integer(const std::string& name) const { return get(name).as_int(); }
  [[nodiscard]] const std::string& text(const std::string& name) const {
    return get(name).as_string();
  }
};

// One grid point as a task sees it.
struct Point {
  std::uint64_t index = 0;       // full-product index in the grid (not the run order)
  std::uint64_t id = 0;          // stable id from settings + replicate + sweep seed
  std::int64_t replicate = 0;    // replicate number (0-based)
  std::uint64_t sweep_seed = 0;  // the sweep's seed (sweep.seed)
  Settings settings;
};

// A named series a point reports, e.g. training loss per step.
struct Curve {
  std::string name;
  std::vector<double> x;
  std::vector<double> y;
};

// How an attempt ran, beyond its metrics: filled by kinds that run a child process (and for
// every failure), recorded in the journal and in /points and /failures of the results file.
struct RunDetail {
  std::string outcome;          // "" when done; else one word: exit, signal, timeout, no_result,
                                // bad_result, bad_metric, start_failed, error
  std::int32_t exit_code = -1;  // the child's exit status (-1 when it did not exit by itself)
  std::int32_t signal = 0;      // the signal that ended the child (0 when none)
  double peak_rss_mb = -1;      // peak resident memory of the child and its descendants; -1 unknown
  std::string argv;             // the rendered command line, shell-quoted for reading
  std::string workdir;          // the attempt's work directory ("" when none)
  std::string stderr_tail;      // the last few KiB of the child's stderr, valid UTF-8

  // True when any field is set (records without detail encode nothing).
  [[nodiscard]] bool present() const {
    return !outcome.empty() || exit_code != -1 || signal != 0 || peak_rss_mb >= 0 ||
           !argv.empty() || !workdir.empty() || !stderr_tail.empty();
  }
};

// What running one point produced. metrics align with TaskKindInfo::metrics.
struct TaskResult {
  std::vector<double> metrics;
  std::vector<Curve> curves;
  std::string provenance;  // free text recorded with the point (e.g. "device=cpu (auto)")
  RunDetail detail;        // how it ran (child processes); outcome stays empty
};

// Thrown by a task whose attempt failed with a structured cause: the record keeps the detail
// and the curves reported before the failure.
class TaskFailed : public std::runtime_error {
 public:
  TaskFailed(const std::string& message, RunDetail detail, std::vector<Curve> curves = {})
      : std::runtime_error(message), detail(std::move(detail)), curves(std::move(curves)) {}
  RunDetail detail;
  std::vector<Curve> curves;
};

// Thrown by a task stopped because the sweep is stopping: not an attempt, the point runs again.
class TaskCancelled : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Where and how a point runs.
struct TaskContext {
  int attempt = 1;                               // 1 for the first try
  int rank = 0;                                  // MPI rank running it (for provenance only)
  int local_rank = 0;                            // rank on its node (device choice)
  std::string cache_dir;                         // shared directory for reusable artefacts
  const std::atomic<bool>* cancel = nullptr;     // set when the task should stop early
  // Set when the sweep is stopping (a stop signal): a task may finish within the grace period
  // (grace_seconds), then should stop and throw TaskCancelled.
  const std::atomic<bool>* stopping = nullptr;
  double grace_seconds = 0;                      // run.grace_seconds
  int node_worker_index = 0;                     // this worker's index among its node's workers
  int node_workers = 1;                          // worker ranks on this node
};

struct SweepSpec;

// A runnable task kind. run() throws (any exception) to report a failure.
// The version of this interface (the types in this header and TaskRegistry). A kind plugin
// built against another version is refused with a message naming its file (sweep/core/plugin.h).
// Version 2: TaskKindInfo::report (sweep/core/report_spec.h).
inline constexpr int kTaskInterfaceVersion = 2;

// What one point of a batch produced: a result, or the exception its run threw.
struct PointOutcome {
  std::optional<TaskResult> result;
  std::exception_ptr error;
};

class Task {
 public:
  virtual ~Task() = default;
  // Runs one point and returns its metrics and curves.
  virtual TaskResult run(const Point& point, const TaskContext& ctx) = 0;
  // Runs several points in one call, outcomes aligned with `points`. The default runs them one
  // by one; a kind that packs points (several seeds in one batch) overrides it. A failure of one
  // point is that point's outcome, not the batch's.
  virtual std::vector<PointOutcome> run_many(const std::vector<Point>& points, const TaskContext& ctx);
};

// What a task kind declares before anything runs.
struct TaskKindInfo {
  std::string name;
  std::string doc;
  std::vector<SettingSpec> settings;
  std::vector<MetricSpec> metrics;
  std::vector<std::string> curves;
  // Cross-setting checks beyond per-setting ranges; returns messages (empty when fine).
  std::function<std::vector<std::string>(const Settings&)> check;
  // Cost of one point with these settings (nullopt when the kind cannot say).
  std::function<std::optional<CostEstimate>(const Settings&)> estimate;
  // Key identifying the shared setup a point needs (e.g. which base model); empty if none.
  std::function<std::string(const Settings&, std::int64_t replicate)> setup_key;
  // Creates a runnable task (null in binaries that do not carry the kind's code).
  std::function<std::unique_ptr<Task>()> make;
  // For kinds declared by the config itself (`command`): creates the task for this sweep.
  std::function<std::unique_ptr<Task>(const SweepSpec&)> make_for_sweep;
  // True when the config's task: section declares the settings, metrics and curves.
  bool declared_by_config = false;
  // The plugin whose shared library holds the kind's code, by kind name (`emsweep-NAME.so` on
  // the plugin path, sweep/core/plugin.h); "" when the code is built in. A declared kind with a
  // plugin loads it on the worker that first runs a point, never on rank 0.
  std::string plugin;
  // The file the kind's code was loaded from ("" when built in or not loaded yet).
  std::string plugin_file;
  // What `report` and `plot` draw for this kind by default: its report sections, curve groups
  // and curve labels (sweep/core/report_spec.h); empty: the generic report.
  KindReport report;

  // True when this binary can run the kind.
  [[nodiscard]] bool runnable() const { return make || make_for_sweep; }

  // Index of the setting `name`, or -1.
  [[nodiscard]] int setting_index(const std::string& name) const;
};

// The task kinds a binary knows about, looked up by name.
class TaskRegistry {
 public:
  // Looks for a kind that is not registered: may add it (from a plugin) or throw an Error
  // naming a plugin that cannot be used.
  using Loader = std::function<void(TaskRegistry&, const std::string& name)>;

  // Adds a kind; a second kind with the same name replaces the first.
  void add(TaskKindInfo info);
  // The kind called `name`, or nullptr. A name not registered is handed to the loader once
  // (set_loader), so that plugin kinds are found wherever a config names them.
  [[nodiscard]] const TaskKindInfo* find(const std::string& name) const;
  // Names of every registered kind, in registration order.
  [[nodiscard]] std::vector<std::string> names() const;
  // Sets the loader find() uses for names it does not know.
  void set_loader(Loader loader) { loader_ = std::move(loader); }

 private:
  std::vector<std::unique_ptr<TaskKindInfo>> kinds_;
  Loader loader_;
  // Names already handed to the loader. find() is const for its callers (parsing a spec only
  // reads the registry); loading a plugin the first time a name is asked for is a cache fill.
  mutable std::vector<std::string> tried_;
};

}  // namespace emsweep
