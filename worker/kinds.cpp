#include "worker/kinds.h"

#include "worker/command/command_kind.h"
#include "worker/organism_info.h"
#include "worker/probe.h"

namespace emsweep {

void register_declared_kinds(TaskRegistry& registry) {
  registry.add(probe_kind_info());
  registry.add(organism_kind_info());
  registry.add(command_kind_info());
}

}  // namespace emsweep
