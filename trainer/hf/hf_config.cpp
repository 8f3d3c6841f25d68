#include "trainer/hf/hf_config.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <numbers>

#include <fmt/format.h>

#include "common/error.h"

namespace sims::hf {
namespace {

using nlohmann::json;

int64_t FirstId(const json& v) {
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_array() && !v.empty() && v[0].is_number_integer()) return v[0].get<int64_t>();
  return -1;
}

}  // namespace

HfModelConfig ReadHfConfig(const std::string& dir) {
  namespace fs = std::filesystem;
  const std::string path = fs::is_directory(dir) ? (fs::path(dir) / "config.json").string() : dir;
  std::ifstream in(path);
  if (!in) {
    throw UserError(fmt::format("{}: cannot read the model config\nhint: pass a Hugging Face "
                                "model directory (config.json + *.safetensors)", path));
  }
  HfModelConfig c;
  c.raw = json::parse(in, nullptr, /*allow_exceptions=*/false);
  const json& j = c.raw;
  if (!j.is_object()) throw UserError(fmt::format("{}: not a JSON object", path));
  const auto bad = [&](const std::string& key, const std::string& what) {
    return UserError(fmt::format("{}: {}: {}", path, key, what));
  };
  const auto need_int = [&](const char* key) {
    if (!j.contains(key) || !j[key].is_number_integer() || j[key].get<int64_t>() <= 0) {
      throw bad(key, "missing or not a positive integer");
    }
    return j[key].get<int64_t>();
  };

  c.model_type = j.value("model_type", "");
  if (c.model_type != "llama" && c.model_type != "qwen2") {
    throw bad("model_type", fmt::format("'{}' is not supported; sims loads llama and qwen2 "
                                        "(Llama 3.x, Qwen2, Qwen2.5)", c.model_type));
  }
  if (j.value("hidden_act", "silu") != "silu") {
    throw bad("hidden_act", fmt::format("'{}' is not supported (SwiGLU uses silu)",
                                        j.value("hidden_act", "")));
  }
  ModelShape& s = c.shape;
  s.d_model = need_int("hidden_size");
  s.layers = need_int("num_hidden_layers");
  s.heads = need_int("num_attention_heads");
  s.kv_heads = j.contains("num_key_value_heads") && !j["num_key_value_heads"].is_null()
                   ? need_int("num_key_value_heads")
                   : s.heads;
  s.d_ff = need_int("intermediate_size");
  s.vocab_size = need_int("vocab_size");
  s.tied_embeddings = j.value("tie_word_embeddings", false);
  if (s.d_model % s.heads != 0 || s.heads % s.kv_heads != 0) {
    throw bad("num_attention_heads", fmt::format("hidden_size {} / heads {} / kv heads {} do "
                                                 "not divide", s.d_model, s.heads, s.kv_heads));
  }
  if (j.contains("head_dim") && !j["head_dim"].is_null() &&
      j["head_dim"].get<int64_t>() != s.d_model / s.heads) {
    throw bad("head_dim", fmt::format("{} differs from hidden_size / num_attention_heads = {}, "
                                      "which the sims decoder assumes",
                                      j["head_dim"].get<int64_t>(), s.d_model / s.heads));
  }
  if (c.model_type == "llama") {
    if (j.value("attention_bias", false)) throw bad("attention_bias", "true is not supported");
    if (j.value("mlp_bias", false)) throw bad("mlp_bias", "true is not supported");
    s.qkv_bias = false;
  } else {
    s.qkv_bias = true;  // Qwen2 always has q/k/v biases (and none on o_proj)
    if (j.value("use_sliding_window", false)) {
      throw bad("use_sliding_window", "true is not supported (sims attends to the whole context)");
    }
  }
  c.rms_norm_eps = j.value("rms_norm_eps", 1e-6);

  // rope: Hub checkpoints have rope_theta + rope_scaling; transformers >= 5 writes
  // rope_parameters {rope_type, rope_theta, ...}.
  json rope = j.contains("rope_parameters") && j["rope_parameters"].is_object()
                  ? j["rope_parameters"]
                  : (j.contains("rope_scaling") && j["rope_scaling"].is_object() ? j["rope_scaling"]
                                                                                 : json::object());
  const std::string rope_key = j.contains("rope_parameters") ? "rope_parameters" : "rope_scaling";
  c.rope_theta = rope.value("rope_theta", j.value("rope_theta", 10000.0));
  RopeScaling& r = c.rope_scaling;
  r.type = rope.value("rope_type", rope.value("type", "default"));
  if (r.type == "llama3") {
    r.factor = rope.value("factor", 1.0);
    r.low_freq_factor = rope.value("low_freq_factor", 1.0);
    r.high_freq_factor = rope.value("high_freq_factor", 4.0);
    r.original_max_position_embeddings = rope.value("original_max_position_embeddings", 8192.0);
    if (!(r.high_freq_factor > r.low_freq_factor)) {
      throw bad(rope_key + ".high_freq_factor", "must exceed low_freq_factor");
    }
  } else if (r.type != "default") {
    throw bad(rope_key + ".rope_type", fmt::format("'{}' is not supported (default, llama3 are)",
                                                   r.type));
  }
  c.bos_token_id = FirstId(j.value("bos_token_id", json()));
  c.eos_token_id = FirstId(j.value("eos_token_id", json()));
  c.pad_token_id = FirstId(j.value("pad_token_id", json()));
  c.dtype = j.value("dtype", j.value("torch_dtype", std::string("float32")));
  return c;
}

std::vector<double> RopeInverseFrequencies(const HfModelConfig& c) {
  const int64_t hs = c.shape.d_model / c.shape.heads;
  std::vector<double> inv(hs / 2);
  for (int64_t i = 0; i < hs / 2; ++i) {
    inv[i] = 1.0 / std::pow(c.rope_theta, static_cast<double>(2 * i) / static_cast<double>(hs));
  }
  if (c.rope_scaling.type != "llama3") return inv;
  // Llama 3.1 scaling (transformers' _compute_llama3_parameters): long wavelengths are slowed
  // by `factor`, short ones kept, the band between interpolated smoothly.
  const RopeScaling& r = c.rope_scaling;
  const double low_wavelen = r.original_max_position_embeddings / r.low_freq_factor;
  const double high_wavelen = r.original_max_position_embeddings / r.high_freq_factor;
  for (double& f : inv) {
    const double wavelen = 2 * std::numbers::pi / f;
    if (wavelen > low_wavelen) {
      f /= r.factor;
    } else if (wavelen >= high_wavelen) {
      const double smooth = (r.original_max_position_embeddings / wavelen - r.low_freq_factor) /
                            (r.high_freq_factor - r.low_freq_factor);
      f = (1 - smooth) * f / r.factor + smooth * f;
    }
  }
  return inv;
}

nlohmann::json ExportedHfConfig(const HfModelConfig& c, const ModelShape& shape,
                                const std::string& dtype) {
  json j = c.raw;
  j["hidden_size"] = shape.d_model;
  j["num_hidden_layers"] = shape.layers;
  j["num_attention_heads"] = shape.heads;
  j["num_key_value_heads"] = shape.kv_heads;
  j["intermediate_size"] = shape.d_ff;
  j["vocab_size"] = shape.vocab_size;
  j["tie_word_embeddings"] = shape.tied_embeddings;
  if (j.contains("torch_dtype")) j["torch_dtype"] = dtype;
  j["dtype"] = dtype;
  return j;
}

}  // namespace sims::hf
