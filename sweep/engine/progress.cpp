#include "sweep/engine/progress.h"

#include <fmt/format.h>

#include <ctime>

#include "sweep/core/plan.h"

namespace emsweep {

Progress::Progress(bool live, double log_seconds, bool quiet)
    : live_(live), log_seconds_(log_seconds), quiet_(quiet),
      start_(std::chrono::steady_clock::now()), last_(start_) {}

double Progress::rate(const ProgressCounts& c) const {
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  return elapsed > 0 ? static_cast<double>(c.this_run) / elapsed : 0;
}

std::string Progress::line(const ProgressCounts& c) const {
  const double pct = c.total ? 100.0 * static_cast<double>(c.done) / static_cast<double>(c.total) : 100.0;
  const double r = rate(c);
  std::uint64_t left = c.total > c.done + c.failed ? c.total - c.done - c.failed : 0;
  if (c.search && c.searches_open == 0) left = 0;
  std::string eta = left == 0 ? "0s" : (r > 0 ? human_seconds(static_cast<double>(left) / r) : "?");
  if (c.search) {
    return fmt::format("{}/at most {} done ({:.1f}%), {} failed, {} running, {:.3g} points/s, ETA {}{}, "
                       "{} of {} searches open",
                       c.done, c.total, pct, c.failed, c.running, r, left == 0 ? "" : "at most ", eta,
                       c.searches_open, c.searches);
  }
  return fmt::format("{}/{} done ({:.1f}%), {} failed, {} running, {:.3g} points/s, ETA {}", c.done,
                     c.total, pct, c.failed, c.running, r, eta);
}

void Progress::update(const ProgressCounts& c, bool force) {
  if (quiet_) return;
  const auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - last_).count();
  if (live_) {
    if (!force && since < 0.5) return;
    fmt::print(stderr, "\r\033[K[emsweep] {}", line(c));
    std::fflush(stderr);
    line_open_ = true;
  } else {
    if (!force && since < log_seconds_) return;
    std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
    fmt::print(stderr, "[emsweep {}] {}\n", stamp, line(c));
  }
  last_ = now;
}

void Progress::break_line() {
  if (line_open_) {
    fmt::print(stderr, "\n");
    line_open_ = false;
  }
}

}  // namespace emsweep
