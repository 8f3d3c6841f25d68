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

double OptimalParams(const Frontier& frontier, double flops) {
  return frontier.G * std::pow(flops / 6.0, frontier.a);
}

double OptimalTokens(const Frontier& frontier, double flops) {
  return std::pow(flops / 6.0, frontier.b) / frontier.G;
}

double OptimalLoss(const LawParams& law, double flops) {
  const Frontier f = FrontierOf(law);
  return PredictLoss(law, OptimalParams(f, flops), OptimalTokens(f, flops));
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
