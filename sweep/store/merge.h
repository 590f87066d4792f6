// `emsweep merge`: one results file from the files of separate jobs of one sweep (the same
// config hash, e.g. the shards of one grid). It merges their journals — the source of truth —
// de-duplicated by point id, and lets the store rebuild the HDF5 view from the merged journal.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sweep/core/task.h"

namespace emsweep {

// How to merge.
struct MergeOptions {
  std::string output;               // OUT.h5 (OUT.h5.journal is written next to it)
  std::vector<std::string> inputs;  // IN.h5 files (or their .journal files)
  bool overwrite = false;           // replace an existing OUT
  std::string command_line;         // recorded in the merged journal's last header
};

// What happened, for the command's report.
struct MergeReport {
  std::uint64_t points = 0;           // final records in OUT
  std::uint64_t duplicates = 0;       // records of a point already taken, with the same outcome
  std::uint64_t conflicts = 0;        // records of a point already taken, with different metrics
  std::uint64_t replaced_failed = 0;  // failed records replaced by a done record of the point
  std::vector<std::string> warnings;  // damaged journals, runs still writing, conflicts
};

// Merges; throws StoreError (with why) for inputs of different sweeps, missing journals, an
// existing OUT without `overwrite`. Per point: done beats failed; otherwise the first input
// (in argument order) wins, and different metrics count as a conflict. Every input's run
// headers are kept (provenance); each point keeps its own host, rank, times and provenance.
MergeReport merge_results(const MergeOptions& options, const TaskRegistry& registry);

}  // namespace emsweep
