// Test helpers shared by the unit tests that parse configs: the registry of declared kinds and
// parse/ok over it (ok fails the test with every diagnostic when the config does not parse).
#pragma once

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "sweep/core/spec.h"
#include "worker/kinds.h"

namespace emsweep::testing {

inline const TaskRegistry& registry() {
  static TaskRegistry r = [] {
    TaskRegistry out;
    register_declared_kinds(out);
    return out;
  }();
  return r;
}

inline ParseResult parse(const std::string& yaml, const std::vector<std::string>& sets = {},
                         const std::string& source = "test.yaml") {
  return parse_spec(yaml, source, sets, registry());
}

inline SweepSpec ok(const std::string& yaml, const std::vector<std::string>& sets = {},
                    const std::string& source = "test.yaml") {
  auto r = parse(yaml, sets, source);
  if (!r.spec) {
    std::string all;
    for (auto& d : r.errors) all += d.format() + "\n";
    FAIL("unexpected errors:\n" << all);
  }
  return std::move(*r.spec);
}

}  // namespace emsweep::testing
