// The sweep spec: one YAML file (plus --set overrides) parsed and validated into plain
// structs. Parsing never throws on bad input: it returns every problem found, each with
// file:line:column, the key path, what was expected and, for unknown keys, a did-you-mean.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sweep/core/sample.h"
#include "sweep/core/search.h"
#include "sweep/core/task.h"
#include "sweep/core/value.h"

namespace emsweep {

// One problem in a config, located precisely.
struct Diagnostic {
  std::string source;   // file name, or "--set task.steps=x" for an override
  int line = 0;         // 1-based; 0 when unknown
  int column = 0;       // 1-based; 0 when unknown
  std::string key;      // key path, e.g. "grid.kl_weight"
  std::string message;  // what is wrong and what was expected
  std::string hint;     // what to do (may be empty)

  // "file:line:col: key: message" plus an indented hint line.
  [[nodiscard]] std::string format() const;
};

// One grid axis: a task setting (or the replicate counter) and its values.
struct Axis {
  std::string name;           // setting name, or the replicate axis' name (usually "seed")
  std::vector<Value> values;  // canonicalised, distinct
  bool is_replicate = false;  // true for `{replicates: n}`: values are 0..n-1
  // True for a setting of `sample:`: one value per sample point (values may repeat), and the
  // sampled axes vary together as one dimension of the grid.
  bool is_sampled = false;
  // True for the setting of `search:`: its values are the search lattice, and it is the last
  // axis, so that the grid is (cells of the other axes) x lattice.
  bool is_searched = false;
  std::string form;  // how it was written: list, linspace, logspace, range, replicates, sample
};

// A partial point to leave out: every listed axis must match for a point to be excluded.
struct Exclusion {
  std::vector<std::pair<std::string, Value>> match;
};

// How the sweep runs; see docs/config.md for each default.
struct RunPolicy {
  int max_retries = 2;         // attempts beyond the first before a point is recorded failed
  bool fail_fast = false;      // stop the whole sweep at the first failed point
  double grace_seconds = 60;   // after a stop signal, time for points in flight to finish [s]
  double log_seconds = 30;     // interval of progress log lines when not on a terminal [s]
  double flush_seconds = 5;    // the results file is flushed at least this often [s]
  int batch = 0;               // points per message; 0 = adapt to task duration
  std::string cache_dir;       // shared cache (e.g. base models); "" = next to the output
  // Children (the `command` kind):
  double timeout = 0;          // wall-time limit of one attempt [s]; 0 = none
  double kill_grace = 10;      // SIGTERM to a child's process group, SIGKILL this much later [s]
  int gpus_per_point = 0;      // devices each running point gets (CUDA_VISIBLE_DEVICES)
  int cpus_per_point = 1;      // cores (and threads) each running point gets
  std::string keep_workdirs = "failed";  // always | failed | never
  std::string workdir_root;    // parent of the work directories; "" = <output>.runs
  std::string isolation = "none";  // none | process: built-in kinds' points in a child process
  // Points one worker runs in one call (Task::run_many): groups fixed by the grid (points of
  // one setup, in grid order, K at a time), so a point's pack never depends on timing.
  int pack = 1;
};

// A fully resolved, validated sweep.
struct SweepSpec {
  std::string name;             // sweep.name
  std::string output;           // sweep.output (results file path)
  std::uint64_t seed = 0;       // sweep.seed: root of every random stream
  std::vector<Axis> axes;       // grid axes in config order
  std::vector<std::vector<std::string>> zips;  // groups of axes that vary together
  std::vector<Exclusion> exclusions;
  std::optional<SampleSpec> sample;
  std::optional<SearchSpec> search;  // `search:`; its setting is the last axis (is_searched)  // `sample:`; its settings are the axes with is_sampled
  const TaskKindInfo* kind = nullptr;  // task.kind
  // The kind's declaration when the config itself declares it (`command`); `kind` points here.
  std::shared_ptr<const TaskKindInfo> own_kind;
  std::vector<std::string> argv;  // task.argv of a `command` sweep: templates with {placeholders}
  Settings task;                // every setting of the kind: fixed value or default
  RunPolicy run;
  std::string source;           // config file path as given
  std::vector<std::string> overrides;  // --set texts, in order
  // What the --set overrides moved between task: and grid: (one line each, for `plan`).
  std::vector<std::string> notes;

  // Index of axis `name`, or -1.
  [[nodiscard]] int axis_index(const std::string& name) const;
  // Canonical text of everything that defines the sweep's points (not output, not run).
  [[nodiscard]] std::string canonical() const;
  // Canonical text of a `command` kind's declaration (argv, params, metrics, curves).
  [[nodiscard]] std::string command_canonical() const;
  // SHA-256 of canonical(): identifies the sweep in its results file.
  [[nodiscard]] std::string hash() const;
  // Hash of the parts an `--extend` must keep (kind, fixed settings, seed, axis names).
  [[nodiscard]] std::string base_hash() const;
  // The resolved spec as YAML (defaults and overrides applied), for the results file.
  [[nodiscard]] std::string resolved_yaml() const;
};

// Result of parsing: a spec, or every error found.
struct ParseResult {
  std::optional<SweepSpec> spec;
  std::vector<Diagnostic> errors;
};

// Parses and validates `text` (named `source` in messages) with `--set` overrides applied.
[[nodiscard]] ParseResult parse_spec(std::string_view text, const std::string& source,
                                     const std::vector<std::string>& overrides,
                                     const TaskRegistry& registry);

// Reads `path` and parses it; throws ConfigError listing every diagnostic.
[[nodiscard]] SweepSpec load_spec(const std::string& path,
                                  const std::vector<std::string>& overrides,
                                  const TaskRegistry& registry);

// The closest of `candidates` to `word` by edit distance, or "" if none is close.
[[nodiscard]] std::string did_you_mean(const std::string& word,
                                       const std::vector<std::string>& candidates);

}  // namespace emsweep
