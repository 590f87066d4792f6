// The `command` kind's config: parameters declared in task.params (types from their defaults),
// metrics and curves, argv placeholders checked when the config is read and rendered per point.
#include <catch2/catch.hpp>

#include <string>

#include "sweep/core/command_line.h"
#include "sweep/core/grid.h"
#include "worker/kinds.h"
#include "sweep/core/plan.h"
#include "sweep/core/spec.h"

#include "tests/support/spec_fixture.h"

using namespace emsweep;

namespace {

using testing::registry;

ParseResult parse(const std::string& yaml, const std::vector<std::string>& sets = {}) {
  return parse_spec(yaml, "cmd.yaml", sets, registry());
}

SweepSpec ok(const std::string& yaml, const std::vector<std::string>& sets = {}) {
  auto r = parse(yaml, sets);
  if (!r.spec) {
    std::string all;
    for (auto& d : r.errors) all += d.format() + "\n";
    FAIL("unexpected errors:\n" << all);
  }
  return std::move(*r.spec);
}

// The first diagnostic of a config that must not parse.
Diagnostic first_error(const std::string& yaml, const std::vector<std::string>& sets = {}) {
  auto r = parse(yaml, sets);
  REQUIRE_FALSE(r.spec);
  REQUIRE_FALSE(r.errors.empty());
  return r.errors.front();
}

const std::string kSweep =
    "sweep: {name: cmd, output: out/cmd.h5}\n"
    "grid:\n"
    "  lr: [0.001, 0.01]\n"
    "  seed: {replicates: 2}\n"
    "task:\n"
    "  kind: command\n"
    "  argv: [python3, train.py, --lr, \"{lr}\", --seed, \"{seed}\", --out, \"{workdir}\", \"{{literal}}\"]\n"
    "  params:\n"
    "    lr: 0.001\n"
    "    kl_weight: 0\n"
    "    use_kl: true\n"
    "    optimizer: {default: adam, choices: [adam, sgd], doc: which optimiser}\n"
    "    width: {default: 64, min: 1, max: 4096}\n"
    "  metrics: [final_loss, {name: gate_corr, nan: allowed}]\n"
    "  curves: [loss]\n";

}  // namespace

TEST_CASE("a command config declares typed parameters, metrics and curves", "[command][spec]") {
  SweepSpec s = ok(kSweep);
  REQUIRE(s.kind != nullptr);
  CHECK(s.kind->name == "command");
  CHECK(s.kind->declared_by_config);
  REQUIRE(s.kind->settings.size() == 5);
  CHECK(s.kind->settings[0].name == "lr");
  CHECK(s.kind->settings[0].type == ValueType::kNumber);
  CHECK(s.kind->settings[1].type == ValueType::kInteger);  // kl_weight: 0 is written as an integer
  CHECK(s.kind->settings[2].type == ValueType::kBool);
  CHECK(s.kind->settings[3].type == ValueType::kString);
  CHECK(s.kind->settings[3].choices == std::vector<std::string>{"adam", "sgd"});
  CHECK(s.kind->settings[4].max == 4096);
  REQUIRE(s.kind->metrics.size() == 2);
  CHECK_FALSE(s.kind->metrics[0].nan_allowed);
  CHECK(s.kind->metrics[1].nan_allowed);
  CHECK(s.kind->curves == std::vector<std::string>{"loss"});
  CHECK(s.argv.size() == 9);
}

TEST_CASE("argv renders each point's values as the results file records them", "[command][spec]") {
  SweepSpec s = ok(kSweep);
  Grid g(s);
  REQUIRE(g.size() == 4);
  // lr is the slower axis: index 3 = (lr 0.01, seed 1).
  Point p = g.at(3);
  PlaceholderValues v{point_id_hex(p.id), "/w/a2", 2, "seed"};
  auto argv = render_argv(s.argv, p, v);
  CHECK(argv == std::vector<std::string>{"python3", "train.py", "--lr", "0.01", "--seed", "1", "--out",
                                         "/w/a2", "{literal}"});
  // Built-ins and every parameter type.
  std::vector<std::string> t = {"{point_id}:{attempt}:{replicate}", "{kl_weight}{use_kl}{optimizer}"};
  auto r = render_argv(t, p, v);
  CHECK(r[0] == point_id_hex(p.id) + ":2:1");
  CHECK(r[1] == "0trueadam");
  CHECK(point_id_hex(p.id).size() == 16);
  // plan shows the command of the first point.
  auto cmd = command_of(s, g, 0);
  CHECK(cmd[3] == "0.001");
  CHECK(cmd[7].ends_with("out/cmd.h5.runs/" + point_id_hex(g.id_at(0)) + "/a1"));
  CHECK(plan_text(s, g, 2).find("command (first point") != std::string::npos);
}

TEST_CASE("the resolved config of a command sweep parses back to the same sweep", "[command][spec]") {
  SweepSpec s = ok(kSweep, {"task.kl_weight=10", "run.timeout=30"});
  SweepSpec back = ok(s.resolved_yaml());
  CHECK(back.hash() == s.hash());
  CHECK(back.base_hash() == s.base_hash());
  CHECK(back.argv == s.argv);
  REQUIRE(back.kind->settings.size() == s.kind->settings.size());
  for (std::size_t i = 0; i < s.kind->settings.size(); ++i) {
    CHECK(back.kind->settings[i].type == s.kind->settings[i].type);
    CHECK(back.kind->settings[i].default_value == s.kind->settings[i].default_value);
    CHECK(back.task.values[i] == s.task.values[i]);
  }
  CHECK(back.task.get("kl_weight").as_int() == 10);
  CHECK(back.run.timeout == 30);
  // Point ids do not depend on how the config was written.
  CHECK(Grid(back).id_at(3) == Grid(s).id_at(3));
}

TEST_CASE("the program, its parameters and metrics are part of the sweep's identity", "[command][spec]") {
  const std::string h = ok(kSweep).hash();
  auto with = [&](const std::string& from, const std::string& to) {
    std::string y = kSweep;
    y.replace(y.find(from), from.size(), to);
    return ok(y).hash();
  };
  CHECK(with("train.py", "train2.py") != h);
  CHECK(with("final_loss", "last_loss") != h);
  CHECK(with("curves: [loss]", "curves: [loss, kl]") != h);
  CHECK(with("kl_weight: 0", "kl_weight: 1") != h);
  // run: settings are not.
  CHECK(ok(kSweep, {"run.timeout=5", "run.keep_workdirs=always"}).hash() == h);
}

TEST_CASE("mistakes in a command config are located errors", "[command][spec]") {
  auto replace = [&](const std::string& from, const std::string& to) {
    std::string y = kSweep;
    y.replace(y.find(from), from.size(), to);
    return y;
  };
  SECTION("an axis that is not a declared parameter") {
    Diagnostic d = first_error(replace("  lr: [0.001, 0.01]", "  lrr: [0.001, 0.01]"));
    CHECK(d.line == 3);
    CHECK(d.key == "grid.lrr");
    CHECK(d.hint.find("lr") != std::string::npos);
  }
  SECTION("--set of an undeclared parameter") {
    Diagnostic d = first_error(kSweep, {"task.momentum=0.9"});
    CHECK(d.key == "task.momentum");
    CHECK(d.source.find("--set task.momentum=0.9") != std::string::npos);
  }
  SECTION("an unknown placeholder, with a did-you-mean") {
    Diagnostic d = first_error(replace("\"{lr}\"", "\"{lrate}\""));
    CHECK(d.line == 7);
    CHECK(d.key == "task.argv[3]");
    CHECK(d.message.find("unknown placeholder {lrate}") != std::string::npos);
    CHECK(d.hint.find("lr") != std::string::npos);
  }
  SECTION("an unclosed brace") {
    Diagnostic d = first_error(replace("\"{lr}\"", "\"{lr\""));
    CHECK(d.key == "task.argv[3]");
    CHECK(d.message.find("without its '}'") != std::string::npos);
  }
  SECTION("a long-form parameter without a default (once an uncaught YAML exception)") {
    Diagnostic d = first_error(replace("width: {default: 64, min: 1, max: 4096}", "width: {min: 1, max: 4096}"));
    CHECK(d.line == 13);
    CHECK(d.key == "task.params.width");
    CHECK(d.message == "expected a default value");
  }
  SECTION("no metrics") {
    Diagnostic d = first_error(replace("  metrics: [final_loss, {name: gate_corr, nan: allowed}]\n", ""));
    CHECK(d.key == "task.metrics");
  }
  SECTION("a metric named like a column of every results file") {
    Diagnostic d = first_error(replace("final_loss", "seconds"));
    CHECK(d.key == "task.metrics[0]");
  }
  SECTION("a value outside a parameter's range or choices") {
    CHECK(first_error(kSweep, {"task.width=0"}).key == "task.width");
    CHECK(first_error(kSweep, {"task.optimizer=adamw"}).hint.find("adam") != std::string::npos);
    CHECK(first_error(replace("lr: [0.001, 0.01]", "optimizer: [adam, rmsprop]")).key == "grid.optimizer[1]");
  }
  SECTION("an integer parameter given a fraction") {
    Diagnostic d = first_error(replace("  lr: [0.001, 0.01]", "  kl_weight: [0, 0.5]"));
    CHECK(d.key.starts_with("grid.kl_weight"));
  }
  SECTION("a reserved parameter name") {
    Diagnostic d = first_error(replace("    lr: 0.001\n", "    lr: 0.001\n    workdir: x\n"));
    CHECK(d.key == "task.params.workdir");
  }
  SECTION("an unknown run key") {
    Diagnostic d = first_error(kSweep + "run: {timeuot: 5}\n");
    CHECK(d.key == "run.timeuot");
    CHECK(d.hint.find("timeout") != std::string::npos);
  }
  SECTION("argv is not a list") {
    CHECK(first_error(replace("argv: [", "argv: x #[")).key == "task.argv");
  }
}
