// Tests of fitting/: numerics against hand-computed values and known laws, and I/O.
// The golden comparison with scipy is in test_fitting_reference.cpp.
#include <cmath>
#include <random>

// Ceres first, and glog's CHECK undefined: included after Catch, glog's CHECK (which aborts the
// process and is not counted as an assertion) replaced Catch's in this whole file.
#include <ceres/ceres.h>
#undef CHECK
#include <catch2/catch.hpp>

#include "common/error.h"
#include "fitting/approach1.h"
#include "fitting/approach2.h"
#include "fitting/approach3.h"
#include "fitting/bootstrap.h"
#include "fitting/compare.h"
#include "fitting/data.h"
#include "fitting/downstream.h"
#include "fitting/holdout.h"
#include "fitting/json.h"
#include "results/store.h"
#include "sweeps/run_config.h"
#include "tests/test_support.h"

using namespace sims::fitting;
using Catch::Matchers::Contains;

namespace {

const LawParams kChinchilla{1.69, 406.4, 410.7, 0.34, 0.28};  // published (rounded)

// A grid of N x D with losses from `law` times lognormal noise of relative size `noise`
// (seeded, so each seed is a fixed data set). Budgets are 6ND.
std::vector<Point> SyntheticPoints(const LawParams& law, double noise, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0, noise);
  std::vector<Point> points;
  for (int i = 0; i < 8; ++i) {
    for (int j = 0; j < 8; ++j) {
      Point p;
      p.n_params = 1e7 * std::pow(10, i * 2.0 / 7);   // 1e7 .. 1e9
      p.tokens = 1e8 * std::pow(10, j * 3.0 / 7);     // 1e8 .. 1e11
      p.flops = p.budget = 6 * p.n_params * p.tokens;
      p.loss = PredictLoss(law, p.n_params, p.tokens) * std::exp(noise > 0 ? normal(rng) : 0);
      points.push_back(p);
    }
  }
  return points;
}

Point WithResidual(const LawParams& law, double n, double d, double residual) {
  Point p;
  p.n_params = n;
  p.tokens = d;
  p.loss = PredictLoss(law, n, d) * std::exp(-residual);  // log pred - log obs = residual
  return p;
}

// A cost function with a fixed residual, to read Ceres' convention for a HuberLoss cost.
struct ConstantResidual final : ceres::SizedCostFunction<1, 1> {
  explicit ConstantResidual(double r) : r(r) {}
  bool Evaluate(double const* const*, double* residual, double** jacobians) const override {
    residual[0] = r;
    if (jacobians && jacobians[0]) jacobians[0][0] = 0;
    return true;
  }
  double r;
};

}  // namespace

TEST_CASE("Huber is the textbook definition on hand-computed residuals", "[fitting]") {
  CHECK(Huber(0.0005, 1e-3) == Approx(1.25e-7).epsilon(1e-12));   // quadratic: r^2/2
  CHECK(Huber(-0.002, 1e-3) == Approx(1.5e-6).epsilon(1e-12));    // linear: delta(|r| - delta/2)
  CHECK(Huber(0.01, 1e-3) == Approx(9.5e-6).epsilon(1e-12));
  CHECK(Huber(1e-3, 1e-3) == Approx(5e-7).epsilon(1e-12));        // continuous at delta
}

TEST_CASE("the approach-3 objective sums Huber of log residuals, as Ceres' HuberLoss cost does", "[fitting]") {
  const std::vector<Point> points = {WithResidual(kChinchilla, 1e8, 1e9, 0.0005),
                                     WithResidual(kChinchilla, 3e8, 2e10, -0.002),
                                     WithResidual(kChinchilla, 1e9, 5e10, 0.01)};
  const double textbook = 1.25e-7 + 1.5e-6 + 9.5e-6;
  CHECK(Approach3Objective(points, kChinchilla, 1e-3) == Approx(textbook).epsilon(1e-9));
  // Ceres' cost is 1/2 sum rho(r^2) with HuberLoss rho(s) = s (s <= d^2), 2 d sqrt(s) - d^2:
  // the 1/2 makes it the textbook sum, so an LM fit and ours minimise the same number.
  ceres::Problem problem;
  double unused = 0;
  for (double r : {0.0005, -0.002, 0.01}) {
    problem.AddResidualBlock(new ConstantResidual(r), new ceres::HuberLoss(1e-3), &unused);
  }
  double cost = 0;
  problem.Evaluate(ceres::Problem::EvaluateOptions(), &cost, nullptr, nullptr, nullptr);
  CHECK(cost == Approx(textbook).epsilon(1e-12));
}

TEST_CASE("the frontier of Chinchilla's published law matches hand-computed values", "[fitting]") {
  // Hand computation (Python, double precision) from E=1.69, A=406.4, B=410.7, 0.34, 0.28.
  const Frontier f = FrontierOf(kChinchilla);
  CHECK(f.G == Approx(1.34471064277253).epsilon(1e-12));
  CHECK(f.a == Approx(0.45161290322580644).epsilon(1e-14));
  CHECK(f.b == Approx(0.5483870967741935).epsilon(1e-14));
  CHECK(LossComputeExponent(kChinchilla) == Approx(0.1535483870967742).epsilon(1e-14));
  Approach3Result fit;
  fit.params = kChinchilla;
  fit.frontier = f;
  const Recommendation r = Recommend(fit, BootstrapResult{}, 1e21);
  CHECK(r.n_params == Approx(1824217696.8955524).epsilon(1e-10));
  CHECK(r.tokens == Approx(91363364663.27403).epsilon(1e-10));
  CHECK(r.loss == Approx(2.3288829401543194).epsilon(1e-12));
  CHECK(r.tokens_per_param == Approx(91363364663.27403 / 1824217696.8955524).epsilon(1e-10));
  CHECK_FALSE(r.n_params_interval.has_value());
}

TEST_CASE("approach 3 recovers a known law from noisy data, inside its bootstrap intervals", "[fitting]") {
  const LawParams truth{1.8, 400, 1200, 0.35, 0.3};
  int alpha_inside = 0, beta_inside = 0, e_inside = 0;
  const int seeds = 4;
  for (int seed = 1; seed <= seeds; ++seed) {
    CAPTURE(seed);
    const auto points = SyntheticPoints(truth, 0.005, seed);  // 0.5% lognormal noise
    const Approach3Result fit = FitApproach3(points);
    CHECK(fit.params.E == Approx(truth.E).epsilon(0.05));
    CHECK(fit.params.alpha == Approx(truth.alpha).epsilon(0.15));
    CHECK(fit.params.beta == Approx(truth.beta).epsilon(0.15));
    CHECK(fit.starts == 4500);
    CHECK(fit.starts_at_best > 0);
    BootstrapOptions b;
    b.resamples = 200;
    b.seed = seed;
    const BootstrapResult boot = BootstrapApproach3(points, fit, {}, b);
    CHECK(boot.failed < 10);
    auto inside = [&](const char* name, double v) {
      const Interval iv = boot.intervals.at(name);
      return iv.lo <= v && v <= iv.hi;
    };
    alpha_inside += inside("alpha", truth.alpha);
    beta_inside += inside("beta", truth.beta);
    e_inside += inside("E", truth.E);
  }
  // 95% intervals that cover (test_fitting_calibration.cpp, bench/calibration.cpp): the truth
  // is outside in 2 or more of 4 seeds with probability 1.4% per parameter, in 3 or more with
  // 0.05%. These seeds miss E twice (E = 1.868 [1.818, 1.924] and 1.875 [1.815, 1.932]); over
  // 100 seeds of this design the intervals of E, alpha and beta cover 93-95 of them.
  CHECK(alpha_inside >= seeds - 2);
  CHECK(beta_inside >= seeds - 2);
  CHECK(e_inside >= seeds - 2);
}

TEST_CASE("approach 3 without noise recovers the law to solver precision", "[fitting]") {
  const LawParams truth{1.8, 400, 1200, 0.35, 0.3};
  const auto points = SyntheticPoints(truth, 0, 0);
  Approach3Options options;
  options.threads = 2;
  const Approach3Result fit = FitApproach3(points, options);
  CHECK(fit.objective < 1e-14);
  CHECK(fit.params.E == Approx(truth.E).epsilon(1e-4));
  CHECK(fit.params.A == Approx(truth.A).epsilon(1e-3));
  CHECK(fit.params.B == Approx(truth.B).epsilon(1e-3));
  CHECK(fit.params.alpha == Approx(truth.alpha).epsilon(1e-4));
  CHECK(fit.params.beta == Approx(truth.beta).epsilon(1e-4));
}

TEST_CASE("screening reaches the same optimum as fully solving every start", "[fitting]") {
  const auto points = SyntheticPoints({1.8, 400, 1200, 0.35, 0.3}, 0.01, 7);
  Approach3Options screened, full;
  full.screen = false;
  const Approach3Result a = FitApproach3(points, screened);
  const Approach3Result b = FitApproach3(points, full);
  CHECK(a.objective == Approx(b.objective).epsilon(1e-9));
  CHECK(a.params.alpha == Approx(b.params.alpha).epsilon(1e-5));
  CHECK(a.full_solves < b.full_solves);
  CHECK(b.full_solves == 4500);
}

TEST_CASE("approach 3 options are validated with the field named", "[fitting]") {
  Approach3Options o;
  o.huber_delta = 0;
  CHECK_THROWS_WITH(Validate(o), Contains("huber_delta"));
  o = {};
  o.grid.alpha.clear();
  CHECK_THROWS_WITH(Validate(o), Contains("alpha"));
  CHECK_THROWS_WITH(FitApproach3(std::vector<Point>(3)), Contains("at least 5 points"));
}

TEST_CASE("the bootstrap gives the same intervals for a seed on any number of threads", "[fitting]") {
  const auto points = SyntheticPoints({1.8, 400, 1200, 0.35, 0.3}, 0.01, 3);
  const Approach3Result fit = FitApproach3(points);
  BootstrapOptions one, two;
  one.resamples = two.resamples = 50;
  one.seed = two.seed = 42;
  one.threads = 1;
  two.threads = 2;
  one.budgets = two.budgets = {1e20};
  const auto a = BootstrapApproach3(points, fit, {}, one);
  const auto b = BootstrapApproach3(points, fit, {}, two);
  REQUIRE(a.intervals.size() == b.intervals.size());
  for (const auto& [name, iv] : a.intervals) {
    CAPTURE(name);
    CHECK(iv.lo == b.intervals.at(name).lo);
    CHECK(iv.hi == b.intervals.at(name).hi);
  }
  REQUIRE(a.at_budget.size() == 4);  // N_opt, D_opt, D/N and loss at 1e20
  REQUIRE(a.At(AtBudget::kNOpt, 1e20));
  CHECK(a.At(AtBudget::kNOpt, 1e20)->lo == b.At(AtBudget::kNOpt, 1e20)->lo);
  CHECK(a.At(AtBudget::kLoss, 1e20)->hi == b.At(AtBudget::kLoss, 1e20)->hi);
  one.seed = 43;
  CHECK(BootstrapApproach3(points, fit, {}, one).intervals.at("alpha").lo != a.intervals.at("alpha").lo);
}

// Budgets used to be keys formatted with %g: 6 digits, so 1234567e15 and 1234568e15 shared a key
// and a stored budget read back as a different double.
TEST_CASE("a quantity at a budget is named so that it reads back as the same budget", "[fitting]") {
  for (double flops : {1e21, 2e11, 3.7e11, 1.234567e21, 1.234568e21, 5.000000000000001e14,
                       1.0 / 3.0 * 1e18}) {
    const BudgetQuantity key{AtBudget::kDOpt, flops};
    CAPTURE(ToString(key));
    CHECK(BudgetQuantityFromString(ToString(key)) == key);
  }
  CHECK(ToString(BudgetQuantity{AtBudget::kNOpt, 1e21}) == "n_opt@1e+21");
  CHECK(ToString(BudgetQuantity{AtBudget::kTokensPerParam, 3.7e11}) == "tokens_per_param@3.7e+11");
  CHECK(ToString(BudgetQuantity{AtBudget::kLoss, 1.234567e21}) !=
        ToString(BudgetQuantity{AtBudget::kLoss, 1.234568e21}));
  CHECK_FALSE(BudgetQuantityFromString("alpha"));
  CHECK_THROWS_WITH(BudgetQuantityFromString("width@1e21"),
                    Contains("'width' is not a quantity at a budget; expected one of n_opt, d_opt, "
                             "tokens_per_param, loss"));
  CHECK_THROWS_WITH(BudgetQuantityFromString("loss@-1e21"),
                    "interval 'loss@-1e21': '-1e21' is not a positive budget");
  CHECK_THROWS_WITH(BudgetQuantityFromString("loss@1e21x"), Contains("not a positive budget"));
}

TEST_CASE("percentile intervals interpolate between order statistics", "[fitting]") {
  const Interval iv = PercentileInterval({5, 1, 4, 2, 3}, 0.5);  // quartiles of 1..5
  CHECK(iv.lo == Approx(2));
  CHECK(iv.hi == Approx(4));
  const Interval wide = PercentileInterval({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, 0.9);
  CHECK(wide.lo == Approx(1.5));
  CHECK(wide.hi == Approx(10.5));
}

TEST_CASE("approach 2 finds exact vertices and power laws, and reports skipped budgets", "[fitting]") {
  // Per budget, loss = 2 + 0.1 (log N - log N*)^2 with N* = 0.1 C^0.5 exactly.
  std::vector<Point> points;
  for (double c : {1e18, 1e19, 1e20, 1e21}) {
    const double n_star = 0.1 * std::sqrt(c);
    for (double k : {0.25, 0.5, 1.0, 2.0, 4.0}) {
      Point p;
      p.budget = p.flops = c;
      p.n_params = n_star * k;
      p.tokens = c / (6 * p.n_params);
      p.loss = 2 + 0.1 * std::pow(std::log(k), 2);
      points.push_back(p);
    }
  }
  Point lonely;  // a budget with 2 points: skipped
  lonely.budget = lonely.flops = 1e17;
  lonely.n_params = 1e7;
  lonely.tokens = 1e17 / 6e7;
  lonely.loss = 3;
  points.push_back(lonely);
  lonely.n_params = 2e7;
  points.push_back(lonely);
  const Approach2Result r = FitApproach2(points);
  REQUIRE(r.vertices.size() == 4);
  REQUIRE(r.skipped.size() == 1);
  CHECK(r.skipped[0].budget == 1e17);
  CHECK_THAT(r.skipped[0].reason, Contains("2 points"));
  CHECK(r.vertices[0].n_opt == Approx(0.1 * 1e9).epsilon(1e-9));
  CHECK(r.vertices[0].loss == Approx(2).epsilon(1e-12));
  // The stored parabola is the profile itself: 2 + 0.1 ln(N/N*)^2 over the points' span.
  const Parabola& parabola = r.vertices[0].parabola;
  CHECK(parabola.c2 == Approx(0.1).epsilon(1e-9));
  CHECK(parabola(0.1 * 1e9 * 3) == Approx(2 + 0.1 * std::pow(std::log(3.0), 2)).epsilon(1e-9));
  CHECK(std::exp(parabola.ln_lo) == Approx(0.1 * 1e9 * 0.25).epsilon(1e-12));
  CHECK(std::exp(parabola.ln_hi) == Approx(0.1 * 1e9 * 4).epsilon(1e-12));
  CHECK(r.n_opt.exponent == Approx(0.5).epsilon(1e-9));
  CHECK(r.n_opt.coefficient == Approx(0.1).epsilon(1e-7));
  CHECK(r.d_opt.exponent == Approx(0.5).epsilon(1e-9));
  CHECK(r.d_opt.coefficient == Approx(1 / 0.6).epsilon(1e-7));  // D = C / (6 * 0.1 C^0.5)

  SECTION("a budget without upward curvature is skipped with the reason") {
    for (Point& p : points) {
      if (p.budget == 1e21) p.loss = 4 - p.loss;
    }
    const Approach2Result flipped = FitApproach2(points);
    CHECK(flipped.vertices.size() == 3);
    CHECK_THAT(flipped.skipped.back().reason, Contains("no upward curvature"));
  }
  SECTION("a vertex outside the sampled sizes is skipped unless allowed") {
    for (Point& p : points) {  // at 1e18 keep only sizes above the optimum: N* = 0.5 x smallest
      if (p.budget == 1e18) p.loss = 2 + 0.1 * std::pow(std::log(p.n_params / (0.1e9 * 0.125)), 2);
    }
    const Approach2Result strict = FitApproach2(points);
    CHECK(strict.vertices.size() == 3);
    CHECK_THAT(strict.skipped.back().reason, Contains("below the sampled N") && Contains("add smaller model sizes"));
    Approach2Options lenient;
    lenient.require_bracketed = false;
    const Approach2Result extrapolated = FitApproach2(points, lenient);
    REQUIRE(extrapolated.vertices.size() == 4);
    CHECK(extrapolated.vertices[0].n_opt == Approx(0.1e9 * 0.125).epsilon(1e-9));
  }
  SECTION("the holdout predicts held-out vertices of an exact power law") {
    const HoldoutResult h = HoldoutApproach2(points, 1, {});
    REQUIRE(h.rows.size() == 1);
    CHECK(h.rows[0].budget == 1e21);
    REQUIRE(h.n_opt_rel_error.has_value());
    CHECK(*h.n_opt_rel_error < 1e-8);
  }
  SECTION("the budget bootstrap of exact vertices has zero-width intervals") {
    BootstrapOptions b;
    b.resamples = 100;
    const BootstrapResult boot = BootstrapApproach2(points, {}, b);
    CHECK(boot.intervals.at("n_opt.exponent").lo == Approx(0.5).epsilon(1e-9));
    CHECK(boot.intervals.at("n_opt.exponent").hi == Approx(0.5).epsilon(1e-9));
  }
}

TEST_CASE("approach 1 keeps the lowest loss reached at each compute", "[fitting]") {
  // Two curves: a small model (better early) and a big one (better late).
  auto point = [](double n, double d, double loss) {
    Point p;
    p.n_params = n;
    p.tokens = d;
    p.flops = 6 * n * d;
    p.loss = loss;
    return p;
  };
  const std::vector<Point> curves = {point(1e6, 1e8, 4.0), point(1e6, 1e9, 3.5), point(1e6, 1e10, 3.4),
                                     point(1e7, 1e8, 4.2), point(1e7, 1e9, 3.3), point(1e7, 1e10, 3.0)};
  // C: 6e14 (4.0), 6e15 (3.5; 4.2 loses), 6e16 (3.4 ties C with 1e7/1e9 = 3.3, which wins), 6e17 (3.0)
  const auto env = LossEnvelope(curves, {});
  REQUIRE(env.size() == 4);
  CHECK(env[0].loss == 4.0);
  CHECK(env[1].loss == 3.5);
  CHECK(env[2].loss == 3.3);
  CHECK(env[3].loss == 3.0);
  const Approach1Result r = FitApproach1(curves);
  CHECK(r.n_opt.exponent > 0);
}

TEST_CASE("the compute multiplier of a law and its scaled copy is the scale squared", "[fitting]") {
  // L2(N, D) = L1(N/s, D/s) needs s^2 times the compute for the same loss.
  const double s = 2;
  ConditionFit first, second;
  first.condition = "textless";
  second.condition = "interleaved";
  first.fit.params = kChinchilla;
  second.fit.params = {kChinchilla.E, kChinchilla.A * std::pow(s, kChinchilla.alpha),
                       kChinchilla.B * std::pow(s, kChinchilla.beta), kChinchilla.alpha, kChinchilla.beta};
  first.fit.frontier = FrontierOf(first.fit.params);
  second.fit.frontier = FrontierOf(second.fit.params);
  const Comparison c = CompareConditions(first, second, {1e19, 1e21});
  REQUIRE(c.multipliers.size() == 2);
  CHECK(c.multipliers[0].multiplier == Approx(4).epsilon(1e-8));
  CHECK(c.multipliers[1].multiplier == Approx(4).epsilon(1e-8));
  CHECK_FALSE(c.crossing_flops.has_value());
  CHECK_FALSE(c.p_allocation_exponent.has_value());
  CHECK(c.first.a == Approx(c.second.a));

  SECTION("a law with a steeper exponent crosses the other at the hand-solved compute") {
    second.fit.params = {1.69, 406.4, 410.7 * 20, 0.34, 0.40};
    second.fit.frontier = FrontierOf(second.fit.params);
    const Comparison x = CompareConditions(first, second, {1e21});
    REQUIRE(x.crossing_flops.has_value());
    CHECK(OptimalLoss(first.fit.params, SixNDCost(), *x.crossing_flops) ==
          Approx(OptimalLoss(second.fit.params, SixNDCost(), *x.crossing_flops)).epsilon(1e-9));
  }
}

TEST_CASE("FlopsToReachLoss inverts the optimal loss, and says never below E", "[fitting]") {
  const double loss = OptimalLoss(kChinchilla, SixNDCost(), 3e22);
  REQUIRE(FlopsToReachLoss(kChinchilla, SixNDCost(), loss).has_value());
  CHECK(*FlopsToReachLoss(kChinchilla, SixNDCost(), loss) == Approx(3e22).epsilon(1e-9));
  CHECK_FALSE(FlopsToReachLoss(kChinchilla, SixNDCost(), 1.69).has_value());
}

TEST_CASE("comparing a condition with itself gives multiplier 1 and p-values of 1", "[fitting]") {
  const auto points = SyntheticPoints({1.8, 400, 1200, 0.35, 0.3}, 0.01, 5);
  ConditionFit c;
  c.fit = FitApproach3(points);
  BootstrapOptions b;
  b.resamples = 50;
  c.bootstrap = BootstrapApproach3(points, c.fit, {}, b);
  const Comparison x = CompareConditions(c, c, {1e20});
  CHECK(x.multipliers[0].multiplier == Approx(1).epsilon(1e-9));
  REQUIRE(x.p_allocation_exponent.has_value());
  CHECK(*x.p_allocation_exponent == 1.0);
  REQUIRE(x.multipliers[0].interval.has_value());
  CHECK(x.multipliers[0].interval->lo == Approx(1).epsilon(1e-9));
}

TEST_CASE("the approach-3 holdout predicts held-out budgets of a noise-free law", "[fitting]") {
  const auto points = SyntheticPoints({1.8, 400, 1200, 0.35, 0.3}, 0, 0);
  const HoldoutResult h = HoldoutApproach3(points, 5, {});
  CHECK(h.held_out_budgets == 5);
  CHECK(h.rows.size() == 5);
  REQUIRE(h.loss_rel_error.has_value());
  CHECK(*h.loss_rel_error < 1e-5);
  CHECK_THROWS_WITH(HoldoutApproach3(points, 1000, {}), Contains("--holdout"));
}

TEST_CASE("downstream fits recover a known power law and a known sigmoid", "[fitting]") {
  std::vector<MetricPoint> power, sigmoid;
  for (double c : {1e17, 1e18, 1e19, 1e20, 1e21}) {
    power.push_back({c, c, 1 - 2 * std::pow(c, -0.05)});
    // floor 0.5, ceiling 0.9, slope 1.2, midpoint log(1e19)
    sigmoid.push_back({c, c, 0.5 + 0.4 / (1 + std::exp(-1.2 * (std::log(c) - std::log(1e19))))});
    power.push_back({c, c, 0.1});  // a worse run of the same budget is ignored
  }
  const DownstreamResult p = FitDownstream(power);
  CHECK(p.best.size() == 5);
  CHECK(p.exponent == Approx(-0.05).epsilon(1e-9));
  CHECK(p.coefficient == Approx(2).epsilon(1e-8));
  DownstreamOptions o;
  o.form = DownstreamForm::kSigmoid;
  const DownstreamResult s = FitDownstream(sigmoid, o);
  CHECK(s.ceiling == Approx(0.9).epsilon(1e-6));
  CHECK(s.slope == Approx(1.2).epsilon(1e-6));
  CHECK(s.log_mid == Approx(std::log(1e19)).epsilon(1e-6));
  CHECK(PredictMetric(s, 1e19) == Approx(0.7).epsilon(1e-6));
}

TEST_CASE("fit results survive the JSON round trip the fits table uses", "[fitting]") {
  const auto points = SyntheticPoints({1.8, 400, 1200, 0.35, 0.3}, 0.01, 9);
  const Approach3Result fit = FitApproach3(points);
  BootstrapOptions b;
  b.resamples = 20;
  b.budgets = {1e21};
  const BootstrapResult boot = BootstrapApproach3(points, fit, {}, b);
  const nlohmann::json j = nlohmann::json::parse(ToJson(fit, &boot).dump());
  CHECK(j["approach"] == 3);
  CHECK(j["params"]["alpha"].get<double>() == fit.params.alpha);
  CHECK(j["intervals"]["alpha"].size() == 2);
  const Approach3Result back = Approach3FromJson(j);
  CHECK(back.params.B == fit.params.B);
  CHECK(back.objective == fit.objective);
  const BootstrapResult boot_back = BootstrapFromJson(j);
  CHECK(boot_back.law_samples.size() == boot.law_samples.size());
  CHECK(j["intervals"].contains("n_opt@1e+21"));  // the stored name, unchanged by typing
  CHECK(boot_back.At(AtBudget::kNOpt, 1e21)->hi == boot.At(AtBudget::kNOpt, 1e21)->hi);
  CHECK(boot_back.intervals.at("alpha").lo == boot.intervals.at("alpha").lo);
  CHECK_THROWS_WITH(Approach3FromJson(nlohmann::json{{"approach", 3}}), Contains("params"));
}

TEST_CASE("CSV errors name the file, the line and the column", "[fitting]") {
  const std::string header = "params,tokens,loss,budget\n";
  CHECK_THROWS_WITH(ParsePointsCsv(header + "1e6,1e9,abc,6e15\n", "x.csv", {}),
                    Contains("x.csv: line 2: column 'loss': 'abc' is not a number"));
  CHECK_THROWS_WITH(ParsePointsCsv(header + "1e6,1e9,3.0,6e15\n-5,1e9,3,6e15\n", "x.csv", {}),
                    Contains("x.csv: line 3: column 'params'"));
  CHECK_THROWS_WITH(ParsePointsCsv("N,tokens,budget\n1,2,3\n", "y.csv", {}), Contains("no column 'loss'"));
  CsvOptions o;
  o.loss = "L";
  CHECK_THROWS_WITH(ParsePointsCsv(header, "z.csv", o), Contains("--columns loss=NAME"));
  CHECK_THROWS_WITH(ReadPointsCsv("/nonexistent/file.csv", {}), Contains("/nonexistent/file.csv"));
}

TEST_CASE("CSV reading derives N or D from C = 6ND, filters rows, drops outliers and top losses", "[fitting]") {
  const std::string text =
      "dataset,params,loss,budget,outlier,step,total\n"
      "a,1e6,3.0,6e15,False,10,10\n"
      "a,2e6,2.9,6e15,True,10,10\n"
      "b,4e6,2.8,6e15,false,10,10\n"
      "a,1e6,5.0,6e15,0,5,10\n";
  CsvOptions o;
  o.tokens = "";  // not in the file
  Dataset all = ParsePointsCsv(text, "t.csv", o);
  REQUIRE(all.points.size() == 4);
  CHECK(all.points[0].tokens == Approx(1e9));  // 6e15 / (6 * 1e6)
  CHECK(all.points[0].source == "t.csv:2");
  CHECK(all.provenance["sha256"].get<std::string>().size() == 64);
  o.drop_outliers = true;
  o.where = {{"dataset", "a"}, {"step", "@total"}};
  Dataset some = ParsePointsCsv(text, "t.csv", o);
  REQUIRE(some.points.size() == 1);
  CHECK(some.points[0].loss == 3.0);
  CHECK(some.dropped_outliers == 1);
  o = {};
  o.tokens = "";
  o.exclude_top_loss = 1;
  Dataset top = ParsePointsCsv(text, "t.csv", o);
  REQUIRE(top.points.size() == 3);
  CHECK(top.points[2].loss == 2.8);  // the 5.0 row went; order kept
  CsvOptions columns;
  ParseColumnsSpec("params=N,tokens=D,budget=C", columns);
  CHECK(columns.params == "N");
  CHECK(columns.budget == "C");
  CHECK_THROWS_WITH(ParseColumnsSpec("size=N", columns), Contains("unknown key 'size'"));
}

TEST_CASE("points load from the store: the final metric of each done run", "[fitting]") {
  sims::testing::TempDir dir;
  sims::Store store = sims::Store::Open(dir.file("sims.db"));
  const int64_t sweep = store.UpsertSweep("s", "");
  auto run = [](const std::string& id, const std::string& condition, int64_t n, int64_t tokens) {
    sims::NewRun r;
    r.id = id;
    r.condition = condition;
    r.n_params = n;
    r.n_params_non_embedding = n / 2;
    r.tokens = tokens;
    r.flops = 6.0 * n * tokens;
    r.flops_per_token = 6.0 * n;
    r.budget_flops = 1e18;
    r.config_json = "{}";
    return r;
  };
  store.InsertRuns(sweep, {run("r1", "textless", 1000000, 1000000000), run("r2", "textless", 2000000, 500000000),
                           run("r3", "text-lm", 1000000, 1000000000), run("r4", "textless", 4000000, 1)});
  for (const char* id : {"r1", "r2", "r3"}) {
    REQUIRE(store.ClaimRun("w", 0, 100, "s", id));
    store.InsertMetrics({{id, 10, 100, "val/loss/speech", 4.0}, {id, 20, 200, "val/loss/speech", 3.5},
                         {id, 20, 200, "val/loss/text", 9.0}});
    store.FinishRun(id, "w", 1);
  }
  sims::fitting::StoreSelection s;
  s.sweep = "s";
  Dataset d = LoadPointsFromStore(store, s);
  REQUIRE(d.points.size() == 2);  // r3 is text-lm, r4 not done
  CHECK(d.points[0].loss == 3.5);  // the last step's value
  CHECK(d.points[0].budget == 1e18);
  CHECK(d.points[0].n_params == 1e6);
  CHECK(d.provenance["run_ids"].size() == 2);
  s.non_embedding = true;
  CHECK(LoadPointsFromStore(store, s).points[0].n_params == 5e5);
  s.condition = "text-lm";
  CHECK(LoadPointsFromStore(store, s).points.size() == 1);
  sims::fitting::StoreSelection textless;
  textless.sweep = "s";
  textless.condition = "textless";
  const Dataset curves = LoadCurvesFromStore(store, textless);
  CHECK(curves.points.size() == 4);  // two steps of two runs
  sims::fitting::StoreSelection nope;
  nope.sweep = "nope";
  CHECK_THROWS_WITH(LoadPointsFromStore(store, nope), Contains("no sweep 'nope'"));
  s = {};
  s.sweep = "s";
  s.metric = "train/loss";
  CHECK_THROWS_WITH(LoadPointsFromStore(store, s), Contains("no done run with metric 'train/loss'"));
}
