#include "fitting/compare.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "common/error.h"

namespace sims::fitting {
namespace {

// Where a crossing of the optimal-loss frontiers is searched: 1e12 to 1e30 FLOPs, from far
// below any sweep here to far beyond any published run.
constexpr double kCrossLo = 1e12, kCrossHi = 1e30;

double Multiplier(const LawParams& first, const CostModel& first_cost, const LawParams& second,
                  const CostModel& second_cost, double budget) {
  const auto c = FlopsToReachLoss(second, second_cost, OptimalLoss(first, first_cost, budget));
  return c ? *c / budget : std::numeric_limits<double>::infinity();
}

// Two-sided Wald test of "the two conditions' exponents are equal": z = (x1 - x2) / sqrt(s1^2 +
// s2^2), p = 2 (1 - Phi(|z|)). Each standard error is read from the condition's own calibrated
// interval, on the arm that faces the other estimate (the arm's length / z_level), so a skewed
// interval counts its near side, and the test inherits the intervals' small-sample stretch.
// Measured on synthetic studies (bench/calibration.cpp): type-I error 3-5.5% and power within 2
// points of a Wald test with the true sampling variances; the percentile test on paired
// resample differences it replaces rejected 0-1% of nulls and had a third of the power.
std::optional<double> WaldP(double x1, const Interval& i1, double level1, double x2, const Interval& i2,
                            double level2) {
  const bool first_above = x1 >= x2;
  const double s1 = (first_above ? x1 - i1.lo : i1.hi - x1) / NormalQuantile(0.5 * (1 + level1));
  const double s2 = (first_above ? i2.hi - x2 : x2 - i2.lo) / NormalQuantile(0.5 * (1 + level2));
  const double se = std::sqrt(s1 * s1 + s2 * s2);
  if (!std::isfinite(se) || !std::isfinite(x1 - x2)) return std::nullopt;
  if (se == 0) return x1 == x2 ? 1.0 : 0.0;
  return std::erfc(std::abs(x1 - x2) / se / std::sqrt(2.0));
}

ConditionSummary Summarise(const ConditionFit& c, const std::vector<double>& budgets) {
  ConditionSummary s;
  s.condition = c.condition;
  s.a = c.fit.frontier.a;
  s.b = c.fit.frontier.b;
  s.loss_exponent = LossComputeExponent(c.fit.params);
  const auto& iv = c.bootstrap.intervals;
  if (iv.count("a")) s.a_interval = iv.at("a");
  if (iv.count("b")) s.b_interval = iv.at("b");
  if (iv.count("loss_exponent")) s.loss_exponent_interval = iv.at("loss_exponent");
  for (double budget : budgets) {
    const Allocation optimum = OptimalAllocation(c.fit.params, c.fit.cost, budget);
    s.tokens_per_param.push_back(optimum.tokens / optimum.n_params);
  }
  return s;
}

}  // namespace

std::optional<double> FlopsToReachLoss(const LawParams& law, const CostModel& cost, double loss) {
  if (!(loss > law.E)) return std::nullopt;
  double lo = std::log(1.0), hi = std::log(1e60);
  if (OptimalLoss(law, cost, std::exp(hi)) > loss) return std::nullopt;
  if (OptimalLoss(law, cost, std::exp(lo)) <= loss) return 1.0;
  for (int i = 0; i < 200 && hi - lo > 1e-13; ++i) {
    const double mid = 0.5 * (lo + hi);
    (OptimalLoss(law, cost, std::exp(mid)) > loss ? lo : hi) = mid;
  }
  return std::exp(hi);
}

Comparison CompareConditions(const ConditionFit& first, const ConditionFit& second,
                             const std::vector<double>& budgets) {
  Comparison r;
  r.budgets = budgets;
  r.first = Summarise(first, budgets);
  r.second = Summarise(second, budgets);
  const auto& s1 = first.bootstrap.law_samples;
  const auto& s2 = second.bootstrap.law_samples;
  const size_t paired = std::min(s1.size(), s2.size());
  for (double budget : budgets) {
    MultiplierRow row;
    row.budget = budget;
    row.loss_first = OptimalLoss(first.fit.params, first.fit.cost, budget);
    const auto c = FlopsToReachLoss(second.fit.params, second.fit.cost, row.loss_first);
    row.flops_second = c ? *c : std::numeric_limits<double>::infinity();
    row.multiplier = row.flops_second / budget;
    if (paired > 0) {
      std::vector<double> m;
      for (size_t i = 0; i < paired; ++i) {
        m.push_back(Multiplier(s1[i], first.fit.cost, s2[i], second.fit.cost, budget));
      }
      row.interval = PercentileInterval(m, first.bootstrap.level);
    }
    r.multipliers.push_back(row);
  }
  // Sign change of L1 - L2 on a log grid, refined by bisection.
  auto diff = [&](double log_c) {
    return OptimalLoss(first.fit.params, first.fit.cost, std::exp(log_c)) -
           OptimalLoss(second.fit.params, second.fit.cost, std::exp(log_c));
  };
  const int steps = 400;
  const double lo = std::log(kCrossLo), hi = std::log(kCrossHi);
  for (int i = 0; i < steps; ++i) {
    double x0 = lo + (hi - lo) * i / steps, x1 = lo + (hi - lo) * (i + 1) / steps;
    if ((diff(x0) > 0) != (diff(x1) > 0)) {
      for (int j = 0; j < 100; ++j) {
        const double mid = 0.5 * (x0 + x1);
        ((diff(mid) > 0) == (diff(x0) > 0) ? x0 : x1) = mid;
      }
      r.crossing_flops = std::exp(0.5 * (x0 + x1));
      break;
    }
  }
  const auto& iv1 = first.bootstrap.intervals;
  const auto& iv2 = second.bootstrap.intervals;
  const double level1 = first.bootstrap.level, level2 = second.bootstrap.level;
  if (iv1.count("a") && iv2.count("a")) {
    r.p_allocation_exponent = WaldP(r.first.a, iv1.at("a"), level1, r.second.a, iv2.at("a"), level2);
  }
  if (iv1.count("loss_exponent") && iv2.count("loss_exponent")) {
    r.p_loss_exponent = WaldP(r.first.loss_exponent, iv1.at("loss_exponent"), level1,
                              r.second.loss_exponent, iv2.at("loss_exponent"), level2);
  }
  return r;
}

Recommendation Recommend(const Approach3Result& fit, const BootstrapResult& bootstrap, double budget) {
  if (!(budget > 0) || !std::isfinite(budget)) {
    throw UserError(fmt::format("--budget must be a finite number of FLOPs > 0, got {}", budget));
  }
  Recommendation r;
  r.budget = budget;
  const Allocation optimum = OptimalAllocation(fit.params, fit.cost, budget);
  r.n_params = optimum.n_params;
  r.tokens = optimum.tokens;
  r.tokens_per_param = r.tokens / r.n_params;
  r.loss = optimum.loss;
  for (double v : {r.n_params, r.tokens, r.tokens_per_param, r.loss}) {
    if (!std::isfinite(v) || !(v > 0)) {
      throw UserError(fmt::format(
          "recommend: the fit gives no finite allocation at {:.4g} {} (N = {:.4g}, D = {:.4g}); "
          "the budget is outside what this law can price",
          budget, fit.cost.Unit(), r.n_params, r.tokens));
    }
  }
  if (!bootstrap.law_samples.empty()) {
    std::vector<double> n, d, tpp, loss;
    for (const LawParams& law : bootstrap.law_samples) {
      const Allocation x = OptimalAllocation(law, fit.cost, budget);
      n.push_back(x.n_params);
      d.push_back(x.tokens);
      tpp.push_back(x.tokens / x.n_params);
      loss.push_back(x.loss);
    }
    r.n_params_interval = PercentileInterval(n, bootstrap.level);
    r.tokens_interval = PercentileInterval(d, bootstrap.level);
    r.tokens_per_param_interval = PercentileInterval(tpp, bootstrap.level);
    r.loss_interval = PercentileInterval(loss, bootstrap.level);
  }
  return r;
}

}  // namespace sims::fitting
