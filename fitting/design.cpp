#include "fitting/design.h"

#include <algorithm>
#include <cmath>

#include <Eigen/Dense>
#include <fmt/format.h>

#include "common/error.h"
#include "common/format.h"

namespace sims::fitting {

std::vector<DesignTarget> OptimumTargets(const CostModel& cost, double flops) {
  return {{fmt::format("ln N_opt at {}", FormatNumber(flops)),
           [cost, flops](const LawParams& law) {
             return std::log(OptimalAllocation(law, cost, flops).n_params);
           }},
          {fmt::format("ln loss at {}", FormatNumber(flops)),
           [cost, flops](const LawParams& law) { return std::log(OptimalLoss(law, cost, flops)); }}};
}

std::vector<DesignTarget> LossTargets(std::span<const Point> region) {
  std::vector<DesignTarget> targets;
  for (const Point& p : region) {
    targets.push_back({fmt::format("ln loss at N = {}, D = {}", FormatNumber(p.n_params),
                                   FormatNumber(p.tokens)),
                       [n = p.n_params, d = p.tokens](const LawParams& law) {
                         return std::log(PredictLoss(law, n, d));
                       }});
  }
  return targets;
}

void Validate(const DesignOptions& options) {
  if (!(options.noise_sd >= 0 && std::isfinite(options.noise_sd))) {
    throw UserError(fmt::format("design: noise_sd = {} must be finite and >= 0", options.noise_sd));
  }
  if (!(options.spend_flops >= 0 && std::isfinite(options.spend_flops))) {
    throw UserError(
        fmt::format("design: spend = {} FLOPs must be finite and >= 0", options.spend_flops));
  }
  if (options.max_runs < 0) {
    throw UserError(fmt::format("design: max_runs = {} must be >= 0", options.max_runs));
  }
}

DesignResult ChooseRuns(std::span<const LawParams> ensemble, std::span<const DesignTarget> targets,
                        std::span<const Candidate> candidates, const DesignOptions& options) {
  Validate(options);
  constexpr size_t kMinEnsemble = 10;
  if (ensemble.size() < kMinEnsemble) {
    throw UserError(fmt::format("design: the bootstrap gave {} laws, need at least {} to estimate "
                                "how runs would narrow the targets (run the fit with more "
                                "resamples)",
                                ensemble.size(), kMinEnsemble));
  }
  if (targets.empty()) throw UserError("design: no target to make precise");
  const size_t k = targets.size(), j = candidates.size(), s = ensemble.size();
  // Rows: the targets, then each candidate's predicted ln loss; columns: the ensemble's laws.
  Eigen::MatrixXd z(k + j, s);
  for (size_t col = 0; col < s; ++col) {
    for (size_t t = 0; t < k; ++t) z(t, col) = targets[t].value(ensemble[col]);
    for (size_t c = 0; c < j; ++c) {
      z(k + c, col) = std::log(PredictLoss(ensemble[col], candidates[c].n_params, candidates[c].tokens));
    }
  }
  if (!z.allFinite()) {
    throw UserError("design: a law of the ensemble gives a non-finite target or prediction");
  }
  const Eigen::VectorXd mean = z.rowwise().mean();
  z.colwise() -= mean;
  Eigen::MatrixXd cov = z * z.transpose() / static_cast<double>(s - 1);

  DesignResult result;
  std::vector<double> weight(k);
  for (size_t t = 0; t < k; ++t) {
    if (!(cov(t, t) > 0)) {
      throw UserError(fmt::format("design: the target '{}' is the same under every law of the "
                                  "ensemble: no run can make it more precise",
                                  targets[t].name));
    }
    result.sd_before.push_back(std::sqrt(cov(t, t)));
    weight[t] = 1 / cov(t, t);  // gains are fractions of each target's variance now
  }
  const double noise = options.noise_sd * options.noise_sd;
  std::vector<char> taken(j, 0);
  double spent = 0;
  while (options.max_runs == 0 || result.proposals.size() < static_cast<size_t>(options.max_runs)) {
    Proposal best;
    best.gain = -1;
    for (size_t c = 0; c < j; ++c) {
      if (taken[c]) continue;
      const double flops = candidates[c].flops;
      if (options.spend_flops > 0 && spent + flops > options.spend_flops * (1 + 1e-12)) continue;
      const size_t row = k + c;
      const double denominator = cov(row, row) + noise;
      if (!(denominator > 0)) continue;
      double gain = 0, top = -1;
      size_t main = 0;
      for (size_t t = 0; t < k; ++t) {
        const double g = weight[t] * cov(t, row) * cov(t, row) / denominator;
        gain += g;
        if (g > top) top = g, main = t;
      }
      if (gain > best.gain) {
        best.candidate = c;
        best.gain = gain;
        best.gain_per_flop = gain / flops;
        best.main_target = main;
      }
    }
    if (best.gain < 0) break;  // nothing left that fits the spend
    // Observe the pick: the rank-one update of the joint covariance.
    const size_t row = k + best.candidate;
    const Eigen::VectorXd column = cov.col(row);
    cov -= column * column.transpose() / (column(row) + noise);
    for (size_t t = 0; t < k; ++t) best.sd_after.push_back(std::sqrt(std::max(0.0, cov(t, t))));
    taken[best.candidate] = 1;
    spent += candidates[best.candidate].flops;
    result.proposals.push_back(std::move(best));
  }
  return result;
}

double LogResidualSd(std::span<const Point> points, const LawParams& law) {
  if (points.size() <= 5) {
    throw UserError(fmt::format("design: {} points leave no residual to estimate the noise "
                                "(need more than 5)",
                                points.size()));
  }
  double sum = 0;
  for (const Point& p : points) {
    const double r = std::log(p.loss) - std::log(PredictLoss(law, p.n_params, p.tokens));
    sum += r * r;
  }
  return std::sqrt(sum / static_cast<double>(points.size() - 5));
}

}  // namespace sims::fitting
