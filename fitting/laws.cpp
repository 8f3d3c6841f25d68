#include "fitting/laws.h"

#include <cmath>

#include <fmt/format.h>

#include "common/error.h"

namespace sims::fitting {

double PredictLoss(const LawParams& law, double n_params, double tokens) {
  return law.E + law.A / std::pow(n_params, law.alpha) + law.B / std::pow(tokens, law.beta);
}

Frontier FrontierOf(const LawParams& law) {
  Frontier f;
  const double sum = law.alpha + law.beta;
  f.a = law.beta / sum;
  f.b = law.alpha / sum;
  f.G = std::pow(law.alpha * law.A / (law.beta * law.B), 1.0 / sum);
  return f;
}

Allocation OptimalAllocation(const LawParams& law, const CostModel& cost, double flops) {
  const double nan = std::nan("");
  if (!(flops > 0) || !std::isfinite(flops)) return {nan, nan, nan};
  const Frontier f = FrontierOf(law);
  auto at = [&](double n) { return Allocation{n, cost.TokensFor(n, flops), 0}; };
  auto finish = [&](Allocation x) {
    x.loss = PredictLoss(law, x.n_params, x.tokens);
    return x;
  };
  if (cost.n_params.size() <= 1) {
    const double k = cost.n_params.empty() ? 6 : cost.flops_per_token[0] / cost.n_params[0];
    return finish(at(f.G * std::pow(flops / k, f.a)));
  }
  // Start where a proportional cost with this N's FLOPs per token would put the optimum.
  double n = f.G * std::pow(flops / 6, f.a);
  for (int i = 0; i < 4; ++i) n = f.G * std::pow(flops * n / cost.FlopsPerToken(n), f.a);
  // Reducible loss along the budget as a function of x = ln N.
  auto reducible = [&](double x) {
    const double size = std::exp(x);
    return law.A * std::exp(-law.alpha * x) + law.B * std::pow(cost.TokensFor(size, flops), -law.beta);
  };
  const double step = 0.05, reach = 4.6;  // +-100x around the start, 5% steps
  double best_x = std::log(n), best = reducible(best_x);
  for (double x = std::log(n) - reach; x <= std::log(n) + reach; x += step) {
    const double value = reducible(x);
    if (value < best) best = value, best_x = x;
  }
  double lo = best_x - step, hi = best_x + step;
  const double golden = 0.5 * (std::sqrt(5.0) - 1);
  double x1 = hi - golden * (hi - lo), x2 = lo + golden * (hi - lo);
  double h1 = reducible(x1), h2 = reducible(x2);
  for (int i = 0; i < 60 && hi - lo > 1e-12; ++i) {
    if (h1 < h2) {
      hi = x2, x2 = x1, h2 = h1;
      x1 = hi - golden * (hi - lo), h1 = reducible(x1);
    } else {
      lo = x1, x1 = x2, h1 = h2;
      x2 = lo + golden * (hi - lo), h2 = reducible(x2);
    }
  }
  return finish(at(std::exp(0.5 * (lo + hi))));
}

double OptimalLoss(const LawParams& law, const CostModel& cost, double flops) {
  return OptimalAllocation(law, cost, flops).loss;
}

double LossComputeExponent(const LawParams& law) {
  return law.alpha * law.beta / (law.alpha + law.beta);
}

double Evaluate(const PowerLaw& law, double x) { return law.coefficient * std::pow(x, law.exponent); }

PowerLaw FitPowerLaw(std::span<const double> x, std::span<const double> y, const std::string& what) {
  if (x.size() != y.size() || x.size() < 2) {
    throw UserError(fmt::format("{}: a power law needs at least 2 points, got {}", what, x.size()));
  }
  // Centred sums: log C spans ~10 decades, so the textbook n*sum(xy) - sum(x)sum(y) form loses
  // digits; centring keeps the slope exact to rounding.
  double mean_x = 0, mean_y = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    if (!(x[i] > 0) || !(y[i] > 0)) {
      throw UserError(fmt::format("{}: power-law fit needs positive values, got x={} y={}", what,
                                  x[i], y[i]));
    }
    mean_x += std::log(x[i]);
    mean_y += std::log(y[i]);
  }
  mean_x /= x.size();
  mean_y /= y.size();
  double sxx = 0, sxy = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double dx = std::log(x[i]) - mean_x;
    sxx += dx * dx;
    sxy += dx * (std::log(y[i]) - mean_y);
  }
  if (sxx == 0) {
    throw UserError(fmt::format("{}: a power law needs at least 2 distinct x values", what));
  }
  PowerLaw law;
  law.exponent = sxy / sxx;
  law.coefficient = std::exp(mean_y - law.exponent * mean_x);
  return law;
}

double Huber(double residual, double delta) {
  const double r = std::abs(residual);
  return r <= delta ? 0.5 * r * r : delta * (r - 0.5 * delta);
}

double Approach3Objective(std::span<const Point> points, const LawParams& law, double delta) {
  double sum = 0;
  for (const Point& p : points) {
    sum += Huber(std::log(PredictLoss(law, p.n_params, p.tokens)) - std::log(p.loss), delta);
  }
  return sum;
}

}  // namespace sims::fitting
