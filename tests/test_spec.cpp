// The sweep spec: every axis form, overrides, canonical hashing, and a table of malformed
// configs, each checked for the reported line, key and message.
#include <catch2/catch.hpp>

#include <string>

#include "sweep/core/error.h"
#include "worker/kinds.h"
#include "sweep/core/spec.h"

#include "tests/support/spec_fixture.h"

using namespace emsweep;

namespace {

using testing::ok;
using testing::parse;
using testing::registry;

std::vector<std::string> values_of(const Axis& a) {
  std::vector<std::string> out;
  for (const auto& v : a.values) out.push_back(v.display());
  return out;
}

const std::string kHead = "sweep: {name: t}\ntask: {kind: probe}\n";

}  // namespace

TEST_CASE("axis forms expand to the documented values", "[spec]") {
  auto s = ok(kHead +
              "grid:\n"
              "  x: [3, 1, 2]\n"
              "  y: {linspace: [0, 1, 5]}\n"
              "  kl_weight: {logspace: [-2, 2, 5], include_zero: true}\n"
              "  curve_points: {range: [2, 11, 3]}\n"
              "  seed: {replicates: 3}\n"
              "  fail: [none, throw]\n");
  REQUIRE(s.axes.size() == 6);
  CHECK(values_of(s.axes[0]) == std::vector<std::string>{"3", "1", "2"});
  CHECK(values_of(s.axes[1]) == std::vector<std::string>{"0", "0.25", "0.5", "0.75", "1"});
  CHECK(values_of(s.axes[2]) == std::vector<std::string>{"0", "0.01", "0.1", "1", "10", "100"});
  CHECK(values_of(s.axes[3]) == std::vector<std::string>{"2", "5", "8"});
  CHECK(s.axes[3].values[0].type() == ValueType::kInteger);
  CHECK(s.axes[4].is_replicate);
  CHECK(values_of(s.axes[4]) == std::vector<std::string>{"0", "1", "2"});
  CHECK(values_of(s.axes[5]) == std::vector<std::string>{"none", "throw"});
  CHECK(s.output == "results/t.h5");
}

TEST_CASE("linspace with one value and descending range", "[spec]") {
  auto s = ok(kHead + "grid:\n  x: {linspace: [0.5, 9, 1]}\n  curve_points: {range: [5, 0, -2]}\n");
  CHECK(values_of(s.axes[0]) == std::vector<std::string>{"0.5"});
  CHECK(values_of(s.axes[1]) == std::vector<std::string>{"5", "3", "1"});
}

TEST_CASE("defaults and fixed task settings resolve", "[spec]") {
  auto s = ok("sweep: {name: t, seed: 7}\ngrid: {x: [1]}\ntask: {kind: probe, sleep_ms: 5}\n");
  CHECK(s.seed == 7);
  CHECK(s.task.number("sleep_ms") == 5);
  CHECK(s.task.text("fail") == "none");
  CHECK(s.run.max_retries == 2);
  CHECK(s.run.grace_seconds == 60);
}

TEST_CASE("command-line overrides replace and add settings", "[spec][override]") {
  const std::string base = kHead + "grid:\n  x: [1, 2]\nrun: {max_retries: 1}\n";
  auto s = ok(base, {"task.sleep_ms=50", "grid.x=[0,0.5]", "run.max_retries=4",
                     "grid.gate_noise={linspace: [0, 1, 3]}"});
  CHECK(s.task.number("sleep_ms") == 50);
  CHECK(values_of(s.axes[0]) == std::vector<std::string>{"0", "0.5"});
  CHECK(s.run.max_retries == 4);
  REQUIRE(s.axes.size() == 2);
  CHECK(s.axes[1].name == "gate_noise");
  CHECK(s.overrides.size() == 4);
}

TEST_CASE("the command line wins: --set grid.X makes a fixed setting an axis, --set task.X fixes an axis",
          "[spec][override]") {
  const std::string file = std::string("sweep: {name: t}\n") + "grid:\n  x: [1, 2]\n  gate_noise: [0, 0.5]\n" +
                           "task: {kind: probe, sleep_ms: 7}\n";
  // Without --set the file is consistent.
  auto plain = ok(file);
  REQUIRE(plain.axes.size() == 2);
  CHECK(plain.notes.empty());

  // task.sleep_ms fixed in the file becomes an axis.
  auto s = ok(file, {"grid.sleep_ms=[10,20,30]"});
  REQUIRE(s.axes.size() == 3);
  CHECK(s.axes[2].name == "sleep_ms");
  CHECK(values_of(s.axes[2]) == std::vector<std::string>{"10", "20", "30"});
  REQUIRE(s.notes.size() == 1);
  CHECK_THAT(s.notes[0], Catch::Contains("makes 'sleep_ms' an axis"));
  CHECK_THAT(s.notes[0], Catch::Contains("task.sleep_ms = 7"));

  // The axis gate_noise is fixed at 0.25 and leaves the grid.
  s = ok(file, {"task.gate_noise=0.25"});
  REQUIRE(s.axes.size() == 1);
  CHECK(s.axes[0].name == "x");
  CHECK(s.task.number("gate_noise") == 0.25);
  REQUIRE(s.notes.size() == 1);
  CHECK_THAT(s.notes[0], Catch::Contains("fixes 'gate_noise'"));

  // The last of two contradicting overrides wins, as for any repeated path.
  s = ok(file, {"task.gate_noise=0.25", "grid.gate_noise=[0.1,0.2]"});
  REQUIRE(s.axes.size() == 2);
  CHECK(values_of(s.axes[1]) == std::vector<std::string>{"0.1", "0.2"});

  // The file alone still may not say both.
  auto r = parse(kHead + "grid: {x: [1]}\ntask: {kind: probe, x: 2}\n");
  REQUIRE_FALSE(r.spec);
}

TEST_CASE("override errors name the command line, not the file", "[spec][override]") {
  auto r = parse(kHead + "grid: {x: [1]}\n", {"task.sleep_ms=-1"});
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].source == "command line (--set task.sleep_ms=-1)");
  CHECK(r.errors[0].key == "task.sleep_ms");
  CHECK_THAT(r.errors[0].message, Catch::Contains("in [0, 3600000]"));

  r = parse(kHead + "grid: {x: [1]}\n", {"task.sleep_mz=1"});
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].source == "command line (--set task.sleep_mz=1)");
  CHECK(r.errors[0].hint == "did you mean 'sleep_ms'?");

  r = parse(kHead + "grid: {x: [1]}\n", {"nonsense"});
  REQUIRE(r.errors.size() == 1);
  CHECK_THAT(r.errors[0].message, Catch::Contains("expected KEY=VALUE"));
}

TEST_CASE("the config hash ignores output and run policy but not points", "[spec][hash]") {
  const std::string a = "sweep: {name: t, output: a.h5}\ngrid: {x: [1, 2]}\ntask: {kind: probe}\n";
  const std::string b =
      "sweep: {name: t, output: b.h5}\ngrid: {x: [1, 2]}\ntask: {kind: probe}\nrun: {max_retries: 9}\n";
  CHECK(ok(a).hash() == ok(b).hash());
  CHECK(ok(a).hash().size() == 64);
  CHECK(ok(a).hash() != ok(a, {"task.y=1"}).hash());
  CHECK(ok(a).hash() != ok(a, {"grid.x=[1,2,3]"}).hash());
  CHECK(ok(a).base_hash() == ok(a, {"grid.x=[1,2,3]"}).base_hash());
  CHECK(ok(a).base_hash() != ok(a, {"task.y=1"}).base_hash());
  // Values one ulp apart hash alike.
  CHECK(ok(a, {"grid.x=[0.30000000000000004]"}).hash() == ok(a, {"grid.x=[0.3]"}).hash());
}

TEST_CASE("the resolved YAML parses back to the same sweep", "[spec][hash]") {
  auto s = ok(kHead + "grid:\n  x: {linspace: [0, 1, 4]}\n  seed: {replicates: 2}\n"
                      "zip: []\nexclude:\n  - {x: 0, seed: 1}\n");
  auto again = ok(s.resolved_yaml());
  CHECK(again.hash() == s.hash());
}

TEST_CASE("zipped axes and exclusions are accepted when consistent", "[spec]") {
  auto s = ok(kHead +
              "grid:\n  x: [1, 2, 3]\n  y: [10, 20, 30]\n  kl_weight: [0, 1]\n"
              "zip:\n  - [x, y]\nexclude:\n  - {x: 2, kl_weight: 1}\n");
  REQUIRE(s.zips.size() == 1);
  CHECK(s.zips[0] == std::vector<std::string>{"x", "y"});
  REQUIRE(s.exclusions.size() == 1);
}

TEST_CASE("a bad config reports all errors in one pass", "[spec][errors]") {
  auto r = parse(
      "sweep: {name: t}\n"
      "grid:\n"
      "  gate_noise: [0.5, 1.5]\n"
      "  bogus: [1]\n"
      "task: {kind: probe, sleep_ms: -3}\n");
  REQUIRE(r.errors.size() == 3);
}

TEST_CASE("load_spec throws a ConfigError with exit code 2", "[spec][errors]") {
  TaskRegistry reg;
  register_declared_kinds(reg);
  try {
    (void)load_spec("/nonexistent/config.yaml", {}, reg);
    FAIL("no error");
  } catch (const ConfigError& e) {
    CHECK(e.exit_code() == ExitCode::kBadInput);
    CHECK_THAT(e.what(), Catch::Contains("/nonexistent/config.yaml"));
  }
}

TEST_CASE("did_you_mean finds near misses only", "[spec]") {
  CHECK(did_you_mean("kl_wieght", {"kl_weight", "gate_noise"}) == "kl_weight");
  CHECK(did_you_mean("gatenoise", {"kl_weight", "gate_noise"}) == "gate_noise");
  CHECK(did_you_mean("zzzzzz", {"kl_weight", "gate_noise"}).empty());
}

namespace {

struct Malformed {
  const char* name;
  std::string yaml;
  int line;                 // expected 1-based line (0: no line)
  const char* key;          // expected key path
  const char* message;      // expected substring of the message
  const char* hint = "";    // expected substring of the hint
};

}  // namespace

TEST_CASE("malformed configs: line, key and message", "[spec][errors]") {
  const std::string S = "sweep: {name: t}\n";
  const std::string T = "task: {kind: probe}\n";
  const std::vector<Malformed> table = {
      {"yaml syntax", S + "grid: {x: [1, 2}\n" + T, 2, "", "YAML syntax error"},
      {"top-level list", "- a\n- b\n", 1, "", "expected a mapping"},
      {"unknown top key", S + "gird: {x: [1]}\n" + T, 2, "gird", "unknown key 'gird'", "did you mean 'grid'?"},
      {"missing sweep", "grid: {x: [1]}\n" + T, 1, "sweep", "expected a mapping with name:"},
      {"missing name", "sweep: {output: a.h5}\ngrid: {x: [1]}\n" + T, 1, "sweep.name", "expected a name"},
      {"bad name chars", "sweep: {name: 'a b/c'}\ngrid: {x: [1]}\n" + T, 1, "sweep.name", "letters, digits"},
      {"unknown sweep key", "sweep: {name: t, outptu: a.h5}\ngrid: {x: [1]}\n" + T, 1, "sweep.outptu", "unknown key", "did you mean 'output'?"},
      {"negative seed", "sweep: {name: t, seed: -1}\ngrid: {x: [1]}\n" + T, 1, "sweep.seed", "in [0, 9223372036854775807]"},
      {"missing task", S + "grid: {x: [1]}\n", 1, "task", "expected a mapping with kind:"},
      {"unknown kind", S + "grid: {x: [1]}\ntask: {kind: organisn}\n", 3, "task.kind", "unknown task kind 'organisn'", "did you mean 'organism'?"},
      {"unknown task setting", S + "grid: {x: [1]}\ntask: {kind: probe, sleep_mss: 3}\n", 3, "task.sleep_mss", "unknown key", "did you mean 'sleep_ms'?"},
      {"wrong type", S + "grid: {x: [1]}\ntask: {kind: probe, sleep_ms: fast}\n", 3, "task.sleep_ms", "expected a finite number, got 'fast'"},
      {"integer expected", S + "grid: {x: [1]}\ntask: {kind: probe, curve_points: 2.5}\n", 3, "task.curve_points", "expected an integer"},
      {"bad choice", S + "grid: {x: [1]}\ntask: {kind: probe, fail: thrown}\n", 3, "task.fail", "expected one of", "did you mean 'throw'?"},
      {"setting both fixed and axis", S + "grid: {x: [1]}\ntask: {kind: probe, x: 2}\n", 3, "task.x", "also a grid axis"},
      {"empty grid", S + "grid: {}\n" + T, 2, "grid", "the grid is empty"},
      {"no grid", S + T, 1, "grid", "the grid is empty"},
      {"grid not a map", S + "grid: [1, 2]\n" + T, 2, "grid", "expected a mapping of axis name"},
      {"axis not a setting", S + "grid:\n  kl_wieght: [0, 1]\n" + T, 3, "grid.kl_wieght", "is not a setting of task kind 'probe'", "did you mean 'kl_weight'?"},
      {"duplicate axis", S + "grid:\n  x: [1]\n  x: [2]\n" + T, 4, "grid.x", "appears twice"},
      {"out of range gate_noise", S + "grid:\n  gate_noise: [0.5, 1.5]\n" + T, 3, "grid.gate_noise[1]", "in [0, 1]"},
      {"negative kl", S + "grid:\n  kl_weight: [-1]\n" + T, 3, "grid.kl_weight[0]", ">= 0"},
      {"domain_mix out of range", S + "grid:\n  domain_mix: {linspace: [0, 2, 3]}\n" + T, 3, "grid.domain_mix", "in [0, 1]"},
      {"empty axis list", S + "grid:\n  x: []\n" + T, 3, "grid.x", "has no values"},
      {"scalar axis", S + "grid:\n  x: 3\n" + T, 3, "grid.x", "expected a list of values", "task.x"},
      {"unknown form", S + "grid:\n  x: {linspaec: [0, 1, 3]}\n" + T, 3, "grid.x.linspaec", "unknown axis form", "did you mean 'linspace'?"},
      {"two forms", S + "grid:\n  x: {linspace: [0, 1, 3], range: [0, 3]}\n" + T, 3, "grid.x", "more than one form"},
      {"linspace arity", S + "grid:\n  x: {linspace: [0, 1]}\n" + T, 3, "grid.x.linspace", "expected [start, stop, count]"},
      {"linspace zero count", S + "grid:\n  x: {linspace: [0, 1, 0]}\n" + T, 3, "grid.x.linspace[2]", "expected a count"},
      {"logspace overflow", S + "grid:\n  x: {logspace: [0, 400, 2]}\n" + T, 3, "grid.x.logspace", "out of the range"},
      {"include_zero misuse", S + "grid:\n  x: {linspace: [0, 1, 2], include_zero: true}\n" + T, 3, "grid.x.include_zero", "only goes with logspace"},
      {"range step zero", S + "grid:\n  curve_points: {range: [0, 5, 0]}\n" + T, 3, "grid.curve_points.range", "step must not be 0"},
      {"range too big", S + "grid:\n  curve_points: {range: [0, 100000000000]}\n" + T, 3, "grid.curve_points.range", "the range gives 100000000000 values; an axis takes at most 10000000"},
      {"integer axis from linspace", S + "grid:\n  curve_points: {linspace: [0, 1, 3]}\n" + T, 3, "grid.curve_points", "takes integers"},
      {"duplicate values", S + "grid:\n  x: [0.1, 0.10000000000000001]\n" + T, 3, "grid.x", "appears twice"},
      {"replicates zero", S + "grid:\n  seed: {replicates: 0}\n" + T, 3, "grid.seed.replicates", "expected a count in [1, 10000000], got '0'"},
      {"two replicate axes", S + "grid:\n  seed: {replicates: 2}\n  rep: {replicates: 2}\n" + T, 4, "grid.rep", "second replicates axis"},
      {"replicates name not plain", S + "grid:\n  'my seed': {replicates: 2}\n" + T, 3, "grid.my seed", "letters, digits or '_'"},
      {"replicates on a setting", S + "grid:\n  x: {replicates: 2}\n" + T, 3, "grid.x", "replicates need an axis name"},
      {"zip unknown axis", S + "grid:\n  x: [1, 2]\n  y: [1, 2]\nzip:\n  - [x, z]\n" + T, 6, "zip[0]", "'z' is not a grid axis"},
      {"zip lengths differ", S + "grid:\n  x: [1, 2]\n  y: [1, 2, 3]\nzip:\n  - [x, y]\n" + T, 6, "zip[0]", "same length"},
      {"zip single", S + "grid:\n  x: [1, 2]\nzip:\n  - [x]\n" + T, 5, "zip[0]", "two or more axis names"},
      {"zip twice", S + "grid:\n  x: [1, 2]\n  y: [1, 2]\n  kl_weight: [1, 2]\nzip:\n  - [x, y]\n  - [x, kl_weight]\n" + T, 8, "zip[1]", "already in a zip group"},
      {"zip replicates", S + "grid:\n  x: [1, 2]\n  seed: {replicates: 2}\nzip:\n  - [x, seed]\n" + T, 6, "zip[0]", "cannot be zipped"},
      {"exclude unknown axis", S + "grid:\n  x: [1, 2]\nexclude:\n  - {y: 1}\n" + T, 5, "exclude[0].y", "'y' is not a grid axis"},
      {"exclude value not on axis", S + "grid:\n  x: [1, 2]\nexclude:\n  - {x: 3}\n" + T, 5, "exclude[0].x", "3 is not a value of axis 'x'", "its values are 1, 2"},
      {"exclude not a map", S + "grid:\n  x: [1, 2]\nexclude:\n  - 3\n" + T, 5, "exclude[0]", "expected a mapping"},
      {"exclude everything", S + "grid:\n  x: [1]\nexclude:\n  - {x: 1}\n" + T, 5, "exclude", "remove every point"},
      {"run unknown key", S + "grid: {x: [1]}\n" + T + "run: {max_retry: 2}\n", 4, "run.max_retry", "unknown key", "did you mean 'max_retries'?"},
      {"run negative grace", S + "grid: {x: [1]}\n" + T + "run: {grace_seconds: -5}\n", 4, "run.grace_seconds", "in [0, 1000000000]"},
      {"run zero log interval", S + "grid: {x: [1]}\n" + T + "run: {log_seconds: 0}\n", 4, "run.log_seconds", "> 0"},
      {"run bool", S + "grid: {x: [1]}\n" + T + "run: {fail_fast: maybe}\n", 4, "run.fail_fast", "expected true or false"},
      {"nan value", S + "grid:\n  x: [.nan]\n" + T, 3, "grid.x[0]", "expected a finite number"},
      {"list value for number", S + "grid:\n  x: [[1, 2]]\n" + T, 3, "grid.x[0]", "expected a number, got a list"},
      {"nul byte", std::string("sweep: {name: t}\0", 17), 0, "", "NUL byte"},
      {"over 1 MiB", S + T + "grid:\n  x: [" + std::string(1 << 20, '1') + "]\n", 0, "", "larger than 1 MiB"},
      {"deep nesting", S + "grid: {x: " + std::string(200, '[') + std::string(200, ']') + "}\n" + T, 0, "", "nests deeper"},
  };
  for (const auto& m : table) {
    SECTION(m.name) {
      auto r = parse(m.yaml);
      INFO(m.name);
      REQUIRE_FALSE(r.spec);
      REQUIRE(!r.errors.empty());
      const Diagnostic& d = r.errors[0];
      INFO(d.format());
      CHECK(d.source == "test.yaml");
      CHECK(d.line == m.line);
      CHECK(d.key == m.key);
      CHECK_THAT(d.message, Catch::Contains(m.message));
      CHECK_THAT(d.hint, Catch::Contains(m.hint));
    }
  }
  CHECK(table.size() >= 30);
}

TEST_CASE("every bound message names the real allowed range", "[spec][errors]") {
  // Each --set crosses a limit; the message must name the range that holds, not half of it.
  struct Bound {
    std::string set, key, message;
  };
  const std::vector<Bound> bounds = {
      {"grid.seed={replicates: 1000000000000}", "grid.seed.replicates",
       "expected a count in [1, 10000000], got '1000000000000'"},
      {"grid.seed={replicates: 0}", "grid.seed.replicates", "expected a count in [1, 10000000], got '0'"},
      {"grid.x={linspace: [0, 1, 20000000]}", "grid.x.linspace[2]", "expected a count in [1, 10000000]"},
      {"grid.x={logspace: [0, 1, 0]}", "grid.x.logspace[2]", "expected a count in [1, 10000000]"},
      {"grid.curve_points={range: [0, 100000000000]}", "grid.curve_points.range",
       "the range gives 100000000000 values; an axis takes at most 10000000"},
      {"grid.curve_points={range: [0, 1e30]}", "grid.curve_points.range[1]",
       "expected an integer in [-9223372036854775808, 9223372036854775807], got 1e30"},
      {"grid.x={logspace: [0, 400, 2]}", "grid.x.logspace", "(logspace exponents go from -323 to 308)"},
      {"grid.x={logspace: [-400, 0, 2]}", "grid.x.logspace", "(logspace exponents go from -323 to 308)"},
      {"sweep.seed=-1", "sweep.seed", "expected an integer in [0, 9223372036854775807], got -1"},
      {"sweep.seed=99999999999999999999", "sweep.seed", "expected an integer in [0, 9223372036854775807]"},
      {"sweep.seed=1e16", "sweep.seed", "(write integers of 9e15 or more in plain digits)"},
      {"task.curve_points=1e7", "task.curve_points", "expected an integer in [0, 1000000], got 1e7"},
      {"task.flaky_attempts=-1", "task.flaky_attempts", "expected an integer in [0, 1000], got -1"},
      {"task.sleep_ms=4e6", "task.sleep_ms", "expected a number in [0, 3600000], got 4e6"},
      {"task.kl_weight=-1", "task.kl_weight", "expected a finite number >= 0, got -1"},
      {"task.kl_weight=1e400", "task.kl_weight", "expected a finite number, got '1e400'"},
      {"run.max_retries=1001", "run.max_retries", "expected an integer in [0, 1000], got 1001"},
      {"run.batch=-1", "run.batch", "expected an integer in [0, 1000000], got -1"},
      {"run.grace_seconds=1e300", "run.grace_seconds", "expected a number in [0, 1000000000], got 1e300"},
      {"run.log_seconds=0", "run.log_seconds", "expected a finite number > 0, got 0"},
      {"run.flush_seconds=-2", "run.flush_seconds", "expected a finite number > 0, got -2"},
      {"sweep.name=" + std::string(101, 'n'), "sweep.name",
       "expected 1 to 100 letters, digits, '-', '_' or '.', got 101 characters"},
      {"grid." + std::string(65, 'r') + "={replicates: 2}", "grid." + std::string(65, 'r'),
       "a replicates axis name must be 1 to 64 letters, digits or '_', got 65 characters"},
  };
  for (const auto& b : bounds) {
    SECTION(b.set) {
      auto r = parse(kHead + "grid:\n  x: [1, 2]\n", {b.set});
      REQUIRE_FALSE(r.spec);
      REQUIRE(r.errors.size() == 1);
      INFO(r.errors[0].format());
      CHECK(r.errors[0].key == b.key);
      CHECK_THAT(r.errors[0].message, Catch::Contains(b.message));
    }
  }
  // The limits hold exactly at the edges named.
  CHECK(ok(kHead + "grid:\n  x: [1]\n", {"grid.seed={replicates: 1}"}).axes.size() == 2);
  CHECK(ok(kHead + "grid:\n  x: [1]\n", {"sweep.seed=9223372036854775807"}).seed == 9223372036854775807ULL);
  CHECK(ok(kHead + "grid:\n  x: [1]\n", {"run.grace_seconds=1e9"}).run.grace_seconds == 1e9);
  CHECK(ok(kHead + "grid:\n  x: {logspace: [-323, 308, 2]}\n").axes[0].values.size() == 2);
}

TEST_CASE("the parser survives arbitrary bytes", "[spec][errors]") {
  // A cheap deterministic sweep of odd inputs; the fuzzer (tests/fuzz) goes much further.
  std::uint64_t state = 12345;
  const std::string alphabet = "ab:{}[]-,\n \t'\"&*!|>#%@`0.9";
  for (int n = 0; n < 2000; ++n) {
    std::string text;
    int len = static_cast<int>(state % 64);
    for (int i = 0; i < len; ++i) {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      text += alphabet[(state >> 33) % alphabet.size()];
    }
    auto r = parse(text);
    CHECK((r.spec.has_value() || !r.errors.empty()));
  }
}
