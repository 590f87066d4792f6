// The strict JSON reader: a recursive-descent parser whose depth is bounded by kMaxDepth, so
// any input, however hostile, costs time and memory linear in its size and a bounded stack.
#include "worker/command/json_read.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <unordered_map>

namespace emsweep::json {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}
bool is_alnum(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

// "line L, column C" of byte offset `pos`; columns count UTF-8 characters, from 1.
std::string location(std::string_view text, std::size_t pos) {
  std::size_t line = 1, column = 1;
  for (std::size_t i = 0; i < pos && i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\n') {
      ++line;
      column = 1;
    } else if ((c & 0xC0) != 0x80) {
      ++column;
    }
  }
  return fmt::format("line {}, column {}", line, column);
}

// Appends code point `cp` (at most 0x10FFFF, not a surrogate) as UTF-8.
void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Length of the valid UTF-8 sequence starting at s[0] (at least 2 bytes long, lead byte >= 0x80),
// or 0 when it is not one: no overlong forms, no surrogates, nothing above U+10FFFF.
std::size_t utf8_sequence_length(std::string_view s) {
  const auto b0 = static_cast<unsigned char>(s[0]);
  std::size_t n;
  std::uint32_t cp, min;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2, cp = b0 & 0x1F, min = 0x80;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3, cp = b0 & 0x0F, min = 0x800;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4, cp = b0 & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (s.size() < n) return 0;
  for (std::size_t i = 1; i < n; ++i) {
    const auto b = static_cast<unsigned char>(s[i]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  std::optional<Value> document(std::string* error) {
    if (text_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;
    skip_space();
    std::optional<Value> v = value(0);
    if (v) {
      skip_space();
      if (pos_ < text_.size()) {
        fail(pos_, "unexpected text after the JSON value: " + found());
        v.reset();
      }
    }
    if (!v && error) *error = location(text_, error_pos_) + ": " + error_;
    return v;
  }

 private:
  std::optional<Value> value(int depth) {
    if (pos_ >= text_.size()) return fail(pos_, "expected a JSON value, found the end of the text");
    const char c = text_[pos_];
    switch (c) {
      case '{':
        return object(depth + 1);
      case '[':
        return array(depth + 1);
      case '"': {
        std::string s;
        if (!string(s)) return std::nullopt;
        return Value(std::move(s));
      }
      case 't':
        if (word("true")) return Value(true);
        break;
      case 'f':
        if (word("false")) return Value(false);
        break;
      case 'n':
        if (word("null")) return Value();
        break;
      case 'N':
        if (word("NaN")) return Value(kNaN);
        break;
      case 'I':
        if (word("Infinity")) return Value(kInf);
        break;
      case '-':
        if (word("-Infinity")) return Value(-kInf);
        return number();
      default:
        if (is_digit(c)) return number();
        break;
    }
    return fail(pos_, "expected a JSON value, found " + found());
  }

  std::optional<Value> object(int depth) {
    if (depth > kMaxDepth)
      return fail(pos_, fmt::format("nesting deeper than {} levels", kMaxDepth));
    ++pos_;  // '{'
    Value::Object members;
    skip_space();
    if (peek() == '}') {
      ++pos_;
      return Value(std::move(members));
    }
    while (true) {
      skip_space();
      const std::size_t key_pos = pos_;
      if (peek() != '"') {
        if (peek() == '}' && !members.empty()) return fail(pos_, "trailing comma before '}'");
        return fail(pos_, "expected a member name in double quotes, found " + found());
      }
      std::string key;
      if (!string(key)) return std::nullopt;
      skip_space();
      if (peek() != ':') return fail(pos_, "expected ':' after the member name, found " + found());
      ++pos_;
      skip_space();
      std::optional<Value> v = value(depth);
      if (!v) return std::nullopt;
      members.emplace_back(std::move(key), std::move(*v));
      key_positions_.push_back(key_pos);
      skip_space();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() == '}') {
        ++pos_;
        break;
      }
      return fail(pos_, "expected ',' or '}' after an object member, found " + found());
    }
    // Duplicate names, found by sorting indices (linear-time parsing stays n log n at worst).
    const std::size_t first_key = key_positions_.size() - members.size();
    std::vector<std::size_t> order(members.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      return members[a].first < members[b].first;
    });
    for (std::size_t i = 1; i < order.size(); ++i) {
      if (members[order[i]].first == members[order[i - 1]].first) {
        const std::size_t second = std::max(order[i], order[i - 1]);
        return fail(key_positions_[first_key + second],
                    "duplicate member name \"" + members[second].first + "\"");
      }
    }
    key_positions_.resize(first_key);
    return Value(std::move(members));
  }

  std::optional<Value> array(int depth) {
    if (depth > kMaxDepth)
      return fail(pos_, fmt::format("nesting deeper than {} levels", kMaxDepth));
    ++pos_;  // '['
    Value::Array items;
    skip_space();
    if (peek() == ']') {
      ++pos_;
      return Value(std::move(items));
    }
    while (true) {
      skip_space();
      if (peek() == ']' && !items.empty()) return fail(pos_, "trailing comma before ']'");
      std::optional<Value> v = value(depth);
      if (!v) return std::nullopt;
      items.push_back(std::move(*v));
      skip_space();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() == ']') {
        ++pos_;
        return Value(std::move(items));
      }
      return fail(pos_, "expected ',' or ']' after an array element, found " + found());
    }
  }

  // A string starting at the opening quote, unescaped into `out`.
  bool string(std::string& out) {
    const std::size_t start = pos_;
    ++pos_;  // '"'
    while (true) {
      if (pos_ >= text_.size()) {
        fail(start, "unterminated string (no closing '\"')");
        return false;
      }
      const auto c = static_cast<unsigned char>(text_[pos_]);
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (c < 0x20) {
        fail(pos_,
             fmt::format("control character U+{:04X} in a string (write it as an escape)", c));
        return false;
      }
      if (c == '\\') {
        if (!escape(out)) return false;
        continue;
      }
      if (c < 0x80) {
        out.push_back(static_cast<char>(c));
        ++pos_;
        continue;
      }
      const std::size_t n = utf8_sequence_length(text_.substr(pos_));
      if (n == 0) {
        fail(pos_, fmt::format("invalid UTF-8 in a string (byte 0x{:02X})", c));
        return false;
      }
      out.append(text_.substr(pos_, n));
      pos_ += n;
    }
  }

  // An escape starting at the backslash.
  bool escape(std::string& out) {
    const std::size_t start = pos_;
    ++pos_;
    if (pos_ >= text_.size()) {
      fail(start, "unterminated string (it ends in a backslash)");
      return false;
    }
    const char e = text_[pos_++];
    switch (e) {
      case '"':
        out.push_back('"');
        return true;
      case '\\':
        out.push_back('\\');
        return true;
      case '/':
        out.push_back('/');
        return true;
      case 'b':
        out.push_back('\b');
        return true;
      case 'f':
        out.push_back('\f');
        return true;
      case 'n':
        out.push_back('\n');
        return true;
      case 'r':
        out.push_back('\r');
        return true;
      case 't':
        out.push_back('\t');
        return true;
      case 'u':
        break;
      default:
        fail(start, "invalid escape '\\" + printable(e) + "' in a string");
        return false;
    }
    std::uint32_t cp = 0;
    if (!hex4(start, cp)) return false;
    if (cp >= 0xDC00 && cp <= 0xDFFF) {
      fail(start, fmt::format("lone low surrogate \\u{:04x} (half of a UTF-16 pair)", cp));
      return false;
    }
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      const std::size_t low_start = pos_;
      std::uint32_t low = 0;
      if (text_.substr(pos_, 2) != "\\u" || (pos_ += 2, !hex4(low_start, low)) || low < 0xDC00 ||
          low > 0xDFFF) {
        if (error_.empty()) {
          fail(start,
               fmt::format(
                   "lone high surrogate \\u{:04x} (not followed by a \\uDC00-\\uDFFF escape)", cp));
        }
        return false;
      }
      cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    }
    append_utf8(out, cp);
    return true;
  }

  // Four hex digits at pos_ (after "\u" that starts at `start`).
  bool hex4(std::size_t start, std::uint32_t& cp) {
    for (int i = 0; i < 4; ++i, ++pos_) {
      const char h = pos_ < text_.size() ? text_[pos_] : '\0';
      std::uint32_t d;
      if (h >= '0' && h <= '9')
        d = static_cast<std::uint32_t>(h - '0');
      else if (h >= 'a' && h <= 'f')
        d = static_cast<std::uint32_t>(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F')
        d = static_cast<std::uint32_t>(h - 'A' + 10);
      else {
        fail(start, "invalid \\u escape (expected four hex digits)");
        return false;
      }
      cp = cp * 16 + d;
    }
    return true;
  }

  // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  std::optional<Value> number() {
    const std::size_t start = pos_;
    const bool negative = peek() == '-';
    if (negative) ++pos_;
    if (!is_digit(peek())) return fail(pos_, "expected a digit after '-', found " + found());
    // The decimal exponent of the first significant digit, to tell overflow from underflow.
    long magnitude = 0;
    bool significant = false;
    if (peek() == '0') {
      ++pos_;
      if (is_digit(peek()))
        return fail(pos_ - 1, "a number cannot start with 0 followed by digits");
    } else {
      significant = true;
      for (; is_digit(peek()); ++pos_) ++magnitude;
      --magnitude;
    }
    if (peek() == '.') {
      ++pos_;
      if (!is_digit(peek())) return fail(pos_, "expected a digit after '.', found " + found());
      for (long place = -1; is_digit(peek()); ++pos_, --place) {
        if (!significant && peek() != '0') {
          significant = true;
          magnitude = place;
        }
      }
    }
    long exponent = 0;
    if (peek() == 'e' || peek() == 'E') {
      ++pos_;
      bool exponent_negative = false;
      if (peek() == '+' || peek() == '-') exponent_negative = text_[pos_++] == '-';
      if (!is_digit(peek()))
        return fail(pos_, "expected a digit in the exponent, found " + found());
      for (; is_digit(peek()); ++pos_)
        exponent = std::min(exponent * 10 + (peek() - '0'), 1000000L);
      if (exponent_negative) exponent = -exponent;
    }
    const std::string_view digits = text_.substr(start, pos_ - start);
    double d = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), d);
    if (ec == std::errc::result_out_of_range) {
      // As Python reads them: too large is infinite, too small is zero (both signed).
      d = significant && magnitude + exponent > 0 ? kInf : 0.0;
      if (negative) d = -d;
    } else if (ec != std::errc() || end != digits.data() + digits.size()) {
      return fail(start, "invalid number");  // unreachable: the grammar was checked above
    }
    return Value(d);
  }

  // Consumes `w` when the text continues with it as a whole word.
  bool word(std::string_view w) {
    if (text_.substr(pos_, w.size()) != w) return false;
    const std::size_t after = pos_ + w.size();
    if (after < text_.size() && is_alnum(text_[after])) return false;
    pos_ = after;
    return true;
  }

  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  void skip_space() {
    while (pos_ < text_.size() && is_space(text_[pos_])) ++pos_;
  }

  static std::string printable(char c) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7F) return std::string(1, c);
    return fmt::format("\\x{:02x}", u);
  }

  // What stands at pos_, for messages: 'word', 'c', "byte 0xNN" or "the end of the text".
  std::string found() const {
    if (pos_ >= text_.size()) return "the end of the text";
    const auto c = static_cast<unsigned char>(text_[pos_]);
    if (is_alnum(text_[pos_])) {
      std::size_t n = 0;
      while (pos_ + n < text_.size() && n < 16 && is_alnum(text_[pos_ + n])) ++n;
      return "'" + std::string(text_.substr(pos_, n)) + (n == 16 ? "...'" : "'");
    }
    if (c >= 0x20 && c < 0x7F) return fmt::format("'{}'", static_cast<char>(c));
    if (c == '\n') return "the end of the line";
    return fmt::format("byte 0x{:02X}", c);
  }

  std::nullopt_t fail(std::size_t pos, std::string message) {
    if (error_.empty()) {  // the first, innermost error is the one to report
      error_ = std::move(message);
      error_pos_ = pos;
    }
    return std::nullopt;
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  std::vector<std::size_t> key_positions_;  // byte offsets of the open objects' member names
  std::string error_;
  std::size_t error_pos_ = 0;
};

}  // namespace

const Value* Value::find(std::string_view key) const {
  if (!is_object()) return nullptr;
  for (const auto& [name, v] : as_object()) {
    if (name == key) return &v;
  }
  return nullptr;
}

const char* type_phrase(Type t) {
  switch (t) {
    case Type::kNull:
      return "null";
    case Type::kBool:
      return "a boolean";
    case Type::kNumber:
      return "a number";
    case Type::kString:
      return "a string";
    case Type::kArray:
      return "an array";
    case Type::kObject:
      return "an object";
  }
  return "?";
}

std::optional<Value> parse(std::string_view text, std::string* error) {
  return Parser(text).document(error);
}

ParsedResult parse_result(std::string_view text) {
  ParsedResult r;
  if (std::all_of(text.begin(), text.end(), is_space)) {
    r.error = "bad result: the file is empty (expected a JSON object of metrics)";
    return r;
  }
  std::string error;
  std::optional<Value> doc = parse(text, &error);
  if (!doc) {
    r.error = "bad result: " + error;
    return r;
  }
  if (!doc->is_object()) {
    r.error = fmt::format("bad result: expected a JSON object of metrics, got {}",
                          type_phrase(doc->type()));
    return r;
  }
  for (const auto& [name, v] : doc->as_object()) {
    if (name.empty()) {
      r.error = "bad result: a metric has an empty name";
    } else if (v.is_number()) {
      r.metrics.emplace_back(name, v.as_number());
      continue;
    } else if (v.is_null()) {
      r.metrics.emplace_back(name, kNaN);
      continue;
    } else if (v.is_bool()) {
      r.error = fmt::format("bad result: metric '{}' is a boolean ({}), not a number", name,
                            v.as_bool() ? "true" : "false");
    } else {
      r.error =
          fmt::format("bad result: metric '{}' is {}, not a number", name, type_phrase(v.type()));
    }
    r.metrics.clear();
    return r;
  }
  return r;
}

ParsedEvents parse_events(std::string_view text) {
  ParsedEvents out;
  std::unordered_map<std::string, std::size_t> index;  // curve name -> position in out.curves
  std::string first_bad, first_skipped;
  std::size_t line_no = 0;
  for (std::size_t start = 0; start < text.size();) {
    const std::size_t nl = text.find('\n', start);
    const bool last_unterminated = nl == std::string_view::npos;
    const std::string_view line =
        text.substr(start, last_unterminated ? std::string_view::npos : nl - start);
    start = last_unterminated ? text.size() : nl + 1;
    ++line_no;
    if (std::all_of(line.begin(), line.end(), is_space)) continue;

    std::string error;
    std::optional<Value> doc = parse(line, &error);
    if (!doc && last_unterminated) {  // a write cut short by a kill: expected, not a problem
      out.torn_tail = true;
      break;
    }
    const Value* step = doc ? doc->find("step") : nullptr;
    if (!doc || !doc->is_object() || !step || !step->is_number() ||
        !std::isfinite(step->as_number())) {
      std::string why;
      if (!doc)
        why = fmt::format("line {}, {}", line_no, error.substr(error.find("column")));
      else if (!doc->is_object())
        why = fmt::format("line {}: {}, not an object", line_no, type_phrase(doc->type()));
      else if (!step)
        why = fmt::format("line {}: no \"step\"", line_no);
      else
        why = fmt::format("line {}: \"step\" is not a finite number", line_no);
      if (out.bad_lines++ == 0) first_bad = std::move(why);
      continue;
    }
    ++out.events;
    const double x = step->as_number();
    for (const auto& [name, v] : doc->as_object()) {
      if (name == "step") continue;
      if (!v.is_number() && !v.is_null()) {
        if (out.skipped_values++ == 0) {
          first_skipped = fmt::format("line {}: '{}' is {}", line_no, name, type_phrase(v.type()));
        }
        continue;
      }
      auto [it, added] = index.try_emplace(name, out.curves.size());
      if (added) out.curves.push_back(Curve{name, {}, {}});
      Curve& curve = out.curves[it->second];
      curve.x.push_back(x);
      curve.y.push_back(v.is_null() ? kNaN : v.as_number());
    }
  }
  if (out.bad_lines > 0) {
    out.warnings.push_back(fmt::format("{} bad line{} skipped (first, {})", out.bad_lines,
                                       out.bad_lines == 1 ? "" : "s", first_bad));
  }
  if (out.skipped_values > 0) {
    out.warnings.push_back(fmt::format("{} non-numeric value{} skipped (first, {})",
                                       out.skipped_values, out.skipped_values == 1 ? "" : "s",
                                       first_skipped));
  }
  return out;
}

}  // namespace emsweep::json
