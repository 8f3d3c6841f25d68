#pragma once
// The Llama-style decoder every sims run trains. Internal to trainer/ (it includes torch); the
// rest of sims sees only trainer/train.h. Build with MakeDecoder(options); forward() maps token
// ids to logits.
//
// Shape legend: B batch, T time (context), C d_model, V vocab_size, nh heads, nkv kv_heads,
// hs head_dim = C / nh, F d_ff.
//
// Architecture (matches Hugging Face LlamaForCausalLM / Qwen2ForCausalLM, so their weights load
// by name): token embedding -> layers x [x + Attn(RMSNorm(x)); x + SwiGLU(RMSNorm(x))] ->
// RMSNorm -> output head (the embedding matrix when tied). RoPE in the rotate-half convention,
// causal attention with grouped-query heads (nkv <= nh), no biases except the optional q/k/v
// biases of Qwen2. Parameter names (named_parameters()):
//   embed_tokens.weight                          (V, C)
//   layers.{i}.input_layernorm.weight            (C)
//   layers.{i}.self_attn.q_proj.weight           (C, C)        .bias (C)        if qkv_bias
//   layers.{i}.self_attn.k_proj.weight           (nkv*hs, C)   .bias (nkv*hs)   if qkv_bias
//   layers.{i}.self_attn.v_proj.weight           (nkv*hs, C)   .bias (nkv*hs)   if qkv_bias
//   layers.{i}.self_attn.o_proj.weight           (C, C)
//   layers.{i}.post_attention_layernorm.weight   (C)
//   layers.{i}.mlp.gate_proj.weight              (F, C)
//   layers.{i}.mlp.up_proj.weight                (F, C)
//   layers.{i}.mlp.down_proj.weight              (C, F)
//   norm.weight                                  (C)
//   lm_head.weight                               (V, C)        only when untied
// i.e. the Hugging Face names without their "model." prefix.
#include <torch/torch.h>

#include "sweeps/run_config.h"

namespace sims::trainer {

struct DecoderOptions {
  ModelShape shape;
  double rope_theta = 10000.0;  // Llama 2 uses 1e4, Llama 3 5e5, Qwen2 1e6: set from the checkpoint
  double norm_eps = 1e-5;       // RMSNorm epsilon (Qwen2 uses 1e-6)
  double init_std = 0.02;       // normal init of embeddings and projections (GPT-2 / Llama code)
  // RoPE inverse frequencies per rotated pair (head_dim / 2 values), overriding rope_theta when
  // not empty: checkpoints with rope scaling (Llama 3.1+ "llama3"), set by trainer/hf.
  std::vector<double> rope_inv_freq;
};

// Throws UserError naming the field: positive sizes, d_model % heads == 0, heads % kv_heads == 0,
// even head_dim (RoPE rotates pairs).
void ValidateDecoderOptions(const DecoderOptions& options);

class RMSNormImpl : public torch::nn::Module {
 public:
  RMSNormImpl(int64_t dim, double eps);
  torch::Tensor forward(const torch::Tensor& x);  // (..., C) -> (..., C)
  torch::Tensor weight;

 private:
  double eps_;
};
TORCH_MODULE(RMSNorm);

class AttentionImpl : public torch::nn::Module {
 public:
  explicit AttentionImpl(const DecoderOptions& options);
  // x (B, T, C); cos, sin (T, hs) -> (B, T, C)
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);
  torch::nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};

 private:
  int64_t heads_, kv_heads_, head_dim_;
};
TORCH_MODULE(Attention);

class MlpImpl : public torch::nn::Module {
 public:
  explicit MlpImpl(const DecoderOptions& options);
  torch::Tensor forward(const torch::Tensor& x);  // down(silu(gate(x)) * up(x))
  torch::nn::Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE(Mlp);

class DecoderLayerImpl : public torch::nn::Module {
 public:
  explicit DecoderLayerImpl(const DecoderOptions& options);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);
  RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
  Attention self_attn{nullptr};
  Mlp mlp{nullptr};
};
TORCH_MODULE(DecoderLayer);

class DecoderImpl : public torch::nn::Module {
 public:
  explicit DecoderImpl(const DecoderOptions& options);
  // tokens (B, T) int64 -> logits (B, T, V), fp32 (or the autocast dtype on CUDA)
  torch::Tensor forward(const torch::Tensor& tokens);
  // The output projection: lm_head.weight, or embed_tokens.weight when tied. (V, C)
  torch::Tensor output_weight();
  const DecoderOptions& options() const { return options_; }

  torch::nn::Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers{nullptr};
  RMSNorm norm{nullptr};
  torch::nn::Linear lm_head{nullptr};  // null when tied

 private:
  // RoPE tables for length T on the module's device, cached: (T, hs) each.
  std::pair<torch::Tensor, torch::Tensor> Rope(int64_t T, const torch::Device& device);
  DecoderOptions options_;
  torch::Tensor rope_cos_, rope_sin_;
};
TORCH_MODULE(Decoder);

// Builds the decoder and initialises it: embeddings and projections ~ N(0, init_std), the
// residual projections (o_proj, down_proj) ~ N(0, init_std / sqrt(2 * layers)) (GPT-2's scaled
// init, as llm.c and nanoGPT), biases 0, norm weights 1. Seeded: the same seed gives the same
// weights on every machine (CPU generator, then moved to `device`).
Decoder MakeDecoder(const DecoderOptions& options, uint64_t seed,
                    const torch::Device& device = torch::kCPU);

int64_t CountParameters(DecoderImpl& model);  // unique tensors: a tied head counts once

// Intra-op threads for everything the trainer runs: at::set_num_threads, and OpenBLAS's own
// pool when the system BLAS is OpenBLAS (found with dlsym: LibTorch links the generic
// libblas.so.3 and does not tell OpenBLAS, whose pthread build otherwise uses every core).
void SetComputeThreads(int threads);

// Mean cross-entropy of next-token prediction. tokens (B, T+1): inputs are [:, :-1], targets
// [:, 1:]. Returns a 0-dim fp32 tensor.
torch::Tensor NextTokenLoss(Decoder& model, const torch::Tensor& tokens);

}  // namespace sims::trainer
