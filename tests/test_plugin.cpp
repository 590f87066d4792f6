// Task-kind plugins (sweep/core/plugin.h): a plugin found by its kind's name on the plugin path
// parses, plans and runs like a built-in kind, names its file's digest in provenance, and every
// way a plugin can be wrong is refused with a message naming the file. The plugins are built in
// build/tests/plugins/ from tests/plugins/.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "sweep/core/error.h"
#include "sweep/core/grid.h"
#include "sweep/core/plugin.h"
#include "sweep/core/spec.h"
#include "worker/kinds.h"

using namespace emsweep;

namespace {

const std::string kPluginDir = std::string(EMSWEEP_BINARY_DIR) + "/tests/plugins";

std::string plugin(const std::string& kind) { return kPluginDir + "/emsweep-" + kind + ".so"; }

// A registry of the built-in kinds that looks for plugins in the test plugins' directory.
TaskRegistry registry_with_plugin_path() {
  ::setenv("EMSWEEP_PLUGIN_PATH", ("/nonexistent:" + kPluginDir).c_str(), 1);
  TaskRegistry r;
  register_declared_kinds(r);
  use_plugin_path(r);
  return r;
}

std::string load_error(const std::string& file) {
  TaskRegistry r;
  try {
    load_plugin(file, r);
  } catch (const EnvironmentError& e) {
    CHECK(e.exit_code() == ExitCode::kEnvironment);
    return e.what();
  }
  FAIL("loading " << file << " did not fail");
  return "";
}

}  // namespace

TEST_CASE("a plugin kind named by a config is found on the plugin path and runs", "[plugin]") {
  TaskRegistry r = registry_with_plugin_path();
  REQUIRE(find_plugin_file("twice") == plugin("twice"));
  ParseResult parsed = parse_spec("sweep: {name: p}\ngrid: {x: [1, 2.5]}\ntask: {kind: twice}\n",
                                  "p.yaml", {}, r);
  REQUIRE(parsed.spec);
  const SweepSpec& spec = *parsed.spec;
  CHECK(spec.kind->name == "twice");
  CHECK(spec.kind->plugin_file == plugin("twice"));
  Grid grid(spec);
  REQUIRE(grid.size() == 2);

  auto task = spec.kind->make();
  Point p = grid.at(1);
  TaskContext ctx;
  TaskResult res = task->run(p, ctx);
  REQUIRE(res.metrics.size() == 1);
  CHECK(res.metrics[0] == 5.0);
  // The plugin's own provenance, then the file and the digest of its bytes.
  CHECK(res.provenance == "twice; plugin=emsweep-twice.so " + file_digest(plugin("twice")));
  CHECK(file_digest(plugin("twice")).size() == 7 + 64);

  // A failure inside the plugin crosses into the host as the same exception type.
  Point negative = p;
  negative.settings.values[0] = Value::number(-1);
  CHECK_THROWS_AS(task->run(negative, ctx), TaskFailed);
}

TEST_CASE("a kind found nowhere stays unknown, with the config error naming it", "[plugin]") {
  TaskRegistry r = registry_with_plugin_path();
  ParseResult parsed = parse_spec("sweep: {name: p}\ngrid: {x: [1]}\ntask: {kind: thrice}\n", "p.yaml", {}, r);
  REQUIRE_FALSE(parsed.spec);
  REQUIRE_FALSE(parsed.errors.empty());
  CHECK_THAT(parsed.errors[0].format(), Catch::Contains("thrice"));
}

TEST_CASE("a plugin that cannot be used is refused with a message naming its file", "[plugin]") {
  CHECK_THAT(load_error(plugin("bad_version")),
             Catch::Contains(plugin("bad_version")) && Catch::Contains("interface version 999"));
  CHECK_THAT(load_error(plugin("no_entry")),
             Catch::Contains(plugin("no_entry")) && Catch::Contains("not an emsweep plugin"));
  CHECK_THAT(load_error(plugin("bad_declaration")),
             Catch::Contains(plugin("bad_declaration")) && Catch::Contains("declares metric 'f' twice"));
  CHECK_THAT(load_error(kPluginDir + "/missing.so"), Catch::Contains("cannot load task-kind plugin"));

  // Named for one kind, declaring another: refused when a config asks for it by name.
  TaskRegistry r = registry_with_plugin_path();
  try {
    (void)r.find("wrong_name");
    FAIL("emsweep-wrong_name.so was accepted");
  } catch (const EnvironmentError& e) {
    CHECK_THAT(std::string(e.what()), Catch::Contains("declares other"));
  }
}

TEST_CASE("a plugin may not replace a built-in kind", "[plugin]") {
  // The good plugin loaded into a registry that already has a built-in `twice`.
  TaskRegistry r;
  TaskKindInfo builtin;
  builtin.name = "twice";
  builtin.metrics = {{"f", "", false}};
  r.add(builtin);
  try {
    load_plugin(plugin("twice"), r);
    FAIL("a plugin replaced a built-in kind");
  } catch (const EnvironmentError& e) {
    CHECK_THAT(std::string(e.what()), Catch::Contains("already has built in"));
  }
}

TEST_CASE("kinds lists plugins on the path but never loads a declared kind's code", "[plugin]") {
  TaskRegistry r = registry_with_plugin_path();
  ::setenv("EMSWEEP_PLUGIN_PATH", (kPluginDir + "/good-only").c_str(), 1);
  std::filesystem::create_directories(kPluginDir + "/good-only");
  std::filesystem::copy_file(plugin("twice"), kPluginDir + "/good-only/emsweep-twice.so",
                             std::filesystem::copy_options::overwrite_existing);
  load_all_plugins(r);
  REQUIRE(r.find("twice") != nullptr);
  CHECK(r.find("twice")->plugin_file == kPluginDir + "/good-only/emsweep-twice.so");
  // The organism is declared with a plugin: its declaration stays code-free.
  const TaskKindInfo* organism = r.find("organism");
  REQUIRE(organism != nullptr);
  CHECK(organism->plugin == "organism");
  CHECK_FALSE(organism->make);
}

TEST_CASE("a declared kind's code is loaded on first use, with a clear error when missing", "[plugin]") {
  ::setenv("EMSWEEP_PLUGIN_PATH", "/nonexistent", 1);
  TaskRegistry r;
  TaskKindInfo declared;
  declared.name = "elsewhere";
  declared.plugin = "elsewhere";
  declared.metrics = {{"f", "", false}};
  r.add(declared);
  attach_plugin_runners(r);
  REQUIRE(r.find("elsewhere")->make);
  try {
    (void)r.find("elsewhere")->make();
    FAIL("a kind without its plugin made a task");
  } catch (const EnvironmentError& e) {
    CHECK_THAT(std::string(e.what()), Catch::Contains("emsweep-elsewhere.so") && Catch::Contains("/nonexistent"));
  }
}

TEST_CASE("run_many runs a batch point by point and keeps each failure with its point", "[plugin]") {
  TaskRegistry r = registry_with_plugin_path();
  const TaskKindInfo* k = r.find("twice");
  REQUIRE(k != nullptr);
  ParseResult parsed = parse_spec("sweep: {name: p}\ngrid: {x: [1, -1, 3]}\ntask: {kind: twice}\n", "p.yaml", {}, r);
  REQUIRE(parsed.spec);
  Grid grid(*parsed.spec);
  std::vector<Point> points;
  for (std::uint64_t i = 0; i < grid.size(); ++i) points.push_back(grid.at(i));
  auto task = k->make();
  auto outcomes = task->run_many(points, TaskContext{});
  REQUIRE(outcomes.size() == 3);
  CHECK(outcomes[0].result->metrics[0] == 2.0);
  CHECK_FALSE(outcomes[1].result);
  CHECK_THROWS_AS(std::rethrow_exception(outcomes[1].error), TaskFailed);
  CHECK(outcomes[2].result->metrics[0] == 6.0);
  // Through the plugin wrapper, a batch's results name the plugin as single runs do.
  CHECK(outcomes[0].result->provenance == "twice; plugin=emsweep-twice.so " + file_digest(plugin("twice")));
}

TEST_CASE("a plugin's report sections arrive with its kind; names are checked", "[plugin]") {
  TaskRegistry r = registry_with_plugin_path();
  const TaskKindInfo* twice = r.find("twice");
  REQUIRE(twice != nullptr);
  REQUIRE(twice->report.sections.size() == 1);
  CHECK(twice->report.sections[0].title == "Does twice double?");
  CHECK(report_problem(*twice).empty());
  // The organism's declaration names only its own metrics, curves and settings.
  CHECK(report_problem(*r.find("organism")).empty());
  TaskKindInfo bad = *twice;
  bad.report.sections[0].cases[0].figures[0].name = "g";
  CHECK(report_problem(bad) ==
        "kind 'twice': report section 'Does twice double?' names metric 'g', which the kind "
        "does not declare");
  bad = *twice;
  bad.report.main_axes = {"y"};
  CHECK(report_problem(bad) ==
        "kind 'twice': the report's main_axes names axis 'y', which is not a setting of the kind");
}
