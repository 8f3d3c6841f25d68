#include "fitting/replay.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>
#include <set>

#include <Eigen/Dense>
#include <fmt/format.h>

#include "common/enum_names.h"
#include "common/error.h"
#include "common/format.h"
#include "common/log.h"
#include "fitting/approach3.h"
#include "fitting/bootstrap.h"
#include "fitting/design.h"
#include "fitting/random.h"

namespace sims::fitting {
namespace {

constexpr EnumNames<SelectionMethod, 5> kSelectionNames{{{SelectionMethod::kSims, "sims"},
                                                        {SelectionMethod::kRandom, "random"},
                                                        {SelectionMethod::kCheapest, "cheapest"},
                                                        {SelectionMethod::kCostWeighted, "cost-weighted"},
                                                        {SelectionMethod::kDOptimal, "d-optimal"}}};

constexpr int kRunsPerRound = 4;
constexpr size_t kSeedRuns = 8;

// A replay refits after every round, so it fits on the coarse grid of 243 starts
// (CoarseApproach3Options; from the second round also the previous optimum) instead of
// Chinchilla's 4500; every method and the all-data reference use the same.

ReplayScore Score(std::span<const Point> picked, const PoolSplit& split, int threads) {
  ReplayScore score;
  score.runs = static_cast<int>(picked.size());
  for (const Point& p : picked) score.flops += p.flops;
  try {
    const Approach3Result fit = FitApproach3(picked, CoarseApproach3Options(threads));
    double abs_rel = 0, ss_res = 0, mean = 0, ss_tot = 0;
    for (const Point& p : split.target) mean += p.loss / split.target.size();
    for (const Point& p : split.target) {
      const double predicted = PredictLoss(fit.params, p.n_params, p.tokens);
      abs_rel += std::abs(predicted - p.loss) / p.loss / split.target.size();
      ss_res += (predicted - p.loss) * (predicted - p.loss);
      ss_tot += (p.loss - mean) * (p.loss - mean);
    }
    score.fitted = true;
    score.mape = abs_rel;
    score.r2 = ss_tot > 0 ? 1 - ss_res / ss_tot : 0;
  } catch (const UserError& e) {
    score.error = e.what();
  }
  return score;
}

// d ln L / d (e, a, b, alpha, beta) at (N, D): the rows of the law's information.
Eigen::Matrix<double, 5, 1> LogLossGradient(const LawParams& law, double n, double d) {
  const double tn = law.A * std::pow(n, -law.alpha), td = law.B * std::pow(d, -law.beta);
  const double loss = law.E + tn + td;
  Eigen::Matrix<double, 5, 1> g;
  g << law.E / loss, tn / loss, td / loss, -std::log(n) * tn / loss, -std::log(d) * td / loss;
  return g;
}

// Up to kRunsPerRound of `left` by greedy D-optimality per FLOP, given the information of
// `picked` under `law`; within `room` FLOPs.
std::vector<size_t> DOptimalRound(const LawParams& law, std::span<const Point> picked,
                                  std::span<const Point> left, double room) {
  Eigen::Matrix<double, 5, 5> info = Eigen::Matrix<double, 5, 5>::Identity() * 1e-9;
  for (const Point& p : picked) {
    const auto g = LogLossGradient(law, p.n_params, p.tokens);
    info += g * g.transpose();
  }
  std::vector<size_t> chosen;
  std::vector<char> taken(left.size(), 0);
  while (chosen.size() < kRunsPerRound) {
    const Eigen::Matrix<double, 5, 5> inverse = info.inverse();
    double best = -1;
    size_t best_i = 0;
    for (size_t i = 0; i < left.size(); ++i) {
      if (taken[i] || left[i].flops > room) continue;
      const auto g = LogLossGradient(law, left[i].n_params, left[i].tokens);
      const double gain = std::log1p(g.dot(inverse * g)) / left[i].flops;
      if (gain > best) best = gain, best_i = i;
    }
    if (best < 0) break;
    taken[best_i] = 1;
    chosen.push_back(best_i);
    room -= left[best_i].flops;
    const auto g = LogLossGradient(law, left[best_i].n_params, left[best_i].tokens);
    info += g * g.transpose();
  }
  return chosen;
}

// Up to kRunsPerRound of `left` by ChooseRuns on a bootstrap ensemble of the current fit, with
// the misfit (design.h) sized by ExtrapolationError and seen at the picked runs.
std::vector<size_t> SimsRound(const Approach3Result& fit, std::span<const Point> picked,
                              std::span<const Point> left, const PoolSplit& split, double room,
                              const ReplayOptions& options, int round) {
  BootstrapOptions boot;
  boot.resamples = options.resamples;
  boot.seed = options.seed * 1000003 + static_cast<uint64_t>(round);
  boot.threads = options.threads;
  const BootstrapResult ensemble =
      BootstrapApproach3(picked, fit, CoarseApproach3Options(options.threads), boot);
  std::vector<Candidate> candidates;
  for (const Point& p : left) candidates.push_back({p.n_params, p.tokens, p.flops});
  DesignOptions design;
  design.noise_sd = LogResidualSd(picked, fit.params);
  design.spend_flops = room;
  design.max_runs = kRunsPerRound;
  design.misfit_sd = ExtrapolationError(picked, design.noise_sd, options.threads);
  design.observed.assign(picked.begin(), picked.end());
  Log(LogLevel::kDebug, "replay sims seed {} round {}: {} runs, noise SD {:.4f}, misfit SD {:.4f}",
      options.seed, round, picked.size(), design.noise_sd, design.misfit_sd);
  const DesignResult result =
      ChooseRuns(ensemble.law_samples, LossTargets(split.target), candidates, design);
  std::vector<size_t> chosen;
  for (const Proposal& p : result.proposals) chosen.push_back(p.candidate);
  return chosen;
}

}  // namespace

std::string ToString(SelectionMethod method) { return std::string(NameOf(kSelectionNames, method)); }
SelectionMethod SelectionMethodFromString(std::string_view text) {
  return ParseName(kSelectionNames, text, "a selection method");
}

PoolSplit SplitTarget(std::span<const Point> points) {
  PoolSplit split;
  std::set<double> budgets;
  for (const Point& p : points) {
    if (p.budget > 0) budgets.insert(p.budget);
  }
  if (budgets.size() >= 3) {
    const double largest = *budgets.rbegin();
    for (const Point& p : points) (p.budget == largest ? split.target : split.pool).push_back(p);
    split.rule = fmt::format("the {} runs of the largest budget", split.target.size());
  } else {
    std::vector<Point> sorted(points.begin(), points.end());
    std::sort(sorted.begin(), sorted.end(),
              [](const Point& a, const Point& b) { return a.flops > b.flops; });
    const size_t n = std::max<size_t>(3, sorted.size() / 10);
    split.target.assign(sorted.begin(), sorted.begin() + std::min(n, sorted.size()));
    split.pool.assign(sorted.begin() + split.target.size(), sorted.end());
    split.rule = fmt::format("the {} most expensive runs (10%)", split.target.size());
  }
  if (split.pool.size() < kSeedRuns + 2 || split.target.empty()) {
    throw UserError(fmt::format("replay: {} points leave a pool of {} runs and {} target runs; "
                                "need at least {} in the pool",
                                points.size(), split.pool.size(), split.target.size(),
                                kSeedRuns + 2));
  }
  return split;
}

ReplayScore Replay(const PoolSplit& split, SelectionMethod method, const ReplayOptions& options) {
  if (!(options.spend_fraction > 0 && options.spend_fraction <= 1)) {
    throw UserError(fmt::format("replay: spend = {} of the pool must be in (0, 1]",
                                options.spend_fraction));
  }
  double total = 0;
  for (const Point& p : split.pool) total += p.flops;
  const double limit = options.spend_fraction * total;
  SplitMix64 rng{options.seed};
  // The seed design, the same for every method: runs from the cheaper half, at least 5 and
  // while they cost at most a quarter of the spend, up to 8: a small seed, as an adaptive study
  // starts, leaves the methods most of the spend to choose with (docs/benchmarks.md).
  std::vector<size_t> order(split.pool.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return split.pool[a].flops < split.pool[b].flops; });
  std::vector<size_t> cheaper(order.begin(), order.begin() + order.size() / 2);
  for (size_t i = cheaper.size(); i > 1; --i) std::swap(cheaper[i - 1], cheaper[rng.Below(i)]);
  std::vector<Point> picked, left;
  std::vector<char> used(split.pool.size(), 0);
  double spent = 0;
  for (size_t i : cheaper) {
    if (picked.size() >= kSeedRuns) break;
    if (picked.size() >= 5 && spent + split.pool[i].flops > limit / 4) break;
    picked.push_back(split.pool[i]);
    spent += split.pool[i].flops;
    used[i] = 1;
  }
  for (size_t i = 0; i < split.pool.size(); ++i) {
    if (!used[i]) left.push_back(split.pool[i]);
  }
  auto take = [&](std::vector<size_t> chosen) {  // indices into `left`, removed in one go
    std::sort(chosen.rbegin(), chosen.rend());
    for (size_t i : chosen) {
      picked.push_back(left[i]);
      spent += left[i].flops;
      left.erase(left.begin() + static_cast<std::ptrdiff_t>(i));
    }
  };

  if (method == SelectionMethod::kSims || method == SelectionMethod::kDOptimal) {
    const Approach3Options fit_options = CoarseApproach3Options(options.threads);
    std::optional<Approach3Result> fit;
    for (int round = 0;; ++round) {
      const double room = limit - spent;
      if (room <= 0) break;
      std::vector<size_t> chosen;
      try {
        fit = FitApproach3(picked, fit ? RefitOptions(fit_options, *fit) : fit_options);
        if (method == SelectionMethod::kSims) {
          chosen = SimsRound(*fit, picked, left, split, room, options, round);
        } else {
          chosen = DOptimalRound(fit->params, picked, left, room);
        }
      } catch (const UserError&) {
        // The picked runs cannot identify the law, or leave no residual to size the noise, or
        // give too few bootstrap laws: add the cheapest run and try again.
        auto cheapest = std::min_element(left.begin(), left.end(), [](const Point& a, const Point& b) {
          return a.flops < b.flops;
        });
        if (cheapest == left.end() || cheapest->flops > room) break;
        take({static_cast<size_t>(cheapest - left.begin())});
        continue;
      }
      if (chosen.empty()) break;
      for (size_t i : chosen) {
        Log(LogLevel::kDebug, "replay {} seed {} round {}: picks N {} D {} budget {} loss {:.4g}",
            ToString(method), options.seed, round, FormatNumber(left[i].n_params),
            FormatNumber(left[i].tokens), FormatNumber(left[i].budget), left[i].loss);
      }
      take(chosen);
    }
  } else {
    std::vector<size_t> sequence(left.size());
    std::iota(sequence.begin(), sequence.end(), 0);
    if (method == SelectionMethod::kCheapest) {
      std::sort(sequence.begin(), sequence.end(),
                [&](size_t a, size_t b) { return left[a].flops < left[b].flops; });
    } else {
      // Weighted order without replacement: key u^(1/w) descending (Efraimidis-Spirakis),
      // w = 1 for random and 1 / FLOPs for cost-weighted.
      std::vector<double> key(left.size());
      for (size_t i = 0; i < left.size(); ++i) {
        const double w = method == SelectionMethod::kRandom ? 1.0 : 1.0 / left[i].flops;
        key[i] = std::log(rng.Uniform()) / w;
      }
      std::sort(sequence.begin(), sequence.end(), [&](size_t a, size_t b) { return key[a] > key[b]; });
    }
    std::vector<size_t> chosen;
    double room = limit - spent;
    for (size_t i : sequence) {
      if (left[i].flops <= room) {
        chosen.push_back(i);
        room -= left[i].flops;
      }
    }
    take(chosen);
  }
  ReplayScore score = Score(picked, split, options.threads);
  Log(LogLevel::kDebug, "replay {} seed {}: {} runs, {}", ToString(method), options.seed,
      score.runs, score.fitted ? fmt::format("MAPE {:.3f}%", 100 * score.mape) : score.error);
  return score;
}

ReplayScore ScoreAllData(const PoolSplit& split) { return Score(split.pool, split, 0); }

}  // namespace sims::fitting
