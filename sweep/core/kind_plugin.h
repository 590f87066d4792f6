// What a task-kind plugin's source writes: EMSWEEP_KIND_PLUGIN(fn), where fn(TaskRegistry&) adds
// the kinds the plugin declares (settings, metrics, curves, and `make`). docs/plugins.md.
#pragma once

#include "sweep/core/task.h"

// The two C entry points emsweep looks up in a plugin (sweep/core/plugin.cpp): the interface
// version the plugin was compiled against, and the function that registers its kinds.
#define EMSWEEP_KIND_PLUGIN(register_function)                                          \
  extern "C" __attribute__((visibility("default"))) int emsweep_kind_plugin_interface() { \
    return ::emsweep::kTaskInterfaceVersion;                                            \
  }                                                                                     \
  extern "C" __attribute__((visibility("default"))) void emsweep_kind_plugin_register(  \
      ::emsweep::TaskRegistry* registry) {                                              \
    register_function(*registry);                                                       \
  }
