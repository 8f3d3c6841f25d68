#include "sweeps/run_config.h"

#include <fmt/format.h>

#include "common/enum_names.h"
#include "common/error.h"
#include "common/sha256.h"

namespace sims {
namespace {

using nlohmann::json;

constexpr EnumNames<Dtype, 3> kDtypeNames{
    {{Dtype::kAuto, "auto"}, {Dtype::kFp32, "fp32"}, {Dtype::kBf16, "bf16"}}};
constexpr EnumNames<InitKind, 3> kInitKindNames{{{InitKind::kScratch, "scratch"},
                                                 {InitKind::kTextLm, "text-lm"},
                                                 {InitKind::kCheckpoint, "checkpoint"}}};
constexpr EnumNames<DesignKind, 4> kDesignKindNames{{{DesignKind::kGrid, "grid"},
                                                     {DesignKind::kIsoflop, "isoflop"},
                                                     {DesignKind::kTextLm, "text-lm"},
                                                     {DesignKind::kImported, "imported"}}};
constexpr EnumNames<EvalScore, 2> kEvalScoreNames{
    {{EvalScore::kMean, "mean"}, {EvalScore::kSum, "sum"}}};

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

// A typed value read from its name; a wrong name is a UserError naming the key.
template <typename E>
void ReadEnum(const json& object, const char* key, E& out, const std::string& where,
              E (*from_string)(std::string_view)) {
  std::string text;
  Read(object, key, text, where);
  try {
    out = from_string(text);
  } catch (const UserError& e) {
    throw UserError(fmt::format("run config: key '{}{}': {}", where, key, e.what()));
  }
}

}  // namespace

std::string ToString(Dtype dtype) { return std::string(NameOf(kDtypeNames, dtype)); }
std::string ToString(InitKind kind) { return std::string(NameOf(kInitKindNames, kind)); }
std::string ToString(DesignKind kind) { return std::string(NameOf(kDesignKindNames, kind)); }
std::string ToString(EvalScore score) { return std::string(NameOf(kEvalScoreNames, score)); }
EvalScore EvalScoreFromString(std::string_view text) {
  return ParseName(kEvalScoreNames, text, "an eval score");
}
Dtype DtypeFromString(std::string_view text) {
  return ParseName(kDtypeNames, text,
                   "a dtype the trainer trains (fp16 would need loss scaling, which it does not do)");
}
InitKind InitKindFromString(std::string_view text) {
  return ParseName(kInitKindNames, text, "an init kind");
}
DesignKind DesignKindFromString(std::string_view text) {
  return ParseName(kDesignKindNames, text, "a design kind");
}

json ToJson(const RunConfig& c) {
  json j;
  j["sweep"] = c.sweep;
  j["condition"] = c.condition;
  j["design"] = ToString(c.design);
  j["seed"] = c.seed;
  j["shape"] = {{"layers", c.shape.layers},     {"d_model", c.shape.d_model},
                {"heads", c.shape.heads},       {"kv_heads", c.shape.kv_heads},
                {"d_ff", c.shape.d_ff},         {"vocab_size", c.shape.vocab_size},
                {"tied_embeddings", c.shape.tied_embeddings}, {"qkv_bias", c.shape.qkv_bias}};
  j["mixture"] = {{"text", c.mixture.text},
                  {"speech", c.mixture.speech},
                  {"interleaved", c.mixture.interleaved}};
  j["init"] = {{"kind", ToString(c.init.kind)},
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
             {"dtype", ToString(c.hp.dtype)},
             {"eval_every", c.hp.eval_every}};
  // Evaluation keys at their defaults are left out, so that the ids of runs planned before
  // these keys existed do not change.
  const Hyperparameters defaults;
  if (c.hp.eval_pairs != defaults.eval_pairs) j["hp"]["eval_pairs"] = c.hp.eval_pairs;
  if (c.hp.eval_score != defaults.eval_score) j["hp"]["eval_score"] = ToString(c.hp.eval_score);
  if (c.hp.eval_unit_only != defaults.eval_unit_only) j["hp"]["eval_unit_only"] = c.hp.eval_unit_only;
  if (c.hp.ranks != defaults.ranks || c.hp.shard_optimizer != defaults.shard_optimizer) {
    j["execution"] = {{"ranks", c.hp.ranks}, {"shard_optimizer", c.hp.shard_optimizer}};
  }
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
  ReadEnum(j, "design", c.design, "", DesignKindFromString);
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
  ReadEnum(i, "kind", c.init.kind, "init.", InitKindFromString);
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
  ReadEnum(h, "dtype", c.hp.dtype, "hp.", DtypeFromString);
  Read(h, "eval_every", c.hp.eval_every, "hp.");
  if (h.contains("eval_pairs")) Read(h, "eval_pairs", c.hp.eval_pairs, "hp.");
  if (h.contains("eval_score")) ReadEnum(h, "eval_score", c.hp.eval_score, "hp.", EvalScoreFromString);
  if (h.contains("eval_unit_only")) Read(h, "eval_unit_only", c.hp.eval_unit_only, "hp.");
  if (j.contains("execution")) {
    const json& e = j.at("execution");
    Read(e, "ranks", c.hp.ranks, "execution.");
    Read(e, "shard_optimizer", c.hp.shard_optimizer, "execution.");
  }
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

void ValidateHyperparameters(const Hyperparameters& hp, const std::string& where) {
  auto fail = [&](const char* field, const std::string& value, const std::string& rule) {
    throw UserError(fmt::format("{}: {} = {} {}", where, field, value, rule));
  };
  if (!(hp.lr > 0 && hp.lr < 10)) fail("lr", fmt::format("{}", hp.lr), "must be in (0, 10)");
  if (!(hp.warmup_fraction >= 0 && hp.warmup_fraction < 1)) {
    fail("warmup_fraction", fmt::format("{}", hp.warmup_fraction), "must be in [0, 1)");
  }
  if (!(hp.min_lr_ratio >= 0 && hp.min_lr_ratio <= 1)) {
    fail("min_lr_ratio", fmt::format("{}", hp.min_lr_ratio), "must be in [0, 1]");
  }
  if (!(hp.clip >= 0)) fail("clip", fmt::format("{}", hp.clip), "must be >= 0 (0 = no clipping)");
  if (!(hp.weight_decay >= 0 && hp.weight_decay < 10)) {
    fail("weight_decay", fmt::format("{}", hp.weight_decay), "must be in [0, 10)");
  }
  if (hp.context < 1 || hp.context > (1 << 20)) {
    fail("context", std::to_string(hp.context),
         "must be in [1, 1048576] (hint: set context in [sweep])");
  }
  if (hp.batch_tokens < 1 || hp.batch_tokens > (int64_t{1} << 32) ||
      hp.batch_tokens % hp.context != 0) {
    fail("batch_tokens", std::to_string(hp.batch_tokens),
         fmt::format("must be a positive multiple of context = {} (whole sequences per step)",
                     hp.context));
  }
  if (hp.micro_batch_tokens < 1 || hp.micro_batch_tokens % hp.context != 0 ||
      hp.batch_tokens % hp.micro_batch_tokens != 0) {
    fail("micro_batch_tokens", std::to_string(hp.micro_batch_tokens),
         fmt::format("must be a multiple of context = {} that divides batch_tokens = {}",
                     hp.context, hp.batch_tokens));
  }
  if (hp.ranks < 1 || hp.ranks > 4096) {
    fail("ranks", std::to_string(hp.ranks), "must be in [1, 4096]");
  }
  if ((hp.batch_tokens / hp.micro_batch_tokens) % hp.ranks != 0) {
    fail("ranks", std::to_string(hp.ranks),
         fmt::format("must divide the micro-batches per step, batch_tokens / micro_batch_tokens "
                     "= {} (each rank takes an equal share of the global batch); hint: lower "
                     "micro_batch_tokens",
                     hp.batch_tokens / hp.micro_batch_tokens));
  }
  if (hp.eval_every < 0) fail("eval_every", std::to_string(hp.eval_every), "must be >= 0");
  if (hp.eval_pairs < 0) {
    fail("eval_pairs", std::to_string(hp.eval_pairs), "must be >= 0 (0 = every pair)");
  }
}

void Validate(const RunConfig& c, const std::string& where) {
  ValidateHyperparameters(c.hp, where);
  if (c.steps < 1) throw UserError(fmt::format("{}: steps = {} must be >= 1", where, c.steps));
  if (c.tokens != c.steps * c.hp.batch_tokens) {
    throw UserError(fmt::format("{}: tokens = {} must be steps * batch_tokens = {} * {}", where,
                                c.tokens, c.steps, c.hp.batch_tokens));
  }
}

std::string RunId(const RunConfig& config) {
  json identity = ToJson(config);
  identity.erase("execution");
  return Sha256Hex(identity.dump()).substr(0, 12);
}

}  // namespace sims
