#include "worker/command/supervisor.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <system_error>
#include <utility>

#include <fmt/format.h>

#include "worker/command/shim_protocol.h"
#include "worker/command/unique_fd.h"
#include "sweep/core/error.h"

namespace emsweep::command {
namespace {

using Clock = std::chrono::steady_clock;

// How often a waiting rank looks at the cancel flag (it sleeps in poll() in between).
constexpr auto kCancelCheckInterval = std::chrono::milliseconds(100);
// A cancel grace beyond this many seconds (about 30 years) is clamped to it.
constexpr double kLongestGraceSeconds = 1e9;
// The shim's file name, next to emsweep-run.
constexpr const char* kShimName = "emsweep-shim";
// What read_tail_utf8 puts in place of invalid UTF-8: U+FFFD REPLACEMENT CHARACTER.
constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
// A UTF-8 sequence is at most this long, so a tail starts at most this many bytes late.
constexpr int kMaxUtf8Continuation = 3;

std::string errno_text(int err) {
  return std::generic_category().message(err);
}

const char* const kShimHint =
    "the emsweep-shim executable is built with emsweep-run and must sit next to it, or be named "
    "by the EMSWEEP_SHIM environment variable";

// "exit status 2" / "killed by SIGKILL", for a waitpid status.
std::string describe_status(int status) {
  if (WIFEXITED(status)) return fmt::format("exit status {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by " + signal_name(WTERMSIG(status));
  return fmt::format("wait status {}", status);
}

// posix_spawn's attribute and file-action objects, destroyed on scope exit.
struct SpawnAttributes {
  posix_spawnattr_t attr;
  posix_spawn_file_actions_t actions;
  SpawnAttributes() {
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_init(&actions);
  }
  SpawnAttributes(const SpawnAttributes&) = delete;
  SpawnAttributes& operator=(const SpawnAttributes&) = delete;
  ~SpawnAttributes() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
};

// Reads the shim's answers to a spec (kMessageAccepted, then the result frame), sending the kill
// command once `cancel` has been set for `cancel_grace` seconds. Returns when the result is
// complete or the shim closed the socket; `accepted` says whether the shim took the point.
void await_result(int socket, shim::FrameReader& reader, bool& accepted,
                  const std::atomic<bool>* cancel, double cancel_grace_seconds) {
  std::optional<Clock::time_point> kill_at;
  bool kill_sent = false;
  while (!reader.complete()) {
    int timeout_ms = -1;  // nothing to watch but the socket
    if (cancel != nullptr && !kill_sent) {
      if (!kill_at && cancel->load()) {
        kill_at = Clock::now() +
                  std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
                      std::clamp(cancel_grace_seconds, 0.0, kLongestGraceSeconds)));
      }
      if (kill_at && Clock::now() >= *kill_at) {
        // A shim that has just ended cannot take it; its result (or its end) follows anyway.
        [[maybe_unused]] bool sent = shim::send_all(socket, {&shim::kCommandKill, 1});
        kill_sent = true;
      } else {
        auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(kCancelCheckInterval);
        if (kill_at) {
          wait = std::min(wait, std::chrono::ceil<std::chrono::milliseconds>(
                                    std::max(*kill_at - Clock::now(), Clock::duration::zero())));
        }
        timeout_ms = static_cast<int>(wait.count());
      }
    }
    pollfd fd{socket, POLLIN, 0};
    const int ready = ::poll(&fd, 1, timeout_ms);
    if (ready < 0 && errno != EINTR) {
      throw TaskError("cannot wait for the command shim: poll failed: " + errno_text(errno));
    }
    if (ready > 0) {
      std::array<char, 4096> buffer;
      const std::size_t want = accepted ? std::min(buffer.size(), reader.missing()) : 1;
      const ssize_t n = ::recv(socket, buffer.data(), want, MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) return;  // the shim is gone
      if (n <= 0) continue;
      if (accepted) {
        reader.feed(buffer.data(), static_cast<std::size_t>(n));
      } else if (buffer[0] == shim::kMessageAccepted) {
        accepted = true;
      } else {
        throw TaskError(fmt::format("the command shim sent byte {} where it acknowledges a point",
                                    static_cast<int>(buffer[0])),
                        kShimHint);
      }
    }
  }
}

// Whether `c` is a UTF-8 continuation byte (10xxxxxx).
bool is_continuation(unsigned char c) {
  return (c & 0xC0) == 0x80;
}

// `in` with every ill-formed UTF-8 sequence replaced by U+FFFD: one per maximal subpart, as
// the Unicode standard (chapter 3, "U+FFFD Substitution of Maximal Subparts") recommends.
std::string valid_utf8(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  std::size_t i = 0;
  while (i < in.size()) {
    const auto lead = static_cast<unsigned char>(in[i]);
    if (lead < 0x80) {
      out += static_cast<char>(lead);
      ++i;
      continue;
    }
    // Table 3-7 (well-formed byte sequences): how many bytes follow, and the range of the
    // first of them (which excludes overlong forms, surrogates and code points > U+10FFFF).
    int follow = 0;
    unsigned char low = 0x80;
    unsigned char high = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
      follow = 1;
    } else if (lead == 0xE0) {
      follow = 2, low = 0xA0;
    } else if (lead == 0xED) {
      follow = 2, high = 0x9F;
    } else if (lead >= 0xE1 && lead <= 0xEF) {
      follow = 2;
    } else if (lead == 0xF0) {
      follow = 3, low = 0x90;
    } else if (lead == 0xF4) {
      follow = 3, high = 0x8F;
    } else if (lead >= 0xF1 && lead <= 0xF3) {
      follow = 3;
    } else {
      out += kReplacement;
      ++i;
      continue;
    }
    std::size_t end = i + 1;
    int seen = 0;
    for (; seen < follow && end < in.size(); ++seen, ++end) {
      const auto c = static_cast<unsigned char>(in[end]);
      if (c < (seen == 0 ? low : 0x80) || c > (seen == 0 ? high : 0xBF)) break;
    }
    if (seen == follow) {
      out.append(in.substr(i, end - i));
    } else {
      out += kReplacement;
    }
    i = end;
  }
  return out;
}

}  // namespace

// A running emsweep-shim and the rank's end of its socket. Destroying it closes the socket
// (the shim then ends the child, if one runs, and exits) and reaps the shim, so no path leaves
// a zombie behind.
class Supervisor::Shim {
 public:
  // Starts `path` with the other end of a new socket as its descriptor shim::kSocketFd.
  explicit Shim(std::string path) : path_(std::move(path)) {
    int ends[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) != 0) {
      throw TaskError("cannot create a socket for the command shim: " + errno_text(errno));
    }
    socket_.reset(ends[0]);
    UniqueFd shim_end(ends[1]);
    if (shim_end.get() == shim::kSocketFd) {
      // dup2 onto itself would keep close-on-exec set; move it out of the way first.
      const int moved = ::fcntl(shim_end.get(), F_DUPFD_CLOEXEC, shim::kSocketFd + 1);
      const int error = errno;
      shim_end.reset(moved);
      if (!shim_end.valid()) {
        throw TaskError("cannot duplicate the command shim's socket: " + errno_text(error));
      }
    }

    SpawnAttributes spawn;
    // The socket first: stdin's /dev/null must not replace it should it sit on descriptor 0.
    posix_spawn_file_actions_adddup2(&spawn.actions, shim_end.get(), shim::kSocketFd);
    posix_spawn_file_actions_addopen(&spawn.actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    // The calling thread's mask and the rank's handlers (MPI's, emsweep's) do not apply there.
    sigset_t none;
    sigemptyset(&none);
    sigset_t all;
    sigfillset(&all);
    posix_spawnattr_setsigmask(&spawn.attr, &none);
    posix_spawnattr_setsigdefault(&spawn.attr, &all);
    posix_spawnattr_setflags(&spawn.attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    std::string arg0 = path_;
    char* argv[] = {arg0.data(), nullptr};
    if (const int rc =
            ::posix_spawn(&pid_, path_.c_str(), &spawn.actions, &spawn.attr, argv, environ);
        rc != 0) {
      throw TaskError(fmt::format("cannot start the command shim '{}': {}", path_, errno_text(rc)),
                      kShimHint);
    }
  }
  Shim(const Shim&) = delete;
  Shim& operator=(const Shim&) = delete;
  ~Shim() {
    socket_.reset();
    wait();
  }

  // The rank's end of the socket.
  [[nodiscard]] int socket() const { return socket_.get(); }
  // The executable it runs.
  [[nodiscard]] const std::string& path() const { return path_; }
  // Its pid (-1 once reaped).
  [[nodiscard]] pid_t pid() const { return pid_; }

  // Whether it still waits for a point: between points it sends nothing, so a readable socket
  // means end-of-file (it died) or a message out of turn; either way it is not to be used.
  [[nodiscard]] bool idle_and_alive() const {
    pollfd fd{socket_.get(), POLLIN, 0};
    return ::poll(&fd, 1, 0) == 0;
  }

  // Waits for the shim to exit; its wait status.
  int wait() {
    if (pid_ > 0) {
      while (::waitpid(pid_, &status_, 0) < 0 && errno == EINTR) {
      }
      pid_ = -1;
    }
    return status_;
  }

 private:
  std::string path_;
  UniqueFd socket_;
  pid_t pid_ = -1;
  int status_ = 0;
};

Supervisor::Supervisor() = default;

Supervisor::~Supervisor() = default;

int Supervisor::shim_pid() const {
  return shim_ ? shim_->pid() : -1;
}

ChildResult Supervisor::run(const ChildSpec& spec, const std::atomic<bool>* cancel,
                            double cancel_grace_seconds) {
  const std::string shim_path = spec.shim_path.empty() ? default_shim_path() : spec.shim_path;
  const std::string message = shim::spec_message(spec);
  for (;;) {
    // A shim kept from the last point is used again unless it died meanwhile (or is another).
    if (shim_ && (shim_->path() != shim_path || !shim_->idle_and_alive())) shim_.reset();
    const bool fresh = !shim_;
    if (fresh) shim_ = std::make_unique<Shim>(shim_path);
    shim::FrameReader reader;
    bool accepted = false;
    try {
      // A shim that failed (or died) closes the socket; its exit status below says why.
      if (shim::send_all(shim_->socket(), message)) {
        await_result(shim_->socket(), reader, accepted, cancel, cancel_grace_seconds);
      }
    } catch (...) {
      shim_.reset();  // closing the socket ends the child, and the shim
      throw;
    }
    if (reader.complete()) {
      try {
        return shim::decode_result(reader.payload());
      } catch (const shim::ProtocolError& e) {
        shim_.reset();
        throw TaskError(e.what(), kShimHint);
      }
    }
    const int status = shim_->wait();
    shim_.reset();
    // A kept shim that died before it took the point (killed while idle): the point has not
    // started, so a fresh shim runs it.
    if (!fresh && !accepted) continue;
    throw TaskError(fmt::format("the command shim '{}' ended ({}) without saying how the child "
                                "ended; its own message, if any, is on the rank's stderr",
                                shim_path, describe_status(status)),
                    kShimHint);
  }
}

ChildResult run_child(const ChildSpec& spec, const std::atomic<bool>* cancel,
                      double cancel_grace_seconds) {
  Supervisor supervisor;
  return supervisor.run(spec, cancel, cancel_grace_seconds);
}

std::string read_tail_utf8(const std::string& path, std::size_t max_bytes) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st {};
  if (!fd.valid() || ::fstat(fd.get(), &st) != 0) return "";
  const auto size = static_cast<std::uint64_t>(st.st_size);
  const std::uint64_t start = size > max_bytes ? size - max_bytes : 0;
  std::string bytes(static_cast<std::size_t>(size - start), '\0');
  std::size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t n =
        ::pread(fd.get(), bytes.data() + got, bytes.size() - got, static_cast<off_t>(start + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // shrunk meanwhile (or unreadable): keep what was read
    got += static_cast<std::size_t>(n);
  }
  bytes.resize(got);
  std::string_view tail = bytes;
  if (start > 0) {
    // Cut mid-sequence: drop the orphaned continuation bytes rather than replace them.
    for (int i = 0; i < kMaxUtf8Continuation && !tail.empty() &&
                    is_continuation(static_cast<unsigned char>(tail.front()));
         ++i) {
      tail.remove_prefix(1);
    }
  }
  return valid_utf8(tail);
}

std::string default_shim_path() {
  if (const char* env = std::getenv("EMSWEEP_SHIM"); env != nullptr && *env != '\0') return env;
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return kShimName;  // posix_spawn then fails with a message naming it
  return (exe.parent_path() / kShimName).string();
}

std::string signal_name(int signal) {
  static constexpr std::pair<int, const char*> kNames[] = {
      {SIGHUP, "SIGHUP"},       {SIGINT, "SIGINT"},   {SIGQUIT, "SIGQUIT"},   {SIGILL, "SIGILL"},
      {SIGTRAP, "SIGTRAP"},     {SIGABRT, "SIGABRT"}, {SIGBUS, "SIGBUS"},     {SIGFPE, "SIGFPE"},
      {SIGKILL, "SIGKILL"},     {SIGUSR1, "SIGUSR1"}, {SIGSEGV, "SIGSEGV"},   {SIGUSR2, "SIGUSR2"},
      {SIGPIPE, "SIGPIPE"},     {SIGALRM, "SIGALRM"}, {SIGTERM, "SIGTERM"},   {SIGCHLD, "SIGCHLD"},
      {SIGCONT, "SIGCONT"},     {SIGSTOP, "SIGSTOP"}, {SIGTSTP, "SIGTSTP"},   {SIGTTIN, "SIGTTIN"},
      {SIGTTOU, "SIGTTOU"},     {SIGURG, "SIGURG"},   {SIGXCPU, "SIGXCPU"},   {SIGXFSZ, "SIGXFSZ"},
      {SIGVTALRM, "SIGVTALRM"}, {SIGPROF, "SIGPROF"}, {SIGWINCH, "SIGWINCH"}, {SIGIO, "SIGIO"},
      {SIGPWR, "SIGPWR"},       {SIGSYS, "SIGSYS"},
  };
  for (const auto& [number, name] : kNames) {
    if (number == signal) return name;
  }
  return fmt::format("signal {}", signal);
}

}  // namespace emsweep::command
