#pragma once
// Extrapolation check: refit without the K largest budgets and predict them. A law is only as
// good as its extrapolation, so the report shows this for every fit.
// Call HoldoutApproach3 / HoldoutApproach2.
#include <optional>
#include <span>
#include <vector>

#include "fitting/approach2.h"
#include "fitting/approach3.h"

namespace sims::fitting {

// Only what a check computed is set: approach 3 predicts losses (and N, D at the budget,
// shown beside the best run's, which only approximates the optimum); approach 2 predicts the
// vertices' N_opt and D_opt and no loss.
struct HoldoutRow {
  double budget = 0;
  double loss_observed = 0;  // approach 3: best observed loss of the budget; 2: vertex loss
  std::optional<double> loss_predicted;  // approach 3: the law at the best run's (N, D)
  double n_opt_observed = 0;  // approach 2: the vertex; approach 3: the best run's N
  double n_opt_predicted = 0;
  double d_opt_observed = 0;
  double d_opt_predicted = 0;
};

struct HoldoutResult {
  int held_out_budgets = 0;
  int n_points_fitted = 0;
  std::vector<HoldoutRow> rows;
  std::optional<double> loss_rel_error;   // mean |pred - obs| / obs over held-out points (3)
  std::optional<double> n_opt_rel_error;  // mean |pred - obs| / obs over held-out vertices (2)
  std::optional<double> d_opt_rel_error;
};

// Budgets are Point::budget (or flops when budget is 0). Throws UserError if K leaves fewer than
// 2 budgets to fit.
HoldoutResult HoldoutApproach3(std::span<const Point> points, int k, const Approach3Options& options);
HoldoutResult HoldoutApproach2(std::span<const Point> points, int k, const Approach2Options& options);

}  // namespace sims::fitting
