#pragma once
// Extrapolation check: refit without the K largest budgets and predict them. A law is only as
// good as its extrapolation, so the report shows this for every fit.
// Call HoldoutApproach3 / HoldoutApproach2.
#include <span>
#include <vector>

#include "fitting/approach2.h"
#include "fitting/approach3.h"

namespace sims::fitting {

struct HoldoutRow {
  double budget = 0;
  double loss_observed = 0;   // approach 3: best observed loss of the budget; 2: vertex loss
  double loss_predicted = 0;  // approach 3: law at the best run's (N, D); 2: not defined (0)
  double n_opt_observed = 0;  // approach 2 vertex (0 where undefined)
  double n_opt_predicted = 0;
  double d_opt_observed = 0;
  double d_opt_predicted = 0;
};

struct HoldoutResult {
  int held_out_budgets = 0;
  int n_points_fitted = 0;
  std::vector<HoldoutRow> rows;
  double loss_rel_error = 0;   // mean |pred - obs| / obs over held-out points (approach 3)
  double n_opt_rel_error = 0;  // mean |pred - obs| / obs over held-out vertices (approach 2)
  double d_opt_rel_error = 0;
};

// Budgets are Point::budget (or flops when budget is 0). Throws UserError if K leaves fewer than
// 2 budgets to fit.
HoldoutResult HoldoutApproach3(std::span<const Point> points, int k, const Approach3Options& options);
HoldoutResult HoldoutApproach2(std::span<const Point> points, int k, const Approach2Options& options);

}  // namespace sims::fitting
