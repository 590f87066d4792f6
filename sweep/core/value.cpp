#include "sweep/core/value.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace emsweep {

const char* type_phrase(ValueType t) {
  switch (t) {
    case ValueType::kNumber: return "a number";
    case ValueType::kInteger: return "an integer";
    case ValueType::kBool: return "true or false";
    case ValueType::kString: return "a string";
  }
  return "a value";
}

double canonical_double(double v) {
  if (!std::isfinite(v)) return v;
  if (v == 0.0) return 0.0;  // folds -0 into +0
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.12g", v);
  return std::strtod(buf, nullptr);
}

std::string format_double(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[40];
  int precision = 1;
  for (; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  // Prefer plain notation for moderate magnitudes: "100" rather than "1e+02".
  const double mag = std::fabs(v);
  if (std::strchr(buf, 'e') != nullptr && mag >= 1e-4 && mag < 1e15) {
    char plain[40];
    for (int p = precision; p <= 17; ++p) {
      std::snprintf(plain, sizeof plain, "%.*g", p, v);
      if (std::strchr(plain, 'e') == nullptr && std::strtod(plain, nullptr) == v) return plain;
    }
  }
  return buf;
}

Value Value::number(double v) {
  Value out;
  out.v_ = canonical_double(v);
  return out;
}
Value Value::integer(std::int64_t v) {
  Value out;
  out.v_ = v;
  return out;
}
Value Value::boolean(bool v) {
  Value out;
  out.v_ = v;
  return out;
}
Value Value::text(std::string v) {
  Value out;
  out.v_ = std::move(v);
  return out;
}

ValueType Value::type() const { return static_cast<ValueType>(v_.index()); }

double Value::as_double() const {
  switch (type()) {
    case ValueType::kNumber: return std::get<double>(v_);
    case ValueType::kInteger: return static_cast<double>(std::get<std::int64_t>(v_));
    case ValueType::kBool: return std::get<bool>(v_) ? 1.0 : 0.0;
    case ValueType::kString: break;
  }
  throw std::logic_error("Value::as_double on text '" + std::get<std::string>(v_) + "'");
}

std::int64_t Value::as_int() const {
  if (type() == ValueType::kInteger) return std::get<std::int64_t>(v_);
  if (type() == ValueType::kBool) return std::get<bool>(v_) ? 1 : 0;
  if (type() == ValueType::kNumber) return static_cast<std::int64_t>(std::get<double>(v_));
  throw std::logic_error("Value::as_int on text '" + std::get<std::string>(v_) + "'");
}

bool Value::as_bool() const {
  if (type() == ValueType::kBool) return std::get<bool>(v_);
  return as_double() != 0.0;
}

const std::string& Value::as_string() const {
  if (type() != ValueType::kString) throw std::logic_error("Value::as_string on a non-string");
  return std::get<std::string>(v_);
}

std::string Value::canonical() const {
  switch (type()) {
    case ValueType::kNumber: return format_double(std::get<double>(v_));
    case ValueType::kInteger: return std::to_string(std::get<std::int64_t>(v_));
    case ValueType::kBool: return std::get<bool>(v_) ? "true" : "false";
    case ValueType::kString: {
      std::string out = "\"";
      for (char c : std::get<std::string>(v_)) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
      }
      return out + "\"";
    }
  }
  return {};
}

std::string Value::display() const {
  if (type() == ValueType::kString) return std::get<std::string>(v_);
  return canonical();
}

}  // namespace emsweep
