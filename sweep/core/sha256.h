// SHA-256 (FIPS 180-4) for config hashes and point ids; small and dependency-free.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace emsweep {

// The 32-byte SHA-256 digest of `data`.
[[nodiscard]] std::array<std::uint8_t, 32> sha256(std::string_view data);
// The digest as 64 lowercase hex characters.
[[nodiscard]] std::string sha256_hex(std::string_view data);
// Uses the CPU's SHA instructions when it has them (the default) or the portable code; returns
// whether the extensions are now in use. For tests that compare the two.
bool sha256_use_cpu_extensions(bool use);
// The first 8 bytes of the digest, big-endian, as an integer.
[[nodiscard]] std::uint64_t sha256_u64(std::string_view data);

}  // namespace emsweep
