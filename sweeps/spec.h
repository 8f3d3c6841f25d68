#pragma once
// SweepSpec: a sweep file as typed values, what sweeps/parse.h makes of the TOML and
// sweeps/plan.h turns into runs. Every value keeps the Origin it was read from, so a rule
// broken only after planning (an override out of range) still names FILE:LINE: key.
// The file format, every key and its default: docs/sweep-file.md.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/origin.h"
#include "sweeps/run_config.h"
#include "sweeps/shape.h"

namespace sims {

// Hyper-parameter keys given at one level (sweep, condition, text_lm, override); unset = inherit.
struct HpPatch {
  std::optional<double> lr, warmup_fraction, min_lr_ratio, clip, weight_decay;
  std::optional<int64_t> batch_tokens, micro_batch_tokens, context, eval_every, eval_pairs, ranks;
  std::optional<Dtype> dtype;
  std::optional<EvalScore> eval_score;
  std::optional<bool> eval_unit_only, shard_optimizer;
};
Hyperparameters Apply(Hyperparameters hp, const HpPatch& patch);

// One row of a design: a target non-embedding count turned into a shape by the shape rule,
// or an explicit shape.
struct SizeSpec {
  std::string label;                 // "200k", "1.5B", or the shape's label
  int64_t target_non_embedding = 0;  // 0 for an explicit shape
  ModelShape shape;
  std::string checkpoint;     // absolute; for init = "checkpoint"
  Origin origin;
  Origin checkpoint_origin;  // the shape's or the condition's `checkpoint` key
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
  DesignKind kind = DesignKind::kGrid;  // grid or isoflop
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
  InitKind init = InitKind::kScratch;
  Hyperparameters hp;  // sweep defaults + this condition's keys
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
  FlopConvention flops = FlopConvention::k6ND;  // RunConfig.flops and isoflop D
  bool n_includes_embedding = false;  // N in 6ND and tokens-per-parameter counts embeddings
  ShapeRule shape_rule;
  Hyperparameters hp;
  // `[sweep] gpu_memory`: GiB per GPU that `sims plan` checks every run against (sweeps/memory.h);
  // 0 = not checked. Not a hyper-parameter: it changes no run and no run id.
  double gpu_memory_gib = 0;
  std::optional<TextLmSpec> text_lm;
  std::vector<ConditionSpec> conditions;
  Origin vocab_origin;      // of [sweep].vocab_size, for the corpus check
  std::string path;         // the file as given
  std::string source_toml;  // its text, stored with the sweep
};

// N by the sweep's convention (for 6ND and tokens per parameter).
int64_t ConventionParams(const SweepSpec& spec, const ModelShape& shape);

}  // namespace sims
