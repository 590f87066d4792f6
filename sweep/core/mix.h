// SplitMix64: a well-mixed 64-bit function, the same on every platform, for reproducible streams
// (the samplers, the probe's noise).
#pragma once

#include <cstdint>

namespace emsweep {

[[nodiscard]] constexpr std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace emsweep
