#include "fitting/design.h"

#include <algorithm>
#include <cmath>
#include <map>

#include <Eigen/Dense>
#include <fmt/format.h>

#include "common/error.h"
#include "common/format.h"
#include "fitting/approach3.h"

namespace sims::fitting {
namespace {

// exp(-|x - y|^2 / (2 length^2)) between the columns of x (2, m) and y (2, n), (ln N, ln D).
Eigen::MatrixXd Correlation(const Eigen::MatrixXd& x, const Eigen::MatrixXd& y, double length) {
  Eigen::MatrixXd k(x.cols(), y.cols());
  for (Eigen::Index i = 0; i < x.cols(); ++i) {
    for (Eigen::Index j = 0; j < y.cols(); ++j) {
      k(i, j) = std::exp(-(x.col(i) - y.col(j)).squaredNorm() / (2 * length * length));
    }
  }
  return k;
}

Eigen::MatrixXd LogPlaces(std::span<const Point> points) {
  Eigen::MatrixXd x(2, points.size());
  for (size_t i = 0; i < points.size(); ++i) {
    x(0, i) = std::log(points[i].n_params);
    x(1, i) = std::log(points[i].tokens);
  }
  return x;
}

}  // namespace

std::vector<DesignTarget> OptimumTargets(const CostModel& cost, double flops,
                                         const LawParams* place) {
  std::vector<DesignTarget> targets{
      {fmt::format("ln N_opt at {}", FormatNumber(flops)),
       [cost, flops](std::span<const LawParams> laws) {
         return std::log(OptimalAllocation(laws[0], cost, flops).n_params);
       },
       "ln N_opt"},
      {fmt::format("ln loss at {}", FormatNumber(flops)),
       [cost, flops](std::span<const LawParams> laws) {
         return std::log(OptimalLoss(laws[0], cost, flops));
       },
       "ln optimal loss"}};
  if (place != nullptr) {
    const Allocation at = OptimalAllocation(*place, cost, flops);
    targets[1].n_params = at.n_params;
    targets[1].tokens = at.tokens;
  }
  return targets;
}

std::vector<DesignTarget> LossTargets(std::span<const Point> region) {
  std::vector<DesignTarget> targets;
  for (const Point& p : region) {
    targets.push_back({fmt::format("ln loss at N = {}, D = {}", FormatNumber(p.n_params),
                                   FormatNumber(p.tokens)),
                       [n = p.n_params, d = p.tokens](std::span<const LawParams> laws) {
                         return std::log(PredictLoss(laws[0], n, d));
                       },
                       "ln loss in the region", p.n_params, p.tokens});
  }
  return targets;
}

DesignTarget LossGapTarget(const CostModel& first, const CostModel& second, double flops) {
  return {fmt::format("ln loss gap at {}", FormatNumber(flops)),
          [first, second, flops](std::span<const LawParams> laws) {
            return std::log(OptimalLoss(laws[1], second, flops)) -
                   std::log(OptimalLoss(laws[0], first, flops));
          },
          "ln loss gap"};
}

void Validate(const DesignOptions& options) {
  if (!(options.noise_sd >= 0 && std::isfinite(options.noise_sd))) {
    throw UserError(fmt::format("design: noise_sd = {} must be finite and >= 0", options.noise_sd));
  }
  if (!(options.spend_flops >= 0 && std::isfinite(options.spend_flops))) {
    throw UserError(
        fmt::format("design: spend = {} FLOPs must be finite and >= 0", options.spend_flops));
  }
  if (!(options.misfit_sd >= 0 && std::isfinite(options.misfit_sd))) {
    throw UserError(fmt::format("design: misfit_sd = {} must be finite and >= 0", options.misfit_sd));
  }
  if (!(options.misfit_length > 0 && std::isfinite(options.misfit_length))) {
    throw UserError(fmt::format("design: misfit_length = {} must be finite and > 0",
                                options.misfit_length));
  }
  if (options.max_runs < 0) {
    throw UserError(fmt::format("design: max_runs = {} must be >= 0", options.max_runs));
  }
}

DesignResult ChooseRuns(std::span<const LawParams> ensemble, std::span<const DesignTarget> targets,
                        std::span<const Candidate> candidates, const DesignOptions& options) {
  Validate(options);
  const DesignCondition one{ensemble, options.noise_sd, options.misfit_sd, options.observed};
  DesignOptions shared = options;
  shared.noise_sd = shared.misfit_sd = 0;
  shared.observed.clear();
  return ChooseRuns(std::span<const DesignCondition>(&one, 1), targets, candidates, shared);
}

DesignResult ChooseRuns(std::span<const DesignCondition> conditions,
                        std::span<const DesignTarget> targets, std::span<const Candidate> candidates,
                        const DesignOptions& options) {
  Validate(options);
  if (options.noise_sd != 0 || options.misfit_sd != 0 || !options.observed.empty()) {
    throw UserError("design: a joint design takes the noise, misfit and observed runs per "
                    "condition (DesignCondition), not in its options");
  }
  if (conditions.empty()) throw UserError("design: no condition to draw laws from");
  constexpr size_t kMinEnsemble = 10;
  size_t s = conditions[0].ensemble.size();
  for (size_t c = 0; c < conditions.size(); ++c) {
    const DesignCondition& condition = conditions[c];
    DesignOptions own;
    own.noise_sd = condition.noise_sd;
    own.misfit_sd = condition.misfit_sd;
    Validate(own);
    if (condition.ensemble.size() < kMinEnsemble) {
      throw UserError(fmt::format("design: the bootstrap gave {} laws, need at least {} to "
                                  "estimate how runs would narrow the targets (run the fit with "
                                  "more resamples)",
                                  condition.ensemble.size(), kMinEnsemble));
    }
    s = std::min(s, condition.ensemble.size());
  }
  if (targets.empty()) throw UserError("design: no target to make precise");
  for (const Candidate& c : candidates) {
    if (c.condition >= conditions.size()) {
      throw UserError(fmt::format("design: a candidate of condition {} in a design of {}",
                                  c.condition, conditions.size()));
    }
  }
  for (const DesignTarget& t : targets) {
    if (t.condition >= conditions.size()) {
      throw UserError(fmt::format("design: the target '{}' is placed in condition {} of a design "
                                  "of {}",
                                  t.name, t.condition, conditions.size()));
    }
  }
  const size_t k = targets.size(), j = candidates.size();
  // Rows: the targets, then each candidate's predicted ln loss; columns: the ensembles' laws,
  // the s-th of each condition together.
  Eigen::MatrixXd z(k + j, s);
  std::vector<LawParams> laws(conditions.size());
  for (size_t col = 0; col < s; ++col) {
    for (size_t c = 0; c < conditions.size(); ++c) laws[c] = conditions[c].ensemble[col];
    for (size_t t = 0; t < k; ++t) z(t, col) = targets[t].value(laws);
    for (size_t c = 0; c < j; ++c) {
      z(k + c, col) = std::log(
          PredictLoss(laws[candidates[c].condition], candidates[c].n_params, candidates[c].tokens));
    }
  }
  for (size_t t = 0; t < k; ++t) {
    const auto bad = (!z.row(static_cast<Eigen::Index>(t)).array().isFinite()).count();
    if (bad > 0) {
      throw UserError(fmt::format("design: the target '{}' is not finite under {} of the "
                                  "ensemble's {} laws",
                                  targets[t].name, bad, s));
    }
  }
  if (!z.allFinite()) {
    throw UserError("design: a law of the ensemble gives a non-finite prediction");
  }
  const Eigen::VectorXd mean = z.rowwise().mean();
  z.colwise() -= mean;
  Eigen::MatrixXd cov = z * z.transpose() / static_cast<double>(s - 1);
  for (size_t cond = 0; cond < conditions.size(); ++cond) {
    const DesignCondition& condition = conditions[cond];
    if (!(condition.misfit_sd > 0)) continue;
    // The misfit's covariance over the condition's rows that have a place, given what its
    // observed runs saw of it, K_qq - K_qo (K_oo + noise I)^-1 K_oq, is added to the ensemble's:
    // a run near a target then informs it beyond what the law's parameters carry, unless a run
    // observed there already has. Conditions' misfits are independent.
    std::vector<Eigen::Index> rows;
    std::vector<Eigen::Vector2d> places;  // (ln N, ln D) of each row
    for (size_t t = 0; t < k; ++t) {
      if (targets[t].condition == cond && targets[t].n_params > 0 && targets[t].tokens > 0) {
        rows.push_back(static_cast<Eigen::Index>(t));
        places.push_back({std::log(targets[t].n_params), std::log(targets[t].tokens)});
      }
    }
    for (size_t c = 0; c < j; ++c) {
      if (candidates[c].condition != cond) continue;
      rows.push_back(static_cast<Eigen::Index>(k + c));
      places.push_back({std::log(candidates[c].n_params), std::log(candidates[c].tokens)});
    }
    Eigen::MatrixXd xq(2, places.size());
    for (size_t i = 0; i < places.size(); ++i) xq.col(static_cast<Eigen::Index>(i)) = places[i];
    const double tau2 = condition.misfit_sd * condition.misfit_sd, length = options.misfit_length;
    Eigen::MatrixXd misfit = tau2 * Correlation(xq, xq, length);
    if (!condition.observed.empty()) {
      const Eigen::MatrixXd xo = LogPlaces(condition.observed);
      Eigen::MatrixXd koo = tau2 * Correlation(xo, xo, length);
      // A noise-free run: still solvable.
      koo.diagonal().array() += std::max(condition.noise_sd * condition.noise_sd, 1e-12 * tau2);
      const Eigen::MatrixXd kqo = tau2 * Correlation(xq, xo, length);
      misfit -= kqo * koo.ldlt().solve(kqo.transpose());
    }
    for (size_t a = 0; a < rows.size(); ++a) {
      for (size_t b = 0; b < rows.size(); ++b) cov(rows[a], rows[b]) += misfit(a, b);
    }
  }
  std::vector<double> noise(j);  // each candidate's observation noise variance
  for (size_t c = 0; c < j; ++c) {
    const double sd = conditions[candidates[c].condition].noise_sd;
    noise[c] = sd * sd;
  }

  DesignResult result;
  std::map<std::string, double> quantity_variance;
  for (size_t t = 0; t < k; ++t) {
    if (!(cov(t, t) > 0)) {
      throw UserError(fmt::format("design: the target '{}' is the same under every law of the "
                                  "ensemble: no run can make it more precise",
                                  targets[t].name));
    }
    result.sd_before.push_back(std::sqrt(cov(t, t)));
    quantity_variance[targets[t].quantity] += cov(t, t);
  }
  // Gains are fractions of each quantity's variance now: a quantity of one target weighs its
  // relative precision, a region its mean variance (a target of it already precise weighs less).
  std::vector<double> weight(k);
  for (size_t t = 0; t < k; ++t) weight[t] = 1 / quantity_variance[targets[t].quantity];
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
      const double denominator = cov(row, row) + noise[c];
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
    cov -= column * column.transpose() / (column(row) + noise[best.candidate]);
    for (size_t t = 0; t < k; ++t) best.sd_after.push_back(std::sqrt(std::max(0.0, cov(t, t))));
    taken[best.candidate] = 1;
    spent += candidates[best.candidate].flops;
    result.proposals.push_back(std::move(best));
  }
  return result;
}

double ExtrapolationError(std::span<const Point> points, double noise_sd, int threads) {
  std::vector<Point> sorted(points.begin(), points.end());
  std::sort(sorted.begin(), sorted.end(),
            [](const Point& a, const Point& b) { return a.flops < b.flops; });
  const size_t held = std::max<size_t>(1, sorted.size() / 4);
  const std::span<const Point> rest(sorted.data(), sorted.size() - held);
  if (rest.size() < 5) return noise_sd;
  try {
    const Approach3Result fit = FitApproach3(rest, CoarseApproach3Options(threads));
    double sum = 0;
    for (size_t i = rest.size(); i < sorted.size(); ++i) {
      const Point& p = sorted[i];
      const double r = std::log(p.loss) - std::log(PredictLoss(fit.params, p.n_params, p.tokens));
      sum += r * r;
    }
    return std::max(noise_sd, std::sqrt(sum / static_cast<double>(held)));
  } catch (const UserError&) {
    return noise_sd;
  }
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
