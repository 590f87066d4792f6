// The results store: the journal (truth) and the HDF5 view rebuilt from it. The HDF5 layout
// is defined in this module's .cpp and documented in docs/results-format.md.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "sweep/core/grid.h"
#include "sweep/store/journal.h"
#include "sweep/core/spec.h"
#include "sweep/store/schema.h"
#include "sweep/store/wire.h"

namespace emsweep {


// A set of grid indices, stored as 64Ki-bit pages allocated on demand, so memory follows
// the completed points rather than the size of the grid.
class IndexSet {
 public:
  // Adds `index`; returns false if it was already there.
  bool insert(std::uint64_t index);
  // Removes `index`; returns false if it was not there.
  bool erase(std::uint64_t index);
  [[nodiscard]] bool contains(std::uint64_t index) const;
  [[nodiscard]] std::uint64_t size() const { return size_; }

 private:
  static constexpr std::uint64_t kPageBits = 1u << 16;
  std::unordered_map<std::uint64_t, std::unique_ptr<std::uint64_t[]>> pages_;
  std::uint64_t size_ = 0;
};

// What the journal says about the points: the replay of its records.
struct Ledger {
  std::vector<JournalHeader> headers;  // every run's header, oldest first
  IndexSet done;                       // indices with a final `done` record
  IndexSet failed;                     // indices with a final `failed` record
  std::unordered_map<std::uint64_t, std::uint32_t> pending_attempts;  // dispatched, no final
  std::unordered_map<std::uint64_t, std::string> last_error;         // of a pending point
  std::unordered_map<std::uint64_t, RunDetail> last_detail;  // how its last failed attempt ended
  std::unordered_map<std::uint64_t, std::uint32_t> reported_failures;  // of a pending point
  std::vector<PointRecord> failures;   // final failed records (for status), capped
  std::uint64_t results = 0;           // result records read
  std::uint64_t duplicates = 0;        // result records for an index already final
  double first_result_time = 0;        // end_time of the first/last result (Unix seconds)
  double last_result_time = 0;
  std::vector<double> recent_end_times;  // end times of the last results (for rates)
  // Metrics of each done point, only when replayed with keep_metrics.
  std::unordered_map<std::uint64_t, std::vector<double>> done_metrics;
};

// Replays the journal's records into a Ledger.
// `keep_metrics`: also keep every done point's metrics (a boundary search resumes from them).
[[nodiscard]] Ledger replay(const JournalScan& scan, bool keep_metrics = false);

// Provenance of this run, written into the journal header and the view's attributes.
struct RunProvenance {
  std::string command_line;
  std::string host;
  int ranks = 1;
  double start_time = 0;
  std::string mpi_version;
  std::string libtorch_version;
};

// How `run` may treat an existing results file.
struct StoreOptions {
  bool overwrite = false;     // replace an existing file of any sweep
  bool retry_failed = false;  // points recorded as failed run again
  bool extend = false;        // accept a config whose grid only grew
  std::string shard;          // "i/K" or ""
};

// The HDF5 view: rebuilt from the journal, then appended to in SWMR mode.
class ResultsView {
 public:
  // Writes PATH from scratch with every final record in `scan` (via a temporary file renamed
  // into place), then reopens it for SWMR appends.
  ResultsView(const std::string& path, const SweepSpec& spec, const Grid& grid,
              const JournalScan& scan, const RunProvenance& run, const StoreOptions& options);
  ~ResultsView();
  ResultsView(const ResultsView&) = delete;
  ResultsView& operator=(const ResultsView&) = delete;

  // Buffers one final record for the next flush (and its /failures row when it failed).
  void add(const PointRecord& record);
  // Buffers the /failures row of an attempt that will be retried.
  void add_attempt_failure(const AttemptFailure& failure);
  // Appends buffered rows and flushes them so SWMR readers see them.
  void flush();
  // Rows buffered since the last flush.
  [[nodiscard]] std::size_t buffered() const;
  // Flushes and closes the file.
  void close();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Rebuilds the HDF5 view of `h5_path` from its journal without running anything (`repair`),
// repairing the journal first; returns the number of points it holds. `registry` parses the
// journal's config; `recovery`, when given, receives what the journal repair found and did.
std::uint64_t rebuild_view(const std::string& h5_path, const TaskRegistry& registry,
                           JournalRecovery* recovery = nullptr);

// Lines that say what a journal's damage means: a torn tail (one line, normal after a crash) or
// damage in the middle (the byte ranges, records kept after it, records lost, where the damaged
// bytes were saved, or will be when nothing was repaired yet). `to_go`: the points without a
// final record now, which the next run runs (left out when not known). Empty when the journal
// was intact.
[[nodiscard]] std::vector<std::string> recovery_messages(const JournalRecovery& r,
                                                         std::optional<std::uint64_t> to_go);

// The journal path of a results file.
[[nodiscard]] std::string journal_path(const std::string& h5_path);

// The results file of a run: journal + view, opened, checked and rebuilt at the start.
class Store {
 public:
  // Opens or creates the store for `spec`: refuses a foreign, corrupt or busy file with a
  // StoreError that says what to do; recovers a torn journal; rebuilds the view.
  Store(const SweepSpec& spec, const Grid& grid, const StoreOptions& options,
        const RunProvenance& run, const TaskRegistry& registry);
  ~Store();

  // What opening found wrong with the journal and did about it.
  [[nodiscard]] const JournalRecovery& recovery() const { return recovery_; }
  // The replayed journal: done/failed points and attempts of unfinished ones.
  [[nodiscard]] const Ledger& ledger() const { return ledger_; }
  // Journals that a point is being sent to a worker. The record reaches the kernel at the next
  // publish(): the coordinator publishes before it waits for a message and at most 1 ms after
  // a dispatch, so a point that crashes its process still has its attempt counted.
  void record_dispatch(const WorkItem& item);
  // Journals a point handed back at a clean interrupt (its attempt does not count).
  void record_release(const WorkItem& item);
  // Journals a failed attempt that will be retried.
  void record_attempt_failure(const AttemptFailure& failure);
  // Journals a final record (encoded payload given when the caller has it) and queues its row.
  void record_result(const PointRecord& record, std::string_view encoded = {});
  // Hands the records so far to the kernel (they survive the process dying, not power loss).
  void publish();
  // True when records are waiting for publish().
  [[nodiscard]] bool unpublished() const { return journal_->buffered(); }
  // Makes every record so far durable (fdatasync).
  void commit();
  // The same, by a background thread, so that the caller does not wait for the disk.
  void commit_in_background();
  // Records written since the last commit.
  [[nodiscard]] std::size_t uncommitted() const { return journal_->uncommitted(); }
  // Hands the journal's records to the kernel, then appends queued rows to the HDF5 view (so a
  // reader of both, `verify`, never finds a row without its record).
  void flush_view();
  // Rows queued for the view since its last flush.
  [[nodiscard]] std::size_t view_rows_buffered() const { return view_->buffered(); }
  // Commits, flushes and closes the view.
  void close();
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::unique_ptr<JournalWriter> journal_;
  std::unique_ptr<ResultsView> view_;
  Ledger ledger_;
  JournalRecovery recovery_;
};

}  // namespace emsweep
