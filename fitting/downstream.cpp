#include "fitting/downstream.h"

#include <algorithm>
#include <cmath>
#include <map>

#include <ceres/ceres.h>
#include <fmt/format.h>

#include "common/error.h"
#include "fitting/laws.h"
#include "fitting/parallel.h"

namespace sims::fitting {
namespace {

// acc(C) = floor + (ceiling - floor) * sigmoid(slope * (log C - log_mid)); parameters
// (ceiling, slope, log_mid), floor fixed. Analytic derivatives.
class SigmoidResidual final : public ceres::SizedCostFunction<1, 3> {
 public:
  SigmoidResidual(double log_c, double value, double floor)
      : log_c_(log_c), value_(value), floor_(floor) {}
  bool Evaluate(double const* const* p, double* residual, double** jacobians) const override {
    const double ceiling = p[0][0], slope = p[0][1], log_mid = p[0][2];
    const double z = slope * (log_c_ - log_mid);
    const double s = 1 / (1 + std::exp(-z));
    residual[0] = floor_ + (ceiling - floor_) * s - value_;
    if (jacobians && jacobians[0]) {
      const double ds = s * (1 - s);
      jacobians[0][0] = s;
      jacobians[0][1] = (ceiling - floor_) * ds * (log_c_ - log_mid);
      jacobians[0][2] = -(ceiling - floor_) * ds * slope;
    }
    return true;
  }

 private:
  double log_c_, value_, floor_;
};

}  // namespace

void Validate(const DownstreamOptions& options) {
  if (!(options.floor >= 0 && options.floor < 1)) {
    throw UserError(fmt::format("downstream: floor must be in [0, 1), got {}", options.floor));
  }
}

std::vector<MetricPoint> BestPerBudget(std::span<const MetricPoint> points) {
  std::map<double, MetricPoint> best;
  for (const MetricPoint& p : points) {
    const double budget = p.budget > 0 ? p.budget : p.flops;
    auto [it, inserted] = best.emplace(budget, p);
    if (!inserted && p.value > it->second.value) it->second = p;
  }
  std::vector<MetricPoint> out;
  for (auto& [budget, p] : best) {
    p.budget = budget;
    out.push_back(p);
  }
  return out;
}

DownstreamResult FitDownstream(std::span<const MetricPoint> points, const DownstreamOptions& options) {
  Validate(options);
  DownstreamResult r;
  r.form = options.form;
  r.best = BestPerBudget(points);
  if (r.best.size() < 2) {
    throw UserError(fmt::format("downstream: {} budget(s), need at least 2", r.best.size()));
  }
  if (options.form == DownstreamForm::kPowerLaw) {
    std::vector<double> c, err;
    for (const MetricPoint& p : r.best) {
      c.push_back(p.budget);
      err.push_back(1 - p.value);
    }
    const PowerLaw law = FitPowerLaw(c, err, "downstream 1 - accuracy");
    r.coefficient = law.coefficient;
    r.exponent = law.exponent;
    return r;
  }
  if (r.best.size() < 3) {
    throw UserError(fmt::format("downstream: a sigmoid has 3 free parameters, need at least 3 budgets, got {}", r.best.size()));
  }
  SilenceCeres(false);
  double lo = 1e300, hi = -1e300, top = 0;
  for (const MetricPoint& p : r.best) {
    lo = std::min(lo, std::log(p.budget));
    hi = std::max(hi, std::log(p.budget));
    top = std::max(top, p.value);
  }
  double x[3] = {std::min(1.0, std::max(top, options.floor + 0.01)), 4 / std::max(hi - lo, 1e-9),
                 0.5 * (lo + hi)};
  ceres::Problem problem;
  for (const MetricPoint& p : r.best) {
    problem.AddResidualBlock(new SigmoidResidual(std::log(p.budget), p.value, options.floor), nullptr, x);
  }
  problem.SetParameterLowerBound(x, 0, options.floor);
  problem.SetParameterUpperBound(x, 0, 1.0);
  ceres::Solver::Options o;
  o.max_num_iterations = 1000;
  o.function_tolerance = 1e-15;
  o.gradient_tolerance = 1e-15;
  o.parameter_tolerance = 1e-15;
  o.logging_type = ceres::SILENT;
  ceres::Solver::Summary summary;
  ceres::Solve(o, &problem, &summary);
  r.floor = options.floor;
  r.ceiling = x[0];
  r.slope = x[1];
  r.log_mid = x[2];
  return r;
}

double PredictMetric(const DownstreamResult& fit, double flops) {
  if (fit.form == DownstreamForm::kPowerLaw) return 1 - fit.coefficient * std::pow(flops, fit.exponent);
  return fit.floor + (fit.ceiling - fit.floor) / (1 + std::exp(-fit.slope * (std::log(flops) - fit.log_mid)));
}

}  // namespace sims::fitting
