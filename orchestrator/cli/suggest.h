#pragma once
// `sims suggest` as a function, for `sims run --adaptive` too (orchestrator/cli/cmd_suggest.cpp):
// fit one condition's done runs and choose, among the runs the planner can build, the ones
// that narrow N_opt and the loss at the target budget most (fitting/design.h).
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fitting/approach3.h"
#include "orchestrator/cli/cli.h"
#include "results/store.h"
#include "sweeps/plan.h"

namespace sims {

struct SuggestOptions {
  std::string spec_path;
  std::string corpus;                   // replaces [sweep].corpus (as sims plan --corpus)
  std::vector<std::string> conditions;  // empty: every condition of the sweep
  // Two conditions: the target is instead the compute multiplier between them (compare.h).
  std::vector<std::string> compare;
  double spend = 0;                     // FLOPs; 0 = what the condition's done runs cost
  int count = 0;                        // at most this many runs (0: no cap)
  double target_budget = 0;             // 0 = 10x the largest budget of the done runs
  int resamples = 200;
  uint64_t seed = 0;
  int threads = 0;
  bool apply = false;
  std::string metric = "val/loss/speech";
  Format format = Format::kTable;
};

// What a suggestion chose, ready to print and to apply.
struct Suggestion {
  nlohmann::json json;        // one entry of `sims suggest --format json`'s "conditions" (or its
                              // "comparison")
  std::vector<std::vector<std::string>> table;  // the proposals, as printed
  SweepPlan to_apply;         // the proposals and the not-done runs they depend on
  // The chosen runs only (not the text LMs they depend on), in the order chosen, with the
  // seed the bootstrap actually used (ConditionSeed of --seed); round is 0 until applied.
  std::vector<ProposalRow> proposals;
};

struct ConditionSuggestion : Suggestion {
  double n_opt_sd = 0;        // SD of ln N_opt at the target budget now
  fitting::Approach3Result fit;  // the law the ensemble was drawn about (the next round's warm start)
};

// Throws UserError naming what is missing when the done runs cannot be fitted yet. With
// `previous`, the condition's fit of the last round, the law is refitted from it
// (fitting::RefitOptions: 244 starts instead of 4500).
ConditionSuggestion SuggestCondition(const SuggestOptions& options, const GlobalOptions& global,
                                     Store& store, const SweepSpec& spec,
                                     const SweepPlan& candidates, const std::string& condition,
                                     const fitting::Approach3Result* previous = nullptr);

struct ComparisonSuggestion : Suggestion {
  double gap_sd = 0;  // SD of the target, ln of the second's optimal loss over the first's, now
  fitting::Approach3Result first_fit, second_fit;  // the next round's warm starts
};

// options.compare's two conditions in one design whose target is the loss gap behind their
// compute multiplier at the target budget (fitting/design.h LossGapTarget); `previous_first`
// and `previous_second` refit warm as SuggestCondition's `previous` does.
ComparisonSuggestion SuggestComparison(const SuggestOptions& options, const GlobalOptions& global,
                                       Store& store, const SweepSpec& spec,
                                       const SweepPlan& candidates,
                                       const fitting::Approach3Result* previous_first = nullptr,
                                       const fitting::Approach3Result* previous_second = nullptr);

struct AppliedSuggestion {
  size_t new_runs = 0;       // planned now (proposals and the text LMs they need)
  size_t existing_runs = 0;  // already in the database
  int recorded = 0;          // proposals recorded now (one proposed before keeps its round)
};

// Plans `s.to_apply` into the store and records its proposals as round `round` (take it from
// store.NextProposalRound(sweep) once per round: `suggest --apply` shares one round among its
// conditions, `run --adaptive` takes one per round). Two transactions: a crash between them
// leaves planned runs that the next apply records when it proposes them again.
AppliedSuggestion ApplySuggestion(Store& store, const Suggestion& s, int64_t round);

}  // namespace sims
