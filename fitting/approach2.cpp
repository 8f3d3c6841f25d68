#include "fitting/approach2.h"

#include <algorithm>
#include <cmath>
#include <map>

#include <Eigen/Dense>
#include <fmt/format.h>

#include "common/error.h"

namespace sims::fitting {

void Validate(const Approach2Options& options) {
  if (options.min_points_per_budget < 3) {
    throw UserError(fmt::format("approach 2: min_points_per_budget must be >= 3 (a parabola has 3 "
                                "coefficients), got {}",
                                options.min_points_per_budget));
  }
}

double Parabola::operator()(double n_or_d) const {
  const double x = std::log(n_or_d) - centre;
  return c0 + c1 * x + c2 * x * x;
}

std::vector<Vertex> IsoFlopVertices(std::span<const Point> points, const Approach2Options& options,
                                    std::vector<SkippedBudget>* skipped) {
  Validate(options);
  std::map<double, std::vector<const Point*>> by_budget;
  for (const Point& p : points) by_budget[p.budget > 0 ? p.budget : p.flops].push_back(&p);
  std::vector<Vertex> vertices;
  for (const auto& [budget, group] : by_budget) {
    const int n = static_cast<int>(group.size());
    if (n < options.min_points_per_budget) {
      if (skipped) {
        skipped->push_back({budget, n, fmt::format("{} points, need {}", n, options.min_points_per_budget)});
      }
      continue;
    }
    // Least squares of loss on (1, x, x^2), x = log N (or log D), centred for conditioning.
    const bool by_params = options.axis == ParabolaAxis::kParams;
    double mean = 0;
    for (const Point* p : group) mean += std::log(by_params ? p->n_params : p->tokens);
    mean /= n;
    Eigen::MatrixXd X(n, 3);
    Eigen::VectorXd y(n);
    double x_lo = HUGE_VAL, x_hi = -HUGE_VAL;
    for (int i = 0; i < n; ++i) {
      const double x = std::log(by_params ? group[i]->n_params : group[i]->tokens) - mean;
      x_lo = std::min(x_lo, x);
      x_hi = std::max(x_hi, x);
      X(i, 0) = 1;
      X(i, 1) = x;
      X(i, 2) = x * x;
      y(i) = group[i]->loss;
    }
    const Eigen::Vector3d c = X.colPivHouseholderQr().solve(y);
    if (!(c(2) > 0)) {
      if (skipped) {
        skipped->push_back({budget, n, fmt::format("no upward curvature (c2 = {:.3g})", c(2))});
      }
      continue;
    }
    const double xv = -c(1) / (2 * c(2));
    if (options.require_bracketed && (xv < x_lo || xv > x_hi)) {
      if (skipped) {
        const char* axis = by_params ? "N" : "D";
        const bool below = xv < x_lo;
        // A larger D at a fixed budget is a smaller model, so the advice is always about sizes.
        const bool smaller_models = by_params ? below : !below;
        skipped->push_back(
            {budget, n,
             fmt::format("vertex at {} = {:.3g} lies {} the sampled {} [{:.3g}, {:.3g}]; add {} "
                         "model sizes at this budget",
                         axis, std::exp(xv + mean), below ? "below" : "above", axis,
                         std::exp(x_lo + mean), std::exp(x_hi + mean),
                         smaller_models ? "smaller" : "larger")});
      }
      continue;
    }
    Vertex v;
    v.budget = budget;
    v.n_points = n;
    v.parabola = {c(0), c(1), c(2), mean, x_lo + mean, x_hi + mean};
    v.loss = c(0) + c(1) * xv + c(2) * xv * xv;
    if (by_params) {
      v.n_opt = std::exp(xv + mean);
      v.d_opt = options.cost.TokensFor(v.n_opt, budget);
    } else {
      v.d_opt = std::exp(xv + mean);
      v.n_opt = options.cost.ParamsFor(v.d_opt, budget);
    }
    if (!(v.n_opt > 0 && v.d_opt > 0 && std::isfinite(v.n_opt) && std::isfinite(v.d_opt))) {
      if (skipped) {
        skipped->push_back({budget, n, fmt::format("the vertex cannot be priced under the cost "
                                                   "model ({}): no N costs C/D there",
                                                   options.cost.source)});
      }
      continue;
    }
    vertices.push_back(v);
  }
  return vertices;
}

Approach2Result FitApproach2(std::span<const Point> points, const Approach2Options& options) {
  Approach2Result r;
  r.cost = options.cost;
  r.vertices = IsoFlopVertices(points, options, &r.skipped);
  if (r.vertices.size() < 2) {
    std::string why;
    for (const SkippedBudget& s : r.skipped) {
      why += fmt::format("\n  budget {:.4g} ({} points): {}", s.budget, s.n_points, s.reason);
    }
    throw UserError(fmt::format(
        "approach 2: {} budget(s) gave a vertex, need at least 2; skipped:{}{}", r.vertices.size(),
        why.empty() ? " none" : why,
        r.skipped.empty() ? "\nhint: approach 2 needs IsoFLOP data (several model sizes per budget)"
                          : ""));
  }
  std::vector<double> c, n, d;
  for (const Vertex& v : r.vertices) {
    c.push_back(v.budget);
    n.push_back(v.n_opt);
    d.push_back(v.d_opt);
  }
  r.n_opt = FitPowerLaw(c, n, "approach 2 N_opt");
  r.d_opt = FitPowerLaw(c, d, "approach 2 D_opt");
  return r;
}

}  // namespace sims::fitting
