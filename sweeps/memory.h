#pragma once
// The memory planner: the bytes one rank of a run holds while it trains, and the fewest ranks /
// the largest micro-batch with which a run fits a GPU. Pure functions of a RunConfig (no torch,
// no files): `sims plan --gpu-memory GB` calls them before anything is stored or trained.
//
//   RunMemory m = EstimateRunMemory(config);            // bytes per rank, part by part
//   MemoryPlan p = PlanMemory(config, 80 * kGiB);        // what fits an 80 GiB GPU
//   CheckPlanFits(sweep_plan, 80);                       // every run as configured, or UserError
//
// The formula, and how it was checked against the peak bytes of a training step measured on CPU
// (trainer/memory_probe.h, within 15 %): docs/trainer.md "Memory per rank". Not for: the
// trainer, which trains what the config says and fails when it runs out of memory.
#include <cstdint>
#include <string>
#include <vector>

#include "sweeps/plan.h"
#include "sweeps/run_config.h"

namespace sims {

inline constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

// Which trainer build the estimate is for.
//   kCuda: LibTorch 2.x on a GPU: bf16 autocast unless dtype = "fp32", fused scaled-dot-product
//          attention (no T x T scores are kept). Derived from the model's code, not measured.
//   kCpu:  LibTorch 1.13 on CPU, fp32, attention as an explicit masked softmax (T x T scores
//          kept per layer). Measured: tests/test_memory.cpp.
enum class MemoryDevice { kCpu, kCuda };

// Bytes held by one rank. Weights, gradients and optimizer state live for the whole run; the
// activations peak at the start of each micro-batch's backward pass; the collective buffers
// exist only after the backward pass, once the activations are freed, so the two never add up.
struct RunMemory {
  int64_t weights = 0;      // fp32 parameters; every rank holds all of them
  int64_t gradients = 0;    // fp32, summed whole on every rank (ZeRO-1 does not shard them)
  int64_t optimizer = 0;    // AdamW exp_avg + exp_avg_sq, fp32: this rank's share, the largest one
  int64_t activations = 0;  // what autograd keeps of one micro-batch, plus the logits' buffers
  int64_t collectives = 0;  // flat bucket copies: gradient all-reduce, owners' broadcasts
  int64_t total = 0;        // weights + gradients + optimizer + max(activations, collectives)
};

// At the config's ranks, shard_optimizer, micro_batch_tokens, context and dtype.
RunMemory EstimateRunMemory(const RunConfig& config, MemoryDevice device = MemoryDevice::kCuda);

// Element counts of the decoder's parameter tensors, in named_parameters() order
// (trainer/model.h): the unit ZeRO-1 shards by.
std::vector<int64_t> ParameterNumels(const ModelShape& shape);
// The rank that keeps each tensor's optimizer state: largest tensor first, onto the least loaded
// rank (PyTorch's ZeroRedundancyOptimizer rule). The trainer shards by it (trainer/train.cpp).
std::vector<int> ShardOwners(const std::vector<int64_t>& numels, int world);

// A run fits when its estimate is at most this share of the GPU's memory. The rest is for what
// the estimate leaves out: the CUDA context and NCCL (~1 GiB), the caching allocator's
// fragmentation, the optimizer step's temporaries (two of the largest tensor).
inline constexpr double kUsableGpuFraction = 0.9;

// The fewest ranks with which the run fits, and there the largest micro-batch. Ranks tried: the
// configured ones, then the powers of two above them up to 4096 that divide the sequences per
// step (batch_tokens / context); micro-batches: whole sequences dividing each rank's share, at
// most the configured micro_batch_tokens. The global batch, and so the run's results, never
// change. Never fewer ranks than configured: a run given 8 GPUs is offered a smaller micro-batch
// on 8 before it is told to use 16.
struct MemoryPlan {
  bool fits = false;
  int64_t ranks = 0;
  int64_t micro_batch_tokens = 0;
  RunMemory memory;     // at (ranks, micro_batch_tokens); when nothing fits, the least there is:
                        // one sequence per micro-batch at the ranks that need least
  std::string refusal;  // when !fits: what does not fit even then, with the numbers and a hint
};
MemoryPlan PlanMemory(const RunConfig& config, double gpu_memory_bytes,
                      MemoryDevice device = MemoryDevice::kCuda);
// Whether `plan` (of `config`) is the config itself: it fits at its own ranks and micro-batch.
bool FitsAsConfigured(const RunConfig& config, const MemoryPlan& plan);

// For `sims plan` and `sims run` given a GPU size (`[sweep] gpu_memory`, `--gpu-memory`): throws
// UserError when runs of `plan` do not fit at their configured ranks and micro-batch: per size,
// its runs, their estimate, and the ranks / micro_batch_tokens that fit or why none do. Call it
// before the database is touched, so nothing is stored.
void CheckPlanFits(const SweepPlan& plan, double gpu_memory_gib);

}  // namespace sims
