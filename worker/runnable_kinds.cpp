// The kinds with their code linked in: every declared kind, plus the LibTorch organism (for the
// organism's tests and benchmarks; emsweep-run loads emsweep-organism.so instead).
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
