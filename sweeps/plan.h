#pragma once
// The sweep planner: a parsed sweep (sweeps/spec.h) -> the list of fully resolved runs.
//
//   SweepSpec spec = LoadSweepFile("sweep.toml");  // sweeps/validate.h: read, parse, check files
//   SweepPlan plan = PlanSweep(spec);               // designs -> RunConfigs with ids, skips
//   PlanIntoStore(store, plan, /*dry_run=*/false);  // results/plan_store.h: insert what is new
//
// Pure: no file or database is touched, so a bad file writes nothing. Every error is a
// UserError naming the FILE:LINE: key it comes from. The accounting it relies on (parameter
// counts, the N -> shape rule, FLOPs) is sweeps/shape.h. Not for: training or scheduling.
#include <cstdint>
#include <string>
#include <vector>

#include "sweeps/parse.h"
#include "sweeps/spec.h"
#include "sweeps/validate.h"

namespace sims {

struct PlannedRun {
  std::string id;
  RunConfig config;
  std::string size_label;
  std::string column_label;     // "1e11" (budget), "20" (tokens/param), "65536" (tokens)
  double tokens_requested = 0;  // before rounding to whole steps
  double tokens_per_param = 0;  // tokens / N by the sweep's convention
};

struct SkippedPoint {
  std::string condition, size_label, column_label, reason;
};

// FLOPs per training token against N for the shapes the sweep's shape rule builds, at one
// context and the sweep's convention: how fitting prices an N that no run trained (fitting/
// cost.h). Both N conventions are kept, so a fit may count N either way. Ascending N.
struct CostCurve {
  int64_t context = 0;
  std::vector<double> n_params, n_params_non_embedding, flops_per_token;
};
// Targets log-spaced (8 per decade) over [target_lo, target_hi] non-embedding parameters;
// targets the rule has no shape for are left out. FLOPs per token are smoothed over 5
// neighbouring shapes and non-decreasing in N (see plan.cpp for why).
CostCurve CostCurveOf(const SweepSpec& spec, int64_t context, double target_lo, double target_hi);

struct SweepPlan {
  std::string sweep;
  std::string spec_toml;
  // What the planner decided for the whole sweep, stored with it so nobody re-parses the file:
  // the convention, what N counts, and planner_json = {"shape_rule": {...}, "vocab_size",
  // "tied_embeddings", "cost_curves": {condition: {"context", "n_params",
  // "n_params_non_embedding", "flops_per_token"}}} (one curve per condition and "text-lm").
  FlopConvention flops = FlopConvention::k6ND;
  bool n_includes_embedding = false;
  std::string planner_json;
  std::vector<PlannedRun> runs;  // text-LM runs first, then each condition's, in file order
  std::vector<SkippedPoint> skipped;
};

// Throws UserError when a design yields no run, an override matches no run, or a run breaks
// Validate (sweeps/run_config.h) after overrides.
SweepPlan PlanSweep(const SweepSpec& spec);

}  // namespace sims
