// One exception hierarchy for emsweep, and the exit codes the program documents.
// Every error carries a message a person can act on and, where it helps, a hint.
#pragma once

#include <stdexcept>
#include <string>

namespace emsweep {

// Process exit codes; docs/exit-codes table in README.md and docs/config.md mirror this.
enum class ExitCode : int {
  kOk = 0,           // every point done (or nothing to do)
  kInternal = 1,     // a bug or an unexpected failure inside emsweep
  kBadInput = 2,     // the config, the command line or an input file is wrong
  kInterrupted = 3,  // stopped by a signal; run the same command again to resume
  kPointsFailed = 4, // the sweep finished but some points failed (see `emsweep status`)
  kStore = 5,        // the results file cannot be used (foreign, corrupt, exists, disk full)
  kEnvironment = 6,  // MPI, LibTorch or the machine cannot do what was asked
};

// Base of every emsweep error: message plus an optional hint on what to do.
class Error : public std::runtime_error {
 public:
  Error(const std::string& message, std::string hint = {},
        ExitCode code = ExitCode::kInternal);
  // What to do about it, or empty.
  [[nodiscard]] const std::string& hint() const { return hint_; }
  // The process exit status this error maps to.
  [[nodiscard]] ExitCode exit_code() const { return code_; }

 private:
  std::string hint_;
  ExitCode code_;
};

// The config or the command line is wrong.
class ConfigError : public Error {
 public:
  explicit ConfigError(const std::string& message, std::string hint = {});
};

// The results file or its journal cannot be used.
class StoreError : public Error {
 public:
  explicit StoreError(const std::string& message, std::string hint = {});
};

// A task failed for one point; the coordinator decides what happens next.
class TaskError : public Error {
 public:
  explicit TaskError(const std::string& message, std::string hint = {});
};

// The environment (MPI, devices, files outside the store) cannot do what was asked.
class EnvironmentError : public Error {
 public:
  explicit EnvironmentError(const std::string& message, std::string hint = {});
};

// "message\n  hint: ..." for printing to a terminal.
[[nodiscard]] std::string describe(const Error& e);

}  // namespace emsweep
