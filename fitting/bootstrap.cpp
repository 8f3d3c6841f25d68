#include "fitting/bootstrap.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <variant>

#include <fmt/format.h>

#include "common/enum_names.h"
#include "common/error.h"
#include "fitting/parallel.h"
#include "fitting/random.h"

namespace sims::fitting {
namespace {

// Resample i's generator: independent of the thread that runs it.
SplitMix64 ResampleRng(uint64_t seed, int i) {
  SplitMix64 mix{seed};
  mix.state ^= 0xd1b54a32d192ed03ULL * static_cast<uint64_t>(i + 1);
  mix.Next();
  return mix;
}

// One reported quantity: its full-data estimate and its value in every successful resample.
struct Named {
  std::variant<std::string, BudgetQuantity> name;
  double estimate = 0;
  std::vector<double> values;
  // A size, a token count or a coefficient: > 0 by nature, so a stretched interval is
  // stretched in log space and stays > 0 (a linear stretch gave D_opt intervals below 0).
  bool positive = false;
};

// The t(df)/z stretch of a two-sided interval at `level`.
double StretchFactor(double level, int df) {
  const double q = 0.5 * (1 + level);
  return StudentQuantile(q, df) / NormalQuantile(q);
}

Interval Stretched(const std::vector<double>& samples, double estimate, double level, double k) {
  const Interval percentile = PercentileInterval(samples, level);
  // Arms measured from the estimate; an interval that misses the estimate (a strongly biased
  // bootstrap distribution) keeps its far end and is stretched from there.
  const double lo = std::min(percentile.lo, estimate), hi = std::max(percentile.hi, estimate);
  return {estimate - k * (estimate - lo), estimate + k * (hi - estimate)};
}

void AddIntervals(BootstrapResult& r, const std::vector<Named>& named) {
  const double k = r.stretch_df > 0 ? StretchFactor(r.level, r.stretch_df) : 1.0;
  for (const Named& q : named) {
    if (q.values.empty()) continue;
    Interval interval;
    if (r.stretch_df == 0) {
      interval = PercentileInterval(q.values, r.level);
    } else if (q.positive) {
      std::vector<double> logs;
      for (double v : q.values) logs.push_back(std::log(v));
      const Interval in_logs = Stretched(logs, std::log(q.estimate), r.level, k);
      interval = {std::exp(in_logs.lo), std::exp(in_logs.hi)};
    } else {
      interval = Stretched(q.values, q.estimate, r.level, k);
    }
    if (const auto* key = std::get_if<BudgetQuantity>(&q.name)) {
      r.at_budget[*key] = interval;
    } else {
      r.intervals[std::get<std::string>(q.name)] = interval;
    }
  }
}

// Residuals drawn with replacement (or their SD, for normal errors) have a smaller spread than the errors they stand for (the
// fit absorbed `fitted` degrees of freedom): centre them and scale by sqrt(n / (n - fitted)).
std::vector<double> Inflated(std::vector<double> residuals, int fitted) {
  const double n = static_cast<double>(residuals.size());
  double mean = 0;
  for (double r : residuals) mean += r / n;
  const double scale = n > fitted ? std::sqrt(n / (n - fitted)) : 1.0;
  for (double& r : residuals) r = (r - mean) * scale;
  return residuals;
}

// The residuals' spread with `fitted` degrees of freedom taken out: sqrt(sum r^2 / (n - fitted)).
double ResidualSd(const std::vector<double>& inflated) {
  double s = 0;
  for (double r : inflated) s += r * r;  // Inflated() already divided by n - fitted
  return inflated.empty() ? 0 : std::sqrt(s / inflated.size());
}

// A validated result with the options' resample count, seed and level and no samples yet.
BootstrapResult EmptyResult(const BootstrapOptions& options) {
  Validate(options);
  BootstrapResult r;
  r.resamples = options.resamples;
  r.seed = options.seed;
  r.level = options.level;
  return r;
}

double BudgetOf(const Point& p) { return p.budget > 0 ? p.budget : p.flops; }

}  // namespace

void Validate(const BootstrapOptions& o) {
  if (o.resamples < 0) throw UserError(fmt::format("--bootstrap must be >= 0, got {}", o.resamples));
  if (!(o.level > 0 && o.level < 1)) {
    throw UserError(fmt::format("bootstrap level must be in (0, 1), got {}", o.level));
  }
  if (o.threads < 0) throw UserError(fmt::format("threads must be >= 0, got {}", o.threads));
  for (double c : o.budgets) {
    if (!(c > 0)) throw UserError(fmt::format("bootstrap budget must be > 0, got {}", c));
  }
}

double Approach2Pivot(std::span<const Vertex> vertices) {
  double mean_log_c = 0;
  for (const Vertex& v : vertices) mean_log_c += std::log(v.budget) / vertices.size();
  return std::exp(mean_log_c);
}

namespace {
constexpr EnumNames<AtBudget, 4> kAtBudgetNames{{{AtBudget::kNOpt, "n_opt"},
                                                {AtBudget::kDOpt, "d_opt"},
                                                {AtBudget::kTokensPerParam, "tokens_per_param"},
                                                {AtBudget::kLoss, "loss"}}};
}  // namespace

std::string ToString(const BudgetQuantity& key) {
  // %g's 6 digits would merge budgets that differ in the 7th digit; the shortest %g that reads
  // back exactly keeps "1e+21" for round budgets and never merges two.
  std::string flops;
  for (int digits = 1; digits <= 17; ++digits) {
    flops = fmt::format("{:.{}g}", key.flops, digits);
    if (std::strtod(flops.c_str(), nullptr) == key.flops) break;
  }
  return fmt::format("{}@{}", NameOf(kAtBudgetNames, key.quantity), flops);
}

std::optional<BudgetQuantity> BudgetQuantityFromString(std::string_view name) {
  const size_t at = name.find('@');
  if (at == std::string_view::npos) return std::nullopt;
  BudgetQuantity key;
  key.quantity = ParseName(kAtBudgetNames, name.substr(0, at), "a quantity at a budget");
  const std::string flops(name.substr(at + 1));
  char* end = nullptr;
  key.flops = std::strtod(flops.c_str(), &end);
  if (flops.empty() || *end != '\0' || !std::isfinite(key.flops) || key.flops <= 0) {
    throw UserError(fmt::format("interval '{}': '{}' is not a positive budget", name, flops));
  }
  return key;
}

std::optional<Interval> BootstrapResult::At(AtBudget quantity, double flops) const {
  auto it = at_budget.find({quantity, flops});
  if (it == at_budget.end()) return std::nullopt;
  return it->second;
}

uint64_t ConditionSeed(uint64_t seed, std::string_view condition) {
  uint64_t hash = 0xcbf29ce484222325ULL;  // FNV-1a of the name
  for (unsigned char ch : condition) hash = (hash ^ ch) * 0x100000001b3ULL;
  SplitMix64 mix{seed ^ hash};
  return mix.Next();
}

Interval PercentileInterval(std::vector<double> samples, double level) {
  if (samples.empty()) return {};
  std::sort(samples.begin(), samples.end());
  auto at = [&](double q) {
    const double pos = q * (samples.size() - 1);
    const size_t i = static_cast<size_t>(std::floor(pos));
    const double frac = pos - i;
    if (i + 1 >= samples.size()) return samples.back();
    if (frac == 0 || samples[i] == samples[i + 1]) return samples[i];  // also inf == inf
    return samples[i] + frac * (samples[i + 1] - samples[i]);
  };
  const double tail = (1 - level) / 2;
  return {at(tail), at(1 - tail)};
}

double NormalQuantile(double p) {
  double lo = -40, hi = 40;  // Phi(x) = erfc(-x / sqrt 2) / 2
  for (int i = 0; i < 200 && hi - lo > 1e-12; ++i) {
    const double mid = 0.5 * (lo + hi);
    (0.5 * std::erfc(-mid / std::sqrt(2.0)) < p ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

double StudentQuantile(double p, int df) {
  if (df <= 0) return INFINITY;
  const double nu = df;
  const double log_norm = std::lgamma(0.5 * (nu + 1)) - std::lgamma(0.5 * nu) - 0.5 * std::log(nu * M_PI);
  auto cdf = [&](double t) {  // 1/2 + the density integrated over [0, t] (Simpson, 1000 panels)
    const int panels = 1000;
    const double h = t / panels;
    double sum = 0;
    for (int k = 0; k <= panels; ++k) {
      const double x = k * h;
      const double f = std::exp(log_norm - 0.5 * (nu + 1) * std::log1p(x * x / nu));
      sum += f * (k == 0 || k == panels ? 1 : (k % 2 ? 4 : 2));
    }
    return 0.5 + sum * h / 3;
  };
  const bool upper = p >= 0.5;
  const double target = upper ? p : 1 - p;
  double lo = 0, hi = 1;
  while (cdf(hi) < target && hi < 1e6) hi *= 2;
  for (int i = 0; i < 60 && hi - lo > 1e-10; ++i) {
    const double mid = 0.5 * (lo + hi);
    (cdf(mid) < target ? lo : hi) = mid;
  }
  const double t = 0.5 * (lo + hi);
  return upper ? t : -t;
}

Interval StretchedInterval(const std::vector<double>& samples, double estimate, double level, int df) {
  if (df <= 0 || samples.empty()) return PercentileInterval(samples, level);
  return Stretched(samples, estimate, level, StretchFactor(level, df));
}

BootstrapResult BootstrapApproach3(std::span<const Point> points, const Approach3Result& full_fit,
                                   const Approach3Options& fit_options, const BootstrapOptions& options) {
  BootstrapResult r = EmptyResult(options);
  if (options.resamples == 0) return r;
  const size_t n = points.size();
  constexpr int kLawCoefficients = 5;
  // With 5 points the law interpolates: no residuals to simulate, so points are resampled.
  const bool cases = options.method == BootstrapMethod::kCases || n <= kLawCoefficients;
  const bool parametric = options.method == BootstrapMethod::kParametric && !cases;
  // Log-residuals of the full fit: a resample adds them redrawn (kResiduals), or normal errors
  // of their SD (kParametric), to the law's predictions.
  std::vector<double> log_pred(n), residuals(n);
  for (size_t j = 0; j < n; ++j) {
    log_pred[j] = std::log(PredictLoss(full_fit.params, points[j].n_params, points[j].tokens));
    residuals[j] = std::log(points[j].loss) - log_pred[j];
  }
  residuals = Inflated(std::move(residuals), kLawCoefficients);
  const double sd = ResidualSd(residuals);
  // No t stretch here (unlike approach 2): the Huber fit, nearly least absolute deviations
  // at delta = 1e-3, does not minimise squared residuals, so their SD already exceeds the
  // noise's a little; measured, stretching as well over-covers (98.5% for the loss exponent at
  // 3 budgets x 6 sizes) while plain percentile intervals cover 93-97.5%.
  if (cases) {
    r.method = "cases: points resampled with replacement; percentile intervals";
  } else if (parametric) {
    r.method = fmt::format("parametric: normal errors of the log-residuals' SD ({:.3g}, {} df) "
                           "added to the fitted law's log-losses; percentile intervals",
                           sd, std::max(0, static_cast<int>(n) - kLawCoefficients));
  } else {
    r.method = "residuals: the fitted law's log-residuals, resampled, added to its log-losses; "
               "percentile intervals";
  }
  if (cases && options.method != BootstrapMethod::kCases) {
    r.method += " (5 points leave no residuals to simulate)";
  }
  std::vector<LawParams> laws(options.resamples);
  std::vector<char> ok(options.resamples, 0);
  ParallelFor(options.resamples, ThreadCount(options.threads), [&](size_t i) {
    SplitMix64 rng = ResampleRng(options.seed, static_cast<int>(i));
    std::vector<Point> sample(points.begin(), points.end());
    for (size_t j = 0; j < n; ++j) {
      if (cases) {
        sample[j] = points[rng.Below(n)];
      } else if (parametric) {
        sample[j].loss = std::exp(log_pred[j] + sd * rng.Normal());
      } else {
        sample[j].loss = std::exp(log_pred[j] + residuals[rng.Below(n)]);
      }
    }
    double objective = 0;
    // Start at the full-data optimum: a resample moves the optimum a little, and one local
    // solve from there finds it (the grid would cost 4500x more for the same answer).
    const Approach3Start x = SolveApproach3From(sample, full_fit.optimum, fit_options, &objective);
    const LawParams law = ToLaw(x);
    if (std::isfinite(objective) && law.alpha > 0 && law.beta > 0 && std::isfinite(law.A) &&
        std::isfinite(law.B)) {
      laws[i] = law;
      ok[i] = 1;
    }
  });
  const LawParams& fit = full_fit.params;
  const Frontier& ff = full_fit.frontier;
  std::vector<Named> named = {{"E", fit.E, {}},
                              {"A", fit.A, {}},
                              {"B", fit.B, {}},
                              {"alpha", fit.alpha, {}},
                              {"beta", fit.beta, {}},
                              {"a", ff.a, {}},
                              {"b", ff.b, {}},
                              {"G", ff.G, {}},
                              {"loss_exponent", LossComputeExponent(fit), {}}};
  for (double c : options.budgets) {
    const Allocation x = OptimalAllocation(fit, full_fit.cost, c);
    named.push_back({BudgetQuantity{AtBudget::kNOpt, c}, x.n_params, {}});
    named.push_back({BudgetQuantity{AtBudget::kDOpt, c}, x.tokens, {}});
    named.push_back({BudgetQuantity{AtBudget::kTokensPerParam, c}, x.tokens / x.n_params, {}});
    named.push_back({BudgetQuantity{AtBudget::kLoss, c}, x.loss, {}});
  }
  for (int i = 0; i < options.resamples; ++i) {
    if (!ok[i]) {
      ++r.failed;
      continue;
    }
    const LawParams& law = laws[i];
    r.law_samples.push_back(law);
    const Frontier f = FrontierOf(law);
    const double values[] = {law.E, law.A, law.B, law.alpha, law.beta, f.a, f.b, f.G, LossComputeExponent(law)};
    size_t k = 0;
    for (double v : values) named[k++].values.push_back(v);
    for (double c : options.budgets) {
      const Allocation x = OptimalAllocation(law, full_fit.cost, c);
      named[k++].values.push_back(x.n_params);
      named[k++].values.push_back(x.tokens);
      named[k++].values.push_back(x.tokens / x.n_params);
      named[k++].values.push_back(x.loss);
    }
  }
  AddIntervals(r, named);
  return r;
}

namespace {

// What one resample of approach 2 gives: the power laws through its vertices (their exponents)
// and the allocation law that carries them to any budget.
struct Approach2Sample {
  PowerLaw n_opt, d_opt;
  AllocationLaw allocation;
};

// At least 2 distinct budgets.
Approach2Sample SampleLaws(const std::vector<Vertex>& vertices, const CostModel& cost) {
  std::vector<double> c, n, d;
  for (const Vertex& v : vertices) {
    c.push_back(v.budget);
    n.push_back(v.n_opt);
    d.push_back(v.d_opt);
  }
  return {FitPowerLaw(c, n, "approach 2 bootstrap"), FitPowerLaw(c, d, "approach 2 bootstrap"),
          FitAllocationLaw(vertices, cost)};
}

// kParametric and kResiduals for approach 2: every budget that gave a vertex keeps its points'
// sizes; each point's loss becomes its budget's fitted parabola times (1 + e), e normal with the
// pooled relative residuals' SD (kParametric) or one of those residuals (kResiduals).
// Relative, because loss noise scales with the loss (the budgets' losses differ); pooled,
// because one budget's few residuals say little about the spread.
// A resample whose parabola loses its upward curvature loses a budget: it counts as failed.
std::vector<Approach2Sample> ResidualResamplesApproach2(
    std::span<const Point> points, const Approach2Options& fit_options,
    const std::vector<Vertex>& vertices, const BootstrapOptions& options, BootstrapResult& r) {
  const bool by_params = fit_options.axis == ParabolaAxis::kParams;
  std::vector<Point> kept;
  std::vector<double> fitted, relative;
  for (const Point& p : points) {
    const auto v = std::find_if(vertices.begin(), vertices.end(),
                                [&](const Vertex& x) { return x.budget == BudgetOf(p); });
    if (v == vertices.end()) continue;  // a skipped budget stays out of every resample
    kept.push_back(p);
    fitted.push_back(v->parabola(by_params ? p.n_params : p.tokens));
    relative.push_back(p.loss / fitted.back() - 1);
  }
  const int parabola_coefficients = 3 * static_cast<int>(vertices.size());
  relative = Inflated(std::move(relative), parabola_coefficients);
  const double sd = ResidualSd(relative);
  const bool parametric = options.method == BootstrapMethod::kParametric;
  r.stretch_df = std::max(0, static_cast<int>(kept.size()) - parabola_coefficients);
  r.method = fmt::format("{}: every budget's parabola refitted to its fit times 1 + {}; "
                         "percentile intervals stretched by t({})/z",
                         parametric ? "parametric" : "residuals",
                         parametric ? fmt::format("normal errors of the pooled relative SD {:.3g}", sd)
                                    : std::string("pooled relative residuals"),
                         r.stretch_df);
  // The vertex of a resample may leave the sampled sizes: it is still that budget's estimate.
  Approach2Options refit = fit_options;
  refit.require_bracketed = false;
  std::vector<Approach2Sample> laws(options.resamples);
  std::vector<char> ok(options.resamples, 0);
  ParallelFor(options.resamples, ThreadCount(options.threads), [&](size_t i) {
    SplitMix64 rng = ResampleRng(options.seed, static_cast<int>(i));
    std::vector<Point> sample = kept;
    for (size_t j = 0; j < sample.size(); ++j) {
      const double e = parametric ? sd * rng.Normal() : relative[rng.Below(relative.size())];
      sample[j].loss = fitted[j] * (1 + e);
    }
    const std::vector<Vertex> refitted = IsoFlopVertices(sample, refit, nullptr);
    if (refitted.size() != vertices.size()) return;
    try {
      laws[i] = SampleLaws(refitted, fit_options.cost);
      ok[i] = 1;
    } catch (const UserError&) {  // a resample whose vertices fit no law counts as failed
    }
  });
  std::vector<Approach2Sample> out;
  for (int i = 0; i < options.resamples; ++i) {
    if (ok[i]) {
      out.push_back(laws[i]);
    } else {
      ++r.failed;
    }
  }
  return out;
}

// kCases for approach 2: whole vertices resampled with replacement (a resample that keeps one
// budget has no slope and fails).
std::vector<Approach2Sample> VertexResamplesApproach2(const std::vector<Vertex>& vertices,
                                                      const CostModel& cost,
                                                      const BootstrapOptions& options,
                                                      BootstrapResult& r) {
  r.method = "cases: vertices resampled with replacement; percentile intervals";
  std::vector<Approach2Sample> out;
  for (int i = 0; i < options.resamples; ++i) {
    SplitMix64 rng = ResampleRng(options.seed, i);
    std::vector<Vertex> sample;
    for (size_t j = 0; j < vertices.size(); ++j) sample.push_back(vertices[rng.Below(vertices.size())]);
    const bool one_budget = std::all_of(sample.begin(), sample.end(),
                                        [&](const Vertex& v) { return v.budget == sample[0].budget; });
    if (one_budget) {
      ++r.failed;
      continue;
    }
    out.push_back(SampleLaws(sample, cost));
  }
  return out;
}

}  // namespace

BootstrapResult BootstrapApproach2(std::span<const Point> points, const Approach2Options& fit_options,
                                   const BootstrapOptions& options) {
  BootstrapResult r = EmptyResult(options);
  if (options.resamples == 0) return r;
  const std::vector<Vertex> vertices = IsoFlopVertices(points, fit_options, nullptr);
  if (vertices.size() < 2) throw UserError("approach 2 bootstrap: fewer than 2 usable budgets");
  r.pivot_flops = Approach2Pivot(vertices);
  // With 3 points per budget the parabolas interpolate: no residuals, no noise to simulate
  // (the intervals would have zero width), so whole vertices are resampled instead.
  int fitted_points = 0;
  for (const Vertex& v : vertices) fitted_points += v.n_points;
  const bool no_residual_df = fitted_points <= 3 * static_cast<int>(vertices.size());
  const auto samples = options.method == BootstrapMethod::kCases || no_residual_df
                           ? VertexResamplesApproach2(vertices, fit_options.cost, options, r)
                           : ResidualResamplesApproach2(points, fit_options, vertices, options, r);
  if (no_residual_df && options.method != BootstrapMethod::kCases) {
    r.method += " (3 points per budget leave no residuals to simulate)";
  }
  const Approach2Sample fit = SampleLaws(vertices, fit_options.cost);
  std::vector<Named> named = {{"n_opt.exponent", fit.n_opt.exponent, {}},
                              {"d_opt.exponent", fit.d_opt.exponent, {}}};
  std::vector<double> at = options.budgets;
  if (std::find(at.begin(), at.end(), r.pivot_flops) == at.end()) at.push_back(r.pivot_flops);
  for (double c : at) {
    const Allocation x = AllocationAt(fit.allocation, c);
    named.push_back({BudgetQuantity{AtBudget::kNOpt, c}, x.n_params, {}, true});
    named.push_back({BudgetQuantity{AtBudget::kDOpt, c}, x.tokens, {}, true});
  }
  for (const Approach2Sample& sample : samples) {
    r.n_opt_samples.push_back(sample.n_opt);
    r.d_opt_samples.push_back(sample.d_opt);
    named[0].values.push_back(sample.n_opt.exponent);
    named[1].values.push_back(sample.d_opt.exponent);
    size_t k = 2;
    for (double c : at) {
      const Allocation x = AllocationAt(sample.allocation, c);
      named[k++].values.push_back(x.n_params);
      named[k++].values.push_back(x.tokens);
    }
  }
  AddIntervals(r, named);
  return r;
}

}  // namespace sims::fitting
