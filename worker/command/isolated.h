// run.isolation: process — a built-in kind's points run in a supervised child process
// (`emsweep-run --run-point`), with the `command` kind's timeout, failure record and crash
// isolation: a segfault, an abort or running out of memory costs only that attempt.
#pragma once

#include <memory>
#include <string>

#include "sweep/core/task.h"

namespace emsweep {

struct SweepSpec;

// A task that runs each point of `spec`'s kind in a child `emsweep-run --run-point`; `program`
// is the emsweep-run executable.
[[nodiscard]] std::unique_ptr<Task> make_isolated_task(const SweepSpec& spec, const std::string& program);

}  // namespace emsweep
