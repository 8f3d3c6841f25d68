#include "sweeps/memory.h"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>

#include "common/error.h"
#include "sweeps/shape.h"

namespace sims {
namespace {

constexpr int64_t kFp32 = 4;
constexpr int64_t kMaxRanks = 4096;  // ValidateHyperparameters' bound

// Bytes autograd keeps for one micro-batch of `rows` sequences of T tokens at the start of its
// backward pass, the peak: every saved tensor is still alive and the loss's buffers are at their
// largest. Counted tensor by tensor from trainer/model.cpp (shape legend there), per token:
//
// Each layer, CPU fp32 (LibTorch 1.13; checked one by one with trainer/memory_probe.h):
//   4C   its input x (the residual stream, kept by the first RMSNorm)
//   2 x  RMSNorm: the squares 4C (kept by mean), x * rsqrt 4C, the weighted output 4C, rsqrt 4
//   12C  q, k, v as the score matmuls copy them out of the (B, T, nh, hs) layout (k and v after
//        the grouped-query repeat, so full width whatever kv_heads is)
//   4nhT the softmax output, and T x T mask bytes once per layer
//   4C   the heads laid back out as (B, T, C) for o_proj; 4C the attention's residual sum
//   16F  gate, silu(gate), up and their product, kept by silu, the product and down_proj
// = 48C + 16F + 8 + 4 nh T; the projections' own outputs and RoPE's are not kept.
//
// Each layer, CUDA with bf16 autocast (derived the same way, not measured): the residual stream
// stays fp32 (the embedding is fp32, fp32 + bf16 is fp32) and so do the RMSNorm internals, but
// a norm's output is kept only as each projection's bf16 cast (3 x 2C for q, k, v; 2 x 2C for
// gate, up); the fused attention keeps q, k, v, its output (4 x 2C) and a logsumexp (4 nh), no
// scores; the MLP's four tensors are bf16 (8F):
//   4C + (8C + 4 + 6C) + 8C + 2C + 4C + (8C + 4 + 4C) + 8F + 4nh = 44C + 8F + 8 + 4 nh.
// CUDA fp32: the CPU count with the fused attention (q, k, v, output: 16C, 4 nh) in place of
// the copies and scores: 52C + 16F + 8 + 4 nh.
//
// Once: the last layer's output and the final RMSNorm as above (CPU and CUDA fp32 16C + 4; bf16
// 14C + 4: its output kept as lm_head's bf16 cast); the loss: log_softmax keeps the fp32
// log-probabilities (B, T, V), and backward adds the gradient nll_loss writes into them and the
// gradient of the logits before the first is freed: 12V; the shifted targets copied by
// cross_entropy's reshape, int64: 8. Per micro-batch: the token batch (int64), RoPE's cached
// cos and sin tables (T, hs) fp32.
int64_t ActivationBytes(const ModelShape& s, int64_t rows, int64_t T, MemoryDevice device,
                        bool bf16) {
  const int64_t C = s.d_model, F = s.d_ff, V = s.vocab_size, nh = s.heads, hs = C / nh;
  const int64_t tokens = rows * T;
  int64_t layer_per_token = 0, top_per_token = 0, layer_once = 0;
  if (device == MemoryDevice::kCpu) {
    layer_per_token = 48 * C + 16 * F + 8 + 4 * nh * T;
    layer_once = T * T;  // the causal mask, bool
    top_per_token = 16 * C + 4;
  } else if (bf16) {
    layer_per_token = 44 * C + 8 * F + 8 + 4 * nh;
    top_per_token = 14 * C + 4;
  } else {
    layer_per_token = 52 * C + 16 * F + 8 + 4 * nh;
    top_per_token = 16 * C + 4;
  }
  top_per_token += 3 * kFp32 * V + 8;
  const int64_t once = rows * (T + 1) * 8 + 2 * T * hs * kFp32;
  return s.layers * (tokens * layer_per_token + layer_once) + tokens * top_per_token + once;
}

// trainer/distributed.cpp's bucket for summing gradients and broadcasting shards.
constexpr int64_t kCollectiveBucketBytes = int64_t{25} << 20;

// The largest total element count ShardOwners gives one rank.
int64_t LargestShard(const std::vector<int64_t>& numels, int world) {
  const std::vector<int> owners = ShardOwners(numels, world);
  std::vector<int64_t> load(static_cast<size_t>(world), 0);
  for (size_t i = 0; i < numels.size(); ++i) load[static_cast<size_t>(owners[i])] += numels[i];
  return *std::max_element(load.begin(), load.end());
}

RunMemory Estimate(const RunConfig& config, int64_t ranks, int64_t micro_batch_tokens,
                   MemoryDevice device) {
  const Hyperparameters& hp = config.hp;
  const std::vector<int64_t> numels = ParameterNumels(config.shape);
  const int64_t params = std::accumulate(numels.begin(), numels.end(), int64_t{0});
  const bool sharded = hp.shard_optimizer && ranks > 1;
  const int64_t shard = sharded ? LargestShard(numels, static_cast<int>(ranks)) : params;
  RunMemory m;
  m.weights = kFp32 * params;
  m.gradients = kFp32 * params;
  m.optimizer = 2 * kFp32 * shard;
  const bool bf16 = device == MemoryDevice::kCuda && hp.dtype != Dtype::kFp32;
  m.activations =
      ActivationBytes(config.shape, micro_batch_tokens / hp.context, hp.context, device, bf16);
  if (ranks > 1) {
    // As trainer/distributed.cpp exchanges them: flat buckets of at most 25 MiB (a larger tensor
    // is a bucket alone), two in flight while gradients are summed, one while owners broadcast.
    const int64_t largest = *std::max_element(numels.begin(), numels.end());
    m.collectives = 2 * std::max<int64_t>(kCollectiveBucketBytes, kFp32 * largest);
  }
  m.total = m.weights + m.gradients + m.optimizer + std::max(m.activations, m.collectives);
  return m;
}

double GiB(int64_t bytes) { return static_cast<double>(bytes) / kGiB; }

std::string Breakdown(const RunMemory& m) {
  std::string text = fmt::format("weights {:.1f} + gradients {:.1f} + optimizer {:.1f} + ",
                                 GiB(m.weights), GiB(m.gradients), GiB(m.optimizer));
  if (m.collectives > m.activations) {
    text += fmt::format("collective buffers {:.1f} (> activations {:.1f})", GiB(m.collectives),
                        GiB(m.activations));
  } else {
    text += fmt::format("activations {:.1f}", GiB(m.activations));
  }
  return text + fmt::format(" = {:.1f} GiB", GiB(m.total));
}

// Divisors of n, largest first (trial division: n <= 2^32 sequences, so <= 65536 tries).
std::vector<int64_t> DivisorsDescending(int64_t n) {
  std::vector<int64_t> divisors;
  for (int64_t d = 1; d * d <= n; ++d) {
    if (n % d != 0) continue;
    divisors.push_back(d);
    if (d != n / d) divisors.push_back(n / d);
  }
  std::sort(divisors.rbegin(), divisors.rend());
  return divisors;
}

}  // namespace

std::vector<int64_t> ParameterNumels(const ModelShape& s) {
  const int64_t C = s.d_model, kv = s.kv_heads * (s.d_model / s.heads);
  std::vector<int64_t> numels = {s.vocab_size * C};  // embed_tokens
  for (int64_t i = 0; i < s.layers; ++i) {
    numels.push_back(C);  // input_layernorm
    for (int64_t out : {C, kv, kv}) {  // q, k, v (and their biases)
      numels.push_back(out * C);
      if (s.qkv_bias) numels.push_back(out);
    }
    numels.push_back(C * C);  // o_proj
    numels.push_back(C);      // post_attention_layernorm
    for (int j = 0; j < 3; ++j) numels.push_back(s.d_ff * C);  // gate, up, down
  }
  numels.push_back(C);  // norm
  if (!s.tied_embeddings) numels.push_back(s.vocab_size * C);  // lm_head
  return numels;
}

std::vector<int> ShardOwners(const std::vector<int64_t>& numels, int world) {
  std::vector<size_t> order(numels.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return numels[a] > numels[b]; });
  std::vector<int64_t> load(static_cast<size_t>(world), 0);
  std::vector<int> owners(numels.size(), 0);
  for (size_t i : order) {
    const auto lightest = std::min_element(load.begin(), load.end()) - load.begin();
    owners[i] = static_cast<int>(lightest);
    load[static_cast<size_t>(lightest)] += numels[i];
  }
  return owners;
}

RunMemory EstimateRunMemory(const RunConfig& config, MemoryDevice device) {
  return Estimate(config, config.hp.ranks, config.hp.micro_batch_tokens, device);
}

MemoryPlan PlanMemory(const RunConfig& config, double gpu_memory_bytes, MemoryDevice device) {
  const Hyperparameters& hp = config.hp;
  const double usable = kUsableGpuFraction * gpu_memory_bytes;
  const int64_t sequences = hp.batch_tokens / hp.context;  // per optimizer step, all ranks
  std::vector<int64_t> ranks = {hp.ranks};
  for (int64_t r = 1; r <= kMaxRanks; r *= 2) {
    if (r > hp.ranks && sequences % r == 0) ranks.push_back(r);
  }
  for (int64_t r : ranks) {
    for (int64_t rows : DivisorsDescending(sequences / r)) {
      if (rows * hp.context > hp.micro_batch_tokens) continue;
      const RunMemory m = Estimate(config, r, rows * hp.context, device);
      if (static_cast<double>(m.total) <= usable) return {true, r, rows * hp.context, m, ""};
    }
  }
  // Nothing fits: report the least memory there is, one sequence per micro-batch at whichever
  // ranks need least.
  MemoryPlan plan{false, ranks.front(), hp.context,
                  Estimate(config, ranks.front(), hp.context, device), ""};
  for (int64_t r : ranks) {
    const RunMemory m = Estimate(config, r, hp.context, device);
    if (m.total < plan.memory.total) plan = {false, r, hp.context, m, ""};
  }
  const RunMemory& m = plan.memory;
  const bool state_alone = static_cast<double>(m.weights + m.gradients + m.optimizer) > usable;
  plan.refusal = fmt::format(
      "does not fit in {:.1f} GiB per rank ({:.0f} % of {:g} GiB) at any ranks from {} to {}{}; "
      "the least is at ranks = {} with one sequence per micro-batch (micro_batch_tokens = {}): "
      "{}{}; hint: a GPU with more memory, or a shorter context",
      usable / kGiB, 100 * kUsableGpuFraction, gpu_memory_bytes / kGiB, ranks.front(),
      ranks.back(),
      ranks.back() < kMaxRanks
          ? fmt::format(" (the most that divide its {} sequences per step)", sequences)
          : "",
      plan.ranks, hp.context, Breakdown(m),
      state_alone ? "; weights, gradients and optimizer state alone exceed it (ZeRO-1 shards "
                    "only the optimizer state)"
                  : "");
  return plan;
}

bool FitsAsConfigured(const RunConfig& config, const MemoryPlan& plan) {
  return plan.fits && plan.ranks == config.hp.ranks &&
         plan.micro_batch_tokens == config.hp.micro_batch_tokens;
}

void CheckPlanFits(const SweepPlan& plan, double gpu_memory_gib) {
  // Runs of one size with the same settings fail alike: one line each, naming its first runs.
  struct Failure {
    std::string size, what;
    std::vector<std::string> runs;
  };
  std::vector<Failure> failures;
  size_t failed = 0;
  for (const PlannedRun& r : plan.runs) {
    const RunConfig& c = r.config;
    const MemoryPlan fit = PlanMemory(c, gpu_memory_gib * kGiB);
    if (FitsAsConfigured(c, fit)) continue;
    std::string what =
        fmt::format("{:.1f} GiB per rank at ranks = {}, micro_batch_tokens = {}; ",
                    GiB(EstimateRunMemory(c).total), c.hp.ranks, c.hp.micro_batch_tokens);
    what += fit.fits ? fmt::format("fits with ranks = {}, micro_batch_tokens = {} ({:.1f} GiB)",
                                   fit.ranks, fit.micro_batch_tokens, GiB(fit.memory.total))
                     : fit.refusal;
    auto same = std::find_if(failures.begin(), failures.end(), [&](const Failure& f) {
      return f.size == r.size_label && f.what == what;
    });
    if (same == failures.end()) same = failures.insert(failures.end(), {r.size_label, what, {}});
    same->runs.push_back(fmt::format("{} {} {}", r.id, c.condition, r.column_label));
    ++failed;
  }
  if (failures.empty()) return;
  std::string message = fmt::format(
      "sweep {}: {} of {} runs do not fit {:g} GiB per GPU at their ranks and micro-batch "
      "(nothing stored):\n",
      plan.sweep, failed, plan.runs.size(), gpu_memory_gib);
  for (const Failure& f : failures) {
    std::string runs;
    for (size_t i = 0; i < f.runs.size() && i < 3; ++i) runs += (i ? ", " : "") + f.runs[i];
    if (f.runs.size() > 3) runs += fmt::format(" and {} more", f.runs.size() - 3);
    message += fmt::format("  {}, {} run{} ({}): {}\n", f.size, f.runs.size(),
                           f.runs.size() == 1 ? "" : "s", runs, f.what);
  }
  throw UserError(message +
                  "hint: set ranks and micro_batch_tokens in [sweep], in the condition, or in a "
                  "[[condition.override]] with the size's label (docs/sweep-file.md); sims plan "
                  "--dry-run shows the memory table");
}

}  // namespace sims
