// Reads an emsweep results file (docs/results-format.md) into memory: root attributes, the
// /points table column by column, and the /curves long table. Opens with SWMR read so that a
// file still being written by `emsweep run` can be read; errors are StoreError with a hint.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace emsweep::analysis {

// Status codes of the `status` column.
inline constexpr std::int8_t kStatusDone = 1;
inline constexpr std::int8_t kStatusFailed = 2;

// How an axis column is stored.
enum class ColumnType { kFloat, kInt, kBool, kText };

// One non-replicate axis of /points, values per row.
struct AxisColumn {
  std::string name;
  ColumnType type = ColumnType::kFloat;
  std::vector<double> num;        // kFloat, kInt, kBool (0/1) values
  std::vector<std::string> text;  // kText values

  // Whether the column holds numbers (everything but kText).
  [[nodiscard]] bool numeric() const { return type != ColumnType::kText; }
  // The row's value as a person reads it ("0.01", "3", "true", "adam").
  [[nodiscard]] std::string display(std::size_t row) const;
};

// The /points table, one vector per column, all of the same length.
struct PointsTable {
  std::vector<std::uint64_t> point_id;
  std::vector<std::uint64_t> index;
  std::vector<std::int64_t> replicate;
  std::vector<AxisColumn> axes;  // non-replicate axes, in config order
  std::vector<std::int8_t> status;
  std::vector<std::int32_t> attempts;
  std::vector<std::int32_t> rank;
  std::vector<std::string> host;
  std::vector<double> start_time;
  std::vector<double> end_time;
  std::vector<double> seconds;
  std::vector<std::vector<double>> metrics;  // [metric][row], metric order of metric_names
  std::vector<std::string> error;
  // How each point's last attempt ran (schema 2; defaults for files of schema 1): the outcome
  // word of a failure, the child's exit code and signal, its peak memory, and provenance.
  std::vector<std::string> outcome;
  std::vector<std::int32_t> exit_code;
  std::vector<std::int32_t> signal;
  std::vector<double> peak_rss_mb;
  std::vector<std::string> provenance;

  // Number of rows.
  [[nodiscard]] std::size_t size() const { return point_id.size(); }
  // Index into `axes` of the axis called `name`, or -1.
  [[nodiscard]] int axis_index(const std::string& name) const;
};

// The /curves long table.
struct CurvesTable {
  std::vector<std::uint64_t> point_id;
  std::vector<std::string> curve;
  std::vector<double> x;
  std::vector<double> y;

  [[nodiscard]] std::size_t size() const { return point_id.size(); }
};

// Root attributes (see the table in docs/results-format.md).
struct FileInfo {
  std::int64_t schema_version = 0;
  std::string sweep_name;
  std::string config_hash;
  std::string base_hash;
  std::string config_yaml;
  std::string task_kind;
  std::vector<std::string> axis_names;    // config order, replicate axis included
  std::string replicate_axis;             // name of the replicate axis ("" when none)
  std::vector<std::string> metric_names;  // column order
  std::vector<std::string> curve_names;
  std::uint64_t grid_points = 0;
  std::string shard;
  std::map<std::string, std::string> provenance;  // every other scalar attribute, as text
};

// /runs: one row per `emsweep run` on the file.
struct RunRow {
  double start_time = 0;
  std::int32_t ranks = 0;
  std::string host;
  std::string command_line;
};

// /boundary (a boundary search's answers, one row per cell), as stored.
struct BoundaryTable {
  bool present = false;
  std::vector<std::uint64_t> index;  // the cell's first lattice point
  std::vector<std::string> status;
  std::vector<double> critical, bracket_low, bracket_high;
  std::vector<std::int64_t> points_used, increasing;
};

// Everything read from one results file.
struct Results {
  std::string path;
  FileInfo info;
  PointsTable points;
  CurvesTable curves;
  std::vector<RunRow> runs;
  BoundaryTable boundary;

  // Index of metric `name` in info.metric_names, or -1.
  [[nodiscard]] int metric_index(const std::string& name) const;
  // Number of rows with status done / failed.
  [[nodiscard]] std::size_t count_status(std::int8_t status) const;
};

// What to read besides the attributes and /points.
struct ReadOptions {
  bool curves = true;  // read /curves (can be large)
};

// Reads `path`; throws StoreError (foreign, malformed, newer schema) or Error with
// ExitCode::kBadInput (no such file).
[[nodiscard]] Results read_results(const std::string& path, const ReadOptions& options = {});

// A point id as the CLI prints it: 16 lowercase hex digits.
[[nodiscard]] std::string format_point_id(std::uint64_t id);

}  // namespace emsweep::analysis
