#pragma once
// RunConfig: the fully resolved description of one training run. It is the contract between
// the planner (which writes it, as canonical JSON, into runs.config_json) and the trainer
// (which reads it back). Every field is explicit: nothing is filled in later by a default.
//
// Call ToJson / RunConfigFromJson to cross the database boundary; RunId hashes the canonical
// JSON so that the same resolved config always has the same id.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace sims {

// The typed values of a config. Each is stored as its name (the same text as before they were
// typed, so run ids do not change); XFromString throws a UserError listing the allowed names.
enum class Dtype { kAuto, kFp32, kBf16 };  // auto = bf16 autocast on CUDA, fp32 on CPU
// How a run's weights start: from scratch, from the text LM `init.run_id` (same shape, same
// sweep), or from a Hugging Face checkpoint directory.
enum class InitKind { kScratch, kTextLm, kCheckpoint };
// Which design planned a run: a sweep file's grid or isoflop design, the text LMs the planner
// adds for init = "text-lm", or `sims import`.
enum class DesignKind { kGrid, kIsoflop, kTextLm, kImported };
// How a pair evaluation scores a continuation: its mean or its summed log-likelihood.
enum class EvalScore { kMean, kSum };
std::string ToString(Dtype dtype);
std::string ToString(InitKind kind);
std::string ToString(DesignKind kind);
std::string ToString(EvalScore score);
Dtype DtypeFromString(std::string_view text);
InitKind InitKindFromString(std::string_view text);
DesignKind DesignKindFromString(std::string_view text);
EvalScore EvalScoreFromString(std::string_view text);

// A Llama-style decoder shape. head_dim = d_model / heads.
struct ModelShape {
  int64_t layers = 0;
  int64_t d_model = 0;
  int64_t heads = 0;
  int64_t kv_heads = 0;  // == heads unless grouped-query attention (real checkpoints)
  int64_t d_ff = 0;      // SwiGLU hidden width
  int64_t vocab_size = 0;
  bool tied_embeddings = true;
  bool qkv_bias = false;  // Qwen2 checkpoints have q/k/v biases; planned shapes do not
  bool operator==(const ModelShape&) const = default;
};

// Weights of the three data streams the trainer samples from. Need not sum to 1.
struct DataMixture {
  double text = 0;
  double speech = 0;
  double interleaved = 0;
  bool operator==(const DataMixture&) const = default;
};

struct InitSpec {
  InitKind kind = InitKind::kScratch;
  std::string run_id;           // for text-lm
  std::string checkpoint_path;  // for checkpoint
  bool operator==(const InitSpec&) const = default;
};

struct Hyperparameters {
  double lr = 5e-4;             // slamkit default peak learning rate
  double warmup_fraction = 0.01;
  double min_lr_ratio = 0.1;    // cosine decays to lr * min_lr_ratio
  int64_t batch_tokens = 0;     // tokens per optimizer step (accumulated)
  int64_t micro_batch_tokens = 0;  // tokens per forward pass; batch_tokens is a multiple
  int64_t context = 0;          // tokens per sequence
  double clip = 0.5;            // global gradient-norm clip
  double weight_decay = 0.1;
  Dtype dtype = Dtype::kAuto;
  int64_t eval_every = 0;       // steps between evaluations; 0 = only at the end
  // Pair evaluation: the first eval_pairs pairs of each task (0 = all), each member scored by
  // its mean or summed log-likelihood; eval_unit_only adds "<task>/unit-only" accuracies with
  // the likelihood renormalised over speech units (for tasks whose continuations are speech).
  int64_t eval_pairs = 200;
  EvalScore eval_score = EvalScore::kMean;
  bool eval_unit_only = false;
  // Execution: how the run is spread over processes. Neither changes what is trained (the global
  // batch stays batch_tokens), so neither is part of the run id (RunId), and re-planning with
  // another value updates the stored runs that are not done (results/plan_store.h).
  int64_t ranks = 1;            // data-parallel processes (one GPU each on CUDA)
  bool shard_optimizer = true;  // ZeRO-1: each rank keeps the AdamW state of its share only
  bool operator==(const Hyperparameters&) const = default;
};

struct RunConfig {
  std::string sweep;
  std::string condition;
  DesignKind design = DesignKind::kGrid;
  uint64_t seed = 0;
  ModelShape shape;
  DataMixture mixture;
  InitSpec init;
  Hyperparameters hp;
  int64_t tokens = 0;   // tokens the run consumes: steps * batch_tokens exactly
  int64_t steps = 0;
  double budget_flops = 0;  // the design's nominal budget (isoflop), or 0
  int64_t n_params = 0;
  int64_t n_params_non_embedding = 0;
  double flops = 0;       // by the sweep's convention
  double flops_6nd = 0;   // 6 * N * D with the sweep's N
  double flops_exact = 0; // forward+backward matmul FLOPs of the built model
  std::string corpus;     // corpus directory, relative to the sweep file or absolute
  std::vector<std::string> depends_on;  // run ids that must be done first
  bool operator==(const RunConfig&) const = default;
};

nlohmann::json ToJson(const RunConfig& config);
RunConfig RunConfigFromJson(const nlohmann::json& json);  // throws UserError naming the key

// The rules every run obeys, written once: the planner checks them (hyper-parameters as each
// level is read, the whole config once a run is planned) and the trainer checks a config it
// reads back before training. Throws UserError "<where>: <field> = <value> <rule>".
void ValidateHyperparameters(const Hyperparameters& hp, const std::string& where);
void Validate(const RunConfig& config, const std::string& where);  // hp, then steps and tokens

// First 12 hex chars of SHA-256 over ToJson(config).dump() (keys sorted, so canonical), without
// the "execution" object: a run keeps its id (and its checkpoints) when its ranks change.
std::string RunId(const RunConfig& config);

}  // namespace sims
