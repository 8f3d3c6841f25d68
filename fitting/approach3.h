#pragma once
// Chinchilla approach 3: fit L(N, D) = E + A/N^alpha + B/D^beta to final losses.
// Fitted as log L ~ LSE(a - alpha log N, b - beta log D, e) with Huber(delta) on the residuals,
// summed over points, from every start of a grid (Chinchilla's 4500 by default); the best
// start is kept. Solved with Ceres L-BFGS and exact derivatives, starts in parallel on all cores.
// Call FitApproach3(points, options). Not for: uncertainty (bootstrap.h) or I/O (data.h).
#include <span>
#include <string>
#include <vector>

#include "fitting/laws.h"

namespace sims::fitting {

// Start values per coordinate; every combination is one start (5*5*5*6*6 = 4500 by default).
struct Approach3Grid {
  std::vector<double> alpha{0, 0.5, 1, 1.5, 2};
  std::vector<double> beta{0, 0.5, 1, 1.5, 2};
  std::vector<double> e{-1, -0.5, 0, 0.5, 1};
  std::vector<double> a{0, 5, 10, 15, 20, 25};
  std::vector<double> b{0, 5, 10, 15, 20, 25};
};

// One point of the fit's own parameter space (log scale for E, A, B).
struct Approach3Start {
  double e = 0, a = 0, b = 0, alpha = 0, beta = 0;
};

struct Approach3Options {
  double huber_delta = 1e-3;  // Chinchilla's value; results are sensitive to it, so it is stored
  Approach3Grid grid;
  int threads = 0;            // 0 = every core (std::thread::hardware_concurrency)
  // Screening: every start first gets a short solve; only starts that end in distinct basins
  // get the full solve. The reported optimum is the best over all of them.
  bool screen = true;
  int max_iterations = 5000;  // per full solve; Ceres' default of 50 stops far from the optimum
  // Convergence: the optimum must not depend on the stopping rule, so stop only when the
  // gradient is ~0 (scipy's default ftol stops early at objectives near 1e-3).
  double gradient_tolerance = 1e-14;
  // Starts solved besides the grid's: a refit's previous optimum (RefitOptions).
  std::vector<Approach3Start> warm_starts;
  bool verbose = false;       // let Ceres print its progress and warnings to stderr
  // How the frontier prices (N, D) at a budget: the data's own FLOP convention. Not used by
  // the solve; carried into the result so every allocation from it uses the same cost.
  CostModel cost;
};

// Throws UserError naming the field and the broken rule.
void Validate(const Approach3Options& options);

struct Approach3Result {
  int n_points = 0;
  LawParams params;
  Approach3Start optimum;    // the same optimum in the fit's log parametrisation
  double objective = 0;      // Approach3Objective at the optimum (textbook Huber sum)
  Frontier frontier;
  int starts = 0;            // grid size
  int full_solves = 0;       // starts that got a full solve after screening
  int starts_at_best = 0;    // starts whose solve reached the best objective (rel. 1e-9)
  double huber_delta = 1e-3;
  CostModel cost;            // from the options: what OptimalAllocation prices budgets with
};

// Throws UserError when the points cannot identify the law (fewer than 5, or fewer than 2
// distinct N or D) or when the best optimum is degenerate (an exponent at 0, a non-finite
// coefficient): such a fit would price every budget wrongly, so it is refused, not returned.
Approach3Result FitApproach3(std::span<const Point> points, const Approach3Options& options = {});

// The coarse 3^5 grid (243 starts) of fits repeated many times: refits, design replays.
Approach3Grid CoarseApproach3Grid();
// Default options on that grid with `threads`: the fits a design replay and the design's
// extrapolation error repeat every round.
Approach3Options CoarseApproach3Options(int threads);

// Options for refitting after points were added to data already fitted as `previous` (the
// rounds of sims run --adaptive, the design replay): the previous optimum as a warm start plus
// a coarse 3^5 grid in case the optimum moved to another basin, 243 + 1 starts instead of 4500.
// On the demo's rounds and the published pools it reaches the full grid's objective
// (tests/test_fitting_reference.cpp; docs/benchmarks.md "Fitting").
Approach3Options RefitOptions(Approach3Options options, const Approach3Result& previous);

// One local solve from `start` (used by the bootstrap with the full-data optimum as start).
// Returns the optimum and its objective in `objective`.
Approach3Start SolveApproach3From(std::span<const Point> points, const Approach3Start& start,
                                  const Approach3Options& options, double* objective);

LawParams ToLaw(const Approach3Start& x);
Approach3Result MakeApproach3Result(std::span<const Point> points, const Approach3Start& optimum,
                                    double huber_delta);

}  // namespace sims::fitting
