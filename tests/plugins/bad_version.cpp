// A plugin that claims another task-interface version (test_plugin: refused, naming the file).
#include "sweep/core/task.h"

extern "C" __attribute__((visibility("default"))) int emsweep_kind_plugin_interface() { return 999; }
extern "C" __attribute__((visibility("default"))) void emsweep_kind_plugin_register(emsweep::TaskRegistry*) {}
