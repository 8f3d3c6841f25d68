// Approach 3 with Ceres' L-BFGS on the summed Huber objective, exact gradient, in log space.
//
// Why not ceres::Problem + HuberLoss (one residual per point, Levenberg-Marquardt)? Measured:
// no faster than scipy over 4500 starts. The objective has 5 parameters; an L-BFGS step costs
// one pass over the points, so the whole fit is bounded by (starts x iterations x points).
// Speed comes from (1) an exact gradient in one pass, (2) both cores, (3) screening: every start
// gets a short solve, then only one start per distinct end point gets the full solve.
#include "fitting/approach3.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <map>
#include <set>
#include <mutex>
#include <thread>

#include <Eigen/Core>
#include <ceres/ceres.h>
#include <fmt/format.h>

#include "common/error.h"
#include "fitting/parallel.h"

namespace sims::fitting {
namespace {

// log N, log D, log L per point, laid out for one tight loop.
struct LogData {
  std::vector<double> log_n, log_d, log_l;
};

LogData ToLogData(std::span<const Point> points) {
  LogData d;
  for (const Point& p : points) {
    d.log_n.push_back(std::log(p.n_params));
    d.log_d.push_back(std::log(p.tokens));
    d.log_l.push_back(std::log(p.loss));
  }
  return d;
}

// Parameters x = (e, a, b, alpha, beta). Cost = sum_i Huber(LSE(a - alpha logN_i,
// b - beta logD_i, e) - log L_i) with the textbook Huber (no extra factor: a GradientProblem's
// cost is exactly what we return, unlike ceres::Problem's 1/2 sum rho).
class HuberLseObjective final : public ceres::FirstOrderFunction {
 public:
  HuberLseObjective(const LogData* data, double delta) : data_(data), delta_(delta) {}
  int NumParameters() const override { return 5; }
  bool Evaluate(const double* x, double* cost, double* gradient) const override {
    if (EvaluateVectorised(x, cost, gradient)) return std::isfinite(*cost);
    const double e = x[0], a = x[1], b = x[2], alpha = x[3], beta = x[4];
    const size_t n = data_->log_n.size();
    const double* log_n = data_->log_n.data();
    const double* log_d = data_->log_d.data();
    const double* log_l = data_->log_l.data();
    double f = 0, ge = 0, ga = 0, gb = 0, galpha = 0, gbeta = 0;
    for (size_t i = 0; i < n; ++i) {
      // LSE relative to e: e + log(1 + exp(t1 - e) + exp(t2 - e)) costs two exps, not three.
      // Only when a term could overflow (far from any optimum) shift by the largest one.
      const double t1 = a - alpha * log_n[i] - e;
      const double t2 = b - beta * log_d[i] - e;
      double shift = 0, x1, x2, x3 = 1;
      if (t1 < 700 && t2 < 700) {
        x1 = std::exp(t1);
        x2 = std::exp(t2);
      } else {
        shift = std::max(t1, t2);
        x1 = std::exp(t1 - shift);
        x2 = std::exp(t2 - shift);
        x3 = std::exp(-shift);
      }
      const double s = x1 + x2 + x3;
      const double r = e + shift + std::log(s) - log_l[i];
      const double ar = std::abs(r);
      double dr;  // d Huber / d r
      if (ar <= delta_) {
        f += 0.5 * r * r;
        dr = r;
      } else {
        f += delta_ * (ar - 0.5 * delta_);
        dr = r > 0 ? delta_ : -delta_;
      }
      if (gradient != nullptr) {
        const double w = dr / s;  // softmax weight times dHuber/dr
        ga += w * x1;
        gb += w * x2;
        ge += w * x3;
        galpha -= w * x1 * log_n[i];
        gbeta -= w * x2 * log_d[i];
      }
    }
    if (!std::isfinite(f)) return false;
    *cost = f;
    if (gradient != nullptr) {
      gradient[0] = ge;
      gradient[1] = ga;
      gradient[2] = gb;
      gradient[3] = galpha;
      gradient[4] = gbeta;
    }
    return true;
  }

 private:
  // The same sums over whole arrays, so Eigen evaluates exp and log a SIMD packet at a time
  // (the scalar loop above spends most of its time in them). False, leaving the scalar loop to
  // it, when a term could overflow (far from any optimum).
  bool EvaluateVectorised(const double* x, double* cost, double* gradient) const {
    const double e = x[0], a = x[1], b = x[2], alpha = x[3], beta = x[4];
    const Eigen::Index n = static_cast<Eigen::Index>(data_->log_n.size());
    const Eigen::Map<const Eigen::ArrayXd> log_n(data_->log_n.data(), n);
    const Eigen::Map<const Eigen::ArrayXd> log_d(data_->log_d.data(), n);
    const Eigen::Map<const Eigen::ArrayXd> log_l(data_->log_l.data(), n);
    const Eigen::ArrayXd t1 = (a - e) - alpha * log_n;
    const Eigen::ArrayXd t2 = (b - e) - beta * log_d;
    if (!(t1.maxCoeff() < 700 && t2.maxCoeff() < 700)) return false;
    const Eigen::ArrayXd x1 = t1.exp(), x2 = t2.exp();
    const Eigen::ArrayXd s = x1 + x2 + 1.0;
    const Eigen::ArrayXd r = s.log() + (e - log_l);
    const Eigen::ArrayXd ar = r.abs();
    const Eigen::ArrayXd inside = (ar <= delta_).cast<double>();
    *cost = (inside * 0.5 * r.square() + (1 - inside) * delta_ * (ar - 0.5 * delta_)).sum();
    if (gradient != nullptr) {
      const Eigen::ArrayXd dr = inside * r + (1 - inside) * delta_ * r.sign();
      const Eigen::ArrayXd w = dr / s;
      const Eigen::ArrayXd w1 = w * x1, w2 = w * x2;
      gradient[0] = w.sum();
      gradient[1] = w1.sum();
      gradient[2] = w2.sum();
      gradient[3] = -(w1 * log_n).sum();
      gradient[4] = -(w2 * log_d).sum();
    }
    return true;
  }

  const LogData* data_;
  double delta_;
};

struct LocalSolve {
  Approach3Start x;
  double objective = 0;
};

LocalSolve Solve(const LogData& data, double delta, const Approach3Start& start, int max_iterations,
                 double gradient_tolerance, bool verbose) {
  double x[5] = {start.e, start.a, start.b, start.alpha, start.beta};
  ceres::GradientProblem problem(new HuberLseObjective(&data, delta));
  ceres::GradientProblemSolver::Options o;
  o.line_search_direction_type = ceres::LBFGS;
  o.max_num_iterations = max_iterations;
  // Stop on the gradient alone: relative-reduction stops (function/parameter tolerance) fire
  // early when the objective is ~1e-3, which is exactly where these fits live.
  o.function_tolerance = 0;
  o.parameter_tolerance = 0;
  o.gradient_tolerance = gradient_tolerance;
  o.logging_type = verbose ? ceres::PER_MINIMIZER_ITERATION : ceres::SILENT;
  o.minimizer_progress_to_stdout = verbose;
  ceres::GradientProblemSolver::Summary summary;
  ceres::Solve(o, problem, x, &summary);
  LocalSolve out;
  out.x = {x[0], x[1], x[2], x[3], x[4]};
  out.objective = summary.final_cost;
  return out;
}

// Screening stages, in L-BFGS iterations: every start gets the first; after each stage the end
// points are grouped into basins (BasinKey) and only each basin's best member goes on to the
// next stage, then to the full solve. Basins apart after a few steps often meet later, so
// stages cut the full solves: on the (Mis)Fitting final points (261) one stage of 20 left 1218
// full solves, these four leave 193, and the 4500-start fit takes 1.0-1.1 s instead of 2.6-2.7 s
// on one core, with the same optimum (as on the four Marin IsoFLOP sets, against --no-screen).
constexpr int kScreenStages[] = {2, 8, 30, 120};

// Key of a screened end point: parameters rounded to the grid's own spacing, so starts heading
// to one optimum share it. A group's best member gets the full solve. Finer keys (1/10 of
// this) gave more groups and the same optimum on every data set above.
std::array<long long, 5> BasinKey(const LocalSolve& s) {
  auto q = [](double v, double step) { return static_cast<long long>(std::llround(v / step)); };
  return {q(s.x.e, 0.5), q(s.x.a, 5), q(s.x.b, 5), q(s.x.alpha, 0.2), q(s.x.beta, 0.2)};
}

// Keeps the best end point of each basin (BasinKey), in `counts` the starts each stands for.
// Non-finite end points are dropped.
void MergeBasins(std::vector<LocalSolve>& ends, std::vector<size_t>& counts) {
  std::map<std::array<long long, 5>, size_t> group;  // key -> index into the merged lists
  std::vector<LocalSolve> merged_ends;
  std::vector<size_t> merged_counts;
  for (size_t i = 0; i < ends.size(); ++i) {
    if (!std::isfinite(ends[i].objective)) continue;
    auto [it, inserted] = group.emplace(BasinKey(ends[i]), merged_ends.size());
    if (inserted) {
      merged_ends.push_back(ends[i]);
      merged_counts.push_back(counts[i]);
      continue;
    }
    if (ends[i].objective < merged_ends[it->second].objective) merged_ends[it->second] = ends[i];
    merged_counts[it->second] += counts[i];
  }
  ends = std::move(merged_ends);
  counts = std::move(merged_counts);
}

}  // namespace

void Validate(const Approach3Options& o) {
  if (!(o.huber_delta > 0)) {
    throw UserError(fmt::format("approach 3: huber_delta must be > 0, got {}", o.huber_delta));
  }
  const std::pair<const char*, const std::vector<double>*> axes[] = {
      {"alpha", &o.grid.alpha}, {"beta", &o.grid.beta}, {"e", &o.grid.e},
      {"a", &o.grid.a},         {"b", &o.grid.b}};
  for (const auto& [name, values] : axes) {
    if (values->empty()) {
      throw UserError(fmt::format("approach 3: the start grid of {} is empty", name));
    }
  }
  if (o.max_iterations < 1) {
    throw UserError(fmt::format("approach 3: max_iterations must be >= 1, got {}", o.max_iterations));
  }
  if (o.threads < 0) throw UserError(fmt::format("approach 3: threads must be >= 0, got {}", o.threads));
  if (!(o.gradient_tolerance >= 0)) {
    throw UserError("approach 3: gradient_tolerance must be >= 0");
  }
}

LawParams ToLaw(const Approach3Start& x) {
  return {std::exp(x.e), std::exp(x.a), std::exp(x.b), x.alpha, x.beta};
}

Approach3Result MakeApproach3Result(std::span<const Point> points, const Approach3Start& optimum,
                                    double huber_delta) {
  Approach3Result r;
  r.n_points = static_cast<int>(points.size());
  r.optimum = optimum;
  r.params = ToLaw(optimum);
  r.frontier = FrontierOf(r.params);
  r.huber_delta = huber_delta;
  LogData data = ToLogData(points);
  HuberLseObjective objective(&data, huber_delta);
  const double x[5] = {optimum.e, optimum.a, optimum.b, optimum.alpha, optimum.beta};
  objective.Evaluate(x, &r.objective, nullptr);
  return r;
}

Approach3Grid CoarseApproach3Grid() {
  Approach3Grid grid;
  grid.alpha = {0.2, 0.5, 1};
  grid.beta = {0.2, 0.5, 1};
  grid.e = {-1, 0, 1};
  grid.a = {5, 10, 20};
  grid.b = {5, 10, 20};
  return grid;
}

Approach3Options CoarseApproach3Options(int threads) {
  Approach3Options options;
  options.grid = CoarseApproach3Grid();
  options.threads = threads;
  return options;
}

Approach3Options RefitOptions(Approach3Options options, const Approach3Result& previous) {
  options.grid = CoarseApproach3Grid();
  options.warm_starts = {previous.optimum};
  return options;
}

Approach3Start SolveApproach3From(std::span<const Point> points, const Approach3Start& start,
                                  const Approach3Options& options, double* objective) {
  SilenceCeres(options.verbose);
  LogData data = ToLogData(points);
  LocalSolve s = Solve(data, options.huber_delta, start, options.max_iterations,
                       options.gradient_tolerance, options.verbose);
  if (objective != nullptr) *objective = s.objective;
  return s.x;
}

Approach3Result FitApproach3(std::span<const Point> points, const Approach3Options& options) {
  Validate(options);
  if (points.size() < 5) {
    throw UserError(fmt::format(
        "approach 3: the law has 5 parameters, so it needs at least 5 points; got {}",
        points.size()));
  }
  std::set<double> sizes, token_counts;
  for (const Point& p : points) sizes.insert(p.n_params), token_counts.insert(p.tokens);
  if (sizes.size() < 2 || token_counts.size() < 2) {
    throw UserError(fmt::format(
        "approach 3: the {} points have {} distinct N and {} distinct D; the law needs at least 2 "
        "of each (better 3+ sizes per budget) to tell the two terms apart",
        points.size(), sizes.size(), token_counts.size()));
  }
  SilenceCeres(options.verbose);
  const LogData data = ToLogData(points);
  std::vector<Approach3Start> starts;
  for (double alpha : options.grid.alpha)
    for (double beta : options.grid.beta)
      for (double e : options.grid.e)
        for (double a : options.grid.a)
          for (double b : options.grid.b) starts.push_back({e, a, b, alpha, beta});
  starts.insert(starts.end(), options.warm_starts.begin(), options.warm_starts.end());

  const int threads = ThreadCount(options.threads);
  std::vector<LocalSolve> screened(starts.size());
  const int first_iterations = options.screen ? kScreenStages[0] : options.max_iterations;
  ParallelFor(starts.size(), threads, [&](size_t i) {
    screened[i] = Solve(data, options.huber_delta, starts[i], first_iterations,
                        options.gradient_tolerance, options.verbose);
  });

  std::vector<LocalSolve> finals;
  std::vector<size_t> members;  // for each final: how many starts it stands for
  if (options.screen) {
    // Basins after each stage (kScreenStages); the last ones' best members get the full solve.
    std::vector<size_t> counts(screened.size(), 1);
    MergeBasins(screened, counts);
    for (int iterations : std::span(kScreenStages).subspan(1)) {
      ParallelFor(screened.size(), threads, [&](size_t j) {
        screened[j] = Solve(data, options.huber_delta, screened[j].x, iterations,
                            options.gradient_tolerance, options.verbose);
      });
      MergeBasins(screened, counts);
    }
    finals.resize(screened.size());
    ParallelFor(screened.size(), threads, [&](size_t j) {
      finals[j] = Solve(data, options.huber_delta, screened[j].x, options.max_iterations,
                        options.gradient_tolerance, options.verbose);
    });
    members = std::move(counts);
  } else {
    finals = screened;
    members.assign(finals.size(), 1);
  }

  size_t best = 0;
  bool found = false;
  for (size_t j = 0; j < finals.size(); ++j) {
    if (!std::isfinite(finals[j].objective)) continue;
    if (!found || finals[j].objective < finals[best].objective) best = j;
    found = true;
  }
  if (!found) throw UserError("approach 3: no start converged to a finite objective");
  Approach3Result result = MakeApproach3Result(points, finals[best].x, options.huber_delta);
  const LawParams& law = result.params;
  if (!(law.alpha > 1e-6 && law.beta > 1e-6 && std::isfinite(law.E) && std::isfinite(law.A) &&
        std::isfinite(law.B) && std::isfinite(law.alpha) && std::isfinite(law.beta) &&
        std::isfinite(result.frontier.G) && result.frontier.G > 0)) {
    throw UserError(fmt::format(
        "approach 3: the best fit is degenerate (E = {:.4g}, A = {:.4g}, B = {:.4g}, alpha = {:.4g}, "
        "beta = {:.4g}): the data do not pin down both power laws; nothing was stored\n"
        "hint: sample more sizes and budgets, or use approach 2",
        law.E, law.A, law.B, law.alpha, law.beta));
  }
  result.cost = options.cost;
  result.starts = static_cast<int>(starts.size());
  result.full_solves = options.screen ? static_cast<int>(finals.size()) : result.starts;
  for (size_t j = 0; j < finals.size(); ++j) {
    if (std::abs(finals[j].objective - finals[best].objective) <=
        1e-9 * std::abs(finals[best].objective)) {
      result.starts_at_best += static_cast<int>(members[j]);
    }
  }
  return result;
}

}  // namespace sims::fitting
