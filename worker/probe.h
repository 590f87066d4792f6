// Task kind `probe`: a deterministic, cheap function of a point's settings, with an optional
// sleep and settings that make chosen points throw, return NaN, abort or crash the process.
// It is the workload for engine tests and dispatch benchmarks, and nothing else.
#pragma once

#include <memory>

#include "sweep/core/task.h"

namespace emsweep {

// The declaration of `probe` (with `make` set: it needs no heavy libraries).
[[nodiscard]] TaskKindInfo probe_kind_info();

}  // namespace emsweep
