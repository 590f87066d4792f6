// libFuzzer target: the JSON reader of `command` children's files (worker/command/json_read.h),
// which reads whatever a user's program wrote. Each input goes to parse, parse_result and
// parse_events. Beyond "no crash": a document that parses is written back out and must parse
// to the same value (numbers bit for bit, NaN as NaN); a failure always says where; a result is
// either metrics or an error, never both; every curve has as many x as y.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "worker/command/json_read.h"

namespace {

using emsweep::json::Type;
using emsweep::json::Value;

[[noreturn]] void property_failed(const char* what) {
  std::fprintf(stderr, "fuzz_json: property failed: %s\n", what);
  std::abort();
}

void write(const Value& v, std::string& out) {
  switch (v.type()) {
    case Type::kNull: out += "null"; return;
    case Type::kBool: out += v.as_bool() ? "true" : "false"; return;
    case Type::kNumber: {
      const double d = v.as_number();
      if (std::isnan(d)) out += "NaN";
      else if (std::isinf(d)) out += d > 0 ? "Infinity" : "-Infinity";
      else {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.17g", d);
        out += buf;
      }
      return;
    }
    case Type::kString:
      out += '"';
      for (const char c : v.as_string()) {
        if (c == '"' || c == '\\') {
          out += '\\';
          out += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned char>(c));
          out += buf;
        } else {
          out += c;
        }
      }
      out += '"';
      return;
    case Type::kArray: {
      out += '[';
      const char* sep = "";
      for (const Value& item : v.as_array()) {
        out += sep;
        write(item, out);
        sep = ",";
      }
      out += ']';
      return;
    }
    case Type::kObject: {
      out += '{';
      const char* sep = "";
      for (const auto& [key, item] : v.as_object()) {
        out += sep;
        write(Value(key), out);
        out += ':';
        write(item, out);
        sep = ",";
      }
      out += '}';
      return;
    }
  }
}

bool same(const Value& a, const Value& b) {
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case Type::kNull: return true;
    case Type::kBool: return a.as_bool() == b.as_bool();
    case Type::kNumber: {
      const double x = a.as_number(), y = b.as_number();
      return (std::isnan(x) && std::isnan(y)) || std::memcmp(&x, &y, sizeof x) == 0;
    }
    case Type::kString: return a.as_string() == b.as_string();
    case Type::kArray: {
      const auto &p = a.as_array(), &q = b.as_array();
      if (p.size() != q.size()) return false;
      for (std::size_t i = 0; i < p.size(); ++i) {
        if (!same(p[i], q[i])) return false;
      }
      return true;
    }
    case Type::kObject: {
      const auto &p = a.as_object(), &q = b.as_object();
      if (p.size() != q.size()) return false;
      for (std::size_t i = 0; i < p.size(); ++i) {
        if (p[i].first != q[i].first || !same(p[i].second, q[i].second)) return false;
      }
      return true;
    }
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string error;
  if (auto v = emsweep::json::parse(text, &error)) {
    std::string again;
    write(*v, again);
    std::string error2;
    auto w = emsweep::json::parse(again, &error2);
    if (!w) property_failed(("written back, it does not parse: " + error2).c_str());
    if (!same(*v, *w)) property_failed("written back, it parses to a different value");
  } else if (error.rfind("line ", 0) != 0) {
    property_failed("a parse error that does not say where");
  }

  const auto result = emsweep::json::parse_result(text);
  if (!result.ok() && !result.metrics.empty()) property_failed("metrics and an error");
  if (!result.ok() && result.error.rfind("bad result: ", 0) != 0) property_failed("error text");

  const auto events = emsweep::json::parse_events(text);
  for (const auto& c : events.curves) {
    if (c.x.size() != c.y.size() || c.x.empty()) property_failed("a curve with unequal x and y");
  }
  if (events.warnings.empty() != (events.bad_lines == 0 && events.skipped_values == 0)) {
    property_failed("warnings do not match the counts");
  }
  return 0;
}
