// One place for the wire and the journal: every MPI message tag, every message and every
// journal record, and their byte encodings (little-endian, length-prefixed strings/arrays).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sweep/core/task.h"

namespace emsweep {

// MPI message tags between the coordinator (rank 0) and the workers.
enum class Tag : int {
  kWork = 1,     // coordinator -> worker: a batch of WorkItems to run, in order
  kResults = 2,  // worker -> coordinator: Outcomes of finished points; also "ready for more"
  kStop = 3,     // coordinator -> worker: no more work; leave the loop and finalise
  kConfig = 4,   // broadcast: the resolved config and run options (rank 0 -> all)
};

// Journal record types (see docs/results-format.md).
enum class RecordType : std::uint8_t {
  kHeader = 1,         // JournalHeader: config and provenance of one `run`
  kDispatch = 2,       // WorkItem: a point was sent to a worker
  kResult = 3,         // PointRecord: a point's final record (done or failed)
  kAttemptFailed = 4,  // AttemptFailure: an attempt failed and will be retried
  kReleased = 5,       // WorkItem: in flight at a clean interrupt; not counted as an attempt
  // The range of valid types, for readers that check a type byte: keep kLast the last one.
  kFirst = kHeader,
  kLast = kReleased,
};

// Final status of a point. kCancelled travels only from a worker to the coordinator: the attempt
// was stopped by a stop of the sweep, does not count, and is never journalled as a result.
enum class PointStatus : std::int8_t { kDone = 1, kFailed = 2, kCancelled = 3 };

// One point to run: its full-product grid index and which attempt this is (1-based).
struct WorkItem {
  std::uint64_t index = 0;
  // 1 for the first try. 0: a ghost, a finished point run again only so that its pack has the
  // composition the grid gives it (run.pack, after a resume); its outcome is not reported.
  std::uint32_t attempt = 1;
};

// A point's record: what the worker measured and where. Outcome on the wire, result in the
// journal (status kDone), or built by the coordinator for a final failure.
struct PointRecord {
  std::uint64_t point_id = 0;
  std::uint64_t index = 0;
  std::int64_t replicate = 0;
  PointStatus status = PointStatus::kDone;
  std::uint32_t attempts = 1;
  std::int32_t rank = 0;
  std::string host;
  double start_time = 0;  // Unix seconds
  double end_time = 0;
  double seconds = 0;
  std::vector<double> metrics;
  std::vector<Curve> curves;
  std::string error;       // failure text (empty when done)
  std::string provenance;  // task-kind free text
  RunDetail detail;        // how the attempt ran (child processes, failures); may be empty
};

// An attempt that failed and will be retried.
struct AttemptFailure {
  std::uint64_t index = 0;
  std::uint32_t attempt = 0;
  std::int32_t rank = 0;
  std::string error;
  RunDetail detail;       // how the attempt ran (may be empty)
  double seconds = 0;     // wall time of the attempt (journalled with the detail)
  double end_time = 0;    // Unix seconds (journalled with the detail)
  std::string host;       // (journalled with the detail)
};

// Config and provenance written at the start of every run.
struct JournalHeader {
  std::string config_yaml;  // resolved spec; parsing it gives the same config_hash
  std::string config_hash;
  std::string base_hash;
  std::string shard;  // "i/K" or ""
  std::string command_line;
  std::string host;
  std::int32_t ranks = 1;
  double start_time = 0;
  std::string emsweep_version;
  std::string mpi_version;
  std::string libtorch_version;
};

// Encoders return the payload bytes; decoders return nullopt on malformed input (never throw,
// never read out of bounds: the journal reader feeds them bytes a crash may have torn).
[[nodiscard]] std::string encode(const WorkItem& w);
[[nodiscard]] std::optional<WorkItem> decode_work_item(std::string_view bytes);
[[nodiscard]] std::string encode(const PointRecord& r);
[[nodiscard]] std::optional<PointRecord> decode_point_record(std::string_view bytes);
[[nodiscard]] std::string encode(const AttemptFailure& f);
[[nodiscard]] std::optional<AttemptFailure> decode_attempt_failure(std::string_view bytes);
[[nodiscard]] std::string encode(const JournalHeader& h);
[[nodiscard]] std::optional<JournalHeader> decode_journal_header(std::string_view bytes);

// A kWork message: the batch of items.
[[nodiscard]] std::string encode_work(const std::vector<WorkItem>& items);
[[nodiscard]] std::optional<std::vector<WorkItem>> decode_work(std::string_view bytes);
// A kResults message: encoded PointRecords (each already an encode() payload).
[[nodiscard]] std::string encode_results(const std::vector<std::string>& encoded_records);
[[nodiscard]] std::optional<std::vector<std::string_view>> decode_results(std::string_view bytes);

// The kConfig broadcast: resolved YAML plus run options rank 0 decided.
struct RunConfig {
  std::string config_yaml;
  std::string cache_dir;
  std::string shard;
};
[[nodiscard]] std::string encode(const RunConfig& c);
[[nodiscard]] std::optional<RunConfig> decode_run_config(std::string_view bytes);

}  // namespace emsweep
