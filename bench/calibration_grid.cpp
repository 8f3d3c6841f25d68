// A second design for the calibration of approach 3's intervals (docs/benchmarks.md): the 8 x 8
// grid of N x D of tests/test_fitting.cpp (N 1e7..1e9, D 1e8..1e11), the law E 1.8, A 400,
// B 1200, alpha .35, beta .3, lognormal noise of the given size; 100 seeds, 200 resamples, a
// 32-start grid. Prints, per parameter, the estimates' mean, SD and bias, and how many of the
// 100 intervals cover the truth for each bootstrap method.
//   bench_calibration_grid [noise, default 0.005]
#include <cmath>
#include <cstdlib>
#include <map>
#include <random>

#include <fmt/format.h>

#include "fitting/approach3.h"
#include "fitting/bootstrap.h"
#include "fitting/parallel.h"

using namespace sims::fitting;

namespace {

// As tests/test_fitting.cpp's SyntheticPoints (std::normal_distribution: libstdc++'s sequence).
std::vector<Point> SyntheticPoints(const LawParams& law, double noise, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0, noise);
  std::vector<Point> points;
  for (int i = 0; i < 8; ++i) {
    for (int j = 0; j < 8; ++j) {
      Point p;
      p.n_params = 1e7 * std::pow(10, i * 2.0 / 7);
      p.tokens = 1e8 * std::pow(10, j * 3.0 / 7);
      p.flops = p.budget = 6 * p.n_params * p.tokens;
      p.loss = PredictLoss(law, p.n_params, p.tokens) * std::exp(normal(rng));
      points.push_back(p);
    }
  }
  return points;
}

}  // namespace

int main(int argc, char** argv) {
  const double noise = argc > 1 ? std::atof(argv[1]) : 0.005;
  const LawParams truth{1.8, 400, 1200, 0.35, 0.3};
  constexpr int kSeeds = 100;
  const char* names[] = {"E", "alpha", "beta", "a", "loss_exponent"};
  const double truths[] = {truth.E, truth.alpha, truth.beta, FrontierOf(truth).a, LossComputeExponent(truth)};
  const std::pair<BootstrapMethod, const char*> methods[] = {
      {BootstrapMethod::kCases, "cases (before)"},
      {BootstrapMethod::kResiduals, "residuals"},
      {BootstrapMethod::kParametric, "parametric (sims)"}};
  std::vector<std::map<std::string, int>> covered(kSeeds);
  std::vector<std::vector<double>> estimates(kSeeds);
  ParallelFor(kSeeds, 2, [&](size_t s) {
    const auto points = SyntheticPoints(truth, noise, 100 + s);
    Approach3Options fit_options;
    fit_options.threads = 1;
    fit_options.grid = {{0.25, 0.5}, {0.25, 0.5}, {0, 1}, {5, 8}, {5, 8}};
    const Approach3Result fit = FitApproach3(points, fit_options);
    estimates[s] = {fit.params.E, fit.params.alpha, fit.params.beta, fit.frontier.a,
                    LossComputeExponent(fit.params)};
    for (const auto& [method, label] : methods) {
      BootstrapOptions b;
      b.resamples = 200;
      b.seed = s;
      b.method = method;
      b.threads = 1;
      const BootstrapResult boot = BootstrapApproach3(points, fit, fit_options, b);
      for (int k = 0; k < 5; ++k) {
        const Interval iv = boot.intervals.at(names[k]);
        covered[s][fmt::format("{} {}", label, names[k])] += iv.lo <= truths[k] && truths[k] <= iv.hi;
      }
    }
  });
  fmt::print("8 x 8 grid, lognormal noise {}, {} seeds: intervals covering the truth\n\n", noise, kSeeds);
  fmt::print("| parameter | truth | mean | SD | bias / SD | cases (before) | residuals | parametric (sims) |\n");
  fmt::print("|---|---|---|---|---|---|---|---|\n");
  for (int k = 0; k < 5; ++k) {
    double mean = 0, var = 0;
    for (int s = 0; s < kSeeds; ++s) mean += estimates[s][k] / kSeeds;
    for (int s = 0; s < kSeeds; ++s) var += std::pow(estimates[s][k] - mean, 2) / (kSeeds - 1);
    fmt::print("| {} | {:.4f} | {:.4f} | {:.4f} | {:+.2f} |", names[k], truths[k], mean, std::sqrt(var),
               (mean - truths[k]) / std::sqrt(var));
    for (const auto& [method, label] : methods) {
      int c = 0;
      for (int s = 0; s < kSeeds; ++s) c += covered[s][fmt::format("{} {}", label, names[k])];
      fmt::print(" {} |", c);
    }
    fmt::print("\n");
  }
  return 0;
}
