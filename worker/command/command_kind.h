// Task kind `command`: every point runs the user's own program (argv rendered from the
// config) as a supervised child process, reads its metrics from a JSON result file and its
// curves from a JSON-lines events file. The config declares its parameters, metrics and curves.
// See docs/command.md for the protocol a program follows.
#pragma once

#include "sweep/core/task.h"

namespace emsweep {

// The declaration of `command` (settings, metrics and curves come from each config).
[[nodiscard]] TaskKindInfo command_kind_info();

}  // namespace emsweep
