#pragma once
// The rows of the results store (results/store.h), as plain structs: what the planner hands in
// (NewRun, SweepFacts), what readers get back (SweepRow, RunRow, MetricRow, EvalRow, FitRow,
// ProposalRow), and RunStatus, the lifecycle state. The invariants every stored row satisfies
// (R1-R4, S1, Q1, M1, P1) are stated at the top of results/store.h.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sweeps/shape.h"

namespace sims {

// Where a run stands in the lifecycle (results/store.h); the `status` column holds its name.
enum class RunStatus { kPlanned, kRunning, kDone, kFailed };
std::string ToString(RunStatus status);
RunStatus RunStatusFromString(std::string_view text);  // UserError naming the four

// What a sweep's FLOPs count, as stored in the sweeps.flops_convention column: one of the
// planner's conventions (sweeps/shape.h FlopConvention), the imported file's own budgets, or
// unknown for a sweep stored before schema 2 (column "").
enum class SweepFlops { kUnknown, kImported, k6ND, k6NDAttn, kExact };
std::string ToString(SweepFlops flops);                 // "", imported, 6ND, 6ND+attn, exact
SweepFlops SweepFlopsFromString(std::string_view text);  // UserError naming the five
SweepFlops SweepFlopsOf(FlopConvention planned);
// The planner's convention, or nothing when the sweep's FLOPs are imported or unknown.
std::optional<FlopConvention> PlannerConvention(SweepFlops flops);

// What the planner decided for a whole sweep, kept as columns so that no reader re-parses the
// sweep file: the FLOP convention, what N counts, and (planner_json) the shape rule and the
// cost curve per condition that fitting prices an unseen N with (sweeps/plan.h CostCurve).
struct SweepFacts {
  SweepFlops flops_convention = SweepFlops::kUnknown;
  bool n_includes_embedding = false;  // N in 6ND and tokens per parameter counts embeddings
  std::string planner_json;           // "" for imported sweeps
  bool operator==(const SweepFacts&) const = default;
};

struct SweepRow {
  int64_t id = 0;
  std::string name;
  std::string spec_toml;
  std::string created_at;
  SweepFacts facts;
};

// A run as the planner (or `sims import`) hands it to the store; InsertRuns checks R1-R4.
struct NewRun {
  std::string id;
  std::string condition;
  int64_t n_params = 0;
  int64_t n_params_non_embedding = 0;
  int64_t tokens = 0;
  int64_t steps = 0;
  double flops = 0;            // by the sweep's convention
  double flops_per_token = 0;  // the same convention; > 0
  double budget_flops = 0;     // the IsoFLOP budget the run was planned for; 0 = none (grid)
  std::string config_json;
  std::vector<std::string> depends_on;
};

struct RunRow {
  std::string id;
  int64_t sweep_id = 0;
  std::string sweep;
  std::string condition;
  RunStatus status = RunStatus::kPlanned;
  int64_t attempt = 0;
  std::string worker;
  double lease_until = 0;   // unix seconds
  double heartbeat_at = 0;  // unix seconds
  int64_t n_params = 0;
  int64_t n_params_non_embedding = 0;
  int64_t tokens = 0;
  int64_t total_steps = 0;  // the `steps` column: optimizer steps the run takes
  int64_t last_step = 0;    // the `step` column: the last step a worker reported
  double flops = 0;
  double flops_per_token = 0;
  double budget_flops = 0;  // 0: not an IsoFLOP run
  std::string config_json;
  std::string error;
  std::string created_at, started_at, finished_at;
};

// The compute a run is grouped and plotted under: its IsoFLOP budget, or its own FLOPs when
// the design has no budget (grid and text-LM runs).
inline double BudgetOf(const RunRow& run) { return run.budget_flops > 0 ? run.budget_flops : run.flops; }

struct MetricRow {
  std::string run_id;
  int64_t step = 0;
  int64_t tokens = 0;
  std::string name;
  double value = 0;
};

struct EvalRow {
  std::string run_id;
  int64_t step = 0;
  std::string task;  // e.g. "sblimp/speech"
  double accuracy = 0;
  int64_t n_pairs = 0;
};

struct FitRow {
  int64_t id = 0;
  std::string created_at;
  std::string kind;
  std::string condition;
  std::string inputs_json;
  std::string result_json;
};

// One run the adaptive design proposed (`sims suggest --apply`, `sims run --adaptive`): the
// round it was first proposed in and what the choice rested on, so it can be reproduced.
struct ProposalRow {
  std::string run_id;
  std::string condition;
  int64_t round = 0;             // 1, 2, ...: per sweep, shared by its conditions
  uint64_t seed = 0;             // the bootstrap seed the ensemble was drawn with (ConditionSeed)
  double target_budget = 0;      // FLOPs, the sweep's convention: where N_opt should be precise
  double gain = 0;               // the fraction of the targets' variance it was expected to remove
  double n_opt_sd_before = 0;    // SD of ln N_opt at target_budget when it was proposed
  std::string proposed_at;       // set by the store
  // The other condition when the target was the two conditions' loss gap (suggest --compare);
  // empty: this condition's N_opt and optimal loss.
  std::string compared_with;
};

struct RunFilter {
  std::string sweep;      // empty = all sweeps
  std::string condition;  // empty = all conditions
  std::optional<RunStatus> status;  // nullopt = all
};

}  // namespace sims
