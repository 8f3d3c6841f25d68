#include "fitting/cost.h"

#include <algorithm>
#include <cmath>
#include <map>

#include <Eigen/Dense>
#include <fmt/format.h>

#include "common/error.h"
#include "fitting/laws.h"

namespace sims::fitting {

double CostModel::FlopsPerToken(double n) const {
  const std::vector<double>& x = n_params;
  const std::vector<double>& f = flops_per_token;
  if (x.empty()) return 6 * n;
  if (x.size() == 1) return f[0] * n / x[0];
  const size_t last = x.size() - 1;
  auto affine = [&](size_t i, size_t j, size_t anchor) {
    // Through knots i and j; where that is not positive, proportional to the anchor knot.
    const double slope = (f[j] - f[i]) / (x[j] - x[i]);
    const double value = f[anchor] + slope * (n - x[anchor]);
    return slope > 0 && value > 0 ? value : f[anchor] * n / x[anchor];
  };
  if (n <= x[0]) return affine(0, 1, 0);
  if (n >= x[last]) return affine(last - 1, last, last);
  const size_t hi = std::upper_bound(x.begin(), x.end(), n) - x.begin();
  const size_t lo = hi - 1;
  return f[lo] + (f[hi] - f[lo]) * (n - x[lo]) / (x[hi] - x[lo]);
}

double CostModel::ParamsFor(double tokens, double flops) const {
  const double target = flops / tokens;
  if (!(target > 0) || !std::isfinite(target)) return std::nan("");
  if (n_params.size() <= 1) {
    const double k = n_params.empty() ? 6 : flops_per_token[0] / n_params[0];
    return target / k;
  }
  // Bracket in log N around the 6ND answer, then bisect: FlopsPerToken is increasing.
  double lo = std::log(target / 6), hi = lo;
  for (int i = 0; i < 200 && FlopsPerToken(std::exp(lo)) > target; ++i) lo -= 1;
  for (int i = 0; i < 200 && FlopsPerToken(std::exp(hi)) < target; ++i) hi += 1;
  if (FlopsPerToken(std::exp(lo)) > target || FlopsPerToken(std::exp(hi)) < target) return std::nan("");
  for (int i = 0; i < 100 && hi - lo > 1e-13; ++i) {
    const double mid = 0.5 * (lo + hi);
    (FlopsPerToken(std::exp(mid)) < target ? lo : hi) = mid;
  }
  return std::exp(0.5 * (lo + hi));
}

double CostModel::Elasticity(double n) const {
  if (ProportionalToN()) return 1;
  const double half_step = std::log(10.0) / 16;
  return (std::log(FlopsPerToken(n * std::exp(half_step))) -
          std::log(FlopsPerToken(n * std::exp(-half_step)))) /
         (2 * half_step);
}

bool CostModel::ProportionalToN() const {
  for (size_t i = 1; i < n_params.size(); ++i) {
    const double first = flops_per_token[0] / n_params[0];
    if (std::abs(flops_per_token[i] / n_params[i] / first - 1) > 1e-6) return false;
  }
  return true;
}

std::string CostModel::Unit() const {
  if (convention == "data") return "FLOPs (the data's)";
  return convention + " FLOPs";
}

CostModel SixNDCost(const std::string& source) {
  CostModel c;
  c.convention = "6ND";
  c.source = source;
  return c;
}

CostModel CostFromTable(std::vector<double> n_params, std::vector<double> flops_per_token,
                        const std::string& convention, const std::string& source) {
  if (n_params.size() != flops_per_token.size() || n_params.empty()) {
    throw UserError(fmt::format("cost model ({}): {} parameter counts but {} FLOP values", source,
                                n_params.size(), flops_per_token.size()));
  }
  std::vector<std::pair<double, double>> knots;
  for (size_t i = 0; i < n_params.size(); ++i) {
    if (!(n_params[i] > 0 && flops_per_token[i] > 0 && std::isfinite(n_params[i]) &&
          std::isfinite(flops_per_token[i]))) {
      throw UserError(fmt::format("cost model ({}): knot {} has N = {}, FLOPs per token = {}; both "
                                  "must be finite and > 0",
                                  source, i, n_params[i], flops_per_token[i]));
    }
    knots.emplace_back(n_params[i], flops_per_token[i]);
  }
  std::sort(knots.begin(), knots.end());
  CostModel c;
  c.convention = convention;
  c.source = source;
  for (const auto& [n, f] : knots) {
    if (!c.n_params.empty() && n == c.n_params.back()) continue;  // first of equal N
    c.n_params.push_back(n);
    c.flops_per_token.push_back(f);
  }
  return c;
}

CostModel SmoothedCost(const CostModel& table) {
  if (table.n_params.size() < 3 || table.ProportionalToN()) return table;
  static constexpr double kPowers[] = {1, 2.0 / 3, 1.0 / 2, 1.0 / 3, 0};
  constexpr int kTerms = 5;
  const int rows = static_cast<int>(table.n_params.size());
  // Least squares in relative error: every row divided by its f, target 1.
  Eigen::MatrixXd X(rows, kTerms);
  for (int i = 0; i < rows; ++i) {
    for (int k = 0; k < kTerms; ++k) {
      X(i, k) = std::pow(table.n_params[i], kPowers[k]) / table.flops_per_token[i];
    }
  }
  const Eigen::VectorXd ones = Eigen::VectorXd::Ones(rows);
  // Nonnegative least squares by trying every subset of the 5 terms (31 small solves): the
  // best subset whose coefficients are all >= 0 is the NNLS optimum.
  double best_error = HUGE_VAL;
  Eigen::VectorXd best = Eigen::VectorXd::Zero(kTerms);
  for (int mask = 1; mask < (1 << kTerms); ++mask) {
    std::vector<int> columns;
    for (int k = 0; k < kTerms; ++k) {
      if (mask & (1 << k)) columns.push_back(k);
    }
    if (static_cast<int>(columns.size()) > rows) continue;
    Eigen::MatrixXd sub(rows, columns.size());
    for (size_t j = 0; j < columns.size(); ++j) sub.col(j) = X.col(columns[j]);
    const Eigen::VectorXd c = sub.colPivHouseholderQr().solve(ones);
    if ((c.array() < 0).any() || !c.allFinite()) continue;
    const double error = (sub * c - ones).squaredNorm();
    if (error < best_error) {
      best_error = error;
      best.setZero();
      for (size_t j = 0; j < columns.size(); ++j) best(columns[j]) = c(j);
    }
  }
  if (!(best(0) > 0)) return table;  // no term grows like N: keep the table as it is
  CostModel smooth = table;
  for (int i = 0; i < rows; ++i) {
    double f = 0;
    for (int k = 0; k < kTerms; ++k) f += best(k) * std::pow(table.n_params[i], kPowers[k]);
    smooth.flops_per_token[i] = f;
  }
  smooth.source = table.source + ", smoothed (nonnegative N, N^2/3, N^1/2, N^1/3, 1 terms)";
  return smooth;
}

CostModel CostFromPoints(std::span<const Point> points, const std::string& convention) {
  std::map<double, std::pair<double, int>> log_ratio;  // N -> (sum of ln(C/D), count)
  bool six_nd = true;
  for (const Point& p : points) {
    const double per_token = p.flops / p.tokens;
    if (!(per_token > 0) || !std::isfinite(per_token)) continue;
    six_nd = six_nd && std::abs(per_token / (6 * p.n_params) - 1) < 1e-6;
    auto& [sum, count] = log_ratio[p.n_params];
    sum += std::log(per_token);
    ++count;
  }
  if (log_ratio.empty() || six_nd) return SixNDCost(log_ratio.empty() ? "6ND (the data give no FLOPs)"
                                                                      : "6ND (the data's C/D is 6N)");
  std::vector<double> n, f;
  for (const auto& [size, acc] : log_ratio) {
    n.push_back(size);
    f.push_back(std::exp(acc.first / acc.second));
  }
  return CostFromTable(std::move(n), std::move(f), convention,
                       "C/D of the data, interpolated in log N");
}

nlohmann::json ToJson(const CostModel& cost) {
  return {{"convention", cost.convention},
          {"source", cost.source},
          {"n_params", cost.n_params},
          {"flops_per_token", cost.flops_per_token}};
}

CostModel CostModelFromJson(const nlohmann::json& j) {
  if (j.is_null()) return SixNDCost("6ND (stored before cost models)");
  CostModel c;
  c.convention = j.at("convention").get<std::string>();
  c.source = j.at("source").get<std::string>();
  c.n_params = j.at("n_params").get<std::vector<double>>();
  c.flops_per_token = j.at("flops_per_token").get<std::vector<double>>();
  return c;
}

}  // namespace sims::fitting
