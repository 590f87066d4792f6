// `emsweep status FILE` (progress, failures, rate and ETA, read from the journal while a run
// writes it) and `emsweep repair FILE` (rebuild the HDF5 view from the journal).
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <set>

#include "app/emsweep/commands.h"
#include "sweep/core/error.h"
#include "sweep/core/grid.h"
#include "sweep/core/json.h"
#include "sweep/core/plan.h"
#include "sweep/engine/progress.h"
#include "sweep/engine/search_state.h"
#include "sweep/store/store.h"

namespace emsweep::cli {
namespace {

std::string results_path(std::string p) {
  if (p.ends_with(".journal")) p.resize(p.size() - 8);
  return p;
}

struct StatusReport {
  std::string name, kind, hash, state, shard;
  std::uint64_t total = 0, done = 0, failed = 0, in_flight = 0;
  // A boundary search: `total` is the most its searches can use; they end when no cell is open.
  bool search = false;
  std::uint64_t searches = 0, searches_open = 0;
  double rate = 0;  // points/s over the recent results
  double eta = -1;  // seconds; -1 unknown
  std::string eta_basis;  // "cost model" (the kind's, as the progress line) or "recent rate"
  std::size_t runs = 0;
  JournalRecovery damage;  // what is wrong with the journal (status repairs nothing)
  std::vector<PointRecord> failures;
  std::vector<std::string> failure_points;
  std::vector<std::pair<std::uint64_t, std::string>> retrying;
};

// The ETA of a running sweep as its progress line computes it (eta_seconds, docs/running.md):
// the kind's cost model weighs the points (and a setup, with the first of its points to
// finish), and the work left goes at the pace of the work done since the last run started.
// Negative when the kind has no model or nothing finished yet in this run.
double cost_eta(const SweepSpec& spec, const Grid& grid, const JournalScan& scan,
                const JournalHeader& last, std::uint64_t total, std::uint64_t finished) {
  const auto e = estimate_sweep(spec, grid);
  if (!e || e->points == 0 || e->core_seconds <= 0) return -1;
  // The points this run finished: the results after its header.
  std::vector<std::uint64_t> now;
  for (auto it = scan.records.rbegin(); it != scan.records.rend(); ++it) {
    if (it->type == RecordType::kHeader) break;
    if (it->type != RecordType::kResult) continue;
    if (auto rec = decode_point_record(it->payload)) now.push_back(rec->index);
  }
  ProgressCounts c;
  c.total = total;
  c.done = finished;
  c.this_run = now.size();
  const std::uint64_t before = finished - std::min<std::uint64_t>(finished, now.size());
  const std::uint64_t left_at_start = total > before ? total - before : 0;
  c.work_per_point = e->per_point.seconds_per_point;
  c.work_total = e->core_seconds * static_cast<double>(left_at_start) / static_cast<double>(e->points);
  const double setup = spec.kind->setup_key ? e->per_point.setup_seconds : 0;
  std::set<std::string> setups;
  for (auto it = now.rbegin(); it != now.rend(); ++it) {  // in the order they finished
    c.work_done += c.work_per_point;
    if (setup <= 0) continue;
    const Point p = grid.at(*it);
    if (setups.insert(spec.kind->setup_key(p.settings, p.replicate)).second) c.work_done += setup;
  }
  const double elapsed = std::chrono::duration<double>(
                             std::chrono::system_clock::now().time_since_epoch()).count() -
                         last.start_time;
  return eta_seconds(c, elapsed);
}

StatusReport make_report(const std::string& h5, const TaskRegistry& registry) {
  const std::string jpath = journal_path(h5);
  if (!std::filesystem::exists(jpath)) {
    throw StoreError("no journal " + jpath + " next to " + h5,
                     "status reads the journal that `emsweep run` writes beside the .h5");
  }
  JournalScan scan = read_journal(jpath);
  // The last run's header names the sweep; a search's replay also keeps the done points' metrics.
  std::optional<JournalHeader> last_header;
  for (auto it = scan.records.rbegin(); it != scan.records.rend() && !last_header; ++it) {
    if (it->type == RecordType::kHeader) last_header = decode_journal_header(it->payload);
  }
  if (!last_header) throw StoreError(jpath + " holds no sweep header yet");
  ParseResult parsed = parse_spec(last_header->config_yaml, jpath + " (recorded config)", {}, registry);
  if (!parsed.spec) throw StoreError("cannot read the config recorded in " + jpath + ": " + parsed.errors[0].format());
  const SweepSpec& spec = *parsed.spec;
  Ledger ledger = replay(scan, spec.search.has_value());
  const JournalHeader& last = *last_header;
  Grid grid(spec);
  StatusReport r;
  r.name = spec.name;
  r.kind = spec.kind->name;
  r.hash = last.config_hash;
  r.shard = last.shard;
  r.runs = ledger.headers.size();
  r.damage = describe_damage(scan, jpath);
  r.total = grid.size();
  if (!last.shard.empty()) {
    Shard shard = parse_shard(last.shard);
    r.total = 0;
    for (std::uint64_t i = grid.next_kept(0); i < grid.full_size(); i = grid.next_kept(i + 1)) {
      r.total += grid.in_shard(i, shard) ? 1 : 0;
    }
  }
  r.done = ledger.done.size();
  r.failed = ledger.failed.size();
  const bool running = journal_is_locked(jpath);
  r.in_flight = running ? ledger.pending_attempts.size() : 0;
  std::uint64_t left = r.total > r.done + r.failed ? r.total - r.done - r.failed : 0;
  if (spec.search) {
    // The searches replayed from the recorded points, as a resumed run would.
    const SearchState searches(spec, grid, last.shard.empty() ? Shard{} : parse_shard(last.shard), ledger);
    r.search = true;
    r.total = searches.max_points();
    r.searches = searches.cells();
    r.searches_open = searches.open_cells();
    left = searches.concluded() ? 0 : r.total - std::min(r.total, r.done + r.failed);
  }
  r.state = running ? "running" : (left == 0 ? "finished" : "stopped (run again to resume)");
  const auto& t = ledger.recent_end_times;
  if (t.size() >= 2) {
    auto [lo, hi] = std::minmax_element(t.end() - std::min<std::size_t>(t.size(), 256), t.end());
    if (*hi > *lo) r.rate = static_cast<double>(std::min<std::size_t>(t.size(), 256) - 1) / (*hi - *lo);
  }
  if (running && r.rate > 0) {
    r.eta = static_cast<double>(left) / r.rate;
    r.eta_basis = "recent rate";
  }
  if (running && !spec.search) {
    const double by_cost = cost_eta(spec, grid, scan, last, r.total, r.done + r.failed);
    if (by_cost >= 0) {
      r.eta = by_cost;
      r.eta_basis = "cost model";
    }
  }
  if (!running && left == 0) r.eta = 0;
  r.failures = ledger.failures;
  for (const auto& f : r.failures) r.failure_points.push_back(describe_point(spec, grid, f.index));
  for (const auto& [index, err] : ledger.last_error) r.retrying.emplace_back(index, err);
  std::sort(r.retrying.begin(), r.retrying.end());
  return r;
}

// The last `lines` lines of `text`, each indented for the failure list.
std::string indent_tail(const std::string& text, std::size_t lines) {
  std::vector<std::string> all;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    all.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  while (!all.empty() && all.back().empty()) all.pop_back();
  std::string out;
  for (std::size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) {
    out += "        " + all[i] + "\n";
  }
  return out;
}

// The report as one JSON object (`status --json`).
std::string status_json(const StatusReport& r, const std::string& h5) {
  JsonWriter j;
  j.begin_object().value("file", h5).value("name", r.name).value("kind", r.kind);
  j.value("config_hash", r.hash).value("state", r.state).value("shard", r.shard);
  j.value("total", r.total).value("done", r.done).value("failed", r.failed);
  j.value("search", r.search).value("searches", r.searches).value("searches_open", r.searches_open);
  j.value("in_flight", r.in_flight).value("rate", r.rate);
  if (r.eta >= 0) j.value("eta_seconds", r.eta); else j.null("eta_seconds");
  j.value("eta_basis", r.eta_basis);
  j.value("runs", static_cast<std::uint64_t>(r.runs))
      .value("damaged_tail", r.damage.torn_tail());
  j.begin_object("journal_damage").value("torn_tail", r.damage.torn_tail());
  j.value("records", static_cast<std::uint64_t>(r.damage.records));
  j.value("records_after_damage", static_cast<std::uint64_t>(r.damage.records_after_damage));
  j.value("records_lost", r.damage.frames_lost())
      .value("records_lost_exact", r.damage.frames_lost_exact());
  j.begin_array("ranges");
  for (const auto& d : r.damage.damage) {
    j.begin_object().value("begin", d.begin).value("end", d.end).value("bytes", d.bytes());
    j.value("records", d.frames).value("records_exact", d.frames_exact);
    j.value("torn_tail", d.end == r.damage.file_bytes)
        .value("problem", d.problem)
        .end_object();
  }
  j.end_array().end_object();
  j.begin_array("failures");
  for (std::size_t i = 0; i < r.failures.size(); ++i) {
    const auto& f = r.failures[i];
    j.begin_object().value("point_id", fmt::format("{:016x}", f.point_id)).value("index", f.index);
    j.value("point", r.failure_points[i]).value("attempts", static_cast<std::uint64_t>(f.attempts));
    j.value("error", f.error);
    if (f.detail.present()) {
      j.value("outcome", f.detail.outcome).value("exit_code", f.detail.exit_code);
      j.value("signal", f.detail.signal).value("seconds", f.seconds);
      j.value("peak_rss_mb", f.detail.peak_rss_mb).value("argv", f.detail.argv);
      j.value("workdir", f.detail.workdir).value("stderr_tail", f.detail.stderr_tail);
    }
    j.end_object();
  }
  j.end_array().end_object();
  return j.str();
}

// The report for a terminal: progress, journal damage, failures (with the end of a child's
// stderr) and points waiting for a retry.
void print_status(const StatusReport& r, const std::string& h5, std::size_t max_failures,
                  std::size_t stderr_lines) {
  const double pct = r.total ? 100.0 * static_cast<double>(r.done) / static_cast<double>(r.total) : 0;
  fmt::print("sweep    {} ({}; config {})  {}\n", r.name, r.kind, r.hash.substr(0, 12), h5);
  fmt::print("state    {}{}\n", r.state, r.shard.empty() ? "" : "  [shard " + r.shard + "]");
  if (r.search) {
    fmt::print("points   at most {}: {} done ({:.1f}%), {} failed, {} in flight, at most {} to go\n", r.total,
               r.done, pct, r.failed, r.in_flight, r.searches_open == 0 ? 0 : r.total - std::min(r.total, r.done + r.failed));
    fmt::print("searches {} of {} cells still searching\n", r.searches_open, r.searches);
  } else {
    fmt::print("points   {} total: {} done ({:.1f}%), {} failed, {} in flight, {} to go\n", r.total, r.done,
               pct, r.failed, r.in_flight,
               r.total > r.done + r.failed ? r.total - r.done - r.failed : 0);
  }
  fmt::print("rate     {}\n", r.rate > 0 ? fmt::format("{:.3g} points/s (recent results)", r.rate) : "-");
  fmt::print("eta      {}{}{}\n", r.search && r.eta > 0 ? "at most " : "", r.eta >= 0 ? human_seconds(r.eta) : "-",
             r.eta > 0 && !r.eta_basis.empty() ? " (" + r.eta_basis + ")" : "");
  fmt::print("runs     {}\n", r.runs);
  if (r.damage.middle_damage() > 0) {
    const std::uint64_t to_go = r.total > r.done + r.failed ? r.total - r.done - r.failed : 0;
    const auto lines = recovery_messages(r.damage, to_go);
    for (std::size_t i = 0; i < lines.size(); ++i) {
      fmt::print("{} {}\n", i == 0 ? "WARNING " : "        ", lines[i]);
    }
  } else if (r.damage.torn_tail() && r.state != "running") {
    // While a run writes, a partly written last record is normal and says nothing.
    fmt::print("journal  {}\n", recovery_messages(r.damage, std::nullopt).front());
  }
  if (!r.failures.empty()) {
    fmt::print("failed points ({} shown of {}):\n", std::min(max_failures, r.failures.size()), r.failed);
    for (std::size_t i = 0; i < r.failures.size() && i < max_failures; ++i) {
      const auto& f = r.failures[i];
      fmt::print("  #{} {}  attempts {}: {}\n", f.index, r.failure_points[i], f.attempts, f.error);
      if (!f.detail.argv.empty()) {
        fmt::print("      ran   {}  ({} s{})\n", f.detail.argv, format_double(std::round(f.seconds * 100) / 100),
                   f.detail.peak_rss_mb >= 0 ? fmt::format(", peak {:.0f} MB", f.detail.peak_rss_mb) : "");
      }
      if (!f.detail.workdir.empty()) fmt::print("      in    {}\n", f.detail.workdir);
      if (!f.detail.stderr_tail.empty()) {
        fmt::print("      stderr (last lines):\n{}", indent_tail(f.detail.stderr_tail, stderr_lines));
      }
    }
  }
  if (!r.retrying.empty()) {
    fmt::print("retrying ({}):\n", r.retrying.size());
    for (std::size_t i = 0; i < r.retrying.size() && i < max_failures; ++i) {
      fmt::print("  #{}: {}\n", r.retrying[i].first, r.retrying[i].second);
    }
  }
}

}  // namespace

void add_status_command(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("status", "Progress, failures, rate and ETA of a sweep (running or not)");
  struct Options {
    std::string file;
    bool json = false;
    std::size_t failures = 10;
    std::size_t stderr_lines = 5;
  };
  auto opt = std::make_shared<Options>();
  cmd->add_option("file", opt->file, "results file (.h5) or its .journal")->required();
  cmd->add_flag("--json", opt->json, "print JSON for scripts");
  cmd->add_option("--failures", opt->failures, "failed points to list");
  cmd->add_option("--stderr-lines", opt->stderr_lines, "lines of a failed child's stderr to show (default 5)");
  cmd->callback([&ctx, opt] {
    ctx.action = [&ctx, opt] {
      const std::string h5 = results_path(opt->file);
      StatusReport r = make_report(h5, ctx.registry);
      if (opt->json) {
        fmt::print("{}\n", status_json(r, h5));
        return 0;
      }
      print_status(r, h5, opt->failures, opt->stderr_lines);
      return 0;
    };
  });

  auto* repair = app.add_subcommand("repair", "Rebuild the HDF5 results file from its journal");
  auto file = std::make_shared<std::string>();
  repair->add_option("file", *file, "results file (.h5)")->required();
  repair->callback([&ctx, file] {
    ctx.action = [&ctx, file] {
      const std::string h5 = results_path(*file);
      JournalRecovery repaired;
      std::uint64_t n = rebuild_view(h5, ctx.registry, &repaired);
      if (repaired.damaged()) {
        const auto lines = recovery_messages(repaired, std::nullopt);
        const bool middle = repaired.middle_damage() > 0;
        for (std::size_t i = 0; i < lines.size(); ++i) {
          fmt::print(stderr, "emsweep: {}{}\n", middle ? "WARNING: " : "", lines[i]);
        }
      }
      fmt::print("rebuilt {} from its journal: {} points\n", h5, n);
      return 0;
    };
  });
}

}  // namespace emsweep::cli
