// Declaration of task kind `organism` (settings, metrics, curves, cost) without LibTorch,
// so that plan, status and analysis know the kind without loading the worker.
#pragma once

#include "sweep/core/task.h"

namespace emsweep {

// The declaration of `organism`; `make` is left empty (see register_runnable_kinds).
[[nodiscard]] TaskKindInfo organism_kind_info();

// Its standard report sections and curve figures' defaults (worker/organism_report.cpp).
[[nodiscard]] KindReport organism_report();

}  // namespace emsweep
