#include "analysis/select.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <optional>

#include "sweep/core/error.h"
#include "sweep/core/spec.h"
#include "sweep/core/value.h"

namespace emsweep::analysis {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return {};
  const auto e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

Filter parse_one(const std::string& text) {
  // Two-character operators first, so that `>=` is not read as `>`.
  static const std::pair<const char*, Filter::Op> kOps[] = {
      {"!=", Filter::Op::kNe}, {">=", Filter::Op::kGe}, {"<=", Filter::Op::kLe},
      {"==", Filter::Op::kEq}, {"=", Filter::Op::kEq},  {"<", Filter::Op::kLt},
      {">", Filter::Op::kGt}};
  for (const auto& [sym, op] : kOps) {
    const auto at = text.find(sym);
    if (at == std::string::npos) continue;
    Filter f;
    f.column = trim(text.substr(0, at));
    f.op = op;
    f.value = trim(text.substr(at + std::string(sym).size()));
    f.text = text;
    if (f.column.empty() || f.value.empty()) break;
    return f;
  }
  throw ConfigError("'" + text + "' is not a condition",
                    "write AXIS=VALUE, AXIS!=VALUE or AXIS<VALUE (also <=, >, >=), e.g. "
                    "--where domain_mix=0 --where kl_weight>0");
}

std::optional<double> parse_number(const std::string& s) {
  if (s == "true") return 1.0;
  if (s == "false") return 0.0;
  try {
    std::size_t used = 0;
    double v = std::stod(s, &used);
    if (used == s.size()) return v;
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

template <class T>
bool compare(const T& a, Filter::Op op, const T& b) {
  switch (op) {
    case Filter::Op::kEq:
      return a == b;
    case Filter::Op::kNe:
      return a != b;
    case Filter::Op::kLt:
      return a < b;
    case Filter::Op::kLe:
      return a <= b;
    case Filter::Op::kGt:
      return a > b;
    case Filter::Op::kGe:
      return a >= b;
  }
  return false;
}

// A filter bound to its column, with its value parsed once.
struct BoundFilter {
  ColumnRef column;
  Filter::Op op;
  double number = kNaN;
  std::string text;
};

std::vector<BoundFilter> bind(const Results& r, const std::vector<Filter>& filters) {
  std::vector<BoundFilter> out;
  for (const auto& f : filters) {
    ColumnRef c(r, f.column);
    BoundFilter b{c, f.op, kNaN, f.value};
    if (c.numeric()) {
      auto v = parse_number(f.value);
      if (!v) {
        throw ConfigError("in '" + f.text + "': " + f.column + " holds numbers, not '" + f.value +
                          "'");
      }
      b.number = canonical_double(*v);
    }
    out.push_back(std::move(b));
  }
  return out;
}

bool matches(const std::vector<BoundFilter>& filters, std::size_t row) {
  for (const auto& f : filters) {
    if (f.column.numeric()) {
      // Compare at the 12 significant digits the config canonicalises to, so 0.1 finds 0.1.
      if (!compare(canonical_double(f.column.number(row)), f.op, f.number)) return false;
    } else if (!compare(f.column.display(row), f.op, f.text)) {
      return false;
    }
  }
  return true;
}

// Orders group keys: numbers numerically, text lexicographically, column by column.
struct KeyLess {
  bool operator()(const Group& a, const Group& b) const {
    for (std::size_t i = 0; i < a.key.size(); ++i) {
      const bool num = !std::isnan(a.key_num[i]) && !std::isnan(b.key_num[i]);
      if (num && a.key_num[i] != b.key_num[i]) return a.key_num[i] < b.key_num[i];
      if (!num && a.key[i] != b.key[i]) return a.key[i] < b.key[i];
    }
    return false;
  }
};

}  // namespace

ColumnRef::ColumnRef(const Results& r, const std::string& name) : r_(&r), name_(name) {
  if (int a = r.points.axis_index(name); a >= 0) {
    axis_ = &r.points.axes[static_cast<std::size_t>(a)];
    numeric_ = axis_->numeric();
    return;
  }
  if (name == "replicate" || (!r.info.replicate_axis.empty() && name == r.info.replicate_axis)) {
    replicate_ = true;
    return;
  }
  if (int m = r.metric_index(name); m >= 0) {
    metric_ = m;
    return;
  }
  std::vector<std::string> known = r.info.axis_names;
  known.insert(known.end(), r.info.metric_names.begin(), r.info.metric_names.end());
  std::string hint = "axes: ";
  for (std::size_t i = 0; i < r.info.axis_names.size(); ++i) {
    hint += (i ? ", " : "") + r.info.axis_names[i];
  }
  hint += "; metrics: ";
  for (std::size_t i = 0; i < r.info.metric_names.size(); ++i) {
    hint += (i ? ", " : "") + r.info.metric_names[i];
  }
  std::string guess = did_you_mean(name, known);
  throw ConfigError(r.path + " has no axis or metric '" + name + "'" +
                        (guess.empty() ? "" : " (did you mean '" + guess + "'?)"),
                    hint);
}

double ColumnRef::number(std::size_t row) const {
  if (axis_ != nullptr) return axis_->numeric() ? axis_->num[row] : kNaN;
  if (replicate_) return static_cast<double>(r_->points.replicate[row]);
  return r_->points.metrics[static_cast<std::size_t>(metric_)][row];
}

std::string ColumnRef::display(std::size_t row) const {
  if (axis_ != nullptr) return axis_->display(row);
  if (replicate_) return std::to_string(r_->points.replicate[row]);
  return format_double(canonical_double(number(row)));
}

std::vector<std::string> split_list(const std::vector<std::string>& texts) {
  std::vector<std::string> out;
  for (const auto& t : texts) {
    std::size_t start = 0;
    while (start <= t.size()) {
      auto end = t.find(',', start);
      if (end == std::string::npos) end = t.size();
      std::string item = trim(t.substr(start, end - start));
      if (!item.empty()) out.push_back(item);
      start = end + 1;
    }
  }
  return out;
}

std::vector<Filter> parse_filters(const std::vector<std::string>& texts) {
  std::vector<Filter> out;
  for (const auto& t : split_list(texts)) out.push_back(parse_one(t));
  return out;
}

bool row_matches(const Results& r, const std::vector<Filter>& filters, std::size_t row) {
  return matches(bind(r, filters), row);
}

std::vector<std::size_t> select_rows(const Results& r, const std::vector<Filter>& filters) {
  auto bound = bind(r, filters);
  std::vector<std::size_t> rows;
  for (std::size_t i = 0; i < r.points.size(); ++i) {
    if (matches(bound, i)) rows.push_back(i);
  }
  return rows;
}

std::vector<Group> group_rows(const Results& r, const std::vector<std::string>& by,
                              const std::vector<std::size_t>& rows) {
  std::vector<ColumnRef> cols;
  for (const auto& name : by) cols.emplace_back(r, name);
  std::map<Group, std::vector<std::size_t>, KeyLess> groups;
  for (std::size_t row : rows) {
    Group g;
    for (const auto& c : cols) {
      g.key.push_back(c.display(row));
      g.key_num.push_back(c.numeric() ? canonical_double(c.number(row)) : kNaN);
    }
    groups[g].push_back(row);
  }
  std::vector<Group> out;
  for (auto& [g, members] : groups) {
    Group copy = g;
    copy.rows = std::move(members);
    out.push_back(std::move(copy));
  }
  return out;
}

std::vector<Group> distinct_values(const Results& r, const std::string& name,
                                   const std::vector<std::size_t>& rows) {
  return group_rows(r, {name}, rows);
}

std::vector<std::string> default_axes(const Results& r) {
  std::vector<std::string> out;
  for (const auto& a : r.points.axes) out.push_back(a.name);
  return out;
}

}  // namespace emsweep::analysis
