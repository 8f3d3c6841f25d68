#include "sweeps/run_config.h"

#include <fmt/format.h>

#include "common/error.h"
#include "common/sha256.h"

namespace sims {
namespace {

using nlohmann::json;

template <typename T>
void Read(const json& object, const char* key, T& out, const std::string& where) {
  if (!object.contains(key)) {
    throw UserError(fmt::format("run config: missing key '{}{}'", where, key));
  }
  try {
    out = object.at(key).get<T>();
  } catch (const json::exception& e) {
    throw UserError(fmt::format("run config: key '{}{}' has the wrong type: {}", where, key,
                                object.at(key).dump()));
  }
}

}  // namespace

json ToJson(const RunConfig& c) {
  json j;
  j["sweep"] = c.sweep;
  j["condition"] = c.condition;
  j["design"] = c.design;
  j["seed"] = c.seed;
  j["shape"] = {{"layers", c.shape.layers},     {"d_model", c.shape.d_model},
                {"heads", c.shape.heads},       {"kv_heads", c.shape.kv_heads},
                {"d_ff", c.shape.d_ff},         {"vocab_size", c.shape.vocab_size},
                {"tied_embeddings", c.shape.tied_embeddings}, {"qkv_bias", c.shape.qkv_bias}};
  j["mixture"] = {{"text", c.mixture.text},
                  {"speech", c.mixture.speech},
                  {"interleaved", c.mixture.interleaved}};
  j["init"] = {{"kind", c.init.kind},
               {"run_id", c.init.run_id},
               {"checkpoint_path", c.init.checkpoint_path}};
  j["hp"] = {{"lr", c.hp.lr},
             {"warmup_fraction", c.hp.warmup_fraction},
             {"min_lr_ratio", c.hp.min_lr_ratio},
             {"batch_tokens", c.hp.batch_tokens},
             {"micro_batch_tokens", c.hp.micro_batch_tokens},
             {"context", c.hp.context},
             {"clip", c.hp.clip},
             {"weight_decay", c.hp.weight_decay},
             {"dtype", c.hp.dtype},
             {"eval_every", c.hp.eval_every}};
  // Evaluation keys at their defaults are left out, so that the ids of runs planned before
  // these keys existed do not change.
  const Hyperparameters defaults;
  if (c.hp.eval_pairs != defaults.eval_pairs) j["hp"]["eval_pairs"] = c.hp.eval_pairs;
  if (c.hp.eval_score != defaults.eval_score) j["hp"]["eval_score"] = c.hp.eval_score;
  if (c.hp.eval_unit_only != defaults.eval_unit_only) j["hp"]["eval_unit_only"] = c.hp.eval_unit_only;
  j["tokens"] = c.tokens;
  j["steps"] = c.steps;
  j["budget_flops"] = c.budget_flops;
  j["n_params"] = c.n_params;
  j["n_params_non_embedding"] = c.n_params_non_embedding;
  j["flops"] = c.flops;
  j["flops_6nd"] = c.flops_6nd;
  j["flops_exact"] = c.flops_exact;
  j["corpus"] = c.corpus;
  j["depends_on"] = c.depends_on;
  return j;
}

RunConfig RunConfigFromJson(const json& j) {
  RunConfig c;
  Read(j, "sweep", c.sweep, "");
  Read(j, "condition", c.condition, "");
  Read(j, "design", c.design, "");
  Read(j, "seed", c.seed, "");
  if (!j.contains("shape") || !j.contains("mixture") || !j.contains("init") || !j.contains("hp")) {
    throw UserError("run config: one of the objects shape, mixture, init, hp is missing");
  }
  const json& s = j.at("shape");
  Read(s, "layers", c.shape.layers, "shape.");
  Read(s, "d_model", c.shape.d_model, "shape.");
  Read(s, "heads", c.shape.heads, "shape.");
  Read(s, "kv_heads", c.shape.kv_heads, "shape.");
  Read(s, "d_ff", c.shape.d_ff, "shape.");
  Read(s, "vocab_size", c.shape.vocab_size, "shape.");
  Read(s, "tied_embeddings", c.shape.tied_embeddings, "shape.");
  Read(s, "qkv_bias", c.shape.qkv_bias, "shape.");
  const json& m = j.at("mixture");
  Read(m, "text", c.mixture.text, "mixture.");
  Read(m, "speech", c.mixture.speech, "mixture.");
  Read(m, "interleaved", c.mixture.interleaved, "mixture.");
  const json& i = j.at("init");
  Read(i, "kind", c.init.kind, "init.");
  Read(i, "run_id", c.init.run_id, "init.");
  Read(i, "checkpoint_path", c.init.checkpoint_path, "init.");
  const json& h = j.at("hp");
  Read(h, "lr", c.hp.lr, "hp.");
  Read(h, "warmup_fraction", c.hp.warmup_fraction, "hp.");
  Read(h, "min_lr_ratio", c.hp.min_lr_ratio, "hp.");
  Read(h, "batch_tokens", c.hp.batch_tokens, "hp.");
  Read(h, "micro_batch_tokens", c.hp.micro_batch_tokens, "hp.");
  Read(h, "context", c.hp.context, "hp.");
  Read(h, "clip", c.hp.clip, "hp.");
  Read(h, "weight_decay", c.hp.weight_decay, "hp.");
  Read(h, "dtype", c.hp.dtype, "hp.");
  Read(h, "eval_every", c.hp.eval_every, "hp.");
  if (h.contains("eval_pairs")) Read(h, "eval_pairs", c.hp.eval_pairs, "hp.");
  if (h.contains("eval_score")) Read(h, "eval_score", c.hp.eval_score, "hp.");
  if (h.contains("eval_unit_only")) Read(h, "eval_unit_only", c.hp.eval_unit_only, "hp.");
  Read(j, "tokens", c.tokens, "");
  Read(j, "steps", c.steps, "");
  Read(j, "budget_flops", c.budget_flops, "");
  Read(j, "n_params", c.n_params, "");
  Read(j, "n_params_non_embedding", c.n_params_non_embedding, "");
  Read(j, "flops", c.flops, "");
  Read(j, "flops_6nd", c.flops_6nd, "");
  Read(j, "flops_exact", c.flops_exact, "");
  Read(j, "corpus", c.corpus, "");
  Read(j, "depends_on", c.depends_on, "");
  return c;
}

std::string RunId(const RunConfig& config) {
  return Sha256Hex(ToJson(config).dump()).substr(0, 12);
}

}  // namespace sims
