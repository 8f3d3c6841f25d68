#include "fitting/bootstrap.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "common/error.h"
#include "fitting/parallel.h"

namespace sims::fitting {
namespace {

// SplitMix64: a tiny generator with a fixed, documented sequence (std distributions are
// implementation-defined, and intervals must be the same on every machine for a seed).
struct SplitMix64 {
  uint64_t state;
  uint64_t Next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n) by multiply-shift (bias < n / 2^64, negligible here).
  size_t Below(size_t n) { return static_cast<size_t>((static_cast<__uint128_t>(Next()) * n) >> 64); }
};

// Resample i's generator: independent of the thread that runs it.
SplitMix64 ResampleRng(uint64_t seed, int i) {
  SplitMix64 mix{seed};
  mix.state ^= 0xd1b54a32d192ed03ULL * static_cast<uint64_t>(i + 1);
  mix.Next();
  return mix;
}

void AddIntervals(BootstrapResult& r, const std::vector<std::pair<std::string, std::vector<double>>>& named) {
  for (const auto& [name, values] : named) {
    if (!values.empty()) r.intervals[name] = PercentileInterval(values, r.level);
  }
}

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

std::string BudgetKey(const std::string& name, double flops) { return fmt::format("{}@{:g}", name, flops); }

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

namespace {
// A validated result with the options' resample count, seed and level and no samples yet.
BootstrapResult EmptyResult(const BootstrapOptions& options) {
  Validate(options);
  BootstrapResult r;
  r.resamples = options.resamples;
  r.seed = options.seed;
  r.level = options.level;
  return r;
}
}  // namespace

BootstrapResult BootstrapApproach3(std::span<const Point> points, const Approach3Result& full_fit,
                                   const Approach3Options& fit_options, const BootstrapOptions& options) {
  BootstrapResult r = EmptyResult(options);
  if (options.resamples == 0) return r;
  std::vector<LawParams> laws(options.resamples);
  std::vector<char> ok(options.resamples, 0);
  ParallelFor(options.resamples, ThreadCount(options.threads), [&](size_t i) {
    SplitMix64 rng = ResampleRng(options.seed, static_cast<int>(i));
    std::vector<Point> sample(points.size());
    for (Point& p : sample) p = points[rng.Below(points.size())];
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
  std::vector<std::pair<std::string, std::vector<double>>> named = {
      {"E", {}}, {"A", {}}, {"B", {}}, {"alpha", {}}, {"beta", {}}, {"a", {}}, {"b", {}}, {"G", {}},
      {"loss_exponent", {}}};
  for (double c : options.budgets) {
    for (const char* q : {"n_opt", "d_opt", "tokens_per_param", "loss"}) named.push_back({BudgetKey(q, c), {}});
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
    for (double v : values) named[k++].second.push_back(v);
    for (double c : options.budgets) {
      const Allocation x = OptimalAllocation(law, full_fit.cost, c);
      named[k++].second.push_back(x.n_params);
      named[k++].second.push_back(x.tokens);
      named[k++].second.push_back(x.tokens / x.n_params);
      named[k++].second.push_back(x.loss);
    }
  }
  AddIntervals(r, named);
  return r;
}

BootstrapResult BootstrapApproach2(std::span<const Point> points, const Approach2Options& fit_options,
                                   const BootstrapOptions& options) {
  BootstrapResult r = EmptyResult(options);
  if (options.resamples == 0) return r;
  // Whole budgets are the unit of resampling: points within an IsoFLOP profile are not
  // independent draws of the vertex. Each budget's vertex is the same in every resample.
  const std::vector<Vertex> vertices = IsoFlopVertices(points, fit_options, nullptr);
  if (vertices.size() < 2) throw UserError("approach 2 bootstrap: fewer than 2 usable budgets");
  for (int i = 0; i < options.resamples; ++i) {
    SplitMix64 rng = ResampleRng(options.seed, i);
    std::vector<double> c, n, d;
    for (size_t j = 0; j < vertices.size(); ++j) {
      const Vertex& v = vertices[rng.Below(vertices.size())];
      c.push_back(v.budget);
      n.push_back(v.n_opt);
      d.push_back(v.d_opt);
    }
    if (std::adjacent_find(c.begin(), c.end(), std::not_equal_to<>()) == c.end()) {
      ++r.failed;  // one distinct budget: no slope
      continue;
    }
    r.n_opt_samples.push_back(FitPowerLaw(c, n, "approach 2 bootstrap"));
    r.d_opt_samples.push_back(FitPowerLaw(c, d, "approach 2 bootstrap"));
  }
  std::vector<std::pair<std::string, std::vector<double>>> named = {
      {"n_opt.coefficient", {}}, {"n_opt.exponent", {}}, {"d_opt.coefficient", {}}, {"d_opt.exponent", {}}};
  for (double c : options.budgets) {
    named.push_back({BudgetKey("n_opt", c), {}});
    named.push_back({BudgetKey("d_opt", c), {}});
  }
  for (size_t i = 0; i < r.n_opt_samples.size(); ++i) {
    const PowerLaw& n = r.n_opt_samples[i];
    const PowerLaw& d = r.d_opt_samples[i];
    named[0].second.push_back(n.coefficient);
    named[1].second.push_back(n.exponent);
    named[2].second.push_back(d.coefficient);
    named[3].second.push_back(d.exponent);
    size_t k = 4;
    for (double c : options.budgets) {
      named[k++].second.push_back(Evaluate(n, c));
      named[k++].second.push_back(Evaluate(d, c));
    }
  }
  AddIntervals(r, named);
  return r;
}

}  // namespace sims::fitting
