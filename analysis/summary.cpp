#include "analysis/summary.h"

#include <fmt/core.h>

#include <cmath>

#include "sweep/core/error.h"
#include "analysis/export.h"
#include "sweep/core/json.h"
#include "sweep/core/spec.h"

namespace emsweep::analysis {
namespace {

// Width of UTF-8 text in terminal columns (one per code point; enough for "±").
std::size_t width(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80 ? 1 : 0;
  return n;
}

std::string pad(const std::string& s, std::size_t w, bool right) {
  const std::string fill(w > width(s) ? w - width(s) : 0, ' ');
  return right ? fill + s : s + fill;
}

// A number that reads back exactly, "" for NaN.
std::string exact(double v) {
  return std::isfinite(v) ? fmt::format("{}", v) : std::string{};
}

std::string stat_cell(const Stat& st, std::size_t done) {
  if (st.n == 0) return done > 0 ? "undefined" : "";
  if (st.n == 1) return short_number(st.mean) + " (1)";
  return fmt::format("{} ± {} ({})", short_number(st.mean), short_number(st.ci95), st.n);
}

}  // namespace

std::string short_number(double v) {
  if (std::isnan(v)) return "";
  return fmt::format("{:.4g}", v);
}

Summary summarise(const Results& r, const SummaryOptions& options) {
  Summary s;
  s.by = options.by.empty() ? default_axes(r) : options.by;
  for (const auto& b : s.by) {
    ColumnRef c(r, b);
    if (!c.is_axis()) {
      throw ConfigError("cannot group by '" + b + "': it is a metric, not an axis",
                        "group by axes; choose metrics with --metric");
    }
  }
  s.metrics = options.metrics.empty() ? r.info.metric_names : options.metrics;
  std::vector<std::size_t> metric_col;
  for (const auto& m : s.metrics) {
    int i = r.metric_index(m);
    if (i < 0) {
      std::string guess = did_you_mean(m, r.info.metric_names);
      std::string list;
      for (const auto& n : r.info.metric_names) list += (list.empty() ? "" : ", ") + n;
      throw ConfigError(r.path + " has no metric '" + m + "'" +
                            (guess.empty() ? "" : " (did you mean '" + guess + "'?)"),
                        "metrics in this file: " + list);
    }
    metric_col.push_back(static_cast<std::size_t>(i));
  }
  for (const auto& f : options.where) s.where.push_back(f.text);

  std::vector<std::size_t> rows = select_rows(r, options.where);
  for (const Group& g : group_rows(r, s.by, rows)) {
    SummaryRow row;
    row.key = g.key;
    row.key_num = g.key_num;
    std::vector<std::vector<double>> values(metric_col.size());
    for (std::size_t i : g.rows) {
      if (r.points.status[i] != kStatusDone) {
        ++row.failed;
        continue;
      }
      ++row.done;
      for (std::size_t m = 0; m < metric_col.size(); ++m) {
        values[m].push_back(r.points.metrics[metric_col[m]][i]);
      }
    }
    for (const auto& v : values) row.stats.push_back(describe(v));
    s.done += row.done;
    s.failed += row.failed;
    s.rows.push_back(std::move(row));
  }
  return s;
}

std::string format_text(const Summary& s) {
  std::vector<std::string> header = s.by;
  header.push_back("done");
  header.push_back("failed");
  for (const auto& m : s.metrics) header.push_back(m + ": mean ± 95% CI (n)");
  std::vector<std::vector<std::string>> cells;
  for (const auto& row : s.rows) {
    std::vector<std::string> line = row.key;
    line.push_back(std::to_string(row.done));
    line.push_back(row.failed ? std::to_string(row.failed) : "0");
    for (const auto& st : row.stats) line.push_back(stat_cell(st, row.done));
    cells.push_back(std::move(line));
  }
  std::vector<std::size_t> w(header.size());
  for (std::size_t c = 0; c < header.size(); ++c) {
    w[c] = width(header[c]);
    for (const auto& line : cells) w[c] = std::max(w[c], width(line[c]));
  }
  std::string out;
  auto emit = [&](const std::vector<std::string>& line) {
    std::string text;
    for (std::size_t c = 0; c < line.size(); ++c) {
      // Axis values and statistics are right-aligned, like numbers in a table.
      text += (c ? "  " : "") + pad(line[c], w[c], true);
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out += text + "\n";
  };
  emit(header);
  for (const auto& line : cells) emit(line);
  out += fmt::format("{} groups, {} points done, {} failed", s.rows.size(), s.done, s.failed);
  if (s.failed > 0) out += " (failed points are counted, never averaged in)";
  if (!s.where.empty()) {
    out += "; where";
    for (const auto& w2 : s.where) out += " " + w2;
  }
  out += "\n";
  return out;
}

std::string format_failed(const Results& r, const std::vector<Filter>& where, std::size_t limit) {
  std::vector<std::size_t> failed;
  for (std::size_t i : select_rows(r, where)) {
    if (r.points.status[i] != kStatusDone) failed.push_back(i);
  }
  if (failed.empty()) return "";
  std::string out = fmt::format("failed points ({}):\n", failed.size());
  for (std::size_t k = 0; k < failed.size() && k < limit; ++k) {
    const std::size_t i = failed[k];
    std::string where_at;
    for (const auto& a : r.points.axes) where_at += a.name + "=" + a.display(i) + " ";
    where_at += (r.info.replicate_axis.empty() ? "replicate" : r.info.replicate_axis) + "=" +
                std::to_string(r.points.replicate[i]);
    std::string error = r.points.error[i];
    if (auto nl = error.find('\n'); nl != std::string::npos) error = error.substr(0, nl) + " ...";
    out += fmt::format("  {}  {}  {} attempt{}: {}\n", format_point_id(r.points.point_id[i]),
                       where_at, r.points.attempts[i], r.points.attempts[i] == 1 ? "" : "s",
                       error.empty() ? "(no error text)" : error);
  }
  if (failed.size() > limit) {
    out += fmt::format("  ... and {} more (emsweep export FILE --csv - lists them all)\n",
                       failed.size() - limit);
  }
  return out;
}

std::string format_csv(const Summary& s) {
  std::string out;
  std::vector<std::string> header = s.by;
  header.push_back("done");
  header.push_back("failed");
  for (const auto& m : s.metrics) {
    for (const char* suffix : {"_mean", "_std", "_n", "_ci95"}) header.push_back(m + suffix);
  }
  for (std::size_t i = 0; i < header.size(); ++i) out += (i ? "," : "") + csv_escape(header[i]);
  out += "\n";
  for (const auto& row : s.rows) {
    std::string line;
    for (std::size_t i = 0; i < row.key.size(); ++i)
      line += (i ? "," : "") + csv_escape(row.key[i]);
    line += fmt::format("{}{},{}", row.key.empty() ? "" : ",", row.done, row.failed);
    for (const auto& st : row.stats) {
      line += fmt::format(",{},{},{},{}", exact(st.mean), exact(st.std), st.n, exact(st.ci95));
    }
    out += line + "\n";
  }
  return out;
}

std::string format_json(const Summary& s) {
  JsonWriter j;
  j.begin_object();
  j.begin_array("by");
  for (const auto& b : s.by) j.value("", b);
  j.end_array();
  j.begin_array("metrics");
  for (const auto& m : s.metrics) j.value("", m);
  j.end_array();
  j.begin_array("where");
  for (const auto& w : s.where) j.value("", w);
  j.end_array();
  j.value("done", static_cast<std::uint64_t>(s.done));
  j.value("failed", static_cast<std::uint64_t>(s.failed));
  j.begin_array("rows");
  for (const auto& row : s.rows) {
    j.begin_object();
    j.begin_object("key");
    for (std::size_t i = 0; i < s.by.size(); ++i) {
      if (std::isnan(row.key_num[i])) {
        j.value(s.by[i], row.key[i]);
      } else {
        j.value(s.by[i], row.key_num[i]);
      }
    }
    j.end_object();
    j.value("done", static_cast<std::uint64_t>(row.done));
    j.value("failed", static_cast<std::uint64_t>(row.failed));
    j.begin_object("stats");
    for (std::size_t m = 0; m < s.metrics.size(); ++m) {
      const Stat& st = row.stats[m];
      j.begin_object(s.metrics[m]);
      j.value("mean", st.mean);
      j.value("std", st.std);
      j.value("n", static_cast<std::uint64_t>(st.n));
      j.value("ci95", st.ci95);
      j.value("ci95_lo", st.lo());
      j.value("ci95_hi", st.hi());
      j.end_object();
    }
    j.end_object();
    j.end_object();
  }
  j.end_array();
  j.end_object();
  return j.str() + "\n";
}

std::string format_markdown(const Summary& s) {
  std::string out = "|";
  for (const auto& b : s.by) out += " " + b + " |";
  out += " done | failed |";
  for (const auto& m : s.metrics) out += " " + m + " |";
  out += "\n|";
  for (std::size_t i = 0; i < s.by.size() + 2 + s.metrics.size(); ++i) out += "---:|";
  out += "\n";
  for (const auto& row : s.rows) {
    out += "|";
    for (const auto& k : row.key) out += " " + k + " |";
    out += fmt::format(" {} | {} |", row.done, row.failed);
    for (const auto& st : row.stats) out += " " + stat_cell(st, row.done) + " |";
    out += "\n";
  }
  return out;
}

}  // namespace emsweep::analysis
