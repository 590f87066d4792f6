#include "sweep/core/settings.h"

namespace emsweep {

SettingSpec number_setting(std::string name, double def, std::optional<double> min,
                           std::optional<double> max, std::string doc, bool min_exclusive) {
  SettingSpec s;
  s.name = std::move(name);
  s.type = ValueType::kNumber;
  s.default_value = Value::number(def);
  s.min = min;
  s.max = max;
  s.min_exclusive = min_exclusive;
  s.doc = std::move(doc);
  return s;
}

SettingSpec integer_setting(std::string name, std::int64_t def, double min, double max, std::string doc) {
  SettingSpec s;
  s.name = std::move(name);
  s.type = ValueType::kInteger;
  s.default_value = Value::integer(def);
  s.min = min;
  s.max = max;
  s.doc = std::move(doc);
  return s;
}

SettingSpec text_setting(std::string name, std::string def, std::vector<std::string> choices,
                         std::string doc) {
  SettingSpec s;
  s.name = std::move(name);
  s.type = ValueType::kString;
  s.default_value = Value::text(std::move(def));
  s.choices = std::move(choices);
  s.doc = std::move(doc);
  return s;
}

SettingSpec flag_setting(std::string name, bool def, std::string doc) {
  SettingSpec s;
  s.name = std::move(name);
  s.type = ValueType::kBool;
  s.default_value = Value::boolean(def);
  s.doc = std::move(doc);
  return s;
}

}  // namespace emsweep
