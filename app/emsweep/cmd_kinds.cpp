// `emsweep kinds`: every task kind with its settings (type, default, range, meaning), metrics
// and curves — as text, or as the Markdown tables of docs/config.md.
#include <fmt/format.h>

#include "app/emsweep/commands.h"
#include "sweep/core/plugin.h"

namespace emsweep::cli {
namespace {

std::string type_name(const SettingSpec& s) {
  switch (s.type) {
    case ValueType::kNumber: return "number";
    case ValueType::kInteger: return "integer";
    case ValueType::kBool: return "bool";
    case ValueType::kString: return "string";
  }
  return "?";
}

std::string range_text(const SettingSpec& s) {
  if (!s.choices.empty()) {
    std::string out;
    for (const auto& c : s.choices) out += (out.empty() ? "" : ", ") + c;
    return "one of " + out;
  }
  if (s.min && s.max) return "[" + format_double(*s.min) + ", " + format_double(*s.max) + "]";
  if (s.min) return (s.min_exclusive ? "> " : ">= ") + format_double(*s.min);
  if (s.max) return "<= " + format_double(*s.max);
  return "any";
}

}  // namespace

std::string kinds_markdown(const TaskRegistry& registry) {
  std::string out;
  for (const auto& name : registry.names()) {
    const TaskKindInfo& k = *registry.find(name);
    out += fmt::format("### Task kind `{}`\n\n{}\n\n", k.name, k.doc);
    if (k.declared_by_config) {
      out += "Settings, metrics and curves: declared by each config under `task.params`, "
             "`task.metrics` and `task.curves` (see `docs/command.md`).\n\n";
      continue;
    }
    out += "| setting | type | default | allowed | meaning |\n|---|---|---|---|---|\n";
    for (const auto& s : k.settings) {
      out += fmt::format("| `{}` | {} | `{}` | {} | {} |\n", s.name, type_name(s),
                         s.default_value.display(), range_text(s), s.doc);
    }
    out += "\n| metric | NaN allowed | meaning |\n|---|---|---|\n";
    for (const auto& m : k.metrics) {
      out += fmt::format("| `{}` | {} | {} |\n", m.name, m.nan_allowed ? "yes" : "no", m.doc);
    }
    out += "\nCurves: ";
    for (std::size_t i = 0; i < k.curves.size(); ++i) out += fmt::format("{}`{}`", i ? ", " : "", k.curves[i]);
    out += "\n\n";
  }
  return out;
}

void add_kinds_command(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("kinds", "List task kinds with their settings, metrics and curves");
  auto markdown = std::make_shared<bool>(false);
  cmd->add_flag("--markdown", *markdown, "print the Markdown tables of docs/config.md");
  cmd->callback([&ctx, markdown] {
    ctx.action = [&ctx, markdown] {
      if (*markdown) {
        fmt::print("{}", kinds_markdown(ctx.registry));
        return 0;
      }
      load_all_plugins(ctx.registry);
      for (const auto& name : ctx.registry.names()) {
        const TaskKindInfo& k = *ctx.registry.find(name);
        if (k.declared_by_config) {
          fmt::print("{}: {}\n  settings, metrics, curves: declared by the config (task.params, "
                     "task.metrics, task.curves)\n\n", k.name, k.doc);
          continue;
        }
        fmt::print("{}: {}\n", k.name, k.doc);
        if (!k.plugin_file.empty()) {
          fmt::print("  code: plugin {}\n", k.plugin_file);
        } else if (!k.plugin.empty()) {
          const std::string file = find_plugin_file(k.plugin);
          fmt::print("  code: plugin emsweep-{}.so, loaded by worker ranks ({})\n", k.plugin,
                     file.empty() ? "not found on the plugin path: build with LibTorch" : file);
        }
        fmt::print("  settings:\n");
        for (const auto& s : k.settings) {
          fmt::print("    {:<18} {:<8} default {:<10} {:<22} {}\n", s.name, type_name(s),
                     s.default_value.display(), range_text(s), s.doc);
        }
        fmt::print("  metrics:");
        for (const auto& m : k.metrics) fmt::print(" {}", m.name);
        fmt::print("\n  curves:");
        for (const auto& c : k.curves) fmt::print(" {}", c);
        fmt::print("\n\n");
      }
      return 0;
    };
  });
}

}  // namespace emsweep::cli
