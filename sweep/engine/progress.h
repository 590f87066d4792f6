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
  // The task kind's cost model (`emsweep plan`), when it has one: the estimated core-seconds of
  // what this run had left at its start (its points and their setups, such as pre-training a
  // base), of what finished since (a point's own cost, plus its setup's when it is the first of
  // its setup to finish), and of one point. The ETA then weighs points by their cost, so a run
  // whose first points pay for the setups is not judged by them alone.
  double work_total = 0;
  double work_done = 0;
  double work_per_point = 0;
};

// The ETA in seconds after `elapsed` seconds of this run: the work left at the pace of the work
// done when the counts carry a cost model, else the points left at this run's rate; negative
// when unknown (nothing finished yet).
[[nodiscard]] double eta_seconds(const ProgressCounts& c, double elapsed);

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
