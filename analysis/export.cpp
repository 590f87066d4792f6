#include "analysis/export.h"

#include <fmt/core.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <unordered_set>

#include "sweep/core/error.h"

namespace emsweep::analysis {
namespace {

std::string exact(double v) {
  return std::isfinite(v) ? fmt::format("{}", v) : std::string{};
}

}  // namespace

std::string csv_escape(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string points_csv(const Results& r, const std::vector<Filter>& where) {
  const PointsTable& p = r.points;
  std::string out = "point_id,index,";
  out += csv_escape(r.info.replicate_axis.empty() ? "replicate" : r.info.replicate_axis);
  for (const auto& a : p.axes) out += "," + csv_escape(a.name);
  out += ",status,attempts,rank,host,start_time,end_time,seconds";
  for (const auto& m : r.info.metric_names) out += "," + csv_escape(m);
  out += ",error,outcome,exit_code,signal,peak_rss_mb,provenance\n";
  for (std::size_t i : select_rows(r, where)) {
    out += fmt::format("{},{},{}", format_point_id(p.point_id[i]), p.index[i], p.replicate[i]);
    for (const auto& a : p.axes) out += "," + csv_escape(a.display(i));
    out += fmt::format(",{},{},{},{},{},{},{}",
                       p.status[i] == kStatusDone     ? "done"
                       : p.status[i] == kStatusFailed ? "failed"
                                                      : std::to_string(p.status[i]),
                       p.attempts[i], p.rank[i], csv_escape(p.host[i]), exact(p.start_time[i]),
                       exact(p.end_time[i]), exact(p.seconds[i]));
    for (const auto& m : p.metrics) out += "," + exact(m[i]);
    out += "," + csv_escape(p.error[i]);
    out += fmt::format(",{},{},{},{},{}\n", csv_escape(p.outcome[i]), p.exit_code[i], p.signal[i],
                       exact(p.peak_rss_mb[i]), csv_escape(p.provenance[i]));
  }
  return out;
}

std::string curves_csv(const Results& r, const std::vector<Filter>& where) {
  std::unordered_set<std::uint64_t> keep;
  for (std::size_t i : select_rows(r, where)) keep.insert(r.points.point_id[i]);
  const CurvesTable& c = r.curves;
  std::string out = "point_id,curve,x,y\n";
  for (std::size_t i = 0; i < c.size(); ++i) {
    if (!keep.contains(c.point_id[i])) continue;
    out += fmt::format("{},{},{},{}\n", format_point_id(c.point_id[i]), csv_escape(c.curve[i]),
                       exact(c.x[i]), exact(c.y[i]));
  }
  return out;
}

void write_text_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (out) out << text;
  if (out) out.close();
  if (!out) {
    throw EnvironmentError("cannot write " + path + ": " + std::strerror(errno),
                           "check that the directory exists and is writable");
  }
}

}  // namespace emsweep::analysis
