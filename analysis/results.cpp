#include "analysis/results.h"

#include <fmt/core.h>
#include <hdf5.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "sweep/core/error.h"
#include "sweep/store/h5.h"
#include "sweep/store/schema.h"
#include "sweep/core/value.h"

namespace emsweep::analysis {
namespace {


const char* const kRepairHint =
    "the file is damaged or was not written by emsweep; if its .journal is next to it, "
    "`emsweep repair FILE` rebuilds it";

// Copies a fixed-length HDF5 string (null-terminated or null-padded) into a std::string.
std::string fixed_string(const char* p, std::size_t size) {
  return {p, strnlen(p, size)};
}

// Reads one column at a time out of a 1-D compound dataset, by member name, so that the
// reader depends on names and types, never on the writer's member order or offsets.
class CompoundReader {
 public:
  CompoundReader(hid_t file, const std::string& dataset, const std::string& path)
      : path_(path), name_("/" + dataset) {
    dset_ = h5::own_dataset(H5Dopen2(file, dataset.c_str(), H5P_DEFAULT), "open " + name_, path);
    type_ = h5::own_type(H5Dget_type(dset_.get()), "read the type of " + name_, path);
    if (H5Tget_class(type_.get()) != H5T_COMPOUND) {
      throw StoreError(path + ": " + name_ + " is not a table (compound dataset)", kRepairHint);
    }
    h5::Handle space = h5::own_space(H5Dget_space(dset_.get()), "read the size of " + name_, path);
    if (H5Sget_simple_extent_ndims(space.get()) != 1) {
      throw StoreError(path + ": " + name_ + " is not a 1-D table", kRepairHint);
    }
    hsize_t dims[1] = {0};
    h5::check(H5Sget_simple_extent_dims(space.get(), dims, nullptr), "read the size of " + name_,
                 path);
    rows_ = dims[0];
  }

  [[nodiscard]] std::size_t rows() const { return static_cast<std::size_t>(rows_); }

  [[nodiscard]] bool has(const std::string& column) const {
    int i = H5Tget_member_index(type_.get(), column.c_str());
    if (i < 0) H5Eclear2(H5E_DEFAULT);
    return i >= 0;
  }

  // The file type of `column`; throws a StoreError naming the missing column.
  [[nodiscard]] h5::Handle member_type(const std::string& column) const {
    int i = H5Tget_member_index(type_.get(), column.c_str());
    if (i < 0) {
      H5Eclear2(H5E_DEFAULT);
      throw StoreError(path_ + ": " + name_ + " has no column '" + column + "'", kRepairHint);
    }
    return h5::own_type(H5Tget_member_type(type_.get(), static_cast<unsigned>(i)),
                    "read the type of column " + column, path_);
  }

  [[nodiscard]] H5T_class_t member_class(const std::string& column) const {
    return H5Tget_class(member_type(column).get());
  }

  [[nodiscard]] std::vector<double> f64(const std::string& column) const {
    H5T_class_t c = member_class(column);
    if (c == H5T_ENUM) {
      std::vector<std::int64_t> v = i64(column);
      return {v.begin(), v.end()};
    }
    expect(column, c == H5T_FLOAT || c == H5T_INTEGER, "numbers");
    std::vector<double> out(rows());
    read(column, H5T_NATIVE_DOUBLE, sizeof(double), out.data());
    return out;
  }

  [[nodiscard]] std::vector<std::int64_t> i64(const std::string& column) const {
    h5::Handle ft = member_type(column);
    H5T_class_t c = H5Tget_class(ft.get());
    std::vector<std::int64_t> out(rows());
    if (c == H5T_ENUM) {
      // An enum (h5py's bool): read in its own native form, then widen its base integer.
      h5::Handle native = h5::own_type(H5Tget_native_type(ft.get(), H5T_DIR_ASCEND),
                                 "convert the type of column " + column, path_);
      const std::size_t size = H5Tget_size(native.get());
      h5::Handle base = h5::own_type(H5Tget_super(native.get()), "read the type of " + column, path_);
      const bool is_signed = H5Tget_sign(base.get()) == H5T_SGN_2;
      std::vector<unsigned char> raw(rows() * size);
      read(column, native.get(), size, raw.data());
      for (std::size_t r = 0; r < rows(); ++r)
        out[r] = widen(raw.data() + r * size, size, is_signed);
      return out;
    }
    expect(column, c == H5T_INTEGER, "integers");
    read(column, H5T_NATIVE_INT64, sizeof(std::int64_t), out.data());
    return out;
  }

  [[nodiscard]] std::vector<std::uint64_t> u64(const std::string& column) const {
    expect(column, member_class(column) == H5T_INTEGER, "integers");
    std::vector<std::uint64_t> out(rows());
    read(column, H5T_NATIVE_UINT64, sizeof(std::uint64_t), out.data());
    return out;
  }

  [[nodiscard]] std::vector<std::string> text(const std::string& column) const {
    h5::Handle ft = member_type(column);
    expect(column, H5Tget_class(ft.get()) == H5T_STRING, "strings");
    std::vector<std::string> out(rows());
    if (rows() == 0) return out;
    if (H5Tis_variable_str(ft.get()) > 0) {
      h5::Handle mt = h5::own_type(H5Tcopy(H5T_C_S1), "make a string type", path_);
      h5::check(H5Tset_size(mt.get(), H5T_VARIABLE), "make a string type", path_);
      h5::check(H5Tset_cset(mt.get(), H5Tget_cset(ft.get())), "make a string type", path_);
      std::vector<char*> ptrs(rows(), nullptr);
      read(column, mt.get(), sizeof(char*), ptrs.data());
      for (std::size_t r = 0; r < rows(); ++r) {
        if (ptrs[r] != nullptr) out[r] = ptrs[r];
        H5free_memory(ptrs[r]);
      }
      return out;
    }
    h5::Handle mt = h5::own_type(H5Tcopy(ft.get()), "copy the type of column " + column, path_);
    const std::size_t size = H5Tget_size(mt.get());
    std::vector<char> raw(rows() * size);
    read(column, mt.get(), size, raw.data());
    for (std::size_t r = 0; r < rows(); ++r) out[r] = fixed_string(raw.data() + r * size, size);
    return out;
  }

 private:
  static std::int64_t widen(const unsigned char* p, std::size_t size, bool is_signed) {
    switch (size) {
      case 1: {
        std::int8_t s;
        std::uint8_t u;
        std::memcpy(&s, p, 1);
        std::memcpy(&u, p, 1);
        return is_signed ? s : u;
      }
      case 2: {
        std::int16_t s;
        std::uint16_t u;
        std::memcpy(&s, p, 2);
        std::memcpy(&u, p, 2);
        return is_signed ? s : u;
      }
      case 4: {
        std::int32_t s;
        std::uint32_t u;
        std::memcpy(&s, p, 4);
        std::memcpy(&u, p, 4);
        return is_signed ? s : static_cast<std::int64_t>(u);
      }
      default: {
        std::int64_t s;
        std::memcpy(&s, p, 8);
        return s;
      }
    }
  }

  void expect(const std::string& column, bool ok, const char* what) const {
    if (!ok) {
      throw StoreError(path_ + ": column '" + column + "' of " + name_ + " does not hold " + what,
                       kRepairHint);
    }
  }

  // Reads rows [0, rows_) of member `column` converted to `mem_member` (of `size` bytes).
  void read(const std::string& column, hid_t mem_member, std::size_t size, void* buf) const {
    if (rows_ == 0) return;
    const std::string what = "read column " + column + " of " + name_;
    h5::Handle mt = h5::own_type(H5Tcreate(H5T_COMPOUND, size), what, path_);
    h5::check(H5Tinsert(mt.get(), column.c_str(), 0, mem_member), what, path_);
    h5::Handle fs = h5::own_space(H5Dget_space(dset_.get()), what, path_);
    const hsize_t start[1] = {0};
    const hsize_t count[1] = {rows_};
    // The table may have grown since it was opened (SWMR): read the rows counted then.
    h5::check(H5Sselect_hyperslab(fs.get(), H5S_SELECT_SET, start, nullptr, count, nullptr),
                 what, path_);
    h5::Handle ms = h5::own_space(H5Screate_simple(1, count, nullptr), what, path_);
    h5::check(H5Dread(dset_.get(), mt.get(), ms.get(), fs.get(), H5P_DEFAULT, buf), what, path_);
  }

  std::string path_;
  std::string name_;
  h5::Handle dset_;
  h5::Handle type_;
  hsize_t rows_ = 0;
};

// Reads root attributes.
class AttributeReader {
 public:
  AttributeReader(hid_t file, const std::string& path) : file_(file), path_(path) {}

  [[nodiscard]] bool has(const std::string& name) const {
    return H5Aexists(file_, name.c_str()) > 0;
  }

  // A string attribute, or the strings of a string-array attribute.
  [[nodiscard]] std::vector<std::string> strings(const std::string& name) const {
    const std::string what = "read attribute " + name;
    h5::Handle a = h5::own_attribute(H5Aopen(file_, name.c_str(), H5P_DEFAULT), what, path_);
    h5::Handle ft = h5::own_type(H5Aget_type(a.get()), what, path_);
    if (H5Tget_class(ft.get()) != H5T_STRING) {
      throw StoreError(path_ + ": attribute '" + name + "' is not text", kRepairHint);
    }
    h5::Handle sp = h5::own_space(H5Aget_space(a.get()), what, path_);
    const hssize_t n = H5Sget_simple_extent_npoints(sp.get());
    if (n < 0) h5::check(-1, what, path_);
    std::vector<std::string> out(static_cast<std::size_t>(n));
    if (n == 0) return out;
    if (H5Tis_variable_str(ft.get()) > 0) {
      h5::Handle mt = h5::own_type(H5Tcopy(H5T_C_S1), what, path_);
      h5::check(H5Tset_size(mt.get(), H5T_VARIABLE), what, path_);
      h5::check(H5Tset_cset(mt.get(), H5Tget_cset(ft.get())), what, path_);
      std::vector<char*> ptrs(out.size(), nullptr);
      h5::check(H5Aread(a.get(), mt.get(), ptrs.data()), what, path_);
      for (std::size_t i = 0; i < out.size(); ++i) {
        if (ptrs[i] != nullptr) out[i] = ptrs[i];
        H5free_memory(ptrs[i]);
      }
      return out;
    }
    h5::Handle mt = h5::own_type(H5Tcopy(ft.get()), what, path_);
    const std::size_t size = H5Tget_size(mt.get());
    std::vector<char> raw(out.size() * size);
    h5::check(H5Aread(a.get(), mt.get(), raw.data()), what, path_);
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = fixed_string(raw.data() + i * size, size);
    return out;
  }

  [[nodiscard]] std::string text(const std::string& name, bool required = false) const {
    if (!has(name)) {
      if (required) missing(name);
      return {};
    }
    std::vector<std::string> v = strings(name);
    return v.empty() ? std::string{} : v.front();
  }

  [[nodiscard]] std::vector<std::string> list(const std::string& name, bool required) const {
    if (!has(name)) {
      if (required) missing(name);
      return {};
    }
    return strings(name);
  }

  [[nodiscard]] std::int64_t integer(const std::string& name, bool required) const {
    if (!has(name)) {
      if (required) missing(name);
      return 0;
    }
    const std::string what = "read attribute " + name;
    h5::Handle a = h5::own_attribute(H5Aopen(file_, name.c_str(), H5P_DEFAULT), what, path_);
    h5::Handle ft = h5::own_type(H5Aget_type(a.get()), what, path_);
    if (H5Tget_class(ft.get()) != H5T_INTEGER) {
      throw StoreError(path_ + ": attribute '" + name + "' is not an integer", kRepairHint);
    }
    std::int64_t v = 0;
    h5::check(H5Aread(a.get(), H5T_NATIVE_INT64, &v), what, path_);
    return v;
  }

  // Every scalar text or number attribute, as text.
  [[nodiscard]] std::map<std::string, std::string> scalars() const {
    std::vector<std::string> names;
    H5Aiterate2(
        file_, H5_INDEX_NAME, H5_ITER_INC, nullptr,
        [](hid_t, const char* name, const H5A_info_t*, void* data) -> herr_t {
          static_cast<std::vector<std::string>*>(data)->emplace_back(name);
          return 0;
        },
        &names);
    std::map<std::string, std::string> out;
    for (const auto& name : names) {
      h5::Handle a = h5::own_attribute(H5Aopen(file_, name.c_str(), H5P_DEFAULT), "read " + name, path_);
      h5::Handle ft = h5::own_type(H5Aget_type(a.get()), "read " + name, path_);
      h5::Handle sp = h5::own_space(H5Aget_space(a.get()), "read " + name, path_);
      if (H5Sget_simple_extent_npoints(sp.get()) != 1) continue;
      switch (H5Tget_class(ft.get())) {
        case H5T_STRING:
          out[name] = strings(name).front();
          break;
        case H5T_INTEGER:
          out[name] = std::to_string(integer(name, true));
          break;
        case H5T_FLOAT: {
          double v = 0;
          h5::check(H5Aread(a.get(), H5T_NATIVE_DOUBLE, &v), "read " + name, path_);
          out[name] = fmt::format("{}", v);
          break;
        }
        default:
          break;
      }
    }
    return out;
  }

 private:
  [[noreturn]] void missing(const std::string& name) const {
    throw StoreError(path_ + " is not an emsweep results file: it has no '" + name + "' attribute",
                     kRepairHint);
  }

  hid_t file_;
  std::string path_;
};

h5::Handle open_file(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    throw Error("no such file: " + path, "check the path (results files end in .h5)",
                ExitCode::kBadInput);
  }
  if (fs::is_directory(path, ec)) {
    throw Error(path + " is a directory, not a results file", "pass the .h5 file",
                ExitCode::kBadInput);
  }
  {
    std::ifstream in(path, std::ios::binary);
    char magic[16] = {};
    in.read(magic, sizeof magic);
    if (in.gcount() == 16 && std::string(magic, 16) == "EMSWEEP-JOURNAL1") {
      throw StoreError(path + " is a journal, not the HDF5 results file",
                       "pass the .h5 file next to it; `emsweep repair` rebuilds the .h5 from "
                       "the journal");
    }
  }
  h5::silence_errors();
  if (H5Fis_hdf5(path.c_str()) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    throw StoreError(path + " is not an HDF5 file",
                     "emsweep reads the .h5 results file written by `emsweep run`");
  }
  // SWMR read sees a file that `emsweep run` is still writing; files written without the
  // latest format (e.g. by h5py defaults) refuse SWMR and are opened plainly.
  hid_t id = H5Fopen(path.c_str(), H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, H5P_DEFAULT);
  if (id < 0) {
    H5Eclear2(H5E_DEFAULT);
    id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  }
  if (id < 0) {
    const std::string detail = h5::last_error();
    throw StoreError("cannot open " + path + (detail.empty() ? "" : ": " + detail),
                     "if another program has it open for writing without SWMR, wait for it to "
                     "finish; on NFS/Lustre set HDF5_USE_FILE_LOCKING=FALSE");
  }
  return h5::Handle(id, H5Fclose);
}

FileInfo read_info(hid_t file, const std::string& path) {
  AttributeReader attrs(file, path);
  FileInfo info;
  if (!attrs.has(schema::kVersionAttribute) || H5Lexists(file, schema::kPoints, H5P_DEFAULT) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    throw StoreError(path +
                         " is not an emsweep results file (no schema_version attribute or "
                         "no /points table)",
                     "emsweep reads the .h5 files written by `emsweep run`; see "
                     "docs/results-format.md");
  }
  info.schema_version = attrs.integer(schema::kVersionAttribute, true);
  if (info.schema_version > schema::kVersion) {
    throw StoreError(fmt::format("{} was written by a newer emsweep (results schema {}; this "
                                 "program reads schema {})",
                                 path, info.schema_version, schema::kVersion),
                     "use the emsweep version that wrote it (see its emsweep_version attribute)");
  }
  if (info.schema_version < 1) {
    throw StoreError(fmt::format("{}: schema_version {} is not valid", path, info.schema_version),
                     kRepairHint);
  }
  info.sweep_name = attrs.text("sweep_name");
  info.config_hash = attrs.text("config_hash");
  info.base_hash = attrs.text("base_hash");
  info.config_yaml = attrs.text("config_yaml");
  info.task_kind = attrs.text("task_kind");
  info.axis_names = attrs.list("axis_names", true);
  info.metric_names = attrs.list("metric_names", true);
  info.curve_names = attrs.list("curve_names", false);
  info.grid_points = static_cast<std::uint64_t>(attrs.integer("grid_points", false));
  info.shard = attrs.text("shard");
  info.provenance = attrs.scalars();
  for (const char* big : {"config_yaml"}) info.provenance.erase(big);
  return info;
}

PointsTable read_points(hid_t file, FileInfo& info, const std::string& path) {
  CompoundReader t(file, schema::kPoints, path);
  PointsTable p;
  p.point_id = t.u64(schema::kPointId);
  p.index = t.u64(schema::kIndex);
  p.replicate = t.i64(schema::kReplicate);
  for (const auto& name : info.axis_names) {
    if (!t.has(name)) {
      // The replicate axis is the `replicate` column; it has no column of its own.
      if (!info.replicate_axis.empty()) {
        throw StoreError(path + ": axes '" + info.replicate_axis + "' and '" + name +
                             "' both lack a column in /points (only the replicate axis may)",
                         kRepairHint);
      }
      info.replicate_axis = name;
      continue;
    }
    if (name == "replicate") {
      info.replicate_axis = name;
      continue;
    }
    AxisColumn col;
    col.name = name;
    H5T_class_t c = t.member_class(name);
    h5::Handle ft = t.member_type(name);
    if (c == H5T_STRING) {
      col.type = ColumnType::kText;
      col.text = t.text(name);
    } else if (c == H5T_ENUM || (c == H5T_INTEGER && H5Tget_size(ft.get()) == 1)) {
      col.type = ColumnType::kBool;
      col.num = t.f64(name);
    } else if (c == H5T_INTEGER) {
      col.type = ColumnType::kInt;
      col.num = t.f64(name);
    } else if (c == H5T_FLOAT) {
      col.type = ColumnType::kFloat;
      col.num = t.f64(name);
    } else {
      throw StoreError(path + ": axis column '" + name + "' has an unsupported type", kRepairHint);
    }
    p.axes.push_back(std::move(col));
  }
  for (std::int64_t s : t.i64(schema::kStatus)) p.status.push_back(static_cast<std::int8_t>(s));
  for (std::int64_t a : t.i64(schema::kAttempts)) p.attempts.push_back(static_cast<std::int32_t>(a));
  for (std::int64_t r : t.i64(schema::kRank)) p.rank.push_back(static_cast<std::int32_t>(r));
  p.host = t.text(schema::kHost);
  p.start_time = t.f64(schema::kStartTime);
  p.end_time = t.f64(schema::kEndTime);
  p.seconds = t.f64(schema::kSeconds);
  for (const auto& m : info.metric_names) p.metrics.push_back(t.f64(m));
  p.error = t.text(schema::kError);
  const std::size_t n = p.error.size();
  p.outcome = t.has(schema::kOutcome) ? t.text(schema::kOutcome) : std::vector<std::string>(n);
  p.exit_code.assign(n, -1);
  p.signal.assign(n, 0);
  if (t.has(schema::kExitCode)) {
    auto v = t.i64(schema::kExitCode);
    for (std::size_t i = 0; i < n; ++i) p.exit_code[i] = static_cast<std::int32_t>(v[i]);
  }
  if (t.has(schema::kSignal)) {
    auto v = t.i64(schema::kSignal);
    for (std::size_t i = 0; i < n; ++i) p.signal[i] = static_cast<std::int32_t>(v[i]);
  }
  p.peak_rss_mb = t.has(schema::kPeakRssMb) ? t.f64(schema::kPeakRssMb) : std::vector<double>(n, -1);
  p.provenance = t.has(schema::kProvenance) ? t.text(schema::kProvenance) : std::vector<std::string>(n);
  return p;
}

CurvesTable read_curves(hid_t file, const std::string& path) {
  CurvesTable c;
  if (H5Lexists(file, schema::kCurves, H5P_DEFAULT) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    return c;
  }
  CompoundReader t(file, schema::kCurves, path);
  c.point_id = t.u64(schema::kPointId);
  c.curve = t.text(schema::kCurve);
  c.x = t.f64(schema::kX);
  c.y = t.f64(schema::kY);
  return c;
}

std::vector<RunRow> read_runs(hid_t file, const std::string& path) {
  std::vector<RunRow> runs;
  if (H5Lexists(file, schema::kRuns, H5P_DEFAULT) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    return runs;
  }
  CompoundReader t(file, schema::kRuns, path);
  std::vector<double> start = t.f64(schema::kStartTime);
  std::vector<std::int64_t> ranks = t.i64(schema::kRanks);
  std::vector<std::string> host = t.text(schema::kHost);
  std::vector<std::string> cmd = t.text(schema::kCommandLine);
  for (std::size_t i = 0; i < t.rows(); ++i) {
    runs.push_back({start[i], static_cast<std::int32_t>(ranks[i]), host[i], cmd[i]});
  }
  return runs;
}

BoundaryTable read_boundary(hid_t file, const std::string& path) {
  BoundaryTable b;
  if (H5Lexists(file, schema::kBoundary, H5P_DEFAULT) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    return b;
  }
  CompoundReader t(file, schema::kBoundary, path);
  b.present = true;
  b.index = t.u64(schema::kIndex);
  b.status = t.text(schema::kStatus);
  b.critical = t.f64(schema::kCritical);
  b.bracket_low = t.f64(schema::kBracketLow);
  b.bracket_high = t.f64(schema::kBracketHigh);
  b.points_used = t.i64(schema::kPointsUsed);
  b.increasing = t.i64(schema::kIncreasing);
  return b;
}

}  // namespace

std::string AxisColumn::display(std::size_t row) const {
  switch (type) {
    case ColumnType::kText:
      return text[row];
    case ColumnType::kBool:
      return num[row] != 0 ? "true" : "false";
    case ColumnType::kInt:
      return fmt::format("{}", static_cast<std::int64_t>(num[row]));
    case ColumnType::kFloat:
      break;
  }
  return format_double(canonical_double(num[row]));
}

int PointsTable::axis_index(const std::string& name) const {
  for (std::size_t i = 0; i < axes.size(); ++i) {
    if (axes[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

int Results::metric_index(const std::string& name) const {
  for (std::size_t i = 0; i < info.metric_names.size(); ++i) {
    if (info.metric_names[i] == name) return static_cast<int>(i);
  }
  return -1;
}

std::size_t Results::count_status(std::int8_t status) const {
  std::size_t n = 0;
  for (std::int8_t s : points.status) n += s == status ? 1 : 0;
  return n;
}

Results read_results(const std::string& path, const ReadOptions& options) {
  h5::Handle file = open_file(path);
  Results r;
  r.path = path;
  r.info = read_info(file.get(), path);
  r.points = read_points(file.get(), r.info, path);
  if (options.curves) r.curves = read_curves(file.get(), path);
  r.runs = read_runs(file.get(), path);
  r.boundary = read_boundary(file.get(), path);
  return r;
}

std::string format_point_id(std::uint64_t id) {
  return fmt::format("{:016x}", id);
}

}  // namespace emsweep::analysis
