#pragma once
// The corpus's own random numbers: xoshiro256** seeded through splitmix64, with uniform,
// categorical and Poisson draws written out here rather than taken from <random>, whose
// distributions are not specified bit-for-bit across standard libraries. Same seed, same bytes,
// on every platform: the corpus is reproducible from its seed alone.
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <span>

namespace sims::corpus {

inline uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// A seed for a sub-stream named by integers, e.g. DeriveSeed(seed, {kStreamSpeech, chunk}).
inline uint64_t DeriveSeed(uint64_t seed, std::initializer_list<uint64_t> path) {
  uint64_t state = seed;
  uint64_t out = SplitMix64(state);
  for (uint64_t p : path) {
    state = out ^ (p * 0xd6e8feb86659fd93ULL + 0x632be59bd9b4e019ULL);
    out = SplitMix64(state);
  }
  return out;
}

class Rng {
 public:
  explicit Rng(uint64_t seed) {
    for (uint64_t& s : s_) s = SplitMix64(seed);
  }
  uint64_t Next() {
    const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = Rotl(s_[3], 45);
    return result;
  }
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }  // [0, 1)
  bool Bernoulli(double p) { return Uniform() < p; }
  // Uniform integer in [0, n); n > 0. Lemire's multiply-shift (bias < 2^-32 for our n).
  int32_t Below(int32_t n) {
    return static_cast<int32_t>((static_cast<unsigned __int128>(Next()) * static_cast<uint64_t>(n)) >> 64);
  }
  // Index drawn with probability proportional to cumulative[i] - cumulative[i-1].
  int32_t FromCumulative(std::span<const double> cumulative) {
    const double u = Uniform() * cumulative.back();
    int32_t lo = 0, hi = static_cast<int32_t>(cumulative.size()) - 1;
    while (lo < hi) {
      const int32_t mid = (lo + hi) / 2;
      if (cumulative[mid] > u) hi = mid; else lo = mid + 1;
    }
    return lo;
  }
  // Knuth's product method: exact, fine for the small means used here (lambda <= ~30).
  int32_t Poisson(double lambda) {
    const double limit = std::exp(-lambda);
    int32_t k = 0;
    double p = Uniform();
    while (p > limit) {
      ++k;
      p *= Uniform();
    }
    return k;
  }

 private:
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

}  // namespace sims::corpus
