// Progress of a running sweep: a live line on a terminal, or a log line every
// run.log_seconds (readable in a Slurm output file), with rate and ETA.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace emsweep {

struct ProgressCounts {
  std::uint64_t total = 0;      // points this run is responsible for
  std::uint64_t done = 0;       // done, including earlier runs
  std::uint64_t failed = 0;     // failed, including earlier runs
  std::uint64_t running = 0;    // in flight now
  std::uint64_t this_run = 0;   // finished (done or failed) in this run
  // A boundary search: `total` is the most its searches can use, and the sweep ends when every
  // search has (searches_open 0), usually well below it; the ETA is then an upper bound.
  bool search = false;
  std::uint64_t searches = 0, searches_open = 0;
};

class Progress {
 public:
  // `live`: redraw one line on a terminal; otherwise print a line every `log_seconds`.
  Progress(bool live, double log_seconds, bool quiet);
  // Prints if due (or when `force`).
  void update(const ProgressCounts& c, bool force = false);
  // Ends the live line so that other output starts on a fresh line.
  void break_line();
  // Points per second finished in this run so far.
  [[nodiscard]] double rate(const ProgressCounts& c) const;
  // "123/204 done (60.3%), 2 failed, 4 running, 35.1 points/s, ETA 3s"; for a search
  // "40/at most 126 done (31.7%), ..., ETA at most 2m 10s, 9 of 18 searches open".
  [[nodiscard]] std::string line(const ProgressCounts& c) const;

 private:
  bool live_;
  double log_seconds_;
  bool quiet_;
  bool line_open_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_;
};

}  // namespace emsweep
