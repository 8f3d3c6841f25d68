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
// For every interval: coverage of the truth, mean width, and the width a 95% interval would
// have with the estimator's actual spread (3.92 x the SD of the estimate across studies).
// For the test: rejections at p < 0.05 under the null (type-I error) and the alternative
// (power), for sims's test, for the test it replaced, and for a reference Wald test that
// knows each estimator's true sampling variance (measured across these studies).
//
//   bench_calibration [--studies 200] [--resamples 200] [--seed 1] [--threads 2]
#include <cmath>
#include <cstdio>
#include <cstring>
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
  const Frontier f = FrontierOf(kTruth);  // the sweep's sizes: the same for both conditions
  std::vector<Point> points;
  for (double c : Budgets(d)) {
    for (int j = 0; j < d.sizes; ++j) {
      Point p;
      p.budget = p.flops = c;
      p.n_params = OptimalParams(f, c) * std::pow(8.0, 2.0 * j / (d.sizes - 1) - 1);
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

// What one study gives: estimates, and intervals by each method (nan when a fit failed).
struct Outcome {
  bool ok2 = false, ok3 = false;
  double n_exp = NAN, n_pivot = NAN, pivot = NAN;   // approach 2
  Interval n_exp_cases, n_exp_pct, n_exp_sims, n_pivot_sims;
  int failed2 = 0, failed2_cases = 0;
  double a = NAN, loss_exp = NAN;                   // approach 3
  Interval a_cases, a_pct, a_sims, l_cases, l_pct, l_sims;
  int failed3 = 0, failed3_cases = 0;
  ConditionFit fit;                                 // approach 3 with the sims bootstrap
  std::vector<double> cases_a, cases_l;             // approach 3 case-resample samples
};

Outcome Analyse(const Design& d, const LawParams& law, uint64_t seed, int resamples, bool approach2,
                const std::string& condition) {
  Outcome o;
  const std::vector<Point> points = Study(d, law, seed);
  BootstrapOptions boot;
  boot.resamples = resamples;
  boot.threads = 1;
  boot.seed = ConditionSeed(seed, condition);
  BootstrapOptions cases = boot;
  cases.method = BootstrapMethod::kCases;
  if (approach2) {
    try {
      const Approach2Result fit = FitApproach2(points);
      const BootstrapResult b = BootstrapApproach2(points, {}, boot);
      const BootstrapResult c = BootstrapApproach2(points, {}, cases);
      o.n_exp = fit.n_opt.exponent;
      o.pivot = b.pivot_flops;
      o.n_pivot = Evaluate(fit.n_opt, o.pivot);
      o.n_exp_sims = b.intervals.at("n_opt.exponent");
      o.n_pivot_sims = b.intervals.at(BudgetKey("n_opt", o.pivot));
      std::vector<double> e;
      for (const PowerLaw& p : b.n_opt_samples) e.push_back(p.exponent);
      o.n_exp_pct = PercentileInterval(e, boot.level);
      o.n_exp_cases = c.intervals.at("n_opt.exponent");
      o.failed2 = b.failed;
      o.failed2_cases = c.failed;
      o.ok2 = true;
    } catch (const sims::UserError&) {
    }
  }
  try {
    const Approach3Options fo = FitOptions();
    o.fit.condition = condition;
    o.fit.fit = FitApproach3(points, fo);
    o.fit.bootstrap = BootstrapApproach3(points, o.fit.fit, fo, boot);
    const BootstrapResult c = BootstrapApproach3(points, o.fit.fit, fo, cases);
    o.a = o.fit.fit.frontier.a;
    o.loss_exp = LossComputeExponent(o.fit.fit.params);
    o.a_sims = o.fit.bootstrap.intervals.at("a");
    o.l_sims = o.fit.bootstrap.intervals.at("loss_exponent");
    std::vector<double> a, l;
    for (const LawParams& s : o.fit.bootstrap.law_samples) {
      a.push_back(FrontierOf(s).a);
      l.push_back(LossComputeExponent(s));
    }
    o.a_pct = PercentileInterval(a, boot.level);
    o.l_pct = PercentileInterval(l, boot.level);
    o.a_cases = c.intervals.at("a");
    o.l_cases = c.intervals.at("loss_exponent");
    for (const LawParams& s : c.law_samples) {
      o.cases_a.push_back(FrontierOf(s).a);
      o.cases_l.push_back(LossComputeExponent(s));
    }
    o.failed3 = o.fit.bootstrap.failed;
    o.failed3_cases = c.failed;
    o.ok3 = true;
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

// One row of the interval table: coverage, width, width relative to 3.92 SD(estimate), and the
// estimator's bias in SDs (a bias no resampling of the noise can show).
// `log_scale`: widths of log(interval) (for N_opt at the pivot).
std::string IntervalRow(const std::string& label, const std::vector<Interval>& intervals,
                        const std::vector<double>& estimates, double truth, double failed_share,
                        bool log_scale = false) {
  auto t = [&](double v) { return log_scale ? std::log(v) : v; };
  int covered = 0;
  std::vector<double> widths, est;
  for (size_t i = 0; i < intervals.size(); ++i) {
    covered += intervals[i].lo <= truth && truth <= intervals[i].hi;
    widths.push_back(t(intervals[i].hi) - t(intervals[i].lo));
    est.push_back(t(estimates[i]));
  }
  const double sd = Sd(est), ideal = 2 * 1.959964 * sd;
  return fmt::format("| {} | {} | {:.1f} % | {:.4f} | {:.4f} | {:.2f} | {:+.2f} | {:.1f} % |", label,
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
    // Intervals, over the first law's studies that gave a fit (approach 2) and all (approach 3).
    std::vector<Interval> n_cases, n_pct, n_sims, n_piv, a_cases, a_pct, a_sims, l_cases, l_pct, l_sims;
    std::vector<double> n_est, n_piv_est, a_est, l_est;
    double f2 = 0, f2c = 0, f3 = 0, f3c = 0;
    int ok2 = 0, ok3 = 0;
    double pivot = NAN;
    for (int i = 0; i < 2 * studies; ++i) {
      const Outcome& o = out[i];
      if (o.ok2) {
        ++ok2;
        n_cases.push_back(o.n_exp_cases);
        n_pct.push_back(o.n_exp_pct);
        n_sims.push_back(o.n_exp_sims);
        n_est.push_back(o.n_exp);
        if (std::isnan(pivot) || o.pivot == pivot) {  // same pivot unless a budget was skipped
          pivot = o.pivot;
          n_piv.push_back(o.n_pivot_sims);
          n_piv_est.push_back(o.n_pivot);
        }
        f2 += o.failed2;
        f2c += o.failed2_cases;
      }
      if (o.ok3) {
        ++ok3;
        a_cases.push_back(o.a_cases);
        a_pct.push_back(o.a_pct);
        a_sims.push_back(o.a_sims);
        l_cases.push_back(o.l_cases);
        l_pct.push_back(o.l_pct);
        l_sims.push_back(o.l_sims);
        a_est.push_back(o.a);
        l_est.push_back(o.loss_exp);
        f3 += o.failed3;
        f3c += o.failed3_cases;
      }
    }
    const double r2 = std::max(1, ok2) * double(resamples), r3 = std::max(1, ok3) * double(resamples);
    auto row = [&](const std::string& what, const std::string& method, const std::string& body) {
      intervals_table += fmt::format("| {} | {} | {} {}\n", d.name, what, method, body);
    };
    row("approach 2, N_opt exponent", "cases (vertices; before)", IntervalRow("", n_cases, n_est, truth.a, f2c / r2).substr(3));
    row("approach 2, N_opt exponent", "residuals, percentile", IntervalRow("", n_pct, n_est, truth.a, f2 / r2).substr(3));
    row("approach 2, N_opt exponent", "**residuals, stretched (sims)**", IntervalRow("", n_sims, n_est, truth.a, f2 / r2).substr(3));
    row(fmt::format("approach 2, N_opt at C = {:.3g} (log width)", pivot), "**residuals, stretched (sims)**",
        IntervalRow("", n_piv, n_piv_est, OptimalParams(truth, pivot), f2 / r2, true).substr(3));
    row("approach 3, a = beta/(alpha+beta)", "cases (points; before)", IntervalRow("", a_cases, a_est, truth.a, f3c / r3).substr(3));
    row("approach 3, a = beta/(alpha+beta)", "residuals, percentile", IntervalRow("", a_pct, a_est, truth.a, f3 / r3).substr(3));
    row("approach 3, a = beta/(alpha+beta)", "**residuals, stretched (sims)**", IntervalRow("", a_sims, a_est, truth.a, f3 / r3).substr(3));
    const double l_truth = LossComputeExponent(kTruth);
    row("approach 3, loss exponent", "cases (points; before)", IntervalRow("", l_cases, l_est, l_truth, f3c / r3).substr(3));
    row("approach 3, loss exponent", "residuals, percentile", IntervalRow("", l_pct, l_est, l_truth, f3 / r3).substr(3));
    row("approach 3, loss exponent", "**residuals, stretched (sims)**", IntervalRow("", l_sims, l_est, l_truth, f3 / r3).substr(3));

    // Tests: pair study i of the first law with study n+i (null) or 2n+i (alternative).
    std::vector<double> alt_a, alt_l;
    for (int i = 2 * studies; i < 3 * studies; ++i) {
      if (out[i].ok3) {
        alt_a.push_back(out[i].a);
        alt_l.push_back(out[i].loss_exp);
      }
    }
    const double sd_a = Sd(a_est), sd_l = Sd(l_est), sd_alt_a = Sd(alt_a), sd_alt_l = Sd(alt_l);
    int pairs[2] = {0, 0};
    int sims_a[2] = {0, 0}, sims_l[2] = {0, 0}, before_a[2] = {0, 0}, before_l[2] = {0, 0},
        ref_a[2] = {0, 0}, ref_l[2] = {0, 0};
    for (int alt = 0; alt < 2; ++alt) {
      for (int i = 0; i < studies; ++i) {
        const Outcome& x = out[i];
        const Outcome& y = out[(alt ? 2 : 1) * studies + i];
        if (!x.ok3 || !y.ok3) continue;
        ++pairs[alt];
        const Comparison c = CompareConditions(x.fit, y.fit, {1e18});
        sims_a[alt] += c.p_allocation_exponent.value_or(1) < 0.05;
        sims_l[alt] += c.p_loss_exponent.value_or(1) < 0.05;
        before_a[alt] += PercentileTestP(x.cases_a, y.cases_a) < 0.05;
        before_l[alt] += PercentileTestP(x.cases_l, y.cases_l) < 0.05;
        ref_a[alt] += OracleWaldP(x.a, sd_a, y.a, alt ? sd_alt_a : sd_a) < 0.05;
        ref_l[alt] += OracleWaldP(x.loss_exp, sd_l, y.loss_exp, alt ? sd_alt_l : sd_l) < 0.05;
      }
    }
    auto pct = [&](const int k[2], int alt) { return fmt::format("{:.1f} %", 100.0 * k[alt] / std::max(1, pairs[alt])); };
    auto test_row = [&](const char* exponent, const char* test, const int k[2]) {
      tests_table += fmt::format("| {} | {} | {} | {} | {} |\n", d.name, exponent, test, pct(k, 0), pct(k, 1));
    };
    test_row("a", "percentile test on paired resample differences, cases bootstrap (before)", before_a);
    test_row("a", "**Wald, SEs from the calibrated intervals (sims)**", sims_a);
    test_row("a", "reference: Wald with the true sampling SDs", ref_a);
    test_row("loss exponent", "percentile test on paired resample differences, cases bootstrap (before)", before_l);
    test_row("loss exponent", "**Wald, SEs from the calibrated intervals (sims)**", sims_l);
    test_row("loss exponent", "reference: Wald with the true sampling SDs", ref_l);
    std::fprintf(stderr, "%s: approach 2 fitted %d/%d, approach 3 %d/%d; pairs %d null, %d alternative\n",
                 d.name.c_str(), ok2, 2 * studies, ok3, 2 * studies, pairs[0], pairs[1]);
  }
  fmt::print("{}\n{}", intervals_table, tests_table);
  return 0;
}
