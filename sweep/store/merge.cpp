#include "sweep/store/merge.h"

#include <fmt/core.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <unordered_map>

#include "sweep/core/error.h"
#include "sweep/store/journal.h"
#include "sweep/store/store.h"
#include "sweep/core/version.h"
#include "sweep/store/wire.h"

namespace emsweep {
namespace {

namespace fs = std::filesystem;

// One input: its journal, scanned, and its run headers.
struct Input {
  std::string name;     // as given
  std::string journal;  // path of its journal
  JournalScan scan;
  std::vector<JournalHeader> headers;
  std::vector<std::string_view> header_payloads;
};

std::string short_hash(const std::string& h) {
  return h.substr(0, 12) + (h.size() > 12 ? "…" : "");
}

bool same_metrics(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!(a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i])))) return false;
  }
  return true;
}

std::string host_name() {
  char buf[256] = {};
  ::gethostname(buf, sizeof buf - 1);
  return buf;
}

Input open_input(const std::string& given) {
  Input in;
  in.name = given;
  in.journal = given.ends_with(".journal") ? given : journal_path(given);
  if (!fs::exists(in.journal)) {
    throw StoreError("cannot merge " + given + ": there is no journal " + in.journal,
                     "merge reads the journals (the results' source of truth); copy each "
                     "NAME.h5.journal along with its NAME.h5");
  }
  in.scan = read_journal(in.journal);
  for (const auto& rec : in.scan.records) {
    if (rec.type != RecordType::kHeader) continue;
    if (auto h = decode_journal_header(rec.payload)) {
      in.headers.push_back(std::move(*h));
      in.header_payloads.push_back(rec.payload);
    }
  }
  if (in.headers.empty()) {
    throw StoreError(
        "cannot merge " + given + ": its journal " + in.journal + " holds no sweep header",
        in.scan.tail_problem.empty() ? "it is empty or not an emsweep journal"
                                     : in.scan.tail_problem);
  }
  return in;
}

// Refuses `b` unless it belongs to the same sweep as `a`, saying why.
void check_same_sweep(const Input& a, const Input& b) {
  const JournalHeader& ha = a.headers.back();
  const JournalHeader& hb = b.headers.back();
  if (ha.config_hash == hb.config_hash) return;
  if (ha.base_hash == hb.base_hash) {
    throw StoreError(
        fmt::format("cannot merge {} with {}: they are the same sweep on different grids "
                    "(config hash {} ≠ {}; the settings, seed and axis names agree, the axis "
                    "values do not)",
                    b.name, a.name, short_hash(hb.config_hash), short_hash(ha.config_hash)),
        "merge needs one grid: grow the smaller file first with `emsweep run BIGGER.yaml "
        "--extend --output SMALLER.h5`, then merge");
  }
  throw StoreError(
      fmt::format("cannot merge {} with {}: they are different sweeps (config hash {} ≠ {}, "
                  "base hash {} ≠ {})",
                  b.name, a.name, short_hash(hb.config_hash), short_hash(ha.config_hash),
                  short_hash(hb.base_hash), short_hash(ha.base_hash)),
      "merge only files of one sweep: the same config (for example the shards of one grid)");
}

// The record kept for a point, and where it came from.
struct Kept {
  PointRecord record;
  std::string_view payload;
  std::size_t input = 0;
};

// Refuses to merge an input into itself or over an existing file (unless --overwrite).
void check_merge_target(const MergeOptions& o) {
  if (o.inputs.empty()) throw ConfigError("nothing to merge", "emsweep merge OUT.h5 IN.h5...");
  const std::string out_journal = journal_path(o.output);
  std::error_code ec;
  for (const auto& in : o.inputs) {
    const std::string j = in.ends_with(".journal") ? in : journal_path(in);
    if (fs::equivalent(j, out_journal, ec) || fs::equivalent(in, o.output, ec)) {
      throw ConfigError("cannot merge " + in + " into itself", "choose a new OUT file");
    }
  }
  if ((fs::exists(o.output) || fs::exists(out_journal)) && !o.overwrite) {
    throw StoreError("cannot merge into " + o.output + ": it exists",
                     "choose a new OUT file, or pass --overwrite to replace it");
  }
}

// Opens every input, noting damaged, torn or still-written journals in the report.
std::vector<Input> open_inputs(const MergeOptions& o, MergeReport& report) {
  std::vector<Input> inputs;
  for (const auto& given : o.inputs) {
    inputs.push_back(open_input(given));
    const Input& in = inputs.back();
    if (in.scan.middle_damage() > 0) {
      const JournalRecovery d = describe_damage(in.scan, in.journal);
      report.warnings.push_back(fmt::format(
          "{}: its journal is damaged in the middle ({}); merged its {} intact records, {} of "
          "them after the damage; check it with `emsweep verify {}`",
          in.name, damage_ranges_text(d), d.records, d.records_after_damage, in.name));
    } else if (in.scan.torn_tail()) {
      report.warnings.push_back(fmt::format(
          "{}: the journal's last {} bytes are a torn record ({}); merged the intact records "
          "before them",
          in.name, in.scan.damage.back().bytes(), in.scan.tail_problem));
    }
    if (journal_is_locked(in.journal)) {
      report.warnings.push_back(in.name +
                                " is still being written; merged the points recorded so far");
    }
    check_same_sweep(inputs.front(), in);
  }
  return inputs;
}

// One record per point id, by the journal's replay rule: a failed record is replaced by a
// later record of the point; a done record stays.
std::vector<Kept> deduplicate(const std::vector<Input>& inputs, MergeReport& report) {
  std::unordered_map<std::uint64_t, std::size_t> slot;
  std::vector<Kept> kept;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    for (const auto& rec : inputs[i].scan.records) {
      if (rec.type != RecordType::kResult) continue;
      auto r = decode_point_record(rec.payload);
      if (!r) {
        report.warnings.push_back(inputs[i].name +
                                  ": skipped a result record that does not decode");
        continue;
      }
      auto [it, fresh] = slot.try_emplace(r->point_id, kept.size());
      if (fresh) {
        kept.push_back({std::move(*r), rec.payload, i});
        continue;
      }
      Kept& k = kept[it->second];
      if (k.record.status == PointStatus::kFailed) {
        // Like the journal's replay: a later record replaces a failed one (a retry).
        if (r->status == PointStatus::kDone) {
          ++report.replaced_failed;
        } else {
          ++report.duplicates;
        }
        k = {std::move(*r), rec.payload, i};
      } else if (r->status == PointStatus::kDone && !same_metrics(k.record.metrics, r->metrics)) {
        ++report.conflicts;
        if (report.conflicts <= 5) {
          report.warnings.push_back(fmt::format(
              "point {:016x} (index {}) has different metrics in {} and {}; kept the record of {}",
              r->point_id, r->index, inputs[k.input].name, inputs[i].name, inputs[k.input].name));
        }
      } else {
        ++report.duplicates;
      }
    }
  }
  if (report.conflicts > 5) {
    report.warnings.push_back(fmt::format("... {} conflicting points in all", report.conflicts));
  }
  return kept;
}

// The merge's own journal header: the first input's sweep, the whole grid unless every input
// is the same shard, and this program's provenance.
JournalHeader merge_header_for(const std::vector<Input>& inputs, const MergeOptions& o) {
  std::string shard = inputs.front().headers.back().shard;
  for (const auto& in : inputs) {
    if (in.headers.back().shard != shard) shard.clear();  // several shards: the whole grid
  }
  JournalHeader merge_header = inputs.front().headers.back();
  merge_header.shard = shard;
  merge_header.command_line = o.command_line.empty() ? "emsweep merge" : o.command_line;
  merge_header.host = host_name();
  merge_header.ranks = 1;
  merge_header.start_time =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  merge_header.emsweep_version = version();
  merge_header.mpi_version.clear();
  merge_header.libtorch_version.clear();
  return merge_header;
}

}  // namespace

MergeReport merge_results(const MergeOptions& o, const TaskRegistry& registry) {
  check_merge_target(o);
  const std::string out_journal = journal_path(o.output);
  std::error_code ec;
  MergeReport report;
  std::vector<Input> inputs = open_inputs(o, report);
  std::vector<Kept> kept = deduplicate(inputs, report);

  // The merged journal: every input's run headers (provenance), a header for the merge, then
  // one final record per point. Written under a temporary name and renamed into place.
  const JournalHeader merge_header = merge_header_for(inputs, o);
  if (fs::path(o.output).has_parent_path())
    fs::create_directories(fs::path(o.output).parent_path(), ec);
  const std::string tmp = out_journal + ".merge-tmp";
  fs::remove(tmp, ec);
  {
    JournalWriter w(tmp, /*create=*/true);
    for (const auto& in : inputs) {
      for (auto payload : in.header_payloads) w.append(RecordType::kHeader, payload);
    }
    w.append(RecordType::kHeader, encode(merge_header));
    for (const auto& k : kept) w.append(RecordType::kResult, k.payload);
    w.commit();
  }
  if (o.overwrite) {
    fs::remove(o.output, ec);
    fs::remove(out_journal, ec);
  }
  if (::rename(tmp.c_str(), out_journal.c_str()) != 0) {
    throw StoreError("cannot rename " + tmp + " to " + out_journal + ": " + std::strerror(errno));
  }
  report.points = rebuild_view(o.output, registry);
  return report;
}

}  // namespace emsweep
