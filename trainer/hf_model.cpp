#include "trainer/hf_model.h"

#include <filesystem>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "common/error.h"
#include "trainer/checkpoint.h"
#include "trainer/corpus/atomic_file.h"
#include "trainer/hf/safetensors.h"

namespace sims::hf {
namespace {

std::string HfName(const std::string& sims_name) {
  return sims_name == "lm_head.weight" ? sims_name : "model." + sims_name;
}

bool IsVocabMatrix(const std::string& sims_name) {
  return sims_name == "embed_tokens.weight" || sims_name == "lm_head.weight";
}

}  // namespace

trainer::DecoderOptions DecoderOptionsFor(const HfModelConfig& config, int64_t vocab_size) {
  trainer::DecoderOptions o;
  o.shape = config.shape;
  if (vocab_size != 0) {
    if (vocab_size < config.shape.vocab_size) {
      throw UserError(fmt::format("vocab_size {} is smaller than the checkpoint's {}; a "
                                  "checkpoint's vocabulary can only be extended",
                                  vocab_size, config.shape.vocab_size));
    }
    o.shape.vocab_size = vocab_size;
  }
  o.rope_theta = config.rope_theta;
  o.norm_eps = config.rms_norm_eps;
  if (config.rope_scaling.type != "default") o.rope_inv_freq = RopeInverseFrequencies(config);
  return o;
}

void LoadHfWeights(const std::string& dir, const HfModelConfig& config,
                   trainer::DecoderImpl& model) {
  const Checkpoint ckpt = OpenCheckpoint(dir);
  torch::NoGradGuard no_grad;
  std::set<std::string> used;
  const int64_t rows = config.shape.vocab_size;
  for (auto& item : model.named_parameters()) {
    const std::string& name = item.key();
    torch::Tensor& param = item.value();
    const std::string hf_name = HfName(name);
    const TensorInfo& t = ckpt.at(hf_name);
    std::vector<int64_t> want = param.sizes().vec();
    if (IsVocabMatrix(name)) want[0] = rows;  // extension rows are not in the checkpoint
    if (t.shape != want) {
      throw UserError(fmt::format("{}: tensor '{}' has shape [{}], config.json implies [{}]", dir,
                                  hf_name, fmt::join(t.shape, ", "), fmt::join(want, ", ")));
    }
    std::vector<float> values = ReadFloats(t);
    torch::Tensor target = IsVocabMatrix(name) ? param.narrow(0, 0, rows) : param;
    target.copy_(torch::from_blob(values.data(), want, torch::kFloat));  // widened, then copied
    used.insert(hf_name);
  }
  for (const auto& [name, t] : ckpt.tensors) {
    if (used.count(name) || name.ends_with("rotary_emb.inv_freq")) continue;
    if (name == "lm_head.weight" && config.shape.tied_embeddings) continue;  // a stored copy
    throw UserError(fmt::format("{}: tensor '{}' has no place in the sims decoder (model_type "
                                "{}); it would be silently dropped", dir, name,
                                config.model_type));
  }
}

trainer::Decoder LoadHfModel(const std::string& dir, int64_t vocab_size,
                             const torch::Device& device) {
  const HfModelConfig config = ReadHfConfig(dir);
  trainer::Decoder model =
      trainer::MakeDecoder(DecoderOptionsFor(config, vocab_size), /*seed=*/0, device);
  LoadHfWeights(dir, config, *model);
  return model;
}

trainer::DecoderOptions CheckpointRunOptions(const std::string& run_id,
                                             const std::string& checkpoint_dir,
                                             const ModelShape& shape) {
  const HfModelConfig config = ReadHfConfig(checkpoint_dir);
  const ModelShape& c = config.shape;
  const auto mismatch = [&](const char* field, auto planned, auto checkpoint) {
    return UserError(fmt::format("run {}: shape.{} = {} but checkpoint {} has {}\nhint: the "
                                 "sweep must plan the checkpoint's own shape", run_id, field,
                                 planned, checkpoint_dir, checkpoint));
  };
  if (shape.layers != c.layers) throw mismatch("layers", shape.layers, c.layers);
  if (shape.d_model != c.d_model) throw mismatch("d_model", shape.d_model, c.d_model);
  if (shape.heads != c.heads) throw mismatch("heads", shape.heads, c.heads);
  if (shape.kv_heads != c.kv_heads) throw mismatch("kv_heads", shape.kv_heads, c.kv_heads);
  if (shape.d_ff != c.d_ff) throw mismatch("d_ff", shape.d_ff, c.d_ff);
  if (shape.tied_embeddings != c.tied_embeddings) {
    throw mismatch("tied_embeddings", shape.tied_embeddings, c.tied_embeddings);
  }
  if (shape.qkv_bias != c.qkv_bias) throw mismatch("qkv_bias", shape.qkv_bias, c.qkv_bias);
  if (shape.vocab_size < c.vocab_size) throw mismatch("vocab_size", shape.vocab_size, c.vocab_size);
  return DecoderOptionsFor(config, shape.vocab_size);
}

void InitFromCheckpoint(const std::string& checkpoint_dir, const corpus::Vocabulary& vocab,
                        trainer::DecoderImpl& model, uint64_t seed) {
  LoadHfWeights(checkpoint_dir, ReadHfConfig(checkpoint_dir), model);
  trainer::InitUntrainedRows(model.embed_tokens->weight, vocab, seed);
  if (model.lm_head) trainer::InitUntrainedRows(model.lm_head->weight, vocab, seed + 1);
}

HfModelConfig HfConfigForDecoder(const trainer::DecoderOptions& o) {
  HfModelConfig c;
  c.model_type = o.shape.qkv_bias ? "qwen2" : "llama";
  c.shape = o.shape;
  c.rope_theta = o.rope_theta;
  c.rms_norm_eps = o.norm_eps;
  if (!o.rope_inv_freq.empty()) {
    throw UserError("export: a decoder with custom RoPE frequencies needs the config.json of "
                    "the checkpoint it started from");
  }
  c.raw = {{"architectures", {o.shape.qkv_bias ? "Qwen2ForCausalLM" : "LlamaForCausalLM"}},
           {"model_type", c.model_type},
           {"hidden_act", "silu"},
           {"rms_norm_eps", o.norm_eps},
           {"rope_theta", o.rope_theta},
           {"max_position_embeddings", 8192},
           {"attention_bias", false},
           {"use_cache", true}};
  return c;
}

void ExportHfModel(trainer::DecoderImpl& model, const HfModelConfig& base,
                   const std::string& out_dir, const std::string& dtype) {
  if (dtype != "float32" && dtype != "bfloat16") {
    throw UserError(fmt::format("export: dtype '{}' is not float32 or bfloat16", dtype));
  }
  std::filesystem::create_directories(out_dir);
  std::vector<std::vector<float>> storage;
  std::vector<TensorToWrite> tensors;
  const auto params = model.named_parameters();
  storage.reserve(params.size());
  for (const auto& item : params) {
    torch::Tensor cpu = item.value().detach().to(torch::kCPU, torch::kFloat).contiguous();
    storage.emplace_back(cpu.data_ptr<float>(), cpu.data_ptr<float>() + cpu.numel());
    tensors.push_back(TensorToWrite{HfName(item.key()), cpu.sizes().vec(),
                                    std::span<const float>(storage.back())});
  }
  const std::string out = (std::filesystem::path(out_dir) / "model.safetensors").string();
  WriteSafetensors(out, tensors, dtype == "float32" ? "F32" : "BF16");
  const nlohmann::json config = ExportedHfConfig(base, model.options().shape, dtype);
  WriteFileAtomically((std::filesystem::path(out_dir) / "config.json").string(),
                              config.dump(2) + "\n");
}

}  // namespace sims::hf
