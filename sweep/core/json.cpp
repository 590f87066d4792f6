#include "sweep/core/json.h"

#include <cmath>
#include <cstdio>

#include "sweep/core/value.h"

namespace emsweep {

std::string JsonWriter::quote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

void JsonWriter::prefix(const std::string& key) {
  if (!first_.empty()) {
    if (!first_.back()) out_ += ",";
    first_.back() = false;
  }
  if (!key.empty()) out_ += quote(key) + ":";
}

JsonWriter& JsonWriter::begin_object(const std::string& key) {
  prefix(key);
  out_ += "{";
  first_.push_back(true);
  return *this;
}
JsonWriter& JsonWriter::end_object() {
  out_ += "}";
  first_.pop_back();
  return *this;
}
JsonWriter& JsonWriter::begin_array(const std::string& key) {
  prefix(key);
  out_ += "[";
  first_.push_back(true);
  return *this;
}
JsonWriter& JsonWriter::end_array() {
  out_ += "]";
  first_.pop_back();
  return *this;
}
JsonWriter& JsonWriter::value(const std::string& key, const std::string& v) {
  prefix(key);
  out_ += quote(v);
  return *this;
}
JsonWriter& JsonWriter::value(const std::string& key, const char* v) {
  return value(key, std::string(v));
}
JsonWriter& JsonWriter::value(const std::string& key, double v) {
  prefix(key);
  out_ += std::isfinite(v) ? format_double(v) : "null";
  return *this;
}
JsonWriter& JsonWriter::value(const std::string& key, std::int64_t v) {
  prefix(key);
  out_ += std::to_string(v);
  return *this;
}
JsonWriter& JsonWriter::value(const std::string& key, std::uint64_t v) {
  prefix(key);
  out_ += std::to_string(v);
  return *this;
}
JsonWriter& JsonWriter::value(const std::string& key, bool v) {
  prefix(key);
  out_ += v ? "true" : "false";
  return *this;
}
JsonWriter& JsonWriter::null(const std::string& key) {
  prefix(key);
  out_ += "null";
  return *this;
}
JsonWriter& JsonWriter::raw(const std::string& key, const std::string& json) {
  prefix(key);
  out_ += json;
  return *this;
}

}  // namespace emsweep
