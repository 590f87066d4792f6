// emsweep-run: `emsweep run` after the front end hands over. Rank 0 validates the config,
// broadcasts it, opens the results store and coordinates; the other ranks run points. Alone
// (no mpirun) it coordinates on the main thread and runs points on a worker thread.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <thread>

#include "sweep/core/error.h"
#include "sweep/core/grid.h"
#include "sweep/core/plan.h"
#include "sweep/core/plugin.h"
#include "sweep/engine/coordinator.h"
#include "sweep/engine/signals.h"
#include "sweep/engine/worker_loop.h"
#include "sweep/mpi/transport_mpi.h"
#include "sweep/store/h5.h"
#include "sweep/store/store.h"
#include "worker/command/isolated.h"
#include "worker/kinds.h"

namespace {

using namespace emsweep;

// The LibTorch the organism plugin was built against (emsweep-run itself links no LibTorch).
#ifdef EMSWEEP_LIBTORCH_VERSION
constexpr const char* kLibtorchVersion = EMSWEEP_LIBTORCH_VERSION;
#else
constexpr const char* kLibtorchVersion = "";
#endif

// Every kind this program can run: the declared ones, plugin kinds found by name, and the
// organism's code, loaded from its plugin on the worker that first runs an organism point.
void register_kinds(TaskRegistry& registry) {
  register_declared_kinds(registry);
  use_plugin_path(registry);
  attach_plugin_runners(registry);
}

struct Options {
  std::string config;
  std::vector<std::string> sets;
  std::string output;
  std::string shard;
  std::string cache_dir;
  bool overwrite = false;
  bool retry_failed = false;
  bool extend = false;
  bool quiet = false;
  std::string progress = "auto";
  // --run-point (the child of run.isolation: process): the config file and the point.
  std::string run_point;
  std::uint64_t point_index = 0;
  std::uint32_t point_attempt = 1;
  int point_rank = 0;
  std::string record;
};

std::string hostname() {
  char buf[256] = {};
  ::gethostname(buf, sizeof buf - 1);
  return buf;
}

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string command_line(int argc, char** argv) {
  std::string out = "emsweep run";
  for (int i = 1; i < argc; ++i) out += std::string(" ") + argv[i];
  return out;
}

// The runnable task of the sweep's kind (in a child process per point under run.isolation:
// process; the `command` kind runs its children anyway).
std::unique_ptr<Task> make_task(const SweepSpec& spec) {
  if (spec.run.isolation == "process" && !spec.kind->declared_by_config) {
    std::error_code ec;
    const std::string self = std::filesystem::read_symlink("/proc/self/exe", ec).string();
    if (ec) throw EnvironmentError("cannot find emsweep-run's own path for run.isolation: process");
    return make_isolated_task(spec, self);
  }
  return spec.kind->make_for_sweep ? spec.kind->make_for_sweep(spec) : spec.kind->make();
}

// `emsweep-run --run-point`: one point of a built-in kind, in the child process that
// run.isolation: process starts; its record goes to a file (written whole, then renamed).
int run_one_point(const Options& opt) {
  TaskRegistry registry;
  register_kinds(registry);
  SweepSpec spec = load_spec(opt.run_point, {}, registry);
  Grid grid(spec);
  std::unique_ptr<Task> task = spec.kind->make_for_sweep ? spec.kind->make_for_sweep(spec) : spec.kind->make();
  WorkerIdentity who;
  who.rank = opt.point_rank;
  who.host = hostname();
  who.cache_dir = opt.cache_dir;
  WorkItem item{opt.point_index, opt.point_attempt};
  PointRecord rec = run_point(*task, *spec.kind, grid, item, who, nullptr);
  const std::string tmp = opt.record + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << encode(rec);
    if (!out.flush()) throw EnvironmentError("cannot write " + tmp + ": " + std::strerror(errno));
  }
  std::filesystem::rename(tmp, opt.record);
  return 0;
}

void print_error(const Error& e) { fmt::print(stderr, "emsweep: error: {}\n", describe(e)); }

std::string default_cache_dir(const SweepSpec& spec) {
  if (!spec.run.cache_dir.empty()) return spec.run.cache_dir;
  auto parent = std::filesystem::path(spec.output).parent_path();
  return (parent.empty() ? std::filesystem::path("cache") : parent / "cache").string();
}

void print_summary(const RunOutcome& o, const SweepSpec& spec, double seconds) {
  fmt::print(stderr, "[emsweep] {}: {} of {} points done, {} failed ({} done and {} failed in this run, {})\n",
             o.code == ExitCode::kInterrupted ? "interrupted" : "finished", o.done, o.total, o.failed,
             o.done_now, o.failed_now, human_seconds(seconds));
  fmt::print(stderr, "[emsweep] results: {}\n", spec.output);
  if (o.code == ExitCode::kInterrupted) {
    fmt::print(stderr, "[emsweep] run the same command again to resume (exit status 3)\n");
  } else if (o.failed > 0) {
    fmt::print(stderr, "[emsweep] see the failures with: emsweep status {}\n", spec.output);
  }
}

// The coordinator's own cost: CPU time against wall time, and peak memory.
void print_coordinator_cost(double wall_seconds) {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  const double cpu = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                     1e-6 * static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
  fmt::print(stderr, "[emsweep] coordinator: CPU {:.2f} s over {:.1f} s wall ({:.1f}%), peak memory {} MB\n",
             cpu, wall_seconds, wall_seconds > 0 ? 100.0 * cpu / wall_seconds : 0.0, ru.ru_maxrss / 1024);
}

// Rank 0's reading of the config: the resolved text every rank parses, or an empty one after
// printing the error (its exit status in `early_exit`).
RunConfig validate_config(const Options& opt, const TaskRegistry& registry, int& early_exit) {
  RunConfig rc;
  try {
    std::vector<std::string> sets = opt.sets;
    if (!opt.output.empty()) sets.push_back("sweep.output=" + opt.output);
    SweepSpec spec = load_spec(opt.config, sets, registry);
    if (!spec.kind->plugin.empty() && find_plugin_file(spec.kind->plugin).empty()) {
      // Checked here, on rank 0, so that workers do not each fail every point.
      throw EnvironmentError("task kind '" + spec.kind->name + "' runs in the plugin emsweep-" +
                                 spec.kind->plugin + ".so, which is not on the plugin path",
                             "build emsweep with LibTorch (cmake -DEMSWEEP_WITH_TORCH=ON), or "
                             "point EMSWEEP_PLUGIN_PATH at the directory that holds it");
    }
    if (!spec.kind->runnable()) {
      throw EnvironmentError("task kind '" + spec.kind->name + "' has no code in this emsweep-run",
                             "rebuild with LibTorch (cmake -DEMSWEEP_WITH_TORCH=ON)");
    }
    if (!opt.shard.empty()) (void)parse_shard(opt.shard);
    rc.config_yaml = spec.resolved_yaml();
    rc.cache_dir = opt.cache_dir.empty() ? default_cache_dir(spec) : opt.cache_dir;
    rc.shard = opt.shard;
  } catch (const Error& e) {
    print_error(e);
    early_exit = static_cast<int>(e.exit_code());
  }
  return rc;
}

// What the store's journal recovery repaired: loud when completed work was lost and runs again.
void report_recovery(const Store& store, const Grid& grid, const Shard& shard, bool sharded, bool quiet) {
  const std::uint64_t recorded = store.ledger().done.size() + store.ledger().failed.size();
  const JournalRecovery& repaired = store.recovery();
  if (repaired.middle_damage() > 0) {
    // Loud even with --quiet: completed work was lost and runs again.
    std::uint64_t total = grid.size();
    if (sharded) {
      total = 0;
      for (std::uint64_t i = grid.next_kept(0); i < grid.full_size(); i = grid.next_kept(i + 1)) {
        total += grid.in_shard(i, shard) ? 1 : 0;
      }
    }
    for (const auto& line : recovery_messages(repaired, total > recorded ? total - recorded : 0)) {
      fmt::print(stderr, "[emsweep] WARNING: {}\n", line);
    }
  } else if (repaired.torn_tail() && !quiet) {
    fmt::print(stderr, "[emsweep] {}\n", recovery_messages(repaired, std::nullopt).front());
  }
}

// One rank: coordinates on this thread and runs points on a worker thread.
int run_alone(std::unique_ptr<Store> store, const Grid& grid, const SweepSpec& spec,
              const CoordinatorSettings& cs, const WorkerIdentity& who,
              std::chrono::steady_clock::time_point t0) {
  std::atomic<bool> cancel{false};
  RunOutcome outcome;
  LocalNetwork net(2);
  std::unique_ptr<Transport> coord_end = net.endpoint(0);
  std::unique_ptr<Transport> worker_end = net.endpoint(1);
  std::unique_ptr<Task> task = make_task(spec);
  std::thread worker([&] { worker_loop(*worker_end, *task, *spec.kind, grid, who, &cancel); });
  try {
    outcome = coordinate(*coord_end, {1}, *store, grid, spec, cs);
  } catch (const Error& e) {
    print_error(e);
    store.reset();
    std::fflush(stderr);
    std::_Exit(static_cast<int>(e.exit_code()));
  }
  store.reset();
  print_summary(outcome, spec, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  if (outcome.workers_busy) {
    // The worker thread is inside a task that did not finish in the grace period.
    cancel = true;
    std::fflush(stderr);
    std::_Exit(static_cast<int>(outcome.code));
  }
  worker.join();
  return static_cast<int>(outcome.code);
}

int run(int argc, char** argv, const Options& opt) {
  const auto t0 = std::chrono::steady_clock::now();
  std::unique_ptr<MpiSession> mpi;
  if (launched_by_mpi_launcher()) mpi = std::make_unique<MpiSession>(&argc, &argv);
  const int rank = mpi ? mpi->rank() : 0;
  const int size = mpi ? mpi->size() : 1;
  install_stop_handlers();

  TaskRegistry registry;
  register_kinds(registry);

  // Rank 0 validates the config; everyone gets the resolved text (or an empty one on error).
  RunConfig rc;
  int early_exit = 0;
  if (rank == 0) rc = validate_config(opt, registry, early_exit);
  if (mpi) {
    auto received = decode_run_config(mpi->broadcast(encode(rc)));
    if (!received) throw Error("malformed config broadcast");
    rc = *received;
  }
  if (rc.config_yaml.empty()) return early_exit != 0 ? early_exit : static_cast<int>(ExitCode::kBadInput);

  ParseResult parsed = parse_spec(rc.config_yaml, "resolved config", {}, registry);
  if (!parsed.spec) throw Error("the resolved config does not parse: " + parsed.errors[0].format());
  SweepSpec spec = std::move(*parsed.spec);
  Grid grid(spec);
  const Shard shard = rc.shard.empty() ? Shard{} : parse_shard(rc.shard);

  WorkerIdentity who;
  who.rank = rank;
  who.local_rank = mpi ? mpi->local_rank() : 0;
  who.host = hostname();
  who.cache_dir = rc.cache_dir;
  who.node_worker_index = mpi ? mpi->node_worker_index() : 0;
  who.node_workers = mpi ? mpi->node_workers() : 1;
  who.grace_seconds = spec.run.grace_seconds;
  who.pack = spec.run.pack;
  std::atomic<bool> cancel{false};
  StopWatcher stop_watcher;
  who.stopping = stop_watcher.flag();

  if (rank != 0) {
    std::unique_ptr<Transport> t = mpi->world();
    std::unique_ptr<Task> task = make_task(spec);
    worker_loop(*t, *task, *spec.kind, grid, who, &cancel);
    return 0;
  }

  RunProvenance prov;
  prov.command_line = command_line(argc, argv);
  prov.host = who.host;
  prov.ranks = size;
  prov.start_time = unix_now();
  prov.mpi_version = mpi_library_version();
  prov.libtorch_version = kLibtorchVersion;
  StoreOptions so;
  so.overwrite = opt.overwrite;
  so.retry_failed = opt.retry_failed;
  so.extend = opt.extend;
  so.shard = rc.shard;

  CoordinatorSettings cs;
  cs.policy = spec.run;
  cs.shard = shard;
  cs.quiet = opt.quiet;
  cs.live_progress = opt.progress == "always" || (opt.progress == "auto" && ::isatty(STDERR_FILENO));

  std::unique_ptr<Store> store;
  try {
    store = std::make_unique<Store>(spec, grid, so, prov, registry);
  } catch (const Error& e) {
    print_error(e);
    if (mpi) {
      auto t = mpi->world();
      for (int w = 1; w < size; ++w) t->send(w, Tag::kStop, {});
    }
    return static_cast<int>(e.exit_code());
  }
  const std::uint64_t recorded = store->ledger().done.size() + store->ledger().failed.size();
  report_recovery(*store, grid, shard, !rc.shard.empty(), opt.quiet);
  if (!opt.quiet) {
    const std::string points =
        spec.search ? fmt::format("at most {} points ({} boundary searches on a lattice of {} values)",
                                  most_points(spec, grid), search_cells(spec, grid).size(),
                                  spec.search->lattice_size())
                    : fmt::format("{} points", grid.size());
    fmt::print(stderr, "[emsweep] {}: {} ({} already recorded), {} rank{}, results {}\n", spec.name,
               points, recorded, size, size == 1 ? "" : "s", spec.output);
  }

  RunOutcome outcome;
  if (mpi && size > 1) {
    std::unique_ptr<Transport> t = mpi->world();
    std::vector<int> workers;
    for (int w = 1; w < size; ++w) workers.push_back(w);
    try {
      outcome = coordinate(*t, workers, *store, grid, spec, cs);
    } catch (const Error& e) {
      print_error(e);
      store.reset();
      mpi->abort(static_cast<int>(e.exit_code()));
    }
    store.reset();
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    print_summary(outcome, spec, wall);
    if (!opt.quiet) print_coordinator_cost(wall);
    if (outcome.workers_busy) mpi->abort(static_cast<int>(outcome.code));
    // Stopped by a signal: a rank may have died (the launcher stops the job when one does), and
    // MPI_Finalize would wait for it until the launcher's SIGKILL, which does not always come.
    if (outcome.interrupted) MpiSession::exit_after(30, static_cast<int>(outcome.code));
    return static_cast<int>(outcome.code);
  }

  return run_alone(std::move(store), grid, spec, cs, who, t0);
}

}  // namespace

int main(int argc, char** argv) {
  h5::silence_errors();
  // OpenBLAS loads with the organism's plugin, after this line: one BLAS thread per rank unless
  // the user says otherwise, also when emsweep-run is started directly (srun, mpirun).
  if (std::getenv("OPENBLAS_NUM_THREADS") == nullptr) setenv("OPENBLAS_NUM_THREADS", "1", 0);
  Options opt;
  CLI::App app{"emsweep run: run a sweep (alone, or under mpirun/srun); resumes an existing results file"};
  app.name("emsweep run");
  app.add_option("config", opt.config, "sweep config (YAML)")->required();
  app.add_option("--set", opt.sets, "override a setting, e.g. --set task.steps=50")->take_all()->expected(1);
  app.add_option("-o,--output", opt.output, "results file (overrides sweep.output)");
  app.add_option("--shard", opt.shard, "run only shard i/K of the grid (separate jobs)");
  app.add_option("--cache-dir", opt.cache_dir, "shared cache directory (default: next to the output)");
  app.add_flag("--overwrite", opt.overwrite, "replace an existing results file of any sweep");
  app.add_flag("--retry-failed", opt.retry_failed, "run points recorded as failed again");
  app.add_flag("--extend", opt.extend, "accept a config whose grid only grew");
  app.add_flag("-q,--quiet", opt.quiet, "no progress output");
  app.add_option("--progress", opt.progress, "progress line: auto, always, never")
      ->check(CLI::IsMember({"auto", "always", "never"}));
  auto* child_group = app.add_option_group("");  // hidden: the child of run.isolation: process
  child_group->add_option("--run-point", opt.run_point, "run one point of this resolved config");
  child_group->add_option("--index", opt.point_index, "the point's grid index");
  child_group->add_option("--attempt", opt.point_attempt, "the attempt number");
  child_group->add_option("--rank", opt.point_rank, "the rank running the point");
  child_group->add_option("--record", opt.record, "where to write the point's record");
  if (argc > 1 && std::string(argv[1]) == "--run-point") {
    app.get_option("config")->required(false);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : static_cast<int>(ExitCode::kBadInput);
  }
  if (opt.progress == "never") opt.quiet = true;
  try {
    if (!opt.run_point.empty()) return run_one_point(opt);
    return run(argc, argv, opt);
  } catch (const Error& e) {
    print_error(e);
    return static_cast<int>(e.exit_code());
  } catch (const std::exception& e) {
    fmt::print(stderr, "emsweep: internal error: {}\n", e.what());
    return static_cast<int>(ExitCode::kInternal);
  }
}
