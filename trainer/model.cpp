#include "trainer/model.h"

#include <dlfcn.h>

#include <cmath>

#include <fmt/format.h>

#include "common/error.h"
#include "trainer/torch_compat.h"

namespace sims::trainer {

void ValidateDecoderOptions(const DecoderOptions& o) {
  const ModelShape& s = o.shape;
  auto fail = [](const std::string& field, int64_t value, const std::string& rule) {
    throw UserError(fmt::format("model shape: {} = {} is invalid: {}", field, value, rule));
  };
  if (s.layers <= 0) fail("layers", s.layers, "must be positive");
  if (s.d_model <= 0) fail("d_model", s.d_model, "must be positive");
  if (s.heads <= 0) fail("heads", s.heads, "must be positive");
  if (s.kv_heads <= 0 || s.heads % s.kv_heads != 0) {
    fail("kv_heads", s.kv_heads, fmt::format("must divide heads = {}", s.heads));
  }
  if (s.d_ff <= 0) fail("d_ff", s.d_ff, "must be positive");
  if (s.vocab_size <= 0) fail("vocab_size", s.vocab_size, "must be positive");
  if (s.d_model % s.heads != 0) {
    fail("d_model", s.d_model, fmt::format("must be a multiple of heads = {}", s.heads));
  }
  if ((s.d_model / s.heads) % 2 != 0) {
    fail("d_model / heads", s.d_model / s.heads, "head_dim must be even (RoPE rotates pairs)");
  }
  if (!(o.rope_theta > 0)) throw UserError("model: rope_theta must be positive");
  const int64_t pairs = s.d_model / s.heads / 2;
  if (!o.rope_inv_freq.empty() && static_cast<int64_t>(o.rope_inv_freq.size()) != pairs) {
    throw UserError(fmt::format("model: rope_inv_freq has {} values, head_dim / 2 = {} expected",
                                o.rope_inv_freq.size(), pairs));
  }
}

RMSNormImpl::RMSNormImpl(int64_t dim, double eps) : eps_(eps) {
  weight = register_parameter("weight", torch::ones({dim}));
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  // Normalise in fp32 even under autocast (as Hugging Face's LlamaRMSNorm), then scale.
  torch::Tensor xf = x.to(torch::kFloat);
  xf = xf * torch::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps_);
  return weight * xf.to(x.scalar_type());
}

namespace {

torch::nn::Linear MakeLinear(int64_t in, int64_t out, bool bias) {
  return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(bias));
}

// Rotate-half RoPE (Hugging Face convention): x (B, n, T, hs), cos/sin (T, hs).
torch::Tensor ApplyRope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  const int64_t half = x.size(-1) / 2;
  torch::Tensor x1 = x.narrow(-1, 0, half), x2 = x.narrow(-1, half, half);
  torch::Tensor rotated = torch::cat({-x2, x1}, -1);
  return x * cos + rotated * sin;
}

}  // namespace

AttentionImpl::AttentionImpl(const DecoderOptions& o)
    : heads_(o.shape.heads),
      kv_heads_(o.shape.kv_heads),
      head_dim_(o.shape.d_model / o.shape.heads) {
  const int64_t C = o.shape.d_model, kv_dim = kv_heads_ * head_dim_;
  q_proj = register_module("q_proj", MakeLinear(C, C, o.shape.qkv_bias));
  k_proj = register_module("k_proj", MakeLinear(C, kv_dim, o.shape.qkv_bias));
  v_proj = register_module("v_proj", MakeLinear(C, kv_dim, o.shape.qkv_bias));
  o_proj = register_module("o_proj", MakeLinear(C, C, false));
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& cos,
                                     const torch::Tensor& sin) {
  const int64_t B = x.size(0), T = x.size(1), C = x.size(2);
  torch::Tensor q = q_proj(x).view({B, T, heads_, head_dim_}).transpose(1, 2);     // (B, nh, T, hs)
  torch::Tensor k = k_proj(x).view({B, T, kv_heads_, head_dim_}).transpose(1, 2);  // (B, nkv, T, hs)
  torch::Tensor v = v_proj(x).view({B, T, kv_heads_, head_dim_}).transpose(1, 2);  // (B, nkv, T, hs)
  q = ApplyRope(q, cos, sin);
  k = ApplyRope(k, cos, sin);
  torch::Tensor y = CausalAttention(q, k, v);                   // (B, nh, T, hs)
  y = y.transpose(1, 2).contiguous().view({B, T, C});           // (B, T, C)
  return o_proj(y);
}

MlpImpl::MlpImpl(const DecoderOptions& o) {
  const int64_t C = o.shape.d_model, F = o.shape.d_ff;
  gate_proj = register_module("gate_proj", MakeLinear(C, F, false));
  up_proj = register_module("up_proj", MakeLinear(C, F, false));
  down_proj = register_module("down_proj", MakeLinear(F, C, false));
}

torch::Tensor MlpImpl::forward(const torch::Tensor& x) {
  return down_proj(torch::silu(gate_proj(x)) * up_proj(x));  // (B, T, F) -> (B, T, C)
}

DecoderLayerImpl::DecoderLayerImpl(const DecoderOptions& o) {
  input_layernorm = register_module("input_layernorm", RMSNorm(o.shape.d_model, o.norm_eps));
  self_attn = register_module("self_attn", Attention(o));
  post_attention_layernorm =
      register_module("post_attention_layernorm", RMSNorm(o.shape.d_model, o.norm_eps));
  mlp = register_module("mlp", Mlp(o));
}

torch::Tensor DecoderLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& cos,
                                        const torch::Tensor& sin) {
  torch::Tensor h = x + self_attn(input_layernorm(x), cos, sin);
  return h + mlp(post_attention_layernorm(h));
}

DecoderImpl::DecoderImpl(const DecoderOptions& o) : options_(o) {
  ValidateDecoderOptions(o);
  const ModelShape& s = o.shape;
  embed_tokens = register_module("embed_tokens", torch::nn::Embedding(s.vocab_size, s.d_model));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < s.layers; ++i) layers->push_back(DecoderLayer(o));
  norm = register_module("norm", RMSNorm(s.d_model, o.norm_eps));
  if (!s.tied_embeddings) {
    lm_head = register_module("lm_head", MakeLinear(s.d_model, s.vocab_size, false));
  }
}

std::pair<torch::Tensor, torch::Tensor> DecoderImpl::Rope(int64_t T, const torch::Device& device) {
  if (!rope_cos_.defined() || rope_cos_.size(0) < T || rope_cos_.device() != device) {
    // Tables in fp64 then fp32, so that long contexts keep their phase precision.
    const int64_t hs = options_.shape.d_model / options_.shape.heads;
    torch::Tensor inv_freq =
        options_.rope_inv_freq.empty()
            ? 1.0 / torch::pow(options_.rope_theta,
                               torch::arange(0, hs, 2, torch::kFloat64) / static_cast<double>(hs))
            : torch::tensor(options_.rope_inv_freq, torch::kFloat64);
    torch::Tensor t = torch::arange(T, torch::kFloat64);
    torch::Tensor freqs = torch::outer(t, inv_freq);    // (T, hs/2)
    torch::Tensor emb = torch::cat({freqs, freqs}, -1);  // (T, hs)
    rope_cos_ = emb.cos().to(torch::kFloat).to(device);
    rope_sin_ = emb.sin().to(torch::kFloat).to(device);
  }
  return {rope_cos_.narrow(0, 0, T), rope_sin_.narrow(0, 0, T)};
}

torch::Tensor DecoderImpl::output_weight() {
  return lm_head ? lm_head->weight : embed_tokens->weight;
}

torch::Tensor DecoderImpl::forward(const torch::Tensor& tokens) {
  const int64_t T = tokens.size(1);
  auto [cos, sin] = Rope(T, tokens.device());
  torch::Tensor x = embed_tokens(tokens);  // (B, T, C)
  for (const auto& layer : *layers) x = layer->as<DecoderLayer>()->forward(x, cos, sin);
  x = norm(x);
  return torch::nn::functional::linear(x, output_weight());  // (B, T, V)
}

Decoder MakeDecoder(const DecoderOptions& options, uint64_t seed, const torch::Device& device) {
  torch::manual_seed(seed);
  Decoder model(options);
  const double std = options.init_std;
  const double residual_std = std / std::sqrt(2.0 * static_cast<double>(options.shape.layers));
  torch::NoGradGuard no_grad;
  for (auto& item : model->named_parameters()) {
    const std::string& name = item.key();
    torch::Tensor& p = item.value();
    if (name.ends_with("norm.weight")) {
      p.fill_(1.0);
    } else if (name.ends_with(".bias")) {
      p.zero_();
    } else if (name.ends_with("o_proj.weight") || name.ends_with("down_proj.weight")) {
      p.normal_(0.0, residual_std);
    } else {
      p.normal_(0.0, std);
    }
  }
  model->to(device);
  return model;
}

int64_t CountParameters(DecoderImpl& model) {
  int64_t n = 0;
  for (const auto& p : model.parameters()) n += p.numel();
  return n;
}

void SetComputeThreads(int threads) {
  threads = std::max(1, threads);
  at::set_num_threads(threads);
  using SetThreads = void (*)(int);
  if (auto set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) {
    set(threads);
  }
}

torch::Tensor NextTokenLoss(Decoder& model, const torch::Tensor& tokens) {
  const int64_t T = tokens.size(1) - 1;
  torch::Tensor logits = model->forward(tokens.narrow(1, 0, T));  // (B, T, V)
  torch::Tensor targets = tokens.narrow(1, 1, T);                // (B, T)
  return torch::nn::functional::cross_entropy(
      logits.reshape({-1, logits.size(-1)}).to(torch::kFloat), targets.reshape({-1}));
}

}  // namespace sims::trainer
