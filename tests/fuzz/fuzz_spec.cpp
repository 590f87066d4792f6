// libFuzzer target: the sweep spec parser, its validator and the lazy grid. The input is a
// YAML config; leading lines "#set KEY=VALUE" become --set overrides. Beyond "no crash", it
// checks two properties: a parsed spec's resolved YAML parses back to the same config hash,
// and grid index <-> positions round-trips at the first, middle and last points.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "sweep/core/error.h"
#include "sweep/core/grid.h"
#include "worker/kinds.h"
#include "sweep/core/spec.h"

namespace {

const emsweep::TaskRegistry& registry() {
  static const emsweep::TaskRegistry r = [] {
    emsweep::TaskRegistry out;
    emsweep::register_declared_kinds(out);
    return out;
  }();
  return r;
}

[[noreturn]] void property_failed(const char* what) {
  std::fprintf(stderr, "fuzz_spec: property failed: %s\n", what);
  std::abort();
}

void check_grid(const emsweep::SweepSpec& spec) {
  std::optional<emsweep::Grid> grid;
  try {
    grid.emplace(spec);
  } catch (const emsweep::ConfigError&) {
    return;  // "too large" is a clean, documented refusal
  }
  const std::uint64_t n = grid->full_size();
  if (n == 0) property_failed("a parsed spec has an empty grid");
  if (grid->size() == 0) property_failed("a parsed spec excludes every point");
  for (std::uint64_t index : {std::uint64_t{0}, n / 2, n - 1}) {
    const emsweep::Point p = grid->at(index);
    if (p.index != index) property_failed("Grid::at returned another index");
    if (p.id != grid->id_at(index)) property_failed("Grid::at and Grid::id_at disagree");
    auto back = grid->index_of(grid->positions(index));
    if (!back || *back != index) property_failed("positions -> index_of does not round-trip");
    (void)grid->is_excluded(index);
    (void)grid->in_shard(index, emsweep::Shard{1, 3});
  }
  if (grid->next_kept(0) >= n) property_failed("next_kept(0) finds no kept point");
  if (grid->prev_kept(n) >= n) property_failed("prev_kept(end) finds no kept point");
  try {
    (void)grid->at(n);
    property_failed("Grid::at past the end did not throw");
  } catch (const std::out_of_range&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> overrides;
  while (text.starts_with("#set ") && overrides.size() < 8) {
    std::size_t end = text.find('\n');
    if (end == std::string_view::npos) end = text.size();
    overrides.emplace_back(text.substr(5, end - 5));
    text.remove_prefix(std::min(end + 1, text.size()));
  }
  emsweep::ParseResult r = emsweep::parse_spec(text, "fuzz.yaml", overrides, registry());
  if (!r.spec) {
    if (r.errors.empty()) property_failed("no spec and no diagnostic");
    for (const auto& d : r.errors) (void)d.format();
    return 0;
  }
  if (!r.errors.empty()) property_failed("a spec came back together with errors");
  const emsweep::SweepSpec& spec = *r.spec;
  const std::string hash = spec.hash();
  (void)spec.base_hash();
  const std::string resolved = spec.resolved_yaml();
  emsweep::ParseResult again = emsweep::parse_spec(resolved, "resolved.yaml", {}, registry());
  if (!again.spec) {
    for (const auto& d : again.errors) std::fprintf(stderr, "%s\n", d.format().c_str());
    std::fprintf(stderr, "resolved YAML:\n%s\n", resolved.c_str());
    property_failed("the resolved YAML of a valid spec does not parse");
  }
  if (again.spec->hash() != hash) {
    std::fprintf(stderr, "resolved YAML:\n%s\n", resolved.c_str());
    property_failed("the resolved YAML parses to a different config hash");
  }
  check_grid(spec);
  return 0;
}
