#pragma once
// The cost model of a dataset: how many FLOPs a model of N parameters spends per training
// token, in the data's own convention (exact, 6ND, 6ND+attn, or a CSV's budget column). Every
// allocation in sims ("the lowest loss subject to cost(N, D) = C") goes through one of these,
// so a budget and the N, D it is split into are always counted the same way. 6ND is one cost
// model among others (SixNDCost), never an assumption inside a formula.
//
// cost(N, D) = FlopsPerToken(N) * D. FlopsPerToken is a table of (N, FLOPs per token) knots,
// interpolated linearly in N between neighbouring knots (which a sweep's curve places 8 per
// decade of N) and continued affinely through the two outermost knots beyond them, so a cost
// 6N + h (a size-independent head) is exact everywhere; where the continuation would not stay
// positive, proportionally to N. One knot means f = k N.
//
// Build one with SixNDCost, CostFromTable (a sweep's shape rule) or CostFromPoints (data).
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace sims::fitting {

struct Point;

struct CostModel {
  std::string convention = "6ND";  // what the FLOPs count: "exact", "6ND", "6ND+attn", "data"
  std::string source = "6ND";      // how the cost of an unseen N is found (printed with fits)
  std::vector<double> n_params;         // knots, ascending, > 0
  std::vector<double> flops_per_token;  // at each knot, > 0

  double FlopsPerToken(double n_params) const;
  double Flops(double n_params, double tokens) const { return FlopsPerToken(n_params) * tokens; }
  double TokensFor(double n_params, double flops) const { return flops / FlopsPerToken(n_params); }
  // The N whose cost per token is flops / tokens (FlopsPerToken is increasing in N).
  double ParamsFor(double tokens, double flops) const;
  // d ln f / d ln N, as a central secant over 1/8 decade (the knots' spacing), so a tabulated
  // curve's kinks do not make it jump. 1 for a cost proportional to N.
  double Elasticity(double n_params) const;
  // f(N) / N is the same at every knot (6ND, k N): N_opt is then a power law of C.
  bool ProportionalToN() const;
  // "exact FLOPs": for axis labels and table headers.
  std::string Unit() const;
};

// f(N) = 6 N: `source` says why this model was chosen.
CostModel SixNDCost(const std::string& source = "6ND");
// Knots from a table (e.g. the sweep's shape rule sampled over N). Throws UserError unless
// the knots are positive, finite and N strictly ascending after sorting.
CostModel CostFromTable(std::vector<double> n_params, std::vector<double> flops_per_token,
                        const std::string& convention, const std::string& source);
// The table's knots moved onto the closest f(N) = sum c_k N^p_k, p in {1, 2/3, 1/2, 1/3, 0},
// c_k >= 0 (least squares in relative error), so the cost is increasing and smooth in N and an
// optimum along a budget moves continuously with C: a shape rule's cost per token jumps by up to
// +-20 % between neighbouring toy shapes, which made N_opt(C) jump. 6N + h is kept exactly.
// Tables of fewer than 3 knots or proportional to N are returned as they are.
CostModel SmoothedCost(const CostModel& table);
// The data's own cost: C / D of every point (FLOPs column over tokens), averaged in log over
// points with the same N. Points whose C / D is 6 N to 1e-6 give SixNDCost.
CostModel CostFromPoints(std::span<const Point> points, const std::string& convention);

nlohmann::json ToJson(const CostModel& cost);
CostModel CostModelFromJson(const nlohmann::json& json);  // absent/null: 6ND

}  // namespace sims::fitting
