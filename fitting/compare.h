#pragma once
// Comparing two conditions (e.g. textless vs interleaved) and turning a fit into advice.
// CompareConditions takes two approach-3 fits with their bootstraps; Recommend takes one.
// The compute multiplier at budget C: the compute the second condition needs to reach the
// first's predicted optimal loss at C, divided by C (> 1: the second needs more). Each
// condition's compute is priced by its own fit's cost model (Approach3Result::cost).
#include <optional>
#include <string>
#include <vector>

#include "fitting/approach3.h"
#include "fitting/bootstrap.h"

namespace sims::fitting {

struct ConditionFit {
  std::string condition;
  Approach3Result fit;
  BootstrapResult bootstrap;  // resamples == 0: intervals absent
};

struct MultiplierRow {
  double budget = 0;
  double loss_first = 0;           // first condition's optimal loss at the budget
  double flops_second = 0;         // compute the second needs for that loss (inf if never)
  double multiplier = 0;           // flops_second / budget
  std::optional<Interval> interval;
};

struct ConditionSummary {
  std::string condition;
  double a = 0, b = 0;                // allocation exponents
  double loss_exponent = 0;           // alpha beta / (alpha + beta)
  std::optional<Interval> a_interval, b_interval, loss_exponent_interval;
  std::vector<double> tokens_per_param;  // D_opt/N_opt at each budget of the comparison
};

struct Comparison {
  ConditionSummary first, second;
  std::vector<double> budgets;
  std::vector<MultiplierRow> multipliers;
  std::optional<double> crossing_flops;  // where the two optimal-loss frontiers cross
  // Two-sided p-values for "the exponents are equal": a Wald test whose standard errors come
  // from each condition's bootstrap interval (bootstrap the two conditions with independent
  // seeds, ConditionSeed). Absent without bootstraps.
  std::optional<double> p_allocation_exponent;
  std::optional<double> p_loss_exponent;
};

// `budgets`: where the multiplier and tokens per parameter are evaluated (the sweep's budgets).
Comparison CompareConditions(const ConditionFit& first, const ConditionFit& second,
                             const std::vector<double>& budgets);

// Smallest C > 0 with OptimalLoss(law, cost, C) <= loss (bisection on log C); nullopt if the
// loss is at or below E (never reached).
std::optional<double> FlopsToReachLoss(const LawParams& law, const CostModel& cost, double loss);

struct Recommendation {
  double budget = 0;
  double n_params = 0, tokens = 0, tokens_per_param = 0, loss = 0;
  std::optional<Interval> n_params_interval, tokens_interval, tokens_per_param_interval,
      loss_interval;
};

Recommendation Recommend(const Approach3Result& fit, const BootstrapResult& bootstrap,
                         double budget);

}  // namespace sims::fitting
