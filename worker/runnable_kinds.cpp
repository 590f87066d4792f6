// The kinds with their code: every declared kind, plus the LibTorch organism's factory.
#include "worker/kinds.h"
#include "worker/organism/organism.h"

namespace emsweep {

void register_runnable_kinds(TaskRegistry& registry) {
  register_declared_kinds(registry);
  TaskKindInfo info = *registry.find("organism");
  info.make = [] { return make_organism_task(); };
  registry.add(std::move(info));
}

}  // namespace emsweep
