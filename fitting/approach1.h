#pragma once
// Chinchilla approach 1: from whole training curves, the lowest loss reached at each FLOP value
// across runs (the lower envelope), then power laws of N and D at the envelope against C.
// Call FitApproach1(curve_points). Points are curve steps: N, D so far, C so far, loss.
#include <span>
#include <vector>

#include "fitting/laws.h"

namespace sims::fitting {

struct Approach1Options {
  // The envelope is taken in this many log-spaced FLOP bins between the smallest and largest C
  // (the lowest-loss point of each bin, kept if it beats every point of lower C). 0 = no
  // binning: every point that beats all points of lower C (the Pareto front).
  int bins = 0;
};

void Validate(const Approach1Options& options);

struct Approach1Result {
  std::vector<Point> envelope;  // ascending C
  PowerLaw n_opt;               // N at the envelope against C
  PowerLaw d_opt;               // D at the envelope against C
  PowerLaw loss;                // loss at the envelope against C (a plain power law, no E)
};

Approach1Result FitApproach1(std::span<const Point> curve_points, const Approach1Options& options = {});

// The envelope alone.
std::vector<Point> LossEnvelope(std::span<const Point> curve_points, const Approach1Options& options);

}  // namespace sims::fitting
