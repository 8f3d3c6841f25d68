#pragma once
// Offline replay of run selection on a pool of finished runs (`sims bench design`): a method
// picks runs from the pool as if it were training them, the outcomes are looked up instead,
// and the approach-3 law fitted to what it picked is scored on held-out target runs (the most
// expensive ones). Call SplitTarget, then Replay per method, spend and seed.
//
// Every method starts from the same seed design (5-8 runs drawn from the cheaper half of the
// pool by the replay's seed, at most a quarter of the spend once there are 5) and adds runs
// until the next would pass the spend (a fraction of the pool's total FLOPs, the seed design
// included):
//   sims          rounds of ChooseRuns (design.h) with the held-out runs' ln loss as targets,
//                 from a parametric-bootstrap ensemble of the current fit plus the law's
//                 misfit, sized by the fit's extrapolation error from the cheaper picked runs
//                 to the dearest quarter and seen at the picked runs; a round takes at most 4
//                 runs within the remaining spend;
//   random        uniformly random order;
//   cheapest      ascending FLOPs;
//   cost-weighted random order with weights 1 / FLOPs;
//   d-optimal     rounds of greedy D-optimal picks on the law's 5 parameters (gain per FLOP
//                 of ln det of the information), from the current fit.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fitting/laws.h"

namespace sims::fitting {

enum class SelectionMethod { kSims, kRandom, kCheapest, kCostWeighted, kDOptimal };
std::string ToString(SelectionMethod method);
SelectionMethod SelectionMethodFromString(std::string_view text);  // UserError naming the five
constexpr SelectionMethod kAllSelectionMethods[] = {
    SelectionMethod::kSims, SelectionMethod::kRandom, SelectionMethod::kCheapest,
    SelectionMethod::kCostWeighted, SelectionMethod::kDOptimal};

// The target: the runs of the largest budget when the points have 3 or more budgets (IsoFLOP
// data), else the most expensive 10% (at least 3); the pool is the rest.
struct PoolSplit {
  std::vector<Point> pool;
  std::vector<Point> target;
  std::string rule;  // how the target was chosen, in words
};
PoolSplit SplitTarget(std::span<const Point> points);

struct ReplayOptions {
  double spend_fraction = 0.1;  // of the pool's total FLOPs
  uint64_t seed = 0;
  int resamples = 48;           // bootstrap laws per round (sims's method)
  int threads = 0;
};

struct ReplayScore {
  bool fitted = false;   // false: the picked runs could not identify the law
  std::string error;     // why not, when !fitted
  int runs = 0;
  double flops = 0;
  double mape = 0;       // mean |predicted - observed| / observed over the target runs
  double r2 = 0;         // of the target runs' losses
};

ReplayScore Replay(const PoolSplit& split, SelectionMethod method, const ReplayOptions& options);
// The law fitted to the whole pool, scored the same way: the reference error.
ReplayScore ScoreAllData(const PoolSplit& split);

}  // namespace sims::fitting
