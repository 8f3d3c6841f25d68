// Calibration of sims's bootstrap intervals and of its test for two conditions, on synthetic
// IsoFLOP studies drawn from a known law (docs/benchmarks.md, "Calibration of intervals and
// tests"). Seeded: the same flags print the same table.
//
// Truth: L = E + A/N^alpha + B/D^beta with E 1.7, A 400, B 1500, alpha .34, beta .28 (the
// alternative of the power study: alpha .30), losses times exp(sigma z), sigma 0.015, C = 6ND.
// Designs: budgets log-spaced over 1e17..1e19 (3 or 5), each with sizes log-spaced over
// N_opt(C)/8 .. 8 N_opt(C) (6 or 9), N_opt of the first law; D = C / (6N).
// Per design: `studies` of the first law (intervals), as many more of the first law (the null
// partner of each) and of the alternative (the power partner).
//
// For every interval: coverage of the truth, mean width, the width a 95% interval would have
// with the estimator's actual spread (3.92 x the SD of the estimate across studies), and the
// estimator's bias in SDs. Methods: sims's default (BootstrapMethod::kParametric; approach 2
// stretched by t/z, approach 3 plain percentile), the earlier case bootstrap, and the
// alternatives measured before choosing (residual bootstrap; percentile vs stretched).
// For the test: rejections at p < 0.05 under the null (type-I error) and the alternative
// (power), for sims's test, for the test it replaced, and for a reference Wald test that
// knows each estimator's true sampling variance (measured across these studies).
//
//   bench_calibration [--studies 200] [--resamples 200] [--seed 1] [--threads 2]
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "common/error.h"
#include "fitting/approach2.h"
#include "fitting/approach3.h"
#include "fitting/bootstrap.h"
#include "fitting/compare.h"
#include "fitting/parallel.h"

using namespace sims::fitting;

namespace {

const LawParams kTruth{1.7, 400, 1500, 0.34, 0.28};
const LawParams kAlternative{1.7, 400, 1500, 0.30, 0.28};
constexpr double kSigma = 0.015;

struct Design {
  std::string name;
  int budgets = 0, sizes = 0;
};

// Standard normal draws from a fully specified generator (mt19937_64 + Box-Muller), so the
// studies are the same with any standard library.
struct Normal {
  std::mt19937_64 rng;
  double Uniform() { return ((rng() >> 11) + 0.5) * 0x1.0p-53; }
  double Next() { return std::sqrt(-2 * std::log(Uniform())) * std::cos(2 * M_PI * Uniform()); }
};

std::vector<double> Budgets(const Design& d) {
  std::vector<double> c;
  for (int i = 0; i < d.budgets; ++i) c.push_back(1e17 * std::pow(100.0, i / (d.budgets - 1.0)));
  return c;
}

std::vector<Point> Study(const Design& d, const LawParams& law, uint64_t seed) {
  Normal normal{std::mt19937_64(seed)};
  std::vector<Point> points;
  for (double c : Budgets(d)) {
    for (int j = 0; j < d.sizes; ++j) {
      Point p;
      p.budget = p.flops = c;
      // Around the true law's optimum: the sweep's sizes are the same for both conditions.
      p.n_params = OptimalAllocation(kTruth, SixNDCost(), c).n_params *
                   std::pow(8.0, 2.0 * j / (d.sizes - 1) - 1);
      p.tokens = c / (6 * p.n_params);
      p.loss = PredictLoss(law, p.n_params, p.tokens) * std::exp(kSigma * normal.Next());
      points.push_back(p);
    }
  }
  return points;
}

// A small start grid around plausible values (true e, a, b = 0.53, 5.99, 7.31): 32 starts
// instead of 4500, which keeps 2400 fits affordable; the bootstrap refits start from the optimum.
Approach3Options FitOptions() {
  Approach3Options o;
  o.threads = 1;
  o.grid.alpha = {0.25, 0.5};
  o.grid.beta = {0.25, 0.5};
  o.grid.e = {0, 1};
  o.grid.a = {5, 8};
  o.grid.b = {5, 8};
  return o;
}

// What one study gives, per quantity ("n_exp", "n_pivot", "a", "loss"): the estimate and an
// interval per method; per bootstrap method the share of failed resamples.
struct Outcome {
  std::map<std::string, double> estimate;
  std::map<std::string, std::map<std::string, Interval>> intervals;
  std::map<std::string, double> failed;  // method -> failed / resamples
  ConditionFit fit;                      // approach 3 with sims's default bootstrap
  ConditionFit fit_residuals;            // the same with residual-bootstrap, stretched intervals
  std::vector<double> cases_a, cases_l;  // approach 3 case-resample samples (the earlier test)
};

// Interval labels, in table order; kSims marks sims's default.
const char* const kCases = "cases (before)";
const char* const kResPct = "residuals, percentile";
const char* const kResStr = "residuals, stretched";
const char* const kParPct = "parametric, percentile";
const char* const kParStr = "parametric, stretched";

Outcome Analyse(const Design& d, const LawParams& law, uint64_t seed, int resamples, bool approach2,
                const std::string& condition) {
  Outcome o;
  const std::vector<Point> points = Study(d, law, seed);
  BootstrapOptions boot;  // sims's default method
  boot.resamples = resamples;
  boot.threads = 1;
  boot.seed = ConditionSeed(seed, condition);
  BootstrapOptions cases = boot, residuals = boot;
  cases.method = BootstrapMethod::kCases;
  residuals.method = BootstrapMethod::kResiduals;
  auto both = [&](const char* pct, const char* stretched, const std::string& q, std::vector<double> v,
                  int df) {
    o.intervals[q][pct] = PercentileInterval(v, boot.level);
    o.intervals[q][stretched] = StretchedInterval(v, o.estimate[q], boot.level, df);
  };
  if (approach2) {
    try {
      const Approach2Result fit = FitApproach2(points);
      const BootstrapResult par = BootstrapApproach2(points, {}, boot);
      const BootstrapResult res = BootstrapApproach2(points, {}, residuals);
      const BootstrapResult cas = BootstrapApproach2(points, {}, cases);
      const double pivot = par.pivot_flops;
      o.estimate["n_exp"] = fit.n_opt.exponent;
      o.estimate["n_pivot"] = Evaluate(fit.n_opt, pivot);
      o.estimate["pivot"] = pivot;
      for (const BootstrapResult* b : {&par, &res}) {
        std::vector<double> e, at;
        for (const PowerLaw& p : b->n_opt_samples) {
          e.push_back(p.exponent);
          at.push_back(Evaluate(p, pivot));
        }
        const bool p = b == &par;
        both(p ? kParPct : kResPct, p ? kParStr : kResStr, "n_exp", e, b->stretch_df);
        both(p ? kParPct : kResPct, p ? kParStr : kResStr, "n_pivot", at, b->stretch_df);
      }
      o.intervals["n_exp"][kCases] = cas.intervals.at("n_opt.exponent");
      o.intervals["n_pivot"][kCases] = cas.at_budget.at({AtBudget::kNOpt, pivot});
      o.failed["2 " + std::string(kCases)] = double(cas.failed) / resamples;
      o.failed["2 parametric"] = double(par.failed) / resamples;
      o.failed["2 residuals"] = double(res.failed) / resamples;
    } catch (const sims::UserError&) {
    }
  }
  try {
    const Approach3Options fo = FitOptions();
    o.fit.condition = condition;
    o.fit.fit = FitApproach3(points, fo);
    o.fit.bootstrap = BootstrapApproach3(points, o.fit.fit, fo, boot);
    const BootstrapResult res = BootstrapApproach3(points, o.fit.fit, fo, residuals);
    const BootstrapResult cas = BootstrapApproach3(points, o.fit.fit, fo, cases);
    o.estimate["a"] = o.fit.fit.frontier.a;
    o.estimate["loss"] = LossComputeExponent(o.fit.fit.params);
    // The same law by least squares on log-loss (Huber delta 10: never leaves the quadratic
    // part), the efficient estimator for normal noise: the stronger reference test uses it.
    Approach3Options ls = fo;
    ls.huber_delta = 10;
    const Approach3Result ls_fit = FitApproach3(points, ls);
    o.estimate["a_ls"] = ls_fit.frontier.a;
    o.estimate["loss_ls"] = LossComputeExponent(ls_fit.params);
    const int df = static_cast<int>(points.size()) - 5;
    for (const BootstrapResult* b : {static_cast<const BootstrapResult*>(&o.fit.bootstrap), &res, &cas}) {
      std::vector<double> a, l;
      for (const LawParams& s : b->law_samples) {
        a.push_back(FrontierOf(s).a);
        l.push_back(LossComputeExponent(s));
      }
      if (b == &cas) {
        o.cases_a = a;
        o.cases_l = l;
        continue;
      }
      const bool p = b == &o.fit.bootstrap;
      both(p ? kParPct : kResPct, p ? kParStr : kResStr, "a", a, df);
      both(p ? kParPct : kResPct, p ? kParStr : kResStr, "loss", l, df);
    }
    o.intervals["a"][kCases] = cas.intervals.at("a");
    o.intervals["loss"][kCases] = cas.intervals.at("loss_exponent");
    o.fit_residuals = o.fit;
    o.fit_residuals.bootstrap.intervals = {{"a", o.intervals["a"][kResStr]},
                                           {"loss_exponent", o.intervals["loss"][kResStr]}};
    o.failed["3 " + std::string(kCases)] = double(cas.failed) / resamples;
    o.failed["3 parametric"] = double(o.fit.bootstrap.failed) / resamples;
    o.failed["3 residuals"] = double(res.failed) / resamples;
  } catch (const sims::UserError&) {
  }
  return o;
}

double Mean(const std::vector<double>& x) {
  double s = 0;
  for (double v : x) s += v;
  return x.empty() ? NAN : s / x.size();
}

double Sd(const std::vector<double>& x) {
  const double m = Mean(x);
  double s = 0;
  for (double v : x) s += (v - m) * (v - m);
  return x.size() < 2 ? NAN : std::sqrt(s / (x.size() - 1));
}

// The measured cells of one row of the interval table: studies, coverage, width, width relative
// to 3.92 SD(estimate), the estimator's bias in SDs (a bias no resampling of the noise can
// show), failed resamples. `log_scale`: widths of log(interval) (for N_opt at the pivot).
std::string IntervalCells(const std::vector<Interval>& intervals, const std::vector<double>& estimates,
                          double truth, double failed_share, bool log_scale) {
  auto t = [&](double v) { return log_scale ? std::log(v) : v; };
  int covered = 0;
  std::vector<double> widths, est;
  for (size_t i = 0; i < intervals.size(); ++i) {
    covered += intervals[i].lo <= truth && truth <= intervals[i].hi;
    widths.push_back(t(intervals[i].hi) - t(intervals[i].lo));
    est.push_back(t(estimates[i]));
  }
  const double sd = Sd(est), ideal = 2 * 1.959964 * sd;
  return fmt::format("{} | {:.1f} % | {:.4f} | {:.4f} | {:.2f} | {:+.2f} | {:.1f} % |",
                     intervals.size(), 100.0 * covered / intervals.size(), Mean(widths), ideal,
                     Mean(widths) / ideal, (Mean(est) - t(truth)) / sd, 100 * failed_share);
}

// The test sims used before: twice the share of paired resample differences on the far side
// of zero.
double PercentileTestP(const std::vector<double>& x, const std::vector<double>& y) {
  const size_t n = std::min(x.size(), y.size());
  size_t le = 0, ge = 0;
  for (size_t i = 0; i < n; ++i) {
    le += x[i] - y[i] <= 0;
    ge += x[i] - y[i] >= 0;
  }
  return std::min(1.0, 2.0 * (std::min(le, ge) + 1) / (n + 1));
}

double OracleWaldP(double x1, double sd1, double x2, double sd2) {
  return std::erfc(std::abs(x1 - x2) / std::sqrt(sd1 * sd1 + sd2 * sd2) / std::sqrt(2.0));
}

}  // namespace

int main(int argc, char** argv) {
  int studies = 200, resamples = 200, threads = 2;
  uint64_t seed = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const long long v = std::atoll(argv[i + 1]);
    if (flag == "--studies") studies = static_cast<int>(v);
    else if (flag == "--resamples") resamples = static_cast<int>(v);
    else if (flag == "--seed") seed = static_cast<uint64_t>(v);
    else if (flag == "--threads") threads = static_cast<int>(v);
    else {
      std::fprintf(stderr, "unknown flag %s\nusage: %s [--studies 200] [--resamples 200] [--seed 1] [--threads 2]\n",
                   argv[i], argv[0]);
      return 2;
    }
  }
  SilenceCeres(false);
  fmt::print("Synthetic IsoFLOP studies: E 1.7, A 400, B 1500, alpha .34, beta .28, lognormal "
             "sigma {}, budgets 1e17..1e19, sizes N_opt/8..8 N_opt; {} studies per design, {} "
             "resamples, seed {}.\n\n",
             kSigma, studies, resamples, seed);
  const Frontier truth = FrontierOf(kTruth);
  std::string intervals_table =
      "| design | interval | method | studies | coverage | mean width | 3.92 SD(estimate) | "
      "width / spread | bias / SD | failed resamples |\n|---|---|---|---|---|---|---|---|---|---|\n";
  std::string tests_table =
      "| design | exponent | test | type-I error (p < 0.05) | power (alpha .34 vs .30) |\n"
      "|---|---|---|---|---|\n";
  for (const Design& d : {Design{"3x6", 3, 6}, Design{"5x9", 5, 9}}) {
    // Studies 0..n-1: first law; n..2n-1: its null partners; 2n..3n-1: the alternative.
    std::vector<Outcome> out(3 * studies);
    const uint64_t design_seed = seed * 1000003 + d.budgets * 100 + d.sizes;
    ParallelFor(out.size(), threads, [&](size_t i) {
      const int group = static_cast<int>(i) / studies;
      const LawParams& law = group == 2 ? kAlternative : kTruth;
      out[i] = Analyse(d, law, design_seed * 7919 + i, resamples, group <= 1,
                       group == 0 ? "first" : "second");
    });
    std::fprintf(stderr, "design %s done\n", d.name.c_str());
    // Intervals: over the first law's 2n studies (each quantity where its fit succeeded).
    const double pivot = out[0].estimate.count("pivot") ? out[0].estimate.at("pivot") : NAN;
    struct Row {
      std::string quantity, label;
      double truth;
      bool log_scale;
      std::vector<std::string> methods;  // in table order; the last is sims's default
      char approach;
    };
    const std::vector<Row> rows = {
        {"n_exp", "approach 2, N_opt exponent", truth.a, false,
         {kCases, kResPct, kResStr, kParPct, kParStr}, '2'},
        {"n_pivot", fmt::format("approach 2, N_opt at C = {:.3g} (log width)", pivot),
         OptimalAllocation(kTruth, SixNDCost(), pivot).n_params, true, {kCases, kResStr, kParStr}, '2'},
        {"a", "approach 3, a = beta/(alpha+beta)", truth.a, false,
         {kCases, kResPct, kResStr, kParStr, kParPct}, '3'},
        {"loss", "approach 3, loss exponent alpha beta/(alpha+beta)", LossComputeExponent(kTruth), false,
         {kCases, kResPct, kResStr, kParStr, kParPct}, '3'},
    };
    for (const Row& row : rows) {
      for (const std::string& method : row.methods) {
        std::vector<Interval> iv;
        std::vector<double> est;
        double failed = 0;
        const std::string family = method == kCases ? method : method.substr(0, method.find(','));
        for (int i = 0; i < 2 * studies; ++i) {
          const Outcome& o = out[i];
          if (!o.intervals.count(row.quantity) || (row.quantity == "n_pivot" && o.estimate.at("pivot") != pivot)) {
            continue;  // no fit, or a skipped budget moved the pivot
          }
          iv.push_back(o.intervals.at(row.quantity).at(method));
          est.push_back(o.estimate.at(row.quantity));
          failed += o.failed.at(std::string(1, row.approach) + " " + family);
        }
        const bool is_sims = method == row.methods.back();
        intervals_table += fmt::format(
            "| {} | {} | {} | {}\n", d.name, row.label, is_sims ? fmt::format("**{} (sims)**", method) : method,
            IntervalCells(iv, est, row.truth, failed / std::max<size_t>(1, iv.size()), row.log_scale));
      }
    }

    // Tests: pair study i of the first law with study n+i (null) or 2n+i (alternative).
    // The reference tests' variances: each estimator's SD across the first law's 2n studies
    // and across the alternative's n.
    std::map<std::string, double> sd, sd_alt;
    for (const char* q : {"a", "loss", "a_ls", "loss_ls"}) {
      std::vector<double> first, alt;
      for (int i = 0; i < 3 * studies; ++i) {
        if (out[i].estimate.count(q)) (i < 2 * studies ? first : alt).push_back(out[i].estimate.at(q));
      }
      sd[q] = Sd(first);
      sd_alt[q] = Sd(alt);
    }
    int pairs[2] = {0, 0};
    int sims_a[2] = {0, 0}, sims_l[2] = {0, 0}, before_a[2] = {0, 0}, before_l[2] = {0, 0},
        ref_a[2] = {0, 0}, ref_l[2] = {0, 0}, res_a[2] = {0, 0}, res_l[2] = {0, 0},
        ls_a[2] = {0, 0}, ls_l[2] = {0, 0};
    for (int alt = 0; alt < 2; ++alt) {
      for (int i = 0; i < studies; ++i) {
        const Outcome& x = out[i];
        const Outcome& y = out[(alt ? 2 : 1) * studies + i];
        if (!x.estimate.count("a") || !y.estimate.count("a")) continue;
        ++pairs[alt];
        const Comparison c = CompareConditions(x.fit, y.fit, {1e18});
        sims_a[alt] += c.p_allocation_exponent.value_or(1) < 0.05;
        sims_l[alt] += c.p_loss_exponent.value_or(1) < 0.05;
        const Comparison r = CompareConditions(x.fit_residuals, y.fit_residuals, {1e18});
        res_a[alt] += r.p_allocation_exponent.value_or(1) < 0.05;
        res_l[alt] += r.p_loss_exponent.value_or(1) < 0.05;
        before_a[alt] += PercentileTestP(x.cases_a, y.cases_a) < 0.05;
        before_l[alt] += PercentileTestP(x.cases_l, y.cases_l) < 0.05;
        auto oracle = [&](const char* q) {
          return OracleWaldP(x.estimate.at(q), sd.at(q), y.estimate.at(q), (alt ? sd_alt : sd).at(q)) < 0.05;
        };
        ref_a[alt] += oracle("a");
        ref_l[alt] += oracle("loss");
        ls_a[alt] += oracle("a_ls");
        ls_l[alt] += oracle("loss_ls");
      }
    }
    auto pct = [&](const int k[2], int alt) { return fmt::format("{:.1f} %", 100.0 * k[alt] / std::max(1, pairs[alt])); };
    auto test_row = [&](const char* exponent, const char* test, const int k[2]) {
      tests_table += fmt::format("| {} | {} | {} | {} | {} |\n", d.name, exponent, test, pct(k, 0), pct(k, 1));
    };
    for (const char* e : {"a", "loss exponent"}) {
      const bool a = e[0] == 'a';
      test_row(e, "percentile test on paired case-resample differences (before)", a ? before_a : before_l);
      test_row(e, "Wald, SEs from residual-bootstrap stretched intervals", a ? res_a : res_l);
      test_row(e, "**Wald, SEs from sims's intervals (sims)**", a ? sims_a : sims_l);
      test_row(e, "reference: Wald with the true sampling SDs", a ? ref_a : ref_l);
      test_row(e, "reference: the same on a least-squares fit", a ? ls_a : ls_l);
    }
    std::fprintf(stderr, "%s: pairs %d null, %d alternative\n", d.name.c_str(), pairs[0], pairs[1]);
  }
  fmt::print("{}\n{}", intervals_table, tests_table);
  return 0;
}
