#include "fitting/holdout.h"

#include <algorithm>
#include <cmath>
#include <set>

#include <fmt/format.h>

#include "common/error.h"

namespace sims::fitting {
namespace {

double BudgetOf(const Point& p) { return p.budget > 0 ? p.budget : p.flops; }

// The K largest distinct budgets; throws if fewer than 2 would remain.
std::set<double> HeldOutBudgets(std::span<const Point> points, int k) {
  std::set<double> budgets;
  for (const Point& p : points) budgets.insert(BudgetOf(p));
  if (k < 1 || static_cast<int>(budgets.size()) - k < 2) {
    throw UserError(fmt::format("--holdout {}: the data has {} budgets; holding out K must leave at "
                                "least 2 to fit (K >= 1)",
                                k, budgets.size()));
  }
  std::set<double> held;
  auto it = budgets.rbegin();
  for (int i = 0; i < k; ++i) held.insert(*it++);
  return held;
}

}  // namespace

HoldoutResult HoldoutApproach3(std::span<const Point> points, int k, const Approach3Options& options) {
  const std::set<double> held = HeldOutBudgets(points, k);
  std::vector<Point> fit_points, test_points;
  for (const Point& p : points) (held.count(BudgetOf(p)) ? test_points : fit_points).push_back(p);
  const Approach3Result fit = FitApproach3(fit_points, options);
  HoldoutResult r;
  r.held_out_budgets = k;
  r.n_points_fitted = static_cast<int>(fit_points.size());
  double error_sum = 0;
  for (const Point& p : test_points) {
    error_sum += std::abs(PredictLoss(fit.params, p.n_params, p.tokens) - p.loss) / p.loss;
  }
  r.loss_rel_error = error_sum / static_cast<double>(test_points.size());
  for (double budget : held) {
    const Point* best = nullptr;
    for (const Point& p : test_points) {
      if (BudgetOf(p) == budget && (!best || p.loss < best->loss)) best = &p;
    }
    HoldoutRow row;
    row.budget = budget;
    row.loss_observed = best->loss;
    row.loss_predicted = PredictLoss(fit.params, best->n_params, best->tokens);
    // The best run of the budget stands in for its optimum (a rough check of the frontier).
    row.n_opt_observed = best->n_params;
    row.d_opt_observed = best->tokens;
    const Allocation optimum = OptimalAllocation(fit.params, fit.cost, budget);
    row.n_opt_predicted = optimum.n_params;
    row.d_opt_predicted = optimum.tokens;
    r.rows.push_back(row);
  }
  return r;
}

HoldoutResult HoldoutApproach2(std::span<const Point> points, int k, const Approach2Options& options) {
  HeldOutBudgets(points, k);  // validates k against the raw budgets
  const std::vector<Vertex> vertices = IsoFlopVertices(points, options, nullptr);
  if (static_cast<int>(vertices.size()) - k < 2) {
    throw UserError(fmt::format("--holdout {}: only {} budgets have a vertex; need {} at least",
                                k, vertices.size(), k + 2));
  }
  const size_t fitted = vertices.size() - k;
  const AllocationLaw law =
      FitAllocationLaw(std::span<const Vertex>(vertices).first(fitted), options.cost);
  HoldoutResult r;
  r.held_out_budgets = k;
  r.n_opt_rel_error = 0;
  r.d_opt_rel_error = 0;
  for (size_t i = 0; i < fitted; ++i) r.n_points_fitted += vertices[i].n_points;
  for (size_t i = fitted; i < vertices.size(); ++i) {
    HoldoutRow row;
    row.budget = vertices[i].budget;
    row.loss_observed = vertices[i].loss;
    row.n_opt_observed = vertices[i].n_opt;
    row.d_opt_observed = vertices[i].d_opt;
    const Allocation predicted = AllocationAt(law, row.budget);
    row.n_opt_predicted = predicted.n_params;
    row.d_opt_predicted = predicted.tokens;
    *r.n_opt_rel_error += std::abs(row.n_opt_predicted - row.n_opt_observed) / row.n_opt_observed / k;
    *r.d_opt_rel_error += std::abs(row.d_opt_predicted - row.d_opt_observed) / row.d_opt_observed / k;
    r.rows.push_back(row);
  }
  return r;
}

}  // namespace sims::fitting
