#pragma once
// Bootstrap intervals for approaches 2 and 3: refit resampled data in parallel, report an
// interval for every parameter and derived quantity. Seeded: the same seed gives the same
// intervals on any number of threads (resample i draws from its own generator seeded by
// (seed, i)). Call BootstrapApproach3 / BootstrapApproach2; for two conditions derive each
// one's seed with ConditionSeed so their resamples are independent.
//
// Default method (kParametric), chosen by bench/calibration.cpp (docs/benchmarks.md, 93-97.5%
// coverage of 95% intervals on synthetic IsoFLOP studies where the earlier method had 63-99%):
//   approach 2: keep every point's (N, D) and every budget; multiply each budget's fitted
//     parabola by 1 + normal errors of the pooled relative residuals' SD, refit every
//     parabola, so each vertex's own uncertainty reaches the power law; percentile intervals
//     widened about the estimate by t(df)/z, df = points - 3 x budgets (the noise's scale is
//     itself estimated from few points);
//   approach 3: add normal errors of the log-residuals' SD to the fitted law's log-losses at
//     the same (N, D) and refit from the full-data optimum; percentile intervals.
// kResiduals draws the residuals themselves instead of normal errors (it under-covers approach
// 3: the nearly-L1 fit leaves several residuals at 0). kCases is the earlier method (resample
// points, or whole vertices for approach 2), kept for data whose residuals are not
// exchangeable (the law misfits some region) and for the calibration benchmark.
#include <compare>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fitting/approach2.h"
#include "fitting/approach3.h"

namespace sims::fitting {

struct Interval {
  double lo = 0;
  double hi = 0;
};

enum class BootstrapMethod { kResiduals, kParametric, kCases };

// A quantity derived at one budget C, e.g. {kNOpt, 1e21}; in JSON and tables it is named
// "n_opt@1e+21" (the shortest %g that reads back as the same double, so it round-trips).
enum class AtBudget { kNOpt, kDOpt, kTokensPerParam, kLoss };
struct BudgetQuantity {
  AtBudget quantity = AtBudget::kNOpt;
  double flops = 0;
  auto operator<=>(const BudgetQuantity&) const = default;
};
std::string ToString(const BudgetQuantity& key);
// "n_opt@1e+21" -> {kNOpt, 1e21}; nullopt for a name without '@' (a parameter's name); a
// UserError for an '@' name that is not one of the four quantities at a positive budget.
std::optional<BudgetQuantity> BudgetQuantityFromString(std::string_view name);

struct BootstrapOptions {
  int resamples = 0;               // 0 = no bootstrap
  uint64_t seed = 0;
  double level = 0.95;             // two-sided coverage of every interval
  int threads = 0;                 // 0 = every core
  std::vector<double> budgets;     // derived quantities (N_opt, D_opt, loss) at these C
  // kParametric covers 93-97.5% on synthetic IsoFLOP studies where kCases covers 63-99%.
  BootstrapMethod method = BootstrapMethod::kParametric;
};

void Validate(const BootstrapOptions& options);

// Approach 3: `intervals` names "E","A","B","alpha","beta","a","b","G","loss_exponent";
// `at_budget` holds N_opt, D_opt, tokens per parameter and loss at each of the options' budgets.
// Approach 2: `intervals` names "n_opt.exponent", "d_opt.exponent"; `at_budget` holds N_opt and
// D_opt at the options' budgets and at pivot_flops (the power laws' coefficients are N_opt at
// C = 1 FLOP, far outside any data, so their intervals say nothing; the laws at the pivot do).
struct BootstrapResult {
  int resamples = 0;
  int failed = 0;  // resamples whose refit failed (a budget lost its vertex, no convergence)
  uint64_t seed = 0;
  double level = 0.95;
  std::string method;        // how the intervals were made, in words (stored with the fit)
  int stretch_df = 0;        // intervals stretched by t(stretch_df)/z about the estimate; 0: none
  double pivot_flops = 0;    // approach 2: geometric mean of the fitted budgets
  std::map<std::string, Interval> intervals;            // the law's parameters and exponents
  std::map<BudgetQuantity, Interval> at_budget;          // derived quantities, budget by budget
  std::optional<Interval> At(AtBudget quantity, double flops) const;
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
// The percentile interval's two arms about `estimate` stretched by t_df / z (df <= 0: not
// stretched): approach 2's small-sample correction.
Interval StretchedInterval(const std::vector<double>& samples, double estimate, double level, int df);
// Standard normal and Student-t quantiles (bisection on erfc; on the t density integrated by
// Simpson's rule); they match 5-6 digit tables (tests/test_fitting_calibration.cpp).
double NormalQuantile(double p);
double StudentQuantile(double p, int df);
// Where approach 2's power laws are reported with intervals: the geometric mean of the
// vertices' budgets (inside the data, where the laws' level is best determined).
double Approach2Pivot(std::span<const Vertex> vertices);
// A condition's own seed from the user's seed and the condition's name (deterministic, and
// different per name, so two conditions never share resample draws).
uint64_t ConditionSeed(uint64_t seed, std::string_view condition);

}  // namespace sims::fitting
