#include "sweep/core/task.h"

#include <algorithm>
#include <stdexcept>

namespace emsweep {

const Value& Settings::get(const std::string& name) const {
  if (schema != nullptr) {
    for (std::size_t i = 0; i < schema->size(); ++i) {
      if ((*schema)[i].name == name) return values.at(i);
    }
  }
  throw std::out_of_range("no task setting named '" + name + "'");
}

int TaskKindInfo::setting_index(const std::string& name) const {
  for (std::size_t i = 0; i < settings.size(); ++i) {
    if (settings[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

void TaskRegistry::add(TaskKindInfo info) {
  for (auto& k : kinds_) {
    if (k->name == info.name) {
      *k = std::move(info);
      return;
    }
  }
  kinds_.push_back(std::make_unique<TaskKindInfo>(std::move(info)));
}

const TaskKindInfo* TaskRegistry::find(const std::string& name) const {
  for (const auto& k : kinds_) {
    if (k->name == name) return k.get();
  }
  if (!loader_ || name.empty() || std::find(tried_.begin(), tried_.end(), name) != tried_.end()) {
    return nullptr;
  }
  tried_.push_back(name);
  loader_(const_cast<TaskRegistry&>(*this), name);  // see tried_
  for (const auto& k : kinds_) {
    if (k->name == name) return k.get();
  }
  return nullptr;
}

std::vector<PointOutcome> Task::run_many(const std::vector<Point>& points, const TaskContext& ctx) {
  std::vector<PointOutcome> out(points.size());
  for (std::size_t i = 0; i < points.size(); ++i) {
    try {
      out[i].result = run(points[i], ctx);
    } catch (...) {
      out[i].error = std::current_exception();
    }
  }
  return out;
}

std::vector<std::string> TaskRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& k : kinds_) out.push_back(k->name);
  return out;
}

}  // namespace emsweep
