#include "sweep/core/spec.h"

#include "sweep/core/command_line.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include "sweep/core/error.h"
#include "sweep/core/grid.h"
#include "sweep/core/sample.h"
#include "sweep/core/search.h"
#include "sweep/core/sha256.h"

namespace emsweep {
namespace {

constexpr std::size_t kMaxInputBytes = 1u << 20;     // refuse configs over 1 MiB (yaml-cpp needs ~90x)
constexpr int kMaxNesting = 64;                      // deepest bracket/indent nesting accepted
constexpr std::int64_t kMaxAxisValues = 10'000'000;  // values one axis may expand to
constexpr std::size_t kMaxErrors = 200;
constexpr std::int64_t kMaxPack = 4096;  // points one call may run together (run.pack)              // stop collecting after this many

const std::vector<std::string> kTopKeys = {"sweep", "grid", "sample", "search", "zip", "exclude", "task", "run"};
const std::vector<std::string> kSearchKeys = {"kind", "axis", "scale", "bounds", "metric", "threshold", "tolerance", "parallel", "monotone_tolerance"};
const std::vector<std::string> kSampleKeys = {"kind", "n", "params"};
const std::vector<std::string> kSampleParamKeys = {"range", "int", "choice", "scale"};
const std::vector<std::string> kSweepKeys = {"name", "output", "seed", "description"};
const std::vector<std::string> kRunKeys = {
    "max_retries", "fail_fast",      "grace_seconds",  "log_seconds",   "flush_seconds", "batch",
    "cache_dir",   "timeout",        "kill_grace",     "gpus_per_point", "cpus_per_point",
    "keep_workdirs", "workdir_root", "isolation", "pack"};
// The keys of a `command` kind's task: section besides its parameters' fixed values.
const std::vector<std::string> kCommandKeys = {"kind", "argv", "params", "metrics", "curves"};
const std::vector<std::string> kParamKeys = {"default", "type", "min", "max", "choices", "doc"};
const std::vector<std::string> kMetricKeys = {"name", "nan", "doc"};
constexpr std::size_t kMaxCurveName = 31;  // /curves stores names in 32 bytes
const std::vector<std::string> kAxisForms = {"linspace", "logspace", "include_zero", "range",
                                             "replicates"};

struct Override {
  std::string path;  // e.g. task.steps
  std::string text;  // the whole --set argument
};

// Collects diagnostics; knows which key paths came from --set.
class Checker {
 public:
  Checker(std::string source, std::vector<Override> overrides)
      : source_(std::move(source)), overrides_(std::move(overrides)) {}

  void error(const YAML::Node& node, const std::string& key, std::string message,
             std::string hint = {}) {
    error_at(node.IsDefined() ? node.Mark() : YAML::Mark::null_mark(), key, std::move(message),
             std::move(hint));
  }

  void error_at(const YAML::Mark& mark, const std::string& key, std::string message,
                std::string hint = {}) {
    if (errors_.size() >= kMaxErrors) return;
    Diagnostic d;
    d.key = key;
    d.message = std::move(message);
    d.hint = std::move(hint);
    if (const Override* o = override_for(key)) {
      d.source = "command line (--set " + o->text + ")";
    } else {
      d.source = source_;
      if (mark.line >= 0) {
        d.line = mark.line + 1;
        d.column = mark.column + 1;
      }
    }
    errors_.push_back(std::move(d));
  }

  [[nodiscard]] std::vector<Diagnostic>& errors() { return errors_; }
  [[nodiscard]] bool ok() const { return errors_.empty(); }

 private:
  const Override* override_for(const std::string& key) const {
    const Override* found = nullptr;
    for (const auto& o : overrides_) {
      if (key == o.path || key.starts_with(o.path + ".") || key.starts_with(o.path + "[") ||
          o.path.starts_with(key + ".")) {
        found = &o;  // the last override of a path wins, as it does when applied
      }
    }
    return found;
  }

  std::string source_;
  std::vector<Override> overrides_;
  std::vector<Diagnostic> errors_;
};

std::string node_kind(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Null: return "nothing";
    case YAML::NodeType::Scalar: return "'" + n.Scalar() + "'";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Undefined: return "nothing";
  }
  return "something else";
}

std::optional<double> parse_number(const std::string& s) {
  std::string_view v = s;
  if (!v.empty() && v.front() == '+') v.remove_prefix(1);
  if (v.empty()) return std::nullopt;
  double out = 0;
  auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (ec != std::errc() || ptr != v.data() + v.size() || !std::isfinite(out)) return std::nullopt;
  return out;
}

std::optional<std::int64_t> parse_integer(const std::string& s) {
  std::string_view v = s;
  if (!v.empty() && v.front() == '+') v.remove_prefix(1);
  if (v.empty()) return std::nullopt;
  std::int64_t out = 0;
  auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (ec == std::errc() && ptr == v.data() + v.size()) return out;
  // Accept integral numbers written as 1e3 or 300.0.
  auto d = parse_number(s);
  if (d && std::floor(*d) == *d && std::fabs(*d) < 9e15) return static_cast<std::int64_t>(*d);
  return std::nullopt;
}

std::optional<bool> parse_bool(const std::string& s) {
  static const std::vector<std::string> yes = {"true", "True", "TRUE", "yes", "Yes", "on", "On"};
  static const std::vector<std::string> no = {"false", "False", "FALSE", "no", "No", "off", "Off"};
  if (std::find(yes.begin(), yes.end(), s) != yes.end()) return true;
  if (std::find(no.begin(), no.end(), s) != no.end()) return false;
  return std::nullopt;
}

// An integer bound as digits ("10000000", never "1e+07").
std::string integer_text(double v) {
  if (v >= 9.2e18) return std::to_string(std::numeric_limits<std::int64_t>::max());
  if (v <= -9.2e18) return std::to_string(std::numeric_limits<std::int64_t>::min());
  return std::to_string(static_cast<std::int64_t>(v));
}

// The values a setting accepts, as an error message names them: always the real range. An
// integer without a bound of its own is bounded by int64; a number by the finite doubles.
std::string range_phrase(const SettingSpec& s) {
  if (s.type == ValueType::kInteger) {
    const double lo = s.min ? *s.min + (s.min_exclusive ? 1 : 0) : -9.3e18;
    const double hi = s.max ? *s.max : 9.3e18;
    return "an integer in [" + integer_text(lo) + ", " + integer_text(hi) + "]";
  }
  if (s.min && s.max) {
    return std::string("a number in ") + (s.min_exclusive ? "(" : "[") + format_double(*s.min) +
           ", " + format_double(*s.max) + "]";
  }
  if (s.min)
    return std::string("a finite number") + (s.min_exclusive ? " > " : " >= ") +
           format_double(*s.min);
  if (s.max) return "a finite number <= " + format_double(*s.max);
  return "a finite number";
}

// Why `text` is not an integer: out of int64's range (or written with an exponent past 9e15,
// which parse_integer refuses as inexact), or not an integer at all.
std::string integer_problem(const std::string& text, const std::string& range) {
  if (auto d = parse_number(text); d && std::floor(*d) == *d) {
    return "expected " + range + ", got " + text +
           (std::fabs(*d) < 9.2e18 ? " (write integers of 9e15 or more in plain digits)" : "");
  }
  return "expected an integer, got '" + text + "'";
}

bool in_range(const SettingSpec& s, double v) {
  if (s.min && (s.min_exclusive ? v <= *s.min : v < *s.min)) return false;
  if (s.max && v > *s.max) return false;
  return true;
}

std::string join(const std::vector<std::string>& xs, const std::string& sep) {
  std::string out;
  for (std::size_t i = 0; i < xs.size(); ++i) out += (i ? sep : "") + xs[i];
  return out;
}

std::string unknown_key_hint(const std::string& word, const std::vector<std::string>& known) {
  std::string guess = did_you_mean(word, known);
  if (!guess.empty()) return "did you mean '" + guess + "'?";
  return "known keys: " + join(known, ", ");
}

// Checks a value against a setting's type and range; reports at `node`.
std::optional<Value> check_value(Checker& c, const YAML::Node& node, const std::string& key,
                                 const SettingSpec& s) {
  if (!node.IsScalar()) {
    c.error(node, key, std::string("expected ") + type_phrase(s.type) + ", got " + node_kind(node));
    return std::nullopt;
  }
  const std::string& text = node.Scalar();
  switch (s.type) {
    case ValueType::kNumber: {
      auto v = parse_number(text);
      if (!v) {
        c.error(node, key, "expected a finite number, got '" + text + "'");
        return std::nullopt;
      }
      if (!in_range(s, *v)) {
        c.error(node, key, "expected " + range_phrase(s) + ", got " + text);
        return std::nullopt;
      }
      return Value::number(*v);
    }
    case ValueType::kInteger: {
      auto v = parse_integer(text);
      if (!v) {
        c.error(node, key, integer_problem(text, range_phrase(s)));
        return std::nullopt;
      }
      if (!in_range(s, static_cast<double>(*v))) {
        c.error(node, key, "expected " + range_phrase(s) + ", got " + text);
        return std::nullopt;
      }
      return Value::integer(*v);
    }
    case ValueType::kBool: {
      auto v = parse_bool(text);
      if (!v) {
        c.error(node, key, "expected true or false, got '" + text + "'");
        return std::nullopt;
      }
      return Value::boolean(*v);
    }
    case ValueType::kString: {
      if (!s.choices.empty() &&
          std::find(s.choices.begin(), s.choices.end(), text) == s.choices.end()) {
        c.error(node, key,
                "expected one of " + join(s.choices, ", ") + ", got '" + text + "'",
                unknown_key_hint(text, s.choices));
        return std::nullopt;
      }
      return Value::text(text);
    }
  }
  return std::nullopt;
}

// Checks a number produced by an axis form (linspace, ...) against the setting.
std::optional<Value> check_generated(Checker& c, const YAML::Node& node, const std::string& key,
                                     const SettingSpec& s, double v) {
  if (s.type == ValueType::kString || s.type == ValueType::kBool) {
    c.error(node, key, std::string("setting '") + s.name + "' takes " + type_phrase(s.type) +
                           "; numeric forms cannot produce it",
            "write the values as a list");
    return std::nullopt;
  }
  double cv = canonical_double(v);
  if (s.type == ValueType::kInteger && std::floor(cv) != cv) {
    c.error(node, key,
            "setting '" + s.name + "' takes integers, but this form gives " + format_double(cv),
            "use range: [start, stop, step] or a list of integers");
    return std::nullopt;
  }
  if (!in_range(s, cv)) {
    c.error(node, key, "expected " + range_phrase(s) + ", but this form gives " + format_double(cv));
    return std::nullopt;
  }
  if (s.type == ValueType::kInteger) return Value::integer(static_cast<std::int64_t>(cv));
  return Value::number(cv);
}

// Reads `[a, b, n]` of a linspace/logspace form.
bool read_triple(Checker& c, const YAML::Node& n, const std::string& key, double& a, double& b,
                 std::int64_t& count) {
  if (!n.IsSequence() || n.size() != 3) {
    c.error(n, key, "expected [start, stop, count], got " + node_kind(n));
    return false;
  }
  auto va = n[0].IsScalar() ? parse_number(n[0].Scalar()) : std::nullopt;
  auto vb = n[1].IsScalar() ? parse_number(n[1].Scalar()) : std::nullopt;
  std::optional<std::int64_t> vn;
  if (n[2].IsScalar()) vn = parse_integer(n[2].Scalar());
  bool ok = true;
  if (!va) {
    c.error(n[0], key + "[0]", "expected a finite number (start), got " + node_kind(n[0]));
    ok = false;
  }
  if (!vb) {
    c.error(n[1], key + "[1]", "expected a finite number (stop), got " + node_kind(n[1]));
    ok = false;
  }
  const std::int64_t n_values = vn.value_or(0);
  if (n_values < 1 || n_values > kMaxAxisValues) {
    c.error(
        n[2], key + "[2]",
        "expected a count in [1, " + std::to_string(kMaxAxisValues) + "], got " + node_kind(n[2]));
    ok = false;
  }
  if (!ok) return false;
  a = *va;
  b = *vb;
  count = n_values;
  return true;
}

// An axis' values in config order, each with the node a repeated value is reported at.
using AxisItems = std::vector<std::pair<Value, YAML::Node>>;

// Adds a number an axis form produced; false once the setting refuses it (reported).
bool add_generated(Checker& c, AxisItems& items, const YAML::Node& at, const std::string& key,
                   const SettingSpec& s, double v) {
  auto val = check_generated(c, at, key, s, v);
  if (!val) return false;
  items.emplace_back(*val, at);
  return true;
}

// Reports a list or numeric form under a name that is no setting of the kind.
void not_a_setting(Checker& c, const YAML::Node& node, const std::string& key,
                   const std::string& name) {
  c.error(node, key, "'" + name + "' is not a setting of this task kind",
          "grid axes must be task settings; a replicate axis is written {replicates: n}");
}

// `[a, b, ...]`: every item is checked (and each bad one reported) before the list is refused.
std::optional<AxisItems> list_values(Checker& c, const std::string& key, const YAML::Node& node,
                                     const SettingSpec& setting) {
  if (static_cast<std::int64_t>(node.size()) > kMaxAxisValues) {
    c.error(node, key,
            "a list of " + std::to_string(node.size()) + " values; an axis takes at most " +
                std::to_string(kMaxAxisValues));
    return std::nullopt;
  }
  AxisItems items;
  bool ok = true;
  for (std::size_t i = 0; i < node.size(); ++i) {
    YAML::Node item = node[i];
    if (auto v = check_value(c, item, key + "[" + std::to_string(i) + "]", setting)) {
      items.emplace_back(*v, item);
    } else {
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return items;
}

// The one form a `{form: ...}` axis is written in; include_zero may stand beside logspace only.
std::optional<std::string> axis_form(Checker& c, const std::string& key, const YAML::Node& node) {
  std::vector<std::string> forms;
  for (auto it = node.begin(); it != node.end(); ++it) {
    std::string k = it->first.IsScalar() ? it->first.Scalar() : "?";
    if (std::find(kAxisForms.begin(), kAxisForms.end(), k) == kAxisForms.end()) {
      c.error(it->first, key + "." + k, "unknown axis form '" + k + "'",
              unknown_key_hint(k, {"linspace", "logspace", "range", "replicates"}));
      return std::nullopt;
    }
    if (k != "include_zero") forms.push_back(k);
  }
  if (forms.size() != 1) {
    c.error(node, key,
            forms.empty() ? "expected one of linspace, logspace, range, replicates"
                          : "more than one form: " + join(forms, ", "),
            "write e.g. {linspace: [0, 1, 5]}");
    return std::nullopt;
  }
  if (node["include_zero"] && forms[0] != "logspace") {
    c.error(node["include_zero"], key + ".include_zero", "include_zero only goes with logspace");
    return std::nullopt;
  }
  return forms[0];
}

// `{replicates: n}`: 0..n-1 under an axis name of its own, which no setting of the kind may have.
std::optional<AxisItems> replicate_values(Checker& c, const std::string& key,
                                          const std::string& name, const YAML::Node& node,
                                          const YAML::Node& body, bool is_setting) {
  if (is_setting) {
    c.error(node, key,
            "'" + name + "' is a task setting; replicates need an axis name of their own",
            "write e.g. seed: {replicates: 3}");
    return std::nullopt;
  }
  // The name is free text only here: keep it a plain identifier, so that it survives
  // the resolved YAML and HDF5 attributes unchanged (fuzzing found invalid UTF-8 that the
  // YAML emitter rewrote, which changed the config hash on resume).
  bool plain = !name.empty() && name.size() <= 64 &&
               std::all_of(name.begin(), name.end(), [](char ch) {
                 return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_';
               });
  if (!plain) {
    c.error(node, key,
            "a replicates axis name must be 1 to 64 letters, digits or '_'" +
                (name.size() > 64 ? ", got " + std::to_string(name.size()) + " characters"
                                  : std::string()),
            "write e.g. seed: {replicates: 3}");
    return std::nullopt;
  }
  auto n = body.IsScalar() ? parse_integer(body.Scalar()) : std::nullopt;
  if (!n || *n < 1 || *n > kMaxAxisValues) {
    c.error(body, key + ".replicates",
            "expected a count in [1, " + std::to_string(kMaxAxisValues) + "], got " +
                node_kind(body));
    return std::nullopt;
  }
  AxisItems items;
  for (std::int64_t i = 0; i < *n; ++i) items.emplace_back(Value::integer(i), body);
  return items;
}

// `{linspace: [a, b, n]}` or `{logspace: [a, b, n]}` (10^a to 10^b), 0 first with include_zero.
std::optional<AxisItems> spaced_values(Checker& c, const std::string& key, const std::string& form,
                                       const YAML::Node& node, const YAML::Node& body,
                                       const SettingSpec& setting) {
  double a = 0, b = 0;
  std::int64_t n = 0;
  if (!read_triple(c, body, key + "." + form, a, b, n)) return std::nullopt;
  bool zero = false;
  if (YAML::Node z = node["include_zero"]) {
    auto zb = z.IsScalar() ? parse_bool(z.Scalar()) : std::nullopt;
    if (!zb) {
      c.error(z, key + ".include_zero", "expected true or false, got " + node_kind(z));
      return std::nullopt;
    }
    zero = *zb;
  }
  AxisItems items;
  if (zero && !add_generated(c, items, body, key, setting, 0.0)) return std::nullopt;
  for (std::int64_t i = 0; i < n; ++i) {
    double t = n == 1 ? 0.0 : static_cast<double>(i) / static_cast<double>(n - 1);
    double x = a + (b - a) * t;
    if (form == "logspace") {
      x = std::pow(10.0, x);
      if (!std::isfinite(x) || x == 0.0) {
        c.error(body, key + ".logspace",
                "10^" + format_double(a + (b - a) * t) +
                    " is out of the range of a double (logspace "
                    "exponents go from -323 to 308)");
        return std::nullopt;
      }
    }
    if (!add_generated(c, items, body, key, setting, x)) return std::nullopt;
  }
  return items;
}

// `{range: [start, stop, step]}`: integers from start up to stop (left out), step 1 by default.
std::optional<AxisItems> range_values(Checker& c, const std::string& key, const YAML::Node& body,
                                      const SettingSpec& setting) {
  if (!body.IsSequence() || body.size() < 2 || body.size() > 3) {
    c.error(body, key + ".range",
            "expected [start, stop] or [start, stop, step], got " + node_kind(body));
    return std::nullopt;
  }
  std::int64_t r[3] = {0, 0, 1};
  for (std::size_t i = 0; i < body.size(); ++i) {
    auto v = body[i].IsScalar() ? parse_integer(body[i].Scalar()) : std::nullopt;
    if (!v) {
      c.error(body[i], key + ".range[" + std::to_string(i) + "]",
              body[i].IsScalar() ? integer_problem(body[i].Scalar(),
                                                   "an integer in [" + integer_text(-9.3e18) +
                                                       ", " + integer_text(9.3e18) + "]")
                                 : "expected an integer, got " + node_kind(body[i]));
      return std::nullopt;
    }
    r[i] = *v;
  }
  if (r[2] == 0) {
    c.error(body, key + ".range", "step must not be 0");
    return std::nullopt;
  }
  long double span = static_cast<long double>(r[1]) - static_cast<long double>(r[0]);
  long double count = std::ceil(span / static_cast<long double>(r[2]));
  if (count > kMaxAxisValues) {
    c.error(body, key + ".range",
            "the range gives " + format_double(static_cast<double>(count)) +
                " values; an axis takes at most " + std::to_string(kMaxAxisValues));
    return std::nullopt;
  }
  AxisItems items;
  for (std::int64_t x = r[0]; r[2] > 0 ? x < r[1] : x > r[1]; x += r[2]) {
    if (!add_generated(c, items, body, key, setting, static_cast<double>(x))) return std::nullopt;
  }
  return items;
}

// `axis` with `items` as its values; refused (reported) when there are none or one repeats.
std::optional<Axis> distinct_axis(Checker& c, const std::string& key, const YAML::Node& node,
                                  Axis axis, AxisItems items) {
  if (items.empty()) {
    c.error(node, key, "the axis has no values", "give at least one value");
    return std::nullopt;
  }
  std::set<std::string> seen;
  for (auto& [v, at] : items) {
    if (!seen.insert(v.canonical()).second) {
      c.error(at, key, "value " + v.display() + " appears twice",
              "each value of an axis must be distinct (after rounding to 12 digits)");
      return std::nullopt;
    }
    axis.values.push_back(std::move(v));
  }
  return axis;
}

// Parses one grid axis. `setting` is null for a replicates axis candidate.
std::optional<Axis> parse_axis(Checker& c, const std::string& name, const YAML::Node& node,
                               const SettingSpec* setting) {
  const std::string key = "grid." + name;
  Axis axis;
  axis.name = name;
  std::optional<AxisItems> items;
  if (node.IsSequence()) {
    axis.form = "list";
    if (setting == nullptr) {
      not_a_setting(c, node, key, name);
      return std::nullopt;
    }
    items = list_values(c, key, node, *setting);
  } else if (node.IsMap()) {
    std::optional<std::string> form = axis_form(c, key, node);
    if (!form) return std::nullopt;
    axis.form = *form;
    YAML::Node body = node[axis.form];
    if (axis.form == "replicates") {
      axis.is_replicate = true;
      items = replicate_values(c, key, name, node, body, setting != nullptr);
    } else if (setting == nullptr) {
      not_a_setting(c, node, key, name);
      return std::nullopt;
    } else if (axis.form == "range") {
      items = range_values(c, key, body, *setting);
    } else {
      items = spaced_values(c, key, axis.form, node, body, *setting);
    }
  } else {
    c.error(node, key,
            "expected a list of values or a form such as {linspace: [a, b, n]}, got " +
                node_kind(node),
            setting ? "for one fixed value, set task." + name + " instead" : "");
    return std::nullopt;
  }
  if (!items) return std::nullopt;
  return distinct_axis(c, key, node, std::move(axis), std::move(*items));
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char ch : s) {
    if (ch == sep) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += ch;
    }
  }
  out.push_back(cur);
  return out;
}

// Rough nesting guard before yaml-cpp (which recurses) sees the text.
bool too_deep(std::string_view text) {
  int depth = 0;
  bool in_single = false, in_double = false;
  std::size_t indent = 0;
  bool at_line_start = true;
  for (char ch : text) {
    if (ch == '\n') {
      at_line_start = true;
      indent = 0;
      continue;
    }
    if (at_line_start && (ch == ' ' || ch == '-')) {
      if (++indent > 4 * kMaxNesting) return true;
      continue;
    }
    at_line_start = false;
    if (ch == '"' && !in_single) in_double = !in_double;
    if (ch == '\'' && !in_double) in_single = !in_single;
    if (in_single || in_double) continue;
    if (ch == '[' || ch == '{') {
      if (++depth > kMaxNesting) return true;
    } else if ((ch == ']' || ch == '}') && depth > 0) {
      --depth;
    }
  }
  return false;
}

void check_keys(Checker& c, const YAML::Node& map, const std::string& prefix,
                const std::vector<std::string>& known) {
  std::set<std::string> seen;
  for (auto it = map.begin(); it != map.end(); ++it) {
    if (!it->first.IsScalar()) {
      c.error(it->first, prefix, "keys must be plain names, got " + node_kind(it->first));
      continue;
    }
    const std::string k = it->first.Scalar();
    const std::string path = prefix.empty() ? k : prefix + "." + k;
    if (!seen.insert(k).second) {
      c.error(it->first, path, "key '" + k + "' appears twice", "keep one of them");
    } else if (std::find(known.begin(), known.end(), k) == known.end()) {
      c.error(it->first, path, "unknown key '" + k + "'", unknown_key_hint(k, known));
    }
  }
}

template <typename T>
void read_field(Checker& c, const YAML::Node& parent, const std::string& prefix,
                const std::string& name, const SettingSpec& spec, T& out) {
  YAML::Node n = parent[name];
  if (!n) return;
  auto v = check_value(c, n, prefix + "." + name, spec);
  if (!v) return;
  if constexpr (std::is_same_v<T, int>) {
    out = static_cast<int>(v->as_int());
  } else if constexpr (std::is_same_v<T, std::uint64_t>) {
    out = static_cast<std::uint64_t>(v->as_int());
  } else if constexpr (std::is_same_v<T, bool>) {
    out = v->as_bool();
  } else if constexpr (std::is_same_v<T, double>) {
    out = v->as_double();
  } else {
    out = v->as_string();
  }
}

SettingSpec number_spec(double min, bool exclusive = false,
                        std::optional<double> max = std::nullopt) {
  SettingSpec s;
  s.type = ValueType::kNumber;
  s.min = min;
  s.min_exclusive = exclusive;
  s.max = max;
  return s;
}
SettingSpec integer_spec(double min, std::optional<double> max = std::nullopt) {
  SettingSpec s;
  s.type = ValueType::kInteger;
  s.min = min;
  s.max = max;
  return s;
}
SettingSpec typed_spec(ValueType t) {
  SettingSpec s;
  s.type = t;
  return s;
}

bool plain_name(const std::string& n) {
  return !n.empty() && (std::isalpha(static_cast<unsigned char>(n[0])) || n[0] == '_') &&
         std::all_of(n.begin(), n.end(), [](char ch) {
           return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_';
         });
}

// The type a parameter's default is written in: true/false, an integer (digits only), a
// number, else text; a quoted default is always text.
ValueType written_type(const YAML::Node& n) {
  const std::string& t = n.Scalar();
  if (n.Tag() == "!") return ValueType::kString;
  if (t == "true" || t == "false" || t == "True" || t == "False") return ValueType::kBool;
  std::string_view digits = t;
  if (!digits.empty() && (digits.front() == '-' || digits.front() == '+')) digits.remove_prefix(1);
  if (!digits.empty() && std::all_of(digits.begin(), digits.end(), [](char ch) {
        return std::isdigit(static_cast<unsigned char>(ch));
      }) && parse_integer(t)) {
    return ValueType::kInteger;
  }
  if (parse_number(t)) return ValueType::kNumber;
  return ValueType::kString;
}

std::optional<ValueType> type_named(const std::string& t) {
  if (t == "number") return ValueType::kNumber;
  if (t == "integer") return ValueType::kInteger;
  if (t == "boolean") return ValueType::kBool;
  if (t == "string") return ValueType::kString;
  return std::nullopt;
}

const char* type_word(ValueType t) {
  switch (t) {
    case ValueType::kNumber: return "number";
    case ValueType::kInteger: return "integer";
    case ValueType::kBool: return "boolean";
    case ValueType::kString: return "string";
  }
  return "number";
}

// Columns of /points that metrics and axes may not be named after.
const std::vector<std::string> kFixedColumns = {
    "point_id", "index", "replicate", "status", "attempts", "rank", "host", "start_time",
    "end_time", "seconds", "error", "outcome", "exit_code", "signal", "peak_rss_mb", "provenance"};

// One parameter of a `command` kind: `name: default` or `name: {default:, type:, min:, ...}`.
std::optional<SettingSpec> parse_param(Checker& c, const std::string& name, const YAML::Node& body) {
  const std::string key = "task.params." + name;
  SettingSpec s;
  s.name = name;
  YAML::Node def;
  def.reset(body);
  if (body.IsMap()) {
    check_keys(c, body, key, kParamKeys);
    // A missing key of a const node is an invalid node, which reset() would throw on.
    const YAML::Node given = body["default"];
    if (!given.IsDefined()) {
      c.error(body, key, "expected a default value", "e.g. " + name + ": {default: 0.001, min: 0}");
      return std::nullopt;
    }
    def.reset(given);  // reset: assigning a Node would overwrite the one it refers to
    if (YAML::Node d = body["doc"]) {
      if (!d.IsScalar()) c.error(d, key + ".doc", "expected one line of text, got " + node_kind(d));
      else s.doc = d.Scalar();
    }
  }
  if (!def.IsScalar()) {
    c.error(def, key, "expected a default value (a number, integer, true/false or text), got " +
                          node_kind(def));
    return std::nullopt;
  }
  s.type = written_type(def);
  if (body.IsMap()) {
    if (YAML::Node t = body["type"]) {
      auto named = t.IsScalar() ? type_named(t.Scalar()) : std::nullopt;
      if (!named) {
        c.error(t, key + ".type", "expected number, integer, boolean or string, got " + node_kind(t));
        return std::nullopt;
      }
      s.type = *named;
    }
    for (const char* bound : {"min", "max"}) {
      YAML::Node b = body[bound];
      if (!b) continue;
      auto v = b.IsScalar() ? parse_number(b.Scalar()) : std::nullopt;
      if (!v) {
        c.error(b, key + "." + bound, "expected a finite number, got " + node_kind(b));
        return std::nullopt;
      }
      if (s.type != ValueType::kNumber && s.type != ValueType::kInteger) {
        c.error(b, key + "." + bound, std::string(bound) + " applies to numbers and integers only");
        return std::nullopt;
      }
      (std::string(bound) == "min" ? s.min : s.max) = *v;
    }
    if (s.min && s.max && *s.min > *s.max) {
      c.error(body, key, "min " + format_double(*s.min) + " is above max " + format_double(*s.max));
      return std::nullopt;
    }
    if (YAML::Node ch = body["choices"]) {
      if (s.type != ValueType::kString) {
        c.error(ch, key + ".choices", "choices apply to string parameters only",
                "for numbers use min/max; list allowed values as a grid axis");
        return std::nullopt;
      }
      if (!ch.IsSequence() || ch.size() == 0) {
        c.error(ch, key + ".choices", "expected a list of allowed values, got " + node_kind(ch));
        return std::nullopt;
      }
      for (std::size_t i = 0; i < ch.size(); ++i) {
        if (!ch[i].IsScalar()) {
          c.error(ch[i], key + ".choices", "expected text, got " + node_kind(ch[i]));
          return std::nullopt;
        }
        s.choices.push_back(ch[i].Scalar());
      }
    }
  }
  auto v = check_value(c, def, body.IsMap() ? key + ".default" : key, s);
  if (!v) return std::nullopt;
  s.default_value = *v;
  return s;
}

// task.argv: the program and its arguments, each a template whose syntax is checked here.
void read_argv(Checker& c, const YAML::Node& task, std::vector<std::string>& argv) {
  YAML::Node a = task["argv"];
  if (!a || !a.IsSequence() || a.size() == 0) {
    c.error(a ? a : task, "task.argv", "expected the program and its arguments as a list",
            "e.g. argv: [python3, train.py, --lr, \"{lr}\", --out, \"{workdir}\"] (no shell runs it: "
            "each item is one argument)");
  } else {
    for (std::size_t i = 0; i < a.size(); ++i) {
      const std::string key = "task.argv[" + std::to_string(i) + "]";
      if (!a[i].IsScalar()) {
        c.error(a[i], key, "expected one argument as text, got " + node_kind(a[i]),
                "quote an argument that YAML would read as a list or mapping");
        continue;
      }
      std::string why;
      if (!parse_template(a[i].Scalar(), &why)) c.error(a[i], key, why);
      argv.push_back(a[i].Scalar());
    }
    if (!argv.empty() && argv[0].empty()) c.error(a[0], "task.argv[0]", "the program name is empty");
  }
}

// task.params: each parameter's name is checked here, its declaration by parse_param.
void read_params(Checker& c, const YAML::Node& task, TaskKindInfo& kind) {
  if (YAML::Node params = task["params"]) {
    if (!params.IsMap()) {
      c.error(params, "task.params", "expected a mapping of parameter name to default, got " +
                                         node_kind(params),
              "e.g. params: {lr: 0.001, optimizer: {default: adam, choices: [adam, sgd]}}");
    } else {
      for (auto it = params.begin(); it != params.end(); ++it) {
        const std::string name = it->first.IsScalar() ? it->first.Scalar() : "";
        const std::string key = "task.params." + name;
        if (!plain_name(name)) {
          c.error(it->first, "task.params", "parameter names are plain names (letters, digits, _), got " +
                                                node_kind(it->first));
          continue;
        }
        const bool reserved =
            std::find(kCommandKeys.begin(), kCommandKeys.end(), name) != kCommandKeys.end() ||
            std::find(kBuiltinPlaceholders.begin(), kBuiltinPlaceholders.end(), name) !=
                kBuiltinPlaceholders.end();
        if (reserved) {
          c.error(it->first, key, "'" + name + "' is reserved (a task key or a built-in placeholder)",
                  "rename the parameter");
          continue;
        }
        if (kind.setting_index(name) >= 0) {
          c.error(it->first, key, "parameter '" + name + "' appears twice", "keep one of them");
          continue;
        }
        if (auto p = parse_param(c, name, it->second)) kind.settings.push_back(std::move(*p));
      }
    }
  }
}

// task.metrics: the /points columns the program reports, named unlike the parameters and columns.
void read_metrics(Checker& c, const YAML::Node& task, TaskKindInfo& kind) {
  YAML::Node m = task["metrics"];
  if (!m || !m.IsSequence() || m.size() == 0) {
    c.error(m ? m : task, "task.metrics", "expected the list of metrics the program reports",
            "e.g. metrics: [final_loss, {name: gate_corr, nan: allowed}]; they become /points columns");
  } else {
    for (std::size_t i = 0; i < m.size(); ++i) {
      const std::string key = "task.metrics[" + std::to_string(i) + "]";
      MetricSpec spec;
      YAML::Node name_node;
      name_node.reset(m[i]);
      if (m[i].IsMap()) {
        check_keys(c, m[i], key, kMetricKeys);
        name_node.reset(m[i]["name"]);
        if (YAML::Node nan = m[i]["nan"]) {
          const std::string t = nan.IsScalar() ? nan.Scalar() : "";
          if (t == "allowed" || t == "true") {
            spec.nan_allowed = true;
          } else if (t != "forbidden" && t != "false") {
            c.error(nan, key + ".nan", "expected allowed or forbidden, got " + node_kind(nan));
          }
        }
        if (YAML::Node d = m[i]["doc"]; d && d.IsScalar()) spec.doc = d.Scalar();
      }
      if (!name_node || !name_node.IsScalar() || !plain_name(name_node.Scalar())) {
        c.error(name_node ? name_node : m[i], key,
                "expected a metric name (letters, digits, _), got " + node_kind(name_node));
        continue;
      }
      spec.name = name_node.Scalar();
      const bool taken = std::any_of(kind.metrics.begin(), kind.metrics.end(),
                                     [&](const MetricSpec& x) { return x.name == spec.name; });
      if (taken) {
        c.error(name_node, key, "metric '" + spec.name + "' appears twice", "keep one of them");
      } else if (std::find(kFixedColumns.begin(), kFixedColumns.end(), spec.name) != kFixedColumns.end() ||
                 kind.setting_index(spec.name) >= 0) {
        c.error(name_node, key,
                "metric '" + spec.name +
                    "' has the name of a parameter or of a column every results file has",
                "rename the metric (e.g. " + spec.name + "_value)");
      } else {
        kind.metrics.push_back(std::move(spec));
      }
    }
  }
}

// task.curves: the names of the per-step series the program may report.
void read_curves(Checker& c, const YAML::Node& task, TaskKindInfo& kind) {
  if (YAML::Node cv = task["curves"]) {
    if (!cv.IsSequence()) {
      c.error(cv, "task.curves", "expected a list of curve names, got " + node_kind(cv),
              "e.g. curves: [loss, kl]; the program reports them with report(step, loss=...)");
    } else {
      for (std::size_t i = 0; i < cv.size(); ++i) {
        const std::string key = "task.curves[" + std::to_string(i) + "]";
        if (!cv[i].IsScalar() || !plain_name(cv[i].Scalar()) || cv[i].Scalar().size() > kMaxCurveName) {
          c.error(cv[i], key, "expected a curve name (letters, digits, _; at most " +
                                  std::to_string(kMaxCurveName) + " characters), got " + node_kind(cv[i]));
          continue;
        }
        if (std::find(kind.curves.begin(), kind.curves.end(), cv[i].Scalar()) != kind.curves.end()) {
          c.error(cv[i], key, "curve '" + cv[i].Scalar() + "' appears twice", "keep one of them");
          continue;
        }
        kind.curves.push_back(cv[i].Scalar());
      }
    }
  }
}

// The sweep's own declaration of a `command` kind: argv, params, metrics and curves from task:.
std::shared_ptr<TaskKindInfo> declare_command(Checker& c, const YAML::Node& task,
                                              const TaskKindInfo& base, std::vector<std::string>& argv) {
  auto kind = std::make_shared<TaskKindInfo>(base);
  kind->settings.clear();
  kind->metrics.clear();
  kind->curves.clear();
  const std::size_t errors_before = c.errors().size();
  read_argv(c, task, argv);
  read_params(c, task, *kind);
  read_metrics(c, task, *kind);
  read_curves(c, task, *kind);
  if (c.errors().size() != errors_before) return nullptr;
  return kind;
}

// Every {placeholder} of argv must name a parameter, a built-in or the replicates axis.
void check_placeholders(Checker& c, const YAML::Node& task, const SweepSpec& spec) {
  std::vector<std::string> known = kBuiltinPlaceholders;
  for (const auto& s : spec.kind->settings) known.push_back(s.name);
  for (const auto& a : spec.axes) {
    if (a.is_replicate) known.push_back(a.name);
  }
  YAML::Node a = task["argv"];
  for (std::size_t i = 0; i < spec.argv.size(); ++i) {
    auto pieces = parse_template(spec.argv[i], nullptr);
    if (!pieces) continue;
    for (const auto& p : *pieces) {
      if (!p.placeholder || std::find(known.begin(), known.end(), p.text) != known.end()) continue;
      c.error(a && a.IsSequence() && i < a.size() ? a[i] : task, "task.argv[" + std::to_string(i) + "]",
              "unknown placeholder {" + p.text + "}",
              unknown_key_hint(p.text, known) + " (declare it under task.params, or write {{" + p.text +
                  "}} for literal braces)");
    }
  }
}

void json_string(std::ostringstream& out, const std::string& s) {
  out << Value::text(s).canonical();
}

// The command line wins over the file, as in Hydra: `--set grid.X=...` makes X an axis even
// where the file fixes task.X, and `--set task.X=v` (or task.params.X=v) fixes an axis X at v.
// Removes the file's other entry for X from `root` and returns a one-line note saying so ("" when
// nothing moved). `parts` is the override's key path.
std::string move_between_task_and_grid(YAML::Node& root, const std::vector<std::string>& parts,
                                       const std::string& text) {
  auto remove = [&](YAML::Node parent, const std::string& key) {
    if (!parent.IsMap() || !parent[key].IsDefined()) return std::string();
    std::string old = YAML::Dump(parent[key]);
    std::replace(old.begin(), old.end(), '\n', ' ');
    parent.remove(key);
    return old;
  };
  if (parts.size() == 2 && parts[0] == "grid") {
    const std::string& x = parts[1];
    std::string old = remove(root["task"], x);
    if (old.empty()) return "";
    return "--set " + text + " makes '" + x + "' an axis (the file fixes task." + x + " = " + old + ")";
  }
  bool task_key = parts.size() == 2 && parts[0] == "task";
  bool param_key = parts.size() == 3 && parts[0] == "task" && parts[1] == "params";
  if (task_key || param_key) {
    const std::string& x = parts.back();
    if (task_key && x == "kind") return "";
    std::string old = remove(root["grid"], x);
    if (old.empty()) return "";
    return "--set " + text + " fixes '" + x + "' (the file sweeps it: grid." + x + " = " + old + ")";
  }
  return "";
}

}  // namespace

std::string Diagnostic::format() const {
  std::string out = source;
  if (line > 0) out += ":" + std::to_string(line) + ":" + std::to_string(column);
  out += ": ";
  if (!key.empty()) out += key + ": ";
  out += message;
  if (!hint.empty()) out += "\n    hint: " + hint;
  return out;
}

std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t best_d = std::max<std::size_t>(2, word.size() / 3) + 1;
  for (const auto& cand : candidates) {
    std::vector<std::size_t> prev(cand.size() + 1), cur(cand.size() + 1);
    for (std::size_t j = 0; j <= cand.size(); ++j) prev[j] = j;
    for (std::size_t i = 1; i <= word.size(); ++i) {
      cur[0] = i;
      for (std::size_t j = 1; j <= cand.size(); ++j) {
        std::size_t sub = prev[j - 1] + (std::tolower(static_cast<unsigned char>(word[i - 1])) ==
                                                 std::tolower(static_cast<unsigned char>(cand[j - 1]))
                                             ? 0
                                             : 1);
        cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
      }
      std::swap(prev, cur);
    }
    if (prev[cand.size()] < best_d) {
      best_d = prev[cand.size()];
      best = cand;
    }
  }
  return best;
}

int SweepSpec::axis_index(const std::string& n) const {
  for (std::size_t i = 0; i < axes.size(); ++i) {
    if (axes[i].name == n) return static_cast<int>(i);
  }
  return -1;
}

std::string SweepSpec::canonical() const {
  std::ostringstream out;
  out << "{\"kind\":";
  json_string(out, kind ? kind->name : "");
  out << ",\"name\":";
  json_string(out, name);
  out << ",\"seed\":" << seed << ",\"task\":{";
  std::vector<std::pair<std::string, std::string>> fixed;
  for (std::size_t i = 0; kind && i < kind->settings.size(); ++i) {
    if (axis_index(kind->settings[i].name) >= 0) continue;
    fixed.emplace_back(kind->settings[i].name, task.values[i].canonical());
  }
  std::sort(fixed.begin(), fixed.end());
  for (std::size_t i = 0; i < fixed.size(); ++i) {
    out << (i ? "," : "") << "\"" << fixed[i].first << "\":" << fixed[i].second;
  }
  out << "},\"axes\":[";
  for (std::size_t i = 0; i < axes.size(); ++i) {
    out << (i ? "," : "") << "{\"name\":\"" << axes[i].name
        << "\",\"replicate\":" << (axes[i].is_replicate ? "true" : "false") << ",\"values\":[";
    for (std::size_t j = 0; j < axes[i].values.size(); ++j) {
      out << (j ? "," : "") << axes[i].values[j].canonical();
    }
    out << "]}";
  }
  out << "],\"zip\":[";
  for (std::size_t i = 0; i < zips.size(); ++i) {
    out << (i ? "," : "") << "[";
    for (std::size_t j = 0; j < zips[i].size(); ++j) out << (j ? "," : "") << "\"" << zips[i][j] << "\"";
    out << "]";
  }
  out << "],\"exclude\":[";
  for (std::size_t i = 0; i < exclusions.size(); ++i) {
    out << (i ? "," : "") << "{";
    for (std::size_t j = 0; j < exclusions[i].match.size(); ++j) {
      out << (j ? "," : "") << "\"" << exclusions[i].match[j].first
          << "\":" << exclusions[i].match[j].second.canonical();
    }
    out << "}";
  }
  out << "]";
  if (search) out << ",\"search\":" << search->canonical();
  if (sample) out << ",\"sample\":{\"n\":" << sample->n << ",\"design\":" << sample->canonical_design() << "}";
  if (kind != nullptr && kind->declared_by_config) out << ",\"command\":" << command_canonical();
  out << "}";
  return out.str();
}

std::string SweepSpec::command_canonical() const {
  std::ostringstream out;
  out << "{\"argv\":[";
  for (std::size_t i = 0; i < argv.size(); ++i) {
    out << (i ? "," : "");
    json_string(out, argv[i]);
  }
  out << "],\"params\":[";
  for (std::size_t i = 0; i < kind->settings.size(); ++i) {
    const SettingSpec& p = kind->settings[i];
    out << (i ? "," : "") << "{\"name\":";
    json_string(out, p.name);
    out << ",\"type\":\"" << type_word(p.type) << "\",\"default\":" << p.default_value.canonical();
    if (p.min) out << ",\"min\":" << Value::number(*p.min).canonical();
    if (p.max) out << ",\"max\":" << Value::number(*p.max).canonical();
    if (!p.choices.empty()) {
      out << ",\"choices\":[";
      for (std::size_t j = 0; j < p.choices.size(); ++j) {
        out << (j ? "," : "");
        json_string(out, p.choices[j]);
      }
      out << "]";
    }
    out << "}";
  }
  out << "],\"metrics\":[";
  for (std::size_t i = 0; i < kind->metrics.size(); ++i) {
    out << (i ? "," : "") << "{\"name\":";
    json_string(out, kind->metrics[i].name);
    out << ",\"nan\":" << (kind->metrics[i].nan_allowed ? "true" : "false") << "}";
  }
  out << "],\"curves\":[";
  for (std::size_t i = 0; i < kind->curves.size(); ++i) {
    out << (i ? "," : "");
    json_string(out, kind->curves[i]);
  }
  out << "]}";
  return out.str();
}

std::string SweepSpec::hash() const { return sha256_hex(canonical()); }

std::string SweepSpec::base_hash() const {
  std::ostringstream out;
  out << "kind=" << (kind ? kind->name : "") << ";name=" << name << ";seed=" << seed << ";task=";
  for (std::size_t i = 0; kind && i < kind->settings.size(); ++i) {
    if (axis_index(kind->settings[i].name) >= 0) continue;
    out << kind->settings[i].name << "=" << task.values[i].canonical() << ",";
  }
  out << ";axes=";
  for (const auto& a : axes) out << a.name << (a.is_replicate ? "(r)" : "") << ",";
  out << ";zip=";
  for (const auto& z : zips) out << join(z, "+") << ",";
  if (sample) out << ";sample=" << sample->canonical_design();  // n may grow
  if (search) out << ";search=" << search->canonical();
  if (kind != nullptr && kind->declared_by_config) out << ";command=" << command_canonical();
  return sha256_hex(out.str());
}

namespace {

// A `command` kind's declaration in the resolved YAML, every parameter in its long form.
void emit_command(YAML::Emitter& e, const TaskKindInfo& kind, const std::vector<std::string>& argv) {
  e << YAML::Key << "argv" << YAML::Value << YAML::Flow << YAML::BeginSeq;
  for (const auto& a : argv) e << YAML::DoubleQuoted << a;
  e << YAML::EndSeq;
  if (!kind.settings.empty()) {
    e << YAML::Key << "params" << YAML::Value << YAML::BeginMap;
    for (const auto& p : kind.settings) {
      e << YAML::Key << p.name << YAML::Value << YAML::Flow << YAML::BeginMap;
      e << YAML::Key << "type" << YAML::Value << type_word(p.type);
      e << YAML::Key << "default" << YAML::Value;
      if (p.type == ValueType::kString) {
        e << YAML::DoubleQuoted << p.default_value.display();
      } else {
        e << p.default_value.display();
      }
      if (p.min) e << YAML::Key << "min" << YAML::Value << format_double(*p.min);
      if (p.max) e << YAML::Key << "max" << YAML::Value << format_double(*p.max);
      if (!p.choices.empty()) {
        e << YAML::Key << "choices" << YAML::Value << YAML::BeginSeq;
        for (const auto& ch : p.choices) e << YAML::DoubleQuoted << ch;
        e << YAML::EndSeq;
      }
      if (!p.doc.empty()) e << YAML::Key << "doc" << YAML::Value << YAML::DoubleQuoted << p.doc;
      e << YAML::EndMap;
    }
    e << YAML::EndMap;
  }
  e << YAML::Key << "metrics" << YAML::Value << YAML::BeginSeq;
  for (const auto& m : kind.metrics) {
    e << YAML::Flow << YAML::BeginMap << YAML::Key << "name" << YAML::Value << m.name;
    e << YAML::Key << "nan" << YAML::Value << (m.nan_allowed ? "allowed" : "forbidden");
    if (!m.doc.empty()) e << YAML::Key << "doc" << YAML::Value << YAML::DoubleQuoted << m.doc;
    e << YAML::EndMap;
  }
  e << YAML::EndSeq;
  if (!kind.curves.empty()) e << YAML::Key << "curves" << YAML::Value << YAML::Flow << kind.curves;
}

}  // namespace

namespace {

// The sample: section of the resolved YAML, every parameter in its long form.
void emit_sample(YAML::Emitter& e, const SampleSpec& s) {
  e << YAML::Key << "sample" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "kind" << YAML::Value << sample_method_name(s.method);
  e << YAML::Key << "n" << YAML::Value << s.n;
  e << YAML::Key << "params" << YAML::Value << YAML::BeginMap;
  for (const auto& p : s.params) {
    e << YAML::Key << p.name << YAML::Value << YAML::Flow << YAML::BeginMap;
    if (p.form == SampleParam::Form::kChoice) {
      e << YAML::Key << "choice" << YAML::Value << YAML::Flow << YAML::BeginSeq;
      for (const auto& v : p.choices) e << v.display();
      e << YAML::EndSeq;
    } else {
      e << YAML::Key << (p.form == SampleParam::Form::kRange ? "range" : "int") << YAML::Value
        << YAML::Flow << YAML::BeginSeq << format_double(p.low) << format_double(p.high)
        << YAML::EndSeq;
      e << YAML::Key << "scale" << YAML::Value << (p.log ? "log" : "linear");
    }
    e << YAML::EndMap;
  }
  e << YAML::EndMap << YAML::EndMap;
}

void emit_search(YAML::Emitter& e, const SearchSpec& s) {
  e << YAML::Key << "search" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "kind" << YAML::Value << "boundary";
  e << YAML::Key << "axis" << YAML::Value << s.axis;
  e << YAML::Key << "scale" << YAML::Value << (s.log ? "log" : "linear");
  e << YAML::Key << "bounds" << YAML::Value << YAML::Flow << YAML::BeginSeq << format_double(s.low)
    << format_double(s.high) << YAML::EndSeq;
  e << YAML::Key << "metric" << YAML::Value << s.metric_text();
  e << YAML::Key << "threshold" << YAML::Value << format_double(s.threshold);
  e << YAML::Key << "tolerance" << YAML::Value << format_double(s.tolerance);
  e << YAML::Key << "parallel" << YAML::Value << s.parallel;
  e << YAML::Key << "monotone_tolerance" << YAML::Value << format_double(s.monotone_tolerance);
  e << YAML::EndMap;
}

}  // namespace

std::string SweepSpec::resolved_yaml() const {
  YAML::Emitter e;
  e << YAML::BeginMap;
  e << YAML::Key << "sweep" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "name" << YAML::Value << name;
  e << YAML::Key << "output" << YAML::Value << output;
  e << YAML::Key << "seed" << YAML::Value << seed;
  e << YAML::EndMap;
  e << YAML::Key << "grid" << YAML::Value << YAML::BeginMap;
  for (const auto& a : axes) {
    if (a.is_sampled || a.is_searched) continue;  // written as their own sections below
    e << YAML::Key << a.name << YAML::Value;
    if (a.is_replicate) {
      e << YAML::Flow << YAML::BeginMap << YAML::Key << "replicates" << YAML::Value
        << a.values.size() << YAML::EndMap;
    } else {
      e << YAML::Flow << YAML::BeginSeq;
      for (const auto& v : a.values) e << v.display();
      e << YAML::EndSeq;
    }
  }
  e << YAML::EndMap;
  if (sample) emit_sample(e, *sample);
  if (search) emit_search(e, *search);
  if (!zips.empty()) {
    e << YAML::Key << "zip" << YAML::Value << YAML::BeginSeq;
    for (const auto& z : zips) e << YAML::Flow << z;
    e << YAML::EndSeq;
  }
  if (!exclusions.empty()) {
    e << YAML::Key << "exclude" << YAML::Value << YAML::BeginSeq;
    for (const auto& x : exclusions) {
      e << YAML::Flow << YAML::BeginMap;
      for (const auto& [k, v] : x.match) e << YAML::Key << k << YAML::Value << v.display();
      e << YAML::EndMap;
    }
    e << YAML::EndSeq;
  }
  e << YAML::Key << "task" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "kind" << YAML::Value << (kind ? kind->name : "");
  if (kind != nullptr && kind->declared_by_config) emit_command(e, *kind, argv);
  for (std::size_t i = 0; kind && i < kind->settings.size(); ++i) {
    if (axis_index(kind->settings[i].name) >= 0) continue;
    e << YAML::Key << kind->settings[i].name << YAML::Value << task.values[i].display();
  }
  e << YAML::EndMap;
  e << YAML::Key << "run" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "max_retries" << YAML::Value << run.max_retries;
  e << YAML::Key << "fail_fast" << YAML::Value << run.fail_fast;
  e << YAML::Key << "grace_seconds" << YAML::Value << run.grace_seconds;
  e << YAML::Key << "log_seconds" << YAML::Value << run.log_seconds;
  e << YAML::Key << "flush_seconds" << YAML::Value << run.flush_seconds;
  e << YAML::Key << "batch" << YAML::Value << run.batch;
  e << YAML::Key << "cache_dir" << YAML::Value << run.cache_dir;
  e << YAML::Key << "timeout" << YAML::Value << format_double(run.timeout);
  e << YAML::Key << "kill_grace" << YAML::Value << format_double(run.kill_grace);
  e << YAML::Key << "gpus_per_point" << YAML::Value << run.gpus_per_point;
  e << YAML::Key << "cpus_per_point" << YAML::Value << run.cpus_per_point;
  e << YAML::Key << "keep_workdirs" << YAML::Value << run.keep_workdirs;
  e << YAML::Key << "workdir_root" << YAML::Value << run.workdir_root;
  e << YAML::Key << "isolation" << YAML::Value << run.isolation;
  e << YAML::Key << "pack" << YAML::Value << run.pack;
  e << YAML::EndMap;
  e << YAML::EndMap;
  return std::string(e.c_str()) + "\n";
}

namespace {

// Each --set KEY=VALUE as its key path and YAML value; malformed ones are reported to `pre`.
std::vector<std::pair<Override, YAML::Node>> read_overrides(
    Checker& pre, const std::vector<std::string>& overrides) {
  std::vector<std::pair<Override, YAML::Node>> override_values;
  for (const auto& o : overrides) {
    auto eq = o.find('=');
    if (eq == std::string::npos || eq == 0) {
      pre.error_at(YAML::Mark::null_mark(), "", "--set " + o + ": expected KEY=VALUE",
                   "e.g. --set task.steps=50 or --set grid.gate_noise=[0,0.5]");
      continue;
    }
    Override ov{o.substr(0, eq), o};
    try {
      YAML::Node v = YAML::Load(o.substr(eq + 1));
      override_values.emplace_back(ov, v);
    } catch (const YAML::Exception& e) {
      pre.error_at(YAML::Mark::null_mark(), ov.path,
                   "--set " + o + ": the value is not valid YAML (" + e.msg + ")");
    }
  }
  return override_values;
}

// Loads the config into `root`, a mapping; false (reported) for a text yaml-cpp must not see.
bool load_root(Checker& c, std::string_view text, YAML::Node& root) {
  if (text.size() > kMaxInputBytes) {
    c.error_at(
        YAML::Mark::null_mark(), "",
        "the config is larger than 1 MiB (at most " + std::to_string(kMaxInputBytes) + " bytes)",
        "a sweep spec is a few lines; generate large value lists with linspace/range");
    return false;
  }
  if (text.find('\0') != std::string_view::npos) {
    c.error_at(YAML::Mark::null_mark(), "", "the config contains a NUL byte: not a YAML text file");
    return false;
  }
  if (too_deep(text)) {
    c.error_at(YAML::Mark::null_mark(), "",
               "the config nests deeper than " + std::to_string(kMaxNesting) + " levels");
    return false;
  }
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    c.error_at(e.mark, "", "YAML syntax error: " + e.msg, "check indentation and brackets here");
    return false;
  }
  if (root.IsNull() || !root.IsDefined()) root = YAML::Node(YAML::NodeType::Map);
  if (!root.IsMap()) {
    c.error(root, "", "expected a mapping with sweep:, grid: and task:, got " + node_kind(root));
    return false;
  }
  return true;
}

// Writes each --set value into the tree, to be validated with the rest; returns what they moved.
std::vector<std::string> apply_overrides(
    Checker& c, YAML::Node& root, std::vector<std::pair<Override, YAML::Node>>& override_values) {
  std::vector<std::string> override_notes;
  for (auto& [ov, value] : override_values) {
    auto parts = split(ov.path, '.');
    bool bad_path = std::any_of(parts.begin(), parts.end(), [](auto& p) { return p.empty(); });
    if (bad_path || parts.size() < 2) {
      c.error_at(YAML::Mark::null_mark(), ov.path,
                 "expected a key path like task.steps or grid.gate_noise",
                 unknown_key_hint(parts.empty() ? "" : parts[0], kTopKeys));
      continue;
    }
    YAML::Node cur;
    cur.reset(root);
    bool ok = true;
    for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
      YAML::Node next = cur[parts[i]];
      if (!next.IsDefined() || next.IsNull()) {
        cur[parts[i]] = YAML::Node(YAML::NodeType::Map);
        next.reset(cur[parts[i]]);
      } else if (!next.IsMap()) {
        c.error_at(YAML::Mark::null_mark(), ov.path, "'" + parts[i] + "' is not a mapping");
        ok = false;
        break;
      }
      cur.reset(next);
    }
    if (!ok) continue;
    cur[parts.back()] = value;
    std::string note = move_between_task_and_grid(root, parts, ov.text);
    if (!note.empty()) override_notes.push_back(std::move(note));
  }
  return override_notes;
}

// sweep: the name, the output (results/<name>.h5 by default) and the seed.
void read_sweep(Checker& c, YAML::Node& root, SweepSpec& spec) {
  YAML::Node sweep = root["sweep"];
  if (!sweep || !sweep.IsMap()) {
    c.error(sweep ? sweep : root, "sweep", "expected a mapping with name: and output:",
            "add e.g.\n      sweep:\n        name: my-sweep\n        output: results/my-sweep.h5");
  } else {
    check_keys(c, sweep, "sweep", kSweepKeys);
    YAML::Node n = sweep["name"];
    if (!n || !n.IsScalar() || n.Scalar().empty()) {
      c.error(n ? n : sweep, "sweep.name", "expected a name for the sweep", "e.g. name: kl-vs-noise");
    } else {
      spec.name = n.Scalar();
      bool good = spec.name.size() <= 100 &&
                  std::all_of(spec.name.begin(), spec.name.end(), [](char ch) {
                    return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' ||
                           ch == '_' || ch == '.';
                  });
      if (!good) {
        c.error(n, "sweep.name",
                "expected 1 to 100 letters, digits, '-', '_' or '.'" +
                    (spec.name.size() > 100
                         ? ", got " + std::to_string(spec.name.size()) + " characters"
                         : std::string()),
                "the name appears in file names and job names");
      }
    }
    read_field(c, sweep, "sweep", "output", typed_spec(ValueType::kString), spec.output);
    read_field(c, sweep, "sweep", "seed", integer_spec(0), spec.seed);
    if (YAML::Node d = sweep["description"]; d && !d.IsScalar()) {
      c.error(d, "sweep.description", "expected text, got " + node_kind(d));
    }
  }
  if (spec.output.empty() && !spec.name.empty()) spec.output = "results/" + spec.name + ".h5";
}

// task.kind: a kind of the registry, or for `command` the kind this config declares (spec.kind).
void read_kind(Checker& c, const YAML::Node& root, YAML::Node& task, const TaskRegistry& registry,
               SweepSpec& spec) {
  const TaskKindInfo* kind = nullptr;
  if (!task || !task.IsMap()) {
    c.error(task ? task : root, "task", "expected a mapping with kind:",
            "known kinds: " + join(registry.names(), ", "));
  } else {
    YAML::Node k = task["kind"];
    if (!k || !k.IsScalar()) {
      c.error(k ? k : task, "task.kind", "expected the task kind",
              "known kinds: " + join(registry.names(), ", "));
    } else if ((kind = registry.find(k.Scalar())) == nullptr) {
      c.error(k, "task.kind", "unknown task kind '" + k.Scalar() + "'",
              unknown_key_hint(k.Scalar(), registry.names()));
    }
  }
  if (kind != nullptr && kind->declared_by_config) {
    spec.own_kind = declare_command(c, task, *kind, spec.argv);
    kind = spec.own_kind.get();
  }
  spec.kind = kind;
}

// run: the run policy; every key is optional.
void read_run(Checker& c, YAML::Node& root, SweepSpec& spec) {
  if (YAML::Node run = root["run"]) {
    if (!run.IsMap()) {
      c.error(run, "run", "expected a mapping, got " + node_kind(run));
    } else {
      check_keys(c, run, "run", kRunKeys);
      read_field(c, run, "run", "max_retries", integer_spec(0, 1000), spec.run.max_retries);
      read_field(c, run, "run", "fail_fast", typed_spec(ValueType::kBool), spec.run.fail_fast);
      // A grace period becomes a steady-clock deadline in nanoseconds: 1e9 s (31 years) fits.
      read_field(c, run, "run", "grace_seconds", number_spec(0, false, 1e9),
                 spec.run.grace_seconds);
      read_field(c, run, "run", "log_seconds", number_spec(0, true), spec.run.log_seconds);
      read_field(c, run, "run", "flush_seconds", number_spec(0, true), spec.run.flush_seconds);
      read_field(c, run, "run", "batch", integer_spec(0, 1'000'000), spec.run.batch);
      read_field(c, run, "run", "cache_dir", typed_spec(ValueType::kString), spec.run.cache_dir);
      read_field(c, run, "run", "timeout", number_spec(0), spec.run.timeout);
      read_field(c, run, "run", "kill_grace", number_spec(0), spec.run.kill_grace);
      read_field(c, run, "run", "gpus_per_point", integer_spec(0, 1024), spec.run.gpus_per_point);
      read_field(c, run, "run", "cpus_per_point", integer_spec(1, 4096), spec.run.cpus_per_point);
      SettingSpec keep = typed_spec(ValueType::kString);
      keep.choices = {"always", "failed", "never"};
      read_field(c, run, "run", "keep_workdirs", keep, spec.run.keep_workdirs);
      read_field(c, run, "run", "workdir_root", typed_spec(ValueType::kString), spec.run.workdir_root);
      SettingSpec isolation = typed_spec(ValueType::kString);
      isolation.choices = {"none", "process"};
      read_field(c, run, "run", "isolation", isolation, spec.run.isolation);
      read_field(c, run, "run", "pack", integer_spec(1, kMaxPack), spec.run.pack);
    }
  }
}

// run.pack > 1 needs points a kind runs in its own process, one grid at a time: not children,
// not a search (whose points are chosen one round at a time).
void check_pack(Checker& c, const YAML::Node& root, const SweepSpec& spec) {
  if (spec.run.pack <= 1) return;
  const YAML::Node node = root["run"]["pack"];
  if (spec.kind != nullptr && spec.kind->declared_by_config) {
    c.error(node, "run.pack", "a `command` sweep runs one child per point; packing does not apply",
            "remove run.pack");
  } else if (spec.run.isolation == "process") {
    c.error(node, "run.pack", "run.isolation: process runs each point in its own child process",
            "use run.pack or run.isolation: process, not both");
  } else if (root["search"]) {
    c.error(node, "run.pack", "a search chooses its points a round at a time; packing does not apply",
            "remove run.pack");
  }
}

// grid: the axes into spec.axes; returns the name of every axis written, refused ones too.
std::set<std::string> read_grid(Checker& c, const YAML::Node& root, YAML::Node& grid,
                                const TaskKindInfo& kind,
                                const std::vector<std::string>& setting_names, SweepSpec& spec) {
  std::set<std::string> axis_names;
  if (!grid || (grid.IsMap() && grid.size() == 0) || grid.IsNull()) {
    if (root["sample"] || root["search"]) return axis_names;  // they alone define the points
    c.error(grid ? grid : root, "grid", "the grid is empty",
            "add at least one axis, e.g. grid: {seed: {replicates: 3}}, or a sample:");
  } else if (!grid.IsMap()) {
    c.error(grid, "grid", "expected a mapping of axis name to values, got " + node_kind(grid));
  } else {
    int replicate_axes = 0;
    for (auto it = grid.begin(); it != grid.end(); ++it) {
      if (!it->first.IsScalar()) {
        c.error(it->first, "grid", "axis names must be plain names, got " + node_kind(it->first));
        continue;
      }
      std::string name = it->first.Scalar();
      if (!axis_names.insert(name).second) {
        c.error(it->first, "grid." + name, "axis '" + name + "' appears twice",
                "keep one of them");
        continue;
      }
      int si = kind.setting_index(name);
      YAML::Node body = it->second;
      bool replicate_form = body.IsMap() && body["replicates"];
      if (si < 0 && !replicate_form) {
        c.error(it->first, "grid." + name,
                "'" + name + "' is not a setting of task kind '" + kind.name + "'",
                unknown_key_hint(name, setting_names));
        continue;
      }
      auto axis = parse_axis(c, name, body, si >= 0 ? &kind.settings[si] : nullptr);
      if (!axis) continue;
      if (axis->is_replicate && ++replicate_axes > 1) {
        c.error(it->first, "grid." + name, "a second replicates axis",
                "one replicates axis gives every point its replicate number");
        continue;
      }
      spec.axes.push_back(std::move(*axis));
    }
  }
  return axis_names;
}

bool sampled_param(const SampleSpec& sample, const std::string& name) {
  return std::any_of(sample.params.begin(), sample.params.end(),
                     [&](const SampleParam& p) { return p.name == name; });
}

// `[low, high]` of a range or int form: two numbers, low < high, both accepted by the setting.
bool read_bounds(Checker& c, const YAML::Node& n, const std::string& key, const SettingSpec& s,
                 SampleParam& p) {
  if (!n.IsSequence() || n.size() != 2) {
    c.error(n, key, "expected [low, high], got " + node_kind(n));
    return false;
  }
  std::optional<Value> lo = check_value(c, n[0], key + "[0]", s);
  std::optional<Value> hi = check_value(c, n[1], key + "[1]", s);
  if (!lo || !hi) return false;
  p.low = lo->as_double();
  p.high = hi->as_double();
  if (!(p.low < p.high)) {
    c.error(n, key, "expected low < high, got [" + lo->display() + ", " + hi->display() + "]",
            "a setting with one value belongs in task:");
    return false;
  }
  return true;
}

// One entry of sample.params: {range: [lo, hi]}, {int: [lo, hi]} or {choice: [...]}, with an
// optional scale: log | linear.
std::optional<SampleParam> sample_param(Checker& c, const std::string& name, const YAML::Node& body,
                                        const SettingSpec& s) {
  const std::string key = "sample.params." + name;
  if (!body.IsMap()) {
    c.error(body, key, "expected {range: [low, high]}, {int: [low, high]} or {choice: [...]}, got " +
                           node_kind(body));
    return std::nullopt;
  }
  check_keys(c, body, key, kSampleParamKeys);
  SampleParam p;
  p.name = name;
  const int forms = (body["range"] ? 1 : 0) + (body["int"] ? 1 : 0) + (body["choice"] ? 1 : 0);
  if (forms != 1) {
    c.error(body, key, "expected exactly one of range:, int: or choice:",
            "e.g. {range: [0.0001, 0.01], scale: log}");
    return std::nullopt;
  }
  if (YAML::Node ch = body["choice"]) {
    p.form = SampleParam::Form::kChoice;
    if (!ch.IsSequence() || ch.size() < 2) {
      c.error(ch, key + ".choice", "expected a list of at least two values, got " + node_kind(ch));
      return std::nullopt;
    }
    for (std::size_t i = 0; i < ch.size(); ++i) {
      auto v = check_value(c, ch[i], key + ".choice[" + std::to_string(i) + "]", s);
      if (!v) return std::nullopt;
      if (std::find(p.choices.begin(), p.choices.end(), *v) != p.choices.end()) {
        c.error(ch[i], key + ".choice", "value " + v->display() + " appears twice", "keep one");
        return std::nullopt;
      }
      p.choices.push_back(*v);
    }
    if (body["scale"]) {
      c.error(body["scale"], key + ".scale", "a choice has no scale", "remove scale:");
      return std::nullopt;
    }
    return p;
  }
  const bool integer = static_cast<bool>(body["int"]);
  p.form = integer ? SampleParam::Form::kInteger : SampleParam::Form::kRange;
  const ValueType want = integer ? ValueType::kInteger : ValueType::kNumber;
  if (s.type != want) {
    c.error(body, key,
            std::string("setting '") + name + "' takes " + type_phrase(s.type) + "; " +
                (integer ? "int:" : "range:") + " samples " + type_phrase(want),
            s.type == ValueType::kInteger   ? "use int: [low, high]"
            : s.type == ValueType::kNumber  ? "use range: [low, high]"
                                            : "use choice: [...]");
    return std::nullopt;
  }
  if (!read_bounds(c, body[integer ? "int" : "range"], key + (integer ? ".int" : ".range"), s, p)) {
    return std::nullopt;
  }
  if (YAML::Node sc = body["scale"]) {
    if (!sc.IsScalar() || (sc.Scalar() != "log" && sc.Scalar() != "linear")) {
      c.error(sc, key + ".scale", "expected log or linear, got " + node_kind(sc));
      return std::nullopt;
    }
    p.log = sc.Scalar() == "log";
    if (p.log && p.low <= 0) {
      c.error(sc, key + ".scale", "a log scale needs low > 0, got " + format_double(p.low),
              "use scale: linear, or a positive low end");
      return std::nullopt;
    }
  }
  return p;
}

std::optional<SampleMethod> sample_method(Checker& c, const YAML::Node& n) {
  const std::vector<std::string> names = {"random", "sobol", "lhs"};
  if (!n || !n.IsScalar()) {
    c.error(n, "sample.kind", "expected random, sobol or lhs", "e.g. kind: sobol");
    return std::nullopt;
  }
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (n.Scalar() == names[i]) return static_cast<SampleMethod>(i);
  }
  c.error(n, "sample.kind", "expected random, sobol or lhs, got '" + n.Scalar() + "'",
          unknown_key_hint(n.Scalar(), names));
  return std::nullopt;
}

// sample: n points of a design over some settings, the same points in every grid cell.
void read_sample(Checker& c, const YAML::Node& root, const TaskKindInfo& kind,
                 const std::vector<std::string>& setting_names,
                 const std::set<std::string>& axis_names, SweepSpec& spec) {
  YAML::Node sample = root["sample"];
  if (!sample) return;
  if (!sample.IsMap()) {
    c.error(sample, "sample", "expected a mapping with kind:, n: and params:, got " + node_kind(sample));
    return;
  }
  check_keys(c, sample, "sample", kSampleKeys);
  SampleSpec out;
  auto method = sample_method(c, sample["kind"]);
  SettingSpec count = integer_spec(1, static_cast<double>(kMaxSamplePoints));
  if (!sample["n"]) c.error(sample, "sample.n", "expected n: the number of points", "e.g. n: 256");
  read_field(c, sample, "sample", "n", count, out.n);
  YAML::Node params = sample["params"];
  if (!params || !params.IsMap() || params.size() == 0) {
    c.error(params ? params : sample, "sample.params",
            "expected a mapping of setting name to {range: ...}, {int: ...} or {choice: ...}");
    return;
  }
  for (auto it = params.begin(); it != params.end(); ++it) {
    const std::string name = it->first.IsScalar() ? it->first.Scalar() : std::string();
    const int si = kind.setting_index(name);
    if (si < 0) {
      c.error(it->first, "sample.params." + name,
              "'" + name + "' is not a setting of task kind '" + kind.name + "'",
              unknown_key_hint(name, setting_names));
      continue;
    }
    if (axis_names.count(name)) {
      c.error(it->first, "sample.params." + name, "'" + name + "' is also a grid axis",
              "sample it or list it on the grid, not both");
      continue;
    }
    if (sampled_param(out, name)) {
      c.error(it->first, "sample.params." + name, "'" + name + "' appears twice", "keep one");
      continue;
    }
    if (auto p = sample_param(c, name, it->second, kind.settings[si])) out.params.push_back(*p);
  }
  if (method && *method == SampleMethod::kSobol && out.params.size() > max_sobol_dimensions()) {
    c.error(params, "sample.params",
            "sobol takes at most " + std::to_string(max_sobol_dimensions()) + " parameters, got " +
                std::to_string(out.params.size()),
            "use kind: random");
  }
  if (!method || !c.ok()) return;
  out.method = *method;
  spec.sample = std::move(out);
}

// The sampled settings as axes, one value per sample point; the grid runs them as one dimension.
void add_sample_axes(SweepSpec& spec) {
  if (!spec.sample) return;
  const SampleSpec& s = *spec.sample;
  const std::size_t dims = s.params.size();
  const std::vector<double> u = unit_sample(s.method, s.n, dims, spec.seed);
  for (std::size_t j = 0; j < dims; ++j) {
    Axis a;
    a.name = s.params[j].name;
    a.form = "sample";
    a.is_sampled = true;
    a.values.reserve(s.n);
    for (std::uint64_t i = 0; i < s.n; ++i) a.values.push_back(s.params[j].at(u[i * dims + j]));
    spec.axes.push_back(std::move(a));
  }
}

// A number under `search:` (`key`), checked by `spec`; false when missing or refused (reported).
bool search_number(Checker& c, const YAML::Node& search, const std::string& key,
                   const SettingSpec& spec, double& out) {
  YAML::Node n = search[key];
  if (!n) {
    c.error(search, "search." + key, "missing search." + key, "see docs/search.md");
    return false;
  }
  auto v = check_value(c, n, "search." + key, spec);
  if (!v) return false;
  out = v->as_double();
  return true;
}

// search.metric: "name" or "name - other", each a metric of the kind.
bool search_metric(Checker& c, const YAML::Node& node, const TaskKindInfo& kind, SearchSpec& s) {
  if (!node || !node.IsScalar()) {
    c.error(node, "search.metric", "expected a metric name, or 'a - b'", "e.g. metric: ood_bad - base_ood_bad");
    return false;
  }
  std::vector<std::string> names;
  for (const auto& m : kind.metrics) names.push_back(m.name);
  std::string text = node.Scalar();
  std::string a = text, b;
  if (auto minus = text.find(" - "); minus != std::string::npos) {
    a = text.substr(0, minus);
    b = text.substr(minus + 3);
  }
  auto trim = [](std::string x) {
    while (!x.empty() && x.back() == ' ') x.pop_back();
    while (!x.empty() && x.front() == ' ') x.erase(x.begin());
    return x;
  };
  a = trim(a);
  b = trim(b);
  for (const std::string& m : {a, b}) {
    if (m.empty() && !b.empty()) {
      c.error(node, "search.metric", "expected 'a - b' with two metric names, got '" + text + "'");
      return false;
    }
    if (m.empty()) continue;  // no " - ": one metric
    if (std::find(names.begin(), names.end(), m) == names.end()) {
      c.error(node, "search.metric", "'" + m + "' is not a metric of task kind '" + kind.name + "'",
              unknown_key_hint(m, names));
      return false;
    }
  }
  s.metric = a;
  s.minus = b;
  return true;
}

// search: the boundary of a metric along one setting, searched in every cell of the grid.
void read_search(Checker& c, const YAML::Node& root, const TaskKindInfo& kind,
                 const std::set<std::string>& axis_names, SweepSpec& spec) {
  YAML::Node search = root["search"];
  if (!search) return;
  if (!search.IsMap()) {
    c.error(search, "search", "expected a mapping with kind: boundary, axis:, bounds:, metric:, threshold:");
    return;
  }
  check_keys(c, search, "search", kSearchKeys);
  const std::size_t errors_before = c.errors().size();
  SearchSpec s;
  if (YAML::Node k = search["kind"]; !k || !k.IsScalar() || k.Scalar() != "boundary") {
    c.error(k ? k : search, "search.kind", "expected kind: boundary", "the one search emsweep has");
  }
  if (root["sample"]) c.error(search, "search", "a sweep has either sample: or search:, not both");
  YAML::Node axis = search["axis"];
  const int si = axis && axis.IsScalar() ? kind.setting_index(axis.Scalar()) : -1;
  if (si < 0 || kind.settings[static_cast<std::size_t>(si)].type != ValueType::kNumber) {
    c.error(axis ? axis : search, "search.axis", "expected a number setting of task kind '" + kind.name + "'",
            "e.g. axis: kl_weight");
  } else if (axis_names.count(axis.Scalar())) {
    c.error(axis, "search.axis", "'" + axis.Scalar() + "' is also a grid axis",
            "the grid's axes are the cells; the searched setting is not one of them");
  } else {
    s.axis = axis.Scalar();
  }
  if (YAML::Node sc = search["scale"]) {
    if (!sc.IsScalar() || (sc.Scalar() != "log" && sc.Scalar() != "linear")) {
      c.error(sc, "search.scale", "expected log or linear, got " + node_kind(sc));
    } else {
      s.log = sc.Scalar() == "log";
    }
  }
  YAML::Node bounds = search["bounds"];
  if (!bounds || !bounds.IsSequence() || bounds.size() != 2) {
    c.error(bounds ? bounds : search, "search.bounds", "expected [low, high]", "e.g. bounds: [0.01, 100]");
  } else if (si >= 0) {
    auto lo = check_value(c, bounds[0], "search.bounds[0]", kind.settings[static_cast<std::size_t>(si)]);
    auto hi = check_value(c, bounds[1], "search.bounds[1]", kind.settings[static_cast<std::size_t>(si)]);
    if (lo && hi) {
      s.low = lo->as_double();
      s.high = hi->as_double();
      if (!(s.low < s.high)) c.error(bounds, "search.bounds", "expected low < high");
      if (s.log && s.low <= 0) {
        c.error(bounds, "search.bounds", "a log scale needs low > 0, got " + format_double(s.low),
                "use scale: linear, or a positive low bound");
      }
    }
  }
  search_metric(c, search["metric"], kind, s);
  SettingSpec any_number;
  any_number.type = ValueType::kNumber;
  search_number(c, search, "threshold", any_number, s.threshold);
  if (search["tolerance"]) {
    SettingSpec tol = any_number;
    tol.min = s.log ? 1.0 : 0.0;
    tol.min_exclusive = true;
    search_number(c, search, "tolerance", tol, s.tolerance);
  }
  if (search["monotone_tolerance"]) {
    SettingSpec mt = any_number;
    mt.min = 0;
    search_number(c, search, "monotone_tolerance", mt, s.monotone_tolerance);
  }
  SettingSpec par;
  par.type = ValueType::kInteger;
  par.min = 1;
  par.max = 64;
  read_field(c, search, "search", "parallel", par, s.parallel);
  if (c.errors().size() != errors_before) return;
  auto levels = search_levels(s.log, s.low, s.high, s.tolerance);
  if (!levels) {
    c.error(search["tolerance"] ? search["tolerance"] : search, "search.tolerance",
            "too fine for the bounds: the search lattice would need more than 2^" +
                std::to_string(kMaxSearchLevels) + " values",
            "raise the tolerance or narrow the bounds");
    return;
  }
  s.levels = *levels;
  spec.search = std::move(s);
}

// The searched setting as the last axis: its lattice, so that the grid is cells x lattice.
void add_search_axis(SweepSpec& spec) {
  if (!spec.search) return;
  Axis a;
  a.name = spec.search->axis;
  a.form = "search";
  a.is_searched = true;
  a.values = spec.search->lattice();
  spec.axes.push_back(std::move(a));
}

// task: the fixed settings, every other setting at its default; none may also be an axis.
void read_task_settings(Checker& c, YAML::Node& task, const TaskKindInfo& kind,
                        const std::vector<std::string>& setting_names,
                        const std::set<std::string>& axis_names, SweepSpec& spec) {
  spec.task.schema = &kind.settings;
  for (const auto& s : kind.settings) spec.task.values.push_back(s.default_value);
  if (task && task.IsMap()) {
    std::vector<std::string> known = setting_names;
    if (kind.declared_by_config) {
      known.insert(known.end(), kCommandKeys.begin(), kCommandKeys.end());
    } else {
      known.push_back("kind");
    }
    check_keys(c, task, "task", known);
    for (auto it = task.begin(); it != task.end(); ++it) {
      if (!it->first.IsScalar()) continue;
      std::string name = it->first.Scalar();
      int si = kind.setting_index(name);
      if (si < 0) continue;  // "kind" or reported by check_keys
      if (axis_names.count(name)) {
        c.error(it->first, "task." + name, "'" + name + "' is also a grid axis",
                "set it in one place: as a fixed task setting or as an axis");
        continue;
      }
      if (spec.search && spec.search->axis == name) {
        c.error(it->first, "task." + name, "'" + name + "' is also searched (search.axis)",
                "set it in one place: as a fixed task setting or as the searched setting");
        continue;
      }
      if (spec.sample && sampled_param(*spec.sample, name)) {
        c.error(it->first, "task." + name, "'" + name + "' is also sampled (sample.params)",
                "set it in one place: as a fixed task setting or as a sampled parameter");
        continue;
      }
      if (auto v = check_value(c, it->second, "task." + name, kind.settings[si])) {
        spec.task.values[si] = *v;
      }
    }
  }
}

// One zip group: axes of equal length, each in no other group, none the replicates axis.
std::optional<std::vector<std::string>> zip_group(Checker& c, YAML::Node& group,
                                                  const std::string& key,
                                                  const std::set<std::string>& axis_names,
                                                  std::set<std::string>& zipped,
                                                  const SweepSpec& spec) {
  std::vector<std::string> names;
  std::size_t length = 0;
  bool ok = true;
  for (std::size_t i = 0; i < group.size(); ++i) {
    YAML::Node item = group[i];
    if (!item.IsScalar()) {
      c.error(item, key, "expected an axis name, got " + node_kind(item));
      ok = false;
      continue;
    }
    std::string name = item.Scalar();
    int ai = spec.axis_index(name);
    if (ai < 0) {
      std::vector<std::string> axes_now(axis_names.begin(), axis_names.end());
      if (!axis_names.count(name)) {
        c.error(item, key, "'" + name + "' is not a grid axis", unknown_key_hint(name, axes_now));
      }
      ok = false;
      continue;
    }
    if (spec.axes[ai].is_replicate) {
      c.error(item, key, "the replicates axis cannot be zipped");
      ok = false;
      continue;
    }
    if (!zipped.insert(name).second) {
      c.error(item, key, "axis '" + name + "' is already in a zip group",
              "an axis can be in one zip group only");
      ok = false;
      continue;
    }
    std::size_t len = spec.axes[ai].values.size();
    if (!names.empty() && len != length) {
      c.error(item, key,
              "zipped axes must have the same length: '" + names[0] + "' has " +
                  std::to_string(length) + " values, '" + name + "' has " + std::to_string(len),
              "give every axis of the group the same number of values");
      ok = false;
    }
    length = len;
    names.push_back(name);
  }
  if (!ok) return std::nullopt;
  return names;
}

// zip: the groups of axes that vary together, into spec.zips.
void read_zips(Checker& c, YAML::Node& root, const std::set<std::string>& axis_names,
               SweepSpec& spec) {
  if (YAML::Node zip = root["zip"]) {
    std::set<std::string> zipped;
    if (!zip.IsSequence()) {
      c.error(zip, "zip", "expected a list of axis groups, e.g. [[lora_rank, lr]]");
    } else {
      for (std::size_t g = 0; g < zip.size(); ++g) {
        YAML::Node group = zip[g];
        std::string key = "zip[" + std::to_string(g) + "]";
        if (!group.IsSequence() || group.size() < 2) {
          c.error(group, key, "expected a list of two or more axis names, got " + node_kind(group));
          continue;
        }
        if (auto names = zip_group(c, group, key, axis_names, zipped, spec)) {
          spec.zips.push_back(std::move(*names));
        }
      }
    }
  }
}

// One exclusion: for each axis it names, one of that axis' values.
std::optional<Exclusion> exclusion(Checker& c, YAML::Node& item, const std::string& key,
                                   const std::set<std::string>& axis_names,
                                   const TaskKindInfo& kind, const SweepSpec& spec) {
  Exclusion x;
  bool ok = true;
  for (auto it = item.begin(); it != item.end(); ++it) {
    std::string name = it->first.IsScalar() ? it->first.Scalar() : "?";
    int ai = spec.axis_index(name);
    if (ai < 0) {
      if (!axis_names.count(name)) {
        std::vector<std::string> axes_now(axis_names.begin(), axis_names.end());
        c.error(it->first, key + "." + name, "'" + name + "' is not a grid axis",
                unknown_key_hint(name, axes_now));
      }
      ok = false;
      continue;
    }
    const Axis& axis = spec.axes[ai];
    SettingSpec vs = axis.is_replicate ? integer_spec(0) : kind.settings[kind.setting_index(name)];
    vs.min.reset();
    vs.max.reset();
    auto v = check_value(c, it->second, key + "." + name, vs);
    if (!v) {
      ok = false;
      continue;
    }
    if (std::find(axis.values.begin(), axis.values.end(), *v) == axis.values.end()) {
      std::vector<std::string> shown;
      for (std::size_t j = 0; j < axis.values.size() && j < 12; ++j) {
        shown.push_back(axis.values[j].display());
      }
      c.error(it->second, key + "." + name,
              v->display() + " is not a value of axis '" + name + "'",
              "its values are " + join(shown, ", ") + (axis.values.size() > 12 ? ", ..." : ""));
      ok = false;
      continue;
    }
    x.match.emplace_back(name, *v);
  }
  if (!ok) return std::nullopt;
  return x;
}

// exclude: the partial points to leave out, into spec.exclusions.
void read_exclusions(Checker& c, YAML::Node& root, const std::set<std::string>& axis_names,
                     const TaskKindInfo& kind, SweepSpec& spec) {
  if (YAML::Node ex = root["exclude"]) {
    if (!ex.IsSequence()) {
      c.error(ex, "exclude", "expected a list of partial points, e.g. - {kl_weight: 0}");
    } else {
      for (std::size_t i = 0; i < ex.size(); ++i) {
        YAML::Node item = ex[i];
        std::string key = "exclude[" + std::to_string(i) + "]";
        if (!item.IsMap() || item.size() == 0) {
          c.error(item, key, "expected a mapping of axis to value, got " + node_kind(item));
          continue;
        }
        if (auto x = exclusion(c, item, key, axis_names, kind, spec)) {
          spec.exclusions.push_back(std::move(*x));
        }
      }
    }
  }
}

// The checks that need the whole spec: the grid keeps at least one point, argv's placeholders
// name declared parameters, and the kind's own cross-setting check holds.
void check_sweep(Checker& c, YAML::Node& root, const YAML::Node& grid, const YAML::Node& task,
                 const SweepSpec& spec) {
  if (c.ok()) {
    try {
      Grid g(spec);
      if (g.size() == 0) {
        c.error(root["exclude"], "exclude", "the exclusions remove every point of the grid",
                "remove or narrow an exclusion");
      }
    } catch (const Error& e) {
      c.error(grid, "grid", e.what(), e.hint());
    }
  }
  if (spec.kind->declared_by_config) check_placeholders(c, task, spec);
  if (c.ok() && spec.kind->check) {
    for (const auto& msg : spec.kind->check(spec.task)) c.error(task, "task", msg);
  }
}

}  // namespace

ParseResult parse_spec(std::string_view text, const std::string& source,
                       const std::vector<std::string>& overrides, const TaskRegistry& registry) {
  ParseResult result;
  Checker pre(source, {});
  std::vector<std::pair<Override, YAML::Node>> override_values = read_overrides(pre, overrides);
  if (!pre.ok()) {
    result.errors = std::move(pre.errors());
    return result;
  }
  std::vector<Override> parsed_overrides;
  for (const auto& ov : override_values) parsed_overrides.push_back(ov.first);
  Checker c(source, parsed_overrides);

  YAML::Node root;
  if (!load_root(c, text, root)) {
    result.errors = std::move(c.errors());
    return result;
  }
  std::vector<std::string> override_notes = apply_overrides(c, root, override_values);

  check_keys(c, root, "", kTopKeys);
  SweepSpec spec;
  spec.source = source;
  spec.overrides = overrides;
  spec.notes = std::move(override_notes);
  read_sweep(c, root, spec);
  YAML::Node task = root["task"];
  read_kind(c, root, task, registry, spec);
  read_run(c, root, spec);
  check_pack(c, root, spec);
  if (spec.kind == nullptr) {
    // Without a kind the grid and task settings cannot be checked; report what we have.
    result.errors = std::move(c.errors());
    return result;
  }
  const TaskKindInfo& kind = *spec.kind;
  std::vector<std::string> setting_names;
  for (const auto& s : kind.settings) setting_names.push_back(s.name);

  YAML::Node grid = root["grid"];
  const std::set<std::string> axis_names = read_grid(c, root, grid, kind, setting_names, spec);
  read_sample(c, root, kind, setting_names, axis_names, spec);
  read_search(c, root, kind, axis_names, spec);
  read_task_settings(c, task, kind, setting_names, axis_names, spec);
  read_zips(c, root, axis_names, spec);
  read_exclusions(c, root, axis_names, kind, spec);
  if (c.ok()) add_sample_axes(spec);
  if (c.ok()) add_search_axis(spec);
  check_sweep(c, root, grid, task, spec);
  if (!c.ok()) {
    result.errors = std::move(c.errors());
    return result;
  }
  result.spec = std::move(spec);
  return result;
}

SweepSpec load_spec(const std::string& path, const std::vector<std::string>& overrides,
                    const TaskRegistry& registry) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw ConfigError("cannot read config '" + path + "'",
                      "check the path; configs/quickstart.yaml is a working example");
  }
  std::string text;
  char buf[65536];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    text.append(buf, static_cast<std::size_t>(in.gcount()));
    if (text.size() > kMaxInputBytes) break;
  }
  if (in.bad()) throw ConfigError("cannot read config '" + path + "' (is it a directory?)");
  ParseResult r = parse_spec(text, path, overrides, registry);
  if (!r.spec) {
    std::string msg = std::to_string(r.errors.size()) + " problem" +
                      (r.errors.size() == 1 ? "" : "s") + " in the sweep config:";
    for (const auto& d : r.errors) msg += "\n  " + d.format();
    throw ConfigError(msg);
  }
  return std::move(*r.spec);
}

}  // namespace emsweep
