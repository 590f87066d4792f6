// A small, strict JSON reader for what a `command` child writes: its result file (one object of
// metrics) and its events file (JSON lines). Standard JSON (RFC 8259) plus the NaN, Infinity and
// -Infinity that Python's json.dumps writes; never crashes or recurses without bound on any input.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace emsweep::json {

// Containers nest at most this deep; deeper input is an error, not a stack overflow.
inline constexpr int kMaxDepth = 64;

enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };

// One parsed JSON value. Objects keep their members in file order; keys are unique.
class Value {
 public:
  using Array = std::vector<Value>;
  using Member = std::pair<std::string, Value>;
  using Object = std::vector<Member>;

  Value() = default;  // null
  explicit Value(bool b) : v_(b) {}
  explicit Value(double d) : v_(d) {}
  explicit Value(std::string s) : v_(std::move(s)) {}
  explicit Value(Array a) : v_(std::move(a)) {}
  explicit Value(Object o) : v_(std::move(o)) {}

  [[nodiscard]] Type type() const { return static_cast<Type>(v_.index()); }
  [[nodiscard]] bool is_null() const { return type() == Type::kNull; }
  [[nodiscard]] bool is_bool() const { return type() == Type::kBool; }
  [[nodiscard]] bool is_number() const { return type() == Type::kNumber; }
  [[nodiscard]] bool is_string() const { return type() == Type::kString; }
  [[nodiscard]] bool is_array() const { return type() == Type::kArray; }
  [[nodiscard]] bool is_object() const { return type() == Type::kObject; }

  // The value itself; each throws std::bad_variant_access when the type differs.
  [[nodiscard]] bool as_bool() const { return std::get<bool>(v_); }
  [[nodiscard]] double as_number() const { return std::get<double>(v_); }
  [[nodiscard]] const std::string& as_string() const { return std::get<std::string>(v_); }
  [[nodiscard]] const Array& as_array() const { return std::get<Array>(v_); }
  [[nodiscard]] const Object& as_object() const { return std::get<Object>(v_); }

  // The member named `key` of an object; nullptr when absent or when this is not an object.
  [[nodiscard]] const Value* find(std::string_view key) const;

 private:
  std::variant<std::monostate, bool, double, std::string, Array, Object> v_;
};

// "a number", "an object", ... for messages.
[[nodiscard]] const char* type_phrase(Type t);

// Parses one JSON document (surrounding whitespace allowed, a leading UTF-8 byte order mark
// skipped). On failure returns nullopt and, when `error` is given, sets it to what is wrong and
// where: "line 3, column 14: expected ',' or '}' after an object member, found 'x'". Columns
// count characters from 1. Strings must be valid UTF-8; \uXXXX escapes (surrogate pairs
// included) become UTF-8; duplicate keys in one object are an error.
[[nodiscard]] std::optional<Value> parse(std::string_view text, std::string* error = nullptr);

// A child's result file read as metrics.
struct ParsedResult {
  std::vector<std::pair<std::string, double>> metrics;  // by name, in file order; null -> NaN
  std::string error;  // "bad result: ..." when the file cannot be used; empty when it can
  [[nodiscard]] bool ok() const { return error.empty(); }
};

// Reads the text of a result file: one JSON object whose members are numbers (or null, read as
// NaN, or NaN/Infinity/-Infinity). Anything else (a parse error, an array, a metric that is a
// string or a boolean, an empty name) gives an error naming what is wrong and no metrics.
[[nodiscard]] ParsedResult parse_result(std::string_view text);

// One curve of an events file: y against x (the lines' "step"), in file order.
struct Curve {
  std::string name;
  std::vector<double> x, y;
};

// A child's events file read as curves.
struct ParsedEvents {
  std::vector<Curve> curves;       // in order of first appearance
  std::size_t events = 0;          // lines that gave at least a step
  std::size_t bad_lines = 0;       // lines skipped: not JSON, not an object, no numeric step
  std::size_t skipped_values = 0;  // members skipped on good lines: not numbers
  bool torn_tail = false;          // the last line had no newline and did not parse (ignored)
  // One sentence per kind of problem, with the first example; empty when there were none.
  std::vector<std::string> warnings;
};

// Reads the text of an events file: JSON lines, each an object with a numeric "step" plus
// metrics; every other numeric member is a point (step, value) of the curve of that name (null
// reads as NaN). Blank lines are ignored; a last line without a newline that does not parse is
// a write cut short and is ignored silently; other bad lines and values are counted and
// described in `warnings`, never fatal.
[[nodiscard]] ParsedEvents parse_events(std::string_view text);

}  // namespace emsweep::json
