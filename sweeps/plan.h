#pragma once
// The sweep planner: a researcher's sweep file (TOML) -> the list of fully resolved runs.
//
//   SweepSpec spec = LoadSweepFile("sweep.toml");   // parse + validate; throws UserError
//   SweepPlan plan = PlanSweep(spec);                // designs -> RunConfigs with ids, skips
//   PlanIntoStore(store, plan, /*dry_run=*/false);   // insert what is new (idempotent)
//
// Every error is a UserError whose text starts "FILE:LINE: KEY.PATH:" and says what was found
// and what was expected; nothing touches the database before PlanIntoStore, so a bad file
// writes nothing. The file format, every key and the rules are in docs/sweep-file.md.
//
// Not for: training or scheduling (trainer/, orchestrator/). The accounting it relies on
// (parameter counts, the N -> shape rule, FLOPs) is sweeps/shape.h.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "results/store.h"
#include "sweeps/run_config.h"
#include "sweeps/shape.h"

namespace sims {

// Where a value came from, for error messages: "sweep.toml:12: condition[1].design.budgets[0]".
struct Origin {
  std::string file;
  int64_t line = 0;
  std::string key;
  std::string Where() const;  // "file:line: key"
};

// Hyper-parameter keys given at one level (sweep, condition, text_lm, override); unset = inherit.
struct HpPatch {
  std::optional<double> lr, warmup_fraction, min_lr_ratio, clip, weight_decay;
  std::optional<int64_t> batch_tokens, micro_batch_tokens, context, eval_every, eval_pairs;
  std::optional<std::string> dtype, eval_score;
  std::optional<bool> eval_unit_only;
};
Hyperparameters Apply(Hyperparameters hp, const HpPatch& patch);
// Throws UserError "<where>: <field> = <value> <rule>".
void ValidateHyperparameters(const Hyperparameters& hp, const std::string& where);

// One row of a design: a target non-embedding count turned into a shape by the shape rule,
// or an explicit shape.
struct SizeSpec {
  std::string label;                 // "200k", "1.5B", or the shape's label
  int64_t target_non_embedding = 0;  // 0 for an explicit shape
  ModelShape shape;
  std::string checkpoint;  // absolute; for init = "checkpoint"
  Origin origin;
};

// `[[condition.override]]`: hyper-parameters for the runs it matches (all given match keys).
struct RunOverride {
  std::optional<int64_t> size;  // a target in `sizes`
  std::optional<std::string> label;
  std::optional<double> budget;
  HpPatch hp;
  Origin origin;
};

struct DesignSpec {
  std::string kind;  // "grid" | "isoflop"
  std::vector<SizeSpec> sizes;
  // Columns: exactly one of these for grid; budgets for isoflop.
  std::vector<double> budgets;           // FLOPs, by the sweep's convention
  std::vector<double> tokens_per_param;  // grid: D = r * N
  std::vector<int64_t> tokens;           // grid: D given
  int64_t min_tokens = 0;                // skip points below this (0 = one batch)
  double min_tokens_per_param = 0;       // skip points outside [min, max] (0 = no bound)
  double max_tokens_per_param = 0;
  Origin origin;
};

struct ConditionSpec {
  std::string name;
  std::string description;
  DataMixture mixture;
  std::string init = "scratch";  // scratch | text-lm | checkpoint
  Hyperparameters hp;            // sweep defaults + this condition's keys
  DesignSpec design;
  std::vector<RunOverride> overrides;
  Origin origin;
};

// `[text_lm]`: the text LMs that `init = "text-lm"` conditions start from, one per shape.
// Exactly one of tokens_per_param (x N by the sweep's convention), tokens, flops.
struct TextLmSpec {
  double tokens_per_param = 0;
  int64_t tokens = 0;
  double flops = 0;
  Hyperparameters hp;
  Origin origin;
};

struct SweepSpec {
  std::string name;
  uint64_t seed = 0;
  std::string corpus;  // absolute (resolved against the sweep file's directory)
  int64_t vocab_size = 0;
  bool tied_embeddings = true;
  std::string flops = "6ND";          // 6ND | 6ND+attn | exact: RunConfig.flops and isoflop D
  bool n_includes_embedding = false;  // N in 6ND and tokens-per-parameter counts embeddings
  ShapeRule shape_rule;
  Hyperparameters hp;
  std::optional<TextLmSpec> text_lm;
  std::vector<ConditionSpec> conditions;
  std::string path;         // the file as given
  std::string source_toml;  // its text, stored with the sweep
};

// Parses and validates; resolves sizes to shapes, paths to absolute ones (relative ones against
// the sweep file's directory), checks that checkpoint directories exist and, when the corpus
// has a vocab.json already, that vocab_size agrees. `corpus_override` (e.g. `sims plan
// --corpus DIR`, relative to the working directory) replaces [sweep].corpus.
// ParseSweep takes the file's text; `path` names it in messages and anchors relative paths.
SweepSpec LoadSweepFile(const std::string& path, const std::string& corpus_override = "");
SweepSpec ParseSweep(const std::string& text, const std::string& path,
                     const std::string& corpus_override = "");

struct PlannedRun {
  std::string id;
  RunConfig config;
  std::string size_label;
  std::string column_label;     // "1e+11" (budget), "20" (tokens/param), "65536" (tokens)
  double tokens_requested = 0;  // before rounding to whole steps
  double tokens_per_param = 0;  // tokens / N by the sweep's convention
};

struct SkippedPoint {
  std::string condition;
  std::string size_label;
  std::string column_label;
  std::string reason;
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
  // The convention, what N counts, and planner_json = {"shape_rule": {...}, "vocab_size",
  // "tied_embeddings", "cost_curves": {condition: {"context", "n_params",
  // "n_params_non_embedding", "flops_per_token"}}} (one curve per condition and "text-lm").
  SweepFacts facts;
  std::vector<PlannedRun> runs;  // text-LM runs first, then each condition's, in file order
  std::vector<SkippedPoint> skipped;
};

// Throws UserError when a design yields no run, an override matches no run, or a value is out
// of range after overrides.
SweepPlan PlanSweep(const SweepSpec& spec);

// N by the sweep's convention (for 6ND and tokens per parameter).
int64_t ConventionParams(const SweepSpec& spec, const ModelShape& shape);

struct StoreResult {
  int64_t sweep_id = 0;                   // 0 on a dry run of a sweep not yet stored
  std::vector<std::string> new_ids;       // in plan order
  std::vector<std::string> existing_ids;  // already in the database
};

// The shape rule stored in planner_json (for `sims recommend`'s nearest shape).
nlohmann::json ToJson(const ShapeRule& rule);
ShapeRule ShapeRuleFromJson(const nlohmann::json& json);  // throws UserError naming the key

// Upserts the sweep (by name), then inserts the new runs with their dependencies in one
// transaction; runs already there (same id) are left as they are, whatever their status.
// With dry_run nothing is written (the store is only read).
StoreResult PlanIntoStore(Store& store, const SweepPlan& plan, bool dry_run);

}  // namespace sims
