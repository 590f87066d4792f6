// `emsweep verify`: checks a results file against its journal without changing either: every
// record's checksum, the HDF5 view against a replay of the journal (the same points, values bit
// for bit, statuses, curves, runs), the config hash and the schema version.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sweep/core/task.h"

namespace emsweep::analysis {

// One disagreement, or one thing that makes the pair unusable.
struct VerifyProblem {
  std::string check;    // journal, view, schema, config, rows, values, curves, runs
  std::string message;  // what is wrong, where
};

// What `verify` found.
struct VerifyReport {
  std::string file;      // the results file (.h5)
  std::string journal;   // its journal
  bool running = false;  // a run holds the journal's writer lock
  std::uint64_t journal_bytes = 0;
  std::uint64_t records = 0;            // intact journal records (each with a valid CRC-32C)
  std::uint64_t runs = 0;               // run headers in the journal
  std::string config_hash;              // of the journal's last header
  std::uint64_t grid_points = 0;        // points of the grid (of the shard)
  std::uint64_t journal_points = 0;     // points with a final record in the journal
  std::uint64_t done = 0, failed = 0;   // of them
  std::uint64_t rows = 0;               // rows of /points
  std::uint64_t curve_rows = 0;         // rows of /curves
  std::vector<VerifyProblem> problems;  // empty when the view agrees with the journal
  std::vector<std::string> notes;       // facts that are not disagreements
  std::string hint;                     // what to do about the problems

  [[nodiscard]] bool ok() const { return problems.empty(); }
};

// Verifies `h5_path` and its journal; never writes. `registry` parses the recorded config.
[[nodiscard]] VerifyReport verify_results(const std::string& h5_path, const TaskRegistry& registry);

}  // namespace emsweep::analysis
