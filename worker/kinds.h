// Registration of the task kinds this project ships: `probe` (the engine's stand-in
// workload), `organism` (the emergent-misalignment model organism) and `command` (any program).
#pragma once

#include "sweep/core/task.h"

namespace emsweep {

// Adds every kind's declaration (settings, metrics, curves, estimates) without its code;
// enough for plan, status and analysis. Pulls in no LibTorch.
void register_declared_kinds(TaskRegistry& registry);

// Adds every kind with code that can run it (links LibTorch for `organism`).
void register_runnable_kinds(TaskRegistry& registry);

}  // namespace emsweep
