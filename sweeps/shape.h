#pragma once
// Model-shape accounting: exact parameter counts, the N -> shape rule, and training FLOPs three
// ways. Pure functions, no I/O; the planner, the trainer's tests and the docs all call these, so
// "how many parameters / FLOPs does this run have" has exactly one answer in sims.
//
// Start with CountParams (the formula the trainer's built module must match; a trainer test
// compares them) and ShapeForParams (the documented rule, docs/sweep-file.md "Shape rule").
//
// FLOP conventions (all are training FLOPs = forward + backward, backward = 2 x forward):
//   Flops6ND        6 * N * D, N as the caller chooses (with or without embeddings).
//   Flops6NDAttn    (6 * N + 6 * layers * context * d_model) * D, the llm.c attention term.
//   TrainingFlopsExact  3 * forward matmul FLOPs of the built model, where forward per token =
//       2 * (every matmul weight: q, k, v, o, gate, up, down in every layer, and the output
//            head V x d_model even when it is tied to the input embedding)
//     + 2 * 2 * layers * context_avg * d_model   (QK^T scores and the weighted sum of V),
//       context_avg = (context + 1) / 2: with causal attention the query at position t attends
//       to t keys, so the mean over t = 1..context is (context + 1) / 2.
//     Not counted: the embedding lookup (a gather), norms, RoPE, softmax, SwiGLU's elementwise
//     product, biases — each is O(d_model) per token, under 1% at every size sims plans.
#include <cstdint>
#include <string>
#include <string_view>

#include "sweeps/run_config.h"

namespace sims {

struct ParamCounts {
  int64_t embedding = 0;      // input embedding + untied output head
  int64_t non_embedding = 0;  // every layer + the final RMSNorm
  int64_t total = 0;
};

// Exact counts of a Llama-style decoder (docs/sweep-file.md "Parameter counts").
ParamCounts CountParams(const ModelShape& shape);

// How ShapeForParams turns a target non-embedding count into a shape. Defaults are Llama/Qwen-
// like for models of 10M parameters and up; tiny CPU models need a smaller head_dim and width
// step (see examples/demo-cpu.toml).
struct ShapeRule {
  int64_t head_dim = 64;         // fixed; heads = d_model / head_dim
  int64_t width_multiple = 64;   // d_model is a multiple of this and of head_dim (tensor cores)
  double ffn_ratio = 8.0 / 3.0;  // SwiGLU d_ff = ffn_ratio * d_model rounded up to ffn_multiple
  int64_t ffn_multiple = 64;     // keeps the MLP matmuls aligned
  double aspect_ratio = 64;      // preferred d_model / layers (Kaplan et al.: flat over 20-200)
  int64_t min_layers = 1;
  int64_t max_layers = 128;
  int64_t max_d_model = 32768;  // bounds the search; no planned model is wider
  double tolerance = 0.05;      // |N_shape / N_target - 1| allowed
  bool operator==(const ShapeRule&) const = default;
};

// Throws UserError naming the broken field.
void ValidateShapeRule(const ShapeRule& rule);
// The rule as stored in a sweep's planner_json (for `sims recommend`'s nearest shape).
nlohmann::json ToJson(const ShapeRule& rule);
ShapeRule ShapeRuleFromJson(const nlohmann::json& json);  // throws UserError naming the key

// SwiGLU width for d_model under `rule`: ceil(ffn_ratio * d_model / ffn_multiple) * ffn_multiple.
int64_t FfnWidth(int64_t d_model, const ShapeRule& rule);

// The rule: among all (layers, d_model) with layers in [min_layers, max_layers], d_model a
// multiple of lcm(width_multiple, head_dim), heads = kv_heads = d_model / head_dim,
// d_ff = FfnWidth(d_model), whose exact non-embedding count is within `tolerance` of the target,
// pick the one whose d_model / layers is closest to aspect_ratio (in log space); ties go to the
// smaller count error, then to fewer layers. Throws UserError when no shape is within tolerance
// (e.g. the target is smaller than the smallest shape), naming the nearest shape.
ModelShape ShapeForParams(int64_t target_non_embedding, int64_t vocab_size, bool tied,
                          const ShapeRule& rule = {});

// Forward matmul FLOPs of one token at the given context length (see the convention above).
double ForwardFlopsPerToken(const ModelShape& shape, int64_t context);
// 3 x ForwardFlopsPerToken x tokens.
double TrainingFlopsExact(const ModelShape& shape, int64_t context, int64_t tokens);
double Flops6ND(int64_t n_params, int64_t tokens);
double Flops6NDAttn(const ModelShape& shape, int64_t n_params, int64_t context, int64_t tokens);
// What a sweep's FLOP figures count (`[sweep] flops`): 6ND, 6ND plus attention, or the exact
// forward+backward matmul FLOPs. Stored as its name ("6ND", "6ND+attn", "exact").
enum class FlopConvention { k6ND, k6NDAttn, kExact };
std::string ToString(FlopConvention convention);
FlopConvention FlopConventionFromString(std::string_view text);  // UserError naming the three

// Training FLOPs per token of `shape` under a sweep's convention, N with embeddings or without
// as the sweep counts it. The planner and `sims recommend` both price a shape with this.
double TrainingFlopsPerToken(const ModelShape& shape, int64_t context, FlopConvention convention,
                             bool n_includes_embedding);

}  // namespace sims
