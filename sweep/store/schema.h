// The results file's layout, named once: its version, the dataset and fixed column names, and
// the fixed string widths. The writer (store.cpp) and the readers (analysis/) both use these, so
// a column cannot be renamed on one side only. docs/results-format.md describes each column.
#pragma once

#include <cstddef>
#include <cstdint>

namespace emsweep::schema {

// 1: the first layout; 2: /failures, and the /points columns outcome, exit_code, signal,
// peak_rss_mb and provenance (readers take both).
inline constexpr std::int64_t kVersion = 2;

// Datasets and the root attribute that marks a results file.
inline constexpr const char* kPoints = "points";
inline constexpr const char* kCurves = "curves";
inline constexpr const char* kRuns = "runs";
inline constexpr const char* kFailures = "failures";
inline constexpr const char* kBoundary = "boundary";  // a boundary search's answers (search sweeps)
inline constexpr const char* kVersionAttribute = "schema_version";

// Fixed columns (/points also has one column per axis and per metric, named after them).
inline constexpr const char* kPointId = "point_id";    // /points, /curves, /failures
inline constexpr const char* kIndex = "index";         // /points, /failures
inline constexpr const char* kReplicate = "replicate";  // /points
inline constexpr const char* kStatus = "status";       // /points: 1 done, 2 failed
inline constexpr const char* kAttempts = "attempts";   // /points
inline constexpr const char* kAttempt = "attempt";     // /failures
inline constexpr const char* kFinal = "final";         // /failures
inline constexpr const char* kRank = "rank";           // /points, /failures
inline constexpr const char* kHost = "host";           // /points, /runs, /failures
inline constexpr const char* kStartTime = "start_time";  // /points, /runs
inline constexpr const char* kEndTime = "end_time";    // /points, /failures
inline constexpr const char* kSeconds = "seconds";     // /points, /failures
inline constexpr const char* kPeakRssMb = "peak_rss_mb";  // /points, /failures (schema 2)
inline constexpr const char* kOutcome = "outcome";     // /points, /failures (schema 2)
inline constexpr const char* kExitCode = "exit_code";  // /points, /failures (schema 2)
inline constexpr const char* kSignal = "signal";       // /points, /failures (schema 2)
inline constexpr const char* kError = "error";         // /points, /failures
inline constexpr const char* kProvenance = "provenance";  // /points (schema 2)
inline constexpr const char* kWorkdir = "workdir";     // /failures
inline constexpr const char* kArgv = "argv";           // /failures
inline constexpr const char* kStderrTail = "stderr_tail";  // /failures
inline constexpr const char* kCurve = "curve";         // /curves
inline constexpr const char* kX = "x";                 // /curves
inline constexpr const char* kY = "y";                 // /curves
inline constexpr const char* kRanks = "ranks";         // /runs
inline constexpr const char* kCommandLine = "command_line";  // /runs
inline constexpr const char* kCell = "cell";                 // /boundary: the cell's number
inline constexpr const char* kCritical = "critical";         // /boundary
inline constexpr const char* kBracketLow = "bracket_low";    // /boundary
inline constexpr const char* kBracketHigh = "bracket_high";  // /boundary
inline constexpr const char* kPointsUsed = "points_used";    // /boundary
inline constexpr const char* kIncreasing = "increasing";     // /boundary

// Fixed string widths in bytes, the terminating NUL included.
inline constexpr std::size_t kHostBytes = 64;           // host
inline constexpr std::size_t kErrorBytes = 512;         // /points.error
inline constexpr std::size_t kCurveNameBytes = 32;      // /curves.curve
inline constexpr std::size_t kCommandBytes = 1024;      // /runs.command_line
inline constexpr std::size_t kOutcomeBytes = 16;        // outcome
inline constexpr std::size_t kProvenanceBytes = 256;    // /points.provenance
inline constexpr std::size_t kWorkdirBytes = 1024;      // /failures.workdir
inline constexpr std::size_t kLongTextBytes = 4096;     // /failures.argv, error, stderr_tail
inline constexpr std::size_t kCellStatusBytes = 40;     // /boundary.status

}  // namespace emsweep::schema
