#pragma once
// A Hugging Face `config.json` of a Llama or Qwen2 causal LM, mapped onto the sims decoder's
// shape (torch-free, sims_hf_io). Call ReadHfConfig(model_dir); RopeInverseFrequencies gives
// the RoPE table the checkpoint was trained with (incl. Llama 3.1+ "llama3" scaling);
// ExportedHfConfig writes a config.json that transformers opens for a (possibly extended) model.
//
// Accepted: model_type llama | qwen2 (Qwen2 and Qwen2.5), hidden_act silu, GQA, tied or untied
// embeddings, rope_theta either top-level (checkpoints on the Hub) or in rope_parameters
// (transformers >= 5), rope scaling none | default | llama3. Everything else that would change
// the maths (attention_bias or mlp_bias on Llama, sliding windows, other rope scalings, a
// head_dim other than hidden_size / num_attention_heads) is a UserError naming the key.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sweeps/run_config.h"

namespace sims::hf {

struct RopeScaling {
  std::string type = "default";  // default | llama3
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  double original_max_position_embeddings = 8192;
};

struct HfModelConfig {
  std::string model_type;     // llama | qwen2
  ModelShape shape;           // vocab_size = rows of the embedding matrix
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  double rms_norm_eps = 1e-6;
  int64_t bos_token_id = -1;  // -1 when the config has none
  int64_t eos_token_id = -1;  // the first one when the config lists several
  int64_t pad_token_id = -1;
  std::string dtype = "float32";  // the checkpoint's stored dtype (torch_dtype / dtype)
  nlohmann::json raw;             // the file as read; export starts from it
};

// Reads `<dir>/config.json` (or `dir` itself if it is a file). UserError naming the file and
// the key for anything unsupported or missing.
HfModelConfig ReadHfConfig(const std::string& dir);

// hs/2 inverse frequencies (radians per position) of pair i, as transformers computes them.
std::vector<double> RopeInverseFrequencies(const HfModelConfig& config);

// config.json for `config` with its shape replaced by `shape` (e.g. after vocabulary
// extension), dtype set to `dtype` ("float32" | "bfloat16"); keys sims does not know are kept.
nlohmann::json ExportedHfConfig(const HfModelConfig& config, const ModelShape& shape,
                                const std::string& dtype);

}  // namespace sims::hf
