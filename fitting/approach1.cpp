#include "fitting/approach1.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "common/error.h"

namespace sims::fitting {

void Validate(const Approach1Options& options) {
  if (options.bins < 0) throw UserError(fmt::format("approach 1: bins must be >= 0, got {}", options.bins));
}

std::vector<Point> LossEnvelope(std::span<const Point> curve_points, const Approach1Options& options) {
  Validate(options);
  std::vector<Point> sorted(curve_points.begin(), curve_points.end());
  // Ties in C: the lower loss first, so it is the one that enters the envelope.
  std::stable_sort(sorted.begin(), sorted.end(), [](const Point& x, const Point& y) {
    return x.flops < y.flops || (x.flops == y.flops && x.loss < y.loss);
  });
  std::vector<Point> candidates;
  if (options.bins == 0 || sorted.size() < 2) {
    candidates = sorted;
  } else {
    const double lo = std::log(sorted.front().flops), hi = std::log(sorted.back().flops);
    const double width = (hi - lo) / options.bins;
    int current = -1;
    for (const Point& p : sorted) {
      const int bin = width > 0 ? std::min(options.bins - 1, static_cast<int>((std::log(p.flops) - lo) / width)) : 0;
      if (bin != current) {
        candidates.push_back(p);
        current = bin;
      } else if (p.loss < candidates.back().loss) {
        candidates.back() = p;
      }
    }
  }
  std::vector<Point> envelope;
  double best = std::numeric_limits<double>::infinity();
  for (const Point& p : candidates) {
    if (p.loss < best) {
      envelope.push_back(p);
      best = p.loss;
    }
  }
  return envelope;
}

Approach1Result FitApproach1(std::span<const Point> curve_points, const Approach1Options& options) {
  Approach1Result r;
  r.envelope = LossEnvelope(curve_points, options);
  if (r.envelope.size() < 2) {
    throw UserError(fmt::format("approach 1: the loss envelope has {} point(s), need at least 2; "
                                "hint: approach 1 needs training curves (--curves)",
                                r.envelope.size()));
  }
  std::vector<double> c, n, d, l;
  for (const Point& p : r.envelope) {
    c.push_back(p.flops);
    n.push_back(p.n_params);
    d.push_back(p.tokens);
    l.push_back(p.loss);
  }
  r.n_opt = FitPowerLaw(c, n, "approach 1 N");
  r.d_opt = FitPowerLaw(c, d, "approach 1 D");
  r.loss = FitPowerLaw(c, l, "approach 1 loss");
  return r;
}

}  // namespace sims::fitting
