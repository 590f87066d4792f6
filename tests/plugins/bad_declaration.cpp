// A plugin whose kind declares the metric `f` twice (test_plugin: refused, naming the file).
#include <memory>

#include "sweep/core/kind_plugin.h"

namespace {

class Nothing : public emsweep::Task {
 public:
  emsweep::TaskResult run(const emsweep::Point&, const emsweep::TaskContext&) override { return {}; }
};

void register_bad(emsweep::TaskRegistry& registry) {
  emsweep::TaskKindInfo k;
  k.name = "bad_declaration";
  k.metrics = {{"f", "", false}, {"f", "", false}};
  k.make = [] { return std::make_unique<Nothing>(); };
  registry.add(std::move(k));
}

}  // namespace

EMSWEEP_KIND_PLUGIN(register_bad)
