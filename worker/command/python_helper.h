// The Python helper module `emsweep_child` (worker/command/python/emsweep_child.py), compiled
// into emsweep and written out at run time into a directory that `command` children get on
// their PYTHONPATH, so that it needs no installation and matches the binary that runs them.
#pragma once

#include <string>
#include <string_view>

namespace emsweep::command {

// The module's file name, "emsweep_child.py".
inline constexpr std::string_view kPythonHelperFile = "emsweep_child.py";

// The module's source text, as it was when this binary was built.
extern const std::string_view kPythonHelperSource;

// Writes the module into `dir` (created if missing) unless an identical copy is already there,
// atomically (a temporary file renamed into place, so concurrent callers on one node are safe),
// and returns `dir`: the directory to put first on a child's PYTHONPATH. Throws
// EnvironmentError naming the path when it cannot.
[[nodiscard]] std::string install_python_helper(const std::string& dir);

}  // namespace emsweep::command
