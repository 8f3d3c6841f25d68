#pragma once
// Chinchilla approach 2 (IsoFLOP profiles): per budget, a parabola of loss in log N (or log D);
// its vertex is the budget's optimal N (and D from the cost model: cost(N, D) = C); then power
// laws N_opt = k C^a and D_opt = k' C^b fitted to the vertices (the exponents approach 2
// reports), and an AllocationLaw that carries the vertices to any budget under the cost model.
// Budgets with too few points or no upward curvature are reported in `skipped` and left out.
// Call FitApproach2(points, options), then AllocationAt(result.allocation, C).
#include <span>
#include <string>
#include <vector>

#include "fitting/laws.h"

namespace sims::fitting {

enum class ParabolaAxis { kParams, kTokens };

struct Approach2Options {
  ParabolaAxis axis = ParabolaAxis::kParams;  // the variable of the parabola (log N or log D)
  int min_points_per_budget = 3;              // a parabola needs 3; fewer is skipped
  // Skip a budget whose vertex lies outside the sizes it was fitted to: that vertex is the
  // parabola's extrapolation, not a measured optimum (the sweep should extend its sizes there).
  bool require_bracketed = true;
  // Turns a vertex N into its D (or D into N) at the budget: the data's own FLOP convention.
  CostModel cost;
};

void Validate(const Approach2Options& options);

// The fitted profile loss = c0 + c1 x + c2 x^2, x = ln(N) - centre (ln D for
// ParabolaAxis::kTokens); ln_lo..ln_hi is the span of ln N (ln D) of the points it was fitted to.
struct Parabola {
  double c0 = 0, c1 = 0, c2 = 0;
  double centre = 0;
  double ln_lo = 0, ln_hi = 0;
  double operator()(double n_or_d) const;  // the loss at N (or D)
};

struct Vertex {
  double budget = 0;  // C of this IsoFLOP profile
  double n_opt = 0;
  double d_opt = 0;   // cost.TokensFor(N_opt, C) (or the vertex itself for ParabolaAxis::kTokens)
  double loss = 0;    // parabola value at the vertex
  int n_points = 0;
  Parabola parabola;
};

struct SkippedBudget {
  double budget = 0;
  int n_points = 0;
  std::string reason;  // "2 points, need 3" / "no upward curvature (c2 = -0.01)" / "vertex ... below"
};

// How approach 2 carries its vertices to a budget C. Under a cost proportional to N this is the
// power law through the vertices. Otherwise N_opt is no power law of C; the optimum of
// L = E + A/N^alpha + B/D^beta on the curve f(N) D = C satisfies the first-order condition
//   ln N = k + p ln D - q ln g(N),   D = C / f(N),   g = d ln f / d ln N   (p = beta/alpha, q = 1/alpha),
// and (k, p, q) are fitted to the vertices by least squares in ln N, each vertex's N predicted
// from its C (needs 3 budgets; with 2, the power law, and `method` says so).
struct AllocationLaw {
  bool cost_aware = false;  // false: n_power_law below is the law
  double k = 0, p = 0, q = 0;
  PowerLaw n_power_law;
  CostModel cost;
  std::string method;  // one line, printed with the fit
};

// The optimal N at `flops` under the law, and D = flops / f(N). Throws UserError when no N
// satisfies the law's condition (it cannot happen for a law fitted with p > 0, q >= 0).
Allocation AllocationAt(const AllocationLaw& law, double flops);
AllocationLaw FitAllocationLaw(std::span<const Vertex> vertices, const CostModel& cost);

struct Approach2Result {
  std::vector<Vertex> vertices;  // ascending budget
  std::vector<SkippedBudget> skipped;
  PowerLaw n_opt;  // N_opt = coefficient * C^exponent through the vertices
  PowerLaw d_opt;
  AllocationLaw allocation;  // N_opt and D_opt at any budget: AllocationAt(allocation, C)
  CostModel cost;  // the options' cost model, which priced every vertex
};

// Points are grouped by Point::budget (exact value). Needs >= 2 usable budgets; the UserError
// otherwise names every skipped budget and why.
Approach2Result FitApproach2(std::span<const Point> points, const Approach2Options& options = {});

// Vertices only (no power laws), for holdout checks and the bootstrap.
std::vector<Vertex> IsoFlopVertices(std::span<const Point> points, const Approach2Options& options,
                                    std::vector<SkippedBudget>* skipped);

}  // namespace sims::fitting
