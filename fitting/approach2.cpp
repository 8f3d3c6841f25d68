#include "fitting/approach2.h"

#include <algorithm>
#include <cmath>
#include <map>

#include <Eigen/Dense>
#include <fmt/format.h>

#include "common/error.h"
#include "common/format.h"

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
        skipped->push_back(
            {budget, n, fmt::format("{}, need {}", Counted(n, "point"), options.min_points_per_budget)});
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

namespace {

// ln N at `flops` under the first-order condition of the law: the root in x = ln N of
//   h(x) = x - k - p (ln C - ln f(N)) + q ln g(N),
// bracketed outward from ln(C / f) = 0's neighbourhood and bisected (h is increasing wherever
// g does not fall with N, which holds for every cost curve f = a N + b with a, b >= 0).
double CostAwareLogN(const AllocationLaw& law, double flops) {
  auto h = [&](double x) {
    const double n = std::exp(x);
    return x - law.k - law.p * (std::log(flops) - std::log(law.cost.FlopsPerToken(n))) +
           law.q * std::log(law.cost.Elasticity(n));
  };
  double lo = std::log(flops) / 2, hi = lo;
  for (int i = 0; i < 400 && h(lo) > 0; ++i) lo -= 1;
  for (int i = 0; i < 400 && h(hi) < 0; ++i) hi += 1;
  if (!(h(lo) <= 0 && h(hi) >= 0)) {
    throw UserError(fmt::format("approach 2: no model size satisfies the allocation law at {:.4g} {}",
                                flops, law.cost.Unit()));
  }
  for (int i = 0; i < 200 && hi - lo > 1e-12; ++i) {
    const double mid = 0.5 * (lo + hi);
    (h(mid) < 0 ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

// Gauss-Newton on (k, p, q) [or (k, p) with q = 0] from the linear start that treats each
// vertex's D as exact; d x / d theta from the implicit function h(x; theta) = 0.
void RefineCostAware(AllocationLaw& law, std::span<const Vertex> vertices, bool fit_q) {
  const int m = fit_q ? 3 : 2;
  auto residuals = [&](const AllocationLaw& l, Eigen::VectorXd& r, Eigen::MatrixXd* J) {
    r.resize(vertices.size());
    if (J) J->resize(vertices.size(), m);
    for (size_t i = 0; i < vertices.size(); ++i) {
      const double x = CostAwareLogN(l, vertices[i].budget);
      r(i) = std::log(vertices[i].n_opt) - x;
      if (!J) continue;
      const double n = std::exp(x);
      const double g = l.cost.Elasticity(n);
      const double step = 1e-4;
      const double dlng = (std::log(l.cost.Elasticity(n * std::exp(step))) -
                           std::log(l.cost.Elasticity(n * std::exp(-step)))) / (2 * step);
      const double dh_dx = 1 + l.p * g + l.q * dlng;
      (*J)(i, 0) = 1 / dh_dx;
      (*J)(i, 1) = (std::log(vertices[i].budget) - std::log(l.cost.FlopsPerToken(n))) / dh_dx;
      if (fit_q) (*J)(i, 2) = -std::log(g) / dh_dx;
    }
  };
  Eigen::VectorXd r;
  Eigen::MatrixXd J;
  residuals(law, r, &J);
  for (int iter = 0; iter < 50; ++iter) {
    const Eigen::VectorXd delta = J.colPivHouseholderQr().solve(r);
    bool improved = false;
    for (double scale = 1; scale > 1e-4 && !improved; scale /= 2) {
      AllocationLaw trial = law;
      trial.k += scale * delta(0);
      trial.p += scale * delta(1);
      if (fit_q) trial.q += scale * delta(2);
      if (!(trial.p > 0 && trial.q >= 0)) continue;
      Eigen::VectorXd trial_r;
      residuals(trial, trial_r, nullptr);
      if (trial_r.squaredNorm() < r.squaredNorm()) {
        law = trial;
        improved = true;
      }
    }
    if (!improved || delta.norm() < 1e-12) break;
    residuals(law, r, &J);
  }
}

}  // namespace

Allocation AllocationAt(const AllocationLaw& law, double flops) {
  Allocation a;
  a.n_params = law.cost_aware ? std::exp(CostAwareLogN(law, flops)) : Evaluate(law.n_power_law, flops);
  a.tokens = law.cost.TokensFor(a.n_params, flops);
  return a;
}

AllocationLaw FitAllocationLaw(std::span<const Vertex> vertices, const CostModel& cost) {
  AllocationLaw law;
  law.cost = cost;
  std::vector<double> c, n;
  for (const Vertex& v : vertices) {
    c.push_back(v.budget);
    n.push_back(v.n_opt);
  }
  law.n_power_law = FitPowerLaw(c, n, "approach 2 N_opt");
  if (cost.ProportionalToN()) {
    law.method = "power law through the vertices (the cost is proportional to N)";
    return law;
  }
  std::vector<double> distinct = c;
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  if (distinct.size() < 3) {
    law.method = "power law through 2 budgets' vertices (3 budgets are needed to fit the cost "
                 "curve's first-order condition, so extrapolation ignores how f(N)/N changes)";
    return law;
  }
  // Linear start: ln N = k + p ln D - q ln g(N) at the vertices, then Gauss-Newton against C.
  const int rows = static_cast<int>(vertices.size());
  Eigen::MatrixXd X(rows, 3);
  Eigen::VectorXd y(rows);
  for (int i = 0; i < rows; ++i) {
    X(i, 0) = 1;
    X(i, 1) = std::log(vertices[i].d_opt);
    X(i, 2) = -std::log(cost.Elasticity(vertices[i].n_opt));
    y(i) = std::log(vertices[i].n_opt);
  }
  Eigen::Vector3d start = X.colPivHouseholderQr().solve(y);
  bool fit_q = start(2) >= 0;
  if (!fit_q) start.head<2>() = X.leftCols<2>().colPivHouseholderQr().solve(y);
  law.cost_aware = true;
  law.k = start(0);
  law.p = start(1) > 0 ? start(1) : law.n_power_law.exponent / (1 - law.n_power_law.exponent);
  law.q = fit_q ? start(2) : 0;
  if (!(law.p > 0)) {
    law.cost_aware = false;
    law.method = "power law through the vertices (their first-order condition gave no positive "
                 "tokens exponent)";
    return law;
  }
  RefineCostAware(law, vertices, fit_q);
  law.method = fmt::format("first-order condition under the cost curve: ln N = {:.4g} + {:.4g} ln D "
                           "- {:.4g} ln(d ln f/d ln N), fitted to {} vertices{}",
                           law.k, law.p, law.q, vertices.size(),
                           fit_q ? "" : " (curvature term at its bound 0)");
  return law;
}

Approach2Result FitApproach2(std::span<const Point> points, const Approach2Options& options) {
  Approach2Result r;
  r.cost = options.cost;
  r.vertices = IsoFlopVertices(points, options, &r.skipped);
  if (r.vertices.size() < 2) {
    std::string why;
    for (const SkippedBudget& s : r.skipped) {
      why += fmt::format("\n  budget {:.4g} ({}): {}", s.budget, Counted(s.n_points, "point"), s.reason);
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
  r.allocation = FitAllocationLaw(r.vertices, options.cost);
  return r;
}

}  // namespace sims::fitting
