#pragma once
// The laws every fit in fitting/ produces, and the quantities derived from them. Plain structs
// and pure functions: nothing here solves anything (see approach1.h, approach2.h, approach3.h).
//
//   Chinchilla law   L(N, D) = E + A / N^alpha + B / D^beta
//   its frontier     the (N, D) of lowest L subject to cost(N, D) = C (fitting/cost.h); for a
//                    cost k N D: N_opt(C) = G (C/k)^a,  D_opt(C) = G^-1 (C/k)^b,
//                    G = (alpha A / (beta B))^(1/(alpha+beta)),  a = beta/(alpha+beta), b = 1 - a
//   power law        y = coefficient * C^exponent   (approaches 1 and 2: N_opt, D_opt vs C)
//
// Units: N in parameters, D in tokens, C in FLOPs of the data's own convention (CostModel).
#include <span>
#include <string>

#include "fitting/cost.h"

namespace sims::fitting {

// One observation: a run (or one step of a run's training curve, for approach 1).
struct Point {
  double n_params = 0;  // N: total or non-embedding parameters, as the loader was asked
  double tokens = 0;    // D: tokens trained on (so far, for a curve point)
  double flops = 0;     // C: the run's FLOPs by the source's convention (its CostModel)
  double budget = 0;    // the IsoFLOP budget the run was planned for; approach 2 groups by it
  double loss = 0;      // the fitted metric (final validation loss by default)
  std::string source;   // run id, or "FILE:LINE" for CSV rows: where the number came from
};

// E + A/N^alpha + B/D^beta. In the log parametrisation of the fit, e = log E, a = log A,
// b = log B (lower-case letters in Approach3Start are these logs, as in Chinchilla's grid).
struct LawParams {
  double E = 0;
  double A = 0;
  double B = 0;
  double alpha = 0;
  double beta = 0;
};

double PredictLoss(const LawParams& law, double n_params, double tokens);

// The exponents of the compute-optimal allocation; exact for a cost k N D, and the large-C
// limit of any cost whose FLOPs per token grow like N.
struct Frontier {
  double a = 0;  // N_opt exponent: beta / (alpha + beta)
  double b = 0;  // D_opt exponent: alpha / (alpha + beta)
  double G = 0;  // (alpha A / (beta B))^(1/(alpha+beta))
};

Frontier FrontierOf(const LawParams& law);

// The lowest loss the law predicts for `flops` spent under `cost`, and the N, D that reach it
// (cost.Flops(n_params, tokens) == flops). Closed form for a cost k N D; otherwise a scan in
// log N refined by golden section (the law along the budget is unimodal in log N). NaN fields
// when flops is not finite and > 0.
struct Allocation {
  double n_params = 0;
  double tokens = 0;
  double loss = 0;
};
Allocation OptimalAllocation(const LawParams& law, const CostModel& cost, double flops);
double OptimalLoss(const LawParams& law, const CostModel& cost, double flops);
// Exponent of the reducible loss along the frontier: L_opt(C) - E ~ C^-(alpha beta/(alpha+beta)).
double LossComputeExponent(const LawParams& law);

// y = coefficient * x^exponent, fitted by least squares in log-log space.
struct PowerLaw {
  double coefficient = 0;
  double exponent = 0;
};

double Evaluate(const PowerLaw& law, double x);
// Ordinary least squares of log y on log x. Needs >= 2 points with distinct x, all x, y > 0;
// throws UserError naming `what` otherwise.
PowerLaw FitPowerLaw(std::span<const double> x, std::span<const double> y, const std::string& what);

// Textbook Huber: r^2/2 for |r| <= delta, delta (|r| - delta/2) beyond.
double Huber(double residual, double delta);
// The approach-3 objective at `law`: sum over points of Huber(log L_pred - log L_obs, delta).
// Summed, not averaged, and without Ceres' factor 1/2 on cost (see approach3.cpp).
double Approach3Objective(std::span<const Point> points, const LawParams& law, double delta);

}  // namespace sims::fitting
