// emsweep-wrong_name.so declaring the kind `other` (test_plugin: a file must be named for its kind).
#include <memory>

#include "sweep/core/kind_plugin.h"

namespace {

class Nothing : public emsweep::Task {
 public:
  emsweep::TaskResult run(const emsweep::Point&, const emsweep::TaskContext&) override { return {}; }
};

void register_other(emsweep::TaskRegistry& registry) {
  emsweep::TaskKindInfo k;
  k.name = "other";
  k.metrics = {{"f", "", false}};
  k.make = [] { return std::make_unique<Nothing>(); };
  registry.add(std::move(k));
}

}  // namespace

EMSWEEP_KIND_PLUGIN(register_other)
