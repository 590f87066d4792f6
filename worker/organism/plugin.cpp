// emsweep-organism.so: the model organism's LibTorch code as a task-kind plugin. emsweep and
// rank 0 know the kind from its declaration (worker/organism_info.cpp) and never load this file;
// a worker rank loads it when it first runs an organism point (sweep/core/plugin.h).
#include "sweep/core/kind_plugin.h"
#include "worker/organism/organism.h"
#include "worker/organism_info.h"

namespace {

void register_organism(emsweep::TaskRegistry& registry) {
  emsweep::TaskKindInfo info = emsweep::organism_kind_info();
  info.plugin.clear();  // this is the plugin
  info.make = [] { return emsweep::make_organism_task(); };
  registry.add(std::move(info));
}

}  // namespace

EMSWEEP_KIND_PLUGIN(register_organism)
