// Supervised child processes for the `command` task kind. A rank never forks: it starts the
// small exec shim `emsweep-shim` with posix_spawn, once, and keeps it for point after point; the
// shim (not an MPI process) forks each point's program into a process group of its own, drains
// its output into capped files, enforces the timeout, and kills the whole group when the point
// ends, when it is told to, or when the rank that started it dies (its socket reaches
// end-of-file).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace emsweep::command {

// Everything needed to start and supervise one child.
struct ChildSpec {
  std::vector<std::string> argv;        // argv[0] is looked up on PATH (of `env`) unless it has a '/'
  std::vector<std::string> env;         // the child's whole environment, "NAME=value" each
  std::string cwd;                      // the child's working directory ("" = the caller's)
  std::string stdout_path;              // capture file for stdout (created or truncated)
  std::string stderr_path;              // capture file for stderr (created or truncated)
  std::uint64_t capture_cap_bytes = 16u << 20;  // per stream: first half and last half kept
  double timeout_seconds = 0;           // wall-time limit of the attempt; 0 = none
  double kill_grace_seconds = 10;       // SIGTERM to the group, then SIGKILL after this long [s]
  std::vector<int> cpus;                // CPU affinity of the child (empty = inherit)
  int oom_score_adj = 500;              // raised so the kernel kills a child before a rank
  std::string shim_path;                // the emsweep-shim executable ("" = default_shim_path())
};

// How a supervised child ended.
enum class ChildOutcome {
  kExited,       // exited by itself (exit_code holds its status)
  kSignaled,     // killed by a signal it did not get from us (signal holds it)
  kTimeout,      // passed timeout_seconds; its group was terminated
  kStartFailed,  // could not be started (start_error holds the errno text)
  kCancelled,    // stopped because the caller asked (cancel), not by its own doing
};

// What the supervisor observed.
struct ChildResult {
  ChildOutcome outcome = ChildOutcome::kStartFailed;
  int exit_code = -1;            // when kExited
  int signal = 0;                // when kSignaled (also the last signal sent on timeout/cancel)
  double wall_seconds = 0;       // from start to the group's end
  std::int64_t peak_rss_kb = -1; // largest resident set of the child and its descendants; -1 unknown
  std::string start_error;       // when kStartFailed: what failed and why, with the errno text
                                 // (e.g. "cannot execute 'train.py': No such file or directory")
  std::uint64_t stdout_bytes = 0;  // bytes the child wrote (before capping)
  std::uint64_t stderr_bytes = 0;
};

// Runs children one after another through one emsweep-shim kept alive between them, which saves
// the shim's start (an exec and its dynamic loading) on every point but the first. A shim that
// died between points is replaced before the next one. Not thread-safe: one per thread (a
// worker rank runs its points one at a time). Destroying it ends the shim.
class Supervisor {
 public:
  Supervisor();
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // Starts the child and waits for it and its whole process group to end. When `cancel`
  // becomes true the child gets `cancel_grace_seconds` more to finish, then SIGTERM,
  // kill_grace, SIGKILL (outcome kCancelled unless it ended by itself in the grace period).
  // Never busy-waits. Throws TaskError only when the shim cannot be started or ends without a
  // report (it was killed during the point); a child that cannot start is kStartFailed.
  [[nodiscard]] ChildResult run(const ChildSpec& spec, const std::atomic<bool>* cancel = nullptr,
                                double cancel_grace_seconds = 0);

  // The pid of the shim kept for the next point, or -1 when none runs (for tests).
  [[nodiscard]] int shim_pid() const;

 private:
  class Shim;
  std::unique_ptr<Shim> shim_;
};

// One child through a shim of its own, started for it and ended afterwards (Supervisor::run
// with a fresh Supervisor; same guarantees, one exec more per point).
[[nodiscard]] ChildResult run_child(const ChildSpec& spec, const std::atomic<bool>* cancel = nullptr,
                                    double cancel_grace_seconds = 0);

// The last `max_bytes` of a capture file, invalid UTF-8 replaced by U+FFFD ("" if missing).
[[nodiscard]] std::string read_tail_utf8(const std::string& path, std::size_t max_bytes);

// The shim's path: `emsweep-shim` in the directory of the running executable, or the
// EMSWEEP_SHIM environment variable when set.
[[nodiscard]] std::string default_shim_path();

// "SIGTERM" for 15, "signal 42" for an unnamed one.
[[nodiscard]] std::string signal_name(int signal);

}  // namespace emsweep::command
