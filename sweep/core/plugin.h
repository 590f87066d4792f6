// Task kinds from shared libraries: finding kind plugins on the plugin path, loading them with
// their interface version checked, and loading a declared kind's code on first use.
#pragma once

#include <string>
#include <vector>

#include "sweep/core/task.h"

namespace emsweep {

// Where plugins are looked for, in order: each directory of EMSWEEP_PLUGIN_PATH (colon-separated),
// then lib/emsweep beside the running program's directory (build/lib/emsweep in a build tree,
// PREFIX/lib/emsweep when installed).
[[nodiscard]] std::vector<std::string> plugin_search_path();

// The file of plugin `name` (emsweep-NAME.so) on the search path, or "".
[[nodiscard]] std::string find_plugin_file(const std::string& name);

// Loads the plugin at `file`, checks the interface version it was built for and adds the kinds
// it declares to `registry` (plugin_file set, each point's provenance naming the file's digest).
// Returns their names. Throws EnvironmentError naming the file when it cannot be loaded, was
// built for another interface version, or declares a kind emsweep cannot use.
std::vector<std::string> load_plugin(const std::string& file, TaskRegistry& registry);

// Makes `registry` look for a kind it does not know as emsweep-NAME.so on the plugin path.
void use_plugin_path(TaskRegistry& registry);

// Loads every plugin on the plugin path whose kind is not registered yet (for `emsweep kinds`).
// Files of declared kinds with a plugin are skipped: their code (LibTorch) stays unloaded.
void load_all_plugins(TaskRegistry& registry);

// Gives every declared kind with a plugin (TaskKindInfo::plugin) a `make` that loads the
// plugin's code the first time a point runs, so only worker ranks ever load it.
void attach_plugin_runners(TaskRegistry& registry);

// "sha256:" and the hex digest of a file's bytes (for provenance).
[[nodiscard]] std::string file_digest(const std::string& file);

}  // namespace emsweep
