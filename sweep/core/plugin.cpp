#include "sweep/core/plugin.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>

#include "sweep/core/error.h"
#include "sweep/core/sha256.h"

namespace emsweep {
namespace {

namespace fs = std::filesystem;

constexpr const char* kPrefix = "emsweep-";
constexpr const char* kSuffix = ".so";

using InterfaceFn = int (*)();
using RegisterFn = void (*)(TaskRegistry*);

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

bool valid_name(const std::string& n) {
  if (n.empty() || !(n[0] >= 'a' && n[0] <= 'z')) return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

// Why a kind a plugin declares cannot be used, or "" when it can.
std::string declaration_problem(const TaskKindInfo& k) {
  if (!valid_name(k.name)) return "kind name '" + k.name + "' is not lower_case_with_digits";
  if (!k.make && !k.make_for_sweep) return "kind '" + k.name + "' has no code (make is empty)";
  if (k.metrics.empty()) return "kind '" + k.name + "' declares no metrics";
  std::set<std::string> seen;
  for (const auto& s : k.settings) {
    if (!valid_name(s.name)) return "kind '" + k.name + "': setting name '" + s.name + "' is not valid";
    if (!seen.insert(s.name).second) return "kind '" + k.name + "' declares setting '" + s.name + "' twice";
    if (s.default_value.type() != s.type) {
      return "kind '" + k.name + "': the default of setting '" + s.name + "' is not " + type_phrase(s.type);
    }
  }
  seen.clear();
  for (const auto& m : k.metrics) {
    if (!valid_name(m.name)) return "kind '" + k.name + "': metric name '" + m.name + "' is not valid";
    if (!seen.insert(m.name).second) return "kind '" + k.name + "' declares metric '" + m.name + "' twice";
  }
  seen.clear();
  for (const auto& c : k.curves) {
    if (!valid_name(c)) return "kind '" + k.name + "': curve name '" + c + "' is not valid";
    if (!seen.insert(c).second) return "kind '" + k.name + "' declares curve '" + c + "' twice";
  }
  return report_problem(k);
}

// Runs a plugin's task and names the plugin file (and its digest) in each point's provenance.
class PluginTask : public Task {
 public:
  PluginTask(std::unique_ptr<Task> inner, std::string tag) : inner_(std::move(inner)), tag_(std::move(tag)) {}
  TaskResult run(const Point& point, const TaskContext& ctx) override {
    TaskResult r = inner_->run(point, ctx);
    tag(r);
    return r;
  }
  // Forwarded, so that a plugin that packs points keeps doing so.
  std::vector<PointOutcome> run_many(const std::vector<Point>& points, const TaskContext& ctx) override {
    std::vector<PointOutcome> out = inner_->run_many(points, ctx);
    for (auto& o : out) {
      if (o.result) tag(*o.result);
    }
    return out;
  }

 private:
  void tag(TaskResult& r) const { r.provenance += (r.provenance.empty() ? "" : "; ") + tag_; }

  std::unique_ptr<Task> inner_;
  std::string tag_;
};

// Opened plugins stay loaded for the life of the process: the kinds' functions live in them.
struct OpenPlugins {
  std::mutex mu;
  std::map<std::string, std::unique_ptr<TaskRegistry>> runners;  // plugin name -> its kinds
};

OpenPlugins& open_plugins() {
  static OpenPlugins p;
  return p;
}

fs::path own_directory() {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : self.parent_path();
}

}  // namespace

std::vector<std::string> plugin_search_path() {
  std::vector<std::string> dirs;
  if (const char* env = std::getenv("EMSWEEP_PLUGIN_PATH")) {
    std::stringstream in(env);
    for (std::string d; std::getline(in, d, ':');) {
      if (!d.empty()) dirs.push_back(d);
    }
  }
  if (fs::path own = own_directory(); !own.empty()) {
    dirs.push_back((own.parent_path() / "lib" / "emsweep").lexically_normal().string());
  }
  return dirs;
}

std::string find_plugin_file(const std::string& name) {
  if (!valid_name(name)) return "";
  for (const auto& dir : plugin_search_path()) {
    fs::path f = fs::path(dir) / (kPrefix + name + kSuffix);
    std::error_code ec;
    if (fs::is_regular_file(f, ec)) return f.string();
  }
  return "";
}

std::string file_digest(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return "unreadable";
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return "sha256:" + sha256_hex(bytes);
}

std::vector<std::string> load_plugin(const std::string& file, TaskRegistry& registry) {
  const std::string hint = "see docs/plugins.md: a plugin is built with find_package(emsweep) and "
                           "emsweep_add_kind(), against the emsweep that runs it";
  dlerror();
  void* handle = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    throw EnvironmentError("cannot load task-kind plugin " + file + ": " + (why ? why : "unknown error"), hint);
  }
  auto interface = reinterpret_cast<InterfaceFn>(dlsym(handle, "emsweep_kind_plugin_interface"));
  auto add_kinds = reinterpret_cast<RegisterFn>(dlsym(handle, "emsweep_kind_plugin_register"));
  if (interface == nullptr || add_kinds == nullptr) {
    throw EnvironmentError("task-kind plugin " + file + " is not an emsweep plugin (it lacks "
                           "EMSWEEP_KIND_PLUGIN's entry points)", hint);
  }
  if (int v = interface(); v != kTaskInterfaceVersion) {
    throw EnvironmentError("task-kind plugin " + file + " was built for task interface version " +
                               std::to_string(v) + "; this emsweep speaks version " +
                               std::to_string(kTaskInterfaceVersion),
                           "rebuild the plugin against this emsweep (find_package(emsweep))");
  }
  TaskRegistry declared;
  try {
    add_kinds(&declared);
  } catch (const std::exception& e) {
    throw EnvironmentError("task-kind plugin " + file + " failed while registering its kinds: " + e.what(), hint);
  }
  if (declared.names().empty()) throw EnvironmentError("task-kind plugin " + file + " declares no task kind", hint);
  const std::string tag = "plugin=" + fs::path(file).filename().string() + " " + file_digest(file);
  std::vector<std::string> added;
  for (const auto& name : declared.names()) {
    TaskKindInfo k = *declared.find(name);
    if (std::string why = declaration_problem(k); !why.empty()) {
      throw EnvironmentError("task-kind plugin " + file + ": " + why, hint);
    }
    const std::vector<std::string> known = registry.names();  // not find(): no plugin lookup
    const bool built_in = std::find(known.begin(), known.end(), name) != known.end() &&
                          registry.find(name)->plugin.empty();
    if (built_in) {
      throw EnvironmentError("task-kind plugin " + file + " declares '" + name +
                                 "', which emsweep already has built in",
                             "give the plugin's kind another name");
    }
    k.plugin_file = file;
    if (k.make) {
      k.make = [make = k.make, tag] { return std::make_unique<PluginTask>(make(), tag); };
    }
    registry.add(std::move(k));
    added.push_back(name);
  }
  return added;
}

void use_plugin_path(TaskRegistry& registry) {
  registry.set_loader([](TaskRegistry& r, const std::string& name) {
    std::string file = find_plugin_file(name);
    if (file.empty()) return;
    auto names = load_plugin(file, r);
    if (std::find(names.begin(), names.end(), name) == names.end()) {
      throw EnvironmentError("task-kind plugin " + file + " is named for kind '" + name +
                                 "' but declares " + joined(names),
                             "name the file emsweep-KIND.so after the kind it declares");
    }
  });
}

void load_all_plugins(TaskRegistry& registry) {
  std::set<std::string> runners;  // plugins of declared kinds: not loaded here
  for (const auto& n : registry.names()) {
    if (const auto* k = registry.find(n); !k->plugin.empty()) runners.insert(k->plugin);
  }
  for (const auto& dir : plugin_search_path()) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      const std::string f = entry.path().filename().string();
      if (f.rfind(kPrefix, 0) != 0 || f.size() <= std::string(kPrefix).size() + 3 ||
          f.substr(f.size() - 3) != kSuffix) {
        continue;
      }
      const std::string name = f.substr(std::string(kPrefix).size(), f.size() - std::string(kPrefix).size() - 3);
      if (runners.count(name)) continue;
      (void)registry.find(name);  // a kind not registered yet is loaded through the loader
    }
  }
}

void attach_plugin_runners(TaskRegistry& registry) {
  for (const auto& n : registry.names()) {
    TaskKindInfo k = *registry.find(n);
    if (k.plugin.empty() || k.make || k.make_for_sweep) continue;
    k.make = [kind = k.name, plugin = k.plugin]() -> std::unique_ptr<Task> {
      OpenPlugins& open = open_plugins();
      std::lock_guard<std::mutex> lock(open.mu);
      auto& runner = open.runners[plugin];
      if (!runner) {
        const std::string file = find_plugin_file(plugin);
        if (file.empty()) {
          throw EnvironmentError("task kind '" + kind + "' runs in the plugin " + kPrefix + plugin + kSuffix +
                                     ", which is not in: " + joined(plugin_search_path()),
                                 "build emsweep with LibTorch (cmake -DEMSWEEP_WITH_TORCH=ON) or point "
                                 "EMSWEEP_PLUGIN_PATH at the directory that holds it");
        }
        auto loaded = std::make_unique<TaskRegistry>();
        load_plugin(file, *loaded);
        runner = std::move(loaded);
      }
      const TaskKindInfo* code = runner->find(kind);
      if (code == nullptr || !code->make) {
        throw EnvironmentError("the plugin for task kind '" + kind + "' does not declare it");
      }
      return code->make();
    };
    registry.add(std::move(k));
  }
}

}  // namespace emsweep
