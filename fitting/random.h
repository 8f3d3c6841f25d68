#pragma once
// SplitMix64: a tiny generator with a fixed, documented sequence (std distributions are
// implementation-defined, and intervals and replays must be the same on every machine for a
// seed). Used by the bootstrap and the design replay.
#include <cmath>
#include <cstddef>
#include <cstdint>

namespace sims::fitting {

struct SplitMix64 {
  uint64_t state;
  uint64_t Next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n) by multiply-shift (bias < n / 2^64, negligible here).
  size_t Below(size_t n) { return static_cast<size_t>((static_cast<__uint128_t>(Next()) * n) >> 64); }
  // Standard normal by Box-Muller (uniforms in (0, 1) from the top 53 bits).
  double Normal() {
    const double u1 = ((Next() >> 11) + 0.5) * 0x1.0p-53, u2 = ((Next() >> 11) + 0.5) * 0x1.0p-53;
    return std::sqrt(-2 * std::log(u1)) * std::cos(2 * M_PI * u2);
  }
  // Uniform in (0, 1) from the top 53 bits.
  double Uniform() { return ((Next() >> 11) + 0.5) * 0x1.0p-53; }
};

}  // namespace sims::fitting
