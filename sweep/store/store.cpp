// The results store: builds the HDF5 view whose names and widths sweep/store/schema.h fixes
// (docs/results-format.md describes it).
#include "sweep/store/store.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <limits>
#include <optional>
#include <tuple>
#include <unordered_map>

#include "sweep/core/error.h"
#include "sweep/core/plan.h"
#include "sweep/core/search.h"
#include "sweep/store/h5.h"
#include "sweep/core/sha256.h"
#include "sweep/core/version.h"

namespace emsweep {
namespace fs = std::filesystem;

namespace {

using schema::kCommandBytes;
using schema::kCurveNameBytes;
using schema::kErrorBytes;
using schema::kHostBytes;
using schema::kLongTextBytes;
using schema::kOutcomeBytes;
using schema::kProvenanceBytes;
using schema::kWorkdirBytes;
constexpr std::size_t kMaxFailuresKept = 1000;
constexpr std::size_t kRecentTimes = 512;

struct CurveRow {
  std::uint64_t point_id;
  char curve[kCurveNameBytes];
  double x;
  double y;
};

// One failed attempt, retried or final: /failures.
struct FailureRow {
  std::uint64_t point_id;
  std::uint64_t index;
  std::int32_t attempt;
  std::int8_t final;  // 1: the point was recorded failed with this attempt; 0: it was retried
  std::int32_t rank;
  char host[kHostBytes];
  double end_time;
  double seconds;
  char outcome[kOutcomeBytes];
  std::int32_t exit_code;
  std::int32_t signal;
  double peak_rss_mb;
  char workdir[kWorkdirBytes];
  char argv[kLongTextBytes];
  char error[kLongTextBytes];
  char stderr_tail[kLongTextBytes];
};

struct RunRow {
  double start_time;
  std::int32_t ranks;
  char host[kHostBytes];
  char command_line[kCommandBytes];
};

// The start of `src` that fits, null-padded, not splitting a UTF-8 sequence.
void copy_fixed(char* dst, std::size_t size, const std::string& src) {
  std::memset(dst, 0, size);
  std::size_t n = std::min(src.size(), size - 1);
  if (n < src.size()) {
    // While src[n], the first byte left out, continues a character, leave that character out.
    while (n > 0 && (static_cast<unsigned char>(src[n]) & 0xC0) == 0x80) --n;
  }
  std::memcpy(dst, src.data(), n);
}

// The end of `src` that fits (a tail is worth more than its head), not splitting a UTF-8
// sequence.
void copy_fixed_tail(char* dst, std::size_t size, const std::string& src) {
  if (src.size() < size) return copy_fixed(dst, size, src);
  std::size_t start = src.size() - (size - 1);
  while (start < src.size() && (static_cast<unsigned char>(src[start]) & 0xC0) == 0x80) ++start;
  copy_fixed(dst, size, src.substr(start));
}

std::string iso_time(double unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// A fixed-length, null-padded string type of `size` bytes.
h5::Handle fixed_string(std::size_t size, const std::string& file) {
  h5::Handle t = h5::own(H5Tcopy(H5T_C_S1), H5Tclose, "H5Tcopy", "string type", file);
  h5::check(H5Tset_size(t.get(), std::max<std::size_t>(size, 1)), "H5Tset_size", "string type", file);
  h5::check(H5Tset_strpad(t.get(), H5T_STR_NULLPAD), "H5Tset_strpad", "string type", file);
  return t;
}

void write_string_attr(hid_t obj, const char* name, const std::string& value, const std::string& file) {
  h5::Handle t = h5::own(H5Tcopy(H5T_C_S1), H5Tclose, "H5Tcopy", name, file);
  h5::check(H5Tset_size(t.get(), H5T_VARIABLE), "H5Tset_size", name, file);
  h5::check(H5Tset_cset(t.get(), H5T_CSET_UTF8), "H5Tset_cset", name, file);
  h5::Handle space = h5::own(H5Screate(H5S_SCALAR), H5Sclose, "H5Screate", name, file);
  h5::Handle a = h5::own(H5Acreate2(obj, name, t.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT),
                         H5Aclose, "H5Acreate2", name, file);
  const char* p = value.c_str();
  h5::check(H5Awrite(a.get(), t.get(), &p), "H5Awrite", name, file);
}

void write_strings_attr(hid_t obj, const char* name, const std::vector<std::string>& values,
                        const std::string& file) {
  h5::Handle t = h5::own(H5Tcopy(H5T_C_S1), H5Tclose, "H5Tcopy", name, file);
  h5::check(H5Tset_size(t.get(), H5T_VARIABLE), "H5Tset_size", name, file);
  h5::check(H5Tset_cset(t.get(), H5T_CSET_UTF8), "H5Tset_cset", name, file);
  hsize_t n = values.size();
  h5::Handle space = h5::own(H5Screate_simple(1, &n, nullptr), H5Sclose, "H5Screate", name, file);
  h5::Handle a = h5::own(H5Acreate2(obj, name, t.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT),
                         H5Aclose, "H5Acreate2", name, file);
  std::vector<const char*> ptrs;
  for (const auto& v : values) ptrs.push_back(v.c_str());
  if (!ptrs.empty()) h5::check(H5Awrite(a.get(), t.get(), ptrs.data()), "H5Awrite", name, file);
}

template <typename T>
void write_number_attr(hid_t obj, const char* name, hid_t type, T value, const std::string& file) {
  h5::Handle space = h5::own(H5Screate(H5S_SCALAR), H5Sclose, "H5Screate", name, file);
  h5::Handle a = h5::own(H5Acreate2(obj, name, type, space.get(), H5P_DEFAULT, H5P_DEFAULT),
                         H5Aclose, "H5Acreate2", name, file);
  h5::check(H5Awrite(a.get(), type, &value), "H5Awrite", name, file);
}

// An extendible 1-D table of compound rows, appended in batches.
struct Table {
  explicit Table(std::string table_name) : name(std::move(table_name)) {}
  std::string name;
  h5::Handle dataset;
  h5::Handle type;
  std::size_t row_size = 0;
  hsize_t rows = 0;
  std::string pending;  // packed rows not yet written
  std::size_t pending_rows = 0;

  void create(hid_t file, const std::string& file_name, std::size_t chunk_rows) {
    hsize_t zero = 0, unlimited = H5S_UNLIMITED, chunk = chunk_rows;
    h5::Handle space = h5::own(H5Screate_simple(1, &zero, &unlimited), H5Sclose, "H5Screate_simple", name, file_name);
    h5::Handle dcpl = h5::own(H5Pcreate(H5P_DATASET_CREATE), H5Pclose, "H5Pcreate", name, file_name);
    h5::check(H5Pset_chunk(dcpl.get(), 1, &chunk), "H5Pset_chunk", name, file_name);
    dataset = h5::own(H5Dcreate2(file, name.c_str(), type.get(), space.get(), H5P_DEFAULT,
                                 dcpl.get(), H5P_DEFAULT),
                      H5Dclose, "H5Dcreate2", name, file_name);
    rows = 0;
  }

  void open(hid_t file, const std::string& file_name) {
    dataset = h5::own(H5Dopen2(file, name.c_str(), H5P_DEFAULT), H5Dclose, "H5Dopen2", name, file_name);
    h5::Handle space = h5::own(H5Dget_space(dataset.get()), H5Sclose, "H5Dget_space", name, file_name);
    h5::check(H5Sget_simple_extent_dims(space.get(), &rows, nullptr), "H5Sget_simple_extent_dims", name, file_name);
  }

  char* add_row() {
    pending.resize(pending.size() + row_size, '\0');
    ++pending_rows;
    return pending.data() + pending.size() - row_size;
  }

  void flush(const std::string& file_name, bool swmr) {
    if (pending_rows == 0) return;
    hsize_t start = rows, count = pending_rows, total = rows + pending_rows;
    h5::check(H5Dset_extent(dataset.get(), &total), "H5Dset_extent", name, file_name);
    h5::Handle fspace = h5::own(H5Dget_space(dataset.get()), H5Sclose, "H5Dget_space", name, file_name);
    h5::check(H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, &start, nullptr, &count, nullptr),
              "H5Sselect_hyperslab", name, file_name);
    h5::Handle mspace = h5::own(H5Screate_simple(1, &count, nullptr), H5Sclose, "H5Screate_simple", name, file_name);
    h5::check(H5Dwrite(dataset.get(), type.get(), mspace.get(), fspace.get(), H5P_DEFAULT, pending.data()),
              "H5Dwrite", name, file_name);
    if (swmr) h5::check(H5Dflush(dataset.get()), "H5Dflush", name, file_name);
    rows = total;
    pending.clear();
    pending_rows = 0;
  }

  // Replaces the whole table by the pending rows (a table recomputed at every flush).
  void rewrite(const std::string& file_name, bool swmr) {
    rows = 0;
    flush(file_name, swmr);
  }
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// IndexSet

bool IndexSet::insert(std::uint64_t index) {
  auto& page = pages_[index / kPageBits];
  if (!page) {
    page = std::make_unique<std::uint64_t[]>(kPageBits / 64);
    std::fill_n(page.get(), kPageBits / 64, 0);
  }
  std::uint64_t bit = index % kPageBits;
  std::uint64_t& word = page[bit / 64];
  std::uint64_t mask = std::uint64_t{1} << (bit % 64);
  if (word & mask) return false;
  word |= mask;
  ++size_;
  return true;
}

bool IndexSet::erase(std::uint64_t index) {
  auto it = pages_.find(index / kPageBits);
  if (it == pages_.end()) return false;
  std::uint64_t bit = index % kPageBits;
  std::uint64_t& word = it->second[bit / 64];
  std::uint64_t mask = std::uint64_t{1} << (bit % 64);
  if (!(word & mask)) return false;
  word &= ~mask;
  --size_;
  return true;
}

bool IndexSet::contains(std::uint64_t index) const {
  auto it = pages_.find(index / kPageBits);
  if (it == pages_.end()) return false;
  std::uint64_t bit = index % kPageBits;
  return (it->second[bit / 64] >> (bit % 64)) & 1;
}

// ---------------------------------------------------------------------------------------------
// Replay

Ledger replay(const JournalScan& scan, bool keep_metrics) {
  Ledger l;
  for (const auto& rec : scan.records) {
    switch (rec.type) {
      case RecordType::kHeader:
        if (auto h = decode_journal_header(rec.payload)) l.headers.push_back(std::move(*h));
        break;
      case RecordType::kDispatch:
        if (auto w = decode_work_item(rec.payload)) {
          if (!l.done.contains(w->index) && !l.failed.contains(w->index)) {
            ++l.pending_attempts[w->index];
          }
        }
        break;
      case RecordType::kReleased:
        if (auto w = decode_work_item(rec.payload)) {
          auto it = l.pending_attempts.find(w->index);
          if (it != l.pending_attempts.end() && --it->second == 0) l.pending_attempts.erase(it);
        }
        break;
      case RecordType::kAttemptFailed:
        if (auto f = decode_attempt_failure(rec.payload)) {
          l.last_error[f->index] = f->error;
          l.last_detail[f->index] = std::move(f->detail);
          ++l.reported_failures[f->index];
        }
        break;
      case RecordType::kResult: {
        auto r = decode_point_record(rec.payload);
        if (!r || r->status == PointStatus::kCancelled) break;
        ++l.results;
        bool fresh = !l.done.contains(r->index) && !l.failed.contains(r->index);
        if (!fresh) {
          // A retried failure replaces the failed record; anything else is a duplicate.
          if (l.failed.contains(r->index)) {
            l.failed.erase(r->index);
          } else {
            ++l.duplicates;
            break;
          }
        }
        (r->status == PointStatus::kDone ? l.done : l.failed).insert(r->index);
        if (keep_metrics && r->status == PointStatus::kDone) l.done_metrics[r->index] = r->metrics;
        l.pending_attempts.erase(r->index);
        l.last_error.erase(r->index);
        l.last_detail.erase(r->index);
        l.reported_failures.erase(r->index);
        if (r->status == PointStatus::kFailed && l.failures.size() < kMaxFailuresKept) {
          r->curves.clear();
          l.failures.push_back(*r);
        }
        if (r->end_time <= 0) break;  // a failure recorded without running (no timing)
        if (l.first_result_time == 0) l.first_result_time = r->end_time;
        l.last_result_time = std::max(l.last_result_time, r->end_time);
        l.recent_end_times.push_back(r->end_time);
        if (l.recent_end_times.size() > 2 * kRecentTimes) {
          l.recent_end_times.erase(l.recent_end_times.begin(),
                                   l.recent_end_times.end() - kRecentTimes);
        }
        break;
      }
    }
  }
  // Failures that a later retry turned into done are not failures any more.
  std::erase_if(l.failures, [&](const PointRecord& r) { return !l.failed.contains(r.index); });
  return l;
}

std::string journal_path(const std::string& h5_path) { return h5_path + ".journal"; }

std::vector<std::string> recovery_messages(const JournalRecovery& r,
                                           std::optional<std::uint64_t> to_go) {
  std::vector<std::string> out;
  if (!r.damaged()) return out;
  const bool repaired = !r.saved_to.empty();
  if (r.middle_damage() == 0) {
    const JournalDamage& t = r.damage.back();
    out.push_back("the journal " + r.path + " ends in a torn record (" + std::to_string(t.bytes()) +
                  " bytes from byte " + std::to_string(t.begin) + "; normal after a crash): " +
                  (repaired ? "cut off, its bytes saved to " + r.saved_to
                            : "the next run cuts it off and saves its bytes"));
    return out;
  }
  const std::uint64_t lost = r.frames_lost() - (r.torn_tail() ? r.damage.back().frames : 0);
  bool exact = true;
  for (std::size_t i = 0; i < r.middle_damage(); ++i) exact = exact && r.damage[i].frames_exact;
  out.push_back("the journal " + r.path + " is DAMAGED in the middle (not a crash: the file was " +
                "changed on disk or in a copy): " + damage_ranges_text(r) +
                " hold no intact record");
  out.push_back(std::to_string(r.records_after_damage) +
                " intact records after the damage are kept (" + std::to_string(r.records) +
                " in all, each with a valid CRC-32C); " + (exact ? "" : "about ") +
                std::to_string(lost) + (lost == 1 ? " record was" : " records were") + " lost" +
                (to_go ? "; " + std::to_string(*to_go) +
                             (*to_go == 1 ? " point has" : " points have") +
                             " no final record and run" + (*to_go == 1 ? "s" : "") +
                             " again when the sweep resumes"
                       : std::string()));
  if (r.torn_tail()) {
    out.push_back("it also ends in a torn record (" + std::to_string(r.damage.back().bytes()) +
                  " bytes from byte " + std::to_string(r.damage.back().begin) + ")");
  }
  if (repaired) {
    out.push_back(
        "the journal now holds exactly its intact records; the damaged original is kept as " +
        r.saved_to + " (byte offsets above are of that file)");
  } else {
    out.push_back(
        "the next `emsweep run` or `emsweep repair` rewrites the journal without the damaged bytes "
        "and keeps the original as " +
        r.path + ".damaged-TIME");
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The HDF5 view

struct ResultsView::Impl {
  std::string path;
  const SweepSpec* spec = nullptr;
  const Grid* grid = nullptr;
  h5::Handle file;
  Table points{schema::kPoints}, curves{schema::kCurves}, runs{schema::kRuns}, failures{schema::kFailures};
  bool swmr = false;

  // /points layout: offsets of the fixed and per-kind columns.
  std::size_t off_id = 0, off_index = 0, off_replicate = 0, off_status = 0, off_attempts = 0,
              off_rank = 0, off_host = 0, off_start = 0, off_end = 0, off_seconds = 0,
              off_error = 0, off_outcome = 0, off_exit_code = 0, off_signal = 0, off_peak = 0,
              off_provenance = 0;
  struct AxisColumn {
    int axis = 0;
    ValueType type = ValueType::kNumber;
    std::size_t offset = 0;
    std::size_t size = 0;
  };
  std::vector<AxisColumn> axis_columns;
  std::vector<std::size_t> metric_offsets;
  std::vector<h5::Handle> string_types;  // kept alive while the compound type exists

  // A boundary search's /boundary: one row per cell of this view (its shard), recomputed from
  // the outcomes of the points written so far whenever the view is flushed.
  Table boundary{schema::kBoundary};
  std::vector<std::uint64_t> cells;                     // the cells' numbers, in grid order
  std::unordered_map<std::uint64_t, Outcome> searched;  // lattice point -> its searched value
  bool boundary_stale = false;
  std::size_t search_metric = 0;
  std::ptrdiff_t search_minus = -1;
  std::size_t off_b_cell = 0, off_b_index = 0, off_b_replicate = 0, off_b_status = 0,
              off_b_critical = 0, off_b_low = 0, off_b_high = 0, off_b_points = 0,
              off_b_increasing = 0;
  std::vector<AxisColumn> cell_columns;  // the grid axes but the replicate and searched ones

  // The HDF5 type and width of an axis' column.
  std::pair<hid_t, std::size_t> axis_type(const Axis& axis, ValueType type) {
    switch (type) {
      case ValueType::kNumber: return {H5T_NATIVE_DOUBLE, 8};
      case ValueType::kInteger: return {H5T_NATIVE_INT64, 8};
      case ValueType::kBool: return {H5T_NATIVE_INT8, 1};
      case ValueType::kString: break;
    }
    std::size_t len = 1;
    for (const auto& v : axis.values) len = std::max(len, v.as_string().size() + 1);
    string_types.push_back(fixed_string(len, path));
    return {string_types.back().get(), len};
  }

  // Writes the value of an axis column into a row.
  static void put_axis_value(char* row, const AxisColumn& c, const Value& v) {
    switch (c.type) {
      case ValueType::kNumber: { double d = v.as_double(); std::memcpy(row + c.offset, &d, 8); break; }
      case ValueType::kInteger: { std::int64_t i = v.as_int(); std::memcpy(row + c.offset, &i, 8); break; }
      case ValueType::kBool: { std::int8_t b = v.as_bool() ? 1 : 0; std::memcpy(row + c.offset, &b, 1); break; }
      case ValueType::kString: copy_fixed(row + c.offset, c.size, v.as_string()); break;
    }
  }

  void build_points_type() {
    std::size_t off = 0;
    struct Field {
      std::string name;
      hid_t type;
      std::size_t size;
      std::size_t* offset;
    };
    std::vector<Field> fields;
    auto add = [&](const std::string& name, hid_t type, std::size_t size, std::size_t* where) {
      fields.push_back({name, type, size, where});
    };
    add(schema::kPointId, H5T_NATIVE_UINT64, 8, &off_id);
    add(schema::kIndex, H5T_NATIVE_UINT64, 8, &off_index);
    add(schema::kReplicate, H5T_NATIVE_INT64, 8, &off_replicate);
    axis_columns.clear();
    for (std::size_t a = 0; a < spec->axes.size(); ++a) {
      const Axis& axis = spec->axes[a];
      if (axis.is_replicate) continue;
      AxisColumn c;
      c.axis = static_cast<int>(a);
      c.type = axis.values.front().type();
      axis_columns.push_back(c);
    }
    for (auto& c : axis_columns) {
      const Axis& axis = spec->axes[c.axis];
      auto [type, size] = axis_type(axis, c.type);
      c.size = size;
      add(axis.name, type, size, &c.offset);
    }
    add(schema::kStatus, H5T_NATIVE_INT8, 1, &off_status);
    add(schema::kAttempts, H5T_NATIVE_INT32, 4, &off_attempts);
    add(schema::kRank, H5T_NATIVE_INT32, 4, &off_rank);
    string_types.push_back(fixed_string(kHostBytes, path));
    add(schema::kHost, string_types.back().get(), kHostBytes, &off_host);
    add(schema::kStartTime, H5T_NATIVE_DOUBLE, 8, &off_start);
    add(schema::kEndTime, H5T_NATIVE_DOUBLE, 8, &off_end);
    add(schema::kSeconds, H5T_NATIVE_DOUBLE, 8, &off_seconds);
    add(schema::kPeakRssMb, H5T_NATIVE_DOUBLE, 8, &off_peak);
    metric_offsets.assign(spec->kind->metrics.size(), 0);
    for (std::size_t m = 0; m < metric_offsets.size(); ++m) {
      add(spec->kind->metrics[m].name, H5T_NATIVE_DOUBLE, 8, &metric_offsets[m]);
    }
    string_types.push_back(fixed_string(kOutcomeBytes, path));
    add(schema::kOutcome, string_types.back().get(), kOutcomeBytes, &off_outcome);
    add(schema::kExitCode, H5T_NATIVE_INT32, 4, &off_exit_code);
    add(schema::kSignal, H5T_NATIVE_INT32, 4, &off_signal);
    string_types.push_back(fixed_string(kErrorBytes, path));
    add(schema::kError, string_types.back().get(), kErrorBytes, &off_error);
    string_types.push_back(fixed_string(kProvenanceBytes, path));
    add(schema::kProvenance, string_types.back().get(), kProvenanceBytes, &off_provenance);

    std::vector<std::string> seen;
    for (auto& f : fields) {
      if (std::find(seen.begin(), seen.end(), f.name) != seen.end()) {
        throw StoreError("column '" + f.name + "' would appear twice in /points of " + path,
                         "a metric of task kind '" + spec->kind->name +
                             "' has the name of an axis or a fixed column; rename one");
      }
      seen.push_back(f.name);
      *f.offset = off;
      off += f.size;
    }
    points.row_size = off;
    points.type = h5::own(H5Tcreate(H5T_COMPOUND, off), H5Tclose, "H5Tcreate", "/points type", path);
    for (auto& f : fields) {
      h5::check(H5Tinsert(points.type.get(), f.name.c_str(), *f.offset, f.type), "H5Tinsert",
                "/points." + f.name, path);
    }
  }

  void build_other_types() {
    curves.row_size = sizeof(CurveRow);
    curves.type = h5::own(H5Tcreate(H5T_COMPOUND, sizeof(CurveRow)), H5Tclose, "H5Tcreate", "/curves type", path);
    string_types.push_back(fixed_string(kCurveNameBytes, path));
    h5::check(H5Tinsert(curves.type.get(), schema::kPointId, HOFFSET(CurveRow, point_id), H5T_NATIVE_UINT64), "H5Tinsert", "/curves", path);
    h5::check(H5Tinsert(curves.type.get(), schema::kCurve, HOFFSET(CurveRow, curve), string_types.back().get()), "H5Tinsert", "/curves", path);
    h5::check(H5Tinsert(curves.type.get(), schema::kX, HOFFSET(CurveRow, x), H5T_NATIVE_DOUBLE), "H5Tinsert", "/curves", path);
    h5::check(H5Tinsert(curves.type.get(), schema::kY, HOFFSET(CurveRow, y), H5T_NATIVE_DOUBLE), "H5Tinsert", "/curves", path);

    runs.row_size = sizeof(RunRow);
    runs.type = h5::own(H5Tcreate(H5T_COMPOUND, sizeof(RunRow)), H5Tclose, "H5Tcreate", "/runs type", path);
    string_types.push_back(fixed_string(kHostBytes, path));
    hid_t host_t = string_types.back().get();
    string_types.push_back(fixed_string(kCommandBytes, path));
    hid_t cmd_t = string_types.back().get();
    h5::check(H5Tinsert(runs.type.get(), schema::kStartTime, HOFFSET(RunRow, start_time), H5T_NATIVE_DOUBLE), "H5Tinsert", "/runs", path);
    h5::check(H5Tinsert(runs.type.get(), schema::kRanks, HOFFSET(RunRow, ranks), H5T_NATIVE_INT32), "H5Tinsert", "/runs", path);
    h5::check(H5Tinsert(runs.type.get(), schema::kHost, HOFFSET(RunRow, host), host_t), "H5Tinsert", "/runs", path);
    h5::check(H5Tinsert(runs.type.get(), schema::kCommandLine, HOFFSET(RunRow, command_line), cmd_t), "H5Tinsert", "/runs", path);

    failures.row_size = sizeof(FailureRow);
    failures.type = h5::own(H5Tcreate(H5T_COMPOUND, sizeof(FailureRow)), H5Tclose, "H5Tcreate", "/failures type", path);
    hid_t ft = failures.type.get();
    auto string_of = [&](std::size_t n) {
      string_types.push_back(fixed_string(n, path));
      return string_types.back().get();
    };
    auto insert = [&](const char* name, std::size_t offset, hid_t type) {
      h5::check(H5Tinsert(ft, name, offset, type), "H5Tinsert", std::string("/failures.") + name, path);
    };
    insert(schema::kPointId, HOFFSET(FailureRow, point_id), H5T_NATIVE_UINT64);
    insert(schema::kIndex, HOFFSET(FailureRow, index), H5T_NATIVE_UINT64);
    insert(schema::kAttempt, HOFFSET(FailureRow, attempt), H5T_NATIVE_INT32);
    insert(schema::kFinal, HOFFSET(FailureRow, final), H5T_NATIVE_INT8);
    insert(schema::kRank, HOFFSET(FailureRow, rank), H5T_NATIVE_INT32);
    insert(schema::kHost, HOFFSET(FailureRow, host), string_of(kHostBytes));
    insert(schema::kEndTime, HOFFSET(FailureRow, end_time), H5T_NATIVE_DOUBLE);
    insert(schema::kSeconds, HOFFSET(FailureRow, seconds), H5T_NATIVE_DOUBLE);
    insert(schema::kOutcome, HOFFSET(FailureRow, outcome), string_of(kOutcomeBytes));
    insert(schema::kExitCode, HOFFSET(FailureRow, exit_code), H5T_NATIVE_INT32);
    insert(schema::kSignal, HOFFSET(FailureRow, signal), H5T_NATIVE_INT32);
    insert(schema::kPeakRssMb, HOFFSET(FailureRow, peak_rss_mb), H5T_NATIVE_DOUBLE);
    insert(schema::kWorkdir, HOFFSET(FailureRow, workdir), string_of(kWorkdirBytes));
    insert(schema::kArgv, HOFFSET(FailureRow, argv), string_of(kLongTextBytes));
    insert(schema::kError, HOFFSET(FailureRow, error), string_of(kLongTextBytes));
    insert(schema::kStderrTail, HOFFSET(FailureRow, stderr_tail), string_of(kLongTextBytes));
  }

  // Queues a /failures row for a failed attempt.
  void add_failure(std::uint64_t point_id, std::uint64_t index, std::uint32_t attempt, bool final,
                   std::int32_t rank, const std::string& host, double end_time, double seconds,
                   const std::string& error, const RunDetail& d) {
    auto* f = reinterpret_cast<FailureRow*>(failures.add_row());
    f->point_id = point_id;
    f->index = index;
    f->attempt = static_cast<std::int32_t>(attempt);
    f->final = final ? 1 : 0;
    f->rank = rank;
    copy_fixed(f->host, kHostBytes, host);
    f->end_time = end_time;
    f->seconds = seconds;
    copy_fixed(f->outcome, kOutcomeBytes, d.outcome);
    f->exit_code = d.exit_code;
    f->signal = d.signal;
    f->peak_rss_mb = d.peak_rss_mb;
    copy_fixed(f->workdir, kWorkdirBytes, d.workdir);
    copy_fixed(f->argv, kLongTextBytes, d.argv);
    copy_fixed(f->error, kLongTextBytes, error);
    copy_fixed_tail(f->stderr_tail, kLongTextBytes, d.stderr_tail);
  }

  void add_failure(const AttemptFailure& a) {
    if (a.index >= grid->full_size()) return;
    add_failure(grid->id_at(a.index), a.index, a.attempt, false, a.rank, a.host, a.end_time,
                a.seconds, a.error, a.detail);
  }

  void add(const PointRecord& r) {
    char* row = points.add_row();
    std::memcpy(row + off_id, &r.point_id, 8);
    std::memcpy(row + off_index, &r.index, 8);
    std::memcpy(row + off_replicate, &r.replicate, 8);
    auto pos = grid->positions(r.index);
    for (const auto& c : axis_columns) put_axis_value(row, c, spec->axes[c.axis].values[pos[c.axis]]);
    if (spec->search) note_searched(r);
    auto status = static_cast<std::int8_t>(r.status);
    std::memcpy(row + off_status, &status, 1);
    auto attempts = static_cast<std::int32_t>(r.attempts);
    std::memcpy(row + off_attempts, &attempts, 4);
    std::memcpy(row + off_rank, &r.rank, 4);
    copy_fixed(row + off_host, kHostBytes, r.host);
    std::memcpy(row + off_start, &r.start_time, 8);
    std::memcpy(row + off_end, &r.end_time, 8);
    std::memcpy(row + off_seconds, &r.seconds, 8);
    std::memcpy(row + off_peak, &r.detail.peak_rss_mb, 8);
    copy_fixed(row + off_outcome, kOutcomeBytes, r.detail.outcome);
    std::memcpy(row + off_exit_code, &r.detail.exit_code, 4);
    std::memcpy(row + off_signal, &r.detail.signal, 4);
    const double nan = std::numeric_limits<double>::quiet_NaN();
    for (std::size_t m = 0; m < metric_offsets.size(); ++m) {
      double v = m < r.metrics.size() ? r.metrics[m] : nan;
      std::memcpy(row + metric_offsets[m], &v, 8);
    }
    copy_fixed(row + off_error, kErrorBytes, r.error);
    copy_fixed(row + off_provenance, kProvenanceBytes, r.provenance);
    if (r.status == PointStatus::kFailed) {
      add_failure(r.point_id, r.index, r.attempts, true, r.rank, r.host, r.end_time, r.seconds,
                  r.error, r.detail);
    }
    for (const auto& c : r.curves) {
      for (std::size_t i = 0; i < c.x.size(); ++i) {
        auto* cr = reinterpret_cast<CurveRow*>(curves.add_row());
        cr->point_id = r.point_id;
        copy_fixed(cr->curve, kCurveNameBytes, c.name);
        cr->x = c.x[i];
        cr->y = c.y[i];
      }
    }
  }

  // /boundary's layout, its cells (those of `shard`) and the searched metric's columns.
  void build_boundary_type(const Shard& shard) {
    const SearchSpec& se = *spec->search;
    for (std::size_t m = 0; m < spec->kind->metrics.size(); ++m) {
      if (spec->kind->metrics[m].name == se.metric) search_metric = m;
      if (spec->kind->metrics[m].name == se.minus) search_minus = static_cast<std::ptrdiff_t>(m);
    }
    cells = search_cells(*spec, *grid, shard);
    std::vector<std::tuple<std::string, hid_t, std::size_t, std::size_t*>> fields;
    fields.emplace_back(schema::kCell, H5T_NATIVE_UINT64, 8, &off_b_cell);
    fields.emplace_back(schema::kIndex, H5T_NATIVE_UINT64, 8, &off_b_index);
    fields.emplace_back(schema::kReplicate, H5T_NATIVE_INT64, 8, &off_b_replicate);
    cell_columns.clear();
    for (std::size_t a = 0; a + 1 < spec->axes.size(); ++a) {  // the searched axis is the last
      if (spec->axes[a].is_replicate) continue;
      cell_columns.push_back({static_cast<int>(a), spec->axes[a].values.front().type(), 0, 0});
    }
    for (auto& c : cell_columns) {
      auto [type, size] = axis_type(spec->axes[c.axis], c.type);
      c.size = size;
      fields.emplace_back(spec->axes[c.axis].name, type, size, &c.offset);
    }
    string_types.push_back(fixed_string(schema::kCellStatusBytes, path));
    fields.emplace_back(schema::kStatus, string_types.back().get(), schema::kCellStatusBytes, &off_b_status);
    fields.emplace_back(schema::kCritical, H5T_NATIVE_DOUBLE, 8, &off_b_critical);
    fields.emplace_back(schema::kBracketLow, H5T_NATIVE_DOUBLE, 8, &off_b_low);
    fields.emplace_back(schema::kBracketHigh, H5T_NATIVE_DOUBLE, 8, &off_b_high);
    fields.emplace_back(schema::kPointsUsed, H5T_NATIVE_INT32, 4, &off_b_points);
    fields.emplace_back(schema::kIncreasing, H5T_NATIVE_INT8, 1, &off_b_increasing);
    std::size_t off = 0;
    for (auto& [name, type, size, offset] : fields) {
      *offset = off;
      off += size;
    }
    boundary.row_size = off;
    boundary.type = h5::own(H5Tcreate(H5T_COMPOUND, off), H5Tclose, "H5Tcreate", "/boundary type", path);
    for (auto& [name, type, size, offset] : fields) {
      h5::check(H5Tinsert(boundary.type.get(), name.c_str(), *offset, type), "H5Tinsert",
                "/boundary." + name, path);
    }
    boundary_stale = true;  // the first flush writes every cell, searched or not
  }

  // A written point of a search sweep: its cell's answer may change.
  void note_searched(const PointRecord& r) {
    const auto value = [&](std::size_t m) {
      return m < r.metrics.size() ? r.metrics[m] : std::numeric_limits<double>::quiet_NaN();
    };
    double v = value(search_metric);
    if (search_minus >= 0) v -= value(static_cast<std::size_t>(search_minus));
    searched[r.index] = Outcome{r.status != PointStatus::kDone, v};
    boundary_stale = true;
  }

  // Recomputes every cell's answer (the same replay as the run's and `summary`'s).
  void write_boundary() {
    if (!spec->search || !boundary_stale || !boundary.dataset.valid()) return;
    const SearchSpec& se = *spec->search;
    const std::uint64_t lattice = se.lattice_size();
    const auto& values = spec->axes.back().values;
    const double nan = std::numeric_limits<double>::quiet_NaN();
    for (std::uint64_t cell : cells) {
      const std::uint64_t first = cell * lattice;
      const CellAnswer a = bisect(se, [&](std::uint32_t p) -> std::optional<Outcome> {
        auto it = searched.find(first + p);
        if (it == searched.end()) return std::nullopt;
        return it->second;
      });
      char* row = boundary.add_row();
      std::memcpy(row + off_b_cell, &cell, 8);
      std::memcpy(row + off_b_index, &first, 8);
      const auto pos = grid->positions(first);
      std::int64_t replicate = 0;
      for (std::size_t ax = 0; ax < spec->axes.size(); ++ax) {
        if (spec->axes[ax].is_replicate) replicate = static_cast<std::int64_t>(pos[ax]);
      }
      std::memcpy(row + off_b_replicate, &replicate, 8);
      for (const auto& c : cell_columns) put_axis_value(row, c, spec->axes[c.axis].values[pos[c.axis]]);
      copy_fixed(row + off_b_status, schema::kCellStatusBytes, cell_status_name(a.status));
      const bool found = a.status == CellStatus::kFound;
      const double critical = found ? a.critical : nan;
      const double low = found ? values[a.bracket_low].as_double() : nan;
      const double high = found ? values[a.bracket_high].as_double() : nan;
      std::memcpy(row + off_b_critical, &critical, 8);
      std::memcpy(row + off_b_low, &low, 8);
      std::memcpy(row + off_b_high, &high, 8);
      const auto used = static_cast<std::int32_t>(a.used.size() - a.wanted.size());
      std::memcpy(row + off_b_points, &used, 4);
      const std::int8_t increasing = a.increasing ? 1 : 0;
      std::memcpy(row + off_b_increasing, &increasing, 1);
    }
    boundary.rewrite(path, swmr);
    boundary_stale = false;
  }

  void flush() {
    write_boundary();
    points.flush(path, swmr);
    curves.flush(path, swmr);
    runs.flush(path, swmr);
    failures.flush(path, swmr);
    if (file.valid()) h5::check(H5Fflush(file.get(), H5F_SCOPE_GLOBAL), "H5Fflush", "file", path);
  }
};

namespace {

void fsync_path(const std::string& p, bool directory) {
  int fd = ::open(p.c_str(), (directory ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

ResultsView::ResultsView(const std::string& path, const SweepSpec& spec, const Grid& grid,
                         const JournalScan& scan, const RunProvenance& run,
                         const StoreOptions& options)
    : impl_(std::make_unique<Impl>()) {
  h5::silence_errors();
  Impl& v = *impl_;
  v.spec = &spec;
  v.grid = &grid;
  const std::string tmp = path + ".rebuild.tmp";
  v.path = tmp;
  std::error_code ec;
  fs::remove(tmp, ec);
  {
    h5::Handle fapl = h5::own(H5Pcreate(H5P_FILE_ACCESS), H5Pclose, "H5Pcreate", "file access", tmp);
    h5::check(H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_LATEST, H5F_LIBVER_LATEST),
              "H5Pset_libver_bounds", "file access", tmp);
    v.file = h5::own(H5Fcreate(tmp.c_str(), H5F_ACC_EXCL, H5P_DEFAULT, fapl.get()), H5Fclose,
                     "H5Fcreate", "file", tmp);
  }
  v.build_points_type();
  v.build_other_types();
  v.points.create(v.file.get(), tmp, std::max<std::size_t>(16, 65536 / v.points.row_size));
  v.curves.create(v.file.get(), tmp, 65536 / sizeof(CurveRow));
  v.runs.create(v.file.get(), tmp, 16);
  v.failures.create(v.file.get(), tmp, 4);
  if (spec.search) {
    v.build_boundary_type(options.shard.empty() ? Shard{} : parse_shard(options.shard));
    v.boundary.create(v.file.get(), tmp, std::clamp<std::size_t>(v.cells.size(), 1, 1024));
  }

  // Attributes: all of them now, before SWMR (which forbids adding any later).
  Ledger ledger = replay(scan);
  hid_t root = v.file.get();
  write_number_attr(root, schema::kVersionAttribute, H5T_NATIVE_INT64, schema::kVersion, tmp);
  write_string_attr(root, "sweep_name", spec.name, tmp);
  write_string_attr(root, "config_hash", spec.hash(), tmp);
  write_string_attr(root, "base_hash", spec.base_hash(), tmp);
  write_string_attr(root, "config_yaml", spec.resolved_yaml(), tmp);
  write_string_attr(root, "task_kind", spec.kind->name, tmp);
  std::vector<std::string> axes, metrics;
  for (const auto& a : spec.axes) axes.push_back(a.name);
  for (const auto& m : spec.kind->metrics) metrics.push_back(m.name);
  write_strings_attr(root, "axis_names", axes, tmp);
  write_strings_attr(root, "metric_names", metrics, tmp);
  write_strings_attr(root, "curve_names", spec.kind->curves, tmp);
  std::uint64_t grid_points = grid.size();
  if (!options.shard.empty()) {
    Shard shard = parse_shard(options.shard);
    grid_points = 0;
    for (std::uint64_t i = grid.next_kept(0); i < grid.full_size(); i = grid.next_kept(i + 1)) {
      grid_points += grid.in_shard(i, shard) ? 1 : 0;
    }
  }
  write_number_attr(root, "grid_points", H5T_NATIVE_UINT64, grid_points, tmp);
  write_string_attr(root, "shard", options.shard, tmp);
  write_string_attr(root, "emsweep_version", version(), tmp);
  write_string_attr(root, "git_commit", git_commit(), tmp);
  write_string_attr(root, "hdf5_version", h5::library_version(), tmp);
  write_string_attr(root, "mpi_version", run.mpi_version, tmp);
  write_string_attr(root, "libtorch_version", run.libtorch_version, tmp);
  write_string_attr(root, "host", run.host, tmp);
  write_number_attr(root, "ranks", H5T_NATIVE_INT64, static_cast<std::int64_t>(run.ranks), tmp);
  write_string_attr(root, "command_line", run.command_line, tmp);
  double created = ledger.headers.empty() ? run.start_time : ledger.headers.front().start_time;
  write_string_attr(root, "created", iso_time(created), tmp);
  write_string_attr(root, "last_run_start", iso_time(run.start_time), tmp);
  std::vector<std::string> docs;
  for (const auto& m : spec.kind->metrics) docs.push_back(m.name + ": " + m.doc);
  write_strings_attr(root, "metric_docs", docs, tmp);

  // Rows: every run header, then every final record (a retried failure replaced by its retry;
  // with --retry-failed, failures are left out: they are about to run again).
  for (const auto& h : ledger.headers) {
    auto* row = reinterpret_cast<RunRow*>(v.runs.add_row());
    row->start_time = h.start_time;
    row->ranks = h.ranks;
    copy_fixed(row->host, kHostBytes, h.host);
    copy_fixed(row->command_line, kCommandBytes, h.command_line);
  }
  // /failures: every failed attempt that was retried, in journal order (final failures are
  // added with their /points rows).
  for (const auto& rec : scan.records) {
    if (rec.type != RecordType::kAttemptFailed) continue;
    if (auto f = decode_attempt_failure(rec.payload)) v.add_failure(*f);
  }
  IndexSet written;
  for (auto it = scan.records.rbegin(); it != scan.records.rend(); ++it) {
    if (it->type != RecordType::kResult) continue;
    auto r = decode_point_record(it->payload);
    if (!r || r->index >= grid.full_size() || r->status == PointStatus::kCancelled) continue;
    if (options.retry_failed && r->status == PointStatus::kFailed) continue;
    if (!written.insert(r->index)) continue;  // newest record of each point wins
    v.add(*r);
    if (v.points.pending_rows >= 4096) v.flush();
  }
  v.flush();
  v.points.dataset.reset();
  v.curves.dataset.reset();
  v.runs.dataset.reset();
  v.failures.dataset.reset();
  v.boundary.dataset.reset();
  v.file.reset();
  fsync_path(tmp, false);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    throw StoreError("cannot move the rebuilt view " + tmp + " to " + path + ": " +
                     std::strerror(errno));
  }
  fsync_path(fs::path(path).parent_path().empty() ? "." : fs::path(path).parent_path().string(), true);

  // Reopen for SWMR appends.
  v.path = path;
  {
    h5::Handle fapl = h5::own(H5Pcreate(H5P_FILE_ACCESS), H5Pclose, "H5Pcreate", "file access", path);
    h5::check(H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_LATEST, H5F_LIBVER_LATEST),
              "H5Pset_libver_bounds", "file access", path);
    v.file = h5::own(H5Fopen(path.c_str(), H5F_ACC_RDWR | H5F_ACC_SWMR_WRITE, fapl.get()),
                     H5Fclose, "H5Fopen (SWMR write)", "file", path);
  }
  v.points.open(v.file.get(), path);
  v.curves.open(v.file.get(), path);
  v.runs.open(v.file.get(), path);
  v.failures.open(v.file.get(), path);
  if (spec.search) v.boundary.open(v.file.get(), path);
  v.swmr = true;
}

ResultsView::~ResultsView() {
  try {
    close();
  } catch (const Error&) {
    // Reported by whoever closes explicitly; the journal holds every record anyway.
  }
}

void ResultsView::add(const PointRecord& record) { impl_->add(record); }
void ResultsView::add_attempt_failure(const AttemptFailure& failure) { impl_->add_failure(failure); }
void ResultsView::flush() {
  if (impl_->file.valid()) impl_->flush();
}
std::size_t ResultsView::buffered() const { return impl_->points.pending_rows; }

void ResultsView::close() {
  if (!impl_->file.valid()) return;
  impl_->flush();
  impl_->points.dataset.reset();
  impl_->curves.dataset.reset();
  impl_->runs.dataset.reset();
  impl_->failures.dataset.reset();
  impl_->boundary.dataset.reset();
  impl_->file.reset();
}

// ---------------------------------------------------------------------------------------------
// Store

namespace {

// Rewrites the journal so its records use the indices of `grid` (a grown grid of the same
// sweep); refuses if a recorded point is not in the new grid.
void translate_journal(const std::string& jpath, const JournalScan& scan, const SweepSpec& old_spec,
                       const SweepSpec& spec, const Grid& grid) {
  Grid old_grid(old_spec);
  // Per axis: old position -> new position.
  std::vector<std::vector<std::int64_t>> remap(old_spec.axes.size());
  for (std::size_t a = 0; a < old_spec.axes.size(); ++a) {
    const Axis& oa = old_spec.axes[a];
    const Axis& na = spec.axes[spec.axis_index(oa.name)];
    if (oa.is_sampled) {  // sample point i stays point i (the prefix property), values may repeat
      for (std::size_t i = 0; i < oa.values.size(); ++i) {
        const bool same = i < na.values.size() && na.values[i] == oa.values[i];
        remap[a].push_back(same ? static_cast<std::int64_t>(i) : -1);
      }
      continue;
    }
    for (const auto& val : oa.values) {
      auto it = std::find(na.values.begin(), na.values.end(), val);
      remap[a].push_back(it == na.values.end() ? -1 : it - na.values.begin());
    }
  }
  auto translate = [&](std::uint64_t old_index) -> std::uint64_t {
    auto pos = old_grid.positions(old_index);
    std::vector<std::uint32_t> npos(spec.axes.size());
    for (std::size_t a = 0; a < pos.size(); ++a) {
      std::int64_t p = remap[a][pos[a]];
      if (p < 0 && old_spec.axes[a].is_sampled) {
        throw StoreError("cannot --extend: sample point " + std::to_string(pos[a]) +
                             ", which has recorded points, is not in the new sample",
                         "--extend keeps a random or sobol sample when only n grows; use --output "
                         "for a new file");
      }
      if (p < 0) {
        throw StoreError("cannot --extend: the new config drops value " +
                             old_spec.axes[a].values[pos[a]].display() + " of axis '" +
                             old_spec.axes[a].name + "', which has recorded points",
                         "--extend only accepts a grid that grew; use --output for a new file");
      }
      npos[spec.axis_index(old_spec.axes[a].name)] = static_cast<std::uint32_t>(p);
    }
    auto ni = grid.index_of(npos);
    if (!ni || grid.is_excluded(*ni)) {
      throw StoreError("cannot --extend: a recorded point is not part of the new grid",
                       "--extend only accepts a grid that grew; use --output for a new file");
    }
    return *ni;
  };
  const std::string tmp = jpath + ".extend.tmp";
  std::error_code ec;
  fs::remove(tmp, ec);
  {
    JournalWriter out(tmp, true);
    for (const auto& rec : scan.records) {
      switch (rec.type) {
        case RecordType::kHeader: out.append(rec.type, rec.payload); break;
        case RecordType::kDispatch:
        case RecordType::kReleased: {
          auto w = decode_work_item(rec.payload);
          if (!w) break;
          w->index = translate(w->index);
          out.append(rec.type, encode(*w));
          break;
        }
        case RecordType::kAttemptFailed: {
          auto f = decode_attempt_failure(rec.payload);
          if (!f) break;
          f->index = translate(f->index);
          out.append(rec.type, encode(*f));
          break;
        }
        case RecordType::kResult: {
          auto r = decode_point_record(rec.payload);
          if (!r) break;
          r->index = translate(r->index);
          if (grid.id_at(r->index) != r->point_id) {
            throw StoreError("cannot --extend: point ids differ between the old and new grid",
                             "the fixed settings changed; use --output for a new file");
          }
          out.append(rec.type, encode(*r));
          break;
        }
      }
    }
    out.commit();
  }
  const std::string backup = jpath + ".pre-extend";
  fs::copy_file(jpath, backup, fs::copy_options::overwrite_existing, ec);
  if (::rename(tmp.c_str(), jpath.c_str()) != 0) {
    throw StoreError("cannot replace " + jpath + " with the extended journal: " + std::strerror(errno));
  }
}

}  // namespace

Store::Store(const SweepSpec& spec, const Grid& grid, const StoreOptions& options,
             const RunProvenance& run, const TaskRegistry& registry)
    : path_(spec.output) {
  const std::string jpath = journal_path(path_);
  std::error_code ec;
  if (fs::is_directory(path_, ec)) {
    throw StoreError("the output " + path_ + " is a directory",
                     "give a file name, e.g. --output " + (fs::path(path_) / (spec.name + ".h5")).string());
  }
  if (fs::exists(path_, ec) && !fs::is_regular_file(path_, ec)) {
    throw StoreError("the output " + path_ + " is not a regular file", "give a file path with --output");
  }
  const fs::path parent = fs::path(path_).parent_path();
  if (!parent.empty()) {
    fs::create_directories(parent, ec);
    if (ec) throw StoreError("cannot create the output directory " + parent.string() + ": " + ec.message());
  }
  if (options.overwrite) {
    if (journal_is_locked(jpath)) {
      throw StoreError("another emsweep run is writing " + path_, "wait for it, or choose another --output");
    }
    fs::remove(path_, ec);
    fs::remove(jpath, ec);
  }
  const bool have_journal = fs::exists(jpath, ec);
  const bool have_view = fs::exists(path_, ec);
  if (!have_journal && have_view) {
    throw StoreError(path_ + " exists but has no journal (" + jpath + "); emsweep resumes only from its journal",
                     "use --output for a new results file, or --overwrite to replace it; nothing was changed");
  }
  if (have_journal) {
    if (journal_is_locked(jpath)) {
      throw StoreError("another emsweep run is writing " + path_,
                       "wait for it to finish (`emsweep status " + path_ + "`), or use --output");
    }
    JournalScan scan = read_journal(jpath);
    Ledger before = replay(scan);
    if (before.headers.empty()) {
      const JournalRecovery damage = describe_damage(scan, jpath);
      throw StoreError(
          jpath + " holds no sweep header: it is not a usable journal" +
              (damage.middle_damage() > 0 ? " (its header may be in the damaged bytes: " +
                                                damage_ranges_text(damage) + "; " +
                                                std::to_string(damage.records) + " intact records)"
                                          : std::string()),
          "`emsweep verify " + path_ + "` shows what is left; move the files away (or pass "
          "--overwrite) to start a new results file; nothing was changed");
    }
    const JournalHeader& last = before.headers.back();
    if (last.config_hash != spec.hash()) {
      if (!options.extend) {
        throw StoreError("cannot resume " + path_ + ": it was written by a different sweep (config hash " +
                             last.config_hash.substr(0, 12) + " != " + spec.hash().substr(0, 12) + ")",
                         "use --output for a new file; --extend if only the grid grew; --overwrite "
                         "to replace it. Nothing was changed");
      }
      if (last.base_hash != spec.base_hash()) {
        throw StoreError("cannot --extend " + path_ + ": more than the grid changed (task settings, seed, "
                         "kind or the set of axes differ)",
                         "--extend accepts only added axis values; use --output for a new file");
      }
      ParseResult old = parse_spec(last.config_yaml, jpath + " (recorded config)", {}, registry);
      if (!old.spec) throw StoreError("cannot read the config recorded in " + jpath + ": " + old.errors[0].format());
      if (old.spec->sample && !old.spec->sample->extendable() && old.spec->sample->n != spec.sample->n) {
        throw StoreError("cannot --extend " + path_ + ": a latin hypercube (sample kind lhs) places every "
                         "point by n, so a larger n is a different sample",
                         "use kind: sobol or random for a sample that grows; --output for a new file");
      }
      translate_journal(jpath, scan, *old.spec, spec, grid);
      if (scan.damaged()) {
        // The translated journal holds only the intact records; the original is the backup.
        recovery_ = describe_damage(scan, jpath);
        recovery_.saved_to = jpath + ".pre-extend";
        recovery_.rewritten = true;
      }
    }
    if (last.shard != options.shard) {
      throw StoreError("cannot resume " + path_ + ": it holds shard '" + last.shard + "', this run is shard '" +
                           options.shard + "'",
                       "give each shard its own --output file");
    }
    journal_ = std::make_unique<JournalWriter>(jpath, false);
  } else {
    journal_ = std::make_unique<JournalWriter>(jpath, true);
  }
  // Holding the lock now: repair a torn tail or damage, then add this run's header.
  JournalRecovery found;
  JournalScan scan = journal_->recover(found);
  if (found.damaged() || !recovery_.damaged()) recovery_ = found;
  JournalHeader header;
  header.config_yaml = spec.resolved_yaml();
  header.config_hash = spec.hash();
  header.base_hash = spec.base_hash();
  header.shard = options.shard;
  header.command_line = run.command_line;
  header.host = run.host;
  header.ranks = run.ranks;
  header.start_time = run.start_time;
  header.emsweep_version = version();
  header.mpi_version = run.mpi_version;
  header.libtorch_version = run.libtorch_version;
  const std::string header_bytes = encode(header);
  journal_->append(RecordType::kHeader, header_bytes);
  journal_->commit();
  scan = read_journal(jpath);
  ledger_ = replay(scan, spec.search.has_value());  // a search resumes from the metrics
  if (options.retry_failed) {
    // Failed points run again, with a fresh count of attempts.
    for (const auto& f : ledger_.failures) ledger_.pending_attempts.erase(f.index);
    ledger_.failed = IndexSet();
    ledger_.failures.clear();
  }
  view_ = std::make_unique<ResultsView>(path_, spec, grid, scan, run, options);
}

Store::~Store() {
  try {
    close();
  } catch (const Error&) {
    // Already reported by the explicit close; the journal is synced record by record anyway.
  }
}

void Store::record_dispatch(const WorkItem& item) {
  journal_->append(RecordType::kDispatch, encode(item));
}

void Store::publish() { journal_->write_out(); }

void Store::record_release(const WorkItem& item) { journal_->append(RecordType::kReleased, encode(item)); }

void Store::record_attempt_failure(const AttemptFailure& failure) {
  journal_->append(RecordType::kAttemptFailed, encode(failure));
  view_->add_attempt_failure(failure);
}

void Store::record_result(const PointRecord& record, std::string_view encoded) {
  if (encoded.empty()) {
    journal_->append(RecordType::kResult, encode(record));
  } else {
    journal_->append(RecordType::kResult, encoded);
  }
  view_->add(record);
}

void Store::commit() { journal_->commit(); }

void Store::commit_in_background() { journal_->commit_in_background(); }

void Store::flush_view() {
  // Records reach the journal file first: a reader never sees a row whose record it cannot read.
  journal_->write_out();
  view_->flush();
}

void Store::close() {
  if (journal_) journal_->commit();
  if (view_) view_->close();
}

std::uint64_t rebuild_view(const std::string& h5_path, const TaskRegistry& registry,
                           JournalRecovery* recovery) {
  const std::string jpath = journal_path(h5_path);
  if (!fs::exists(jpath)) {
    throw StoreError("there is no journal " + jpath + " to rebuild " + h5_path + " from",
                     "emsweep rebuilds results files from their journal; without it, the .h5 is all there is");
  }
  JournalWriter lock(jpath, false);  // holds the writer lock while repairing
  JournalRecovery found;
  JournalScan scan = lock.recover(found);
  if (recovery != nullptr) *recovery = found;
  Ledger ledger = replay(scan);
  if (ledger.headers.empty()) throw StoreError(jpath + " holds no sweep header");
  const JournalHeader& last = ledger.headers.back();
  ParseResult parsed = parse_spec(last.config_yaml, jpath + " (recorded config)", {}, registry);
  if (!parsed.spec) throw StoreError("cannot read the config recorded in " + jpath + ": " + parsed.errors[0].format());
  SweepSpec spec = std::move(*parsed.spec);
  spec.output = h5_path;
  Grid grid(spec);
  RunProvenance run;
  run.command_line = last.command_line;
  run.host = last.host;
  run.ranks = last.ranks;
  run.start_time = last.start_time;
  run.mpi_version = last.mpi_version;
  run.libtorch_version = last.libtorch_version;
  StoreOptions options;
  options.shard = last.shard;
  ResultsView view(h5_path, spec, grid, scan, run, options);
  view.close();
  return ledger.done.size() + ledger.failed.size();
}

}  // namespace emsweep
