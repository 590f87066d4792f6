// Task kind `organism`, runnable: creates the LibTorch task that fine-tunes and evaluates one
// grid point. This header is torch-free; the code lives in organism.cpp.
#pragma once

#include <memory>

#include "sweep/core/task.h"

namespace emsweep {

// A new organism task (one per worker; it keeps no state between points).
[[nodiscard]] std::unique_ptr<Task> make_organism_task();

}  // namespace emsweep
