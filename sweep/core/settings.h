// Builders for a task kind's settings (SettingSpec), one per value type; the built-in kinds and
// plugins declare their settings with them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sweep/core/task.h"

namespace emsweep {

// A real-valued setting in [min, max] (either bound optional; min_exclusive: value > min).
[[nodiscard]] SettingSpec number_setting(std::string name, double def, std::optional<double> min,
                                         std::optional<double> max, std::string doc,
                                         bool min_exclusive = false);
// An integer setting in [min, max].
[[nodiscard]] SettingSpec integer_setting(std::string name, std::int64_t def, double min, double max,
                                          std::string doc);
// A string setting; `choices` restricts it when not empty.
[[nodiscard]] SettingSpec text_setting(std::string name, std::string def,
                                       std::vector<std::string> choices, std::string doc);
// A true/false setting.
[[nodiscard]] SettingSpec flag_setting(std::string name, bool def, std::string doc);

}  // namespace emsweep
