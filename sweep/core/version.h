// The program's version and the git commit it was built from (recorded in results files).
#pragma once

namespace emsweep {

// e.g. "0.1.0".
[[nodiscard]] const char* version();
// Short git commit of the source tree at configure time, or "unknown".
[[nodiscard]] const char* git_commit();

}  // namespace emsweep
