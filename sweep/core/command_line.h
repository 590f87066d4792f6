// The command line of a `command` sweep: argv templates with {placeholders}, checked when the
// config is read and rendered for each point. Rendering is pure, so `plan` shows exactly what
// `run` will start.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "sweep/core/task.h"

namespace emsweep {

// The placeholders every command may use besides its parameters.
inline const std::vector<std::string> kBuiltinPlaceholders = {"point_id", "workdir", "attempt",
                                                              "replicate"};

// One piece of an argv template: literal text or a placeholder name.
struct TemplatePiece {
  bool placeholder = false;
  std::string text;  // the literal text, or the placeholder's name
};

// Splits `arg` into pieces; `{{` and `}}` are literal braces. Returns nullopt and sets `error`
// for an unclosed `{`, a stray `}` or an empty or malformed name.
[[nodiscard]] std::optional<std::vector<TemplatePiece>> parse_template(const std::string& arg,
                                                                      std::string* error);

// What the placeholders of one attempt stand for besides the point's settings.
struct PlaceholderValues {
  std::string point_id;          // 16 hex digits
  std::string workdir;           // the attempt's work directory
  int attempt = 1;
  std::string replicate_axis;    // name of the replicates axis ("" when none): {NAME} = replicate
};

// The point's value of placeholder `name`, written as the results file records it (shortest
// round-trip numbers, true/false); nullopt for an unknown name.
[[nodiscard]] std::optional<std::string> placeholder_value(const std::string& name, const Point& point,
                                                           const PlaceholderValues& v);

// argv with every placeholder replaced; throws std::invalid_argument for a malformed template
// or an unknown name (the config check makes both impossible for a parsed spec).
[[nodiscard]] std::vector<std::string> render_argv(const std::vector<std::string>& templates,
                                                   const Point& point, const PlaceholderValues& v);

// Where the work directories of a sweep go: workdir_root, or OUTPUT.runs; absolute.
[[nodiscard]] std::string workdirs_root(const std::string& output, const std::string& workdir_root);

// The work directory of one attempt: <workdir_root or OUTPUT.runs>/<point id>/a<attempt>,
// made absolute against the current directory.
[[nodiscard]] std::string attempt_workdir(const std::string& output, const std::string& workdir_root,
                                          const std::string& point_id_hex, int attempt);

// The point id as the CLI and the work directories print it (16 hex digits).
[[nodiscard]] std::string point_id_hex(std::uint64_t id);

// argv as one line a shell would split back into the same words (for reading, not running).
[[nodiscard]] std::string shell_quote(const std::vector<std::string>& argv);

}  // namespace emsweep
