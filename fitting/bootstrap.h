#pragma once
// Bootstrap intervals: resample points (approach 3) or whole budgets (approach 2) with
// replacement, refit each resample in parallel, report percentile intervals for every
// parameter and derived quantity. Seeded: the same seed gives the same intervals on any
// number of threads (resample i draws from its own generator seeded by (seed, i)).
// Approach-3 refits start from the full-data optimum (one local solve each, not the grid):
// a resample is a small perturbation of the data, and this is what makes 1000 refits cheap.
// Call BootstrapApproach3 / BootstrapApproach2.
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "fitting/approach2.h"
#include "fitting/approach3.h"

namespace sims::fitting {

struct Interval {
  double lo = 0;
  double hi = 0;
};

struct BootstrapOptions {
  int resamples = 0;               // 0 = no bootstrap
  uint64_t seed = 0;
  double level = 0.95;             // central percentile interval
  int threads = 0;                 // 0 = every core
  std::vector<double> budgets;     // derived quantities (N_opt, D_opt, loss) at these C
};

void Validate(const BootstrapOptions& options);

// Names: "E","A","B","alpha","beta","a","b","G","loss_exponent", and per budget C (formatted
// with %g, e.g. "1e+21"): "n_opt@1e+21", "d_opt@1e+21", "tokens_per_param@1e+21", "loss@1e+21".
// Approach 2: "n_opt.coefficient","n_opt.exponent","d_opt.coefficient","d_opt.exponent" and
// "n_opt@C","d_opt@C".
struct BootstrapResult {
  int resamples = 0;
  int failed = 0;  // resamples whose refit failed (too few budgets, no convergence); left out
  uint64_t seed = 0;
  double level = 0.95;
  std::map<std::string, Interval> intervals;
  std::vector<LawParams> law_samples;      // approach 3: one per successful resample
  std::vector<PowerLaw> n_opt_samples;     // approach 2
  std::vector<PowerLaw> d_opt_samples;     // approach 2
};

BootstrapResult BootstrapApproach3(std::span<const Point> points, const Approach3Result& full_fit,
                                   const Approach3Options& fit_options,
                                   const BootstrapOptions& options);
BootstrapResult BootstrapApproach2(std::span<const Point> points, const Approach2Options& fit_options,
                                   const BootstrapOptions& options);

// Percentile interval of `samples` at `level` (linear interpolation between order statistics).
Interval PercentileInterval(std::vector<double> samples, double level);
// Key for a per-budget quantity: BudgetKey("n_opt", 1e21) == "n_opt@1e+21".
std::string BudgetKey(const std::string& name, double flops);

}  // namespace sims::fitting
