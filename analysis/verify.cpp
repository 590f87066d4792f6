#include "analysis/verify.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <filesystem>
#include <limits>
#include <map>
#include <tuple>
#include <unordered_map>

#include "sweep/core/error.h"
#include "sweep/core/grid.h"
#include "sweep/store/journal.h"
#include "sweep/core/plan.h"
#include "analysis/boundary.h"
#include "analysis/results.h"
#include "sweep/core/spec.h"
#include "sweep/store/store.h"

namespace emsweep::analysis {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kListed = 10;  // differences listed per kind; the rest are counted

// Bit-for-bit equality of doubles (NaN equals the same NaN; 0.0 differs from -0.0).
bool same_bits(double a, double b) {
  return std::bit_cast<std::uint64_t>(a) == std::bit_cast<std::uint64_t>(b);
}

// What a fixed-width view column keeps of `s`: the first width-1 bytes, up to a NUL.
std::string as_stored(const std::string& s, std::size_t width) {
  std::string t = s.substr(0, width - 1);
  return t.substr(0, t.find('\0'));
}

std::string show(double v) {
  return fmt::format("{} (bits {:016x})", v, std::bit_cast<std::uint64_t>(v));
}

// Collects differences of one kind, listing the first kListed.
class Differences {
 public:
  Differences(std::string check, std::string what)
      : check_(std::move(check)), what_(std::move(what)) {}
  void add(const std::string& line) {
    if (lines_.size() < kListed) lines_.push_back(line);
    ++count_;
  }
  void report(VerifyReport& r) const {
    if (count_ == 0) return;
    std::string msg = fmt::format("{}: {}", what_, count_);
    for (const auto& l : lines_) msg += "\n    " + l;
    if (count_ > lines_.size()) msg += fmt::format("\n    ... and {} more", count_ - lines_.size());
    r.problems.push_back({check_, msg});
  }

 private:
  std::string check_, what_;
  std::vector<std::string> lines_;
  std::size_t count_ = 0;
};

// The journal's final record of each point, newest first wins, as the view keeps it.
struct Expected {
  std::map<std::uint64_t, PointRecord> by_index;
  std::uint64_t outside_grid = 0;  // records for an index the grid does not have
};

Expected final_records(const JournalScan& scan, const Grid& grid) {
  Expected e;
  for (auto it = scan.records.rbegin(); it != scan.records.rend(); ++it) {
    if (it->type != RecordType::kResult) continue;
    auto r = decode_point_record(it->payload);
    if (!r) continue;
    if (r->index >= grid.full_size()) {
      ++e.outside_grid;
      continue;
    }
    e.by_index.try_emplace(r->index, std::move(*r));
  }
  return e;
}

void check_journal(const JournalScan& scan, VerifyReport& r) {
  const JournalRecovery d = describe_damage(scan, r.journal);
  if (d.middle_damage() > 0) {
    r.problems.push_back(
        {"journal",
         fmt::format("{} is damaged in the middle: {} hold no intact record; {} intact "
                     "records after the damage, {} in all",
                     r.journal, damage_ranges_text(d), d.records_after_damage, d.records)});
  }
  if (d.torn_tail()) {
    const JournalDamage& t = d.damage.back();
    const std::string what = fmt::format("{} ends in a torn record ({} bytes from byte {}: {})",
                                         r.journal, t.bytes(), t.begin, t.problem);
    if (r.running) {
      r.notes.push_back(what + "; a run is writing it, so that is its last record being written");
    } else {
      r.problems.push_back({"journal", what + "; normal after a crash"});
    }
  }
}

void check_attributes(const FileInfo& info, const JournalHeader& last, const SweepSpec& spec,
                      const TaskRegistry& registry, VerifyReport& r) {
  if (info.schema_version != schema::kVersion) {
    r.problems.push_back(
        {"schema", fmt::format("schema_version is {}; this emsweep writes and checks {}",
                               info.schema_version, schema::kVersion)});
  }
  auto differs = [&](const char* what, const std::string& view, const std::string& journal) {
    if (view != journal) {
      r.problems.push_back(
          {"config", fmt::format("attribute {} is '{}' in the view, '{}' in the journal's "
                                 "last header",
                                 what, view, journal)});
    }
  };
  differs("config_hash", info.config_hash, last.config_hash);
  differs("base_hash", info.base_hash, last.base_hash);
  differs("shard", info.shard, last.shard);
  differs("sweep_name", info.sweep_name, spec.name);
  differs("task_kind", info.task_kind, spec.kind->name);
  std::vector<std::string> axes, metrics;
  for (const auto& a : spec.axes) axes.push_back(a.name);
  for (const auto& m : spec.kind->metrics) metrics.push_back(m.name);
  differs("axis_names", fmt::format("{}", fmt::join(info.axis_names, ",")),
          fmt::format("{}", fmt::join(axes, ",")));
  differs("metric_names", fmt::format("{}", fmt::join(info.metric_names, ",")),
          fmt::format("{}", fmt::join(metrics, ",")));
  differs("curve_names", fmt::format("{}", fmt::join(info.curve_names, ",")),
          fmt::format("{}", fmt::join(spec.kind->curves, ",")));
  if (info.grid_points != r.grid_points) {
    r.problems.push_back(
        {"config", fmt::format("attribute grid_points is {}; the journal's grid has {}",
                               info.grid_points, r.grid_points)});
  }
  ParseResult yaml =
      parse_spec(info.config_yaml, r.file + " (config_yaml attribute)", {}, registry);
  if (!yaml.spec) {
    r.problems.push_back(
        {"config", "attribute config_yaml does not parse: " + yaml.errors[0].format()});
  } else if (yaml.spec->hash() != last.config_hash) {
    r.problems.push_back(
        {"config", fmt::format("attribute config_yaml hashes to {}, the journal's config to {}",
                               yaml.spec->hash().substr(0, 12), last.config_hash.substr(0, 12))});
  }
}

// Compares one row of /points with the journal's record of its point.
void check_row(const Results& v, std::size_t row, const PointRecord& rec, const SweepSpec& spec,
               const Grid& grid, Differences& diff) {
  const PointsTable& p = v.points;
  const std::string where =
      fmt::format("row {} (#{} {})", row, rec.index, describe_point(spec, grid, rec.index));
  auto cell = [&](const std::string& column, const std::string& view, const std::string& journal) {
    diff.add(fmt::format("{}: {}: view {}, journal {}", where, column, view, journal));
  };
  if (p.point_id[row] != rec.point_id) {
    cell("point_id", format_point_id(p.point_id[row]), format_point_id(rec.point_id));
  }
  if (p.replicate[row] != rec.replicate)
    cell("replicate", std::to_string(p.replicate[row]), std::to_string(rec.replicate));
  if (p.status[row] != static_cast<std::int8_t>(rec.status)) {
    cell("status", std::to_string(p.status[row]), std::to_string(static_cast<int>(rec.status)));
  }
  if (p.attempts[row] != static_cast<std::int32_t>(rec.attempts)) {
    cell("attempts", std::to_string(p.attempts[row]), std::to_string(rec.attempts));
  }
  if (p.rank[row] != rec.rank) cell("rank", std::to_string(p.rank[row]), std::to_string(rec.rank));
  if (p.host[row] != as_stored(rec.host, schema::kHostBytes)) cell("host", p.host[row], rec.host);
  if (p.error[row] != as_stored(rec.error, schema::kErrorBytes))
    cell("error", "'" + p.error[row] + "'", "'" + rec.error + "'");
  const std::pair<const char*, std::pair<double, double>> times[] = {
      {"start_time", {p.start_time[row], rec.start_time}},
      {"end_time", {p.end_time[row], rec.end_time}},
      {"seconds", {p.seconds[row], rec.seconds}}};
  for (const auto& [name, vals] : times) {
    if (!same_bits(vals.first, vals.second)) cell(name, show(vals.first), show(vals.second));
  }
  for (std::size_t m = 0; m < v.info.metric_names.size() && m < p.metrics.size(); ++m) {
    const double want =
        m < rec.metrics.size() ? rec.metrics[m] : std::numeric_limits<double>::quiet_NaN();
    if (!same_bits(p.metrics[m][row], want))
      cell(v.info.metric_names[m], show(p.metrics[m][row]), show(want));
  }
  const auto pos = grid.positions(rec.index);
  for (const auto& col : p.axes) {
    const int a = spec.axis_index(col.name);
    if (a < 0) continue;  // reported with the attributes
    const Value& val =
        spec.axes[static_cast<std::size_t>(a)].values[pos[static_cast<std::size_t>(a)]];
    bool same = false;
    switch (val.type()) {
      case ValueType::kNumber:
        same = col.numeric() && same_bits(col.num[row], val.as_double());
        break;
      case ValueType::kInteger:
        same = col.numeric() && col.num[row] == static_cast<double>(val.as_int());
        break;
      case ValueType::kBool:
        same = col.numeric() && (col.num[row] != 0) == val.as_bool();
        break;
      case ValueType::kString:
        same = !col.numeric() && col.text[row] == val.as_string();
        break;
    }
    if (!same) cell(col.name, col.display(row), val.display());
  }
}

void check_curves(const Results& v, const Expected& e,
                  const std::unordered_map<std::uint64_t, std::size_t>& row_of, VerifyReport& r) {
  // The view's curve rows per point, in order.
  std::unordered_map<std::uint64_t, std::vector<std::size_t>> rows;
  for (std::size_t i = 0; i < v.curves.size(); ++i) rows[v.curves.point_id[i]].push_back(i);
  Differences diff("curves", "points whose curves differ between the view and the journal");
  std::unordered_map<std::uint64_t, bool> expected_ids;
  std::uint64_t unflushed = 0;
  for (const auto& [index, rec] : e.by_index) {
    expected_ids[rec.point_id] = true;
    if (!row_of.count(index)) continue;  // a missing row is reported with the rows
    std::vector<std::tuple<std::string, double, double>> want;
    for (const auto& c : rec.curves) {
      for (std::size_t i = 0; i < c.x.size() && i < c.y.size(); ++i) {
        want.emplace_back(as_stored(c.name, schema::kCurveNameBytes), c.x[i], c.y[i]);
      }
    }
    const auto it = rows.find(rec.point_id);
    const std::size_t have = it == rows.end() ? 0 : it->second.size();
    if (have < want.size() && r.running) {
      // A run flushes /points before /curves: the rest of this point's curve may follow.
      ++unflushed;
    } else if (have != want.size()) {
      diff.add(fmt::format("#{} ({}): {} curve rows in the view, {} in the journal", index,
                           format_point_id(rec.point_id), have, want.size()));
      continue;
    }
    for (std::size_t k = 0; k < have; ++k) {
      const std::size_t i = it->second[k];
      const auto& [name, x, y] = want[k];
      if (v.curves.curve[i] != name || !same_bits(v.curves.x[i], x) ||
          !same_bits(v.curves.y[i], y)) {
        diff.add(fmt::format("#{} ({}): curve row {}: view {} ({}, {}), journal {} ({}, {})", index,
                             format_point_id(rec.point_id), i, v.curves.curve[i], v.curves.x[i],
                             v.curves.y[i], name, x, y));
        break;
      }
    }
  }
  diff.report(r);
  if (unflushed > 0) {
    r.notes.push_back(
        fmt::format("{} points have fewer curve rows in the view than in the journal yet (a run is "
                    "writing)",
                    unflushed));
  }
  Differences orphans("curves",
                      "points with curve rows in the view but no final record in the journal");
  for (const auto& [id, list] : rows) {
    if (!expected_ids.count(id))
      orphans.add(fmt::format("{} rows of point {}", list.size(), format_point_id(id)));
  }
  orphans.report(r);
}

void check_runs(const Results& v, const std::vector<JournalHeader>& headers, VerifyReport& r) {
  if (v.runs.size() != headers.size()) {
    r.problems.push_back({"runs", fmt::format("/runs has {} row{}; the journal has {} run header{}",
                                              v.runs.size(), v.runs.size() == 1 ? "" : "s",
                                              headers.size(), headers.size() == 1 ? "" : "s")});
    return;
  }
  Differences diff("runs", "rows of /runs that differ from the journal's run headers");
  for (std::size_t i = 0; i < headers.size(); ++i) {
    const RunRow& row = v.runs[i];
    const JournalHeader& h = headers[i];
    if (!same_bits(row.start_time, h.start_time) || row.ranks != h.ranks ||
        row.host != as_stored(h.host, schema::kHostBytes) ||
        row.command_line != as_stored(h.command_line, schema::kCommandBytes)) {
      diff.add(fmt::format("run {}: view '{}' on {} ({} ranks), journal '{}' on {} ({} ranks)",
                           i + 1, row.command_line, row.host, row.ranks, h.command_line, h.host,
                           h.ranks));
    }
  }
  diff.report(r);
}

// How many of the grid's points belong to `shard`.
// /boundary against the answers recomputed from the view's points (which check_rows compares
// with the journal): one row per cell of the file's shard, each with the same status, critical
// value, bracket, points used and direction.
void check_boundary(const Results& v, const SweepSpec& spec, const Grid& grid, const Shard& shard,
                    VerifyReport& r) {
  if (!spec.search) return;
  if (!v.boundary.present) {
    r.problems.push_back({"boundary", "the view has no /boundary table although the sweep is a search"});
    return;
  }
  const std::size_t cells = search_cells(spec, grid, shard).size();
  Differences diff("boundary", "/boundary rows that differ from the answers the points give");
  if (v.boundary.index.size() != cells) {
    diff.add(fmt::format("{} rows for {} cells", v.boundary.index.size(), cells));
  }
  std::map<std::uint64_t, const CellAnswer*> answers;
  const std::vector<BoundaryRow> rows = boundaries(v, spec);
  for (const auto& row : rows) answers[row.first] = &row.answer;
  const auto& values = spec.axes.back().values;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (std::size_t i = 0; i < v.boundary.index.size(); ++i) {
    const std::uint64_t first = v.boundary.index[i];
    const auto it = answers.find(first);
    const CellAnswer none;  // a cell without points: searching, nothing used
    const CellAnswer& a = it == answers.end() ? none : *it->second;
    const bool found = a.status == CellStatus::kFound;
    const std::string cell = describe_cell(spec, grid, first);
    const auto number = [&](const char* what, double stored, double want) {
      if (!same_bits(stored, want)) diff.add(fmt::format("{}: {} {} != {}", cell, what, show(stored), show(want)));
    };
    if (v.boundary.status[i] != cell_status_name(a.status)) {
      diff.add(fmt::format("{}: status {} != {}", cell, v.boundary.status[i], cell_status_name(a.status)));
    }
    number("critical", v.boundary.critical[i], found ? a.critical : nan);
    number("bracket_low", v.boundary.bracket_low[i], found ? values[a.bracket_low].as_double() : nan);
    number("bracket_high", v.boundary.bracket_high[i], found ? values[a.bracket_high].as_double() : nan);
    const auto used = static_cast<std::int64_t>(a.used.size() - a.wanted.size());
    if (v.boundary.points_used[i] != used) {
      diff.add(fmt::format("{}: points_used {} != {}", cell, v.boundary.points_used[i], used));
    }
    if (v.boundary.increasing[i] != (a.increasing ? 1 : 0)) {
      diff.add(fmt::format("{}: increasing {} != {}", cell, v.boundary.increasing[i], a.increasing ? 1 : 0));
    }
  }
  diff.report(r);
}

std::uint64_t points_in_shard(const Grid& grid, const Shard& shard) {
  std::uint64_t n = 0;
  for (std::uint64_t i = grid.next_kept(0); i < grid.full_size(); i = grid.next_kept(i + 1)) {
    n += grid.in_shard(i, shard) ? 1 : 0;
  }
  return n;
}

// Rows of /points against the journal's final records: duplicates, orphans, missing points,
// then each row's values. Returns the row of each grid index (for the curves' check).
std::unordered_map<std::uint64_t, std::size_t> check_rows(const Results& view, const Expected& expected,
                                                         const SweepSpec& spec, const Grid& grid,
                                                         VerifyReport& r) {
  std::unordered_map<std::uint64_t, std::size_t> row_of;
  Differences duplicates("rows", "points with more than one row in /points");
  Differences orphans("rows", "rows of /points with no final record in the journal");
  Differences values("values", "values of /points that differ from the journal");
  for (std::size_t row = 0; row < view.points.size(); ++row) {
    const std::uint64_t index = view.points.index[row];
    if (!row_of.emplace(index, row).second) {
      duplicates.add(fmt::format("#{}: rows {} and {}", index, row_of[index], row));
      continue;
    }
    const auto it = expected.by_index.find(index);
    if (it == expected.by_index.end()) {
      orphans.add(
          fmt::format("row {}: #{} ({})", row, index, format_point_id(view.points.point_id[row])));
      continue;
    }
    check_row(view, row, it->second, spec, grid, values);
  }
  Differences missing("rows", "points recorded in the journal without a row in /points");
  std::uint64_t behind = 0;
  for (const auto& [index, rec] : expected.by_index) {
    if (row_of.count(index)) continue;
    if (r.running) {
      ++behind;
    } else {
      missing.add(fmt::format("#{} {} ({})", index, describe_point(spec, grid, index),
                              rec.status == PointStatus::kDone ? "done" : "failed"));
    }
  }
  if (behind > 0) {
    r.notes.push_back(fmt::format(
        "{} points recorded in the journal are not in the view yet (a run is writing: the "
        "view is flushed every run.flush_seconds)",
        behind));
  }
  duplicates.report(r);
  orphans.report(r);
  missing.report(r);
  values.report(r);
  return row_of;
}

}  // namespace

VerifyReport verify_results(const std::string& h5_path, const TaskRegistry& registry) {
  VerifyReport r;
  r.file = h5_path;
  r.journal = journal_path(h5_path);
  r.hint = fmt::format(
      "the journal is the source of truth: `emsweep repair {0}` rebuilds the view from it (and "
      "rewrites a damaged journal with its intact records, keeping the original); `emsweep run` "
      "then runs the points whose records were lost. If this is a copy, copy both files again",
      h5_path);
  std::error_code ec;
  if (!fs::exists(r.journal, ec)) {
    r.problems.push_back({"journal", "there is no journal " + r.journal + " next to " + h5_path});
    r.hint = "copy NAME.h5.journal along with NAME.h5: the journal is the results' source of truth";
    return r;
  }
  r.running = journal_is_locked(r.journal);
  // The view first, then the journal: a run hands records to the journal before it flushes their
  // rows, so a journal read after the view holds a record for every row that view showed.
  Results view;
  bool have_view = false;
  if (!fs::exists(h5_path, ec)) {
    r.problems.push_back(
        {"view", "there is no results file " + h5_path + " (the journal is there)"});
  } else {
    try {
      view = read_results(h5_path);
      have_view = true;
    } catch (const Error& e) {
      r.problems.push_back({"view", std::string("cannot read the view: ") + e.what()});
    }
  }
  JournalScan scan;
  try {
    scan = read_journal(r.journal);
  } catch (const StoreError& e) {
    r.problems.push_back({"journal", e.what()});
    return r;
  }
  r.journal_bytes = scan.file_bytes;
  r.records = scan.records.size();
  check_journal(scan, r);
  const Ledger ledger = replay(scan);
  r.runs = ledger.headers.size();
  if (ledger.headers.empty()) {
    r.problems.push_back(
        {"journal", r.journal + " holds no run header: nothing to check the view against"});
    return r;
  }
  const JournalHeader& last = ledger.headers.back();
  r.config_hash = last.config_hash;
  ParseResult parsed = parse_spec(last.config_yaml, r.journal + " (recorded config)", {}, registry);
  if (!parsed.spec) {
    r.problems.push_back({"config", "the config recorded in the journal does not parse: " +
                                        parsed.errors[0].format()});
    return r;
  }
  const SweepSpec& spec = *parsed.spec;
  const Grid grid(spec);
  r.grid_points = last.shard.empty() ? grid.size() : points_in_shard(grid, parse_shard(last.shard));
  const Expected expected = final_records(scan, grid);
  r.journal_points = expected.by_index.size();
  for (const auto& [index, rec] : expected.by_index)
    (rec.status == PointStatus::kDone ? r.done : r.failed) += 1;
  if (expected.outside_grid > 0) {
    r.notes.push_back(
        fmt::format("{} result records name an index outside the grid; the view leaves them out",
                    expected.outside_grid));
  }
  if (ledger.duplicates > 0) {
    r.notes.push_back(fmt::format(
        "the journal holds {} duplicate result records; the newest of each point counts",
        ledger.duplicates));
  }

  if (!have_view) return r;
  r.rows = view.points.size();
  r.curve_rows = view.curves.size();
  check_attributes(view.info, last, spec, registry, r);

  const auto row_of = check_rows(view, expected, spec, grid, r);
  check_curves(view, expected, row_of, r);
  check_runs(view, ledger.headers, r);
  check_boundary(view, spec, grid, last.shard.empty() ? Shard{} : parse_shard(last.shard), r);
  return r;
}

}  // namespace emsweep::analysis
