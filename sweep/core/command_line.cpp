#include "sweep/core/command_line.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <stdexcept>

namespace emsweep {

std::optional<std::vector<TemplatePiece>> parse_template(const std::string& arg, std::string* error) {
  std::vector<TemplatePiece> out;
  std::string literal;
  auto fail = [&](const std::string& why) -> std::optional<std::vector<TemplatePiece>> {
    if (error != nullptr) *error = why;
    return std::nullopt;
  };
  for (std::size_t i = 0; i < arg.size(); ++i) {
    const char c = arg[i];
    if (c == '{' && i + 1 < arg.size() && arg[i + 1] == '{') {
      literal += '{';
      ++i;
    } else if (c == '}' && i + 1 < arg.size() && arg[i + 1] == '}') {
      literal += '}';
      ++i;
    } else if (c == '}') {
      return fail("a '}' without its '{' at character " + std::to_string(i + 1) +
                  " (write }} for a literal brace)");
    } else if (c == '{') {
      const std::size_t close = arg.find('}', i + 1);
      if (close == std::string::npos) {
        return fail("a '{' without its '}' at character " + std::to_string(i + 1) +
                    " (write {{ for a literal brace)");
      }
      std::string name = arg.substr(i + 1, close - i - 1);
      const bool plain = !name.empty() && std::all_of(name.begin(), name.end(), [](char ch) {
        return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_';
      });
      if (!plain) return fail("'{" + name + "}' is not a placeholder name (letters, digits, _)");
      if (!literal.empty()) out.push_back({false, std::move(literal)});
      literal.clear();
      out.push_back({true, std::move(name)});
      i = close;
    } else {
      literal += c;
    }
  }
  if (!literal.empty() || out.empty()) out.push_back({false, std::move(literal)});
  return out;
}

std::string workdirs_root(const std::string& output, const std::string& workdir_root) {
  return std::filesystem::absolute(workdir_root.empty() ? output + ".runs" : workdir_root).string();
}

std::string attempt_workdir(const std::string& output, const std::string& workdir_root,
                            const std::string& point_id_hex, int attempt) {
  return (std::filesystem::path(workdirs_root(output, workdir_root)) / point_id_hex /
          ("a" + std::to_string(attempt)))
      .string();
}

std::string point_id_hex(std::uint64_t id) { return fmt::format("{:016x}", id); }

std::optional<std::string> placeholder_value(const std::string& name, const Point& point,
                                             const PlaceholderValues& v) {
  if (name == "point_id") return v.point_id;
  if (name == "workdir") return v.workdir;
  if (name == "attempt") return std::to_string(v.attempt);
  if (name == "replicate" || (!v.replicate_axis.empty() && name == v.replicate_axis)) {
    return std::to_string(point.replicate);
  }
  const auto* schema = point.settings.schema;
  if (schema == nullptr) return std::nullopt;
  for (std::size_t i = 0; i < schema->size(); ++i) {
    if ((*schema)[i].name == name) return point.settings.values.at(i).display();
  }
  return std::nullopt;
}

std::vector<std::string> render_argv(const std::vector<std::string>& templates, const Point& point,
                                     const PlaceholderValues& v) {
  std::vector<std::string> out;
  out.reserve(templates.size());
  for (const auto& t : templates) {
    std::string error;
    auto pieces = parse_template(t, &error);
    if (!pieces) throw std::invalid_argument("argv '" + t + "': " + error);
    std::string arg;
    for (const auto& p : *pieces) {
      if (!p.placeholder) {
        arg += p.text;
        continue;
      }
      auto value = placeholder_value(p.text, point, v);
      if (!value) throw std::invalid_argument("argv '" + t + "': unknown placeholder {" + p.text + "}");
      arg += *value;
    }
    out.push_back(std::move(arg));
  }
  return out;
}

std::string shell_quote(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    if (!out.empty()) out += ' ';
    const bool plain = !a.empty() && std::all_of(a.begin(), a.end(), [](char ch) {
      return std::isalnum(static_cast<unsigned char>(ch)) || std::string_view("_-./=:,+@%").find(ch) !=
                                                                 std::string_view::npos;
    });
    if (plain) {
      out += a;
      continue;
    }
    out += '\'';
    for (char ch : a) {
      if (ch == '\'') {
        out += "'\\''";
      } else {
        out += ch;
      }
    }
    out += '\'';
  }
  return out;
}

}  // namespace emsweep
