#include "sweep/core/error.h"

namespace emsweep {

Error::Error(const std::string& message, std::string hint, ExitCode code)
    : std::runtime_error(message), hint_(std::move(hint)), code_(code) {}

ConfigError::ConfigError(const std::string& message, std::string hint)
    : Error(message, std::move(hint), ExitCode::kBadInput) {}

StoreError::StoreError(const std::string& message, std::string hint)
    : Error(message, std::move(hint), ExitCode::kStore) {}

TaskError::TaskError(const std::string& message, std::string hint)
    : Error(message, std::move(hint), ExitCode::kInternal) {}

EnvironmentError::EnvironmentError(const std::string& message, std::string hint)
    : Error(message, std::move(hint), ExitCode::kEnvironment) {}

std::string describe(const Error& e) {
  std::string out = e.what();
  if (!e.hint().empty()) out += "\n  hint: " + e.hint();
  return out;
}

}  // namespace emsweep
