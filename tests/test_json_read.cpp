// The strict JSON reader of command children's files: values, escapes and numbers worked out by
// hand (UTF-8 bytes from the Unicode tables; doubles exact unless a tolerance is stated), every
// error message with its line and column, hostile inputs, and result and events files.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>

#include "worker/command/json_read.h"

using namespace emsweep;

namespace {

// The parsed value of `text`; fails the test with the parser's message when it does not parse.
json::Value ok(std::string_view text) {
  std::string error;
  auto v = json::parse(text, &error);
  if (!v) FAIL("did not parse: " << text << "\n  " << error);
  return *v;
}

double number(std::string_view text) {
  return ok(text).as_number();
}

// The error message for `text`, which must not parse.
std::string error_of(std::string_view text) {
  std::string error;
  auto v = json::parse(text, &error);
  CHECK_FALSE(v.has_value());
  return error;
}

std::string str(std::string_view text) {
  return ok(text).as_string();
}

}  // namespace

TEST_CASE("numbers: integers, fractions, exponents and signed zero", "[json]") {
  CHECK(number("0") == 0.0);
  CHECK_FALSE(std::signbit(number("0")));
  CHECK(number("-0") == 0.0);
  CHECK(std::signbit(number("-0")));
  CHECK(std::signbit(number("-0.0e5")));
  CHECK(number("42") == 42.0);
  CHECK(number("-12.25") == -12.25);
  CHECK(number("1.5e3") == 1500.0);
  CHECK(number("1E+2") == 100.0);
  CHECK(number("2e-2") == 0.02);  // the same nearest double as the literal
  CHECK(number("0.1") == 0.1);
  CHECK(number("9007199254740993") == 9007199254740992.0);  // 2^53 + 1 rounds to even
  CHECK(number("5e-324") == std::numeric_limits<double>::denorm_min());
  CHECK(number("1.7976931348623157e308") == std::numeric_limits<double>::max());
  // Out of range as Python reads it: too large is infinite, too small is zero, sign kept.
  CHECK(number("1e400") == std::numeric_limits<double>::infinity());
  CHECK(number("-123.4e99999999999999999999") == -std::numeric_limits<double>::infinity());
  CHECK(number("1e-400") == 0.0);
  CHECK(std::signbit(number("-0.0001e-400")));
  CHECK(number("  7 \n") == 7.0);
}

TEST_CASE("NaN and the infinities as Python's json.dumps writes them", "[json]") {
  CHECK(std::isnan(number("NaN")));
  CHECK(number("Infinity") == std::numeric_limits<double>::infinity());
  CHECK(number("-Infinity") == -std::numeric_limits<double>::infinity());
  auto a = ok("[NaN,Infinity,-Infinity]").as_array();
  REQUIRE(a.size() == 3);
  CHECK(std::isnan(a[0].as_number()));
  // Other spellings are not JSON and not Python's.
  CHECK(error_of("nan") == "line 1, column 1: expected a JSON value, found 'nan'");
  CHECK(error_of("inf") == "line 1, column 1: expected a JSON value, found 'inf'");
  CHECK(error_of("-NaN") == "line 1, column 2: expected a digit after '-', found 'NaN'");
  CHECK(error_of("+Infinity") == "line 1, column 1: expected a JSON value, found '+'");
  CHECK(error_of("NaNx") == "line 1, column 1: expected a JSON value, found 'NaNx'");
}

TEST_CASE("literals, arrays and objects keep their order", "[json]") {
  CHECK(ok("true").as_bool());
  CHECK_FALSE(ok("false").as_bool());
  CHECK(ok("null").is_null());
  CHECK(ok("[]").as_array().empty());
  CHECK(ok("{}").as_object().empty());
  auto o = ok(R"({"z": 1, "a": [true, null, "s"], "m": {"x": -2}})");
  REQUIRE(o.is_object());
  const auto& members = o.as_object();
  REQUIRE(members.size() == 3);
  CHECK(members[0].first == "z");
  CHECK(members[1].first == "a");
  CHECK(members[2].first == "m");
  REQUIRE(o.find("a") != nullptr);
  CHECK(o.find("a")->as_array().size() == 3);
  CHECK(o.find("a")->as_array()[2].as_string() == "s");
  CHECK(o.find("m")->find("x")->as_number() == -2.0);
  CHECK(o.find("missing") == nullptr);
  CHECK(o.find("z")->find("x") == nullptr);  // not an object
  CHECK(json::type_phrase(o.find("a")->type()) == std::string("an array"));
  CHECK(ok("\xEF\xBB\xBF{}").is_object());  // a UTF-8 byte order mark is skipped
}

TEST_CASE("string escapes and surrogate pairs become UTF-8", "[json][utf8]") {
  CHECK(str(R"("a\"b\\c\/d\b\f\n\r\t")") == "a\"b\\c/d\b\f\n\r\t");
  CHECK(str(R"("\u0041")") == "A");
  CHECK(str(R"("\u00e9")") == "\xC3\xA9");                // U+00E9 é: two bytes
  CHECK(str(R"("\u20AC")") == "\xE2\x82\xAC");            // U+20AC €: three bytes
  CHECK(str(R"("\ud83d\ude00")") == "\xF0\x9F\x98\x80");  // U+1F600 from a surrogate pair
  CHECK(str(R"("\uDBFF\uDFFF")") == "\xF4\x8F\xBF\xBF");  // U+10FFFF, the last code point
  CHECK(str(R"("\u0000")") == std::string(1, '\0'));
  CHECK(str("\"caf\xC3\xA9 \xF0\x9F\x98\x80\"") == "caf\xC3\xA9 \xF0\x9F\x98\x80");  // raw UTF-8
}

TEST_CASE("bad strings are errors that say where", "[json][utf8]") {
  CHECK(error_of(R"(["\x"])") == "line 1, column 3: invalid escape '\\x' in a string");
  CHECK(error_of(R"("\u12G4")") ==
        "line 1, column 2: invalid \\u escape (expected four hex digits)");
  CHECK(error_of(R"("\u12")") == "line 1, column 2: invalid \\u escape (expected four hex digits)");
  CHECK(error_of(R"("\ud83d")") ==
        "line 1, column 2: lone high surrogate \\ud83d (not followed by a \\uDC00-\\uDFFF escape)");
  CHECK(error_of(R"("\ud83d\u0041")") ==
        "line 1, column 2: lone high surrogate \\ud83d (not followed by a \\uDC00-\\uDFFF escape)");
  CHECK(error_of(R"("\ud83d\u00")") ==
        "line 1, column 8: invalid \\u escape (expected four hex digits)");
  CHECK(error_of(R"("\ude00")") ==
        "line 1, column 2: lone low surrogate \\ude00 (half of a UTF-16 pair)");
  CHECK(error_of("\"a\nb\"") ==
        "line 1, column 3: control character U+000A in a string (write it as an escape)");
  CHECK(error_of(std::string("\"a\0\"", 4)) ==
        "line 1, column 3: control character U+0000 in a string (write it as an escape)");
  CHECK(error_of("\"abc") == "line 1, column 1: unterminated string (no closing '\"')");
  CHECK(error_of("\"abc\\") == "line 1, column 5: unterminated string (it ends in a backslash)");
  // Invalid UTF-8: a lone lead byte, an overlong '/', a surrogate, above U+10FFFF, 0xFF.
  CHECK(error_of("\"\xC3\"") == "line 1, column 2: invalid UTF-8 in a string (byte 0xC3)");
  CHECK(error_of("\"\xC0\xAF\"") == "line 1, column 2: invalid UTF-8 in a string (byte 0xC0)");
  CHECK(error_of("\"\xE0\x80\xAF\"") == "line 1, column 2: invalid UTF-8 in a string (byte 0xE0)");
  CHECK(error_of("\"\xED\xA0\x80\"") == "line 1, column 2: invalid UTF-8 in a string (byte 0xED)");
  CHECK(error_of("\"\xF4\x90\x80\x80\"") ==
        "line 1, column 2: invalid UTF-8 in a string (byte 0xF4)");
  CHECK(error_of("\"ok\xFF\"") == "line 1, column 4: invalid UTF-8 in a string (byte 0xFF)");
  CHECK(error_of("\"\xE2\x82\"") ==
        "line 1, column 2: invalid UTF-8 in a string (byte 0xE2)");  // cut short
}

TEST_CASE("bad numbers are errors that say where", "[json]") {
  CHECK(error_of("01") == "line 1, column 1: a number cannot start with 0 followed by digits");
  CHECK(error_of("-01") == "line 1, column 2: a number cannot start with 0 followed by digits");
  CHECK(error_of("1.") ==
        "line 1, column 3: expected a digit after '.', found the end of the text");
  CHECK(error_of("1.e5") == "line 1, column 3: expected a digit after '.', found 'e5'");
  CHECK(error_of("1e") ==
        "line 1, column 3: expected a digit in the exponent, found the end of the text");
  CHECK(error_of("1.5e+") ==
        "line 1, column 6: expected a digit in the exponent, found the end of the text");
  CHECK(error_of("-") == "line 1, column 2: expected a digit after '-', found the end of the text");
  CHECK(error_of(".5") == "line 1, column 1: expected a JSON value, found '.'");
  CHECK(error_of("+1") == "line 1, column 1: expected a JSON value, found '+'");
  CHECK(error_of("0x10") == "line 1, column 2: unexpected text after the JSON value: 'x10'");
  CHECK(error_of("1 2") == "line 1, column 3: unexpected text after the JSON value: '2'");
}

TEST_CASE("structural errors name the line, the column (in characters) and what was expected",
          "[json]") {
  CHECK(error_of("") == "line 1, column 1: expected a JSON value, found the end of the text");
  CHECK(error_of("   ") == "line 1, column 4: expected a JSON value, found the end of the text");
  CHECK(error_of("{\"a\": 1\n,\"b\": 2\n,\"c\": 3 \"d\": 4}") ==
        "line 3, column 9: expected ',' or '}' after an object member, found '\"'");
  CHECK(error_of("{\n  \"a\": 1,\n  \"b\" 2\n}") ==
        "line 3, column 7: expected ':' after the member name, found '2'");
  CHECK(error_of("[\"\xC3\xA9\", x]") == "line 1, column 7: expected a JSON value, found 'x'");
  CHECK(error_of("[1 2]") ==
        "line 1, column 4: expected ',' or ']' after an array element, found '2'");
  CHECK(error_of("[1,]") == "line 1, column 4: trailing comma before ']'");
  CHECK(error_of("[,1]") == "line 1, column 2: expected a JSON value, found ','");
  CHECK(error_of("[") == "line 1, column 2: expected a JSON value, found the end of the text");
  CHECK(error_of("[1") ==
        "line 1, column 3: expected ',' or ']' after an array element, found the end of the text");
  CHECK(error_of("{\"a\":1,}") == "line 1, column 8: trailing comma before '}'");
  CHECK(error_of("{,}") == "line 1, column 2: expected a member name in double quotes, found ','");
  CHECK(error_of("{1:2}") ==
        "line 1, column 2: expected a member name in double quotes, found '1'");
  CHECK(error_of("{'a':2}") ==
        "line 1, column 2: expected a member name in double quotes, found '''");
  CHECK(error_of("{\"a\"") ==
        "line 1, column 5: expected ':' after the member name, found the end of the text");
  CHECK(error_of("{\"a\":1,\"b\":2,\"a\":3}") == "line 1, column 14: duplicate member name \"a\"");
  CHECK(error_of("{\"x\": {\"b\":1, \"b\":2}}") ==
        "line 1, column 15: duplicate member name \"b\"");
  CHECK(error_of("tru") == "line 1, column 1: expected a JSON value, found 'tru'");
  CHECK(error_of("True") == "line 1, column 1: expected a JSON value, found 'True'");
  CHECK(error_of("nullx") == "line 1, column 1: expected a JSON value, found 'nullx'");
  CHECK(error_of("{} {}") == "line 1, column 4: unexpected text after the JSON value: '{'");
  CHECK(error_of(std::string("[1]\0", 4)) ==
        "line 1, column 4: unexpected text after the JSON value: byte 0x00");
  CHECK(error_of("[1]\n\n]") == "line 3, column 1: unexpected text after the JSON value: ']'");
  CHECK(error_of("[\n") == "line 2, column 1: expected a JSON value, found the end of the text");
  CHECK(error_of("averyveryverylongword") ==
        "line 1, column 1: expected a JSON value, found 'averyveryverylon...'");
  // Without an error pointer, failure is just nullopt.
  CHECK_FALSE(json::parse("[").has_value());
}

TEST_CASE("nesting is bounded: 64 levels parse, deeper is an error, never a stack overflow",
          "[json][hostile]") {
  const auto nested = [](int depth) { return std::string(depth, '[') + std::string(depth, ']'); };
  CHECK(ok(nested(64)).is_array());
  CHECK(error_of(nested(65)) == "line 1, column 65: nesting deeper than 64 levels");
  CHECK(error_of(std::string(1000000, '[')) == "line 1, column 65: nesting deeper than 64 levels");
  std::string objects;
  for (int i = 0; i < 200000; ++i) objects += "{\"a\":";
  CHECK(error_of(objects) == "line 1, column 321: nesting deeper than 64 levels");
}

TEST_CASE("a megabyte of random bytes, or of random JSON punctuation, never crashes",
          "[json][hostile]") {
  std::uint64_t x = 0x9E3779B97F4A7C15ull;
  const auto next = [&x] {  // xorshift64
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  const std::string alphabet = "[]{}\",:0123456789eE.-+ \n\\utrfalsnNIy";
  for (int round = 0; round < 4; ++round) {
    std::string bytes(1 << 20, '\0');
    for (auto& c : bytes) {
      c = round % 2 == 0 ? static_cast<char>(next() & 0xFF) : alphabet[next() % alphabet.size()];
    }
    std::string error;
    (void)json::parse(bytes, &error);
    (void)json::parse_result(bytes);
    (void)json::parse_events(bytes);
    // Prefixes too: whatever does not parse says where.
    for (std::size_t cut : {1u, 7u, 100u, 4096u}) {
      error.clear();
      if (!json::parse(std::string_view(bytes).substr(0, cut), &error))
        CHECK(error.find("line ") == 0);
    }
  }
  // A wide object of unique names: duplicate detection stays fast.
  std::string wide = "{";
  for (int i = 0; i < 100000; ++i)
    wide += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":" + std::to_string(i);
  wide += "}";
  auto v = ok(wide);
  REQUIRE(v.as_object().size() == 100000);
  CHECK(v.find("k99999")->as_number() == 99999.0);
}

TEST_CASE("result files: metrics in file order, null and NaN both read as NaN", "[json][result]") {
  auto r = json::parse_result(R"({"final_loss": 0.12, "ood_bad": 0.4, "gate_corr": NaN})");
  REQUIRE(r.ok());
  REQUIRE(r.metrics.size() == 3);
  CHECK(r.metrics[0] == std::pair<std::string, double>{"final_loss", 0.12});
  CHECK(r.metrics[1] == std::pair<std::string, double>{"ood_bad", 0.4});
  CHECK(r.metrics[2].first == "gate_corr");
  CHECK(std::isnan(r.metrics[2].second));
  // What Python's json.dumps({"a": None, "b": math.inf, "c": -math.inf, "d": -0.0, "e": 1e308})
  // writes, exactly.
  r = json::parse_result(R"({"a": null, "b": Infinity, "c": -Infinity, "d": -0.0, "e": 1e+308})");
  REQUIRE(r.ok());
  REQUIRE(r.metrics.size() == 5);
  CHECK(std::isnan(r.metrics[0].second));
  CHECK(r.metrics[1].second == std::numeric_limits<double>::infinity());
  CHECK(r.metrics[2].second == -std::numeric_limits<double>::infinity());
  CHECK(std::signbit(r.metrics[3].second));
  CHECK(r.metrics[4].second == 1e308);
  CHECK(json::parse_result("{}\n").ok());
  CHECK(json::parse_result("{}").metrics.empty());
}

TEST_CASE("result files: every way to be unusable gives a message and no metrics",
          "[json][result]") {
  const auto error = [](std::string_view text) {
    auto r = json::parse_result(text);
    CHECK(r.metrics.empty());
    return r.error;
  };
  CHECK(error("") == "bad result: the file is empty (expected a JSON object of metrics)");
  CHECK(error(" \n") == "bad result: the file is empty (expected a JSON object of metrics)");
  CHECK(error(R"({"a"1})") ==
        "bad result: line 1, column 5: expected ':' after the member name, found '1'");
  CHECK(error(R"({"a": 1,)") ==
        "bad result: line 1, column 9: expected a member name in double quotes, found the end of "
        "the text");
  CHECK(error("[1, 2]") == "bad result: expected a JSON object of metrics, got an array");
  CHECK(error("0.5") == "bad result: expected a JSON object of metrics, got a number");
  CHECK(error("null") == "bad result: expected a JSON object of metrics, got null");
  CHECK(error(R"({"loss": 1, "acc": "high"})") ==
        "bad result: metric 'acc' is a string, not a number");
  CHECK(error(R"({"ok": true})") == "bad result: metric 'ok' is a boolean (true), not a number");
  CHECK(error(R"({"ok": false})") == "bad result: metric 'ok' is a boolean (false), not a number");
  CHECK(error(R"({"x": [1]})") == "bad result: metric 'x' is an array, not a number");
  CHECK(error(R"({"x": {"y": 1}})") == "bad result: metric 'x' is an object, not a number");
  CHECK(error(R"({"": 1})") == "bad result: a metric has an empty name");
  CHECK(error(R"({"a": 1, "a": 2})") ==
        "bad result: line 1, column 10: duplicate member name \"a\"");
  CHECK(error(R"({"a": 1} {"b": 2})") ==
        "bad result: line 1, column 10: unexpected text after the JSON value: '{'");
}

TEST_CASE("events files: curves by first appearance, bad lines counted, a torn tail ignored",
          "[json][events]") {
  const std::string text =
      "{\"step\": 0, \"loss\": 1.0, \"kl\": 0}\n"  // 1
      "{\"step\": 10, \"loss\": 0.5}\r\n"          // 2 (CRLF)
      "\n"                                         // 3 blank: ignored
      "{\"step\": 20, \"loss\": NaN, \"kl\": 0.01, \"note\": \"x\", \"acc\": null}\n"  // 4
      "{\"loss\": 3}\n"                                                                // 5 no step
      "not json\n"                                                                     // 6
      "[1, 2]\n"                                                                       // 7
      "{\"step\": \"30\", \"loss\": 2}\n"                  // 8 step not a number
      "{\"step\": 30.5, \"kl\": true, \"loss\": 0.125}\n"  // 9
      "{\"step\": 40, \"lo";                               // 10 torn: a write cut short
  auto e = json::parse_events(text);
  REQUIRE(e.curves.size() == 3);
  CHECK(e.curves[0].name == "loss");
  CHECK(e.curves[0].x == std::vector<double>{0, 10, 20, 30.5});
  REQUIRE(e.curves[0].y.size() == 4);
  CHECK(e.curves[0].y[0] == 1.0);
  CHECK(e.curves[0].y[1] == 0.5);
  CHECK(std::isnan(e.curves[0].y[2]));
  CHECK(e.curves[0].y[3] == 0.125);
  CHECK(e.curves[1].name == "kl");
  CHECK(e.curves[1].x == std::vector<double>{0, 20});
  CHECK(e.curves[1].y == std::vector<double>{0, 0.01});
  CHECK(e.curves[2].name == "acc");
  CHECK(e.curves[2].x == std::vector<double>{20});
  CHECK(std::isnan(e.curves[2].y[0]));
  CHECK(e.events == 4);
  CHECK(e.bad_lines == 4);
  CHECK(e.skipped_values == 2);
  CHECK(e.torn_tail);
  REQUIRE(e.warnings.size() == 2);
  CHECK(e.warnings[0] == "4 bad lines skipped (first, line 5: no \"step\")");
  CHECK(e.warnings[1] == "2 non-numeric values skipped (first, line 4: 'note' is a string)");
}

TEST_CASE("events files: each kind of bad line is described", "[json][events]") {
  auto e = json::parse_events("not json\n");
  CHECK(e.bad_lines == 1);
  CHECK_FALSE(e.torn_tail);  // it ended in a newline: a real bad line, not a torn one
  CHECK(e.warnings ==
        std::vector<std::string>{
            "1 bad line skipped (first, line 1, column 1: expected a JSON value, found 'not')"});
  e = json::parse_events("{\"step\": 1, \"x\": 1}\n[1]\n");
  CHECK(e.warnings ==
        std::vector<std::string>{"1 bad line skipped (first, line 2: an array, not an object)"});
  e = json::parse_events("{\"step\": NaN, \"x\": 1}\n{\"step\": null}\n");
  CHECK(e.bad_lines == 2);
  CHECK(e.warnings == std::vector<std::string>{
                          "2 bad lines skipped (first, line 1: \"step\" is not a finite number)"});
  // A torn line before the last one (a later write followed it) is a bad line.
  e = json::parse_events("{\"step\": 1, \"lo\n{\"step\": 2, \"loss\": 4}\n");
  CHECK(e.bad_lines == 1);
  CHECK_FALSE(e.torn_tail);
  REQUIRE(e.curves.size() == 1);
  CHECK(e.curves[0].x == std::vector<double>{2});
}

TEST_CASE("events files: a complete last line without a newline counts; empty files are empty",
          "[json][events]") {
  auto e = json::parse_events("{\"step\": 1, \"loss\": 2}\n{\"step\": 2, \"loss\": 1}");
  CHECK_FALSE(e.torn_tail);
  REQUIRE(e.curves.size() == 1);
  CHECK(e.curves[0].y == std::vector<double>{2, 1});
  CHECK(e.warnings.empty());
  e = json::parse_events("");
  CHECK(e.curves.empty());
  CHECK(e.events == 0);
  CHECK(e.warnings.empty());
  e = json::parse_events("{\"step\": 5}\n");  // a step alone: an event with no values
  CHECK(e.events == 1);
  CHECK(e.curves.empty());
}

TEST_CASE("events files: a hundred thousand lines", "[json][events]") {
  std::string text;
  for (int i = 0; i < 100000; ++i) {
    text += "{\"step\": " + std::to_string(i) + ", \"loss\": " + std::to_string(i % 7) + ".5}\n";
  }
  auto e = json::parse_events(text);
  REQUIRE(e.curves.size() == 1);
  REQUIRE(e.curves[0].x.size() == 100000);
  CHECK(e.curves[0].x.back() == 99999.0);
  CHECK(e.curves[0].y.back() == 99999 % 7 + 0.5);
}

#ifdef EMSWEEP_PYTHON
TEST_CASE("what the Python helper writes reads back exactly", "[json][python]") {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("emsweep-json-read-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string script = R"(
import emsweep_child as es
es.report(0, loss=1.5, kl=0.0)
es.report(1, loss=float("nan"), kl=None)
es.report(2, loss=0.1, acc=3)
es.finish(final_loss=0.1, gate_corr=float("nan"), worst=-float("inf"), n=7)
)";
  std::ofstream(dir / "child.py") << script;
  const std::string command =
      "cd '" + dir.string() +
      "' && PYTHONPATH='" EMSWEEP_SOURCE_DIR
      "/worker/command/python'"
      " EMSWEEP_RESULT=result.json EMSWEEP_EVENTS=events.jsonl " EMSWEEP_PYTHON " child.py";
  REQUIRE(std::system(command.c_str()) == 0);
  const auto slurp = [](const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  auto r = json::parse_result(slurp(dir / "result.json"));
  REQUIRE(r.ok());
  REQUIRE(r.metrics.size() == 4);
  CHECK(r.metrics[0] == std::pair<std::string, double>{"final_loss", 0.1});
  CHECK(std::isnan(r.metrics[1].second));
  CHECK(r.metrics[2].second == -std::numeric_limits<double>::infinity());
  CHECK(r.metrics[3] == std::pair<std::string, double>{"n", 7});
  auto e = json::parse_events(slurp(dir / "events.jsonl"));
  CHECK(e.warnings.empty());
  REQUIRE(e.curves.size() == 3);
  CHECK(e.curves[0].name == "loss");
  CHECK(e.curves[0].x == std::vector<double>{0, 1, 2});
  CHECK(std::isnan(e.curves[0].y[1]));
  CHECK(e.curves[1].name == "kl");
  CHECK(e.curves[2].name == "acc");
  CHECK(e.curves[2].y == std::vector<double>{3});
  std::filesystem::remove_all(dir);
}
#endif
