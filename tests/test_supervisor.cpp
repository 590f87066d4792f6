// The `command` kind's supervisor on real processes: exit codes and signals, the timeout and
// cancel sequences, no descendant outliving its point (not even when the rank is SIGKILLed),
// capped capture, start failures, the child's environment, and a rank that waits without
// using CPU or leaking descriptors.
#include <catch2/catch.hpp>

#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "worker/command/shim_protocol.h"
#include "worker/command/supervisor.h"
#include "sweep/core/error.h"

using namespace emsweep;
using namespace emsweep::command;
namespace fs = std::filesystem;
using std::chrono::duration;
using std::chrono::steady_clock;

namespace {

// How long a test waits for something that should happen "within a few seconds".
constexpr auto kPatience = std::chrono::seconds(10);
// Beyond timeout + kill grace, how late the timeout may end before it counts as not firing.
constexpr double kTimeoutSlackSeconds = 5;

// A fresh directory per call, removed when the test program exits.
std::string temp_dir() {
  struct Made {
    std::vector<fs::path> dirs;
    ~Made() {
      std::error_code ec;
      for (const auto& d : dirs) fs::remove_all(d, ec);
    }
  };
  static Made made;
  auto d = fs::temp_directory_path() / ("emsweep-supervisor-" + std::to_string(::getpid()) + "-" +
                                        std::to_string(made.dirs.size() + 1));
  fs::remove_all(d);
  fs::create_directories(d);
  made.dirs.push_back(d);
  return d.string();
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

// A spec running `argv` with a minimal environment and captures in `dir`.
ChildSpec spec_in(const std::string& dir, std::vector<std::string> argv) {
  ChildSpec spec;
  spec.argv = std::move(argv);
  spec.env = {"PATH=/usr/bin:/bin"};
  spec.stdout_path = dir + "/stdout";
  spec.stderr_path = dir + "/stderr";
  spec.kill_grace_seconds = 1;
  spec.shim_path = EMSWEEP_SHIM_PATH;
  return spec;
}

std::vector<std::string> sh(const std::string& script) {
  return {"/bin/sh", "-c", script};
}

int open_descriptors() {
  int n = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

// run_child, checking that the rank's process holds no more descriptors afterwards.
ChildResult run(const ChildSpec& spec, const std::atomic<bool>* cancel = nullptr,
                double cancel_grace = 0) {
  const int before = open_descriptors();
  ChildResult result = run_child(spec, cancel, cancel_grace);
  CHECK(open_descriptors() == before);
  return result;
}

// The pids in `path`, one a line, once it has `count` whole lines (empty after kPatience).
std::vector<pid_t> await_pids(const std::string& path, std::size_t count) {
  const auto until = steady_clock::now() + kPatience;
  while (steady_clock::now() < until) {
    const std::string text = read_all(path);
    if (static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) >= count) {
      std::vector<pid_t> pids;
      std::istringstream in(text);
      for (long pid; in >> pid;) pids.push_back(static_cast<pid_t>(pid));
      return pids;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return {};
}

bool gone(pid_t pid) {
  return ::kill(pid, 0) != 0 && errno == ESRCH;
}

// Whether every pid is gone within kPatience.
bool all_gone_soon(const std::vector<pid_t>& pids) {
  const auto until = steady_clock::now() + kPatience;
  while (steady_clock::now() < until) {
    if (std::all_of(pids.begin(), pids.end(), gone)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

// Whether `pid`, a child of this process, ends and is reaped within kPatience.
bool reaped_soon(pid_t pid) {
  const auto until = steady_clock::now() + kPatience;
  while (steady_clock::now() < until) {
    if (::waitpid(pid, nullptr, WNOHANG) == pid) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

// Makes this process the subreaper of its descendants for one test: orphans come to it.
class SubreaperScope {
 public:
  SubreaperScope() { REQUIRE(::prctl(PR_SET_CHILD_SUBREAPER, 1) == 0); }
  SubreaperScope(const SubreaperScope&) = delete;
  SubreaperScope& operator=(const SubreaperScope&) = delete;
  ~SubreaperScope() { ::prctl(PR_SET_CHILD_SUBREAPER, 0); }
};

}  // namespace

TEST_CASE("a child that exits reports its exit code and its output", "[supervisor]") {
  const std::string dir = temp_dir();
  SECTION("exit 0") {
    const ChildResult r = run(spec_in(dir, sh("echo hello; echo oops >&2")));
    CHECK(r.outcome == ChildOutcome::kExited);
    CHECK(r.exit_code == 0);
    CHECK(r.stdout_bytes == 6);
    CHECK(r.stderr_bytes == 5);
    CHECK(read_all(dir + "/stdout") == "hello\n");
    CHECK(read_all(dir + "/stderr") == "oops\n");
    CHECK(r.wall_seconds > 0);
  }
  SECTION("exit 3") {
    const ChildResult r = run(spec_in(dir, sh("exit 3")));
    CHECK(r.outcome == ChildOutcome::kExited);
    CHECK(r.exit_code == 3);
  }
}

TEST_CASE("a child killed by a signal of its own is kSignaled", "[supervisor]") {
  const ChildResult r = run(spec_in(temp_dir(), sh("kill -SEGV $$")));
  CHECK(r.outcome == ChildOutcome::kSignaled);
  CHECK(r.signal == SIGSEGV);
}

TEST_CASE("arguments reach the child byte for byte", "[supervisor]") {
  const std::string dir = temp_dir();
  const std::string arg = "two\nlines, 'quotes' \"$HOME\" \xff\xfe and spaces  ";
  auto spec = spec_in(dir, {"/bin/sh", "-c", R"(printf '%s' "$1")", "sh", arg});
  const ChildResult r = run(spec);
  CHECK(r.outcome == ChildOutcome::kExited);
  CHECK(read_all(dir + "/stdout") == arg);
}

TEST_CASE("the timeout ends the whole group, with SIGKILL when SIGTERM is ignored",
          "[supervisor]") {
  const std::string dir = temp_dir();
  auto spec = spec_in(dir, sh(R"(trap '' TERM; echo $$ > pids; sleep 1000 & echo $! >> pids;
                                  wait; wait)"));
  spec.cwd = dir;
  spec.timeout_seconds = 0.5;
  spec.kill_grace_seconds = 0.5;
  const ChildResult r = run(spec);
  CHECK(r.outcome == ChildOutcome::kTimeout);
  CHECK(r.signal == SIGKILL);
  CHECK(r.wall_seconds >= 0.9);
  CHECK(r.wall_seconds < spec.timeout_seconds + spec.kill_grace_seconds + kTimeoutSlackSeconds);
  const auto pids = await_pids(dir + "/pids", 2);
  REQUIRE(pids.size() == 2);
  CHECK(gone(pids[0]));
  CHECK(gone(pids[1]));
}

TEST_CASE("a child that honours SIGTERM ends the kill grace early", "[supervisor]") {
  auto spec = spec_in(temp_dir(), {"sleep", "1000"});
  spec.timeout_seconds = 0.3;
  spec.kill_grace_seconds = 60;
  const ChildResult r = run(spec);
  CHECK(r.outcome == ChildOutcome::kTimeout);
  CHECK(r.signal == SIGTERM);
  CHECK(r.wall_seconds < spec.timeout_seconds + kTimeoutSlackSeconds);
}

TEST_CASE("no grandchild outlives a child that exits", "[supervisor]") {
  const std::string dir = temp_dir();
  SECTION("one in the child's process group") {
    auto spec = spec_in(dir, sh("sleep 1000 & echo $! > pids; exit 0"));
    spec.cwd = dir;
    const ChildResult r = run(spec);
    CHECK(r.outcome == ChildOutcome::kExited);
    CHECK(r.exit_code == 0);
  }
  SECTION("one that left the group with setsid") {
    auto spec = spec_in(dir, sh("setsid sleep 1000 & echo $! > pids; exit 0"));
    spec.cwd = dir;
    const ChildResult r = run(spec);
    CHECK(r.outcome == ChildOutcome::kExited);
  }
  const auto pids = await_pids(dir + "/pids", 1);
  REQUIRE(pids.size() == 1);
  CHECK(gone(pids[0]));
}

TEST_CASE("a program that cannot start is kStartFailed with the reason", "[supervisor]") {
  const std::string dir = temp_dir();
  SECTION("not on PATH") {
    const ChildResult r = run(spec_in(dir, {"emsweep-no-such-program"}));
    CHECK(r.outcome == ChildOutcome::kStartFailed);
    CHECK_THAT(r.start_error, Catch::Contains("No such file or directory") &&
                                  Catch::Contains("emsweep-no-such-program") &&
                                  Catch::Contains("PATH=/usr/bin:/bin"));
  }
  SECTION("no such file") {
    const ChildResult r = run(spec_in(dir, {dir + "/missing"}));
    CHECK(r.outcome == ChildOutcome::kStartFailed);
    CHECK_THAT(r.start_error, Catch::Contains("No such file or directory"));
  }
  SECTION("not executable") {
    write_file(dir + "/script.sh", "#!/bin/sh\necho hi\n");
    const ChildResult r = run(spec_in(dir, {dir + "/script.sh"}));
    CHECK(r.outcome == ChildOutcome::kStartFailed);
    CHECK_THAT(r.start_error, Catch::Contains("Permission denied"));
  }
  SECTION("no such working directory") {
    auto spec = spec_in(dir, {"true"});
    spec.cwd = dir + "/missing";
    const ChildResult r = run(spec);
    CHECK(r.outcome == ChildOutcome::kStartFailed);
    CHECK_THAT(r.start_error,
               Catch::Contains("working directory") && Catch::Contains("No such file"));
  }
  SECTION("capture file in a missing directory") {
    auto spec = spec_in(dir, {"true"});
    spec.stderr_path = dir + "/missing/stderr";
    const ChildResult r = run(spec);
    CHECK(r.outcome == ChildOutcome::kStartFailed);
    CHECK_THAT(r.start_error, Catch::Contains("capture file") && Catch::Contains("No such file"));
  }
}

TEST_CASE("a shim that cannot start is a TaskError naming it", "[supervisor]") {
  auto spec = spec_in(temp_dir(), {"true"});
  spec.shim_path = "/nonexistent/emsweep-shim";
  const int before = open_descriptors();
  CHECK_THROWS_WITH(run_child(spec), Catch::Contains("/nonexistent/emsweep-shim"));
  CHECK_THROWS_AS(run_child(spec), TaskError);
  CHECK(open_descriptors() == before);
}

TEST_CASE("100 MB on stdout is capped to its first and last bytes", "[supervisor]") {
  const std::string dir = temp_dir();
  constexpr std::uint64_t kCap = 1 << 20;
  constexpr std::uint64_t kTotal = 100'000'000;
  const std::string last = "LAST-BYTES";
  auto spec = spec_in(dir, sh(fmt::format("head -c {} /dev/zero; printf {}; seq 1 100000 >&2",
                                          kTotal - last.size(), last)));
  spec.capture_cap_bytes = kCap;
  const ChildResult r = run(spec);
  CHECK(r.outcome == ChildOutcome::kExited);
  CHECK(r.exit_code == 0);
  CHECK(r.stdout_bytes == kTotal);
  const std::string out = read_all(dir + "/stdout");
  const std::string marker = fmt::format("{} bytes dropped", kTotal - kCap);
  CHECK(out.size() <= kCap + 200);  // the cap plus the marker line
  CHECK(out.find(marker) != std::string::npos);
  CHECK(out.substr(0, kCap / 2) == std::string(kCap / 2, '\0'));
  CHECK(out.ends_with(std::string(100, '\0') + last));
  // stderr (seq's 588,895 bytes) under the same cap ends with the real last line.
  CHECK(r.stderr_bytes == 588'895);
  CHECK(read_all(dir + "/stderr").ends_with("\n99999\n100000\n"));
}

TEST_CASE("read_tail_utf8 returns valid UTF-8", "[supervisor]") {
  const std::string dir = temp_dir();
  SECTION("invalid bytes from a child's stderr become U+FFFD") {
    const ChildResult r = run(spec_in(dir, sh(R"(printf 'ok \377 bad \303(' >&2)")));
    CHECK(r.outcome == ChildOutcome::kExited);
    CHECK(read_tail_utf8(dir + "/stderr", 1000) == "ok \uFFFD bad \uFFFD(");
  }
  SECTION("a tail cut inside a sequence starts at the next character") {
    write_file(dir + "/f", "a\u00e9\u20ac");  // 61 | C3 A9 | E2 82 AC
    CHECK(read_tail_utf8(dir + "/f", 4) == "\u20ac");
    CHECK(read_tail_utf8(dir + "/f", 2).empty());
    CHECK(read_tail_utf8(dir + "/f", 100) == "a\u00e9\u20ac");
  }
  SECTION("ill-formed sequences: one U+FFFD per maximal subpart") {
    write_file(dir + "/f",
               "\xC0\xAF|\xED\xA0\x80|\xF4\x90\x80\x80|\xE2\x82|\xF0\x9F\x98\x80|\xE2\x82");
    CHECK(read_tail_utf8(dir + "/f", 100) ==
          "\uFFFD\uFFFD|\uFFFD\uFFFD\uFFFD|\uFFFD\uFFFD\uFFFD\uFFFD|\uFFFD|\U0001F600|\uFFFD");
  }
  SECTION("a missing file is empty") {
    CHECK(read_tail_utf8(dir + "/missing", 100).empty());
  }
}

TEST_CASE("the child gets exactly the environment, directory, stdin, CPUs and OOM score given",
          "[supervisor]") {
  const std::string dir = temp_dir();
  SECTION("environment") {
    ::setenv("EMSWEEP_SUPERVISOR_NOT_PASSED", "1", 1);
    auto spec = spec_in(dir, {"env"});
    spec.env.push_back("EMSWEEP_TEST=a b=c");
    const ChildResult r = run(spec);
    CHECK(r.outcome == ChildOutcome::kExited);
    CHECK(read_all(dir + "/stdout") == "PATH=/usr/bin:/bin\nEMSWEEP_TEST=a b=c\n");
    ::unsetenv("EMSWEEP_SUPERVISOR_NOT_PASSED");
  }
  SECTION("a bare program name is looked up on the child's PATH, not the rank's") {
    fs::create_directories(dir + "/bin");
    write_file(dir + "/bin/emsweep-test-tool", "#!/bin/sh\necho tool ran\n");
    fs::permissions(dir + "/bin/emsweep-test-tool", fs::perms::owner_all);
    auto spec = spec_in(dir, {"emsweep-test-tool"});
    spec.env = {"PATH=/nonexistent:" + dir + "/bin:/usr/bin:/bin"};
    const ChildResult r = run(spec);
    CHECK(r.outcome == ChildOutcome::kExited);
    CHECK(read_all(dir + "/stdout") == "tool ran\n");
  }
  SECTION("directory, stdin, CPUs, OOM score") {
    auto spec = spec_in(dir, sh("pwd; readlink /proc/self/fd/0; "
                                "grep Cpus_allowed_list /proc/self/status; "
                                "cat /proc/self/oom_score_adj"));
    spec.cwd = dir;
    spec.cpus = {0};
    spec.oom_score_adj = 700;
    const ChildResult r = run(spec);
    CHECK(r.outcome == ChildOutcome::kExited);
    CHECK(read_all(dir + "/stdout") ==
          fs::canonical(dir).string() + "\n/dev/null\nCpus_allowed_list:\t0\n700\n");
  }
}

TEST_CASE("cancel: the child gets the grace, then its group is stopped", "[supervisor]") {
  std::atomic<bool> cancel{false};
  SECTION("a child that would run 100 s is cancelled") {
    static constexpr double kCancelAfter = 0.2;
    constexpr double kGrace = 0.5;
    auto spec = spec_in(temp_dir(), {"sleep", "100"});
    std::thread canceller([&cancel] {
      std::this_thread::sleep_for(duration<double>(kCancelAfter));
      cancel = true;
    });
    const auto start = steady_clock::now();
    const ChildResult r = run(spec, &cancel, kGrace);
    const double waited = duration<double>(steady_clock::now() - start).count();
    canceller.join();
    CHECK(r.outcome == ChildOutcome::kCancelled);
    CHECK(r.signal == SIGTERM);
    CHECK(waited >= kCancelAfter + kGrace);  // the grace was given (wall_seconds starts later)
    CHECK(r.wall_seconds < kCancelAfter + kGrace + spec.kill_grace_seconds + kTimeoutSlackSeconds);
  }
  SECTION("a cancel set before the start, with no grace, still reaches the shim") {
    cancel = true;
    auto spec = spec_in(temp_dir(), {"sleep", "100"});
    const ChildResult r = run(spec, &cancel, /*cancel_grace=*/0);
    CHECK(r.outcome == ChildOutcome::kCancelled);
    CHECK(r.wall_seconds < spec.kill_grace_seconds + kTimeoutSlackSeconds);
  }
  SECTION("a child that ignores SIGTERM gets SIGKILL after the kill grace") {
    // The cancel comes only once the trap is in place: a TERM that arrives before the shell
    // has run `trap` kills it, which is the right outcome but not the case under test.
    const std::string dir = temp_dir();
    auto spec = spec_in(dir, sh("trap '' TERM; echo $$ > ready; sleep 100 & wait; wait"));
    spec.cwd = dir;
    spec.kill_grace_seconds = 0.3;
    std::thread canceller([&cancel, &dir] {
      await_pids(dir + "/ready", 1);
      cancel = true;
    });
    const ChildResult r = run(spec, &cancel, /*cancel_grace=*/0);
    canceller.join();
    CHECK(r.outcome == ChildOutcome::kCancelled);
    CHECK(r.signal == SIGKILL);
    CHECK(r.wall_seconds < spec.kill_grace_seconds + kTimeoutSlackSeconds);
  }
  SECTION("a child that finishes within the grace ends normally") {
    cancel = true;
    const ChildResult r = run(spec_in(temp_dir(), sh("sleep 0.3; exit 4")), &cancel,
                              /*cancel_grace=*/30);
    CHECK(r.outcome == ChildOutcome::kExited);
    CHECK(r.exit_code == 4);
  }
}

TEST_CASE("the shim outlives the job's stop signals; the rank decides", "[supervisor]") {
  const std::string dir = temp_dir();
  auto spec = spec_in(dir, sh("echo $PPID > shim; sleep 1; exit 5"));
  spec.cwd = dir;
  std::thread signaller([&dir] {
    const auto pids = await_pids(dir + "/shim", 1);
    if (pids.empty()) return;
    CHECK_THAT(read_all(fmt::format("/proc/{}/cmdline", pids[0])), Catch::Contains("emsweep-shim"));
    for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGUSR1}) ::kill(pids[0], sig);
  });
  const ChildResult r = run(spec);
  signaller.join();
  CHECK(r.outcome == ChildOutcome::kExited);
  CHECK(r.exit_code == 5);
}

TEST_CASE("a shim killed outright takes the child with it, and run_child says so", "[supervisor]") {
  const std::string dir = temp_dir();
  auto spec = spec_in(dir, sh("echo $PPID > pids; echo $$ >> pids; exec sleep 1000"));
  spec.cwd = dir;
  // The orphaned child comes to this process, so the test can see it end.
  SubreaperScope subreaper;
  std::vector<pid_t> pids;
  std::thread killer([&dir, &pids] {
    pids = await_pids(dir + "/pids", 2);
    if (pids.size() == 2) ::kill(pids[0], SIGKILL);
  });
  const int before = open_descriptors();
  CHECK_THROWS_WITH(run_child(spec), Catch::Contains("killed by SIGKILL") &&
                                         Catch::Contains("without saying how the child ended"));
  killer.join();
  CHECK(open_descriptors() == before);
  REQUIRE(pids.size() == 2);
  CHECK(reaped_soon(pids[1]));
}

TEST_CASE("when the rank dies, the child's group goes with it", "[supervisor]") {
  const std::string dir = temp_dir();
  const std::string pidfile = dir + "/pids";
  // The orphaned shim comes to this process, so the test can see it end too.
  SubreaperScope subreaper;
  std::string helper = EMSWEEP_PARENT_HELPER_PATH;
  std::string shim = EMSWEEP_SHIM_PATH;
  std::string pidfile_arg = pidfile;
  char* argv[] = {helper.data(), shim.data(), pidfile_arg.data(), nullptr};
  pid_t rank = -1;
  REQUIRE(::posix_spawn(&rank, helper.c_str(), nullptr, nullptr, argv, environ) == 0);
  const auto pids = await_pids(pidfile, 2);
  REQUIRE(pids.size() == 2);
  ::kill(rank, SIGKILL);
  int status = 0;
  REQUIRE(::waitpid(rank, &status, 0) == rank);
  CHECK(all_gone_soon(pids));
  // The shim itself ends too (reaped here, its new parent).
  const auto until = steady_clock::now() + kPatience;
  bool shim_ended = false;
  while (!shim_ended && steady_clock::now() < until) {
    const pid_t reaped = ::waitpid(-1, &status, WNOHANG);
    shim_ended = reaped < 0 && errno == ECHILD;
    if (reaped == 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(shim_ended);
}

TEST_CASE("peak RSS covers the child's memory", "[supervisor]") {
  constexpr std::int64_t kAllocatedKb = 50'000'000 / 1024;
  const ChildResult r =
      run(spec_in(temp_dir(), {"/usr/bin/python3", "-c", "b = b'x' * 50_000_000"}));
  CHECK(r.outcome == ChildOutcome::kExited);
  CHECK(r.peak_rss_kb >= 40'000);
  CHECK(r.peak_rss_kb >= kAllocatedKb * 8 / 10);
}

TEST_CASE("a waiting rank uses almost no CPU", "[supervisor]") {
  constexpr double kMaxCpuSeconds = 0.05;
  const auto cpu_seconds = [] {
    rusage u{};
    ::getrusage(RUSAGE_THREAD, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
  };
  std::atomic<bool> cancel{false};  // with a cancel flag to watch, the rank wakes up to look
  const double before = cpu_seconds();
  const ChildResult r = run(spec_in(temp_dir(), {"sleep", "2"}), &cancel, 1);
  const double used = cpu_seconds() - before;
  CHECK(r.outcome == ChildOutcome::kExited);
  CHECK(used < kMaxCpuSeconds);
}

TEST_CASE("default_shim_path and signal_name", "[supervisor]") {
  ::setenv("EMSWEEP_SHIM", "/opt/x/emsweep-shim", 1);
  CHECK(default_shim_path() == "/opt/x/emsweep-shim");
  ::unsetenv("EMSWEEP_SHIM");
  CHECK(default_shim_path() ==
        (fs::read_symlink("/proc/self/exe").parent_path() / "emsweep-shim").string());
  CHECK(signal_name(SIGTERM) == "SIGTERM");
  CHECK(signal_name(SIGKILL) == "SIGKILL");
  CHECK(signal_name(SIGSEGV) == "SIGSEGV");
  CHECK(signal_name(SIGRTMIN + 2) == fmt::format("signal {}", SIGRTMIN + 2));
}

TEST_CASE("the shim's messages survive a round trip and refuse garbage", "[supervisor]") {
  ChildSpec spec;
  spec.argv = {"a", std::string("b\0c", 3), ""};
  spec.env = {"X=1"};
  spec.cwd = "/tmp";
  spec.capture_cap_bytes = 12345;
  spec.timeout_seconds = 1.5;
  spec.cpus = {0, 3};
  spec.oom_score_adj = -7;
  const std::string payload = shim::encode_spec(spec);
  const ChildSpec back = shim::decode_spec(payload);
  CHECK(back.argv == spec.argv);
  CHECK(back.env == spec.env);
  CHECK(back.cwd == spec.cwd);
  CHECK(back.capture_cap_bytes == spec.capture_cap_bytes);
  CHECK(back.timeout_seconds == spec.timeout_seconds);
  CHECK(back.cpus == spec.cpus);
  CHECK(back.oom_score_adj == spec.oom_score_adj);
  for (std::size_t cut = 0; cut < payload.size(); ++cut) {
    CHECK_THROWS_AS(shim::decode_spec(std::string_view(payload).substr(0, cut)),
                    shim::ProtocolError);
  }
  ChildResult result;
  result.outcome = ChildOutcome::kTimeout;
  result.signal = SIGKILL;
  result.start_error = "why";
  result.peak_rss_kb = 1234;
  const ChildResult r = shim::decode_result(shim::encode_result(result));
  CHECK(r.outcome == result.outcome);
  CHECK(r.signal == result.signal);
  CHECK(r.start_error == result.start_error);
  CHECK(r.peak_rss_kb == result.peak_rss_kb);
}

TEST_CASE("a NUL byte in an argument is a start error, not a truncated argument", "[supervisor]") {
  auto spec = spec_in(temp_dir(), {"echo", std::string("a\0b", 3)});
  const ChildResult r = run(spec);
  CHECK(r.outcome == ChildOutcome::kStartFailed);
  CHECK_THAT(r.start_error, Catch::Contains("NUL"));
}

TEST_CASE("one kept shim serves point after point, each in a group of its own", "[supervisor][kept]") {
  const std::string dir = temp_dir();
  Supervisor supervisor;
  CHECK(supervisor.shim_pid() == -1);
  ChildResult first = supervisor.run(spec_in(dir, sh("echo 1")));
  REQUIRE(first.outcome == ChildOutcome::kExited);
  const int shim = supervisor.shim_pid();
  REQUIRE(shim > 0);
  const int descriptors = open_descriptors();
  for (int i = 0; i < 200; ++i) {
    // Each point: its own exit status and output, its own process group (the child's pgid is
    // its pid), and a grandchild left behind is gone when the point ends.
    const std::string script = "echo $$ $(cut -d' ' -f5 /proc/$$/stat) > " + dir + "/ids; sleep 100 & echo $! >> " +
                               dir + "/ids; exit " + std::to_string(i % 7);
    const ChildResult r = supervisor.run(spec_in(dir, sh(script)));
    REQUIRE(r.outcome == ChildOutcome::kExited);
    CHECK(r.exit_code == i % 7);
    if (i % 50 == 0) {
      std::istringstream ids(read_all(dir + "/ids"));
      long pid = 0, pgid = 0, grandchild = 0;
      ids >> pid >> pgid >> grandchild;
      CHECK(pid == pgid);
      CHECK(all_gone_soon({static_cast<pid_t>(grandchild)}));
    }
  }
  CHECK(supervisor.shim_pid() == shim);            // the same shim all along
  CHECK(open_descriptors() == descriptors);        // and no descriptor left behind
}

TEST_CASE("a kept shim killed between points is replaced for the next one", "[supervisor][kept]") {
  const std::string dir = temp_dir();
  Supervisor supervisor;
  REQUIRE(supervisor.run(spec_in(dir, sh("exit 0"))).outcome == ChildOutcome::kExited);
  const int shim = supervisor.shim_pid();
  REQUIRE(shim > 0);
  REQUIRE(::kill(shim, SIGKILL) == 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const ChildResult r = supervisor.run(spec_in(dir, sh("exit 5")));
  CHECK(r.outcome == ChildOutcome::kExited);
  CHECK(r.exit_code == 5);
  CHECK(supervisor.shim_pid() > 0);
  CHECK(supervisor.shim_pid() != shim);
}

TEST_CASE("a kept shim still applies each point's timeout and cancel", "[supervisor][kept]") {
  const std::string dir = temp_dir();
  Supervisor supervisor;
  ChildSpec slow = spec_in(dir, sh("trap '' TERM; sleep 100"));
  slow.timeout_seconds = 0.5;
  CHECK(supervisor.run(slow).outcome == ChildOutcome::kTimeout);
  std::atomic<bool> cancel{true};
  CHECK(supervisor.run(spec_in(dir, sh("sleep 100")), &cancel, 0.2).outcome == ChildOutcome::kCancelled);
  const ChildResult after = supervisor.run(spec_in(dir, sh("echo fine")));
  CHECK(after.outcome == ChildOutcome::kExited);
  CHECK(read_all(dir + "/stdout") == "fine\n");
}
