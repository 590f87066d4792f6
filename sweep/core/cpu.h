// What the x86 CPU offers beyond the baseline, for the hashes that have a faster path (SHA-256
// point ids, CRC-32C journal checksums). False on other architectures and compilers.
#pragma once

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#define EMSWEEP_X86_EXTENSIONS 1
#endif

namespace emsweep {

// SSE4.2 (the crc32 instruction).
inline bool cpu_has_sse42() {
#ifdef EMSWEEP_X86_EXTENSIONS
  unsigned a = 0, b = 0, c = 0, d = 0;
  return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSE4_2) != 0;
#else
  return false;
#endif
}

// The SHA extensions together with the SSSE3/SSE4.1 shuffles they are used with.
inline bool cpu_has_sha() {
#ifdef EMSWEEP_X86_EXTENSIONS
  unsigned a = 0, b = 0, c = 0, d = 0;
  const bool sse41 = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSE4_1) != 0 && (c & bit_SSSE3) != 0;
  return sse41 && __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 29)) != 0;
#else
  return false;
#endif
}

}  // namespace emsweep
