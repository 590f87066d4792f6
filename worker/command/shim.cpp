// emsweep-shim: supervises a rank's `command` children, one point after another
// (worker/command/supervisor.h). A Supervisor starts it once with posix_spawn and a socket on
// descriptor 3 (command/shim_protocol.h) and sends it one spec per point. Not being an MPI
// process, it may fork: each point's program runs in a process group of its own, its output is
// drained into capped capture files, the timeout is enforced, and the whole group is killed when
// the child ends, when the rank says so, or when the rank dies (socket end-of-file; the shim
// then exits). It reaps every descendant (it is their subreaper) and ignores the job's stop
// signals: the rank decides when to stop.

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <climits>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "worker/command/shim_protocol.h"
#include "worker/command/supervisor.h"
#include "worker/command/unique_fd.h"

namespace emsweep::command {
namespace {

using Clock = std::chrono::steady_clock;

// Signals a whole job gets when it is stopped (mpirun, Slurm, a terminal): the shim outlives
// them so that it can clean up; the rank tells it what to do.
constexpr std::array kIgnoredSignals = {SIGTERM, SIGINT, SIGUSR1, SIGHUP, SIGPIPE};
// How much one read takes from a child's pipe.
constexpr std::size_t kReadChunkBytes = 64 << 10;
// While processes outside the child's group remain after it ended, they are killed again this
// often (each death reparents their own children to the shim).
constexpr auto kStragglerKillInterval = std::chrono::milliseconds(100);
// Status of the forked child when it could not exec (the shim reports the reason instead).
constexpr int kExecFailedStatus = 127;
// Timeouts and graces beyond this many seconds (about 30 years) are clamped to it.
constexpr double kLongestWaitSeconds = 1e9;
// The search path when the child's environment has no PATH (glibc's execvp default).
constexpr const char* kDefaultSearchPath = "/bin:/usr/bin";

std::string errno_text(int err) {
  return std::generic_category().message(err);
}

// Prints why the shim cannot do its work to its stderr (the rank's).
void complain(const std::string& message) {
  std::fprintf(stderr, "emsweep-shim: %s\n", message.c_str());
}

// Milliseconds from now until `t` for poll(), rounded up; 0 once passed.
int millis_until(Clock::time_point t) {
  const auto left = t - Clock::now();
  if (left <= Clock::duration::zero()) return 0;
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return static_cast<int>(std::min<decltype(ms)>(ms, INT_MAX));
}

// A wait of `s` seconds; longer than any run can last is clamped (the clock would overflow).
Clock::duration seconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(std::clamp(s, 0.0, kLongestWaitSeconds)));
}

// Closes every descriptor from `lowest` up, except `keep` (-1 = none).
void close_descriptors_from(int lowest, int keep) {
#ifdef SYS_close_range
  const auto close_range = [](unsigned first, unsigned last) {
    return first > last || ::syscall(SYS_close_range, first, last, 0) == 0;
  };
  const bool closed = keep < lowest
                          ? close_range(lowest, UINT_MAX)
                          : close_range(lowest, keep - 1) && close_range(keep + 1, UINT_MAX);
  if (closed) return;
#endif
  // Kernels before 5.9: close what /proc lists.
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return;
  std::vector<int> open;
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
    const int fd = std::atoi(entry->d_name);
    if (fd >= lowest && fd != keep && fd != ::dirfd(dir)) open.push_back(fd);
  }
  ::closedir(dir);
  for (int fd : open) ::close(fd);
}

// The pids of the shim's own children (it is single-threaded, so its main thread's list).
std::vector<pid_t> own_children() {
  std::vector<pid_t> pids;
  const std::string path = fmt::format("/proc/self/task/{}/children", ::getpid());
  if (FILE* f = std::fopen(path.c_str(), "re")) {
    long pid = 0;
    while (std::fscanf(f, "%ld", &pid) == 1) pids.push_back(static_cast<pid_t>(pid));
    std::fclose(f);
    return pids;
  }
  // Kernels without CONFIG_PROC_CHILDREN: every process whose parent is the shim.
  DIR* dir = ::opendir("/proc");
  if (dir == nullptr) return pids;
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
    FILE* f = std::fopen(fmt::format("/proc/{}/stat", entry->d_name).c_str(), "re");
    if (f == nullptr) continue;
    char line[1024] = {};
    const bool got = std::fgets(line, sizeof line, f) != nullptr;
    std::fclose(f);
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses; parse after the last ")".
    const char* close = got ? std::strrchr(line, ')') : nullptr;
    char state = 0;
    long ppid = 0;
    if (close != nullptr && std::sscanf(close + 1, " %c %ld", &state, &ppid) == 2 &&
        ppid == ::getpid()) {
      pids.push_back(static_cast<pid_t>(std::atol(entry->d_name)));
    }
  }
  ::closedir(dir);
  return pids;
}

// One output stream of the child, drained from its pipe into a capture file: the first half of
// the cap is written as it comes, the last half is kept in a ring and written at the end after
// a marker line saying how many bytes were dropped in between.
class Capture {
 public:
  Capture(std::string path, std::uint64_t cap)
      : path_(std::move(path)), head_limit_(cap / 2), tail_limit_(cap - cap / 2) {}

  // Creates or truncates the capture file ("" = discard); the reason when it cannot.
  [[nodiscard]] std::optional<std::string> open_file() {
    if (path_.empty()) return std::nullopt;
    file_.reset(::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!file_.valid()) {
      return fmt::format("cannot open the capture file '{}': {}", path_, errno_text(errno));
    }
    return std::nullopt;
  }

  // The read end of the child's pipe (non-blocking); reset when drained to end-of-file.
  UniqueFd& pipe() { return pipe_; }

  // Reads one chunk from the pipe; false when nothing more is there now (or ever).
  bool read_some() {
    static std::array<char, kReadChunkBytes> buffer;
    const ssize_t n = ::read(pipe_.get(), buffer.data(), buffer.size());
    if (n > 0) {
      take(buffer.data(), static_cast<std::size_t>(n));
      return true;
    }
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return errno == EINTR;
    pipe_.reset();  // end-of-file (or an error that will not go away)
    return false;
  }

  // Writes the kept tail (after the marker, when bytes were dropped) and closes the file.
  void finish() {
    while (pipe_.valid() && read_some()) {
    }
    pipe_.reset();
    if (const std::uint64_t dropped = total_ - head_taken_ - ring_.size(); dropped > 0) {
      write_file(
          fmt::format("\n[emsweep-shim: {} bytes dropped here; the capture keeps the "
                      "first {} and the last {} bytes]\n",
                      dropped, head_limit_, tail_limit_));
    }
    write_file(std::string_view(ring_).substr(ring_next_));
    write_file(std::string_view(ring_).substr(0, ring_next_));
    file_.reset();
  }

  // Bytes the child wrote to this stream.
  [[nodiscard]] std::uint64_t total() const { return total_; }

 private:
  void take(const char* data, std::size_t size) {
    total_ += size;
    const std::size_t to_head =
        static_cast<std::size_t>(std::min<std::uint64_t>(size, head_limit_ - head_taken_));
    head_taken_ += to_head;
    write_file(std::string_view(data, to_head));
    keep_in_ring(std::string_view(data + to_head, size - to_head));
  }

  // The ring holds the last tail_limit_ bytes; once full, ring_next_ is where the oldest is.
  void keep_in_ring(std::string_view data) {
    if (data.size() >= tail_limit_) {
      ring_.assign(data.substr(data.size() - tail_limit_));
      ring_next_ = 0;
      return;
    }
    const std::size_t room = tail_limit_ - ring_.size();
    const std::string_view fill = data.substr(0, std::min(room, data.size()));
    ring_.append(fill);
    data.remove_prefix(fill.size());
    while (!data.empty()) {
      const std::size_t n = std::min(data.size(), ring_.size() - ring_next_);
      ring_.replace(ring_next_, n, data.substr(0, n));
      ring_next_ = (ring_next_ + n) % ring_.size();
      data.remove_prefix(n);
    }
  }

  void write_file(std::string_view data) {
    while (file_.valid() && !data.empty()) {
      const ssize_t n = ::write(file_.get(), data.data(), data.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        // Keep draining the pipe (the child must never block on it), but stop writing.
        complain(
            fmt::format("cannot write the capture file '{}': {}; the rest of this stream "
                        "is discarded",
                        path_, errno_text(errno)));
        file_.reset();
        return;
      }
      data.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  std::string path_;
  std::uint64_t head_limit_;
  std::uint64_t tail_limit_;
  UniqueFd file_;
  UniqueFd pipe_;
  std::uint64_t total_ = 0;
  std::uint64_t head_taken_ = 0;
  std::string ring_;
  std::size_t ring_next_ = 0;
};

// What the forked child reports over its close-on-exec pipe when it cannot exec.
struct StartFailure {
  enum Step : int { kStdio, kChdir, kAffinity, kExec } step;
  int error;
};

// Everything the forked child needs, prepared before fork so the child only makes syscalls.
struct Launch {
  std::vector<char*> argv;  // null-terminated, pointing into the spec's strings
  std::vector<char*> envp;
  std::vector<std::string> candidates;  // paths to try for argv[0], in order
  std::string search_path;              // the PATH used, for messages
  cpu_set_t* cpus = nullptr;            // CPU_ALLOC'd, or null to inherit
  std::size_t cpus_size = 0;
  std::string oom_score_adj;
  Launch() = default;
  Launch(const Launch&) = delete;
  Launch& operator=(const Launch&) = delete;
  ~Launch() {
    if (cpus != nullptr) CPU_FREE(cpus);
  }
};

// Supervises the child of one point from fork to the end of its whole process group.
class PointSupervisor {
 public:
  PointSupervisor(int socket, ChildSpec spec)
      : socket_(socket),
        spec_(std::move(spec)),
        out_(spec_.stdout_path, spec_.capture_cap_bytes),
        err_(spec_.stderr_path, spec_.capture_cap_bytes) {}

  // Runs the child to the end; the result to report.
  ChildResult run(int sigchld_fd) {
    sigchld_fd_ = sigchld_fd;
    ChildResult result;
    if (auto why = prepare(); why) {
      result.outcome = ChildOutcome::kStartFailed;
      result.start_error = *why;
      return result;
    }
    const auto start = Clock::now();
    if (auto why = fork_child(); why) {
      result.outcome = ChildOutcome::kStartFailed;
      result.start_error = *why;
      return result;
    }
    if (spec_.timeout_seconds > 0) deadline_ = start + seconds(spec_.timeout_seconds);
    supervise();
    if (exec_status_.valid()) read_exec_status();  // the child may have ended just after polling
    result.wall_seconds = std::chrono::duration<double>(Clock::now() - start).count();
    out_.finish();
    err_.finish();
    result.stdout_bytes = out_.total();
    result.stderr_bytes = err_.total();
    result.peak_rss_kb = peak_rss_kb_;
    if (start_error_) {
      result.outcome = ChildOutcome::kStartFailed;
      result.start_error = *start_error_;
      result.peak_rss_kb = -1;
    } else if (stopped_because_) {
      result.outcome = *stopped_because_;
      result.signal = last_signal_;
    } else if (WIFEXITED(child_status_)) {
      result.outcome = ChildOutcome::kExited;
      result.exit_code = WEXITSTATUS(child_status_);
    } else {
      result.outcome = ChildOutcome::kSignaled;
      result.signal = WTERMSIG(child_status_);
    }
    return result;
  }

  // Whether the rank closed its end (then nobody reads the result).
  [[nodiscard]] bool rank_gone() const { return rank_gone_; }

 private:
  // Checks the spec and builds argv, envp and the rest; the start error, if any.
  std::optional<std::string> prepare() {
    if (spec_.argv.empty() || spec_.argv[0].empty()) return "the command is empty";
    for (auto* list : {&spec_.argv, &spec_.env}) {
      for (const auto& s : *list) {
        if (s.find('\0') != std::string::npos) {
          return fmt::format(
              "'{}' contains a NUL byte, which no argument or environment "
              "variable can hold",
              s.substr(0, s.find('\0')));
        }
      }
    }
    for (auto& s : spec_.argv) launch_.argv.push_back(s.data());
    launch_.argv.push_back(nullptr);
    for (auto& s : spec_.env) launch_.envp.push_back(s.data());
    launch_.envp.push_back(nullptr);

    // execvpe's lookup, but on the PATH of the child's environment rather than the shim's.
    const std::string& program = spec_.argv[0];
    if (program.find('/') != std::string::npos) {
      launch_.candidates.push_back(program);
    } else {
      launch_.search_path = kDefaultSearchPath;
      for (const auto& var : spec_.env) {
        if (var.starts_with("PATH=")) launch_.search_path = var.substr(5);
      }
      std::string_view rest = launch_.search_path;
      while (true) {
        const std::size_t colon = rest.find(':');
        std::string dir(rest.substr(0, colon));
        launch_.candidates.push_back((dir.empty() ? "." : dir) + "/" + program);
        if (colon == std::string_view::npos) break;
        rest.remove_prefix(colon + 1);
      }
    }

    if (!spec_.cpus.empty()) {
      const int highest = *std::max_element(spec_.cpus.begin(), spec_.cpus.end());
      if (*std::min_element(spec_.cpus.begin(), spec_.cpus.end()) < 0) {
        return "the CPU list holds a negative CPU number";
      }
      launch_.cpus = CPU_ALLOC(highest + 1);
      launch_.cpus_size = CPU_ALLOC_SIZE(highest + 1);
      CPU_ZERO_S(launch_.cpus_size, launch_.cpus);
      for (int cpu : spec_.cpus)
        CPU_SET_S(static_cast<std::size_t>(cpu), launch_.cpus_size, launch_.cpus);
    }
    launch_.oom_score_adj = std::to_string(spec_.oom_score_adj);

    if (auto why = out_.open_file(); why) return why;
    if (auto why = err_.open_file(); why) return why;
    return std::nullopt;
  }

  // Forks the child with its output on two pipes; the start error, if any.
  std::optional<std::string> fork_child() {
    int out[2];
    int err[2];
    int status[2];
    if (::pipe2(out, O_CLOEXEC) != 0) return "cannot create a pipe: " + errno_text(errno);
    UniqueFd out_write(out[1]);
    out_.pipe().reset(out[0]);
    if (::pipe2(err, O_CLOEXEC) != 0) return "cannot create a pipe: " + errno_text(errno);
    UniqueFd err_write(err[1]);
    err_.pipe().reset(err[0]);
    // Non-blocking: the shim polls it with the output pipes (the child's one write never blocks).
    if (::pipe2(status, O_CLOEXEC | O_NONBLOCK) != 0) {
      return "cannot create a pipe: " + errno_text(errno);
    }
    UniqueFd status_write(status[1]);
    exec_status_.reset(status[0]);
    UniqueFd dev_null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (!dev_null.valid()) return "cannot open /dev/null: " + errno_text(errno);

    const pid_t shim_pid = ::getpid();
    child_ = ::fork();
    if (child_ < 0) return "cannot fork: " + errno_text(errno);
    if (child_ == 0) {
      exec_child(shim_pid, dev_null.get(), out_write.get(), err_write.get(), status_write.get());
    }
    // Also here, so that the group exists before the shim first signals it.
    ::setpgid(child_, child_);
    children_left_ = true;
    for (Capture* c : {&out_, &err_}) ::fcntl(c->pipe().get(), F_SETFL, O_NONBLOCK);
    return std::nullopt;
  }

  // In the forked child: set up and exec, or report why not and exit.
  [[noreturn]] void exec_child(pid_t shim_pid, int dev_null, int out, int err, int status) {
    const auto fail = [status](StartFailure::Step step) { report_start_failure(status, step); };
    ::setpgid(0, 0);
    // Should the shim itself be SIGKILLed, the child goes with it (no one is left to end it).
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != shim_pid) {
      ::_exit(kExecFailedStatus);
    }
    for (int sig : kIgnoredSignals) ::signal(sig, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (::dup2(dev_null, STDIN_FILENO) < 0 || ::dup2(out, STDOUT_FILENO) < 0 ||
        ::dup2(err, STDERR_FILENO) < 0) {
      fail(StartFailure::kStdio);
    }
    close_descriptors_from(STDERR_FILENO + 1, status);
    if (!spec_.cwd.empty() && ::chdir(spec_.cwd.c_str()) != 0) fail(StartFailure::kChdir);
    if (launch_.cpus != nullptr && ::sched_setaffinity(0, launch_.cpus_size, launch_.cpus) != 0) {
      fail(StartFailure::kAffinity);
    }
    // Raising the score needs no privilege; where it fails the child runs anyway.
    if (int fd = ::open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC); fd >= 0) {
      [[maybe_unused]] ssize_t n =
          ::write(fd, launch_.oom_score_adj.data(), launch_.oom_score_adj.size());
      ::close(fd);
    }
    int error = ENOENT;
    bool denied = false;
    for (const auto& path : launch_.candidates) {
      ::execve(path.c_str(), launch_.argv.data(), launch_.envp.data());
      error = errno;
      if (error == EACCES) {
        denied = true;
      } else if (error != ENOENT && error != ENOTDIR && error != ESTALE && error != ENODEV &&
                 error != ETIMEDOUT) {
        break;  // a real error on a file that exists, as execvp
      }
    }
    errno = denied && (error == ENOENT || error == ENOTDIR) ? EACCES : error;
    report_start_failure(status, StartFailure::kExec);
  }

  // In the forked child: tells the shim which step failed with errno, and exits.
  [[noreturn]] static void report_start_failure(int status, StartFailure::Step step) {
    const StartFailure failure{step, errno};
    [[maybe_unused]] ssize_t n = ::write(status, &failure, sizeof failure);
    ::_exit(kExecFailedStatus);
  }

  // The message for a child that reported `failure` before exec.
  std::string describe(const StartFailure& failure) const {
    const std::string why = errno_text(failure.error);
    switch (failure.step) {
      case StartFailure::kStdio:
        return "cannot set up the child's standard streams: " + why;
      case StartFailure::kChdir:
        return fmt::format("cannot change to the working directory '{}': {}", spec_.cwd, why);
      case StartFailure::kAffinity:
        return fmt::format("cannot pin the child to CPUs {}: {}", fmt::join(spec_.cpus, ","), why);
      case StartFailure::kExec:
        break;
    }
    if (launch_.search_path.empty() || failure.error != ENOENT) {
      return fmt::format("cannot execute '{}': {}", spec_.argv[0], why);
    }
    return fmt::format("cannot execute '{}': {} (not found on the child's PATH={})", spec_.argv[0],
                       why, launch_.search_path);
  }

  // The event loop: drains output, reaps, and stops the group on timeout, command or rank
  // death, until no descendant is left.
  void supervise() {
    while (children_left_) {
      std::vector<pollfd> fds;
      const auto watch = [&fds](const UniqueFd& fd) {
        if (fd.valid()) fds.push_back({fd.get(), POLLIN, 0});
      };
      watch(out_.pipe());
      watch(err_.pipe());
      watch(exec_status_);
      if (!rank_gone_) fds.push_back({socket_, POLLIN, 0});
      fds.push_back({sigchld_fd_, POLLIN, 0});

      int timeout_ms = -1;
      const auto wake_at = [&timeout_ms](Clock::time_point t) {
        const int ms = millis_until(t);
        timeout_ms = timeout_ms < 0 ? ms : std::min(timeout_ms, ms);
      };
      if (!child_reaped_ && !stopped_because_ && deadline_) wake_at(*deadline_);
      if (!child_reaped_ && kill_at_) wake_at(*kill_at_);
      if (child_reaped_) wake_at(Clock::now() + kStragglerKillInterval);

      if (::poll(fds.data(), fds.size(), timeout_ms) < 0 && errno != EINTR) {
        complain("poll failed: " + errno_text(errno));
        stop(ChildOutcome::kCancelled);
      }
      if (out_.pipe().valid()) out_.read_some();
      if (err_.pipe().valid()) err_.read_some();
      if (exec_status_.valid()) read_exec_status();
      if (!rank_gone_) read_control();
      reap();

      const auto now = Clock::now();
      if (!child_reaped_ && !stopped_because_ && deadline_ && now >= *deadline_) {
        stop(ChildOutcome::kTimeout);
      }
      if (!child_reaped_ && kill_at_ && now >= *kill_at_) signal_group(SIGKILL);
      if (child_reaped_ && children_left_) {
        for (pid_t pid : own_children()) ::kill(pid, SIGKILL);
      }
    }
  }

  // Reads the exec status pipe: end-of-file when exec succeeded, a StartFailure otherwise.
  void read_exec_status() {
    StartFailure failure{};
    const ssize_t n = ::read(exec_status_.get(), &failure, sizeof failure);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
    if (n == static_cast<ssize_t>(sizeof failure)) start_error_ = describe(failure);
    exec_status_.reset();
  }

  // Reads commands from the rank; end-of-file means it died.
  void read_control() {
    char command = 0;
    const ssize_t n = ::recv(socket_, &command, 1, MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
    if (n <= 0) {
      rank_gone_ = true;
      stop(ChildOutcome::kCancelled);
    } else if (command == shim::kCommandKill) {
      stop(ChildOutcome::kCancelled);
    }
  }

  // Starts terminating the group: SIGTERM now, SIGKILL after the kill grace.
  void stop(ChildOutcome why) {
    if (stopped_because_ || child_reaped_) return;
    stopped_because_ = why;
    if (spec_.kill_grace_seconds > 0) {
      signal_group(SIGTERM);
      kill_at_ = Clock::now() + seconds(spec_.kill_grace_seconds);
    } else {
      signal_group(SIGKILL);
    }
  }

  // Sends `sig` to the child's group (waking it first, should it be stopped).
  void signal_group(int sig) {
    ::kill(-child_, sig);
    if (sig != SIGKILL) ::kill(-child_, SIGCONT);
    last_signal_ = sig;
    if (sig == SIGKILL) kill_at_.reset();
  }

  // Reaps every descendant that has ended. When the child itself ends, whatever remains of its
  // group is killed first, while the child's zombie still holds the group id.
  void reap() {
    signalfd_siginfo info[8];
    while (::read(sigchld_fd_, info, sizeof info) > 0) {
    }
    while (true) {
      siginfo_t ended{};
      if (::waitid(P_ALL, 0, &ended, WEXITED | WNOHANG | WNOWAIT) != 0) {
        if (errno == EINTR) continue;
        children_left_ = false;  // ECHILD: nothing left to reap
        return;
      }
      if (ended.si_pid == 0) return;
      if (ended.si_pid == child_ && !child_reaped_) ::kill(-child_, SIGKILL);
      int status = 0;
      // wait4's usage of a reaped process covers it and the descendants it reaped itself;
      // orphans come here. (RUSAGE_CHILDREN would mix in the points before this one.)
      rusage usage{};
      while (::wait4(ended.si_pid, &status, 0, &usage) < 0 && errno == EINTR) {
      }
      peak_rss_kb_ = std::max<std::int64_t>(peak_rss_kb_, usage.ru_maxrss);
      if (ended.si_pid == child_) {
        child_reaped_ = true;
        child_status_ = status;
      }
    }
  }

  int socket_;
  ChildSpec spec_;
  Capture out_;
  Capture err_;
  Launch launch_;
  int sigchld_fd_ = -1;
  UniqueFd exec_status_;  // the child's close-on-exec status pipe
  pid_t child_ = -1;      // also its process group id
  bool child_reaped_ = false;
  bool children_left_ = false;  // until waitid says ECHILD
  int child_status_ = 0;
  std::optional<Clock::time_point> deadline_;  // the timeout
  std::optional<Clock::time_point> kill_at_;   // end of the kill grace after SIGTERM
  std::optional<ChildOutcome> stopped_because_;
  int last_signal_ = 0;
  bool rank_gone_ = false;
  std::optional<std::string> start_error_;
  std::int64_t peak_rss_kb_ = -1;  // largest ru_maxrss of the processes reaped for this point
};

// Waits (blocking) for the next point's spec and returns its payload; nullopt when the rank went
// away. A kill command for a point that has already ended is skipped. Reads not a byte beyond
// the frame: a kill command for this point may follow at once.
std::optional<std::string> read_spec_frame(int socket) {
  for (;;) {
    char message = 0;
    const ssize_t n = ::recv(socket, &message, 1, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    if (message == shim::kMessageSpec) break;
    if (message != shim::kCommandKill) {
      complain(fmt::format("unexpected message byte {} from the rank", static_cast<int>(message)));
      return std::nullopt;
    }
  }
  shim::FrameReader reader;
  char buffer[4096];
  while (!reader.complete()) {
    const ssize_t n = ::recv(socket, buffer, std::min(sizeof buffer, reader.missing()), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    reader.feed(buffer, static_cast<std::size_t>(n));
  }
  return std::string(reader.payload());
}

int shim_main() {
  if (::fcntl(shim::kSocketFd, F_GETFD) < 0) {
    complain(
        fmt::format("started without its socket on descriptor {}; it is run by emsweep "
                    "for `command` tasks, not by hand",
                    shim::kSocketFd));
    return 2;
  }
  for (int sig : kIgnoredSignals) ::signal(sig, SIG_IGN);
  // Closed standard descriptors would be reused by pipes and then clash with dup2 in the child.
  for (int fd = STDIN_FILENO; fd <= STDERR_FILENO; ++fd) {
    if (::fcntl(fd, F_GETFD) < 0) ::open("/dev/null", O_RDWR);
  }
  close_descriptors_from(shim::kSocketFd + 1, -1);
  ::fcntl(shim::kSocketFd, F_SETFD, FD_CLOEXEC);
  // Orphaned descendants come to the shim (not to init), so it can kill and reap them.
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
    complain("cannot become a child subreaper: " + errno_text(errno) +
             "; descendants that leave the child's process group may survive it");
  }
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  ::sigprocmask(SIG_BLOCK, &chld, nullptr);
  UniqueFd sigchld(::signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!sigchld.valid()) {
    complain("cannot create a signalfd: " + errno_text(errno));
    return 1;
  }

  // One point after another, until the rank closes its end.
  for (;;) {
    const std::optional<std::string> payload = read_spec_frame(shim::kSocketFd);
    if (!payload) return 0;  // the rank is gone (or done) before it said what to run next
    ChildSpec spec;
    try {
      spec = shim::decode_spec(*payload);
    } catch (const shim::ProtocolError& e) {
      complain(e.what());
      return 2;
    }
    if (!shim::send_all(shim::kSocketFd, {&shim::kMessageAccepted, 1})) return 0;
    PointSupervisor supervisor(shim::kSocketFd, std::move(spec));
    const ChildResult result = supervisor.run(sigchld.get());
    if (supervisor.rank_gone()) return 0;  // nobody to tell
    if (!shim::send_all(shim::kSocketFd, shim::frame(shim::encode_result(result)))) return 1;
  }
}

}  // namespace
}  // namespace emsweep::command

int main() {
  return emsweep::command::shim_main();
}
