#include "sweep/engine/progress.h"

#include <fmt/format.h>

#include <algorithm>
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

namespace {

// Points not finished yet (none once every search has ended).
std::uint64_t points_left(const ProgressCounts& c) {
  if (c.search && c.searches_open == 0) return 0;
  return c.total > c.done + c.failed ? c.total - c.done - c.failed : 0;
}

}  // namespace

double eta_seconds(const ProgressCounts& c, double elapsed) {
  const std::uint64_t left = points_left(c);
  if (left == 0) return 0;
  if (elapsed <= 0) return -1;
  if (!c.search && c.work_total > 0 && c.work_done > 0) {
    // At least the left points' own cost, should the estimate of the total run short.
    const double work_left = std::max(c.work_total - c.work_done,
                                      static_cast<double>(left) * c.work_per_point);
    return work_left * elapsed / c.work_done;
  }
  if (c.this_run == 0) return -1;
  return static_cast<double>(left) * elapsed / static_cast<double>(c.this_run);
}

std::string Progress::line(const ProgressCounts& c) const {
  const double pct = c.total ? 100.0 * static_cast<double>(c.done) / static_cast<double>(c.total) : 100.0;
  const double r = rate(c);
  const std::uint64_t left = points_left(c);
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double seconds = eta_seconds(c, elapsed);
  std::string eta = left == 0 ? "0s" : (seconds >= 0 ? human_seconds(seconds) : "?");
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
