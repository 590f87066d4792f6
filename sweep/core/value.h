// Setting values (number, integer, flag, text) and their canonical text form.
// Canonical forms feed every hash: a point's id and the sweep's config hash.
#pragma once

#include <cstdint>
#include <string>
#include <variant>

namespace emsweep {

enum class ValueType { kNumber, kInteger, kBool, kString };

// Name of a value type as a config author reads it ("a number", "an integer", ...).
[[nodiscard]] const char* type_phrase(ValueType t);

// One setting value. Numbers are stored already canonicalised (see canonical_double).
class Value {
 public:
  Value() = default;
  static Value number(double v);
  static Value integer(std::int64_t v);
  static Value boolean(bool v);
  static Value text(std::string v);

  [[nodiscard]] ValueType type() const;
  // The value as a double (numbers and integers; bools give 0/1). Throws for text.
  [[nodiscard]] double as_double() const;
  [[nodiscard]] std::int64_t as_int() const;
  [[nodiscard]] bool as_bool() const;
  [[nodiscard]] const std::string& as_string() const;
  // Canonical text: 12 significant digits for numbers, decimal integers, true/false, "text".
  [[nodiscard]] std::string canonical() const;
  // Human text: as canonical() but strings unquoted.
  [[nodiscard]] std::string display() const;
  // Bitwise/canonical equality (numbers compare after canonicalisation).
  friend bool operator==(const Value& a, const Value& b) = default;

 private:
  std::variant<double, std::int64_t, bool, std::string> v_{0.0};
};

// Rounds to 12 significant digits so that values one ulp apart become the same number.
[[nodiscard]] double canonical_double(double v);
// Shortest text that round-trips a canonical double ("0.1", "1e-05", "100").
[[nodiscard]] std::string format_double(double v);

}  // namespace emsweep
